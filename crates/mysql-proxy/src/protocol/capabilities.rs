//! Capability flags (`CLIENT_*`) and server status flags (`SERVER_*`): mysql_common's
//! definitions, as the plain integers sluice's codec and its flag arithmetic use.

use mysql_common::constants::CapabilityFlags as C;

pub const LONG_PASSWORD: u32 = C::CLIENT_LONG_PASSWORD.bits();
pub const FOUND_ROWS: u32 = C::CLIENT_FOUND_ROWS.bits();
pub const LONG_FLAG: u32 = C::CLIENT_LONG_FLAG.bits();
pub const CONNECT_WITH_DB: u32 = C::CLIENT_CONNECT_WITH_DB.bits();
pub const COMPRESS: u32 = C::CLIENT_COMPRESS.bits();
pub const LOCAL_FILES: u32 = C::CLIENT_LOCAL_FILES.bits();
pub const PROTOCOL_41: u32 = C::CLIENT_PROTOCOL_41.bits();
pub const SSL: u32 = C::CLIENT_SSL.bits();
pub const TRANSACTIONS: u32 = C::CLIENT_TRANSACTIONS.bits();
pub const SECURE_CONNECTION: u32 = C::CLIENT_SECURE_CONNECTION.bits();
pub const MULTI_STATEMENTS: u32 = C::CLIENT_MULTI_STATEMENTS.bits();
pub const MULTI_RESULTS: u32 = C::CLIENT_MULTI_RESULTS.bits();
pub const PS_MULTI_RESULTS: u32 = C::CLIENT_PS_MULTI_RESULTS.bits();
pub const PLUGIN_AUTH: u32 = C::CLIENT_PLUGIN_AUTH.bits();
pub const CONNECT_ATTRS: u32 = C::CLIENT_CONNECT_ATTRS.bits();
pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = C::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.bits();
pub const SESSION_TRACK: u32 = C::CLIENT_SESSION_TRACK.bits();
pub const DEPRECATE_EOF: u32 = C::CLIENT_DEPRECATE_EOF.bits();

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
    use mysql_common::constants::StatusFlags as S;

    pub const IN_TRANS: u16 = S::SERVER_STATUS_IN_TRANS.bits();
    pub const AUTOCOMMIT: u16 = S::SERVER_STATUS_AUTOCOMMIT.bits();
    pub const MORE_RESULTS_EXISTS: u16 = S::SERVER_MORE_RESULTS_EXISTS.bits();
    pub const CURSOR_EXISTS: u16 = S::SERVER_STATUS_CURSOR_EXISTS.bits();
    /// sql_mode has NO_BACKSLASH_ESCAPES: clients quote strings without backslashes.
    pub const NO_BACKSLASH_ESCAPES: u16 = S::SERVER_STATUS_NO_BACKSLASH_ESCAPES.bits();
    pub const IN_TRANS_READONLY: u16 = S::SERVER_STATUS_IN_TRANS_READONLY.bits();
    pub const SESSION_STATE_CHANGED: u16 = S::SERVER_SESSION_STATE_CHANGED.bits();
    /// sql_mode has ANSI_QUOTES (MariaDB): `"` quotes identifiers, not strings.
    pub const ANSI_QUOTES: u16 = S::SERVER_STATUS_ANSI_QUOTES.bits();
    /// The flags that tell the session's sql_mode, which sluice's own packets repeat
    /// from the server's latest answer: drivers choose their quoting by them.
    pub const SQL_MODE: u16 = NO_BACKSLASH_ESCAPES | ANSI_QUOTES;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire values sluice has always offered and asked for.
    #[test]
    fn flag_sets_keep_their_wire_values() {
        assert_eq!(OFFERED_TO_CLIENTS, 0x00bf_a20f);
        assert_eq!(REQUESTED_FROM_SERVERS, 0x00ae_a205);
        assert_eq!(
            (SSL, LOCAL_FILES, DEPRECATE_EOF),
            (0x800, 0x80, 0x0100_0000)
        );
        assert_eq!(status::SQL_MODE, 0x8200);
        assert_eq!(
            (status::IN_TRANS, status::AUTOCOMMIT, status::CURSOR_EXISTS),
            (1, 2, 0x40)
        );
    }
}
