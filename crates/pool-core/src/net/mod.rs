//! Transport shared by both protocols: a plain-or-TLS byte stream, opening one to a
//! server, and the TLS configurations for serving apps and for connecting to
//! database servers.

pub mod connect;
pub mod stream;
pub mod tls;

/// One database server: a host name or address and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}
