//! SHOW CONFIG's rows: the process-wide settings as loaded now, by their key in the
//! config file, and whether a reload changes them (the others need a restart).

use pg_proxy::console::ConfigRow;

use crate::config::Validated;

pub fn config_rows(settings: &Validated) -> Vec<ConfigRow> {
    let row = |key: &str, value: String, changeable: bool| ConfigRow {
        key: key.to_owned(),
        value,
        changeable,
    };
    let c = &settings.common;
    let mut rows = vec![
        row("admin.listen", c.admin_listen.to_string(), false),
        row(
            "admin.shutdown_grace",
            format!("{:?}", c.shutdown_grace),
            false,
        ),
        row("runtime.workers", c.workers.to_string(), false),
        row("log.level", c.log_level.clone(), false),
    ];
    if let Some(pg) = &settings.postgres {
        rows.extend([
            row("postgres.listen", pg.listen.to_string(), false),
            row(
                "postgres.max_client_conn",
                pg.max_client_conn.to_string(),
                true,
            ),
            row(
                "postgres.max_handshakes",
                pg.max_handshakes.to_string(),
                true,
            ),
            row(
                "postgres.max_handshakes_per_address",
                pg.max_handshakes_per_address.to_string(),
                true,
            ),
            row(
                "postgres.auth_timeout",
                format!("{:?}", pg.auth_timeout),
                false,
            ),
            row(
                "postgres.client_write_timeout",
                format!("{:?}", pg.client_write_timeout),
                false,
            ),
        ]);
    }
    if let Some(m) = &settings.mysql {
        rows.extend([
            row("mysql.listen_rw", m.listen_rw.to_string(), false),
            row(
                "mysql.listen_ro",
                m.listen_ro.map(|a| a.to_string()).unwrap_or_default(),
                false,
            ),
            row("mysql.max_client_conn", m.max_client_conn.to_string(), true),
            row("mysql.max_handshakes", m.max_handshakes.to_string(), true),
            row(
                "mysql.max_handshakes_per_address",
                m.max_handshakes_per_address.to_string(),
                true,
            ),
            row("mysql.auth_timeout", format!("{:?}", m.auth_timeout), false),
            row("mysql.max_packet_size", m.max_packet.to_string(), false),
        ]);
    }
    rows
}
