//! The console's per-connection views and kills, with the real `psql`: SHOW CLIENTS
//! and SHOW SERVERS list each connection and which one serves which, KILL_CLIENT
//! ends one session (stopping what it runs and rolling back what it left open), and
//! KILL ends a database's sessions and holds it until RESUME. MySQL sessions appear
//! in the same views and are ended the same way.

mod common;
#[allow(unused)]
mod console_support;
#[allow(unused)]
mod mysql_support;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use console_support::*;

type Row = HashMap<String, String>;

fn show(sluice: &Sluice, view: &str) -> Vec<Row> {
    rows(&admin(sluice, &format!("SHOW {view}")))
}

/// Polls `f` every 50 ms for up to 15 s; whether it came true.
async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..300 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn count(c: &tokio_postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

/// Whether `sql`'s count comes to `want` within 10 s.
async fn count_becomes(c: &tokio_postgres::Client, sql: &str, want: i64) -> bool {
    for _ in 0..200 {
        if count(c, sql).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_clients_and_servers_list_each_connection_and_which_serves_which() {
    let pg = start_postgres();
    let sluice = start(&pg);
    let billing = connect(&format!(
        "{} application_name=billing",
        sluice.app_conn_str()
    ))
    .await;
    billing.batch_execute("begin").await.unwrap();
    let row = billing
        .query_one("select pg_backend_pid(), current_user::text", &[])
        .await
        .unwrap();
    let (pid, server_user): (i32, String) = (row.get(0), row.get(1));
    let other = sluice.connect().await;
    other.batch_execute("select 1").await.unwrap();

    let lines = admin(&sluice, "SHOW CLIENTS");
    assert_eq!(
        lines[0],
        "type,user,database,protocol,state,addr,port,connect_time,request_time,wait,wait_us,\
         link,process_id,tls,application_name,id"
    );
    let clients = rows(&lines);
    // The console's own session is not a client of a route.
    assert_eq!(clients.len(), 2, "{clients:?}");
    let busy = clients
        .iter()
        .find(|c| c["application_name"] == "billing")
        .expect("the billing client");
    assert_eq!(busy["type"], "C");
    assert_eq!(busy["user"], APP_USER);
    assert_eq!(busy["database"], "appdb");
    assert_eq!(busy["protocol"], "postgres");
    assert_eq!(busy["state"], "active");
    assert_eq!(busy["addr"], "127.0.0.1");
    assert_eq!(busy["tls"], "no");
    assert!(busy["connect_time"].ends_with(" UTC"), "{busy:?}");
    assert!(!busy["request_time"].is_empty(), "{busy:?}");
    let idle = clients.iter().find(|c| c["id"] != busy["id"]).unwrap();
    assert_eq!(idle["state"], "idle");
    assert_eq!(
        idle["link"], "",
        "an idle client holds no server connection"
    );

    let lines = admin(&sluice, "SHOW SERVERS");
    assert_eq!(
        lines[0],
        "type,user,database,protocol,state,addr,port,local_addr,local_port,connect_time,\
         request_time,link,remote_pid,tls,id"
    );
    let servers = rows(&lines);
    let serving = servers
        .iter()
        .find(|s| s["remote_pid"] == pid.to_string())
        .unwrap_or_else(|| panic!("no server with backend pid {pid}: {servers:?}"));
    assert_eq!(serving["type"], "S");
    assert_eq!(serving["state"], "active");
    assert_eq!(serving["user"], server_user);
    assert_eq!(serving["database"], "appdb");
    assert_eq!(serving["link"], busy["id"], "the server names its client");
    assert_eq!(busy["link"], serving["id"], "the client names its server");
    assert_ne!(serving["local_port"], "");

    billing.batch_execute("commit").await.unwrap();
    let servers = show(&sluice, "SERVERS");
    let back = servers.iter().find(|s| s["id"] == serving["id"]).unwrap();
    assert_eq!(back["state"], "idle");
    assert_eq!(back["link"], "");
    let clients = show(&sluice, "CLIENTS");
    let billing_now = clients.iter().find(|c| c["id"] == busy["id"]).unwrap();
    assert_eq!(billing_now["state"], "idle");

    // Stats users may look.
    let seen = psql(&sluice, STATS, STATS_PASSWORD, "sluice", "SHOW CLIENTS").unwrap();
    assert_eq!(rows(&seen).len(), 2);
    drop(other);
    let gone = eventually(|| show(&sluice, "CLIENTS").len() == 1).await;
    assert!(gone, "a client that left is still listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_client_ends_the_session_and_rolls_back_what_it_left_open() {
    let pg = start_postgres();
    let sluice = start(&pg);
    let watcher = sluice.connect().await;
    watcher
        .batch_execute("create table killed_work(v int)")
        .await
        .unwrap();
    let victim = sluice.connect().await;
    victim
        .batch_execute("begin; insert into killed_work values (1)")
        .await
        .unwrap();
    let clients = show(&sluice, "CLIENTS");
    let target = clients.iter().find(|c| c["state"] == "active").unwrap();
    assert_eq!(
        admin(&sluice, &format!("KILL_CLIENT {}", target["id"])),
        ["KILL_CLIENT"]
    );
    let err = victim.query_one("select 1", &[]).await.unwrap_err();
    if let Some(db) = err.as_db_error() {
        assert_eq!(db.code().code(), "57P01", "{db:?}");
    }
    let ended = eventually(|| show(&sluice, "CLIENTS").len() == 1).await;
    assert!(ended, "the killed session is still listed");
    assert_eq!(count(&watcher, "select count(*) from killed_work").await, 0);
    let open_tx = "select count(*) from pg_stat_activity \
                   where state like 'idle in transaction%' and pid <> pg_backend_pid()";
    assert_eq!(
        count(&watcher, open_tx).await,
        0,
        "a transaction was left open"
    );

    // A query running when its session is killed is stopped on the server.
    let runner = sluice.connect().await;
    let running = tokio::spawn(async move { runner.query_one("select pg_sleep(60)", &[]).await });
    let sleeping = "select count(*) from pg_stat_activity \
                    where state = 'active' and query = 'select pg_sleep(60)'";
    assert!(
        count_becomes(&watcher, sleeping, 1).await,
        "pg_sleep never started"
    );
    let clients = show(&sluice, "CLIENTS");
    let target = clients.iter().find(|c| c["state"] == "active").unwrap();
    admin(&sluice, &format!("KILL_CLIENT {}", target["id"]));
    let outcome = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the killed client's query still runs")
        .unwrap();
    assert!(outcome.is_err());
    assert!(
        count_becomes(&watcher, sleeping, 0).await,
        "pg_sleep still runs on the server"
    );
    // The sessions left serve on.
    assert_eq!(count(&watcher, "select 3::bigint").await, 3);

    let err = psql(
        &sluice,
        ADMIN,
        ADMIN_PASSWORD,
        "sluice",
        "KILL_CLIENT 999999",
    )
    .unwrap_err();
    assert!(err.contains("no client with id 999999"), "{err}");
    let err = psql(&sluice, STATS, STATS_PASSWORD, "sluice", "KILL_CLIENT 1").unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_statements_of_a_transaction_cancels_nothing_of_the_next_client() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            users: users_file(""),
            pool_size: 1,
            ..Default::default()
        },
    );
    let victim = sluice.connect().await;
    victim.batch_execute("begin; select 1").await.unwrap();
    // The next client queues for the only server connection.
    let next = sluice.connect().await;
    let queued = tokio::spawn(async move { next.batch_execute("select pg_sleep(1)").await });
    let waits = eventually(|| {
        show(&sluice, "CLIENTS")
            .iter()
            .any(|c| c["state"] == "waiting")
    })
    .await;
    assert!(waits, "the second client never queued");
    let clients = show(&sluice, "CLIENTS");
    let target = clients.iter().find(|c| c["state"] == "active").unwrap();
    admin(&sluice, &format!("KILL_CLIENT {}", target["id"]));
    // The connection goes to the queued client once rolled back; nothing sent for the
    // killed session may reach the query that runs on it next.
    let outcome = tokio::time::timeout(Duration::from_secs(10), queued)
        .await
        .expect("the queued client was never served")
        .unwrap();
    assert!(
        outcome.is_ok(),
        "the next client's query failed: {outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_a_databases_sessions_and_holds_it_until_resume() {
    let pg = start_postgres();
    let sluice = start(&pg);
    let a = sluice.connect().await;
    let b = sluice.connect().await;
    a.batch_execute("begin; select 1").await.unwrap();
    b.batch_execute("select 1").await.unwrap();
    assert_eq!(admin(&sluice, "KILL appdb"), ["KILL"]);
    assert!(a.query_one("select 1", &[]).await.is_err());
    assert!(b.query_one("select 1", &[]).await.is_err());
    let closed =
        eventually(|| show(&sluice, "SERVERS").is_empty() && show(&sluice, "CLIENTS").is_empty())
            .await;
    assert!(closed, "sessions or server connections of appdb are left");
    let databases = admin(&sluice, "SHOW DATABASES");
    assert_eq!(value(&databases, "appdb", "paused"), "1");

    // A new client logs in; its transaction waits for RESUME.
    let held = newcomer_selects(&sluice, 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !held.is_finished(),
        "a transaction ran on a killed database"
    );
    assert_eq!(admin(&sluice, "RESUME appdb"), ["RESUME"]);
    let v = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("RESUME did not release the held transaction")
        .unwrap();
    assert_eq!(v, 5);

    let err = psql(&sluice, ADMIN, ADMIN_PASSWORD, "sluice", "KILL nosuch").unwrap_err();
    assert!(err.contains("no database \"nosuch\""), "{err}");
    let err = psql(&sluice, ADMIN, ADMIN_PASSWORD, "sluice", "KILL").unwrap_err();
    assert!(err.contains("usage: KILL <db>"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_sessions_are_listed_and_killed_too() {
    use mysql_async::prelude::Queryable;

    let pg = start_postgres();
    let mariadb = mysql_support::start_mariadb();
    let (sluice, rw) = start_with_mysql(&pg, &mariadb);
    let url = format!(
        "mysql://{}:{}@127.0.0.1:{rw}/{}",
        mysql_support::APP_USER,
        mysql_support::APP_PASSWORD,
        mysql_support::DATABASE
    );
    let opts = || mysql_async::Opts::from_url(&url).unwrap();
    let mut conn = mysql_async::Conn::new(opts()).await.unwrap();
    conn.query_drop("begin").await.unwrap();
    let thread: u32 = conn
        .query_first("select connection_id()")
        .await
        .unwrap()
        .unwrap();

    let clients = show(&sluice, "CLIENTS");
    let me = clients
        .iter()
        .find(|c| c["protocol"] == "mysql")
        .unwrap_or_else(|| panic!("no MySQL client: {clients:?}"));
    assert_eq!(me["process_id"], conn.id().to_string());
    assert_eq!(me["database"], mysql_support::DATABASE);
    assert_eq!(me["state"], "active");
    let servers = show(&sluice, "SERVERS");
    let serving = servers
        .iter()
        .find(|s| s["protocol"] == "mysql" && s["remote_pid"] == thread.to_string())
        .unwrap_or_else(|| panic!("no server with thread id {thread}: {servers:?}"));
    assert_eq!(serving["link"], me["id"]);
    assert_eq!(serving["user"], mysql_support::DB_USER);

    admin(&sluice, &format!("KILL_CLIENT {}", me["id"]));
    assert!(conn.query_drop("select 1").await.is_err());

    // A statement running when its session is killed is stopped on the server.
    let mut runner = mysql_async::Conn::new(opts()).await.unwrap();
    let running = tokio::spawn(async move { runner.query_drop("select sleep(60)").await });
    let mut target = None;
    for _ in 0..200 {
        let clients = show(&sluice, "CLIENTS");
        target = clients
            .iter()
            .find(|c| c["protocol"] == "mysql" && c["state"] == "active")
            .map(|c| c["id"].clone());
        if target.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let target = target.expect("the sleeping client never became active");
    admin(&sluice, &format!("KILL_CLIENT {target}"));
    let outcome = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the killed client's statement still runs")
        .unwrap();
    assert!(outcome.is_err());
    // A session held by PAUSE, waiting for a connection, ends at once when killed.
    let shop = mysql_support::DATABASE;
    assert_eq!(admin(&sluice, &format!("PAUSE {shop}")), ["PAUSE"]);
    // mysql_async reads server settings as it connects: that query is held already.
    let held_opts = opts();
    let waiting = tokio::spawn(async move {
        let mut held = mysql_async::Conn::new(held_opts).await?;
        held.query_drop("select 1").await
    });
    let mut target = None;
    for _ in 0..200 {
        target = show(&sluice, "CLIENTS")
            .iter()
            .find(|c| c["protocol"] == "mysql" && c["state"] == "waiting")
            .map(|c| c["id"].clone());
        if target.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let target = target.expect("the held client never showed as waiting");
    admin(&sluice, &format!("KILL_CLIENT {target}"));
    let outcome = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("a killed client stays held by PAUSE")
        .unwrap();
    assert!(outcome.is_err());
    assert_eq!(admin(&sluice, &format!("RESUME {shop}")), ["RESUME"]);
    let gone = eventually(|| {
        !show(&sluice, "CLIENTS")
            .iter()
            .any(|c| c["protocol"] == "mysql")
    })
    .await;
    assert!(gone, "killed MySQL sessions are still listed");
}
