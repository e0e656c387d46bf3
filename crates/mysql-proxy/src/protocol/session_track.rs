//! Session-state changes a server reports in OK packets when asked to track them
//! (`session_track_system_variables`, `session_track_schema`,
//! `session_track_state_change`).

use super::lenenc::Reader;

/// One reported change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A system variable's new value, e.g. `time_zone` = `+05:00`.
    SystemVariable { name: String, value: String },
    /// The default database changed.
    Schema(String),
    /// Some session state changed (user variables, temporary tables, prepared
    /// statements, ... as well as the two above).
    StateChanged,
    /// GTIDs, transaction characteristics or state: informational for sluice.
    Other(u8),
}

const SYSTEM_VARIABLES: u8 = 0;
const SCHEMA: u8 = 1;
const STATE_CHANGE: u8 = 2;

/// Appends the changes in `data` (the session-state part of an OK packet) to `out`.
/// Returns `None` when the data is malformed.
pub fn parse_into(data: &[u8], out: &mut Vec<Change>) -> Option<()> {
    let mut r = Reader::new(data);
    while r.remaining() > 0 {
        let kind = r.u8()?;
        let body = r.lenenc_bytes()?;
        let mut b = Reader::new(body);
        match kind {
            SYSTEM_VARIABLES => {
                let name = b.lenenc_bytes()?;
                let value = b.lenenc_bytes()?;
                out.push(Change::SystemVariable {
                    name: String::from_utf8_lossy(name).to_ascii_lowercase(),
                    value: String::from_utf8_lossy(value).into_owned(),
                });
            }
            SCHEMA => {
                let schema = b.lenenc_bytes()?;
                out.push(Change::Schema(String::from_utf8_lossy(schema).into_owned()));
            }
            STATE_CHANGE => {
                // The entry's data is the flag itself ("1"); some servers wrap it in
                // a length-encoded string of its own.
                if body == b"1" || b.lenenc_bytes() == Some(b"1") {
                    out.push(Change::StateChanged);
                }
            }
            other => out.push(Change::Other(other)),
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::lenenc::put_lenenc_bytes;

    fn entry(kind: u8, parts: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        for p in parts {
            put_lenenc_bytes(&mut body, p);
        }
        let mut out = vec![kind];
        put_lenenc_bytes(&mut out, &body);
        out
    }

    #[test]
    fn variables_schema_and_state_change() {
        let mut data = entry(SYSTEM_VARIABLES, &[b"TIME_ZONE", b"+05:00"]);
        data.extend(entry(SCHEMA, &[b"shop"]));
        // As MariaDB 10.11 sends it: the flag without a length of its own.
        data.extend([STATE_CHANGE, 1, b'1']);
        data.extend(entry(5, &[b"T_______"]));
        let mut out = Vec::new();
        parse_into(&data, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                Change::SystemVariable {
                    name: "time_zone".into(),
                    value: "+05:00".into()
                },
                Change::Schema("shop".into()),
                Change::StateChanged,
                Change::Other(5),
            ]
        );
    }

    #[test]
    fn truncated_data_is_rejected() {
        let data = entry(SYSTEM_VARIABLES, &[b"autocommit", b"OFF"]);
        let mut out = Vec::new();
        assert!(parse_into(&data[..data.len() - 1], &mut out).is_none());
    }
}
