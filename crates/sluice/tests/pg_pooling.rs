//! Transaction pooling against a real PostgreSQL through the real sluice binary.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_run_as_the_database_user_sluice_holds() {
    let pg = start_postgres();
    let sluice = Sluice::start(&pg, SluiceOptions::default());
    let c = sluice.connect().await;
    let row = c
        .query_one("select current_user::text, 40 + 2", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), DB_USER);
    assert_eq!(row.get::<_, i32>(1), 42);
    // The client saw parameters of the real server.
    let v = c.query_one("show server_version", &[]).await.unwrap();
    assert!(v.get::<_, String>(0).starts_with("15"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_share_few_server_connections() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 3,
            ..Default::default()
        },
    );
    let setup = sluice.connect().await;
    setup
        .batch_execute(
            "create table counter(id int primary key, n int); insert into counter values (1, 0)",
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let conn = sluice.app_conn_str();
        tasks.push(tokio::spawn(async move {
            let mut c = connect(&conn).await;
            for j in 0..20 {
                let tx = c.transaction().await.unwrap();
                tx.execute("update counter set n = n + 1 where id = 1", &[])
                    .await
                    .unwrap();
                let v: i32 = tx
                    .query_one("select $1::int + $2::int", &[&i, &j])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(v, i + j);
                tx.commit().await.unwrap();
            }
        }));
    }
    let mut peak = 0;
    while tasks.iter().any(|t| !t.is_finished()) {
        peak = peak.max(server_connections(&pg));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n: i32 = setup
        .query_one("select n from counter where id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 600, "every transaction committed exactly once");
    assert!(peak <= 3, "pool size 3 but {peak} server connections seen");
    assert!(server_connections(&pg) <= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_prepared_statements_survive_server_swaps() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 2,
            ..Default::default()
        },
    );
    let mut tasks = Vec::new();
    for i in 0..12i64 {
        let conn = sluice.app_conn_str();
        tasks.push(tokio::spawn(async move {
            let c = connect(&conn).await;
            // tokio-postgres prepares named statements and binds them later, often on
            // another server connection than the one that saw the Parse.
            let st = c.prepare("select $1::int8 * 2 + $2::int8").await.unwrap();
            let st2 = c
                .prepare("select $1::text || '-' || $2::text")
                .await
                .unwrap();
            for j in 0..40i64 {
                let v: i64 = c.query_one(&st, &[&i, &j]).await.unwrap().get(0);
                assert_eq!(v, i * 2 + j);
                let s: String = c
                    .query_one(&st2, &[&format!("c{i}"), &j.to_string()])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(s, format!("c{i}-{j}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deallocate_and_unknown_statements_behave_like_postgres() {
    let pg = start_postgres();
    let sluice = Sluice::start(&pg, SluiceOptions::default());
    let c = sluice.connect().await;
    let st = c.prepare("select 1").await.unwrap();
    assert_eq!(c.query_one(&st, &[]).await.unwrap().get::<_, i32>(0), 1);
    // DISCARD ALL answered by sluice: the client's statements are gone for it.
    c.batch_execute("DISCARD ALL").await.unwrap();
    let err = c.query_one(&st, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "26000", "{err}");
    let err = c.batch_execute("DEALLOCATE nosuch").await.unwrap_err();
    assert_eq!(sqlstate(&err), "26000");
    // The session is still usable.
    assert_eq!(
        c.query_one("select 5", &[]).await.unwrap().get::<_, i32>(0),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_settings_follow_the_client() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 2,
            ..Default::default()
        },
    );
    let c = connect(&format!(
        "{} application_name=myapp options='-c statement_timeout=4321'",
        sluice.app_conn_str()
    ))
    .await;
    c.batch_execute("create schema s1; create table s1.t(x int); insert into s1.t values (7)")
        .await
        .unwrap();
    c.batch_execute("set search_path to s1, public")
        .await
        .unwrap();
    let noise: Vec<_> = futures_join(&sluice, 6).await;
    for _ in 0..10 {
        for n in &noise {
            n.batch_execute("set search_path to public; set application_name = 'noise'")
                .await
                .unwrap();
        }
        let row = c
            .query_one(
                "select current_setting('search_path'), current_setting('application_name'), \
                 current_setting('statement_timeout'), (select x from t)",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "s1, public");
        assert_eq!(row.get::<_, String>(1), "myapp");
        assert_eq!(row.get::<_, String>(2), "4321ms");
        assert_eq!(row.get::<_, i32>(3), 7);
    }
    // RESET returns to the startup value; a rolled-back SET does not stick.
    c.batch_execute("set application_name = 'other'; reset application_name")
        .await
        .unwrap();
    c.batch_execute("begin; set search_path to public; rollback")
        .await
        .unwrap();
    for n in &noise {
        n.batch_execute("select 1").await.unwrap();
    }
    let row = c
        .query_one(
            "select current_setting('application_name'), current_setting('search_path')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "myapp");
    assert_eq!(row.get::<_, String>(1), "s1, public");
}

async fn futures_join(sluice: &Sluice, n: usize) -> Vec<tokio_postgres::Client> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(sluice.connect().await);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_only_the_right_query() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 3,
            ..Default::default()
        },
    );
    let victim = sluice.connect().await;
    let bystander = sluice.connect().await;
    let token = victim.cancel_token();
    let slow = tokio::spawn(async move {
        let r = victim.simple_query("select pg_sleep(10)").await;
        (r.map(|_| ()), victim)
    });
    let other = tokio::spawn(async move {
        let r = bystander
            .query_one("select 1 from pg_sleep(1.5)", &[])
            .await;
        r.map(|row| row.get::<_, i32>(0))
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = std::time::Instant::now();
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let (r, victim) = slow.await.unwrap();
    let err = r.unwrap_err();
    assert_eq!(sqlstate(&err), "57014", "{err}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(other.await.unwrap().unwrap(), 1, "the bystander was hit");
    // A cancel between transactions hits nothing, and the session goes on.
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    assert_eq!(
        victim
            .query_one("select 3", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_and_out_and_large_results_stream() {
    use futures_util::{SinkExt, StreamExt};
    let pg = start_postgres();
    let sluice = Sluice::start(&pg, SluiceOptions::default());
    let c = sluice.connect().await;
    c.batch_execute("create table big(id int, t text)")
        .await
        .unwrap();
    let sink = c.copy_in("copy big from stdin").await.unwrap();
    futures_util::pin_mut!(sink);
    let mut data = String::new();
    for i in 0..50_000 {
        data.push_str(&format!("{i}\trow{i}\n"));
    }
    // One chunk far larger than a socket buffer, streamed through.
    sink.send(bytes::Bytes::from(data)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 50_000);
    let stream = c
        .copy_out("copy (select * from big order by id) to stdout")
        .await
        .unwrap();
    futures_util::pin_mut!(stream);
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len();
    }
    assert!(total > 500_000, "copied {total} bytes");
    // Large rows (1 MiB each) and many rows.
    let rows = c
        .query(
            "select repeat('y', 1048576) from generate_series(1, 20)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 20);
    assert_eq!(rows[0].get::<_, String>(0).len(), 1_048_576);
    let n: i64 = c
        .query_one(
            "select count(*) from (select repeat('x', 1000) from generate_series(1, 200000)) s",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 200_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_cached_plan_is_reprepared_for_the_next_attempt() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 1,
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    c.batch_execute("create table ddl(a int); insert into ddl values (1)")
        .await
        .unwrap();
    let st = c.prepare("select * from ddl").await.unwrap();
    assert_eq!(c.query(&st, &[]).await.unwrap().len(), 1);
    c.batch_execute("alter table ddl add column b int default 5")
        .await
        .unwrap();
    // PostgreSQL itself refuses the old statement once (its result shape changed)...
    let err = c.query(&st, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "0A000", "{err}");
    // ...and preparing the same text again works: the shared statement on the server
    // was re-prepared instead of staying stale for every client.
    let other = sluice.connect().await;
    let st2 = other.prepare("select * from ddl").await.unwrap();
    let rows = other.query(&st2, &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, Option<i32>>(1), Some(5));
    let st3 = c.prepare("select * from ddl").await.unwrap();
    assert_eq!(c.query(&st3, &[]).await.unwrap()[0].len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preparing_again_after_ddl_gets_a_fresh_plan() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 1,
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    c.batch_execute(
        "create type mood as enum ('ok'); create table moods(m mood); \
         insert into moods values ('ok')",
    )
    .await
    .unwrap();
    let select = "select * from moods";
    let st = c.prepare(select).await.unwrap();
    assert_eq!(c.query(&st, &[]).await.unwrap()[0].len(), 1);
    // Dropped and created again with another shape, as a migration or a test would.
    c.batch_execute(
        "drop table moods; drop type mood; create type mood as enum ('ok', 'fine'); \
         create table moods(id int, m mood); insert into moods values (1, 'fine')",
    )
    .await
    .unwrap();
    // A client that prepares the same text again gets a plan of the new schema, as on
    // a direct connection, though the server connection still holds the old statement
    // (whose result no longer fits: PostgreSQL would refuse to run it).
    let again = c.prepare(select).await.unwrap();
    let rows = c.query(&again, &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    let other = sluice.connect().await;
    let st = other.prepare(select).await.unwrap();
    assert_eq!(other.query(&st, &[]).await.unwrap()[0].len(), 2);
}

/// Reads messages from a raw connection until `until` arrives; returns them all.
fn read_until(s: &mut std::net::TcpStream, until: u8) -> Vec<(u8, Vec<u8>)> {
    use std::io::Read;
    let mut messages = Vec::new();
    loop {
        let mut header = [0u8; 5];
        s.read_exact(&mut header).unwrap();
        let len = u32::from_be_bytes(header[1..5].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len - 4];
        s.read_exact(&mut body).unwrap();
        messages.push((header[0], body));
        // `until` 0 (no message has that tag): just one message.
        if header[0] == until || until == 0 {
            return messages;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_mode_clients_get_their_servers_process_id_and_cancel_still_works() {
    use std::io::Write;
    let pg = start_postgres();
    let sluice = sluice_for_raw_logins(&pg, "session");
    let (mut s, welcome) = raw_login(&sluice);
    let key = welcome
        .iter()
        .find(|(tag, _)| *tag == b'K')
        .map(|(_, body)| body.clone())
        .expect("BackendKeyData");
    let pid = i32::from_be_bytes(key[0..4].try_into().unwrap());

    let query = |sql: &str| {
        let mut q = vec![b'Q'];
        q.extend_from_slice(&((sql.len() + 5) as u32).to_be_bytes());
        q.extend_from_slice(sql.as_bytes());
        q.push(0);
        q
    };
    s.write_all(&query("select pg_backend_pid()")).unwrap();
    let answer = read_until(&mut s, b'Z');
    let row = answer.iter().find(|(tag, _)| *tag == b'D').expect("a row");
    let server_pid: i32 = String::from_utf8_lossy(&row.1[6..]).parse().unwrap();
    assert_eq!(
        pid, server_pid,
        "the client was told its server's process id"
    );

    // A cancel with that key, on a new connection to sluice, stops the client's query.
    s.write_all(&query("select pg_sleep(20)")).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", sluice.port)).unwrap();
    let mut cancel = 16u32.to_be_bytes().to_vec();
    cancel.extend_from_slice(&80_877_102u32.to_be_bytes());
    cancel.extend_from_slice(&key);
    c.write_all(&cancel).unwrap();
    let answer = read_until(&mut s, b'Z');
    let error = answer
        .iter()
        .find(|(tag, _)| *tag == b'E')
        .expect("the query was cancelled");
    assert!(
        String::from_utf8_lossy(&error.1).contains("57014"),
        "{:?}",
        String::from_utf8_lossy(&error.1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_backend_is_terminated_ends_with_the_servers_error_alone() {
    let pg = start_postgres();
    let sluice = sluice_for_raw_logins(&pg, "session");
    let (mut s, welcome) = raw_login(&sluice);
    let key = &welcome.iter().find(|(tag, _)| *tag == b'K').unwrap().1;
    let pid = i32::from_be_bytes(key[0..4].try_into().unwrap());
    // An administrator ends the client's backend while the client is idle.
    let ended = pg.psql(&format!("select pg_terminate_backend({pid})"));
    assert_eq!(ended.trim(), "t", "{ended}");
    // As on a direct connection: the server's FATAL error, then the end of the stream,
    // with no error of sluice's after it.
    let (tag, body) = read_until(&mut s, 0).pop().unwrap();
    assert_eq!(tag, b'E');
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("57P01") && text.contains("FATAL"), "{text}");
    let mut rest = Vec::new();
    let read = std::io::Read::read_to_end(&mut s, &mut rest);
    assert!(
        read.is_ok() && rest.is_empty(),
        "{read:?} {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_client_keeps_its_server_and_the_next_client_hears_nothing() {
    use std::io::Write;
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 2,
            hba: Some("host all rawuser 127.0.0.1/32 trust\n".into()),
            users: "[users.rawuser]\npassword = \"unused\"\n".into(),
            ..Default::default()
        },
    );
    // Transaction mode: the LISTEN pins the client to its server connection...
    let (mut listener, welcome) = raw_login(&sluice);
    let told_pid = process_id_in(&welcome);
    listener.write_all(&simple_query("LISTEN chan")).unwrap();
    read_until(&mut listener, b'Z');
    // ...and its own notification comes from the process id it was told, as on a
    // direct connection, though that id is sluice's and not its server's.
    listener
        .write_all(&simple_query("NOTIFY chan, 'self'"))
        .unwrap();
    let answer = read_until(&mut listener, b'Z');
    let (_, own) = answer
        .iter()
        .find(|(tag, _)| *tag == b'A')
        .expect("own notification");
    assert_eq!(i32::from_be_bytes(own[..4].try_into().unwrap()), told_pid);
    let server_pid: i32 = {
        listener
            .write_all(&simple_query("SELECT pg_backend_pid()"))
            .unwrap();
        let rows = read_until(&mut listener, b'Z');
        let (_, row) = rows.iter().find(|(tag, _)| *tag == b'D').unwrap();
        String::from_utf8_lossy(&row[6..]).parse().unwrap()
    };
    assert_ne!(
        server_pid, told_pid,
        "transaction mode tells a pid of its own"
    );
    let (mut other, _) = raw_login(&sluice);
    for i in 0..3 {
        other
            .write_all(&simple_query(&format!("NOTIFY chan, 'n{i}'")))
            .unwrap();
        read_until(&mut other, b'Z');
    }
    // ...so the notifications reach it between its queries, as on a direct connection.
    for i in 0..3 {
        let (tag, body) = read_until(&mut listener, 0).pop().unwrap();
        assert_eq!(tag, b'A', "{:?}", String::from_utf8_lossy(&body));
        let text = String::from_utf8_lossy(&body[4..]).into_owned();
        assert!(
            text.starts_with("chan\0") && text.contains(&format!("n{i}")),
            "{text:?}"
        );
        // Another client's notification keeps its sender's process id.
        assert_ne!(i32::from_be_bytes(body[..4].try_into().unwrap()), told_pid);
    }
    // When it leaves, its server connection is reset before another client gets it:
    // a client on it in a transaction hears nothing of the channel.
    drop(listener);
    drop(other);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut next, _) = raw_login(&sluice);
    let (mut second, _) = raw_login(&sluice);
    next.write_all(&simple_query("BEGIN")).unwrap();
    read_until(&mut next, b'Z');
    second.write_all(&simple_query("BEGIN")).unwrap();
    read_until(&mut second, b'Z');
    // Both server connections are in use: the notification comes from outside. A
    // backend that listens holds it until its transaction ends and sends it before
    // the ReadyForQuery of the COMMIT, so the COMMIT's answer is where it would show.
    pg.psql_db("appdb", "NOTIFY chan, 'leak'");
    for client in [&mut next, &mut second] {
        client
            .write_all(&simple_query("SELECT pg_sleep(0.2)"))
            .unwrap();
        let mut answer = read_until(client, b'Z');
        client.write_all(&simple_query("COMMIT")).unwrap();
        answer.extend(read_until(client, b'Z'));
        assert!(
            answer.iter().all(|(tag, _)| *tag != b'A'),
            "a notification reached a client that did not listen"
        );
    }
    assert_eq!(
        sluice.metric("sluice_clients_pinned_total", "protocol=\"postgres\""),
        Some(1.0)
    );
}

/// A simple Query message.
fn simple_query(sql: &str) -> Vec<u8> {
    let mut q = vec![b'Q'];
    q.extend_from_slice(&((sql.len() + 5) as u32).to_be_bytes());
    q.extend_from_slice(sql.as_bytes());
    q.push(0);
    q
}

/// The ParameterStatus values of a raw login with `extra` startup parameters, or the
/// FATAL error's text when the login is refused.
fn login_parameters(
    sluice: &Sluice,
    extra: &[(&str, &str)],
) -> Result<Vec<(String, String)>, String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", sluice.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&startup_packet_with("rawuser", "appdb", 196_608, extra))
        .unwrap();
    let mut params = Vec::new();
    loop {
        // One message at a time: a refusal ends the connection after its ErrorResponse.
        let (tag, body) = read_until(&mut s, 0).pop().unwrap();
        match tag {
            b'S' => {
                let mut parts = body.split(|&b| b == 0);
                let name = String::from_utf8_lossy(parts.next().unwrap()).into_owned();
                let value = String::from_utf8_lossy(parts.next().unwrap()).into_owned();
                params.push((name, value));
            }
            b'E' => return Err(String::from_utf8_lossy(&body).into_owned()),
            b'Z' => return Ok(params),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_parameters_are_reported_in_the_servers_spelling() {
    let pg = start_postgres();
    for mode in ["session", "transaction"] {
        let sluice = sluice_for_raw_logins(&pg, mode);
        let params = login_parameters(&sluice, &[("client_encoding", "euc-jp")]).unwrap();
        let value = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            value("client_encoding").as_deref(),
            Some("EUC_JP"),
            "{mode}"
        );
        if mode == "session" {
            // The client's own server answers, in its words.
            let params = login_parameters(&sluice, &[("DateStyle", "german")]).unwrap();
            let date_style = params.iter().find(|(k, _)| k == "DateStyle").unwrap();
            assert_eq!(date_style.1, "German, DMY");
            // A value the server refuses fails the login, as it would directly.
            let err = login_parameters(&sluice, &[("client_encoding", "klingon")]).unwrap_err();
            assert!(err.contains("22023") && err.contains("klingon"), "{err}");
            // The refused login left the pooled connection usable.
            let params = login_parameters(&sluice, &[]).unwrap();
            assert!(params
                .iter()
                .any(|(k, v)| k == "client_encoding" && v == "UTF8"));
        }
    }
}

/// A sluice whose user `rawuser` logs in without a password, for tests that speak the
/// protocol byte by byte.
fn sluice_for_raw_logins(pg: &test_support::PgServer, pool_mode: &'static str) -> Sluice {
    Sluice::start(
        pg,
        SluiceOptions {
            pool_mode,
            hba: Some("host all rawuser 127.0.0.1/32 trust\n".into()),
            users: "[users.rawuser]\npassword = \"unused\"\n".into(),
            ..Default::default()
        },
    )
}

/// The process id of the BackendKeyData among a login's messages.
fn process_id_in(welcome: &[(u8, Vec<u8>)]) -> i32 {
    let (_, key) = welcome
        .iter()
        .find(|(tag, _)| *tag == b'K')
        .expect("BackendKeyData");
    i32::from_be_bytes(key[..4].try_into().unwrap())
}

/// Logs `rawuser` in; returns the stream and the welcome up to ReadyForQuery.
fn raw_login(sluice: &Sluice) -> (std::net::TcpStream, Vec<(u8, Vec<u8>)>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", sluice.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    std::io::Write::write_all(&mut s, &startup_packet("rawuser", "appdb", 196_608)).unwrap();
    let welcome = read_until(&mut s, b'Z');
    (s, welcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_session_and_its_server() {
    use std::io::Write;
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 1,
            hba: Some("host all rawuser 127.0.0.1/32 trust\n".into()),
            users: "[users.rawuser]\npassword = \"unused\"\n".into(),
            extra_postgres: "client_write_timeout = \"1s\"".into(),
            extra_database: "checkout_timeout = \"20s\"".into(),
            ..Default::default()
        },
    );
    // A result far larger than the socket buffers, which the client never reads.
    let (mut stalled, _) = raw_login(&sluice);
    stalled
        .write_all(&simple_query(
            "select repeat('x', 1000000) from generate_series(1, 500)",
        ))
        .unwrap();
    // It holds the only server connection: its query runs (or waits to send rows).
    let running = "select count(*) from pg_stat_activity where query like 'select repeat%' \
                   and pid <> pg_backend_pid()";
    for _ in 0..100 {
        if pg.psql(running) == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        pg.psql(running),
        "1",
        "the stalled client's query never started"
    );
    // The only server connection is freed for the next client.
    let (mut next, _) = raw_login(&sluice);
    next.write_all(&simple_query("select 1")).unwrap();
    let answer = read_until(&mut next, b'Z');
    assert!(answer.iter().any(|(tag, _)| *tag == b'D'), "{answer:?}");
    assert!(sluice
        .log()
        .contains("client read nothing for client_write_timeout"));
    drop(stalled);
}
