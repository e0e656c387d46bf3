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

/// A statement sluice does not run for a transaction-mode client, because what it would
/// show or touch belongs to other clients of the server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `pg_prepared_statements`: on a shared server connection it lists the statements
    /// (their SQL text) of every client of the database.
    SharedStatementsView,
    /// SQL `PREPARE`, `EXECUTE` or `DEALLOCATE` of a name starting with `sluice_`: the
    /// names of the shared statements.
    ReservedStatementName,
}

impl Refusal {
    /// A statement that fails on the server with the refusal's error. It runs in place
    /// of the client's, so that the server ends the transaction (or the rest of the
    /// pipeline) as it does for an error of its own.
    pub fn stand_in_sql(self) -> &'static str {
        match self {
            Refusal::SharedStatementsView => concat!(
                "DO $sluice$BEGIN RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = ",
                "'pg_prepared_statements is not available in transaction mode: the server ",
                "connection holds the statements of other clients'; END$sluice$"
            ),
            Refusal::ReservedStatementName => concat!(
                "DO $sluice$BEGIN RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = ",
                "'prepared statement names starting with sluice_ are reserved'; END$sluice$"
            ),
        }
    }
}
