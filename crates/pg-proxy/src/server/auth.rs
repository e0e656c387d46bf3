//! Answering the server's authentication request with credentials from the source.

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use tokio::io::AsyncWriteExt;

use super::messages::read_message;
use super::ServerError;
use crate::protocol::error_fields::ErrorFields;
use crate::protocol::frontend;
use crate::protocol::tags::{auth, backend};
use crate::stream::Stream;
use pool_core::credentials::Credentials;

/// Runs the authentication exchange until AuthenticationOk. `exposed_ok`: the server
/// may be sent a cleartext or md5 password (TLS, or the operator allowed it).
pub async fn authenticate(
    stream: &mut Stream,
    buf: &mut BytesMut,
    creds: &Credentials,
    exposed_ok: bool,
) -> Result<(), ServerError> {
    let mut out = BytesMut::new();
    let mut scram: Option<ScramSha256> = None;
    loop {
        let (tag, body) = read_message(stream, buf).await?;
        match tag {
            backend::AUTHENTICATION => {}
            backend::ERROR_RESPONSE => {
                return Err(ServerError::from_startup_error(ErrorFields::parse(&body)))
            }
            backend::NOTICE_RESPONSE => continue,
            other => {
                return Err(ServerError::Protocol(format!(
                    "unexpected message {:?} during authentication",
                    other as char
                )))
            }
        }
        if body.len() < 4 {
            return Err(ServerError::Protocol("short authentication message".into()));
        }
        let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let data = &body[4..];
        out.clear();
        match code {
            auth::OK => return Ok(()),
            auth::CLEARTEXT | auth::MD5 if !exposed_ok => {
                let kind = if code == auth::MD5 {
                    "md5"
                } else {
                    "cleartext"
                };
                return Err(ServerError::ExposedPassword(kind));
            }
            auth::CLEARTEXT => {
                frontend::write_password(&mut out, creds.password.expose().as_bytes());
            }
            auth::MD5 => {
                let salt: [u8; 4] = data
                    .try_into()
                    .map_err(|_| ServerError::Protocol("md5 salt is not 4 bytes".into()))?;
                let hashed = postgres_protocol::authentication::md5_hash(
                    creds.username.as_bytes(),
                    creds.password.expose().as_bytes(),
                    salt,
                );
                frontend::write_password(&mut out, hashed.as_bytes());
            }
            auth::SASL => {
                let offers_scram = data
                    .split(|&b| b == 0)
                    .any(|m| m == SCRAM_SHA_256.as_bytes());
                if !offers_scram {
                    return Err(ServerError::Scram(
                        "server offers no SCRAM-SHA-256 mechanism".into(),
                    ));
                }
                let s = ScramSha256::new(
                    creds.password.expose().as_bytes(),
                    ChannelBinding::unsupported(),
                );
                frontend::write_sasl_initial(&mut out, SCRAM_SHA_256, s.message());
                scram = Some(s);
            }
            auth::SASL_CONTINUE => {
                let mut s = scram
                    .take()
                    .ok_or_else(|| ServerError::Protocol("SASL continue before start".into()))?;
                // The server's salt and iterations come now, and with them the
                // iterated hash of the password (milliseconds): off the event loop.
                let data = data.to_vec();
                let s = tokio::task::spawn_blocking(move || s.update(&data).map(|()| s))
                    .await
                    .map_err(|e| ServerError::Scram(e.to_string()))?
                    .map_err(|e| ServerError::Scram(e.to_string()))?;
                frontend::write_sasl_response(&mut out, s.message());
                scram = Some(s);
            }
            auth::SASL_FINAL => {
                let mut s = scram
                    .take()
                    .ok_or_else(|| ServerError::Protocol("SASL final before start".into()))?;
                // Proves the server knew the password too.
                s.finish(data)
                    .map_err(|e| ServerError::Scram(e.to_string()))?;
                continue;
            }
            other => return Err(ServerError::UnsupportedAuth(other)),
        }
        stream.write_all(&out).await?;
    }
}
