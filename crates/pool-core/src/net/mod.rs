//! Transport shared by both protocols: a plain-or-TLS byte stream, and the TLS
//! configurations for serving apps and for connecting to database servers.

pub mod stream;
pub mod tls;
