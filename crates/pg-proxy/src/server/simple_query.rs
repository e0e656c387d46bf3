//! sluice's own short queries on an idle server connection (the primary check, applying a
//! client's startup settings, the reset before reuse): not on the relay's hot path.

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::conn::ServerConn;
use super::messages::read_message;
use super::ServerError;
use crate::protocol::error_fields::ErrorFields;
use crate::protocol::frontend;
use crate::protocol::tags::backend;

/// What a simple query that did not fail left behind.
#[derive(Debug, Default)]
pub struct QueryAnswer {
    /// The first column of each row (NULLs left out).
    pub values: Vec<String>,
    /// Whether the server is outside a transaction afterwards.
    pub idle: bool,
}

/// Runs `sql` as one simple query and reads up to ReadyForQuery. ParameterStatus messages
/// update the connection's record of its parameters, so they stay true after a SET or a
/// DISCARD ALL. A failed query is `ServerError::Rejected` with the server's own fields.
pub async fn simple_query(conn: &mut ServerConn, sql: &str) -> Result<QueryAnswer, ServerError> {
    let mut out = BytesMut::new();
    frontend::write_query(&mut out, sql);
    conn.stream.write_all(&out).await?;
    let mut answer = QueryAnswer::default();
    let mut error = None;
    loop {
        let (tag, body) = read_message(&mut conn.stream, &mut conn.read_buf).await?;
        match tag {
            backend::DATA_ROW if body.len() >= 6 => {
                let len = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                if len >= 0 {
                    let end = 6 + len as usize;
                    let v = body.get(6..end).ok_or_else(|| {
                        ServerError::Protocol("data row shorter than its column".into())
                    })?;
                    answer.values.push(String::from_utf8_lossy(v).into_owned());
                }
            }
            backend::ERROR_RESPONSE => error = Some(ErrorFields::parse(&body)),
            backend::PARAMETER_STATUS => {
                let mut parts = body.split(|&b| b == 0);
                let name = String::from_utf8_lossy(parts.next().unwrap_or_default());
                let value = String::from_utf8_lossy(parts.next().unwrap_or_default());
                conn.set_param(&name, &value);
            }
            backend::READY_FOR_QUERY => {
                answer.idle = body.first() == Some(&b'I');
                break;
            }
            _ => {}
        }
    }
    match error {
        Some(e) => Err(ServerError::Rejected(e)),
        None => Ok(answer),
    }
}
