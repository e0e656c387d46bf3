//! Refusals carry the right SQLSTATE, and bad input harms no other client or pooled
//! server connection.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// Reads what sluice answers to raw bytes until it closes: the ErrorResponse's SQLSTATE
/// when there is one.
fn raw_exchange(port: u16, bytes: &[u8]) -> (Option<String>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(bytes).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut resp = Vec::new();
    let closed = s.read_to_end(&mut resp).is_ok();
    (error_code(&resp), closed)
}

fn error_code(resp: &[u8]) -> Option<String> {
    if resp.first() != Some(&b'E') {
        return None;
    }
    let body = &resp[5..];
    let mut i = 0;
    while i < body.len() && body[i] != 0 {
        let kind = body[i];
        let end = body[i + 1..].iter().position(|&b| b == 0)? + i + 1;
        if kind == b'C' {
            return Some(String::from_utf8_lossy(&body[i + 1..end]).into_owned());
        }
        i = end + 1;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_have_the_right_sqlstate() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 1,
            extra_postgres: "max_client_conn = 4".into(),
            extra_database: "checkout_timeout = \"500ms\"".into(),
            ..Default::default()
        },
    );
    let err = try_connect(&sluice.conn_str(APP_USER, APP_PASSWORD, "nosuchdb"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "3D000", "{err}");
    let err = try_connect(&sluice.conn_str(APP_USER, "wrong", "appdb"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "28P01", "{err}");
    let err = try_connect(&sluice.conn_str("nobody", "x", "appdb"))
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&err),
        "28P01",
        "an unknown user fails like a wrong password: {err}"
    );

    // Pool of one: a second client waits, then gets 53300 naming the pool.
    let holder = sluice.connect().await;
    holder.batch_execute("begin; select 1").await.unwrap();
    let waiter = sluice.connect().await;
    let err = waiter.query_one("select 1", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "53300", "{err}");
    let msg = err.as_db_error().unwrap().message().to_owned();
    assert!(msg.contains("\"appdb\""), "message names the pool: {msg}");
    holder.batch_execute("commit").await.unwrap();

    // Global client limit of 4 (holder and the refused waiter's slot are freed or held).
    let mut keep = Vec::new();
    let mut refused = None;
    for _ in 0..6 {
        match try_connect(&sluice.app_conn_str()).await {
            Ok(c) => keep.push(c),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("the client limit was never reached");
    assert_eq!(sqlstate(&err), "53300", "{err}");
    assert!(keep.len() <= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_error_and_harms_no_one() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 2,
            hba: Some(format!(
                "host all rawuser 127.0.0.1/32 trust\nhost all {APP_USER} all scram-sha-256\n"
            )),
            users: format!(
                "[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n[users.rawuser]\npassword = \"unused\"\n"
            ),
            ..Default::default()
        },
    );
    // A healthy client that keeps working throughout.
    let healthy = sluice.connect().await;
    healthy
        .batch_execute("create table t(x int)")
        .await
        .unwrap();

    // Garbage instead of a startup packet.
    let (code, closed) = raw_exchange(sluice.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(closed);
    assert_eq!(code.as_deref(), Some("08P01"));
    // A startup length of 2 GiB.
    let (code, _) = raw_exchange(sluice.port, &[0x80, 0, 0, 0, 0, 3, 0, 0]);
    assert_eq!(code.as_deref(), Some("08P01"));
    // A truncated startup packet, then EOF: closed without an answer to parse.
    let full = startup_packet(APP_USER, "appdb", 196_608);
    let (_, closed) = raw_exchange(sluice.port, &full[..full.len() - 5]);
    assert!(closed);
    // An unknown protocol version.
    let (code, _) = raw_exchange(sluice.port, &startup_packet(APP_USER, "appdb", 0x0004_0000));
    assert_eq!(code.as_deref(), Some("0A000"));

    // After login: a message with a 2 GiB length and an unknown message type.
    for bad in [
        &b"Q\x7f\xff\xff\xff"[..],
        &b"Y\0\0\0\x04"[..],
        &b"Q\0\0\0\x02"[..],
    ] {
        let mut s = login_raw(&sluice);
        s.write_all(bad).unwrap();
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        // The connection is closed; when sluice says why, it is a protocol violation.
        if let Some(code) = error_code(&resp) {
            assert_eq!(code, "08P01");
        }
    }

    // A client that disconnects mid-transaction: its server is rolled back, not leaked.
    let quitter = sluice.connect().await;
    quitter
        .batch_execute("begin; insert into t values (1)")
        .await
        .unwrap();
    drop(quitter);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A client that stops reading: it floods results it never reads.
    let mut stuck = login_raw(&sluice);
    let q = b"select repeat('z', 1000) from generate_series(1, 100000)\0";
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&((q.len() + 4) as u32).to_be_bytes());
    msg.extend_from_slice(q);
    stuck.write_all(&msg).unwrap();

    // Everyone else is fine: queries work on the remaining server connection, and no
    // server connection is left idle in a transaction or holds the quitter's row.
    for _ in 0..20 {
        let n: i64 = healthy
            .query_one("select count(*) from t", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "the abandoned transaction was committed or leaked");
    }
    let other = sluice.connect().await;
    assert_eq!(
        other
            .query_one("select 9", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        9
    );
    let idle_in_tx = pg.psql(&format!(
        "select count(*) from pg_stat_activity where usename = '{DB_USER}' and state like 'idle in transaction%'"
    ));
    assert_eq!(idle_in_tx, "0");
    drop(stuck);
    let log = sluice.log();
    assert!(log.contains("protocol"), "bad input is logged");
}

/// A logged-in raw connection, as `rawuser`, whom the access rules trust.
fn login_raw(sluice: &Sluice) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", sluice.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&startup_packet("rawuser", "appdb", 196_608))
        .unwrap();
    // Read until ReadyForQuery.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "closed during login: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        if let Some(code) = error_code(&buf) {
            panic!("login refused: {code}");
        }
        if buf.len() >= 6 && buf[buf.len() - 6] == b'Z' {
            return s;
        }
    }
}

/// A client authenticated over a connection from `source` (an address of the loopback
/// network other than 127.0.0.1 stands for another machine).
async fn connect_from(
    sluice: &Sluice,
    source: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    let stream = socket
        .connect(([127, 0, 0, 1], sluice.port).into())
        .await
        .unwrap();
    let config: tokio_postgres::Config = sluice.app_conn_str().parse().unwrap();
    let (client, conn) = config.connect_raw(stream, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_lock_no_app_out() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            extra_postgres:
                "max_client_conn = 2\nmax_handshakes = 8\nmax_handshakes_per_address = 3".into(),
            ..Default::default()
        },
    );
    // Sockets that never say anything, from one address, up to its cap.
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", sluice.port)).unwrap())
        .collect();
    // The next one from that address is refused. (A client that still gets in means
    // one of the sockets was itself refused, while sluice's start-up probe was still
    // counted: another idle socket takes its place.)
    let mut refused = None;
    for _ in 0..100 {
        match connect_from(&sluice, "127.0.0.1").await {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(c) => {
                drop(c);
                idle.push(TcpStream::connect(("127.0.0.1", sluice.port)).unwrap());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let err = refused.unwrap_or_else(|| {
        panic!(
            "the per-address handshake cap was never reached: {}",
            sluice.log()
        )
    });
    assert_eq!(sqlstate(&err), "53300", "{err}");
    let message = err.as_db_error().unwrap().message();
    assert!(message.contains("from this address"), "{message}");

    // Another address still gets in, and the idle sockets take no client slot: two
    // clients fit under max_client_conn = 2.
    let a = connect_from(&sluice, "127.0.0.2").await.unwrap();
    let b = connect_from(&sluice, "127.0.0.3").await.unwrap();
    for c in [&a, &b] {
        let one: i32 = c.query_one("select 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
    }
    // The limit on authenticated clients still holds.
    let err = connect_from(&sluice, "127.0.0.4").await.unwrap_err();
    assert_eq!(sqlstate(&err), "53300", "{err}");
    let message = err.as_db_error().unwrap().message();
    assert!(message.contains("too many clients"), "{message}");

    // Once the idle sockets are gone, their address is welcome again.
    drop(idle);
    drop(a);
    let mut back = None;
    for _ in 0..100 {
        if let Ok(c) = connect_from(&sluice, "127.0.0.1").await {
            back = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = back.expect("127.0.0.1 stayed refused after its idle sockets closed");
    c.simple_query("select 1").await.unwrap();
    let log = sluice.log();
    assert!(
        log.contains("too many connections from this address"),
        "{log}"
    );
}
