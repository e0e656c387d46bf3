//! The cluster block both sections share: the servers a cluster has and how sluice
//! connects to them.

use std::path::PathBuf;
use std::time::Duration;

use pool_core::net::tls::ServerTlsMode;
use pool_core::net::Endpoint;

use super::collector::Collector;

/// The options of a cluster block both protocols have, as written.
pub(super) struct ClusterFields<'a> {
    pub hosts: &'a [String],
    pub tls_mode: &'a str,
    pub tls_ca_file: Option<&'a str>,
    pub connect_timeout: &'a str,
    pub check_interval: &'a str,
    pub failover_timeout: &'a str,
    pub allow_plaintext_password: bool,
    pub server_max_connections: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    pub endpoints: Vec<Endpoint>,
    pub tls_mode: ServerTlsMode,
    pub tls_ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// How often the cluster's watcher asks each member its role.
    pub check_interval: Duration,
    /// How long a client between transactions waits for a primary (a writable member)
    /// when there is none, before it gets an error.
    pub failover_timeout: Duration,
    /// With `tls_mode = "prefer"` on a server without TLS: whether sluice may still
    /// send a password it exposes (PostgreSQL's cleartext or md5, MySQL's password
    /// encrypted with an RSA key the unencrypted link delivered).
    pub allow_plaintext_password: bool,
    /// The connections each member accepts from all sluice replicas together, when
    /// known: `sluice check` warns when the pools could open more.
    pub server_max_connections: Option<usize>,
}

/// Checks the cluster block at `loc` (`postgres.clusters.main`).
pub(super) fn validate(c: &mut Collector<'_>, loc: &str, f: ClusterFields<'_>) -> ClusterSettings {
    if f.hosts.is_empty() {
        c.add(format!("{loc}.hosts"), "needs at least one host:port");
    }
    let endpoints = f
        .hosts
        .iter()
        .filter_map(|h| match parse_endpoint(h) {
            Ok(e) => Some(e),
            Err(msg) => {
                c.add(format!("{loc}.hosts"), msg);
                None
            }
        })
        .collect();
    let tls_mode = ServerTlsMode::parse(f.tls_mode).unwrap_or_else(|| {
        c.add(
            format!("{loc}.tls_mode"),
            format!(
                "\"{}\" is not one of disable, prefer, require, verify-full",
                f.tls_mode
            ),
        );
        ServerTlsMode::Prefer
    });
    let tls_ca_file = f
        .tls_ca_file
        .map(|file| c.path(&format!("{loc}.tls_ca_file"), file, true));
    if tls_mode == ServerTlsMode::VerifyFull && tls_ca_file.is_none() {
        c.add(format!("{loc}.tls_ca_file"), "verify-full needs a CA file");
    }
    let connect_timeout = c.positive_duration(&format!("{loc}.connect_timeout"), f.connect_timeout);
    let check_interval = c.positive_duration(&format!("{loc}.check_interval"), f.check_interval);
    let failover_timeout = c.duration(&format!("{loc}.failover_timeout"), f.failover_timeout);
    if f.server_max_connections == Some(0) {
        c.add(
            format!("{loc}.server_max_connections"),
            "must be at least 1",
        );
    }
    ClusterSettings {
        endpoints,
        tls_mode,
        tls_ca_file,
        connect_timeout,
        check_interval,
        failover_timeout,
        allow_plaintext_password: f.allow_plaintext_password,
        server_max_connections: f.server_max_connections,
    }
}

/// `check_interval` unless configured: a switchover is seen within about a second.
pub(super) fn default_check_interval() -> String {
    "1s".into()
}

/// `failover_timeout` unless configured: longer than a switchover takes
/// (CloudNativePG's and InnoDB Cluster's take seconds).
pub(super) fn default_failover_timeout() -> String {
    "30s".into()
}

pub(super) fn parse_endpoint(h: &str) -> Result<Endpoint, String> {
    let (host, port) = h
        .rsplit_once(':')
        .ok_or_else(|| format!("\"{h}\" is not host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("\"{h}\" has an invalid port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("\"{h}\" has no host"));
    }
    Ok(Endpoint {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            parse_endpoint("pg-cluster-rw.dbaas.svc:5432").unwrap(),
            Endpoint {
                host: "pg-cluster-rw.dbaas.svc".into(),
                port: 5432
            }
        );
        assert_eq!(parse_endpoint("[::1]:5432").unwrap().host, "::1");
        assert!(parse_endpoint("db").is_err());
    }
}
