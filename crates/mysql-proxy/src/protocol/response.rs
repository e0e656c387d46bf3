//! Follows a server's response to one command packet by packet, to know where it
//! ends and what it left behind: the final status flags (is a transaction open?),
//! errors, session-state changes, and for COM_STMT_PREPARE the statement's shape.
//! Packets are relayed verbatim; this only looks at them.

use super::capabilities::status;
use super::lenenc::Reader;
use super::ok_err::{eof_status, is_eof, ErrPacket, OkPacket, ERR, LOCAL_INFILE, OK};
use super::packet::Header;
use super::session_track::{self, Change};
use super::statement::PrepareOk;

/// What kind of response the command produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// COM_QUERY and COM_STMT_EXECUTE: OK, ERR, local-infile request or result sets,
    /// possibly several.
    Results,
    /// COM_STMT_PREPARE: PREPARE_OK with parameter and column definitions, or ERR.
    Prepare,
    /// COM_STMT_FETCH: rows up to an EOF, or ERR.
    Rows,
    /// COM_FIELD_LIST: column definitions up to an EOF, or ERR.
    FieldList,
    /// Everything else: exactly one packet (OK, EOF, ERR or a status string).
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More packets belong to this response.
    More,
    /// That packet was the last one.
    Done,
    /// The server asks for the client's local file (LOAD DATA LOCAL INFILE); the
    /// client's data packets go to the server next, then the response goes on.
    LocalInfile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    First,
    PrepareFirst,
    Columns(u64),
    ColumnsEof,
    Rows,
    PrepareParams { params: u16, columns: u16 },
    PrepareParamsEof { columns: u16 },
    PrepareColumns(u16),
    PrepareColumnsEof,
    FieldList,
    Single,
    Done,
}

/// The state of one response.
#[derive(Debug)]
pub struct ResponseTracker {
    state: State,
    /// The previous packet was of maximal length: this one continues it.
    continued: bool,
    /// Status flags from the latest OK or EOF.
    pub status: Option<u16>,
    /// The error that ended the response, if it ended with one.
    pub error: Option<ErrPacket>,
    /// The last-insert id of the latest OK that set one.
    pub last_insert_id: Option<u64>,
    /// Session-state changes reported along the way.
    pub changes: Vec<Change>,
    /// For COM_STMT_PREPARE: the new statement.
    pub prepared: Option<PrepareOk>,
    /// The packet just fed was an OK packet.
    pub last_was_ok: bool,
}

impl ResponseTracker {
    pub fn new(expect: Expect) -> Self {
        let state = match expect {
            Expect::Results => State::First,
            Expect::Prepare => State::PrepareFirst,
            Expect::Rows => State::Rows,
            Expect::FieldList => State::FieldList,
            Expect::Single => State::Single,
        };
        ResponseTracker {
            state,
            continued: false,
            status: None,
            error: None,
            last_insert_id: None,
            changes: Vec::new(),
            prepared: None,
            last_was_ok: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Looks at the next packet of the response (`payload` is its whole payload).
    /// A malformed packet ends the response with an error the caller must treat as a
    /// broken server connection.
    pub fn feed(&mut self, header: Header, payload: &[u8]) -> Result<Progress, Broken> {
        self.last_was_ok = false;
        if self.continued {
            self.continued = header.is_continued();
            return Ok(Progress::More);
        }
        self.continued = header.is_continued();
        let first = *payload
            .first()
            .ok_or(Broken("empty packet in a response"))?;
        match self.state {
            State::Done => Err(Broken("packet after the end of a response")),
            State::First => match first {
                OK => {
                    let ok = OkPacket::parse(payload, true).ok_or(Broken("malformed OK packet"))?;
                    self.on_ok(&ok)?;
                    Ok(self.after_result(ok.status))
                }
                ERR => Ok(self.on_err(payload)),
                LOCAL_INFILE => Ok(Progress::LocalInfile),
                _ => {
                    let n = Reader::new(payload)
                        .lenenc_int()
                        .filter(|&n| n > 0)
                        .ok_or(Broken("malformed column count"))?;
                    self.state = State::Columns(n);
                    Ok(Progress::More)
                }
            },
            State::Columns(n) => {
                self.state = if n > 1 {
                    State::Columns(n - 1)
                } else {
                    State::ColumnsEof
                };
                Ok(Progress::More)
            }
            State::ColumnsEof => {
                if first == ERR {
                    return Ok(self.on_err(payload));
                }
                if !is_eof(payload, header.len) {
                    return Err(Broken("missing EOF after column definitions"));
                }
                let st = eof_status(payload).ok_or(Broken("malformed EOF packet"))?;
                if st & status::CURSOR_EXISTS != 0 {
                    // COM_STMT_EXECUTE opened a cursor: rows come only with
                    // COM_STMT_FETCH, and this response ends here.
                    self.status = Some(st);
                    return Ok(self.after_result(st));
                }
                self.state = State::Rows;
                Ok(Progress::More)
            }
            State::Rows => {
                if first == ERR {
                    return Ok(self.on_err(payload));
                }
                if is_eof(payload, header.len) {
                    let st = eof_status(payload).ok_or(Broken("malformed EOF packet"))?;
                    self.status = Some(st);
                    return Ok(self.after_result(st));
                }
                Ok(Progress::More)
            }
            State::PrepareFirst => {
                if first == ERR {
                    return Ok(self.on_err(payload));
                }
                let ok = PrepareOk::parse(payload).ok_or(Broken("malformed PREPARE_OK"))?;
                self.prepared = Some(ok);
                self.state = if ok.params > 0 {
                    State::PrepareParams {
                        params: ok.params,
                        columns: ok.columns,
                    }
                } else {
                    self.columns_of_prepare(ok.columns)
                };
                Ok(self.progress())
            }
            State::PrepareParams { params, columns } => {
                self.state = if params > 1 {
                    State::PrepareParams {
                        params: params - 1,
                        columns,
                    }
                } else {
                    State::PrepareParamsEof { columns }
                };
                Ok(Progress::More)
            }
            State::PrepareParamsEof { columns } => {
                if !is_eof(payload, header.len) {
                    return Err(Broken("missing EOF after parameter definitions"));
                }
                self.state = self.columns_of_prepare(columns);
                Ok(self.progress())
            }
            State::PrepareColumns(n) => {
                self.state = if n > 1 {
                    State::PrepareColumns(n - 1)
                } else {
                    State::PrepareColumnsEof
                };
                Ok(Progress::More)
            }
            State::PrepareColumnsEof => {
                if !is_eof(payload, header.len) {
                    return Err(Broken("missing EOF after column definitions"));
                }
                self.state = State::Done;
                Ok(Progress::Done)
            }
            State::FieldList => {
                if first == ERR {
                    return Ok(self.on_err(payload));
                }
                if is_eof(payload, header.len) {
                    self.status = eof_status(payload);
                    self.state = State::Done;
                    return Ok(Progress::Done);
                }
                Ok(Progress::More)
            }
            State::Single => {
                match first {
                    ERR => return Ok(self.on_err(payload)),
                    OK if header.len >= 7 => {
                        if let Some(ok) = OkPacket::parse(payload, true) {
                            self.on_ok(&ok)?;
                        }
                    }
                    0xFE if header.len < 9 => self.status = eof_status(payload),
                    _ => {}
                }
                self.state = State::Done;
                Ok(Progress::Done)
            }
        }
    }

    fn columns_of_prepare(&self, columns: u16) -> State {
        if columns > 0 {
            State::PrepareColumns(columns)
        } else {
            State::Done
        }
    }

    fn progress(&self) -> Progress {
        if self.state == State::Done {
            Progress::Done
        } else {
            Progress::More
        }
    }

    fn on_ok(&mut self, ok: &OkPacket<'_>) -> Result<(), Broken> {
        self.last_was_ok = true;
        self.status = Some(ok.status);
        if ok.last_insert_id != 0 {
            self.last_insert_id = Some(ok.last_insert_id);
        }
        if let Some(state) = ok.session_state {
            session_track::parse_into(state, &mut self.changes)
                .ok_or(Broken("malformed session-state information"))?;
        }
        Ok(())
    }

    fn on_err(&mut self, payload: &[u8]) -> Progress {
        self.error = ErrPacket::parse(payload);
        self.state = State::Done;
        Progress::Done
    }

    fn after_result(&mut self, st: u16) -> Progress {
        if st & status::MORE_RESULTS_EXISTS != 0 {
            self.state = State::First;
            Progress::More
        } else {
            self.state = State::Done;
            Progress::Done
        }
    }
}

/// A server sent something that does not fit the protocol; its connection cannot be
/// trusted any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("protocol error from server: {0}")]
pub struct Broken(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ok_err::encode_eof;
    use crate::protocol::packet::{write_packet, HEADER_LEN, MAX_PAYLOAD};
    use bytes::BytesMut;

    /// Feeds every packet in `wire`; returns the progress after each.
    fn run(t: &mut ResponseTracker, wire: &[u8]) -> Vec<Progress> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let h = Header::parse(&wire[at..]).unwrap();
            let payload = &wire[at + HEADER_LEN..at + HEADER_LEN + h.len];
            out.push(t.feed(h, payload).unwrap());
            at += HEADER_LEN + h.len;
        }
        out
    }

    fn ok(status: u16) -> Vec<u8> {
        vec![OK, 0, 0, status as u8, (status >> 8) as u8, 0, 0]
    }

    fn result_set(wire: &mut BytesMut, seq: &mut u8, rows: usize, last_status: u16) {
        *seq = write_packet(wire, *seq, &[1]);
        *seq = write_packet(
            wire,
            *seq,
            b"\x03def\0\0\0\x01a\0\x0c\x3f\0\x01\0\0\0\x08\0\0\0\0\0",
        );
        encode_eof(wire, *seq, status::AUTOCOMMIT);
        *seq += 1;
        for _ in 0..rows {
            *seq = write_packet(wire, *seq, b"\x011");
        }
        encode_eof(wire, *seq, last_status);
        *seq += 1;
    }

    #[test]
    fn single_result_set_ends_at_its_eof() {
        let mut wire = BytesMut::new();
        let mut seq = 1;
        result_set(&mut wire, &mut seq, 3, status::AUTOCOMMIT);
        let mut t = ResponseTracker::new(Expect::Results);
        let steps = run(&mut t, &wire);
        assert_eq!(steps.last(), Some(&Progress::Done));
        assert!(steps[..steps.len() - 1]
            .iter()
            .all(|p| *p == Progress::More));
        assert_eq!(t.status, Some(status::AUTOCOMMIT));
    }

    #[test]
    fn an_execute_that_opens_a_cursor_ends_after_the_column_definitions() {
        let mut wire = BytesMut::new();
        let mut seq = write_packet(&mut wire, 1, &[1]);
        seq = write_packet(
            &mut wire,
            seq,
            b"\x03def\0\0\0\x01a\0\x0c\x3f\0\x01\0\0\0\x08\0\0\0\0\0",
        );
        encode_eof(&mut wire, seq, status::AUTOCOMMIT | status::CURSOR_EXISTS);
        let mut t = ResponseTracker::new(Expect::Results);
        let steps = run(&mut t, &wire);
        assert_eq!(steps, [Progress::More, Progress::More, Progress::Done]);
        assert_eq!(t.status, Some(status::AUTOCOMMIT | status::CURSOR_EXISTS));
        // The rows then come in answer to COM_STMT_FETCH, ended by an EOF.
        let mut fetched = BytesMut::new();
        let seq = write_packet(&mut fetched, 1, b"\x00\x00\x01");
        encode_eof(
            &mut fetched,
            seq,
            status::AUTOCOMMIT | status::CURSOR_EXISTS,
        );
        let mut t = ResponseTracker::new(Expect::Rows);
        assert_eq!(run(&mut t, &fetched), [Progress::More, Progress::Done]);
    }

    #[test]
    fn multi_results_continue_until_the_last() {
        let mut wire = BytesMut::new();
        let mut seq = 1;
        result_set(
            &mut wire,
            &mut seq,
            1,
            status::AUTOCOMMIT | status::MORE_RESULTS_EXISTS,
        );
        seq = write_packet(
            &mut wire,
            seq,
            &ok(status::MORE_RESULTS_EXISTS | status::IN_TRANS),
        );
        result_set(&mut wire, &mut seq, 2, status::IN_TRANS);
        let mut t = ResponseTracker::new(Expect::Results);
        let steps = run(&mut t, &wire);
        assert_eq!(steps.iter().filter(|p| **p == Progress::Done).count(), 1);
        assert_eq!(steps.last(), Some(&Progress::Done));
        assert_eq!(t.status, Some(status::IN_TRANS));
    }

    #[test]
    fn error_mid_result_ends_the_response() {
        let mut wire = BytesMut::new();
        let mut seq = write_packet(&mut wire, 1, &[1]);
        seq = write_packet(&mut wire, seq, b"coldef");
        encode_eof(&mut wire, seq, 0);
        write_packet(
            &mut wire,
            seq + 1,
            b"\xff\x25\x05#70100Query execution was interrupted",
        );
        let mut t = ResponseTracker::new(Expect::Results);
        assert_eq!(run(&mut t, &wire).last(), Some(&Progress::Done));
        assert_eq!(t.error.as_ref().map(|e| e.code), Some(1317));
    }

    #[test]
    fn a_huge_row_is_not_mistaken_for_eof() {
        let mut wire = BytesMut::new();
        let mut seq = write_packet(&mut wire, 1, &[1]);
        seq = write_packet(&mut wire, seq, b"coldef");
        encode_eof(&mut wire, seq, 0);
        seq += 1;
        // A 16 MiB row whose continuation starts with 0xFE.
        let mut row = vec![0xFEu8; MAX_PAYLOAD + 3];
        row[0] = 0xFE;
        seq = write_packet(&mut wire, seq, &row);
        encode_eof(&mut wire, seq, status::AUTOCOMMIT);
        let mut t = ResponseTracker::new(Expect::Results);
        let steps = run(&mut t, &wire);
        assert_eq!(steps.iter().filter(|p| **p == Progress::Done).count(), 1);
        assert_eq!(steps.last(), Some(&Progress::Done));
    }

    #[test]
    fn ok_with_session_changes_is_recorded() {
        let mut p = vec![OK, 0, 0];
        p.extend_from_slice(&(status::AUTOCOMMIT | status::SESSION_STATE_CHANGED).to_le_bytes());
        p.extend_from_slice(&[0, 0, 0]); // warnings, empty info
        p.extend_from_slice(&[4, 2, 2, 1, b'1']); // STATE_CHANGE "1"
        let mut wire = BytesMut::new();
        write_packet(&mut wire, 1, &p);
        let mut t = ResponseTracker::new(Expect::Results);
        assert_eq!(run(&mut t, &wire), vec![Progress::Done]);
        assert_eq!(t.changes, vec![Change::StateChanged]);
    }

    #[test]
    fn prepare_response_with_params_and_columns() {
        let mut wire = BytesMut::new();
        let mut prep = vec![OK];
        prep.extend_from_slice(&9u32.to_le_bytes());
        prep.extend_from_slice(&1u16.to_le_bytes()); // columns
        prep.extend_from_slice(&2u16.to_le_bytes()); // params
        prep.extend_from_slice(&[0, 0, 0]);
        let mut seq = write_packet(&mut wire, 1, &prep);
        for _ in 0..2 {
            seq = write_packet(&mut wire, seq, b"param");
        }
        encode_eof(&mut wire, seq, 0);
        seq += 1;
        seq = write_packet(&mut wire, seq, b"col");
        encode_eof(&mut wire, seq, 0);
        let mut t = ResponseTracker::new(Expect::Prepare);
        let steps = run(&mut t, &wire);
        assert_eq!(steps.len(), 6);
        assert_eq!(steps.last(), Some(&Progress::Done));
        let p = t.prepared.unwrap();
        assert_eq!((p.stmt_id, p.columns, p.params), (9, 1, 2));
    }

    #[test]
    fn prepare_without_params_or_columns_is_one_packet() {
        let mut prep = vec![OK];
        prep.extend_from_slice(&3u32.to_le_bytes());
        prep.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0]);
        let mut t = ResponseTracker::new(Expect::Prepare);
        let h = Header {
            len: prep.len(),
            seq: 1,
        };
        assert_eq!(t.feed(h, &prep), Ok(Progress::Done));
    }

    #[test]
    fn local_infile_request_and_garbage() {
        let mut t = ResponseTracker::new(Expect::Results);
        let h = Header { len: 5, seq: 1 };
        assert_eq!(t.feed(h, b"\xfbdata"), Ok(Progress::LocalInfile));
        assert_eq!(
            t.feed(Header { len: 7, seq: 3 }, &ok(2)),
            Ok(Progress::Done)
        );
        let mut t = ResponseTracker::new(Expect::Results);
        assert!(t.feed(Header { len: 0, seq: 1 }, &[]).is_err());
        let _ = HEADER_LEN;
    }
}
