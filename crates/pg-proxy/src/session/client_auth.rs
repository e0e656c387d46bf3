//! Authenticating the client to sluice (never with a database password): SCRAM-SHA-256
//! or md5 against the users file, as the access rules say.

use bytes::{Bytes, BytesMut};
use pool_core::hba::AuthMethod;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::md5::verify_md5_response;
use crate::auth::scram::ScramServer;
use crate::frontend::AuthConfig;
use crate::protocol::backend;
use crate::protocol::frame::{complete_frame, HEADER_LEN};
use crate::protocol::frontend::{decode_password, decode_sasl_initial};
use crate::protocol::tags::frontend as tag;
use crate::stream::Stream;

/// Largest authentication message accepted from a client.
const AUTH_MESSAGE_LIMIT: usize = 8 * 1024;
const SCRAM_MECHANISM: &str = "SCRAM-SHA-256";

#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("no access rule allows this connection")]
    Rejected,
    #[error("password authentication failed")]
    Failed,
    #[error("protocol violation during authentication: {0}")]
    Protocol(String),
    #[error("client I/O during authentication: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the exchange the rule asks for. On success nothing is written yet: the caller
/// sends AuthenticationOk with the rest of the welcome.
pub async fn authenticate(
    stream: &mut Stream,
    buf: &mut BytesMut,
    method: AuthMethod,
    auth: &AuthConfig,
    user: &str,
) -> Result<(), ClientAuthError> {
    match method {
        AuthMethod::Trust => Ok(()),
        AuthMethod::Reject => Err(ClientAuthError::Rejected),
        AuthMethod::Md5 => md5(stream, buf, auth, user).await,
        AuthMethod::ScramSha256 => scram(stream, buf, auth, user).await,
    }
}

async fn md5(
    stream: &mut Stream,
    buf: &mut BytesMut,
    auth: &AuthConfig,
    user: &str,
) -> Result<(), ClientAuthError> {
    let salt: [u8; 4] = rand::random();
    let mut out = BytesMut::new();
    backend::authentication_md5(&mut out, salt);
    stream.write_all(&out).await?;
    let body = read_password_message(stream, buf).await?;
    let response = decode_password(&body).map_err(|e| ClientAuthError::Protocol(e.to_string()))?;
    // An unknown user goes through the same exchange and fails the same way.
    match auth.md5_secret(user) {
        Some(stored) if verify_md5_response(&stored, salt, response) => Ok(()),
        _ => Err(ClientAuthError::Failed),
    }
}

async fn scram(
    stream: &mut Stream,
    buf: &mut BytesMut,
    auth: &AuthConfig,
    user: &str,
) -> Result<(), ClientAuthError> {
    let known = auth.scram_verifier(user).cloned();
    let user_known = known.is_some();
    // Unknown users get a verifier no password matches, so the exchange looks the same.
    let verifier = known.unwrap_or_else(|| auth.decoy_verifier(user));
    let mut server = ScramServer::new(verifier);
    let mut out = BytesMut::new();
    backend::authentication_sasl(&mut out, &[SCRAM_MECHANISM]);
    stream.write_all(&out).await?;

    let body = read_password_message(stream, buf).await?;
    let (mechanism, data) =
        decode_sasl_initial(&body).map_err(|e| ClientAuthError::Protocol(e.to_string()))?;
    if mechanism != SCRAM_MECHANISM.as_bytes() {
        return Err(ClientAuthError::Protocol(
            "client selected an unsupported SASL mechanism".into(),
        ));
    }
    let server_first = server
        .client_first(data)
        .map_err(|e| ClientAuthError::Protocol(e.to_string()))?;
    out.clear();
    backend::authentication_sasl_continue(&mut out, server_first.as_bytes());
    stream.write_all(&out).await?;

    let body = read_password_message(stream, buf).await?;
    let server_final = match server.client_final(&body) {
        Ok(f) if user_known => f,
        _ => return Err(ClientAuthError::Failed),
    };
    out.clear();
    backend::authentication_sasl_final(&mut out, server_final.as_bytes());
    stream.write_all(&out).await?;
    Ok(())
}

/// Reads one PasswordMessage ('p'), the only message allowed during authentication.
async fn read_password_message(
    stream: &mut Stream,
    buf: &mut BytesMut,
) -> Result<Bytes, ClientAuthError> {
    loop {
        if let Some(h) = complete_frame(buf, AUTH_MESSAGE_LIMIT)
            .map_err(|e| ClientAuthError::Protocol(e.to_string()))?
        {
            if h.tag != tag::PASSWORD {
                return Err(ClientAuthError::Protocol(format!(
                    "expected a password message, got {:?}",
                    h.tag as char
                )));
            }
            let mut frame = buf.split_to(h.frame_len());
            return Ok(frame.split_off(HEADER_LEN).freeze());
        }
        buf.reserve(1024);
        if stream.read_buf(buf).await? == 0 {
            return Err(ClientAuthError::Io(
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
    }
}
