//! A console session after login: simple queries in, one command each, answered
//! with a result set or a completion, until the client leaves or sluice drains
//! (a session left open would hold up the drain that SHUTDOWN starts).

use std::sync::Arc;

use bytes::BytesMut;
use pool_core::shutdown::{Phase, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::backend::ConsoleBackend;
use super::command::{parse, Command, View};
use super::connection_views;
use super::views;
use crate::protocol::backend::{self, Severity};
use crate::protocol::frame::{complete_frame, FrameError, HEADER_LEN};
use crate::protocol::tags::{frontend as tag, TxStatus};
use crate::stream::Stream;

/// Largest message accepted from a console client.
const MESSAGE_LIMIT: usize = 64 * 1024;

/// What a console user may do, from the users file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleRole {
    /// Every command.
    Admin,
    /// SHOW only.
    Stats,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("client I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("client protocol: {0}")]
    Protocol(#[from] FrameError),
}

/// Welcomes an authenticated console client and answers its queries.
pub async fn serve(
    stream: &mut Stream,
    mut buf: BytesMut,
    role: ConsoleRole,
    backend: Arc<dyn ConsoleBackend>,
    mut shutdown: Shutdown,
) -> Result<(), ConsoleError> {
    let mut out = BytesMut::with_capacity(512);
    backend::authentication_ok(&mut out);
    for (name, value) in [
        ("server_version", "15.0"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
        ("application_name", "sluice"),
    ] {
        backend::parameter_status(&mut out, name, value);
    }
    backend::ready_for_query(&mut out, TxStatus::Idle);
    stream.write_all(&out).await?;
    // After an extended-protocol message is refused, the rest up to Sync is skipped.
    let mut skipping = false;
    loop {
        let frame = tokio::select! {
            frame = read_frame(stream, &mut buf) => frame?,
            () = shutdown.reached(Phase::Draining) => return Ok(()),
        };
        let Some((tag, body)) = frame else {
            return Ok(());
        };
        out.clear();
        match tag {
            tag::TERMINATE => return Ok(()),
            tag::QUERY => {
                let text = String::from_utf8_lossy(body.strip_suffix(b"\0").unwrap_or(&body));
                let stop = answer(&text, role, backend.as_ref(), &mut out).await;
                backend::ready_for_query(&mut out, TxStatus::Idle);
                stream.write_all(&out).await?;
                if stop {
                    stream.flush().await?;
                    backend.shutdown();
                }
            }
            tag::SYNC => {
                skipping = false;
                backend::ready_for_query(&mut out, TxStatus::Idle);
                stream.write_all(&out).await?;
            }
            _ if skipping => {}
            _ => {
                skipping = true;
                backend::error_response(
                    &mut out,
                    Severity::Error,
                    "0A000",
                    "the admin console takes simple queries only",
                );
                stream.write_all(&out).await?;
            }
        }
    }
}

/// Writes the answer to one query; true when it asks sluice to shut down (done
/// once the answer is sent).
async fn answer(
    text: &str,
    role: ConsoleRole,
    backend: &dyn ConsoleBackend,
    out: &mut BytesMut,
) -> bool {
    let command = match parse(text) {
        Ok(c) => c,
        Err(e) => {
            backend::error_response(out, Severity::Error, "42601", &e.to_string());
            return false;
        }
    };
    if role == ConsoleRole::Stats && !command.read_only() {
        backend::error_response(
            out,
            Severity::Error,
            "42501",
            "permission denied: a stats user may only run SHOW",
        );
        return false;
    }
    match command {
        Command::Show(view) => {
            let routes = backend.routes();
            let table = match view {
                View::Pools => views::pools(&routes),
                View::Databases => views::databases(&routes),
                View::Lists => views::lists(&routes, &backend.users()),
                View::Users => views::users(&backend.users()),
                View::Version => views::version(backend.version()),
                View::Stats => views::stats(&routes),
                View::Config => views::config(&backend.config()),
                View::Clients => connection_views::clients(&backend.clients()),
                View::Servers => connection_views::servers(&backend.servers()),
            };
            table.write(out);
        }
        Command::Set => backend::command_complete(out, "SET"),
        Command::Pause(database) => {
            let done = backend.pause(database.as_deref()).await;
            complete_or_unknown(out, done, "PAUSE");
        }
        Command::Resume(database) => {
            let done = backend.resume(database.as_deref());
            complete_or_unknown(out, done, "RESUME");
        }
        Command::Reconnect(database) => {
            let done = backend.reconnect(database.as_deref());
            complete_or_unknown(out, done, "RECONNECT");
        }
        Command::Kill(database) => {
            let done = backend.kill(&database).await;
            complete_or_unknown(out, done, "KILL");
        }
        Command::KillClient(id) => match backend.kill_client(id).await {
            Ok(()) => backend::command_complete(out, "KILL_CLIENT"),
            Err(e) => backend::error_response(out, Severity::Error, "42704", &e),
        },
        Command::Reload => match backend.reload().await {
            Ok(()) => backend::command_complete(out, "RELOAD"),
            Err(e) => backend::error_response(out, Severity::Error, "F0000", &e),
        },
        Command::ShutdownWaitForClients => {
            backend::command_complete(out, "SHUTDOWN");
            return true;
        }
    }
    false
}

/// The completion of a command naming a database, or its error: no such database.
fn complete_or_unknown(out: &mut BytesMut, done: Result<(), String>, tag: &str) {
    match done {
        Ok(()) => backend::command_complete(out, tag),
        Err(e) => backend::error_response(out, Severity::Error, "3D000", &e),
    }
}

/// Reads one message: its tag and body. `None` when the client has closed.
async fn read_frame(
    stream: &mut Stream,
    buf: &mut BytesMut,
) -> Result<Option<(u8, BytesMut)>, ConsoleError> {
    loop {
        if let Some(h) = complete_frame(buf, MESSAGE_LIMIT)? {
            let mut frame = buf.split_to(h.frame_len());
            return Ok(Some((h.tag, frame.split_off(HEADER_LEN))));
        }
        buf.reserve(1024);
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}
