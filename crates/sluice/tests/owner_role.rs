//! A route's `owner_role` against a real PostgreSQL (and OpenBao): the sessions act
//! as the owner role whatever user logged them in, `RESET ALL`, `DISCARD ALL` and
//! `RESET ROLE` come back to it, a client's own `SET ROLE` works and is undone before
//! the next client, a name with a space and a backslash arrives escaped and whole;
//! and with a Vault dynamic role, a change of lease under load fails
//! no client, leaves every table with the owner role, and lets Vault drop the old
//! generated user.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use test_support::sluice::SluiceVault;
use test_support::PgServer;
use tokio_postgres::{Client, SimpleQueryMessage};

const OWNER: &str = "app_owner";
/// A role the owner role is a member of, for the client's own `SET ROLE`.
const READER: &str = "app_reader";
const ADMIN: &str = "ops";
const ADMIN_PASSWORD: &str = "ops-secret";
const MOUNT: &str = "database";
const CONNECTION: &str = "pg";
const ROLE: &str = "postgres-appdb-role";

/// The owner role and a role it may switch to, allowed to create tables in `appdb`.
fn create_owner_roles(pg: &PgServer) {
    pg.psql(&format!(
        "CREATE ROLE {OWNER} NOLOGIN; CREATE ROLE {READER} NOLOGIN; GRANT {READER} TO {OWNER};"
    ));
    pg.psql_db(
        "appdb",
        &format!("GRANT USAGE, CREATE ON SCHEMA public TO {OWNER};"),
    );
}

/// The first column of the first row `sql` returns (simple protocol).
async fn one(c: &Client, sql: &str) -> String {
    let messages = c.simple_query(sql).await.unwrap();
    for m in messages {
        if let SimpleQueryMessage::Row(row) = m {
            return row.get(0).unwrap_or_default().to_owned();
        }
    }
    panic!("no row for {sql}");
}

/// Owners of the tables of `appdb`'s public schema, by table name.
fn table_owners(pg: &PgServer) -> Vec<(String, String)> {
    pg.psql_db(
        "appdb",
        "select tablename || ' ' || tableowner from pg_tables where schemaname = 'public' order by 1",
    )
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(t, o)| (t.to_owned(), o.to_owned()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_return_to_the_owner_role_and_a_clients_set_role_is_undone() {
    let pg = start_postgres();
    create_owner_roles(&pg);
    pg.psql(&format!("GRANT {OWNER} TO {DB_USER};"));
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            // One server connection: the second client gets the first one's.
            pool_size: 1,
            extra_database: format!("owner_role = \"{OWNER}\"\n"),
            users: format!(
                "[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n\
                 [users.{ADMIN}]\npassword = \"{ADMIN_PASSWORD}\"\nadmin = true\n"
            ),
            ..Default::default()
        },
    );

    let first = sluice.connect().await;
    assert_eq!(one(&first, "select current_user").await, OWNER);
    // The login is still the route's user: what the server shows of the session.
    assert_eq!(one(&first, "select session_user").await, DB_USER);
    assert_eq!(one(&first, "show session_authorization").await, DB_USER);
    assert_eq!(one(&first, "show role").await, OWNER);
    assert_eq!(server_connections(&pg), 1);
    let pid = one(&first, "select pg_backend_pid()").await;
    for reset in ["RESET ALL", "DISCARD ALL"] {
        first.batch_execute(reset).await.unwrap();
        assert_eq!(one(&first, "select current_user").await, OWNER, "{reset}");
    }
    // The client's own SET ROLE pins it to its server connection; RESET ROLE
    // returns to the owner role, not to the login user.
    first
        .batch_execute(&format!("SET ROLE {READER}"))
        .await
        .unwrap();
    assert_eq!(one(&first, "select current_user").await, READER);
    first.batch_execute("RESET ROLE").await.unwrap();
    assert_eq!(one(&first, "select current_user").await, OWNER);
    first
        .batch_execute(&format!("SET ROLE {READER}"))
        .await
        .unwrap();
    assert_eq!(
        sluice.metric("sluice_clients_pinned_total", "reason=\"set_role\""),
        Some(1.0)
    );
    drop(first);

    // The next client gets the same server connection after its DISCARD ALL, acting
    // as the owner role again.
    let second = sluice.connect().await;
    assert_eq!(one(&second, "select current_user").await, OWNER);
    assert_eq!(one(&second, "select pg_backend_pid()").await, pid);
    second
        .batch_execute("CREATE TABLE made_through_sluice (x int)")
        .await
        .unwrap();
    assert_eq!(
        table_owners(&pg),
        [("made_through_sluice".to_owned(), OWNER.to_owned())]
    );

    // The admin console shows the route as before.
    let console = connect(&sluice.conn_str(ADMIN, ADMIN_PASSWORD, "sluice")).await;
    let pools = console.simple_query("SHOW POOLS").await.unwrap();
    let rows: Vec<String> = pools
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        })
        .collect();
    assert!(rows.iter().any(|r| r.contains("appdb")), "{rows:?}");
}

/// The route's Vault dynamic role as the cluster writes it: each lease's user is a
/// member of the owner role, and revoking the lease only drops the user, which fails
/// if the user still owns anything.
fn create_owned_dynamic_role(bao: &SluiceVault) {
    let json = format!(
        r#"{{
          "db_name": "{CONNECTION}",
          "default_ttl": 6,
          "max_ttl": 12,
          "creation_statements": [
            "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}';",
            "GRANT \"{OWNER}\" TO \"{{{{name}}}}\";"
          ],
          "revocation_statements": ["DROP ROLE IF EXISTS \"{{{{name}}}}\";"]
        }}"#
    );
    bao.bao_with_stdin(&["write", &format!("{MOUNT}/roles/{ROLE}"), "-"], &json);
}

/// A client error with the server's SQLSTATE and message when there is one.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// A client running one-row transactions until `stop`; the number it ran.
async fn worker(sluice_conn: String, id: usize, stop: Arc<AtomicBool>) -> Result<u64, String> {
    let c = try_connect(&sluice_conn)
        .await
        .map_err(|e| format!("connect: {}", describe(&e)))?;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        c.batch_execute(&format!(
            "BEGIN; INSERT INTO work VALUES ({id}, {n}); COMMIT"
        ))
        .await
        .map_err(|e| format!("worker {id}, transaction {n}: {}", describe(&e)))?;
        n += 1;
    }
    Ok(n)
}

/// A client creating a table every 200 ms until `stop`, noting which generated user
/// served each creation.
async fn creator(
    sluice_conn: String,
    made: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let c = try_connect(&sluice_conn)
        .await
        .map_err(|e| format!("connect: {}", describe(&e)))?;
    let mut k = 0;
    while !stop.load(Ordering::Relaxed) {
        let table = format!("made_{k}");
        let answer = c
            .simple_query(&format!(
                "CREATE TABLE {table} (x int); SELECT session_user::text"
            ))
            .await
            .map_err(|e| format!("creating {table}: {}", describe(&e)))?;
        let user = answer.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        });
        made.lock().unwrap().push((table, user.unwrap_or_default()));
        k += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lease_change_under_load_leaves_every_table_with_the_owner_and_the_old_user_droppable() {
    let pg = start_postgres();
    create_owner_roles(&pg);
    let bao = SluiceVault::start(MOUNT);
    bao.configure_postgres(MOUNT, CONNECTION, &pg, "*");
    create_owned_dynamic_role(&bao);
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 3,
            extra_sections: bao.token_section(),
            extra_database: format!("owner_role = \"{OWNER}\"\n"),
            credentials: Some(format!("{{ vault_dynamic_role = \"{ROLE}\" }}")),
            ..Default::default()
        },
    );
    let setup = sluice.connect().await;
    setup
        .batch_execute("CREATE TABLE work (worker int, n int)")
        .await
        .unwrap();
    drop(setup);

    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|id| tokio::spawn(worker(sluice.app_conn_str(), id, stop.clone())))
        .collect();
    let creating = tokio::spawn(creator(sluice.app_conn_str(), made.clone(), stop.clone()));

    // Run until a later lease's user has created tables too and the first lease's
    // user is gone: sluice revoked its lease and Vault's DROP ROLE succeeded. A client
    // that stops early ends the run, and its error is reported below.
    let source = format!("source=\"dynamic:{MOUNT}/{ROLE}\"");
    let deadline = Instant::now() + Duration::from_secs(60);
    let first_user = loop {
        let users: Vec<String> = made
            .lock()
            .unwrap()
            .iter()
            .map(|(_, u)| u.clone())
            .collect();
        let first = users.first().cloned().unwrap_or_default();
        let later = users.iter().filter(|u| **u != first).count();
        let revoked = sluice
            .metric("sluice_credential_lease_revocations_total", &source)
            .unwrap_or(0.0);
        let first_exists = || {
            pg.psql(&format!(
                "select count(*) from pg_roles where rolname = '{first}'"
            )) != "0"
        };
        if later >= 2 && revoked >= 1.0 && !first_exists() {
            break Some(first);
        }
        if workers.iter().any(|w| w.is_finished()) || creating.is_finished() {
            break None;
        }
        assert!(
            Instant::now() < deadline,
            "no lease change with the old user dropped: users {users:?}, {revoked} revocations\n{}",
            sluice.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop.store(true, Ordering::Relaxed);
    let mut transactions = 0;
    for w in workers {
        transactions += w.await.unwrap().unwrap();
    }
    creating.await.unwrap().unwrap();
    let first_user = first_user.expect("a client stopped without an error");

    let made = made.lock().unwrap().clone();
    let users: BTreeSet<&str> = made.iter().map(|(_, u)| u.as_str()).collect();
    assert!(users.len() >= 2, "one user created every table: {users:?}");
    assert!(users.iter().all(|u| u.starts_with("v-")), "{users:?}");
    assert!(made.iter().any(|(_, u)| *u == first_user));
    // Every table, made before or after the change, is the owner role's.
    let owners = table_owners(&pg);
    assert_eq!(owners.len(), made.len() + 1, "{owners:?}");
    for (table, owner) in &owners {
        assert_eq!(owner, OWNER, "{table}");
    }
    assert!(
        !sluice.log().contains("cannot revoke"),
        "a revocation failed:\n{}",
        sluice.log()
    );
    eprintln!(
        "{transactions} transactions and {} tables over users {users:?}, 0 failed",
        made.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_role_with_a_space_and_a_backslash_reaches_the_server_whole() {
    let pg = start_postgres();
    let odd = "odd owner\\x";
    pg.psql(&format!(
        "CREATE ROLE \"{odd}\" NOLOGIN; GRANT \"{odd}\" TO {DB_USER};"
    ));
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            // TOML's basic string: the backslash written twice.
            extra_database: "owner_role = \"odd owner\\\\x\"\n".into(),
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    assert_eq!(one(&c, "select current_user").await, odd);
}
