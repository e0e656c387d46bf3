//! `sluice --version` and the console's `SHOW VERSION` name the version and the commit
//! the binary was built from (`build.rs`).

mod common;

use std::process::Command;

use common::*;
use test_support::pg_bin;

/// The commit of the checkout under test, as build.rs abbreviates it.
fn head_commit() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=9", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git");
    assert!(out.status.success(), "git rev-parse failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn expected() -> String {
    format!(
        "sluice {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        head_commit()
    )
}

#[test]
fn version_flag_prints_version_and_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected());
}

#[test]
fn show_version_names_the_commit() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            users: format!(
                "[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n\
                 [users.ops]\npassword = \"ops-secret\"\nadmin = true\n"
            ),
            ..Default::default()
        },
    );
    let out = Command::new(pg_bin("psql"))
        .args(["-X", "-A", "-t", "-h", "127.0.0.1"])
        .args(["-p", &sluice.port.to_string(), "-U", "ops", "-d", "sluice"])
        .args(["-c", "SHOW VERSION"])
        .env("PGPASSWORD", "ops-secret")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected());
}
