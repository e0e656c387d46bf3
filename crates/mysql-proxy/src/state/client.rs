//! What a client's session looks like to it, independent of which server connection
//! serves it: default database, session variables, prepared statements, and whether
//! it must keep its server connection.

use std::collections::HashMap;
use std::sync::Arc;

use super::pin::PinReason;
use super::vars::{self, Vars};
use crate::protocol::session_track::Change;

/// A statement the client prepared, under the id sluice gave it.
#[derive(Debug, Clone)]
pub struct ClientStatement {
    pub sql: Arc<[u8]>,
    pub params: u16,
    pub columns: u16,
    /// Parameter types of the client's latest binding.
    pub types: Option<Vec<u8>>,
    /// Executing it pins the client (its text creates session state).
    pub pin: Option<PinReason>,
}

/// A transaction whose server connection was lost (the member stopped or failed over,
/// or the connection was killed): where the client stands until it ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostTransaction {
    /// The client has not heard of it yet: its next statement gets the error.
    Untold,
    /// Told: its statements fail until `ROLLBACK` or `COMMIT` ends the transaction.
    Told,
}

#[derive(Debug)]
pub struct ClientState {
    pub schema: Option<String>,
    pub vars: Vars,
    pub multi_statements: bool,
    /// LAST_INSERT_ID() as this client should see it.
    pub last_insert_id: u64,
    pub statements: HashMap<u32, ClientStatement>,
    next_statement: u32,
    /// Set once the client holds state sluice cannot move: it keeps its connection.
    pub pinned: Option<PinReason>,
    /// A transaction is open on the server connection (or was, when it is lost).
    pub in_transaction: bool,
    /// The open transaction's server connection was lost.
    pub lost_transaction: Option<LostTransaction>,
}

impl ClientState {
    pub fn new(schema: Option<String>, collation: u8, multi_statements: bool) -> Self {
        Self {
            schema,
            vars: Vars::for_collation(collation),
            multi_statements,
            last_insert_id: 0,
            statements: HashMap::new(),
            next_statement: 1,
            pinned: None,
            in_transaction: false,
            lost_transaction: None,
        }
    }

    /// The id the next prepared statement gets.
    pub fn next_statement_id(&self) -> u32 {
        self.next_statement
    }

    pub fn add_statement(&mut self, stmt: ClientStatement) -> u32 {
        let id = self.next_statement;
        self.statements.insert(id, stmt);
        // The next id is one no open statement has, also once the ids wrap around
        // (the number of open statements is bounded, so there is always one).
        loop {
            self.next_statement = self.next_statement.wrapping_add(1).max(1);
            if !self.statements.contains_key(&self.next_statement) {
                break;
            }
        }
        id
    }

    /// Takes in what a response reported. Returns a reason to pin when it reported
    /// state that cannot be replayed.
    pub fn apply(&mut self, changes: &[Change]) -> Option<PinReason> {
        let mut described = false;
        let mut state_changed = false;
        let mut pin = None;
        for change in changes {
            match change {
                Change::SystemVariable { name, .. } if vars::is_per_statement(name) => {
                    described = true;
                }
                Change::SystemVariable { name, value } => {
                    described = true;
                    if !vars::is_replayable(name) {
                        pin = Some(PinReason::UnreplayableVariable);
                    }
                    self.vars.set(name, value);
                }
                Change::Schema(s) => {
                    described = true;
                    self.schema = Some(s.clone());
                }
                Change::StateChanged => state_changed = true,
                Change::Other(_) => {}
            }
        }
        if state_changed && !described && pin.is_none() {
            pin = Some(PinReason::UnreportedState);
        }
        pin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayable_changes_do_not_pin_and_others_do() {
        let mut s = ClientState::new(None, 45, false);
        let pin = s.apply(&[
            Change::SystemVariable {
                name: "time_zone".into(),
                value: "+05:00".into(),
            },
            Change::StateChanged,
        ]);
        assert_eq!(pin, None);
        assert_eq!(s.vars.get("time_zone"), Some("+05:00"));
        assert_eq!(
            s.apply(&[Change::Schema("shop".into()), Change::StateChanged]),
            None
        );
        assert_eq!(s.schema.as_deref(), Some("shop"));
        assert!(s.apply(&[Change::StateChanged]).is_some());
        assert!(s
            .apply(&[Change::SystemVariable {
                name: "session_track_schema".into(),
                value: "OFF".into()
            }])
            .is_some());
    }
}
