//! What translating one client message changed in the client's own view of its session
//! (its statement names, the session commands of its unnamed statement). sluice changes
//! the view when it translates the message, because the messages after it are translated
//! against it; the change travels with the message's expectation, so that when the
//! server fails or discards the message the view is put back to what PostgreSQL has.

use std::sync::Arc;

use bytes::Bytes;

use crate::state::settings::SessionCommand;
use crate::state::statements::SharedStatement;

#[derive(Debug, Default)]
pub enum ViewChange {
    #[default]
    None,
    /// A named Parse defined `name`, which was free.
    Defined { name: Bytes },
    /// A Close or DEALLOCATE removed `name`, which meant `statement`.
    Removed {
        name: Bytes,
        statement: Arc<SharedStatement>,
    },
    /// An unnamed Parse replaced the unnamed statement, whose commands were `previous`.
    Unnamed {
        previous: Option<Arc<[SessionCommand]>>,
    },
}

impl ViewChange {
    /// Defines or removes a statement name (what later messages are translated by).
    pub fn changes_names(&self) -> bool {
        matches!(
            self,
            ViewChange::Defined { .. } | ViewChange::Removed { .. }
        )
    }
}

/// Why a message did not take effect on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undone {
    /// The server ran it and it failed.
    Failed,
    /// The server skipped it after an earlier error in the same batch.
    Discarded,
}
