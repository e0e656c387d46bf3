//! Why a transaction-mode client keeps its server connection to the end of its session
//! (is *pinned*): its session holds state that cannot move to another server
//! connection. `sql/classify.rs` finds the reasons in what the client sends.

/// Why a transaction-mode client keeps its server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinReason {
    Listen,
    TemporaryObject,
    AdvisoryLock,
    /// SQL-level `PREPARE`/`EXECUTE`.
    SqlPrepare,
    HoldCursor,
    SetRole,
    SessionAuthorization,
    SessionCharacteristics,
    /// `set_config(..., false)`, `setseed()` and the like.
    SessionFunction,
    /// A function or procedure sluice does not know, or a `DO` block.
    UnknownFunction,
    Load,
    /// Text the lexer cannot read to its end (an unterminated quote or comment), or a
    /// `SET` of a form it does not know.
    Unreadable,
}

impl PinReason {
    /// The reason as a metric label and in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            PinReason::Listen => "listen",
            PinReason::TemporaryObject => "temporary_object",
            PinReason::AdvisoryLock => "advisory_lock",
            PinReason::SqlPrepare => "sql_prepare",
            PinReason::HoldCursor => "hold_cursor",
            PinReason::SetRole => "set_role",
            PinReason::SessionAuthorization => "session_authorization",
            PinReason::SessionCharacteristics => "session_characteristics",
            PinReason::SessionFunction => "session_function",
            PinReason::UnknownFunction => "unknown_function",
            PinReason::Load => "load",
            PinReason::Unreadable => "unreadable",
        }
    }
}
