//! Differential test of the PostgreSQL protocol: random conversations of extended-protocol
//! messages (Parse/Bind/Describe/Execute/Close/Sync/Flush, named and unnamed statements
//! and portals, errors at random points, several Syncs per batch) and simple queries
//! between them go to PostgreSQL directly and through sluice, written in random splits
//! with pauses between the writes so that the client's messages and the server's
//! replies interleave differently each time. The replies must match message for message
//! (sluice's statement names and its ParameterStatus aside) and no session may end.
//!
//! The run is reproducible from its seed, printed at the start and on a failure:
//! `SLUICE_DIFF_SEED=<seed> cargo test -p sluice --test pg_differential`.
//! `SLUICE_DIFF_CONVERSATIONS` sets how many conversations each pooling mode runs.

mod common;
mod split_writes;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use split_writes::{env_or, random_split, seed, write_pieces, Pause};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

const WORKERS: usize = 4;
const DEFAULT_CONVERSATIONS: usize = 2000;

trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A logged-in raw protocol connection.
struct Conn {
    reader: ReadHalf<Box<dyn Io>>,
    writer: Option<WriteHalf<Box<dyn Io>>>,
    buf: BytesMut,
}

/// Where a connection goes.
#[derive(Clone)]
enum Target {
    /// PostgreSQL's own socket, where the test role is trusted.
    Direct { socket: PathBuf },
    /// sluice, as a user its access rules trust.
    Sluice { port: u16 },
}

impl Target {
    async fn connect(&self) -> Conn {
        let (stream, user): (Box<dyn Io>, &str) = match self {
            Target::Direct { socket } => (
                Box::new(tokio::net::UnixStream::connect(socket).await.unwrap()),
                DB_USER,
            ),
            Target::Sluice { port } => (
                Box::new(
                    tokio::net::TcpStream::connect(("127.0.0.1", *port))
                        .await
                        .unwrap(),
                ),
                "rawuser",
            ),
        };
        let (reader, mut writer) = tokio::io::split(stream);
        writer
            .write_all(&startup_packet(user, "appdb", 196_608))
            .await
            .unwrap();
        let mut conn = Conn {
            reader,
            writer: Some(writer),
            buf: BytesMut::new(),
        };
        loop {
            let (tag, body) = conn.next_message().await.expect("login");
            match tag {
                b'E' => panic!("login refused: {}", describe(tag, &body)),
                b'Z' => return conn,
                _ => {}
            }
        }
    }
}

impl Conn {
    async fn next_message(&mut self) -> Result<(u8, Vec<u8>), String> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
                if self.buf.len() > len {
                    let tag = self.buf[0];
                    self.buf.advance(5);
                    let body = self.buf.split_to(len - 4).to_vec();
                    return Ok((tag, body));
                }
            }
            self.buf.reserve(8192);
            match self.reader.read_buf(&mut self.buf).await {
                Ok(0) => return Err("the connection was closed".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Writes `chunks` (pausing as told between them) while reading the replies, up to
    /// the end marker's row and the ReadyForQuery after it.
    async fn converse(
        &mut self,
        chunks: Vec<(Vec<u8>, Pause)>,
        marker: &str,
    ) -> Result<Vec<String>, String> {
        let mut writer = self.writer.take().expect("writer");
        let write = tokio::spawn(async move {
            write_pieces(&mut writer, &chunks).await?;
            Ok::<_, std::io::Error>(writer)
        });
        let read = async {
            let mut replies = Vec::new();
            let mut marker_seen = false;
            loop {
                let (tag, body) = self.next_message().await?;
                match tag {
                    // sluice's own settings replay and startup may add these.
                    b'S' | b'K' => continue,
                    b'D' if describe(tag, &body).contains(marker) => marker_seen = true,
                    b'Z' if marker_seen => return Ok(replies),
                    _ => {}
                }
                replies.push(describe(tag, &body));
            }
        };
        let replies = tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .map_err(|_| "no end of conversation within 20 s".to_string())
            .and_then(|r| r);
        let writer = write.await.unwrap().map_err(|e| format!("write: {e}"))?;
        self.writer = Some(writer);
        replies
    }
}

/// A server message in readable form.
fn describe(tag: u8, body: &[u8]) -> String {
    match tag {
        b'E' | b'N' => {
            let mut out = String::from(if tag == b'E' { "Error" } else { "Notice" });
            let mut rest = body;
            while let Some((&kind, after)) = rest.split_first() {
                if kind == 0 {
                    break;
                }
                let nul = after.iter().position(|&b| b == 0).unwrap_or(after.len());
                let value = String::from_utf8_lossy(&after[..nul]);
                // File, line and routine name the server's source, not the answer.
                if !matches!(kind, b'F' | b'L' | b'R') {
                    let value = mask_statement_names(&value);
                    let _ = write!(out, " {}={value}", kind as char);
                }
                rest = after.get(nul + 1..).unwrap_or_default();
            }
            out
        }
        b'D' => {
            let mut out = String::from("DataRow");
            let mut b = body;
            let n = b.get_u16();
            for _ in 0..n {
                let len = b.get_i32();
                if len < 0 {
                    out.push_str(" NULL");
                } else {
                    let v = &b[..len as usize];
                    let _ = write!(out, " {:?}", String::from_utf8_lossy(v));
                    b.advance(len as usize);
                }
            }
            out
        }
        b'C' => format!(
            "CommandComplete {}",
            String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(body))
        ),
        b'Z' => format!("ReadyForQuery {}", body[0] as char),
        b'1' => "ParseComplete".into(),
        b'2' => "BindComplete".into(),
        b'3' => "CloseComplete".into(),
        b'n' => "NoData".into(),
        b's' => "PortalSuspended".into(),
        b'I' => "EmptyQueryResponse".into(),
        other => format!("{} {body:02x?}", other as char),
    }
}

/// Masks the statement name in the one server message that names the statement a Bind
/// used (through sluice, the server's own name for it). Elsewhere a name differs only
/// where sluice is wrong.
fn mask_statement_names(text: &str) -> String {
    if !text.starts_with("bind message supplies") {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("prepared statement \"") {
        let start = at + "prepared statement \"".len();
        out.push_str(&rest[..start]);
        let end = rest[start..].find('"').map_or(rest.len(), |e| start + e);
        out.push('…');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A query a Parse may carry, and whether it fails at Parse. A failing one is not
/// prepared under a name in transaction mode, where sluice answers a lone Parse of a
/// named statement before the server sees it (docs/configuration.md, transaction mode).
/// Each query names its column, so that a Describe tells them apart.
const QUERIES: &[(&str, bool)] = &[
    ("select 1 as one", false),
    ("select $1::int + 1 as plus", false),
    // Volatile, so that a zero fails at Execute whether the server plans it for the
    // parameter (folding it at Bind) or generically: a shared statement's plan cache
    // has seen other clients' executions.
    (
        "select 10 / ($1::int + (random() * 0)::int) as divided",
        false,
    ),
    ("select generate_series(1, $1::int) as series", false),
    ("select 1/0 as fails", false),
    ("", false),
    ("commit", false),
    ("rollback", false),
    ("set extra_float_digits = 2", false),
    ("show extra_float_digits", false),
    // Drop every statement when they complete: later named messages wait for them.
    ("deallocate all", false),
    ("selec 1", true),
    ("select * from no_such_table", true),
];

const SIMPLE: &[&str] = &[
    "select 1",
    "select 1/0",
    "begin",
    "commit",
    "rollback",
    "select 1; select 2",
    "select 1; select 1/0; select 3",
    "deallocate all",
    "discard all",
    "show extra_float_digits",
    "set extra_float_digits = 3",
    "reset extra_float_digits",
    "",
];

const STATEMENTS: &[&str] = &["", "s0", "s1", "s2"];
const PORTALS: &[&str] = &["", "p0", "p1"];

fn message(out: &mut Vec<u8>, tag: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// A Describe or Close (`tag`) of `statement` or, half the time or when there is no
/// statement to name, of a portal.
fn target_message(
    rng: &mut StdRng,
    out: &mut Vec<u8>,
    shown: &mut Vec<String>,
    tag: u8,
    statement: Option<&'static str>,
) {
    let (kind, name) = match statement.filter(|_| rng.gen_bool(0.5)) {
        Some(name) => (b'S', name),
        None => (b'P', *pick(rng, PORTALS)),
    };
    message(out, tag, |b| {
        b.push(kind);
        cstr(b, name);
    });
    let what = if tag == b'D' { "Describe" } else { "Close" };
    shown.push(format!("{what} {} {name:?}", kind as char));
}

/// One random conversation: its bytes, a readable list of its messages, and the
/// marker its last query returns.
fn conversation(
    rng: &mut StdRng,
    n: usize,
    transaction_mode: bool,
) -> (Vec<u8>, Vec<String>, String) {
    let mut out = Vec::new();
    let mut shown = Vec::new();
    // Statements a message may name. In transaction mode the unnamed statement lives
    // on the server connection of its batch, so it is named only in the batch that
    // parsed it; and in a transaction block that may have failed, a named statement that
    // the server connection does not hold yet cannot be prepared there (sluice answers
    // 25P02 where PostgreSQL may describe it or report a wrong parameter count first),
    // so none is named there. Both are in docs/configuration.md; session mode has neither.
    let mut unnamed_parsed = false;
    let mut in_block = false;
    // Extended-protocol messages were sent since the latest Sync.
    let mut batch_open = false;
    let statement = |rng: &mut StdRng, unnamed_parsed: bool, in_block: bool| {
        let unnamed = unnamed_parsed || !transaction_mode;
        match (unnamed, in_block && transaction_mode) {
            (false, true) => None,
            (true, true) => Some(""),
            (false, false) => Some(*pick(rng, &STATEMENTS[1..])),
            (true, false) => Some(*pick(rng, STATEMENTS)),
        }
    };
    for _ in 0..rng.gen_range(1..=30) {
        let choice = rng.gen_range(0..100);
        // Everything below 85 but Sync is an extended-protocol message.
        batch_open |= choice < 85 && !(64..=80).contains(&choice);
        match choice {
            0..=14 => {
                let name = if in_block && transaction_mode {
                    ""
                } else {
                    *pick(rng, STATEMENTS)
                };
                let (sql, _) = loop {
                    let (sql, bad) = *pick(rng, QUERIES);
                    if !(bad && transaction_mode && !name.is_empty()) {
                        break (sql, bad);
                    }
                };
                message(&mut out, b'P', |b| {
                    cstr(b, name);
                    cstr(b, sql);
                    b.put_u16(0);
                });
                unnamed_parsed |= name.is_empty();
                shown.push(format!("Parse {name:?} {sql:?}"));
            }
            15..=31 => {
                let portal = *pick(rng, PORTALS);
                let Some(statement) = statement(rng, unnamed_parsed, in_block) else {
                    continue;
                };
                let params = rng.gen_range(0..=1usize);
                let values: Vec<&str> = (0..params).map(|_| *pick(rng, &["0", "1", "3"])).collect();
                message(&mut out, b'B', |b| {
                    cstr(b, portal);
                    cstr(b, statement);
                    b.put_u16(0);
                    b.put_u16(values.len() as u16);
                    for v in &values {
                        b.put_i32(v.len() as i32);
                        b.extend_from_slice(v.as_bytes());
                    }
                    b.put_u16(0);
                });
                shown.push(format!("Bind {portal:?} {statement:?} {values:?}"));
            }
            32..=39 => {
                let statement = statement(rng, unnamed_parsed, in_block);
                target_message(rng, &mut out, &mut shown, b'D', statement);
            }
            40..=57 => {
                let portal = *pick(rng, PORTALS);
                let max_rows = *pick(rng, &[0, 0, 0, 1, 2]);
                message(&mut out, b'E', |b| {
                    cstr(b, portal);
                    b.put_i32(max_rows);
                });
                shown.push(format!("Execute {portal:?} {max_rows}"));
            }
            58..=63 => {
                // Closing any name is harmless, in a failed transaction too.
                let statement = *pick(rng, STATEMENTS);
                target_message(rng, &mut out, &mut shown, b'C', Some(statement));
            }
            64..=80 => {
                message(&mut out, b'S', |_| {});
                unnamed_parsed = false;
                batch_open = false;
                shown.push("Sync".into());
            }
            81..=84 => {
                message(&mut out, b'H', |_| {});
                shown.push("Flush".into());
            }
            _ => {
                let sql = loop {
                    let sql = *pick(rng, SIMPLE);
                    // PostgreSQL 15.20 crashes on BEGIN; DISCARD ALL (refused); a
                    // multi-statement query; Execute of the unnamed portal.
                    if !(in_block && sql == "discard all") {
                        break sql;
                    }
                };
                match sql {
                    "begin" => in_block = true,
                    // Unless the batch it is in fails first and discards it.
                    "commit" | "rollback" if !batch_open => in_block = false,
                    _ => {}
                }
                message(&mut out, b'Q', |b| cstr(b, sql));
                shown.push(format!("Query {sql:?}"));
            }
        }
    }
    // The end: whatever the conversation left open is closed, then a marker row.
    let marker = format!("end-{n}");
    message(&mut out, b'S', |_| {});
    message(&mut out, b'Q', |b| cstr(b, "rollback"));
    // Which named statements exist, so that a difference shows where it starts.
    for name in &STATEMENTS[1..] {
        message(&mut out, b'D', |b| {
            b.push(b'S');
            cstr(b, name);
        });
        message(&mut out, b'S', |_| {});
    }
    message(&mut out, b'Q', |b| cstr(b, &format!("select '{marker}'")));
    shown.push("(end: Sync, rollback, Describe of each statement, marker)".into());
    (out, shown, marker)
}

/// Runs `conversations` conversations on `WORKERS` pairs of connections; panics with
/// the seed and the first difference.
async fn differential(
    direct: Target,
    sluice: Target,
    seed: u64,
    conversations: usize,
    transaction_mode: bool,
) {
    let mode = if transaction_mode {
        "transaction"
    } else {
        "session"
    };
    let mut workers = Vec::new();
    // SLUICE_DIFF_WORKER=<n> replays one worker's conversations alone.
    let only: Option<usize> = std::env::var("SLUICE_DIFF_WORKER")
        .ok()
        .and_then(|w| w.parse().ok());
    for w in (0..WORKERS).filter(|w| only.is_none_or(|o| o == *w)) {
        let (direct, sluice) = (direct.clone(), sluice.clone());
        workers.push(tokio::spawn(async move {
            let mut rng =
                StdRng::seed_from_u64(seed ^ ((w as u64 + 1) << 32) ^ u64::from(transaction_mode));
            let mut d = direct.connect().await;
            let mut s = sluice.connect().await;
            // What came before on these connections: state carries over.
            let mut history: Vec<String> = Vec::new();
            for n in 0..conversations / WORKERS {
                let (bytes, shown, marker) = conversation(&mut rng, n, transaction_mode);
                let split = random_split(&mut rng, &bytes, 8);
                let (want, got) = tokio::join!(
                    d.converse(split.clone(), &marker),
                    s.converse(split, &marker)
                );
                let want =
                    want.unwrap_or_else(|e| panic!("direct connection failed ({e}): seed {seed}, worker {w}, conversation {n}\nmessages:\n  {}", shown.join("\n  ")));
                if got.as_ref() != Ok(&want) {
                    let earlier = history.len().saturating_sub(4);
                    panic!(
                        "{mode} mode, seed {seed}, worker {w}, conversation {n}: replies differ\n\
                         earlier conversations:\n{}\nmessages:\n  {}\ndirect:\n  {}\nthrough sluice:\n  {}\n",
                        history[earlier..].join("\n"),
                        shown.join("\n  "),
                        want.join("\n  "),
                        match &got {
                            Ok(g) => g.join("\n  "),
                            Err(e) => format!("(session failed: {e})"),
                        }
                    );
                }
                history.push(format!("  #{n}:\n    {}\n    → {}", shown.join("\n    "), want.join(" | ")));
            }
        }));
    }
    for w in workers {
        if let Err(e) = w.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

fn start(pg: &test_support::PgServer, mode: &'static str) -> Sluice {
    Sluice::start(
        pg,
        SluiceOptions {
            pool_mode: mode,
            // Transaction mode: fewer server connections than clients, so that they
            // change hands. Session mode: one for each client.
            pool_size: if mode == "transaction" {
                2
            } else {
                WORKERS + 1
            },
            hba: Some("host all rawuser 127.0.0.1/32 trust\n".into()),
            users: "[users.rawuser]\npassword = \"unused\"\n".into(),
            // Few statements per server connection, so that they are evicted and prepared again.
            extra_database: "prepared_statement_cache = 3\n".into(),
            ..Default::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_conversations_match_a_direct_connection() {
    let pg = start_postgres();
    let direct = Target::Direct {
        socket: pg.socket_dir().join(format!(".s.PGSQL.{}", pg.port())),
    };
    let seed = seed("pg_differential");
    // SLUICE_DIFF_MODE=transaction|session replays one pooling mode alone.
    let only_mode = std::env::var("SLUICE_DIFF_MODE").ok();
    for mode in ["transaction", "session"] {
        if only_mode.as_deref().is_some_and(|m| m != mode) {
            continue;
        }
        let sluice = start(&pg, mode);
        differential(
            direct.clone(),
            Target::Sluice { port: sluice.port },
            seed,
            env_or("SLUICE_DIFF_CONVERSATIONS", || DEFAULT_CONVERSATIONS),
            mode == "transaction",
        )
        .await;
        assert!(
            !sluice.log().contains("protocol violation"),
            "{mode} mode: sluice saw a protocol violation:\n{}",
            sluice.log()
        );
    }
}
