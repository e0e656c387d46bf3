//! Bad input from MySQL clients: garbage, oversized or truncated packets, wrong
//! sequence ids, unknown commands, clients that stop reading or vanish mid-transaction.
//! Each gets an ERR packet or a clean close, is logged, and harms neither the clients
//! already connected (one of them mid-transaction on a pinned connection) nor the pool.

mod mysql_support;

use std::io::ErrorKind;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_support::*;
use test_support::MariaDbServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Longest wait for an answer or a close before calling it a hang.
const HANG: Duration = Duration::from_secs(10);

/// Lets raw clients in without a scramble: the test is about what follows the login.
const TRUST: &str = "host all all 127.0.0.1/32 trust\n";

const PROTOCOL_41: u32 = 1 << 9;
const CONNECT_WITH_DB: u32 = 1 << 3;
const SECURE_CONNECTION: u32 = 1 << 15;
const PLUGIN_AUTH: u32 = 1 << 19;
const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;

const COM_QUERY: u8 = 0x03;

/// A checkout timeout well above any legitimate wait here, so that a client left
/// waiting fails with sluice's error rather than the default 30 s later.
fn options(m: &MariaDbServer, pool_size: usize) -> Options {
    Options {
        pool_size,
        hba: Some(TRUST.into()),
        extra_database: "checkout_timeout = \"10s\"".into(),
        ..Options::new(vec![m.port()])
    }
}

/// Where mysql_async clients connect. `prefer_socket=false`: otherwise the driver
/// asks for `@@socket` and tries the server's own socket, bypassing sluice.
fn client_url(s: &MySluice) -> String {
    format!(
        "{}?prefer_socket=false",
        s.url(s.rw_port, APP_USER, APP_PASSWORD, DATABASE)
    )
}

async fn try_connect(url: &str) -> Result<mysql_async::Conn, mysql_async::Error> {
    mysql_async::Conn::new(mysql_async::Opts::from_url(url).unwrap()).await
}

async fn client(s: &MySluice) -> mysql_async::Conn {
    match try_connect(&client_url(s)).await {
        Ok(c) => c,
        Err(e) => panic!("cannot connect through sluice: {e}"),
    }
}

/// Deterministic noise, so that a failure replays the same bytes.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// A HandshakeResponse41 for `APP_USER` on `DATABASE` with an empty auth response.
fn handshake_response() -> Vec<u8> {
    let caps = PROTOCOL_41
        | SECURE_CONNECTION
        | PLUGIN_AUTH
        | PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CONNECT_WITH_DB;
    let mut p = caps.to_le_bytes().to_vec();
    p.extend_from_slice(&(16u32 << 20).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(APP_USER.as_bytes());
    p.push(0);
    p.push(0); // auth response: lenenc, empty
    p.extend_from_slice(DATABASE.as_bytes());
    p.push(0);
    p.extend_from_slice(b"caching_sha2_password\0");
    p
}

#[derive(Debug)]
enum Reply {
    Packet(u8, Vec<u8>),
    /// End of stream or a reset: either way the connection is gone.
    Closed,
}

/// A hand-written MySQL client, to send what no driver would.
struct Raw {
    rd: OwnedReadHalf,
    wr: Option<OwnedWriteHalf>,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects and reads sluice's greeting.
    async fn connect(port: u16) -> Raw {
        let (rd, wr) = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap()
            .into_split();
        let mut raw = Raw {
            rd,
            wr: Some(wr),
            buf: Vec::new(),
        };
        match raw.next().await {
            Reply::Packet(0, p) if p.first() == Some(&10) => raw,
            other => panic!("expected a protocol 10 greeting, got {other:?}"),
        }
    }

    /// Connects and logs in as the app (the route trusts 127.0.0.1).
    async fn login(port: u16) -> Raw {
        let mut raw = Raw::connect(port).await;
        raw.send(&packet(1, &handshake_response())).await;
        match raw.next().await {
            Reply::Packet(2, p) if p.first() == Some(&0x00) => raw,
            other => panic!("expected the OK that ends the handshake, got {other:?}"),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        let wr = self.wr.as_mut().expect("writer still here");
        wr.write_all(bytes).await.unwrap();
    }

    /// Writes from a task of its own, so that reading goes on while sluice may stop
    /// reading; write errors (sluice closed) are expected and ignored.
    fn send_in_background(&mut self, bytes: Vec<u8>) {
        let mut wr = self.wr.take().expect("writer still here");
        tokio::spawn(async move {
            let _ = wr.write_all(&bytes).await;
            // Keep the write half open until the test is done reading.
            tokio::time::sleep(HANG * 2).await;
        });
    }

    /// The client sends nothing more (a half close: it still reads).
    async fn finish_writing(&mut self) {
        if let Some(mut wr) = self.wr.take() {
            let _ = wr.shutdown().await;
        }
    }

    async fn next(&mut self) -> Reply {
        match tokio::time::timeout(HANG, self.next_inner()).await {
            Ok(r) => r,
            Err(_) => panic!("sluice neither answered nor closed within {HANG:?}"),
        }
    }

    async fn next_inner(&mut self) -> Reply {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], 0]) as usize;
                if self.buf.len() >= 4 + len {
                    let seq = self.buf[3];
                    let payload = self.buf[4..4 + len].to_vec();
                    self.buf.drain(..4 + len);
                    return Reply::Packet(seq, payload);
                }
            }
            let mut chunk = vec![0u8; 64 * 1024];
            match self.rd.read(&mut chunk).await {
                Ok(0) => return Reply::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                    ) =>
                {
                    return Reply::Closed
                }
                Err(e) => panic!("reading from sluice failed: {e}"),
            }
        }
    }

    /// The next packet must be an ERR with sequence id `seq`; returns its code and message.
    async fn expect_err(&mut self, seq: u8) -> (u16, String) {
        match self.next().await {
            Reply::Packet(s, p) if p.first() == Some(&0xFF) && p.len() >= 9 => {
                assert_eq!(s, seq, "sequence id of the ERR packet");
                let code = u16::from_le_bytes([p[1], p[2]]);
                (code, String::from_utf8_lossy(&p[3..]).into_owned())
            }
            other => panic!("expected an ERR packet, got {other:?}"),
        }
    }

    async fn expect_closed(&mut self) {
        match self.next().await {
            Reply::Closed => {}
            other => panic!("expected sluice to close the connection, got {other:?}"),
        }
    }

    /// An ERR packet followed by a close, or a close right away: the code if any.
    async fn expect_err_or_close(&mut self) -> Option<u16> {
        match self.next().await {
            Reply::Closed => None,
            Reply::Packet(_, p) if p.first() == Some(&0xFF) && p.len() >= 3 => {
                self.expect_closed().await;
                Some(u16::from_le_bytes([p[1], p[2]]))
            }
            other => panic!("expected an ERR packet or a close, got {other:?}"),
        }
    }

    /// Runs a text query and returns its rows' raw payloads; panics on ERR.
    async fn query(&mut self, sql: &str) -> Vec<Vec<u8>> {
        let mut p = vec![COM_QUERY];
        p.extend_from_slice(sql.as_bytes());
        self.send(&packet(0, &p)).await;
        let first = match self.next().await {
            Reply::Packet(_, p) => p,
            Reply::Closed => panic!("sluice closed the connection instead of answering {sql:?}"),
        };
        match first.first() {
            Some(0x00) => return Vec::new(),
            Some(0xFF) => panic!("{sql:?} failed: {}", String::from_utf8_lossy(&first[3..])),
            _ => {}
        }
        let columns = usize::from(first[0]);
        assert!(columns < 0xFB, "unexpected column count packet {first:?}");
        let is_eof = |p: &[u8]| p.first() == Some(&0xFE) && p.len() < 9;
        for _ in 0..columns {
            match self.next().await {
                Reply::Packet(_, p) if !is_eof(&p) => {}
                other => panic!("expected a column definition, got {other:?}"),
            }
        }
        match self.next().await {
            Reply::Packet(_, p) if is_eof(&p) => {}
            other => panic!("expected the EOF after the columns, got {other:?}"),
        }
        let mut rows = Vec::new();
        loop {
            match self.next().await {
                Reply::Packet(_, p) if is_eof(&p) => return rows,
                Reply::Packet(_, p) if p.first() == Some(&0xFF) => {
                    panic!("{sql:?} failed: {}", String::from_utf8_lossy(&p[3..]))
                }
                Reply::Packet(_, p) => rows.push(p),
                Reply::Closed => panic!("sluice closed the connection mid-result"),
            }
        }
    }
}

/// A client that is mid-transaction on a pinned connection (a user variable) when the
/// bad input arrives: it must keep its connection, its variable and its own row.
struct Bystander {
    conn: mysql_async::Conn,
}

impl Bystander {
    async fn start(s: &MySluice) -> Bystander {
        let mut conn = client(s).await;
        conn.query_drop("CREATE TABLE IF NOT EXISTS held (id INT PRIMARY KEY) ENGINE=InnoDB")
            .await
            .unwrap();
        conn.query_drop("SET @mark = 42").await.unwrap();
        conn.query_drop("START TRANSACTION").await.unwrap();
        conn.query_drop("INSERT INTO held VALUES (1)")
            .await
            .unwrap();
        Bystander { conn }
    }

    async fn check(&mut self, after: &str) {
        let r: Result<Option<(i64, i64, i64)>, _> = self
            .conn
            .query_first("SELECT (SELECT COUNT(*) FROM held), @mark, @@in_transaction")
            .await;
        match r {
            Ok(Some((rows, mark, in_tx))) => assert_eq!(
                (rows, mark, in_tx),
                (1, 42, 1),
                "after {after}: the bystander lost its row, variable or transaction"
            ),
            other => panic!("after {after}: the bystander's query failed: {other:?}"),
        }
    }

    /// Commits: the row becomes visible to everyone.
    async fn commit(mut self, s: &MySluice) {
        self.conn.query_drop("COMMIT").await.unwrap();
        self.conn.disconnect().await.unwrap();
        let mut c = client(s).await;
        let n: i64 = c
            .query_first("SELECT COUNT(*) FROM held")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "the bystander's committed row");
        c.disconnect().await.unwrap();
    }
}

/// After `after`: the bystander goes on, a new client is served and does not see the
/// bystander's uncommitted row, and the pool did not grow past its size (plus the
/// member watcher's connection).
async fn assert_unharmed(
    s: &MySluice,
    m: &MariaDbServer,
    by: &mut Bystander,
    pool_size: usize,
    after: &str,
) {
    by.check(after).await;
    let mut c = client(s).await;
    let r: Result<Option<(i64, i64)>, _> = c
        .query_first("SELECT 1 + 1, (SELECT COUNT(*) FROM held)")
        .await;
    match r {
        Ok(Some(v)) => assert_eq!(v, (2, 0), "after {after}: a new client's view"),
        other => panic!("after {after}: a new client's query failed: {other:?}"),
    }
    c.disconnect().await.unwrap();
    let n = server_connections(m);
    assert!(
        n <= pool_size + 1,
        "after {after}: {n} server connections with a pool of {pool_size}"
    );
}

/// Waits for sluice to log `needle` (it writes asynchronously).
fn assert_logged(s: &MySluice, needle: &str) {
    assert!(
        eventually(Duration::from_secs(5), || s.log().contains(needle)),
        "sluice's log does not mention {needle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_a_handshake_response_is_refused() {
    let m = start_mariadb();
    let s = MySluice::start(options(&m, 2));
    let mut by = Bystander::start(&s).await;

    // Noise whose first bytes announce a packet larger than any handshake response.
    let mut bytes = noise(64, 0x5EED);
    bytes[2] |= 0x10;
    let mut raw = Raw::connect(s.rw_port).await;
    raw.send(&bytes).await;
    raw.finish_writing().await;
    raw.expect_err_or_close().await;
    assert_unharmed(&s, &m, &mut by, 2, "random bytes").await;

    // Someone pointing a web browser or health check at the MySQL port.
    let mut raw = Raw::connect(s.rw_port).await;
    raw.send(b"GET / HTTP/1.1\r\n\r\n").await;
    raw.finish_writing().await;
    raw.expect_err_or_close().await;
    assert_unharmed(&s, &m, &mut by, 2, "an HTTP request").await;

    // Noise in a well-formed packet (protocol 4.1 flag cleared: never a valid response).
    let mut payload = noise(64, 0xBAD);
    payload[1] &= !((PROTOCOL_41 >> 8) as u8);
    let mut raw = Raw::connect(s.rw_port).await;
    raw.send(&packet(1, &payload)).await;
    let (code, msg) = raw.expect_err(2).await;
    assert_eq!(code, 1835, "{msg}");
    raw.expect_closed().await;
    assert_unharmed(&s, &m, &mut by, 2, "a packet of random bytes").await;

    assert_logged(&s, "MySQL handshake failed");
    assert_logged(&s, "Malformed communication packet");
    by.commit(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_header_without_its_body_ends_only_that_client() {
    let m = start_mariadb();
    let s = MySluice::start(options(&m, 2));
    let mut by = Bystander::start(&s).await;
    let header = |seq: u8| vec![0xFF, 0xFF, 0xFF, seq];

    // Instead of the handshake response.
    let mut raw = Raw::connect(s.rw_port).await;
    raw.send(&header(1)).await;
    raw.finish_writing().await;
    raw.expect_err_or_close().await;
    assert_unharmed(&s, &m, &mut by, 2, "a 16 MiB header before auth").await;

    // As a command; the client then stops sending but still reads.
    let mut raw = Raw::login(s.rw_port).await;
    raw.send(&header(0)).await;
    raw.finish_writing().await;
    raw.expect_err_or_close().await;
    assert_unharmed(&s, &m, &mut by, 2, "a 16 MiB header as a command").await;

    // As a command; the client then closes its socket altogether.
    let mut raw = Raw::login(s.rw_port).await;
    raw.send(&header(0)).await;
    drop(raw);
    assert_unharmed(&s, &m, &mut by, 2, "a 16 MiB header, then a close").await;

    assert_logged(&s, "closed mid-packet");
    by.commit(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_over_max_packet_size_gets_error_1153() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        extra_mysql: "max_packet_size = 1048576".into(),
        ..options(&m, 2)
    });
    let mut by = Bystander::start(&s).await;
    let mut raw = Raw::login(s.rw_port).await;
    let mut query = b"\x03SELECT '".to_vec();
    query.resize(2 << 20, b'x');
    query.push(b'\'');
    raw.send_in_background(packet(0, &query));
    let (code, msg) = raw.expect_err(1).await;
    assert_eq!(code, 1153, "{msg}");
    raw.expect_closed().await;
    assert_unharmed(&s, &m, &mut by, 2, "a 2 MiB command").await;
    assert_logged(&s, "over the size limit");
    by.commit(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_with_a_wrong_sequence_id_gets_error_1156() {
    let m = start_mariadb();
    let s = MySluice::start(options(&m, 2));
    let mut by = Bystander::start(&s).await;
    let mut raw = Raw::login(s.rw_port).await;
    raw.send(&packet(5, b"\x03SELECT 1")).await;
    let (code, msg) = raw.expect_err(6).await;
    assert_eq!(code, 1156, "{msg}");
    raw.expect_closed().await;
    assert_unharmed(&s, &m, &mut by, 2, "a command with sequence id 5").await;
    assert_logged(&s, "non-zero sequence id");
    by.commit(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_handshake_response_gets_error_1835() {
    let m = start_mariadb();
    let s = MySluice::start(options(&m, 2));
    let mut by = Bystander::start(&s).await;
    let mut raw = Raw::connect(s.rw_port).await;
    raw.send(&packet(1, &handshake_response()[..10])).await;
    let (code, msg) = raw.expect_err(2).await;
    assert_eq!(code, 1835, "{msg}");
    raw.expect_closed().await;
    assert_unharmed(&s, &m, &mut by, 2, "a truncated handshake response").await;
    assert_logged(&s, "MySQL client refused");
    by.commit(&s).await;
}

/// COM_STMT_SEND_LONG_DATA gets no reply, so an error on it cannot be answered: the
/// session closes rather than send an ERR the client would take for its next answer.
/// Long data for an unknown statement is dropped, as servers do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_on_long_data_closes_the_session_without_a_stray_reply() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 1,
        hba: Some(TRUST.into()),
        extra_database: "checkout_timeout = \"1s\"".into(),
        ..Options::new(vec![m.port()])
    });
    let mut raw = Raw::login(s.rw_port).await;
    raw.send(&packet(0, b"\x18\x63\x00\x00\x00\x00\x00data"))
        .await;
    assert_eq!(raw.query("SELECT 1").await, vec![b"\x011".to_vec()]);

    raw.send(&packet(0, b"\x16SELECT ?")).await;
    let ok = match raw.next().await {
        Reply::Packet(1, p) if p.first() == Some(&0x00) && p.len() >= 12 => p,
        other => panic!("expected PREPARE_OK, got {other:?}"),
    };
    let columns = usize::from(u16::from_le_bytes([ok[5], ok[6]]));
    let params = usize::from(u16::from_le_bytes([ok[7], ok[8]]));
    let definitions = params + usize::from(params > 0) + columns + usize::from(columns > 0);
    for _ in 0..definitions {
        assert!(matches!(raw.next().await, Reply::Packet(..)));
    }
    // The only server connection is held by a transaction: the long data cannot be
    // passed on within the checkout timeout.
    let mut holder = client(&s).await;
    holder.query_drop("BEGIN").await.unwrap();
    holder.query_drop("SELECT 1").await.unwrap();
    let mut long_data = vec![0x18];
    long_data.extend_from_slice(&ok[1..5]);
    long_data.extend_from_slice(b"\x00\x00data");
    raw.send(&packet(0, &long_data)).await;
    raw.expect_closed().await;
    assert_logged(&s, "command that has no reply");
    holder.query_drop("COMMIT").await.unwrap();
    let mut after = client(&s).await;
    let one: u8 = after.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_command_gets_error_1047_and_the_session_goes_on() {
    let m = start_mariadb();
    let s = MySluice::start(options(&m, 2));
    let mut by = Bystander::start(&s).await;
    let mut raw = Raw::login(s.rw_port).await;
    raw.send(&packet(0, b"\x50garbage")).await;
    let (code, msg) = raw.expect_err(1).await;
    assert_eq!(code, 1047, "{msg}");
    let rows = raw.query("SELECT 1").await;
    assert_eq!(rows, vec![b"\x011".to_vec()]);
    raw.send(&packet(0, &[0x01])).await; // COM_QUIT
    raw.expect_closed().await;
    assert_unharmed(&s, &m, &mut by, 2, "an unknown command").await;
    by.commit(&s).await;
}

/// A client that leaves a result unread for `client_write_timeout` loses its session,
/// and its server connection goes back into service (as net_write_timeout on a server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_after_client_write_timeout() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 1,
        hba: Some(TRUST.into()),
        extra_mysql: "client_write_timeout = \"1s\"".into(),
        extra_database: "checkout_timeout = \"20s\"".into(),
        ..Options::new(vec![m.port()])
    });
    let mut stuck = Raw::login(s.rw_port).await;
    stuck
        .send(&packet(
            0,
            b"\x03SELECT REPEAT('x', 1000000) FROM seq_1_to_200",
        ))
        .await;
    // The only server connection is the stuck client's until the timeout ends it;
    // without the timeout this client would fail after the 20 s checkout timeout.
    let mut next = client(&s).await;
    let one: u8 = next.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
    assert!(
        eventually(Duration::from_secs(5), || s
            .log()
            .contains("client_write_timeout")),
        "{}",
        s.log()
    );
    drop(stuck);
}

/// A client that sends a query with a huge result and never reads it holds one server
/// connection while it lives, and only that one; when it goes, so does the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_stops_reading_holds_only_its_own_connection() {
    let m = start_mariadb();
    // The bystander holds one connection and the stuck client another: one is left
    // for everybody else.
    let pool_size = 3;
    let s = MySluice::start(options(&m, pool_size));
    let mut by = Bystander::start(&s).await;
    let mut stuck = Raw::login(s.rw_port).await;
    stuck
        .send(&packet(
            0,
            b"\x03SELECT REPEAT('x', 1000000) FROM seq_1_to_200",
        ))
        .await;
    let running = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE USER = '{DB_USER}' AND INFO LIKE 'SELECT REPEAT%'"
    );
    assert!(
        eventually(Duration::from_secs(20), || m.sql(&running).trim() == "1"),
        "the stuck client's query never reached the server"
    );

    let mut tasks = Vec::new();
    for i in 0..10i64 {
        let url = client_url(&s);
        tasks.push(tokio::spawn(async move {
            let mut c = try_connect(&url)
                .await
                .unwrap_or_else(|e| panic!("a client was not served: {e}"));
            for j in 0..5i64 {
                let v: i64 = c
                    .query_first(format!("SELECT {i} * 10 + {j}"))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(v, i * 10 + j);
            }
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("clients beside a stuck one were not served")
            .unwrap();
    }
    by.check("a client stopped reading").await;

    drop(stuck);
    assert!(
        eventually(Duration::from_secs(20), || m.sql(&running).trim() == "0"),
        "the stuck client's server connection still runs its query after the client left"
    );
    // Both other connections at once, beside the bystander's: only possible if the
    // stuck client's connection came back to the pool.
    let mut both = Vec::new();
    for id in [10, 11] {
        let url = client_url(&s);
        both.push(tokio::spawn(async move {
            let mut c = try_connect(&url).await?;
            c.query_drop("START TRANSACTION").await?;
            c.query_drop(format!("INSERT INTO held VALUES ({id})"))
                .await?;
            Ok::<_, mysql_async::Error>(c)
        }));
    }
    let mut held = Vec::new();
    for t in both {
        let c = tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("waiting for a server connection hung")
            .unwrap()
            .unwrap_or_else(|e| panic!("no server connection after the stuck client left: {e}"));
        held.push(c);
    }
    let n = server_connections(&m);
    assert!(
        n <= pool_size + 1,
        "{n} server connections with a pool of {pool_size}"
    );
    for mut c in held {
        c.query_drop("ROLLBACK").await.unwrap();
        c.disconnect().await.unwrap();
    }
    assert_unharmed(&s, &m, &mut by, pool_size, "a client that stopped reading").await;
    by.commit(&s).await;
}

/// Transactions of clients that vanish are rolled back, and no pooled connection is
/// handed on with a transaction open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_gone_mid_transaction_leave_nothing_behind() {
    let m = start_mariadb();
    let s = MySluice::start(options(&m, 2));
    let mut by = Bystander::start(&s).await;
    let mut setup = client(&s).await;
    setup
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await
        .unwrap();
    setup.disconnect().await.unwrap();

    // A driver's connection dropped without COMMIT.
    let mut a = client(&s).await;
    a.query_drop("START TRANSACTION").await.unwrap();
    a.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    drop(a);
    assert_unharmed(&s, &m, &mut by, 2, "a dropped connection mid-transaction").await;

    // A socket closed after its INSERT was answered.
    let mut raw = Raw::login(s.rw_port).await;
    raw.query("START TRANSACTION").await;
    raw.query("INSERT INTO t VALUES (2)").await;
    drop(raw);
    assert_unharmed(&s, &m, &mut by, 2, "a socket closed mid-transaction").await;

    // A socket closed right after sending its INSERT, without waiting for the answer.
    let mut raw = Raw::login(s.rw_port).await;
    raw.query("START TRANSACTION").await;
    raw.send(&packet(0, b"\x03INSERT INTO t VALUES (3)")).await;
    drop(raw);
    assert_unharmed(&s, &m, &mut by, 2, "a socket closed mid-INSERT").await;

    let only_the_bystander = || {
        m.sql("SELECT COUNT(*) FROM information_schema.INNODB_TRX")
            .trim()
            == "1"
    };
    assert!(
        eventually(Duration::from_secs(10), only_the_bystander),
        "transactions of departed clients are still open on the server:\n{}",
        m.sql("SELECT trx_mysql_thread_id, trx_query FROM information_schema.INNODB_TRX")
    );
    for _ in 0..5 {
        let mut c = client(&s).await;
        let (rows, in_tx): (i64, i64) = c
            .query_first("SELECT (SELECT COUNT(*) FROM t), @@in_transaction")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            rows, 0,
            "a departed client's uncommitted row became visible"
        );
        assert_eq!(in_tx, 0, "a connection came back with an open transaction");
        c.disconnect().await.unwrap();
    }
    by.commit(&s).await;
}

/// Every kind of bad client, several times over, against a pool of two of which the
/// bystander holds one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_two_survives_many_bad_clients() {
    let m = start_mariadb();
    let s = MySluice::start(options(&m, 2));
    let mut by = Bystander::start(&s).await;
    for round in 0..3u64 {
        let mut raw = Raw::connect(s.rw_port).await;
        raw.send(&noise(64, round + 1)).await;
        raw.finish_writing().await;
        // Noise may announce a short packet that never completes: sluice may then
        // wait for the rest, which is fine for a client that is gone.
        drop(raw);

        let mut raw = Raw::connect(s.rw_port).await;
        raw.send(b"GET / HTTP/1.1\r\n\r\n").await;
        raw.finish_writing().await;
        raw.expect_err_or_close().await;

        let mut raw = Raw::connect(s.rw_port).await;
        raw.send(&packet(1, &handshake_response()[..10])).await;
        raw.expect_err(2).await;
        raw.expect_closed().await;

        let mut raw = Raw::login(s.rw_port).await;
        raw.send(&[0xFF, 0xFF, 0xFF, 0]).await;
        drop(raw);

        let mut raw = Raw::login(s.rw_port).await;
        raw.send(&packet(3, b"\x03SELECT 1")).await;
        raw.expect_err(4).await;
        raw.expect_closed().await;

        let mut raw = Raw::login(s.rw_port).await;
        raw.send(&packet(0, b"\x50")).await;
        raw.expect_err(1).await;
        raw.query("START TRANSACTION").await;
        raw.query("SELECT COUNT(*) FROM held").await;
        drop(raw);

        let mut raw = Raw::login(s.rw_port).await;
        raw.send(&packet(
            0,
            b"\x03SELECT REPEAT('y', 100000) FROM seq_1_to_100",
        ))
        .await;
        drop(raw);
    }
    let mut tasks = Vec::new();
    for i in 0..6i64 {
        let url = client_url(&s);
        tasks.push(tokio::spawn(async move {
            let mut c = try_connect(&url)
                .await
                .unwrap_or_else(|e| panic!("a client was not served: {e}"));
            for j in 0..10i64 {
                let v: i64 = c
                    .query_first(format!("SELECT {i} * 100 + {j}"))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(v, i * 100 + j);
            }
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("clients after the bad ones were not served")
            .unwrap();
    }
    assert_unharmed(&s, &m, &mut by, 2, "many bad clients").await;
    by.commit(&s).await;
}

/// A TCP forwarder between sluice and the server that can cut every connection at once,
/// as a crashed server or a broken network would.
struct Cutter {
    port: u16,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Cutter {
    async fn start(target: u16) -> Cutter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cuts = cuts.clone();
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        // Both ends are dropped: sluice sees its server go away.
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Cutter { port, cut }
    }

    fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

/// The server connection breaks while a result streams to the client: the client gets
/// error 1158 in sequence after the packets it already had (its driver reports it as
/// such, not as a protocol error), its session ends, and sluice serves others at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_connection_lost_mid_result_ends_only_that_session_with_1158() {
    let m = start_mariadb();
    let cutter = Cutter::start(m.port()).await;
    let s = MySluice::start(Options {
        pool_size: 2,
        hba: Some(TRUST.into()),
        ..Options::new(vec![cutter.port])
    });
    let mut victim = client(&s).await;
    let mut rows = victim
        .query_iter("SELECT REPEAT('x', 200) FROM seq_1_to_1000000")
        .await
        .unwrap();
    let first: Option<mysql_async::Row> = rows.next().await.unwrap();
    assert!(first.is_some());
    cutter.cut_all();
    let mut failure = None;
    loop {
        match rows.next().await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure
        .expect("the result cannot end normally after the cut")
        .to_string();
    assert!(err.contains("1158"), "{err}");
    drop(rows);
    assert_logged(&s, "server connection failed");
    let mut next = client(&s).await;
    let one: u8 = next.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
}
