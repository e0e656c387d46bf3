//! Differential test of the MySQL protocol: random conversations of COM_QUERY (single
//! and multi-statement, with errors at random places), COM_STMT_PREPARE / EXECUTE /
//! RESET / CLOSE (with errors: bad SQL, unknown statements) and COM_PING go to MariaDB
//! directly and through sluice. Each command is written in random splits with pauses
//! between the writes, and runs of queries are pipelined (sent before their answers are
//! read). The answers must match packet for packet (statement ids aside) and no session
//! may end.
//!
//! The run is reproducible from its seed, printed at the start and on a failure:
//! `SLUICE_DIFF_SEED=<seed> cargo test -p sluice --test mysql_differential`.
//! `SLUICE_DIFF_CONVERSATIONS` sets how many conversations each pooling mode runs.

mod mysql_support;
mod split_writes;

use std::fmt::Write as _;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use mysql_support::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use split_writes::{env_or, random_split, seed, write_pieces, Pause};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

const WORKERS: usize = 4;
const DEFAULT_CONVERSATIONS: usize = 2000;
/// The test's own MariaDB account for direct connections (no password).
const DIRECT_USER: &str = "diff";

const CLIENT_LONG_PASSWORD: u32 = 1;
const CLIENT_CONNECT_WITH_DB: u32 = 8;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_MULTI_STATEMENTS: u32 = 0x1_0000;
const CLIENT_MULTI_RESULTS: u32 = 0x2_0000;
const CLIENT_PS_MULTI_RESULTS: u32 = 0x4_0000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;
const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0e;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_RESET: u8 = 0x1a;

/// A logged-in raw connection.
struct Conn {
    reader: OwnedReadHalf,
    writer: Option<OwnedWriteHalf>,
    buf: BytesMut,
    /// Statement slot → (id this side gave, number of parameters).
    statements: [Option<(u32, u16)>; 3],
}

/// One packet: sequence id and payload.
struct Packet {
    seq: u8,
    payload: Vec<u8>,
}

impl Conn {
    async fn connect(port: u16, user: &str) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (reader, writer) = stream.into_split();
        let mut conn = Conn {
            reader,
            writer: Some(writer),
            buf: BytesMut::new(),
            statements: [None; 3],
        };
        let greeting = conn.packet().await.expect("greeting");
        assert_eq!(greeting.payload[0], 10, "handshake v10");
        let caps = CLIENT_LONG_PASSWORD
            | CLIENT_CONNECT_WITH_DB
            | CLIENT_PROTOCOL_41
            | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION
            | CLIENT_MULTI_STATEMENTS
            | CLIENT_MULTI_RESULTS
            | CLIENT_PS_MULTI_RESULTS
            | CLIENT_PLUGIN_AUTH;
        let mut p = Vec::new();
        p.put_u32_le(caps);
        p.put_u32_le(16 << 20);
        p.put_u8(45); // utf8mb4_general_ci
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        p.push(0); // empty auth response: no password
        p.extend_from_slice(DATABASE.as_bytes());
        p.push(0);
        p.extend_from_slice(b"mysql_native_password\0");
        conn.send(&[(packet(1, &p), Pause::None)]).await;
        loop {
            let reply = conn.packet().await.expect("login answer");
            match reply.payload[0] {
                0x00 => return conn,
                // Auth switch: answer with the empty password again.
                0xfe => {
                    conn.send(&[(packet(reply.seq + 1, &[]), Pause::None)])
                        .await
                }
                _ => panic!("login refused: {}", describe_packet(&reply)),
            }
        }
    }

    async fn packet(&mut self) -> Result<Packet, String> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], 0]) as usize;
                if self.buf.len() >= 4 + len {
                    let seq = self.buf[3];
                    self.buf.advance(4);
                    let payload = self.buf.split_to(len).to_vec();
                    return Ok(Packet { seq, payload });
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

    async fn send(&mut self, chunks: &[(Vec<u8>, Pause)]) {
        let writer = self.writer.as_mut().expect("writer");
        for (chunk, pause) in chunks {
            if writer.write_all(chunk).await.is_err() {
                return; // the read side reports it
            }
            pause.wait().await;
        }
    }

    /// Sends `commands` (pipelined, in pieces cut by `split_seed`) and reads one answer
    /// for each.
    async fn run(&mut self, commands: &[Command], split_seed: u64) -> Result<Vec<String>, String> {
        let mut bytes = Vec::new();
        for c in commands {
            bytes.extend_from_slice(&self.encode(c));
        }
        let chunks = random_split(&mut StdRng::seed_from_u64(split_seed), &bytes, 5);
        let mut writer = self.writer.take().expect("writer");
        let write = tokio::spawn(async move {
            write_pieces(&mut writer, &chunks).await?;
            Ok::<_, std::io::Error>(writer)
        });
        let read = async {
            let mut answers = Vec::new();
            for c in commands {
                self.answer(c, &mut answers).await?;
            }
            Ok::<_, String>(answers)
        };
        let answers = tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .map_err(|_| "no answer within 20 s".to_string())
            .and_then(|r| r);
        self.writer = Some(write.await.unwrap().map_err(|e| format!("write: {e}"))?);
        answers
    }

    fn encode(&self, c: &Command) -> Vec<u8> {
        let mut p = Vec::new();
        match c {
            Command::Query(sql) => {
                p.push(COM_QUERY);
                p.extend_from_slice(sql.as_bytes());
            }
            Command::Ping => p.push(COM_PING),
            Command::Prepare(_, sql) => {
                p.push(COM_STMT_PREPARE);
                p.extend_from_slice(sql.as_bytes());
            }
            Command::Execute(slot, values) => {
                let (id, params) = self.statements[*slot].unwrap_or((UNKNOWN_STATEMENT, 0));
                p.push(COM_STMT_EXECUTE);
                p.put_u32_le(id);
                p.push(0); // no cursor
                p.put_u32_le(1);
                if params > 0 {
                    p.extend(std::iter::repeat_n(0, (params as usize).div_ceil(8)));
                    p.push(1); // types follow
                    for _ in 0..params {
                        p.extend_from_slice(&[0x08, 0]); // LONGLONG
                    }
                    for i in 0..params as usize {
                        p.put_i64_le(values[i % values.len()]);
                    }
                }
            }
            Command::Reset(slot) | Command::Close(slot) => {
                let (id, _) = self.statements[*slot].unwrap_or((UNKNOWN_STATEMENT, 0));
                p.push(if matches!(c, Command::Reset(_)) {
                    COM_STMT_RESET
                } else {
                    COM_STMT_CLOSE
                });
                p.put_u32_le(id);
            }
        }
        packet(0, &p)
    }

    /// Reads the answer to `c` into readable lines.
    async fn answer(&mut self, c: &Command, out: &mut Vec<String>) -> Result<(), String> {
        match c {
            Command::Close(slot) => {
                // No answer.
                self.statements[*slot] = None;
                Ok(())
            }
            Command::Prepare(slot, _) => {
                let first = self.packet().await?;
                if first.payload[0] != 0x00 {
                    self.statements[*slot] = None;
                    out.push(describe_packet(&first));
                    return Ok(());
                }
                let mut b = &first.payload[1..];
                let id = b.get_u32_le();
                let columns = b.get_u16_le();
                let params = b.get_u16_le();
                self.statements[*slot] = Some((id, params));
                out.push(format!(
                    "seq={} PREPARE-OK columns={columns} params={params} rest={:02x?}",
                    first.seq, b
                ));
                for count in [params, columns] {
                    if count > 0 {
                        for _ in 0..count {
                            let def = self.packet().await?;
                            out.push(describe_packet(&def));
                        }
                        let eof = self.packet().await?;
                        out.push(describe_packet(&eof));
                    }
                }
                Ok(())
            }
            _ => self.results(out).await,
        }
    }

    /// OK, ERR, or result sets (text or binary) up to the last one.
    async fn results(&mut self, out: &mut Vec<String>) -> Result<(), String> {
        loop {
            let first = self.packet().await?;
            out.push(describe_packet(&first));
            let more = match first.payload[0] {
                0xff => return Ok(()),
                0x00 => ok_status(&first.payload) & SERVER_MORE_RESULTS_EXISTS != 0,
                _ => {
                    // Column definitions, EOF, rows, then EOF or ERR.
                    let mut eofs = 0;
                    loop {
                        let p = self.packet().await?;
                        out.push(describe_packet(&p));
                        if p.payload[0] == 0xff {
                            return Ok(());
                        }
                        if is_eof(&p.payload) {
                            eofs += 1;
                            if eofs == 2 {
                                break eof_status(&p.payload) & SERVER_MORE_RESULTS_EXISTS != 0;
                            }
                        }
                    }
                }
            };
            if !more {
                return Ok(());
            }
        }
    }
}

/// A statement id neither side gave out.
const UNKNOWN_STATEMENT: u32 = 0x7fff_fff0;

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..3]);
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

fn is_eof(p: &[u8]) -> bool {
    p[0] == 0xfe && p.len() < 9
}

fn eof_status(p: &[u8]) -> u16 {
    u16::from_le_bytes([p[3], p[4]])
}

fn lenenc(b: &mut &[u8]) -> u64 {
    let first = b.get_u8();
    match first {
        0xfc => b.get_u16_le() as u64,
        0xfd => {
            let v = u32::from_le_bytes([b[0], b[1], b[2], 0]) as u64;
            b.advance(3);
            v
        }
        0xfe => b.get_u64_le(),
        n => n as u64,
    }
}

fn ok_status(p: &[u8]) -> u16 {
    let mut b = &p[1..];
    lenenc(&mut b);
    lenenc(&mut b);
    b.get_u16_le()
}

/// A packet in readable form: OK and ERR by their fields, others as bytes.
fn describe_packet(p: &Packet) -> String {
    let payload = &p.payload;
    let mut out = format!("seq={} ", p.seq);
    match payload[0] {
        0x00 if payload.len() >= 7 => {
            let mut b = &payload[1..];
            let affected = lenenc(&mut b);
            let insert_id = lenenc(&mut b);
            let status = b.get_u16_le();
            let warnings = b.get_u16_le();
            let _ = write!(
                out,
                "OK affected={affected} insert_id={insert_id} status={status:#06x} warnings={warnings} info={:?}",
                String::from_utf8_lossy(b)
            );
        }
        0xff => {
            let mut b = &payload[1..];
            let code = b.get_u16_le();
            let _ = write!(out, "ERR {code} {}", String::from_utf8_lossy(b));
        }
        _ if is_eof(payload) => {
            let _ = write!(
                out,
                "EOF warnings={} status={:#06x}",
                u16::from_le_bytes([payload[1], payload[2]]),
                eof_status(payload)
            );
        }
        _ => {
            let _ = write!(out, "{:?}", String::from_utf8_lossy(payload));
        }
    }
    out
}

#[derive(Clone, Debug)]
enum Command {
    Query(&'static str),
    Ping,
    Prepare(usize, &'static str),
    Execute(usize, Vec<i64>),
    Reset(usize),
    Close(usize),
}

const QUERIES: &[&str] = &[
    "select 1",
    "select 1 as a, 'x' as b union all select 2, 'y'",
    "select 1 from dual where 1 = 0",
    "selec 1",
    "select * from no_such_table",
    "select 1; select 2",
    "select 1; selec 2; select 3",
    "select 1; select * from no_such_table",
    "do 1",
    "begin",
    "commit",
    "rollback",
    "select 1/0",
    "select @@sql_mode",
    "set session sql_mode = 'ANSI_QUOTES'",
    "set session sql_mode = default",
    "select @v",
    // Pins the client to its server connection in transaction mode (docs/mysql.md):
    // only in session mode, where every client has one.
    "set @v = 1",
];
const PINS: &str = "set @v = 1";

const STATEMENTS: &[&str] = &[
    "select ? + 1",
    "select 1",
    "select ?, ? * 2",
    "do ?",
    "selec ?",
    "select * from no_such_table where a = ?",
];

/// One random conversation: groups of commands, each group pipelined.
fn conversation(rng: &mut StdRng, transaction_mode: bool) -> Vec<Vec<Command>> {
    let query = |rng: &mut StdRng| loop {
        let q = *pick(rng, QUERIES);
        if !(transaction_mode && q == PINS) {
            return Command::Query(q);
        }
    };
    let mut groups = Vec::new();
    for _ in 0..rng.gen_range(1..=12) {
        let slot = rng.gen_range(0..3);
        let group = match rng.gen_range(0..100) {
            0..=34 => (0..rng.gen_range(1..=4)).map(|_| query(rng)).collect(),
            35..=54 => vec![Command::Prepare(
                slot,
                STATEMENTS[rng.gen_range(0..STATEMENTS.len())],
            )],
            55..=79 => vec![Command::Execute(
                slot,
                (0..2).map(|_| *pick(rng, &[0, 1, 3])).collect(),
            )],
            80..=86 => vec![Command::Reset(slot)],
            // A closed statement is followed by a ping, whose answer shows that
            // nothing answered the close.
            87..=94 => vec![Command::Close(slot), Command::Ping],
            _ => vec![Command::Ping],
        };
        groups.push(group);
    }
    // Whatever the conversation left open ends here.
    groups.push(vec![
        Command::Query("rollback"),
        Command::Query("select 'end'"),
    ]);
    groups
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

async fn differential(
    direct_port: u16,
    sluice_port: u16,
    seed: u64,
    conversations: usize,
    mode: &'static str,
) {
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        workers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ ((w as u64 + 1) << 32) ^ mode.len() as u64);
            let mut d = Conn::connect(direct_port, DIRECT_USER).await;
            let mut s = Conn::connect(sluice_port, "rawuser").await;
            let mut history: Vec<String> = Vec::new();
            for n in 0..conversations / WORKERS {
                for group in conversation(&mut rng, mode == "transaction") {
                    let split_seed = rng.gen();
                    let (want, got) = tokio::join!(
                        d.run(&group, split_seed),
                        s.run(&group, split_seed)
                    );
                    let shown = format!("{group:?}");
                    let want = want.unwrap_or_else(|e| {
                        panic!("direct connection failed ({e}): seed {seed}, worker {w}, conversation {n}: {shown}")
                    });
                    if got.as_ref() != Ok(&want) {
                        let earlier = history.len().saturating_sub(12);
                        panic!(
                            "{mode} mode, seed {seed}, worker {w}, conversation {n}: answers differ\n\
                             earlier commands:\n{}\ncommands: {shown}\ndirect:\n  {}\nthrough sluice:\n  {}\n",
                            history[earlier..].join("\n"),
                            want.join("\n  "),
                            match &got {
                                Ok(g) => g.join("\n  "),
                                Err(e) => format!("(session failed: {e})"),
                            }
                        );
                    }
                    history.push(format!("  #{n} {shown}\n    → {}", want.join(" | ")));
                }
            }
        }));
    }
    for w in workers {
        if let Err(e) = w.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_conversations_match_a_direct_connection() {
    let db = start_mariadb();
    db.sql(&format!(
        "CREATE USER '{DIRECT_USER}'@'%' IDENTIFIED BY ''; \
         GRANT ALL ON `{DATABASE}`.* TO '{DIRECT_USER}'@'%';"
    ));
    let seed = seed("mysql_differential");
    let conversations = env_or("SLUICE_DIFF_CONVERSATIONS", || DEFAULT_CONVERSATIONS);
    for mode in ["transaction", "session"] {
        let mut opts = Options::new(vec![db.port()]);
        opts.pool_mode = mode;
        // Transaction mode: fewer server connections than clients, so that they change
        // hands. Session mode: one for each client.
        opts.pool_size = if mode == "transaction" {
            2
        } else {
            WORKERS + 1
        };
        opts.hba = Some("host all rawuser 127.0.0.1/32 trust\n".into());
        opts.users = "[users.rawuser]\npassword = \"unused\"\n".into();
        let sluice = MySluice::start(opts);
        differential(db.port(), sluice.rw_port, seed, conversations, mode).await;
        assert!(
            !sluice.log().contains("protocol violation"),
            "{mode} mode: sluice saw a protocol violation:\n{}",
            sluice.log()
        );
    }
}
