//! The wildcard route against a real PostgreSQL and OpenBao: one `"*"` block with
//! `vault_dynamic_role = "postgres-{database}-role"` serves each database of its allow
//! list through that database's own Vault role, pool and metrics label; a name off
//! the list is an unknown database, and a reload that lengthens the list adds a route
//! without touching the others.

mod common;

use std::time::{Duration, Instant};

use common::*;
use test_support::sluice::SluiceVault;

const MOUNT: &str = "database";
const CONNECTION: &str = "pg";

fn wildcard(allow: &str) -> String {
    format!(
        "\n[postgres.defaults]\ncluster = \"main\"\npool_size = 2\n\n\
         [postgres.databases.\"*\"]\nallow = {allow}\nusers = [\"{APP_USER}\"]\n\
         credentials = {{ vault_dynamic_role = \"postgres-{{database}}-role\" }}\n"
    )
}

async fn whoami(sluice: &Sluice, db: &str) -> Result<(String, String), String> {
    let c = try_connect(&sluice.conn_str(APP_USER, APP_PASSWORD, db))
        .await
        .map_err(|e| sqlstate(&e))?;
    let row = c
        .query_one("select current_database()::text, session_user::text", &[])
        .await
        .map_err(|e| sqlstate(&e))?;
    Ok((row.get(0), row.get(1)))
}

fn role_lease(bao: &SluiceVault, app: &str) -> usize {
    bao.lease_count(&format!("{MOUNT}/creds/postgres-{app}-role"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_template_serves_each_listed_app_with_its_own_vault_role() {
    let pg = start_postgres();
    for app in ["alpha", "beta"] {
        pg.create_database(app, DB_USER);
    }
    let bao = SluiceVault::start(MOUNT);
    bao.configure_postgres(MOUNT, CONNECTION, &pg, "*");
    for app in ["alpha", "beta", "gamma"] {
        bao.create_dynamic_role(
            MOUNT,
            &format!("postgres-{app}-role"),
            CONNECTION,
            Duration::from_secs(3600),
            Duration::from_secs(7200),
            "",
        );
    }
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            databases: Vec::new(),
            extra_sections: bao.token_section(),
            extra_postgres: wildcard(r#"["alpha"]"#),
            ..Default::default()
        },
    );

    let (db, alpha_user) = whoami(&sluice, "alpha").await.unwrap();
    assert_eq!(db, "alpha");
    assert!(alpha_user.starts_with("v-"), "{alpha_user}");
    assert_eq!(role_lease(&bao, "alpha"), 1);
    // beta has a Vault role but is not listed: unknown, and nothing asked of Vault.
    assert_eq!(whoami(&sluice, "beta").await, Err("3D000".into()));
    assert_eq!(role_lease(&bao, "beta"), 0);

    // A reload with a longer list: beta becomes a route of its own.
    let text = std::fs::read_to_string(&sluice.config_path).unwrap();
    let longer = text.replace(r#"allow = ["alpha"]"#, r#"allow = ["alpha", "beta"]"#);
    assert_ne!(text, longer);
    std::fs::write(&sluice.config_path, longer).unwrap();
    sluice.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    let beta_user = loop {
        match whoami(&sluice, "beta").await {
            Ok((db, user)) => {
                assert_eq!(db, "beta");
                break user;
            }
            Err(code) => {
                assert_eq!(code, "3D000", "beta refused otherwise");
                assert!(Instant::now() < deadline, "the reload did not add beta");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(beta_user.starts_with("v-"), "{beta_user}");
    assert_ne!(alpha_user, beta_user, "both apps logged in as one user");
    assert_eq!(role_lease(&bao, "beta"), 1);
    // alpha kept its route and its lease: the reload took no new one for it.
    assert_eq!(whoami(&sluice, "alpha").await.unwrap().1, alpha_user);
    assert_eq!(role_lease(&bao, "alpha"), 1);
    // Still no route for a name off the list, though its Vault role exists.
    assert_eq!(whoami(&sluice, "gamma").await, Err("3D000".into()));
    assert_eq!(role_lease(&bao, "gamma"), 0);

    // Each app is a source and a pool of its own in the metrics.
    for app in ["alpha", "beta"] {
        let source = format!("source=\"dynamic:{MOUNT}/postgres-{app}-role\"");
        let fetches = sluice.metric("sluice_credential_fetches_total", &source);
        assert_eq!(fetches, Some(1.0), "{app}");
        let ready = sluice.metric("sluice_route_ready", &format!("pool=\"{app}\""));
        assert!(ready.is_some(), "no sluice_route_ready for {app}");
    }
    assert_eq!(
        sluice.metric("sluice_route_ready", "pool=\"*\""),
        None,
        "the wildcard is no route"
    );
}
