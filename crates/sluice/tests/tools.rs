//! Real command-line clients through sluice: psql and pgbench in every protocol mode.

mod common;

use std::process::Command;

use common::*;
use test_support::{pg_bin, PgServer};

fn psql(sluice: &Sluice, sql: &str) -> std::process::Output {
    Command::new(pg_bin("psql"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .arg(format!(
            "host=127.0.0.1 port={} user={APP_USER} dbname=appdb",
            sluice.port
        ))
        .env("PGPASSWORD", APP_PASSWORD)
        .output()
        .unwrap()
}

#[test]
fn psql_works_through_sluice() {
    let pg: PgServer = start_postgres();
    let sluice = Sluice::start(&pg, SluiceOptions::default());
    let out = psql(&sluice, "select current_user, 6 * 7");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{DB_USER}|42")
    );
    // \copy and a multi-statement string in one round trip.
    let out = psql(
        &sluice,
        "create table p(x int); insert into p select generate_series(1, 1000); select sum(x) from p",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .lines()
            .last()
            .unwrap(),
        "500500"
    );
    // An error is reported with its message and the session survives the next command.
    let out = psql(&sluice, "select 1/0");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("division by zero"));
}

#[test]
fn pgbench_runs_in_every_protocol_mode() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 4,
            ..Default::default()
        },
    );
    pgbench(&sluice, &["-i", "-s", "1", "-q"]);
    for mode in ["simple", "extended", "prepared"] {
        let out = pgbench(&sluice, &["-M", mode, "-c", "16", "-j", "2", "-T", "3"]);
        let (done, failed) = processed(&out);
        assert!(done > 100, "{mode}: only {done} transactions:\n{out}");
        assert_eq!(failed, 0, "{mode}:\n{out}");
    }
    // A new connection per transaction.
    let out = pgbench(&sluice, &["-S", "-C", "-c", "8", "-j", "2", "-T", "2"]);
    let (done, failed) = processed(&out);
    assert!(done > 20, "-C: only {done}:\n{out}");
    assert_eq!(failed, 0);
    assert!(server_connections(&pg) <= 4);
}
