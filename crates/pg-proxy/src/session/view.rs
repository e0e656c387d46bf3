//! The client's own view of its session, the same whichever server serves it: its
//! statement names, its settings and the SET/RESET waiting for their transaction to
//! commit, its portals, the session commands of its unnamed statement, and its
//! transaction status.

use std::cell::Cell;
use std::sync::Arc;

use super::lost_transaction::{LostTransaction, UnnamedEnds};
use super::portals::Portals;
use super::statements::ClientStatements;
use super::view_change::{Undone, ViewChange};
use crate::protocol::tags::TxStatus;
use crate::state::pin::PinReason;
use crate::state::settings::{backslash_escapes, SessionCommand, Settings};

pub(super) struct ClientView {
    pub statements: ClientStatements,
    /// The settings the client wants on whichever server serves it
    /// ([`settings`](Self::settings), changed through [`settings_mut`](Self::settings_mut)).
    settings: Settings,
    /// Whether those settings make backslashes escape in plain strings: asked for
    /// every query, worked out again only after the settings change.
    backslash_escapes: Cell<Option<bool>>,
    /// SET/RESET seen inside the current transaction, applied when it commits.
    pub pending_commands: Vec<SessionCommand>,
    pub tx_status: TxStatus,
    /// Session commands of the unnamed statement; what each portal runs.
    pub unnamed_commands: Option<Arc<[SessionCommand]>>,
    pub portals: Portals,
    /// Why the client keeps its server connection to the end of its session (session
    /// state that cannot follow it), if it does.
    pub pinned: Option<PinReason>,
    /// The transaction whose server went away, until the client ends it.
    pub lost_transaction: Option<LostTransaction>,
    /// While the transaction is lost: the ROLLBACK or COMMIT its unnamed statement and
    /// portal hold.
    pub unnamed_ends: UnnamedEnds,
}

impl ClientView {
    /// A new session's view: its settings are those of its startup.
    pub fn new(settings: Settings) -> Self {
        Self {
            statements: ClientStatements::default(),
            settings,
            backslash_escapes: Cell::new(None),
            pending_commands: Vec::new(),
            tx_status: TxStatus::Idle,
            unnamed_commands: None,
            portals: Portals::default(),
            pinned: None,
            lost_transaction: None,
            unnamed_ends: UnnamedEnds::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn settings_mut(&mut self) -> &mut Settings {
        self.backslash_escapes.set(None);
        &mut self.settings
    }

    /// Whether the client's settings make a backslash escape in plain strings.
    pub fn backslash_escapes(&self) -> bool {
        if let Some(known) = self.backslash_escapes.get() {
            return known;
        }
        let escapes = backslash_escapes(&self.settings);
        self.backslash_escapes.set(Some(escapes));
        escapes
    }

    /// Puts the view back as if the message behind `change` had not run.
    pub fn revert(&mut self, change: ViewChange, why: Undone) {
        match change {
            ViewChange::None => {}
            ViewChange::Defined { name } => {
                self.statements.remove(&name);
            }
            ViewChange::Removed { name, statement } => self.statements.insert(name, statement),
            ViewChange::Unnamed { previous } => {
                self.unnamed_commands = match why {
                    // A failed unnamed Parse has already dropped the previous statement.
                    Undone::Failed => None,
                    Undone::Discarded => previous,
                };
            }
        }
    }
}
