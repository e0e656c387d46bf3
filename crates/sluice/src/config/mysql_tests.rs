//! Validation of the `[mysql]` section.

use crate::config::file::Config;
use crate::config::validated::validate;

#[test]
fn mysql_section_problems_carry_their_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.toml"),
        "[users.app]\npassword = \"x\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("rsa.pem"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let config = Config::parse(
        r#"
        [mysql]
        listen_rw = "nowhere"
        users_file = "users.toml"
        rsa_private_key_file = "rsa.pem"
        [mysql.clusters.c]
        hosts = ["db:3306", "bad"]
        tls_mode = "sometimes"
        [mysql.databases.shop]
        cluster = "missing"
        pool_size = 0
        max_prepared_statements = 0
        credentials = { username = "app" }
        "#,
    )
    .unwrap();
    let problems = validate(&config, dir.path()).unwrap_err();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for expected in [
        "mysql.listen_rw",
        "mysql.rsa_private_key_file",
        "mysql.clusters.c.hosts",
        "mysql.clusters.c.tls_mode",
        "mysql.databases.shop.cluster",
        "mysql.databases.shop.pool_size",
        "mysql.databases.shop.max_prepared_statements",
        "mysql.databases.shop.credentials",
    ] {
        assert!(
            text.iter().any(|t| t.starts_with(expected)),
            "{expected} missing in {text:?}"
        );
    }
}

#[test]
fn a_mysql_only_config_is_valid_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.toml"),
        "[users.app]\npassword = \"x\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
    let config = Config::parse(
        r#"
        [mysql]
        users_file = "users.toml"
        [mysql.clusters.innodb]
        hosts = ["mysql-0:3306", "mysql-1:3306"]
        [mysql.databases.shop]
        cluster = "innodb"
        credentials = { username = "app", password_file = "pw" }
        "#,
    )
    .unwrap();
    let v = validate(&config, dir.path()).unwrap();
    let m = v.mysql.unwrap();
    assert_eq!(m.listen_rw.port(), 6446);
    assert_eq!(m.listen_ro.map(|a| a.port()), Some(6447));
    assert_eq!(m.clusters["innodb"].endpoints.len(), 2);
    assert_eq!(m.clusters["innodb"].check_interval.as_millis(), 1000);
    assert_eq!(m.databases["shop"].pool.max_size, 20);
    assert!(!m.databases["shop"].route.local_infile);
    assert_eq!(m.databases["shop"].route.max_prepared_statements, 16382);
    assert!(v.postgres.is_none());
}
