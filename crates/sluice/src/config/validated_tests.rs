//! Validation of whole configurations: problems and their locations, defaults.

use std::path::Path;
use std::time::Duration;

use pool_core::credentials::vault::VaultAuth;

use crate::config::collector::Problem;
use crate::config::credentials::CredentialSettings;
use crate::config::file::Config;
use crate::config::validated::validate;

#[test]
fn reports_every_problem_with_its_location() {
    let cfg = Config::parse(
        r#"
        [admin]
        listen = "nope"
        [postgres]
        users_file = "/nonexistent/users.toml"
        [postgres.clusters.main]
        hosts = ["db:notaport"]
        tls_mode = "sometimes"
        [postgres.databases.app]
        cluster = "other"
        pool_size = 0
        pool_mode = "statement"
        checkout_timeout = "10"
        credentials = { username = "app" }
        "#,
    )
    .unwrap();
    let problems = validate(&cfg, Path::new("/")).unwrap_err();
    let locations: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
    for expected in [
        "admin.listen",
        "postgres.users_file",
        "postgres.clusters.main.hosts",
        "postgres.clusters.main.tls_mode",
        "postgres.databases.app.cluster",
        "postgres.databases.app.pool_size",
        "postgres.databases.app.pool_mode",
        "postgres.databases.app.checkout_timeout",
        "postgres.databases.app.credentials",
    ] {
        assert!(
            locations.contains(&expected),
            "missing {expected} in {problems:?}"
        );
    }
}

#[test]
fn vault_problems_are_reported_with_their_location() {
    let cfg = Config::parse(
        r#"
        [vault]
        address = "vault:8200"
        request_timeout = "0s"
        [vault.auth]
        method = "approle"
        [postgres]
        users_file = "/nonexistent/users.toml"
        [postgres.clusters.main]
        hosts = ["db:5432"]
        [postgres.databases.both]
        cluster = "main"
        credentials = { username = "u", vault_static_role = "r" }
        [postgres.databases.slash]
        cluster = "main"
        credentials = { vault_dynamic_role = "a/b" }
        [postgres.databases.mount_on_file]
        cluster = "main"
        credentials = { username = "u", password_file = "/etc/hostname", mount = "db" }
        "#,
    )
    .unwrap();
    let problems = validate(&cfg, Path::new("/")).unwrap_err();
    let locations: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
    for expected in [
        "vault.address",
        "vault.request_timeout",
        "vault.auth.role_id",
        "vault.auth.secret_id_file",
        "postgres.databases.both.credentials",
        "postgres.databases.slash.credentials",
        "postgres.databases.mount_on_file.credentials.mount",
    ] {
        assert!(
            locations.contains(&expected),
            "missing {expected} in {problems:?}"
        );
    }
}

/// The problems of a configuration with one cluster and one database.
fn problems_of_one_database(name: &str, credentials: &str) -> Vec<Problem> {
    let cfg = Config::parse(&format!(
        r#"
        [postgres]
        users_file = "/nonexistent/users.toml"
        [postgres.clusters.main]
        hosts = ["db:5432"]
        [postgres.databases.{name}]
        cluster = "main"
        credentials = {credentials}
        "#
    ))
    .unwrap();
    validate(&cfg, Path::new("/")).unwrap_err()
}

#[test]
fn a_vault_role_needs_a_vault_section() {
    let problems = problems_of_one_database("app", r#"{ vault_static_role = "app" }"#);
    assert!(problems
        .iter()
        .any(|p| p.location == "postgres.databases.app.credentials"
            && p.message.contains("no [vault] section")));
}

#[test]
fn vault_roles_and_kubernetes_login_take_their_defaults() {
    let dir = std::env::temp_dir().join(format!("sluice-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("users.toml"), "").unwrap();
    let cfg = Config::parse(
        r#"
        [vault]
        address = "https://vault.vault.svc:8200/"
        namespace = "platform"
        [vault.auth]
        method = "kubernetes"
        role = "sluice"
        [postgres]
        users_file = "users.toml"
        [postgres.clusters.main]
        hosts = ["pg-cluster-rw:5432"]
        [postgres.databases.orders]
        cluster = "main"
        credentials = { vault_static_role = "orders", mount = "database-prod" }
        [postgres.databases.reports]
        cluster = "main"
        credentials = { vault_dynamic_role = "reports" }
        "#,
    )
    .unwrap();
    let v = validate(&cfg, &dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let vault = v.vault.unwrap();
    assert_eq!(vault.address, "https://vault.vault.svc:8200");
    assert_eq!(vault.namespace.as_deref(), Some("platform"));
    assert_eq!(vault.request_timeout, Duration::from_secs(10));
    assert_eq!(
        vault.auth,
        VaultAuth::Kubernetes {
            mount: "kubernetes".into(),
            role: "sluice".into(),
            jwt_file: "/var/run/secrets/kubernetes.io/serviceaccount/token".into(),
        }
    );
    let dbs = v.postgres.unwrap().databases;
    assert_eq!(
        dbs["orders"].credentials,
        CredentialSettings::VaultStatic {
            mount: "database-prod".into(),
            role: "orders".into()
        }
    );
    assert_eq!(
        dbs["reports"].credentials,
        CredentialSettings::VaultDynamic {
            mount: "database".into(),
            role: "reports".into()
        }
    );
}

#[test]
fn unknown_keys_are_rejected_by_the_parser() {
    let err = Config::parse("[postgres]\nusers_file = \"u\"\npool_szie = 3\n").unwrap_err();
    assert!(err.contains("pool_szie"), "{err}");
}

#[test]
fn a_database_binds_only_users_of_the_users_file() {
    let dir = std::env::temp_dir().join(format!("sluice-bind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("users.toml"),
        "[users.orders]\npassword = \"x\"\n[users.billing]\npassword = \"y\"\n",
    )
    .unwrap();
    let config = |users: &str| {
        postgres_config(
            "",
            &format!(
                r#"
                [postgres.databases.orders]
                cluster = "main"
                users = {users}
                credentials = {{ username = "orders", password_file = "users.toml" }}
                [postgres.databases.scratch]
                cluster = "main"
                credentials = {{ username = "scratch", password_file = "users.toml" }}
                "#
            ),
        )
    };
    let v = validate(&config(r#"["orders"]"#), &dir).unwrap();
    let auth = v.postgres.unwrap().client;
    assert!(auth.databases.admits("orders", "orders"));
    assert!(!auth.databases.admits("orders", "billing"));
    assert!(auth.databases.admits("scratch", "billing"));
    for (users, problem) in [
        (
            r#"["orders", "nobody"]"#,
            "user \"nobody\" is not in the users file",
        ),
        ("[]", "must name at least one user"),
    ] {
        let problems = validate(&config(users), &dir).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.location == "postgres.databases.orders.users"
                    && p.message.contains(problem)),
            "{problems:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_postgres_cluster_check_interval_has_a_default_and_must_be_more_than_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.toml"),
        "[users.app]\npassword = \"x\"\n",
    )
    .unwrap();
    let config = |interval: &str| {
        postgres_config(
            interval,
            r#"
            [postgres.databases.app]
            cluster = "main"
            credentials = { username = "app", password_file = "users.toml" }
            "#,
        )
    };
    let check_interval = |interval: &str| {
        let v = validate(&config(interval), dir.path()).unwrap();
        v.postgres.unwrap().clusters["main"].check_interval
    };
    assert_eq!(check_interval(""), Duration::from_secs(1));
    assert_eq!(
        check_interval("check_interval = \"200ms\""),
        Duration::from_millis(200)
    );
    for wrong in ["\"0s\"", "\"soon\""] {
        let problems =
            validate(&config(&format!("check_interval = {wrong}")), dir.path()).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.location == "postgres.clusters.main.check_interval"),
            "{wrong}: {problems:?}"
        );
    }
}

#[test]
fn peers_need_addresses_and_a_long_enough_secret_which_no_problem_shows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), "").unwrap();
    std::fs::write(dir.path().join("short"), "tiny-secret\n").unwrap();
    std::fs::write(dir.path().join("good"), "a-secret-long-enough-to-sign\n").unwrap();
    let with_peers = |lines: &str| {
        let mut text = format!(
            "[postgres]\nusers_file = \"users.toml\"\n[peers]\nlisten = \"0.0.0.0:6400\"\n{lines}\n"
        );
        text.push_str("[postgres.clusters.main]\nhosts = [\"db:5432\"]\n");
        text.push_str("[postgres.databases.app]\ncluster = \"main\"\n");
        text.push_str("credentials = { username = \"app\", password_file = \"good\" }\n");
        validate(&Config::parse(&text).unwrap(), dir.path())
    };
    let v = with_peers("addresses = [\"sluice-peers.dbaas.svc:6400\"]\nsecret_file = \"good\"")
        .unwrap();
    let peers = v.peers.unwrap();
    assert_eq!(peers.peers.refresh, Duration::from_secs(10));
    assert_eq!(peers.peers.timeout, Duration::from_secs(2));
    assert_eq!(peers.secret.expose(), "a-secret-long-enough-to-sign");

    let problems = with_peers("addresses = [\"no-port\"]\nsecret_file = \"short\"").unwrap_err();
    let text = format!("{problems:?}");
    assert!(text.contains("peers.addresses"), "{text}");
    assert!(text.contains("at least 16"), "{text}");
    assert!(
        !text.contains("tiny-secret"),
        "the secret must not show: {text}"
    );
    let problems = with_peers("addresses = []\nsecret_file = \"good\"").unwrap_err();
    assert!(format!("{problems:?}").contains("peers.addresses"));
}

/// A `[postgres]` section with the users file `users.toml`, the cluster `main` (with
/// `cluster_lines`) and `databases`.
fn postgres_config(cluster_lines: &str, databases: &str) -> Config {
    Config::parse(&format!(
        r#"
        [postgres]
        users_file = "users.toml"
        [postgres.clusters.main]
        hosts = ["pg-cluster-rw:5432"]
        {cluster_lines}
        {databases}
        "#
    ))
    .unwrap()
}

#[test]
fn a_route_may_not_take_the_admin_consoles_name() {
    let problems = problems_of_one_database(
        "pgbouncer",
        r#"{ username = "app", password_file = "/nonexistent" }"#,
    );
    assert!(
        problems
            .iter()
            .any(|p| p.location == "postgres.databases.pgbouncer"
                && p.message.contains("admin console")),
        "{problems:?}"
    );
}
