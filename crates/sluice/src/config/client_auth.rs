//! The client-facing block both sections share: the users file, the access rules and
//! the TLS certificate clients see. Validation parses them once and hands the parsed
//! values on, so that starting or reloading does not read them a second time.

use std::path::PathBuf;
use std::sync::Arc;

use pool_core::hba::{HbaMethod, PgAuthMethod, Rules};
use pool_core::users::{DatabaseUsers, Users};

use super::collector::Collector;

/// The rules in force when a section names no `hba_file`: every client must prove a
/// password with SCRAM.
const DEFAULT_HBA: &str = "host all all all scram-sha-256";

/// The options of the client-facing block, as written.
pub(super) struct ClientAuthFields<'a> {
    pub users_file: &'a str,
    pub hba_file: Option<&'a str>,
    pub tls_cert_file: Option<&'a str>,
    pub tls_key_file: Option<&'a str>,
}

/// Who may log in and how, as read from the files when the configuration was loaded.
/// `M` is the protocol's words for the access rules' methods.
#[derive(Debug, Clone)]
pub struct ClientAuth<M: HbaMethod = PgAuthMethod> {
    pub users_file: PathBuf,
    pub hba_file: Option<PathBuf>,
    /// Certificate and key files, when clients may use TLS.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    pub users: Users,
    /// The databases bound to users (their `users = [...]`), filled in by the
    /// section once its databases are read.
    pub databases: DatabaseUsers,
    pub hba: Rules<M>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl<M: HbaMethod> ClientAuth<M> {
    /// The files it was read from: a change in them is a reason to reload.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        let tls = self.tls_files.iter().flat_map(|(cert, key)| [cert, key]);
        std::iter::once(&self.users_file)
            .chain(self.hba_file.iter())
            .chain(tls)
    }
}

/// Checks and reads the block of `section`. A mismatched certificate and key pair is
/// reported by the section (each words it its own way); here both or neither are given.
pub(super) fn validate<M: HbaMethod>(
    c: &mut Collector<'_>,
    section: &str,
    f: ClientAuthFields<'_>,
) -> ClientAuth<M> {
    let (users_file, users) = users(c, section, f.users_file);
    let (hba_file, hba) = match f.hba_file {
        Some(file) => {
            let (path, rules) = hba(c, section, file);
            (Some(path), rules)
        }
        None => (None, Rules::parse(DEFAULT_HBA).unwrap_or_default()),
    };
    let (tls_files, tls) = match (f.tls_cert_file, f.tls_key_file) {
        (Some(cert), Some(key)) => {
            let (files, config) = tls(c, section, cert, key);
            (Some(files), config)
        }
        _ => (None, None),
    };
    ClientAuth {
        users_file,
        hba_file,
        tls_files,
        users,
        databases: DatabaseUsers::default(),
        hba,
        tls,
    }
}

/// Binds each database with a `users` list to those users, in `auth`; a listed user the
/// users file does not have is an error at `{section}.databases.{name}.users`.
pub(super) fn bind_databases<'d, M: HbaMethod>(
    c: &mut Collector<'_>,
    section: &str,
    auth: &mut ClientAuth<M>,
    databases: impl Iterator<Item = (&'d String, Option<&'d Vec<String>>)>,
) {
    for (name, users) in databases {
        let Some(users) = users else { continue };
        let loc = format!("{section}.databases.{name}.users");
        if users.is_empty() {
            c.add(
                loc.clone(),
                "must name at least one user (leave it out to admit every user)",
            );
        }
        for user in users {
            if auth.users.get(user).is_none() {
                c.add(
                    loc.clone(),
                    format!("user \"{user}\" is not in the users file"),
                );
            }
        }
        auth.databases.bind(name, users.iter().cloned());
    }
}

fn users(c: &mut Collector<'_>, section: &str, file: &str) -> (PathBuf, Users) {
    let location = format!("{section}.users_file");
    let path = c.path(&location, file, true);
    if !path.exists() {
        return (path, Users::default());
    }
    match Users::load(&path) {
        Ok(users) => (path, users),
        Err(e) => {
            c.add(location, e.to_string());
            (path, Users::default())
        }
    }
}

fn hba<M: HbaMethod>(c: &mut Collector<'_>, section: &str, file: &str) -> (PathBuf, Rules<M>) {
    let location = format!("{section}.hba_file");
    let (path, text) = c.read(&location, file);
    let rules = text.and_then(|text| {
        Rules::parse(&text)
            .map_err(|e| c.add(location, e.to_string()))
            .ok()
    });
    (path, rules.unwrap_or_default())
}

fn tls(
    c: &mut Collector<'_>,
    section: &str,
    cert: &str,
    key: &str,
) -> ((PathBuf, PathBuf), Option<Arc<rustls::ServerConfig>>) {
    let cert_location = format!("{section}.tls_cert_file");
    let cert = c.path(&cert_location, cert, true);
    let key = c.path(&format!("{section}.tls_key_file"), key, true);
    let config = if cert.exists() && key.exists() {
        pool_core::net::tls::server_config(&cert, &key)
            .map_err(|e| c.add(cert_location, e.to_string()))
            .ok()
    } else {
        None
    };
    ((cert, key), config)
}
