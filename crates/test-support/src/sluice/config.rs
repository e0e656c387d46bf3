//! A sluice config file for a test, and the files it names: the clients' users file,
//! an optional hba file and the file holding the database password. One protocol
//! section (`[postgres]` or `[mysql]`) with one cluster and its databases; whatever
//! else a test needs goes into the `extra` pieces.

use std::fs;
use std::path::Path;

/// A whole test configuration.
pub struct SluiceConfig<'a> {
    /// Top-level sections placed before the others (e.g. `[vault]`).
    pub extra_sections: &'a str,
    /// Contents of `users.toml`, the clients' identities.
    pub users: &'a str,
    /// Contents of `hba.conf`, when the test wants one.
    pub hba: Option<&'a str>,
    /// What the `db-password` file holds (the default credentials point to it).
    pub db_password: &'a str,
    /// The protocol section with its cluster and databases.
    pub protocol: ProtocolConfig<'a>,
}

/// `[<name>]`, `[<name>.clusters.main]` and `[<name>.databases.*]`.
pub struct ProtocolConfig<'a> {
    /// `postgres` or `mysql`.
    pub name: &'a str,
    /// Listener keys and their ports, e.g. `("listen", 6432)`.
    pub listeners: Vec<(&'a str, u16)>,
    /// Lines added to the protocol section.
    pub extra: &'a str,
    /// Ports of the cluster's members, in order.
    pub hosts: Vec<u16>,
    /// sluice → server TLS mode.
    pub tls_mode: &'a str,
    /// Lines added to the cluster section.
    pub extra_cluster: String,
    pub databases: Vec<DatabaseConfig<'a>>,
}

/// One `[<protocol>.databases.<name>]` route on the `main` cluster.
pub struct DatabaseConfig<'a> {
    pub name: &'a str,
    /// `server_database`, when the route sets it.
    pub server_database: Option<&'a str>,
    pub pool_mode: &'a str,
    pub pool_size: usize,
    /// Lines added to the section.
    pub extra: &'a str,
    /// The `credentials` value (an inline TOML table).
    pub credentials: &'a str,
}

impl SluiceConfig<'_> {
    /// The `credentials` value for `username` with the password in the `db-password`
    /// file.
    pub fn password_file_credentials(username: &str) -> String {
        format!("{{ username = \"{username}\", password_file = \"db-password\" }}")
    }

    /// Writes the files the configuration names into `dir` and returns the config
    /// file's text, with the admin listener on `admin_port`.
    pub(super) fn write_files(&self, dir: &Path, admin_port: u16) -> String {
        let write = |name: &str, contents: &str| {
            let path = dir.join(name);
            fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        };
        write("users.toml", self.users);
        write("db-password", &format!("{}\n", self.db_password));
        let hba_line = match self.hba {
            Some(hba) => {
                write("hba.conf", hba);
                "hba_file = \"hba.conf\"\n"
            }
            None => "",
        };
        let p = &self.protocol;
        let listeners: String = p
            .listeners
            .iter()
            .map(|(key, port)| format!("{key} = \"127.0.0.1:{port}\"\n"))
            .collect();
        let hosts = p
            .hosts
            .iter()
            .map(|port| format!("\"127.0.0.1:{port}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut config = format!(
            "{}\n[log]\nlevel = \"debug\"\n\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\nshutdown_grace = \"5s\"\n\n\
             [{name}]\n{listeners}users_file = \"users.toml\"\n{hba_line}{}\n\n\
             [{name}.clusters.main]\nhosts = [{hosts}]\ntls_mode = \"{}\"\n{}\n",
            self.extra_sections,
            p.extra,
            p.tls_mode,
            p.extra_cluster,
            name = p.name,
        );
        for db in &p.databases {
            let server_database = db
                .server_database
                .map(|server_db| format!("server_database = \"{server_db}\"\n"))
                .unwrap_or_default();
            config.push_str(&format!(
                "\n[{}.databases.{}]\ncluster = \"main\"\n{server_database}\
                 pool_mode = \"{}\"\npool_size = {}\n{}\ncredentials = {}\n",
                p.name, db.name, db.pool_mode, db.pool_size, db.extra, db.credentials
            ));
        }
        config
    }
}
