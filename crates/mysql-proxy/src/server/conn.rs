//! One open server connection, the session state sluice knows it has, and the
//! commands sluice itself sends on it (state replay, re-preparing, role checks).

use std::sync::Arc;

use bytes::{Buf, BufMut, BytesMut};
use pool_core::credentials::Credentials;
use pool_core::net::stream::Stream;
use tokio::io::AsyncWriteExt;

use super::error::ServerError;
use super::statements::ServerStatements;
use crate::io::fill_packet;
use crate::protocol::command::Command;
use crate::protocol::lenenc::Reader;
use crate::protocol::ok_err::{is_eof, ErrPacket, ERR, OK};
use crate::protocol::packet::{self, HEADER_LEN, MAX_PAYLOAD};
use crate::protocol::response::{Expect, Progress, ResponseTracker};
use crate::state::vars::{self, Vars};

/// Responses sluice reads for itself are never this large; a bigger packet means the
/// connection is not in the state sluice thinks.
const OWN_RESPONSE_LIMIT: usize = MAX_PAYLOAD;

/// What every server connection turns on (when opened and after a reset), so that
/// sluice learns from OK packets which session state a client created.
pub(crate) const TRACK_SESSION_STATE: &str = "SET SESSION session_track_schema = ON, \
     session_track_state_change = ON, session_track_system_variables = '*'";

pub struct ServerConn {
    pub stream: Stream,
    /// Bytes read from the server and not yet handled.
    pub read_buf: BytesMut,
    /// The server's id of this connection (what `KILL QUERY` on the server takes).
    pub thread_id: u32,
    pub server_version: String,
    /// Status flags of the server's greeting (what its global sql_mode implies).
    pub greeting_status: u16,
    /// Index of the member in its cluster.
    pub member: usize,
    /// Default database.
    pub schema: Option<String>,
    /// Session variables as set on this connection (character set included).
    pub vars: Vars,
    /// Whether multi-statements are enabled (COM_SET_OPTION).
    pub multi_statements: bool,
    /// The value LAST_INSERT_ID() returns here.
    pub last_insert_id: u64,
    pub statements: ServerStatements,
    /// The credentials it was opened with (rotation generation, lease deadline).
    pub credentials: Arc<Credentials>,
}

impl ServerConn {
    /// Sends one command and reads its whole response, keeping nothing of it but what
    /// the tracker learnt. An ERR ends up in `tracker.error`.
    pub async fn command(
        &mut self,
        payload: &[u8],
        expect: Expect,
    ) -> Result<ResponseTracker, ServerError> {
        let mut out = BytesMut::with_capacity(payload.len() + HEADER_LEN);
        packet::write_packet(&mut out, 0, payload);
        self.stream.write_all(&out).await?;
        let mut tracker = ResponseTracker::new(expect);
        if Command::from_byte(payload[0]).has_no_response() {
            return Ok(tracker);
        }
        loop {
            let header =
                fill_packet(&mut self.stream, &mut self.read_buf, OWN_RESPONSE_LIMIT).await?;
            let progress =
                tracker.feed(header, &self.read_buf[HEADER_LEN..HEADER_LEN + header.len])?;
            self.read_buf.advance(HEADER_LEN + header.len);
            match progress {
                Progress::More => {}
                Progress::Done => break,
                Progress::LocalInfile => {
                    // Never asked for by sluice's own statements; answer "no file".
                    let mut out = BytesMut::new();
                    packet::write_packet(&mut out, header.seq.wrapping_add(1), &[]);
                    self.stream.write_all(&out).await?;
                }
            }
        }
        self.apply(&tracker);
        Ok(tracker)
    }

    /// A statement sluice runs for itself; its error is returned as one.
    pub async fn execute(&mut self, sql: &str) -> Result<ResponseTracker, ServerError> {
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(Command::Query.byte());
        payload.extend_from_slice(sql.as_bytes());
        let tracker = self.command(&payload, Expect::Results).await?;
        match &tracker.error {
            Some(e) => Err(ServerError::Rejected(e.clone())),
            None => Ok(tracker),
        }
    }

    /// Runs a query and returns its rows as text (NULL as `None`).
    pub async fn query_rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ServerError> {
        let mut out = BytesMut::new();
        let start = packet::begin(&mut out, 0);
        out.put_u8(Command::Query.byte());
        out.put_slice(sql.as_bytes());
        packet::end(&mut out, start);
        self.stream.write_all(&out).await?;
        let mut rows = Vec::new();
        let mut columns_left: Option<u64> = None;
        let mut in_rows = false;
        loop {
            let h = fill_packet(&mut self.stream, &mut self.read_buf, OWN_RESPONSE_LIMIT).await?;
            let packet = self.read_buf.split_to(HEADER_LEN + h.len);
            let p = &packet[HEADER_LEN..];
            match (columns_left, in_rows) {
                (None, _) => match p.first() {
                    Some(&ERR) => {
                        return Err(ServerError::Rejected(
                            ErrPacket::parse(p).ok_or(ServerError::Protocol("malformed ERR"))?,
                        ))
                    }
                    Some(&OK) => return Ok(rows),
                    _ => {
                        columns_left = Some(
                            Reader::new(p)
                                .lenenc_int()
                                .ok_or(ServerError::Protocol("malformed column count"))?,
                        )
                    }
                },
                (Some(0), false) => {
                    if !is_eof(p, h.len) {
                        return Err(ServerError::Protocol("missing EOF after columns"));
                    }
                    in_rows = true;
                }
                (Some(n), false) => columns_left = Some(n - 1),
                (Some(_), true) => {
                    if p.first() == Some(&ERR) {
                        return Err(ServerError::Rejected(
                            ErrPacket::parse(p).ok_or(ServerError::Protocol("malformed ERR"))?,
                        ));
                    }
                    if is_eof(p, h.len) {
                        // More result sets would follow only for multi-statements,
                        // which sluice's own queries never are.
                        return Ok(rows);
                    }
                    let mut r = Reader::new(p);
                    let mut row = Vec::new();
                    while r.remaining() > 0 {
                        if r.rest()[0] == 0xFB {
                            r.u8();
                            row.push(None);
                        } else {
                            let v = r
                                .lenenc_bytes()
                                .ok_or(ServerError::Protocol("malformed row"))?;
                            row.push(Some(String::from_utf8_lossy(v).into_owned()));
                        }
                    }
                    rows.push(row);
                }
            }
        }
    }

    /// Records what a response changed on this connection.
    pub fn apply(&mut self, tracker: &ResponseTracker) {
        use crate::protocol::session_track::Change;
        for change in &tracker.changes {
            match change {
                // sluice's own settings (session tracking) and per-statement values
                // are not session state a client could have asked for.
                Change::SystemVariable { name, value }
                    if vars::is_replayable(name) && !vars::is_per_statement(name) =>
                {
                    self.vars.set(name, value)
                }
                Change::Schema(s) => self.schema = Some(s.clone()),
                _ => {}
            }
        }
        if let Some(id) = tracker.last_insert_id {
            self.last_insert_id = id;
        }
    }

    /// Wipes the session clean for the next client (COM_RESET_CONNECTION: user
    /// variables, temporary tables, locks, prepared statements and session variables
    /// go), then restores what sluice itself relies on: session tracking, the
    /// character set it opened with, multi-statements off.
    pub async fn reset(&mut self) -> Result<(), ServerError> {
        let t = self
            .command(&[Command::ResetConnection.byte()], Expect::Single)
            .await?;
        if let Some(err) = t.error {
            return Err(ServerError::Rejected(err));
        }
        self.statements.clear();
        self.last_insert_id = 0;
        self.execute(TRACK_SESSION_STATE).await?;
        let (charset, collation) =
            crate::protocol::collation::by_id(crate::protocol::collation::DEFAULT)
                .expect("the default collation is known");
        self.execute(&format!("SET NAMES {charset} COLLATE {collation}"))
            .await?;
        self.vars = Vars::for_collation(crate::protocol::collation::DEFAULT);
        let t = self
            .command(&[Command::SetOption.byte(), 1, 0], Expect::Single)
            .await?;
        if let Some(err) = t.error {
            return Err(ServerError::Rejected(err));
        }
        self.multi_statements = false;
        Ok(())
    }

    /// Says goodbye (COM_QUIT), so the server does not count an aborted connection.
    pub async fn quit(mut self) {
        let _ = self
            .stream
            .write_all(&[1, 0, 0, 0, Command::Quit.byte()])
            .await;
        let _ = self.stream.shutdown().await;
    }

    /// Whether the idle connection still looks usable: nothing arrived on it since it
    /// was last used (a server that went away has closed it or sent an error). The
    /// look is one non-blocking read, which costs less than a failed client query.
    pub fn tcp_alive(&self) -> bool {
        self.stream.is_quiet()
    }
}
