//! The configuration files of a test server: the settings included from
//! `postgresql.conf` (port, sockets, speed over durability, replication, logging,
//! TLS), and `pg_hba.conf` with one line per role that logs in by a method of its
//! own.

use std::fs;

use super::auth::AuthMethod;
use super::binaries::give_to_postgres;
use super::psql::conf_quote;
use super::server::PgServer;
use crate::files::set_mode;
use crate::ports::LOOPBACK;

impl PgServer {
    pub(super) fn write_settings(&self) {
        let mut s = String::new();
        let mut set = |key: &str, value: String| {
            s.push_str(key);
            s.push_str(" = ");
            s.push_str(&value);
            s.push('\n');
        };
        set("listen_addresses", conf_quote(LOOPBACK));
        set("port", self.port.to_string());
        set(
            "unix_socket_directories",
            conf_quote(&self.socket_dir.to_string_lossy()),
        );
        set("max_connections", self.options.max_connections.to_string());
        set("fsync", "off".into());
        set("synchronous_commit", "off".into());
        set("full_page_writes", "off".into());
        set("shared_buffers", conf_quote("64MB"));
        // Every server can be the primary of a streaming standby.
        set("wal_level", "replica".into());
        set("max_wal_senders", "10".into());
        set("wal_keep_size", conf_quote("128MB"));
        set("hot_standby", "on".into());
        set("password_encryption", conf_quote("scram-sha-256"));
        set("logging_collector", "off".into());
        set("log_connections", "on".into());
        set("log_disconnections", "on".into());
        set("log_line_prefix", conf_quote("%m [%p] %q%u@%d "));
        set("lc_messages", conf_quote("C"));
        if let Some(tls) = &self.tls {
            set("ssl", "on".into());
            set(
                "ssl_cert_file",
                conf_quote(&tls.server_cert.to_string_lossy()),
            );
            set(
                "ssl_key_file",
                conf_quote(&tls.server_key.to_string_lossy()),
            );
        } else {
            set("ssl", "off".into());
        }
        let path = self.data_dir.join("sluice_test.conf");
        fs::write(&path, s).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        give_to_postgres(&path);
    }

    pub(super) fn write_hba(&self, users: &[(String, AuthMethod)]) {
        let mut hba =
            String::from("# TYPE  DATABASE  USER  ADDRESS  METHOD\nlocal all all trust\n");
        for (user, method) in users {
            hba.push_str(&format!(
                "host all \"{user}\" 127.0.0.1/32 {}\n",
                method.hba_name()
            ));
        }
        hba.push_str(
            "host all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n\
             local replication all trust\n\
             host replication all 127.0.0.1/32 scram-sha-256\n",
        );
        let path = self.data_dir.join("pg_hba.conf");
        let tmp = self.data_dir.join("pg_hba.conf.new");
        fs::write(&tmp, hba).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        set_mode(&tmp, 0o600);
        give_to_postgres(&tmp);
        fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("replace {}: {e}", path.display()));
    }
}
