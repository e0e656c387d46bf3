//! Transport shared by both protocols: a plain-or-TLS byte stream, opening one to a
//! server, the TLS configurations for serving apps and for connecting to database
//! servers, and the spare buffers idle sessions give back.

pub mod connect;
pub mod spare_buffers;
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
