//! The admin console, driven by the real `psql`: each SHOW view's columns and
//! values, refusal of users without console rights, a stats user limited to SHOW,
//! RELOAD and SHUTDOWN WAIT_FOR_CLIENTS.

mod common;
#[allow(unused)]
mod console_support;
#[allow(unused)]
mod mysql_support;

use std::time::Duration;

use common::*;
use console_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_views_with_their_columns_and_values() {
    let pg = start_postgres();
    let sluice = start(&pg);
    let client = sluice.connect().await;
    client.batch_execute("begin; select 1").await.unwrap();

    let pools = admin(&sluice, "SHOW POOLS;");
    assert_eq!(
        pools[0],
        "database,protocol,cl_active,cl_waiting,sv_active,sv_idle,sv_login,pool_mode"
    );
    assert_eq!(value(&pools, "appdb", "protocol"), "postgres");
    assert_eq!(value(&pools, "appdb", "cl_active"), "1");
    assert_eq!(value(&pools, "appdb", "cl_waiting"), "0");
    assert_eq!(value(&pools, "appdb", "sv_active"), "1");
    assert_eq!(value(&pools, "appdb", "pool_mode"), "transaction");

    let databases = admin(&sluice, "show databases");
    assert_eq!(
        databases[0],
        "name,protocol,pool_mode,current_connections,current_client_connections,paused,ready"
    );
    assert_eq!(
        value(&databases, "appdb", "current_client_connections"),
        "1"
    );
    assert_eq!(value(&databases, "appdb", "ready"), "yes");

    let lists = admin(&sluice, "SHOW LISTS");
    assert_eq!(lists[0], "list,items");
    assert_eq!(value(&lists, "databases", "items"), "1");
    assert_eq!(value(&lists, "users", "items"), "3");
    assert_eq!(value(&lists, "used_clients", "items"), "1");
    assert_eq!(value(&lists, "used_servers", "items"), "1");

    let users = admin(&sluice, "SHOW USERS");
    assert_eq!(users[0], "name,admin,stats");
    assert_eq!(value(&users, ADMIN, "admin"), "yes");
    assert_eq!(value(&users, STATS, "stats"), "yes");
    assert_eq!(value(&users, APP_USER, "admin"), "no");

    let config = admin(&sluice, "SHOW CONFIG");
    assert_eq!(config[0], "key,value,changeable");
    assert_eq!(
        value(&config, "postgres.listen", "value"),
        format!("127.0.0.1:{}", sluice.port)
    );
    assert_eq!(value(&config, "postgres.listen", "changeable"), "no");
    assert_eq!(
        value(&config, "postgres.max_client_conn", "changeable"),
        "yes"
    );

    let version = admin(&sluice, "SHOW VERSION");
    assert_eq!(version[0], "version");
    assert!(version[1].starts_with("sluice "), "{version:?}");

    // PgBouncer's name for its console works too.
    let alias = psql(&sluice, ADMIN, ADMIN_PASSWORD, "pgbouncer", "show version").unwrap();
    assert_eq!(alias, version);

    // Once the transaction ends the server connection is idle again.
    client.batch_execute("commit").await.unwrap();
    let pools = admin(&sluice, "SHOW POOLS");
    assert_eq!(value(&pools, "appdb", "sv_active"), "0");
    assert_eq!(value(&pools, "appdb", "sv_idle"), "1");

    let stats = admin(&sluice, "SHOW STATS");
    assert_eq!(
        stats[0],
        "database,protocol,total_xact_count,total_query_count,total_received,total_sent"
    );
    let count = |column: &str| value(&stats, "appdb", column).parse::<u64>().unwrap();
    assert!(count("total_xact_count") >= 1, "{stats:?}");
    assert!(count("total_query_count") >= 2, "{stats:?}");
    assert!(
        count("total_received") > 0 && count("total_sent") > 0,
        "{stats:?}"
    );

    let err = psql(&sluice, ADMIN, ADMIN_PASSWORD, "sluice", "show tables").unwrap_err();
    assert!(err.contains("unknown SHOW view"), "{err}");
    let err = psql(&sluice, ADMIN, ADMIN_PASSWORD, "sluice", "select 1").unwrap_err();
    assert!(err.contains("unknown command"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admin_and_stats_users_get_in_and_stats_users_only_show() {
    let pg = start_postgres();
    let sluice = start(&pg);
    let err = psql(&sluice, APP_USER, APP_PASSWORD, "sluice", "show pools").unwrap_err();
    assert!(err.contains("may not use the admin console"), "{err}");
    let err = psql(&sluice, ADMIN, "wrong", "sluice", "show pools").unwrap_err();
    assert!(err.contains("password authentication failed"), "{err}");
    // The refusal is PostgreSQL's 28000.
    let e = try_connect(&sluice.conn_str(APP_USER, APP_PASSWORD, "sluice"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "28000");

    let pools = psql(&sluice, STATS, STATS_PASSWORD, "sluice", "show pools").unwrap();
    assert_eq!(value(&pools, "appdb", "protocol"), "postgres");
    let err = psql(&sluice, STATS, STATS_PASSWORD, "sluice", "reload").unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
    let err = psql(
        &sluice,
        STATS,
        STATS_PASSWORD,
        "sluice",
        "shutdown wait_for_clients",
    )
    .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
    // A stats user's refusal is PostgreSQL's 42501.
    let stats = connect(&sluice.conn_str(STATS, STATS_PASSWORD, "sluice")).await;
    let e = stats.simple_query("RELOAD").await.unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_the_users_file_before_it_answers() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            users: users_file(""),
            extra_postgres: "max_client_conn = 50".into(),
            ..Default::default()
        },
    );
    let cfg = std::fs::read_to_string(&sluice.config_path).unwrap();
    std::fs::write(
        &sluice.config_path,
        cfg.replace("max_client_conn = 50", "max_client_conn = 60"),
    )
    .unwrap();
    let newcomer = sluice.conn_str("newuser", "newpw", "appdb");
    assert!(try_connect(&newcomer).await.is_err());
    std::fs::write(
        sluice.dir().join("users.toml"),
        users_file("[users.newuser]\npassword = \"newpw\"\n"),
    )
    .unwrap();
    assert_eq!(admin(&sluice, "RELOAD"), ["RELOAD"]);
    let config = admin(&sluice, "SHOW CONFIG");
    assert_eq!(value(&config, "postgres.max_client_conn", "value"), "60");
    let c = connect(&newcomer).await;
    assert_eq!(
        c.query_one("select 7", &[]).await.unwrap().get::<_, i32>(0),
        7
    );

    // A configuration that does not load is reported, and the running one stays.
    std::fs::write(sluice.dir().join("users.toml"), "[users.broken]\n").unwrap();
    let err = psql(&sluice, ADMIN, ADMIN_PASSWORD, "sluice", "RELOAD").unwrap_err();
    assert!(err.contains("reload failed"), "{err}");
    assert!(connect(&newcomer)
        .await
        .query_one("select 1", &[])
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_wait_for_clients_drains_like_sigterm() {
    let pg = start_postgres();
    let mut sluice = start(&pg);
    let client = sluice.connect().await;
    client.batch_execute("begin; select 1").await.unwrap();
    admin(&sluice, "SHUTDOWN WAIT_FOR_CLIENTS");
    // The running transaction still finishes; then sluice exits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.batch_execute("select 2; commit").await.unwrap();
    drop(client);
    assert_eq!(
        sluice.wait_exit(Duration::from_secs(20)),
        Some(true),
        "{}",
        sluice.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_waits_for_running_transactions_and_holds_new_ones_until_resume() {
    let pg = start_postgres();
    let sluice = std::sync::Arc::new(start(&pg));
    let running = sluice.connect().await;
    running.batch_execute("begin; select 1").await.unwrap();
    let pause = tokio::task::spawn_blocking({
        let sluice = sluice.clone();
        move || admin(&sluice, "PAUSE appdb")
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!pause.is_finished(), "PAUSE returned during a transaction");
    running.batch_execute("commit").await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), pause)
        .await
        .expect("PAUSE did not return once the transaction ended")
        .unwrap();
    assert_eq!(answer, ["PAUSE"]);
    let databases = admin(&sluice, "SHOW DATABASES");
    assert_eq!(value(&databases, "appdb", "paused"), "1");

    // A new client logs in, but its transaction waits for RESUME.
    let held = newcomer_selects(&sluice, 5).await;
    let again = tokio::spawn(async move { running.query_one("select 6", &[]).await.is_ok() });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !held.is_finished() && !again.is_finished(),
        "a transaction ran while paused"
    );
    assert_eq!(
        value(&admin(&sluice, "SHOW POOLS"), "appdb", "sv_active"),
        "0"
    );

    assert_eq!(admin(&sluice, "RESUME appdb"), ["RESUME"]);
    let v = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("RESUME did not release the held transaction")
        .unwrap();
    assert_eq!(v, 5);
    assert!(tokio::time::timeout(Duration::from_secs(5), again)
        .await
        .unwrap()
        .unwrap());
    assert_eq!(
        value(&admin(&sluice, "SHOW DATABASES"), "appdb", "paused"),
        "0"
    );

    // PAUSE without a database pauses every route; a wrong name is an error.
    assert_eq!(admin(&sluice, "PAUSE"), ["PAUSE"]);
    assert_eq!(admin(&sluice, "RESUME"), ["RESUME"]);
    let err = psql(&sluice, ADMIN, ADMIN_PASSWORD, "sluice", "PAUSE nosuch").unwrap_err();
    assert!(err.contains("no database \"nosuch\""), "{err}");
    let err = psql(&sluice, STATS, STATS_PASSWORD, "sluice", "PAUSE").unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
}

async fn backend_pid(c: &tokio_postgres::Client) -> i32 {
    c.query_one("select pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_replaces_idle_connections_now_and_busy_ones_after_their_transaction() {
    let pg = start_postgres();
    let sluice = start(&pg);
    let busy = sluice.connect().await;
    busy.batch_execute("begin").await.unwrap();
    let busy_pid = backend_pid(&busy).await;
    let other = sluice.connect().await;
    let idle_pid = backend_pid(&other).await;
    assert_ne!(busy_pid, idle_pid);

    assert_eq!(admin(&sluice, "RECONNECT appdb"), ["RECONNECT"]);
    // The transaction keeps its server connection to its end.
    assert_eq!(backend_pid(&busy).await, busy_pid);
    busy.batch_execute("commit").await.unwrap();
    let after = backend_pid(&busy).await;
    assert!(
        after != busy_pid && after != idle_pid,
        "{after} was opened before RECONNECT"
    );
    let gone =
        format!("select count(*) from pg_stat_activity where pid in ({busy_pid}, {idle_pid})");
    let mut left = 2;
    for _ in 0..100 {
        left = other
            .query_one(gone.as_str(), &[])
            .await
            .unwrap()
            .get::<_, i64>(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "the old server connections are still open");
    let err = psql(&sluice, ADMIN, ADMIN_PASSWORD, "sluice", "RECONNECT nosuch").unwrap_err();
    assert!(err.contains("no database \"nosuch\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_routes_appear_in_the_same_views_and_pause_too() {
    let pg = start_postgres();
    let mariadb = mysql_support::start_mariadb();
    let (sluice, _) = start_with_mysql(&pg, &mariadb);
    let shop = mysql_support::DATABASE;
    let pools = admin(&sluice, "SHOW POOLS");
    assert_eq!(value(&pools, "appdb", "protocol"), "postgres");
    assert_eq!(value(&pools, shop, "protocol"), "mysql");
    let databases = admin(&sluice, "SHOW DATABASES");
    assert_eq!(value(&databases, shop, "protocol"), "mysql");
    assert_eq!(
        value(&admin(&sluice, "SHOW STATS"), shop, "protocol"),
        "mysql"
    );
    assert_eq!(admin(&sluice, &format!("PAUSE {shop}")), ["PAUSE"]);
    let databases = admin(&sluice, "SHOW DATABASES");
    assert_eq!(value(&databases, shop, "paused"), "1");
    assert_eq!(value(&databases, "appdb", "paused"), "0");
    assert_eq!(admin(&sluice, &format!("RESUME {shop}")), ["RESUME"]);
    assert_eq!(admin(&sluice, &format!("RECONNECT {shop}")), ["RECONNECT"]);
}
