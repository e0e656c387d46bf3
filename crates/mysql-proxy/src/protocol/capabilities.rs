//! Capability flags (`CLIENT_*`) and server status flags (`SERVER_*`).

pub const LONG_PASSWORD: u32 = 1;
pub const FOUND_ROWS: u32 = 1 << 1;
pub const LONG_FLAG: u32 = 1 << 2;
pub const CONNECT_WITH_DB: u32 = 1 << 3;
pub const COMPRESS: u32 = 1 << 5;
pub const LOCAL_FILES: u32 = 1 << 7;
pub const PROTOCOL_41: u32 = 1 << 9;
pub const SSL: u32 = 1 << 11;
pub const TRANSACTIONS: u32 = 1 << 13;
pub const SECURE_CONNECTION: u32 = 1 << 15;
pub const MULTI_STATEMENTS: u32 = 1 << 16;
pub const MULTI_RESULTS: u32 = 1 << 17;
pub const PS_MULTI_RESULTS: u32 = 1 << 18;
pub const PLUGIN_AUTH: u32 = 1 << 19;
pub const CONNECT_ATTRS: u32 = 1 << 20;
pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;
pub const SESSION_TRACK: u32 = 1 << 23;
pub const DEPRECATE_EOF: u32 = 1 << 24;

/// What sluice offers apps. Not offered: compression; DEPRECATE_EOF, because result
/// sets are relayed verbatim and server connections are shared between clients that
/// would disagree on it. LOCAL_FILES is offered to every client; whether a file may
/// pass is decided per route when the server asks for one.
pub const OFFERED_TO_CLIENTS: u32 = LONG_PASSWORD
    | FOUND_ROWS
    | LONG_FLAG
    | CONNECT_WITH_DB
    | PROTOCOL_41
    | TRANSACTIONS
    | SECURE_CONNECTION
    | MULTI_STATEMENTS
    | MULTI_RESULTS
    | PS_MULTI_RESULTS
    | PLUGIN_AUTH
    | CONNECT_ATTRS
    | PLUGIN_AUTH_LENENC_CLIENT_DATA
    | SESSION_TRACK;

/// What sluice asks of servers (SSL and LOCAL_FILES are added as configured).
pub const REQUESTED_FROM_SERVERS: u32 = LONG_PASSWORD
    | LONG_FLAG
    | PROTOCOL_41
    | TRANSACTIONS
    | SECURE_CONNECTION
    | MULTI_RESULTS
    | PS_MULTI_RESULTS
    | PLUGIN_AUTH
    | PLUGIN_AUTH_LENENC_CLIENT_DATA
    | SESSION_TRACK;

pub mod status {
    pub const IN_TRANS: u16 = 0x0001;
    pub const AUTOCOMMIT: u16 = 0x0002;
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    pub const CURSOR_EXISTS: u16 = 0x0040;
    /// sql_mode has NO_BACKSLASH_ESCAPES: clients quote strings without backslashes.
    pub const NO_BACKSLASH_ESCAPES: u16 = 0x0200;
    pub const IN_TRANS_READONLY: u16 = 0x2000;
    pub const SESSION_STATE_CHANGED: u16 = 0x4000;
    /// sql_mode has ANSI_QUOTES (MariaDB): `"` quotes identifiers, not strings.
    pub const ANSI_QUOTES: u16 = 0x8000;
    /// The flags that tell the session's sql_mode, which sluice's own packets repeat
    /// from the server's latest answer: drivers choose their quoting by them.
    pub const SQL_MODE: u16 = NO_BACKSLASH_ESCAPES | ANSI_QUOTES;
}
