//! Why a transaction-mode client keeps its server connection to the end of its session
//! (is *pinned*), and why sluice refuses a statement outright. `sql/classify.rs` finds
//! them in what the client sends; the server's session-state reports add a few.

/// Why a transaction-mode client keeps its server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinReason {
    /// `SET @v = ...`, `@v := ...`, `... INTO @v`, user variables in `LOAD DATA`.
    UserVariable,
    /// `CREATE TEMPORARY TABLE`, `DROP TEMPORARY TABLE`.
    TemporaryTable,
    /// `GET_LOCK()`.
    NamedLock,
    /// `LOCK TABLES`, `FLUSH TABLES ... WITH READ LOCK` / `FOR EXPORT`,
    /// `LOCK INSTANCE FOR BACKUP`, MariaDB's `BACKUP STAGE` and `BACKUP LOCK`.
    TableLock,
    /// `SQL_CALC_FOUND_ROWS`, `FOUND_ROWS()`.
    FoundRows,
    /// `LAST_INSERT_ID(expr)`: sets the value the next `LAST_INSERT_ID()` returns.
    LastInsertIdSet,
    /// MariaDB sequences: `NEXTVAL()`, `NEXT VALUE FOR`, `SETVAL()` leave the value
    /// `LASTVAL()` returns in the session.
    Sequence,
    /// SQL-level `PREPARE`, `EXECUTE`, `DEALLOCATE PREPARE`, `DROP PREPARE`, and
    /// MariaDB's `EXECUTE IMMEDIATE` (text sluice does not see).
    SqlPrepare,
    /// `HANDLER`.
    Handler,
    /// `SET TRANSACTION ...` or `SET @@transaction_isolation = ...` (no scope): for
    /// the next transaction only, which the server does not report.
    NextTransaction,
    /// `XA ...`.
    Xa,
    /// `SET ROLE`.
    Role,
    /// `CALL` of a stored procedure, or a MariaDB `BEGIN NOT ATOMIC` block: what it
    /// does is not in the text.
    Procedure,
    /// `SET` of a `session_track_*` variable: the server would stop reporting what
    /// sluice follows.
    SessionTracking,
    /// A cursor on a prepared statement.
    Cursor,
    /// `COM_STMT_SEND_LONG_DATA`.
    LongData,
    /// The server reported a session variable sluice cannot replay.
    UnreplayableVariable,
    /// The server reported a state change without saying what changed.
    UnreportedState,
    /// Text the lexer cannot read to its end (an unterminated quote or comment).
    Unreadable,
}

impl PinReason {
    /// Whether COM_RESET_CONNECTION surely clears the state. Whether it drops a role
    /// set with `SET ROLE` differs between servers and versions, so a connection
    /// pinned for one is closed instead of reset.
    pub fn reset_clears(self) -> bool {
        self != PinReason::Role
    }

    /// The reason as a metric label and in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            PinReason::UserVariable => "user_variable",
            PinReason::TemporaryTable => "temporary_table",
            PinReason::NamedLock => "named_lock",
            PinReason::TableLock => "table_lock",
            PinReason::FoundRows => "found_rows",
            PinReason::LastInsertIdSet => "last_insert_id_set",
            PinReason::Sequence => "sequence",
            PinReason::SqlPrepare => "sql_prepare",
            PinReason::Handler => "handler",
            PinReason::NextTransaction => "next_transaction",
            PinReason::Xa => "xa",
            PinReason::Role => "role",
            PinReason::Procedure => "procedure",
            PinReason::SessionTracking => "session_tracking",
            PinReason::Cursor => "cursor",
            PinReason::LongData => "long_data",
            PinReason::UnreplayableVariable => "unreplayable_variable",
            PinReason::UnreportedState => "unreported_state",
            PinReason::Unreadable => "unreadable",
        }
    }
}

/// A statement sluice answers with an error instead of sending it to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `KILL USER name`: it names server threads of every client of the pool.
    KillUser,
    /// MariaDB's `KILL QUERY ID n`: query ids are the server's; sluice has none.
    KillQueryId,
    /// `KILL` with an id that is not a plain number (an expression, a placeholder).
    KillExpression,
    /// `KILL` in a query of several statements.
    KillInMultiStatement,
    /// `KILL` inside another statement (a stored program body, an event, a block).
    KillInsideStatement,
    /// `KILL` in text that cannot be read to its end, or that reads differently
    /// depending on how the server treats backslashes.
    KillUnreadable,
    /// `KILL` prepared with `COM_STMT_PREPARE`: its id would be bound at execution.
    KillPrepared,
}

impl Refusal {
    /// What the client is told sluice does not support (ER_NOT_SUPPORTED_YET).
    pub fn what(self) -> &'static str {
        match self {
            Refusal::KillUser => "KILL USER (it would reach other clients' server connections)",
            Refusal::KillQueryId => {
                "KILL QUERY ID (query ids belong to the server; use KILL QUERY <connection id>)"
            }
            Refusal::KillExpression => "KILL with an id that is not a number",
            Refusal::KillInMultiStatement => "KILL in a multi-statement query",
            Refusal::KillInsideStatement => "KILL inside another statement",
            Refusal::KillUnreadable => "KILL in text it cannot read unambiguously",
            Refusal::KillPrepared => "KILL as a prepared statement",
        }
    }

    /// A label for log lines and the error metric.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::KillUser => "kill_user",
            Refusal::KillQueryId => "kill_query_id",
            Refusal::KillExpression => "kill_expression",
            Refusal::KillInMultiStatement => "kill_in_multi_statement",
            Refusal::KillInsideStatement => "kill_inside_statement",
            Refusal::KillUnreadable => "kill_unreadable",
            Refusal::KillPrepared => "kill_prepared",
        }
    }
}
