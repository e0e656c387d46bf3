//! Integration tests of the OpenBao helpers against real `bao server -dev`
//! and PostgreSQL servers.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::{
    try_connect, wait_for_port, AuthMethod, OpenBao, PgServer, StaticCreds, SUPERUSER,
};
use tokio_postgres::error::SqlState;

const MOUNT: &str = "database";
const CONNECTION: &str = "pg";
const STATIC_ROLE: &str = "static_app";
const DYNAMIC_ROLE: &str = "app";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts that logging in as `user` with `password` is refused because of
/// the password.
async fn assert_login_refused(pg: &PgServer, user: &str, password: &str) {
    let err = match try_connect(&pg.connection_string(user, password, "postgres")).await {
        Ok(_) => panic!("{user} logged in with a password that should not work"),
        Err(e) => e,
    };
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_PASSWORD),
        "unexpected error for {user}: {err}"
    );
}

/// Logs in with the static role's current credentials and checks the
/// session's user. OpenBao rotates the password every 5 seconds on its own,
/// so a rotation can land between reading the credentials and logging in;
/// the credentials are then read again (a few times at most).
async fn login_with_static_creds(bao: &OpenBao, pg: &PgServer) -> StaticCreds {
    let mut last_error = String::new();
    for _ in 0..5 {
        let creds = bao.static_creds(MOUNT, STATIC_ROLE);
        let conninfo = pg.connection_string(&creds.username, &creds.password, "postgres");
        match try_connect(&conninfo).await {
            Ok(client) => {
                let row = client.query_one("SELECT current_user::text", &[]).await;
                let user: String = row.expect("SELECT current_user").get(0);
                assert_eq!(user, STATIC_ROLE);
                return creds;
            }
            Err(e) => last_error = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("the static role's current credentials never logged in: {last_error}");
}

#[tokio::test]
async fn database_engine_manages_postgres_users() {
    let pg = PgServer::start();
    let bao = OpenBao::start();

    let plugins = json(&bao.bao(&["plugin", "list", "-format=json", "database"]));
    assert!(
        plugins["database"]
            .as_array()
            .expect("plugin list")
            .iter()
            .any(|p| *p == "postgresql-database-plugin"),
        "builtin PostgreSQL plugin missing: {plugins}"
    );

    bao.enable_database_engine(MOUNT);
    bao.enable_database_engine(MOUNT); // already mounted: nothing to do
    bao.configure_postgres(MOUNT, CONNECTION, &pg, "*");
    let config = bao.read_json(&format!("{MOUNT}/config/{CONNECTION}"));
    assert_eq!(config["data"]["plugin_name"], "postgresql-database-plugin");
    assert_eq!(config["data"]["connection_details"]["username"], SUPERUSER);

    // Static role: OpenBao takes over the password of an existing user.
    pg.create_user(STATIC_ROLE, "initial-password", AuthMethod::Scram);
    bao.create_static_role(
        MOUNT,
        STATIC_ROLE,
        CONNECTION,
        STATIC_ROLE,
        Duration::from_secs(5),
    );
    assert_login_refused(&pg, STATIC_ROLE, "initial-password").await;
    let before = login_with_static_creds(&bao, &pg).await;
    assert_eq!(before.username, STATIC_ROLE);
    assert!(before.ttl_secs <= 5, "{before:?}");
    assert!(before.last_vault_rotation.ends_with('Z'), "{before:?}");

    bao.rotate_role(MOUNT, STATIC_ROLE);
    let rotated = bao.static_creds(MOUNT, STATIC_ROLE);
    assert_ne!(rotated.password, before.password);
    assert_ne!(rotated.last_vault_rotation, before.last_vault_rotation);
    assert_login_refused(&pg, STATIC_ROLE, &before.password).await;
    login_with_static_creds(&bao, &pg).await;

    // Without a manual rotation the password changes every 5 seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = bao.static_creds(MOUNT, STATIC_ROLE);
        if now.last_vault_rotation != rotated.last_vault_rotation {
            assert_ne!(now.password, rotated.password);
            break;
        }
        assert!(Instant::now() < deadline, "no automatic rotation: {now:?}");
        std::thread::sleep(Duration::from_millis(250));
    }

    // Dynamic role: each read creates a user that expires with its lease.
    pg.psql("CREATE TABLE public.items (id int); INSERT INTO public.items VALUES (1), (2), (3)");
    bao.create_dynamic_role(
        MOUNT,
        DYNAMIC_ROLE,
        CONNECTION,
        Duration::from_secs(30),
        Duration::from_secs(60),
        "GRANT SELECT ON public.items TO \"{{name}}\";",
    );
    let prefix = format!("{MOUNT}/creds/{DYNAMIC_ROLE}");
    assert_eq!(bao.lease_count(&prefix), 0);
    let creds = bao.dynamic_creds(MOUNT, DYNAMIC_ROLE);
    assert!(creds.username.starts_with("v-token-app-"), "{creds:?}");
    assert!(
        creds.lease_id.starts_with(&format!("{prefix}/")),
        "{creds:?}"
    );
    assert_eq!(creds.lease_duration_secs, 30);
    assert!(creds.renewable);

    let client = try_connect(&pg.connection_string(&creds.username, &creds.password, "postgres"))
        .await
        .expect("dynamic user logs in");
    let row = client
        .query_one("SELECT current_user::text, count(*) FROM public.items", &[])
        .await
        .expect("dynamic user reads the granted table");
    assert_eq!(row.get::<_, String>(0), creds.username);
    assert_eq!(row.get::<_, i64>(1), 3);
    drop(client);
    let valid_until = pg.psql(&format!(
        "SELECT rolvaliduntil > now() AND rolvaliduntil < now() + interval '2 minutes' \
         FROM pg_roles WHERE rolname = '{}'",
        creds.username
    ));
    assert_eq!(valid_until, "t");

    assert_eq!(bao.lease_count(&prefix), 1);
    assert_eq!(bao.lease_count(&format!("{MOUNT}/creds")), 1);
    assert_eq!(bao.lease_count(&format!("{MOUNT}/creds/nothing")), 0);

    // A paused server keeps connections waiting until the client gives up.
    bao.pause();
    let started = Instant::now();
    let paused = bao.try_bao_with_env(&["status"], &[("BAO_CLIENT_TIMEOUT", "2s")]);
    let waited = started.elapsed();
    let err = paused.expect_err("`bao status` answered while the server was stopped");
    assert!(err.contains("deadline exceeded"), "{err}");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(15),
        "waited {waited:?}"
    );
    bao.resume();
    let status = json(&bao.bao(&["status", "-format=json"]));
    assert_eq!(status["sealed"], false);
    assert_eq!(bao.lease_count(&prefix), 1, "leases survive a pause");

    // Revoking the lease drops the user.
    bao.bao(&["lease", "revoke", "-sync", &creds.lease_id]);
    assert_eq!(bao.lease_count(&prefix), 0);
    let remaining = pg.psql(&format!(
        "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
        creds.username
    ));
    assert_eq!(remaining, "0");
}

#[tokio::test]
async fn tokens_policies_and_approle() {
    let bao = OpenBao::start();
    assert_eq!(bao.address(), format!("http://127.0.0.1:{}", bao.port()));

    bao.bao(&["kv", "put", "secret/app", "password=s3cret"]);
    bao.write_policy(
        "app-reader",
        r#"path "secret/data/app" { capabilities = ["read"] }"#,
    );
    assert!(bao
        .bao(&["policy", "read", "app-reader"])
        .contains("secret/data/app"));

    // A renewable child token with the policy.
    let token = bao.create_token(&["app-reader"], Duration::from_secs(120), true);
    assert_ne!(token, bao.root_token());
    let as_token = [("BAO_TOKEN", token.as_str())];
    let lookup = json(
        &bao.try_bao_with_env(&["token", "lookup", "-format=json"], &as_token)
            .expect("token looks itself up"),
    );
    let policies = lookup["data"]["policies"].as_array().expect("policies");
    assert!(policies.iter().any(|p| *p == "app-reader"), "{lookup}");
    assert!(policies.iter().any(|p| *p == "default"), "{lookup}");
    assert!(!policies.iter().any(|p| *p == "root"), "{lookup}");
    assert_eq!(lookup["data"]["renewable"], true);
    assert_eq!(lookup["data"]["orphan"], false);
    let ttl = lookup["data"]["ttl"].as_u64().expect("ttl");
    assert!(ttl > 0 && ttl <= 120, "{lookup}");

    let password = bao.try_bao_with_env(&["kv", "get", "-field=password", "secret/app"], &as_token);
    assert_eq!(password.as_deref(), Ok("s3cret"));
    let denied = bao
        .try_bao_with_env(&["kv", "put", "secret/other", "x=1"], &as_token)
        .expect_err("the policy does not allow writes");
    assert!(denied.contains("permission denied"), "{denied}");
    bao.try_bao_with_env(&["token", "renew"], &as_token)
        .expect("renewable token renews itself");

    let fixed = bao.create_token(&["app-reader"], Duration::from_secs(60), false);
    let refused = bao
        .try_bao_with_env(&["token", "renew"], &[("BAO_TOKEN", fixed.as_str())])
        .expect_err("a non-renewable token cannot be renewed");
    assert!(refused.contains("not renewable"), "{refused}");

    // AppRole: the returned ids log in and get the policy and TTL.
    let (role_id, secret_id) = bao.enable_approle(
        "approle",
        "sluice",
        &["app-reader"],
        Duration::from_secs(45),
    );
    let login = json(&bao.bao(&[
        "write",
        "-format=json",
        "auth/approle/login",
        &format!("role_id={role_id}"),
        &format!("secret_id={secret_id}"),
    ]));
    assert_eq!(login["auth"]["lease_duration"], 45);
    assert!(login["auth"]["token_policies"]
        .as_array()
        .expect("token_policies")
        .iter()
        .any(|p| *p == "app-reader"));
    let approle_token = login["auth"]["client_token"]
        .as_str()
        .expect("client_token");
    let password = bao.try_bao_with_env(
        &["kv", "get", "-field=password", "secret/app"],
        &[("BAO_TOKEN", approle_token)],
    );
    assert_eq!(password.as_deref(), Ok("s3cret"));

    let wrong = bao.try_bao(&[
        "write",
        "auth/approle/login",
        &format!("role_id={role_id}"),
        "secret_id=not-the-secret",
    ]);
    assert!(wrong.is_err(), "login with a wrong secret id: {wrong:?}");

    // A second role on the same mount.
    let (other_id, _) =
        bao.enable_approle("approle", "other", &["default"], Duration::from_secs(30));
    assert_ne!(other_id, role_id);

    // Mounting the database engine twice at the same path is harmless.
    bao.enable_database_engine("db2");
    bao.enable_database_engine("db2");
    let mounts = json(&bao.bao(&["secrets", "list", "-format=json"]));
    assert_eq!(mounts["db2/"]["type"], "database");
}

#[test]
fn servers_are_private_and_dropping_kills_them() {
    let first = OpenBao::start();
    let second = OpenBao::start();
    assert_ne!(first.port(), second.port());
    assert_ne!(first.root_token(), second.root_token());
    // Each root token only works on its own server.
    let foreign =
        second.try_bao_with_env(&["token", "lookup"], &[("BAO_TOKEN", first.root_token())]);
    assert!(foreign.is_err(), "{foreign:?}");
    assert!(first.log_contents().contains("root token generated"));

    let servers = [(first.pid(), first.port(), first.log_path().to_path_buf())];
    let (pid2, port2, log2) = (second.pid(), second.port(), second.log_path().to_path_buf());
    drop(first);
    // A paused server is killed as well.
    second.pause();
    drop(second);
    for (pid, port, log) in servers.into_iter().chain([(pid2, port2, log2)]) {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} still runs"
        );
        assert!(
            !wait_for_port(port, Duration::from_millis(300)),
            "port {port} still open"
        );
        assert!(!log.exists(), "{} was not removed", log.display());
    }
}
