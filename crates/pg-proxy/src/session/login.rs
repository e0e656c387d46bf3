//! The password check of a login, for a route or the admin console alike: the
//! access rule's method for this address, user and database, run against the users
//! file, and the refusal PostgreSQL would send when it fails.

use std::net::SocketAddr;

use bytes::BytesMut;

use super::client_auth::{authenticate, ClientAuthError};
use super::refusal::{refuse, Refusal};
use crate::frontend::AuthConfig;
use crate::metrics::count_error;
use crate::stream::Stream;

pub(super) async fn check_password(
    auth: &AuthConfig,
    stream: &mut Stream,
    buf: &mut BytesMut,
    peer: SocketAddr,
    database: &str,
    user: &str,
) -> Result<(), Refusal> {
    let method = auth
        .hba
        .method_for(peer.ip(), database, user, stream.is_tls());
    let Err(e) = authenticate(stream, buf, method, auth, user).await else {
        return Ok(());
    };
    count_error("client_auth");
    Err(match e {
        ClientAuthError::Rejected => Refusal {
            code: "28000".into(),
            message: format!(
                "no access rule for host \"{}\", user \"{user}\", database \"{database}\", {}",
                peer.ip(),
                if stream.is_tls() {
                    "SSL encryption"
                } else {
                    "no encryption"
                }
            ),
            log: format!("rejected by access rules: user {user}, database {database}"),
        },
        ClientAuthError::Failed => Refusal {
            code: "28P01".into(),
            message: format!("password authentication failed for user \"{user}\""),
            log: format!("password authentication failed: user {user}, database {database}"),
        },
        other => refuse("08P01", other.to_string()),
    })
}
