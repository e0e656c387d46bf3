//! Logging in to the admin console: the same access rules and passwords as a route,
//! then the user must be marked `admin` or `stats` in the users file. Checked after
//! the password, so that a stranger learns nothing of who is an admin; and the console
//! session that follows.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;

use super::login::check_password;
use super::refusal::{refuse, Refusal};
use crate::console::{ConsoleBackend, ConsoleRole};
use crate::frontend::{ClientSlot, Frontend};
use crate::metrics::count_error;
use crate::stream::Stream;

/// An authenticated console client.
pub(super) struct ConsoleClient {
    pub role: ConsoleRole,
    pub backend: Arc<dyn ConsoleBackend>,
    /// Counts the client against the listener's limit while it lives.
    pub slot: ClientSlot,
}

pub(super) async fn console_login(
    fe: &Frontend,
    stream: &mut Stream,
    buf: &mut BytesMut,
    peer: SocketAddr,
    database: &str,
    user: &str,
) -> Result<ConsoleClient, Refusal> {
    let Some(backend) = fe.console() else {
        return Err(refuse(
            "3D000",
            format!("database \"{database}\" does not exist"),
        ));
    };
    let auth = fe.auth();
    check_password(&auth, stream, buf, peer, database, user).await?;
    let entry = auth.users.get(user);
    let role = match entry {
        Some(u) if u.admin => ConsoleRole::Admin,
        Some(u) if u.stats => ConsoleRole::Stats,
        _ => {
            count_error("client_auth");
            return Err(Refusal {
                code: "28000".into(),
                message: format!("user \"{user}\" may not use the admin console"),
                log: format!("not an admin or stats user: user {user}"),
            });
        }
    };
    let (slot, admitted) = fe.admit();
    if !admitted {
        count_error("too_many_clients");
        return Err(refuse("53300", "sorry, too many clients already"));
    }
    Ok(ConsoleClient {
        role,
        backend,
        slot,
    })
}

/// A console session, from its welcome to its end.
pub(super) async fn serve_console(
    fe: &Frontend,
    stream: &mut Stream,
    buf: BytesMut,
    peer: SocketAddr,
    client: ConsoleClient,
) {
    let ConsoleClient {
        role,
        backend,
        slot,
    } = client;
    tracing::info!(client = %peer, ?role, "admin console session started");
    let ended = crate::console::serve(stream, buf, role, backend, fe.shutdown.clone()).await;
    if let Err(e) = ended {
        tracing::info!(client = %peer, error = %e, "admin console session ended");
    }
    drop(slot);
}
