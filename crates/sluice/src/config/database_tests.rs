//! Database blocks: the section's defaults and the route's own values, and the
//! PostgreSQL owner role.

use std::time::Duration;

use crate::config::file::Config;
use crate::config::validated::validate;

fn dir_with_users() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.toml"),
        "[users.app]\npassword = \"x\"\n",
    )
    .unwrap();
    dir
}

const CREDS: &str = "credentials = { username = \"u\", password_file = \"users.toml\" }";

#[test]
fn postgres_defaults_fill_what_a_route_leaves_out_and_its_own_values_win() {
    let dir = dir_with_users();
    let config = Config::parse(&format!(
        r#"
        [postgres]
        users_file = "users.toml"
        [postgres.defaults]
        cluster = "main"
        pool_size = 7
        server_lifetime = "30m"
        idle_in_transaction_timeout = "0"
        trusted_functions = ["uuid_generate_v4"]
        owner_role = "app_owner"
        [postgres.clusters.main]
        hosts = ["pg-cluster-rw:5432"]
        [postgres.clusters.other]
        hosts = ["pg-other:5432"]
        [postgres.databases.plain]
        {CREDS}
        [postgres.databases.own]
        cluster = "other"
        pool_size = 3
        pool_mode = "session"
        owner_role = "own_owner"
        {CREDS}
        "#
    ))
    .unwrap();
    let pg = validate(&config, dir.path()).unwrap().postgres.unwrap();
    let plain = &pg.databases["plain"];
    assert_eq!(plain.cluster, "main");
    assert_eq!(plain.pool.max_size, 7);
    assert_eq!(plain.pool.max_lifetime, Some(Duration::from_secs(1800)));
    // What neither sets keeps sluice's default.
    assert_eq!(plain.pool.checkout_timeout, Duration::from_secs(30));
    assert_eq!(plain.route.idle_in_transaction_timeout, None);
    assert!(plain
        .route
        .trusted_functions
        .trusts(None, "uuid_generate_v4"));
    assert_eq!(
        plain.route.owner_role.as_ref().map(|r| r.name()),
        Some("app_owner")
    );
    let own = &pg.databases["own"];
    assert_eq!(own.cluster, "other");
    assert_eq!(own.pool.max_size, 3);
    assert_eq!(own.pool.max_lifetime, Some(Duration::from_secs(1800)));
    assert_eq!(own.route.mode, pg_proxy::route::PoolMode::Session);
    assert_eq!(
        own.route.owner_role.as_ref().map(|r| r.name()),
        Some("own_owner")
    );
}

#[test]
fn mysql_defaults_work_alike() {
    let dir = dir_with_users();
    let config = Config::parse(&format!(
        r#"
        [mysql]
        users_file = "users.toml"
        [mysql.defaults]
        cluster = "main"
        min_idle = 2
        local_infile = true
        [mysql.clusters.main]
        hosts = ["mysql-0:3306"]
        [mysql.databases.shop]
        {CREDS}
        [mysql.databases.crm]
        local_infile = false
        {CREDS}
        "#
    ))
    .unwrap();
    let my = validate(&config, dir.path()).unwrap().mysql.unwrap();
    assert_eq!(my.databases["shop"].pool.min_idle, 2);
    assert!(my.databases["shop"].route.local_infile);
    assert!(!my.databases["crm"].route.local_infile);
    assert_eq!(my.databases["crm"].cluster, "main");
}

#[test]
fn defaults_take_only_options_a_database_may_inherit() {
    for key in [
        "credentials = { username = \"u\" }",
        "users = [\"app\"]",
        "server_database = \"x\"",
        "pool_szie = 1",
    ] {
        let text = format!("[postgres]\nusers_file = \"u\"\n[postgres.defaults]\n{key}\n");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("unknown field"), "{key}: {err}");
    }
}

#[test]
fn a_route_without_a_cluster_anywhere_is_refused() {
    let dir = dir_with_users();
    let config = Config::parse(&format!(
        "[postgres]\nusers_file = \"users.toml\"\n[postgres.databases.app]\n{CREDS}\n"
    ))
    .unwrap();
    let problems = validate(&config, dir.path()).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.location == "postgres.databases.app.cluster"
                && p.message.contains("[postgres.defaults]")),
        "{problems:?}"
    );
}

#[test]
fn an_owner_role_must_be_a_role_name() {
    let dir = dir_with_users();
    for (role, text) in [
        ("", "must not be empty"),
        ("none", "keyword"),
        ("pg_read_all_data", "reserved"),
        ("a\tb", "control characters"),
    ] {
        let config = Config::parse(&format!(
            "[postgres]\nusers_file = \"users.toml\"\n[postgres.clusters.main]\nhosts = [\"db:5432\"]\n\
             [postgres.databases.app]\ncluster = \"main\"\nowner_role = {role:?}\n{CREDS}\n"
        ))
        .unwrap();
        let problems = validate(&config, dir.path()).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.location == "postgres.databases.app.owner_role"
                    && p.message.contains(text)),
            "{role:?}: {problems:?}"
        );
    }
}
