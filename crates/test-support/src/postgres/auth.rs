//! How roles of a test server log in: the superuser every server has, the password
//! methods [`PgServer::create_user`](super::server::PgServer) can route a role to, and a
//! probe that asks the server which method it applies to a role.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Name of the superuser role of every test server.
pub const SUPERUSER: &str = "postgres";
/// Password of the superuser role of every test server.
pub const SUPERUSER_PASSWORD: &str = "sluice-test-superuser-pw";

/// How a role created with [`PgServer::create_user`](super::server::PgServer::create_user) stores its password and
/// authenticates over TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// Password stored as a SCRAM-SHA-256 verifier; `scram-sha-256` in pg_hba.conf.
    Scram,
    /// Password stored as an MD5 hash; `md5` in pg_hba.conf.
    Md5,
    /// Password stored as SCRAM; `password` (cleartext) in pg_hba.conf.
    Cleartext,
}

impl AuthMethod {
    /// The method name used in pg_hba.conf.
    pub fn hba_name(self) -> &'static str {
        match self {
            AuthMethod::Scram => "scram-sha-256",
            AuthMethod::Md5 => "md5",
            AuthMethod::Cleartext => "password",
        }
    }

    /// The code of the AuthenticationRequest message the server sends.
    pub(crate) fn auth_request_code(self) -> i32 {
        match self {
            AuthMethod::Scram => 10,
            AuthMethod::Md5 => 5,
            AuthMethod::Cleartext => 3,
        }
    }
}

/// Sends a StartupMessage for `user` and returns the code of the
/// AuthenticationRequest the server answers with (`None` for any other
/// message). The connection is closed without authenticating.
pub(crate) fn probe_auth_request(port: u16, user: &str) -> io::Result<Option<i32>> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;

    let mut body = Vec::new();
    body.extend_from_slice(&196_608_i32.to_be_bytes()); // protocol 3.0
    for (key, value) in [("user", user), ("database", "postgres")] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    stream.write_all(&message)?;

    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if header[0] != b'R' || len < 8 {
        return Ok(None);
    }
    let mut code = [0u8; 4];
    stream.read_exact(&mut code)?;
    Ok(Some(i32::from_be_bytes(code)))
}
