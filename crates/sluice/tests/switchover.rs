//! A primary switchover as sluice's clients live through it, against real servers:
//! a PostgreSQL primary stopped and its streaming standby promoted (without and with
//! TLS towards the servers), and a MariaDB writable member moved to its replica,
//! while clients keep querying. Clients between transactions must see no error,
//! clients inside one at most one, and every client keeps its session and goes on
//! on the new primary. Also: a route whose credentials are refused does not make
//! sluice unready for the others.

mod common;
mod mysql_support;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Sluice, SluiceOptions, APP_PASSWORD, APP_USER, DB_PASSWORD, DB_USER};
use mysql_async::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use test_support::{AuthMethod, MariaDbServer, PgOptions, PgServer};
use tokio::sync::mpsc;

const PG_CLIENTS: usize = 24;
/// Of the PostgreSQL clients, these many run explicit transactions.
const PG_TX_CLIENTS: usize = 4;
const MYSQL_CLIENTS: usize = 16;
/// How long the clients go on after the new primary took over.
const AFTER_SWITCH: Duration = Duration::from_secs(3);
/// How long a client runs before the switch begins.
const BEFORE_SWITCH: Duration = Duration::from_secs(1);
/// Longest a single operation may take before it counts as failed.
const OP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the switchover is, as the clients see it when they begin an operation.
const BEFORE: u8 = 0;
const SWITCHING: u8 = 1;
const SWITCHED: u8 = 2;

/// The switchover's progress, shared by the test and its clients.
#[derive(Default)]
struct Clock {
    phase: AtomicU8,
    stop: AtomicBool,
}

impl Clock {
    fn phase(&self) -> u8 {
        self.phase.load(Ordering::SeqCst)
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct Report {
    id: usize,
    operations: u64,
    /// Writes the client was told succeeded.
    writes_done: u64,
    /// Writes that failed (they may or may not have been applied).
    writes_failed: u64,
    outside_tx_errors: Vec<String>,
    inside_tx_errors: Vec<String>,
    /// The outcome of the first operation begun after the switch.
    first_after_switch: Option<Result<(), String>>,
    /// Longest single statement, and the phase it began in.
    longest: Duration,
    longest_phase: u8,
    /// When the client's connection was closed under it (it stops then).
    session_lost: Option<&'static str>,
}

impl Report {
    fn new(id: usize) -> Self {
        Report {
            id,
            ..Default::default()
        }
    }

    fn timed(&mut self, phase: u8, started: Instant) {
        let took = started.elapsed();
        if took > self.longest {
            self.longest = took;
            self.longest_phase = phase;
        }
    }

    /// One autocommit statement, begun in `phase` at `started`.
    fn record(&mut self, phase: u8, started: Instant, write: bool, outcome: Result<(), String>) {
        self.timed(phase, started);
        match (&outcome, write) {
            (Ok(()), true) => self.writes_done += 1,
            (Err(_), true) => self.writes_failed += 1,
            _ => {}
        }
        if let Err(e) = &outcome {
            self.outside_tx_errors
                .push(format!("{e} ({})", phase_name(phase)));
        }
        self.finish(phase, outcome);
    }

    fn finish(&mut self, phase: u8, outcome: Result<(), String>) {
        self.operations += 1;
        if phase == SWITCHED && self.first_after_switch.is_none() {
            self.first_after_switch = Some(outcome);
        }
    }
}

fn phase_name(phase: u8) -> &'static str {
    match phase {
        BEFORE => "begun before the switch",
        SWITCHING => "begun during the switch",
        _ => "begun after the switch",
    }
}

/// Runs `op` with [`OP_TIMEOUT`], the error (with its causes) or the timeout as text.
async fn bounded<T, E: std::error::Error>(
    op: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(OP_TIMEOUT, op).await {
        Ok(result) => result.map_err(|e| {
            let mut text = e.to_string();
            let mut cause = e.source();
            while let Some(c) = cause {
                let more = c.to_string();
                if !text.contains(&more) {
                    text.push_str(&format!(": {more}"));
                }
                cause = c.source();
            }
            text
        }),
        Err(_) => Err(format!("no answer within {OP_TIMEOUT:?}")),
    }
}

/// A random pause between operations, up to `max_ms`.
async fn gap(rng: &mut StdRng, max_ms: u64) {
    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..=max_ms))).await;
}

/// Problems found in the reports, and a one-line summary of them.
fn judge(label: &str, reports: &[Report], switch_took: Duration) -> (Vec<String>, String) {
    let mut problems = Vec::new();
    for r in reports {
        if !r.outside_tx_errors.is_empty() {
            problems.push(format!(
                "client {}: {} error(s) outside a transaction, first: {}",
                r.id,
                r.outside_tx_errors.len(),
                r.outside_tx_errors[0]
            ));
        }
        if r.inside_tx_errors.len() > 1 {
            problems.push(format!(
                "client {}: {} errors inside transactions: {:?}",
                r.id,
                r.inside_tx_errors.len(),
                r.inside_tx_errors
            ));
        }
        if let Some(when) = r.session_lost {
            problems.push(format!(
                "client {}: its connection was closed ({})",
                r.id,
                when.replace("begun", "found")
            ));
        }
        match &r.first_after_switch {
            Some(Ok(())) => {}
            Some(Err(e)) => problems.push(format!(
                "client {}: its first operation after the switch failed: {e}",
                r.id
            )),
            None if r.session_lost.is_some() => {}
            None => problems.push(format!(
                "client {}: began no operation within {AFTER_SWITCH:?} after the switch",
                r.id
            )),
        }
    }
    let longest = reports.iter().max_by_key(|r| r.longest).expect("clients");
    let summary = format!(
        "{label}: switch took {switch_took:?}; {} operations by {} clients; {} error(s) \
         outside a transaction, {} inside; longest single statement {:?} (client {}, {}); {} client(s) lost their session",
        reports.iter().map(|r| r.operations).sum::<u64>(),
        reports.len(),
        reports
            .iter()
            .map(|r| r.outside_tx_errors.len())
            .sum::<usize>(),
        reports
            .iter()
            .map(|r| r.inside_tx_errors.len())
            .sum::<usize>(),
        longest.longest,
        longest.id,
        phase_name(longest.longest_phase),
        reports.iter().filter(|r| r.session_lost.is_some()).count(),
    );
    (problems, summary)
}

/// Starts `count` clients with `start(id, clock, ready)`, waits until each is ready,
/// lets them run for [`BEFORE_SWITCH`], runs `switch` (blocking), lets them run for
/// [`AFTER_SWITCH`] more, and returns each client's report and final answer, and how
/// long `switch` took.
async fn run_through_switch<P, F>(
    count: usize,
    start: impl Fn(usize, Arc<Clock>, mpsc::Sender<()>) -> F,
    switch: impl FnOnce(),
) -> (Vec<Report>, Vec<(usize, P)>, Duration)
where
    P: Send + 'static,
    F: std::future::Future<Output = (Report, P)> + Send + 'static,
{
    let clock = Arc::new(Clock::default());
    let (ready_tx, mut ready_rx) = mpsc::channel(count);
    let clients: Vec<_> = (0..count)
        .map(|id| tokio::spawn(start(id, clock.clone(), ready_tx.clone())))
        .collect();
    for _ in 0..count {
        ready_rx
            .recv()
            .await
            .expect("a client ended before it was ready");
    }
    tokio::time::sleep(BEFORE_SWITCH).await;

    clock.phase.store(SWITCHING, Ordering::SeqCst);
    let switch_began = Instant::now();
    switch();
    let switch_took = switch_began.elapsed();
    clock.phase.store(SWITCHED, Ordering::SeqCst);
    tokio::time::sleep(AFTER_SWITCH).await;
    clock.stop.store(true, Ordering::SeqCst);

    let mut reports = Vec::new();
    let mut answers = Vec::new();
    for client in clients {
        let (report, answer) = client.await.expect("client task");
        answers.push((report.id, answer));
        reports.push(report);
    }
    (reports, answers, switch_took)
}

/// Whether the new primary holds `applied` writes as the clients were told: every
/// acknowledged one, and none beyond those that failed.
fn check_writes(label: &str, applied: u64, reports: &[Report], problems: &mut Vec<String>) {
    let done: u64 = reports.iter().map(|r| r.writes_done).sum();
    let failed: u64 = reports.iter().map(|r| r.writes_failed).sum();
    eprintln!(
        "{label}: {applied} writes applied on the new primary, {done} acknowledged, {failed} failed"
    );
    if applied < done || applied > done + failed {
        problems.push(format!(
            "the new primary applied {applied} writes; {done} were acknowledged and {failed} failed"
        ));
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL: the primary stops, its streaming standby is promoted
// ---------------------------------------------------------------------------

/// One autocommit statement begun in `phase`: an insert or a count, at random.
async fn pg_autocommit(
    c: &tokio_postgres::Client,
    id: i32,
    phase: u8,
    rng: &mut StdRng,
    r: &mut Report,
) {
    let started = Instant::now();
    let write = rng.gen_bool(0.5);
    let outcome = if write {
        // The simple protocol: tokio-postgres reports an extended-protocol statement
        // done at its CommandComplete, before the Sync that commits it, so a server
        // stopping between the two (with a direct connection too) rolls back a write
        // the client was told succeeded. A simple query completes after its commit.
        bounded(c.simple_query(&format!("insert into t (client) values ({id})")))
            .await
            .map(drop)
    } else {
        bounded(c.query_one("select count(*) from t", &[]))
            .await
            .map(drop)
    };
    r.record(phase, started, write, outcome);
}

/// `BEGIN; insert; (pause) select; COMMIT`, begun in `phase`. A failed BEGIN is an
/// error outside a transaction; any later one is inside, and is followed by ROLLBACK.
async fn pg_transaction(
    c: &tokio_postgres::Client,
    id: i32,
    phase: u8,
    rng: &mut StdRng,
    r: &mut Report,
) {
    let started = Instant::now();
    let begun = bounded(c.batch_execute("BEGIN")).await;
    r.timed(phase, started);
    if let Err(e) = begun {
        r.outside_tx_errors
            .push(format!("BEGIN: {e} ({})", phase_name(phase)));
        r.finish(phase, Err(e));
        return;
    }
    let outcome = pg_transaction_body(c, id, phase, rng, r).await;
    match &outcome {
        Ok(()) => r.writes_done += 1,
        Err(e) => {
            r.writes_failed += 1;
            r.inside_tx_errors
                .push(format!("{e} ({})", phase_name(phase)));
            if let Err(e) = bounded(c.batch_execute("ROLLBACK")).await {
                r.inside_tx_errors.push(format!("ROLLBACK: {e}"));
            }
        }
    }
    r.finish(phase, outcome);
}

async fn pg_transaction_body(
    c: &tokio_postgres::Client,
    id: i32,
    phase: u8,
    rng: &mut StdRng,
    r: &mut Report,
) -> Result<(), String> {
    let started = Instant::now();
    let inserted = bounded(c.execute("insert into t (client) values ($1)", &[&id])).await;
    r.timed(phase, started);
    inserted.map_err(|e| format!("insert: {e}"))?;
    gap(rng, 50).await;
    let started = Instant::now();
    let counted = bounded(c.query_one("select count(*) from t where client = $1", &[&id])).await;
    r.timed(phase, started);
    counted.map_err(|e| format!("select: {e}"))?;
    let started = Instant::now();
    let committed = bounded(c.batch_execute("COMMIT")).await;
    r.timed(phase, started);
    committed.map_err(|e| format!("COMMIT: {e}"))
}

/// Where a session's statements run now: `(port, in recovery, over TLS)`.
async fn pg_where(c: &tokio_postgres::Client) -> Result<(u16, bool, bool), String> {
    let row = bounded(c.query_one(
        "select current_setting('port')::int4, pg_is_in_recovery(), \
         coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false)",
        &[],
    ))
    .await?;
    Ok((row.get::<_, i32>(0) as u16, row.get(1), row.get(2)))
}

/// A client of the PostgreSQL scenario: connects, says it is ready, runs until told
/// to stop, then says where its session's statements run.
async fn pg_client(
    conninfo: String,
    id: usize,
    transactions: bool,
    clock: Arc<Clock>,
    ready: mpsc::Sender<()>,
) -> (Report, Result<(u16, bool, bool), String>) {
    let mut r = Report::new(id);
    let mut rng = StdRng::seed_from_u64(id as u64);
    let c = common::connect(&conninfo).await;
    c.query_one("select 1", &[]).await.expect("first query");
    ready.send(()).await.expect("test waits");
    while clock.running() {
        let phase = clock.phase();
        if transactions {
            pg_transaction(&c, id as i32, phase, &mut rng, &mut r).await;
        } else {
            pg_autocommit(&c, id as i32, phase, &mut rng, &mut r).await;
        }
        if c.is_closed() {
            r.session_lost = Some(phase_name(clock.phase()));
            break;
        }
        gap(&mut rng, 50).await;
    }
    let at = pg_where(&c).await;
    (r, at)
}

/// Primary and streaming standby (TLS between sluice and them with `tls`), sluice in
/// front of both, [`PG_CLIENTS`] clients; the primary stops (fast), the standby is
/// promoted, and the clients go on for [`AFTER_SWITCH`].
async fn pg_switchover(tls: bool) {
    let label = if tls {
        "PostgreSQL switchover, TLS to the servers"
    } else {
        "PostgreSQL switchover"
    };
    let mut primary = PgServer::start_with(PgOptions {
        tls,
        ..Default::default()
    });
    primary.create_user(DB_USER, DB_PASSWORD, AuthMethod::Scram);
    primary.create_database("appdb", DB_USER);
    primary.psql_db(
        "appdb",
        &format!(
            "create table t (id bigserial primary key, client int4 not null); \
             alter table t owner to {DB_USER}"
        ),
    );
    let standby = PgServer::start_standby_of(&primary);
    assert!(standby.is_in_recovery());
    assert_eq!(standby.psql_db("appdb", "select count(*) from t"), "0");

    let mut extra_cluster = "connect_timeout = \"1s\"\n".to_string();
    if tls {
        let ca = primary.tls_files().expect("TLS files").ca_cert.display();
        extra_cluster.push_str(&format!("tls_ca_file = \"{ca}\"\n"));
    }
    let sluice = Sluice::start(
        &primary,
        SluiceOptions {
            hosts: Some(vec![primary.port(), standby.port()]),
            tls_mode: if tls { "verify-full" } else { "disable" },
            extra_cluster,
            pool_size: 5,
            ..Default::default()
        },
    );

    let conninfo = sluice.app_conn_str();
    let (reports, places, switch_took) = run_through_switch(
        PG_CLIENTS,
        |id, clock, ready| pg_client(conninfo.clone(), id, id < PG_TX_CLIENTS, clock, ready),
        || {
            let began = Instant::now();
            primary.stop();
            eprintln!("{label}: the primary stopped in {:?}", began.elapsed());
            standby.promote();
        },
    )
    .await;
    let (mut problems, summary) = judge(label, &reports, switch_took);
    eprintln!("{summary}");
    for (id, at) in places {
        match at {
            Ok((port, false, ssl)) if port == standby.port() && ssl == tls => {}
            other => problems.push(format!(
                "client {id}: after the switch its session runs on {other:?} \
                 (expected port {}, not in recovery, TLS {tls})",
                standby.port()
            )),
        }
    }
    let rows: u64 = standby
        .psql_db("appdb", "select count(*) from t")
        .parse()
        .expect("row count");
    check_writes(label, rows, &reports, &mut problems);
    assert!(problems.is_empty(), "{summary}\n{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_switchover_costs_idle_clients_nothing() {
    pg_switchover(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_switchover_with_tls_to_the_servers_costs_idle_clients_nothing() {
    pg_switchover(true).await;
}

// ---------------------------------------------------------------------------
// MySQL: the writable role moves from a MariaDB primary to its replica
// ---------------------------------------------------------------------------

const MYSQL_ROWS: u32 = 100;

/// A client of the MySQL scenario: autocommit point selects and updates on the
/// read-write port until told to stop, then where its statements run:
/// `(server_id, read_only)` and whether one more update succeeds.
async fn mysql_client(
    url: String,
    id: usize,
    clock: Arc<Clock>,
    ready: mpsc::Sender<()>,
) -> (Report, Result<(u32, bool), String>) {
    let mut r = Report::new(id);
    let mut rng = StdRng::seed_from_u64(1000 + id as u64);
    let opts = mysql_async::Opts::from_url(&url).expect("URL");
    let mut c = mysql_async::Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("client {id} cannot connect through sluice: {e}"));
    c.query_drop("SELECT 1").await.expect("first query");
    ready.send(()).await.expect("test waits");
    while clock.running() {
        let phase = clock.phase();
        let row = rng.gen_range(1..=MYSQL_ROWS);
        let write = rng.gen_bool(0.5);
        let started = Instant::now();
        let outcome = if write {
            bounded(c.query_drop(format!("UPDATE items SET n = n + 1 WHERE id = {row}"))).await
        } else {
            bounded(c.query_first::<u32, _>(format!("SELECT n FROM items WHERE id = {row}")))
                .await
                .map(drop)
        };
        r.record(phase, started, write, outcome);
        gap(&mut rng, 20).await;
    }
    let at = async {
        let (server_id, read_only) =
            bounded(c.query_first::<(u32, u32), _>("SELECT @@server_id, @@global.read_only"))
                .await?
                .ok_or("no row")?;
        bounded(c.query_drop("UPDATE items SET n = n WHERE id = 1")).await?;
        Ok::<_, String>((server_id, read_only != 0))
    }
    .await;
    (r, at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_writable_member_switch_costs_clients_between_transactions_nothing() {
    let label = "MariaDB writable member switch";
    let primary = mysql_support::start_mariadb();
    let values: Vec<String> = (1..=MYSQL_ROWS).map(|i| format!("({i})")).collect();
    primary.sql(&format!(
        "CREATE TABLE {db}.items (id INT PRIMARY KEY, n INT NOT NULL DEFAULT 0); \
         INSERT INTO {db}.items (id) VALUES {};",
        values.join(", "),
        db = mysql_support::DATABASE,
    ));
    let replica = MariaDbServer::start_replica_of(&primary);
    let sluice = mysql_support::MySluice::start(mysql_support::Options {
        pool_size: 8,
        ..mysql_support::Options::new(vec![primary.port(), replica.port()])
    });
    let url = sluice.url(
        sluice.rw_port,
        mysql_support::APP_USER,
        mysql_support::APP_PASSWORD,
        mysql_support::DATABASE,
    );

    let (reports, places, switch_took) = run_through_switch(
        MYSQL_CLIENTS,
        |id, clock, ready| mysql_client(url.clone(), id, clock, ready),
        || MariaDbServer::switch_writable(&primary, &replica),
    )
    .await;
    let (mut problems, summary) = judge(label, &reports, switch_took);
    eprintln!("{summary}");
    for (id, at) in places {
        match at {
            Ok((server_id, false)) if server_id == replica.server_id() => {}
            other => problems.push(format!(
                "client {id}: after the switch it runs on {other:?} (expected server_id {}, \
                 writable)",
                replica.server_id()
            )),
        }
    }
    // Every acknowledged update is on the new writable member, and the old primary
    // follows it.
    let sum_query = format!(
        "SELECT COALESCE(SUM(n), 0) FROM {}.items",
        mysql_support::DATABASE
    );
    let applied: u64 = replica.sql(&sum_query).parse().expect("sum");
    check_writes(label, applied, &reports, &mut problems);
    primary.wait_replicated(&replica);
    assert_eq!(primary.sql(&sum_query), applied.to_string());
    assert_eq!(primary.sql("SELECT @@global.read_only"), "1");
    assert!(problems.is_empty(), "{summary}\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// Readiness: one route's refused credentials do not make the others unready
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_whose_credentials_are_refused_leaves_sluice_ready_for_the_others() {
    let pg = common::start_postgres();
    pg.create_database("otherdb", DB_USER);
    let secrets = tempfile::tempdir().expect("temporary directory");
    let bad = secrets.path().join("bad-password");
    std::fs::write(&bad, "not-the-password\n").expect("write password file");
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            databases: vec![("appdb", "appdb"), ("otherdb", "otherdb")],
            database_credentials: vec![(
                "otherdb",
                format!(
                    "{{ username = \"{DB_USER}\", password_file = \"{}\" }}",
                    bad.display()
                ),
            )],
            ..Default::default()
        },
    );
    let good = sluice.connect().await;
    let bad_conninfo = sluice.conn_str(APP_USER, APP_PASSWORD, "otherdb");
    let mut answers = Vec::new();
    for _ in 0..10 {
        // The refused route is tried again and again, as its clients would.
        let err = match common::try_connect(&bad_conninfo).await {
            Ok(c) => c.query_one("select 1", &[]).await.unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(common::sqlstate(&err), "08006", "{err}");
        let msg = err
            .as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_else(|| err.to_string());
        assert!(msg.contains("password authentication failed"), "{msg}");
        let one: i32 = good
            .query_one("select 1", &[])
            .await
            .expect("the good route serves")
            .get(0);
        assert_eq!(one, 1);
        answers.push(sluice.admin_get("/readyz"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let unready: Vec<_> = answers.iter().filter(|(code, _)| *code != 200).collect();
    eprintln!(
        "/readyz with one refused route: {} of {} answers were not 200; last: {:?}",
        unready.len(),
        answers.len(),
        answers.last()
    );
    assert!(
        unready.is_empty(),
        "/readyz is not 200 while only one route's credentials are refused: {unready:?}"
    );
}

// ---------------------------------------------------------------------------
// MariaDB under sysbench: the writable member moves while sysbench writes
// ---------------------------------------------------------------------------

#[test]
fn sysbench_writing_through_the_read_write_port_sees_no_error_when_the_writable_member_moves() {
    let sysbench = mysql_support::sysbench();
    let primary = mysql_support::start_mariadb();
    let replica = MariaDbServer::start_replica_of(&primary);
    let sluice = mysql_support::MySluice::start(mysql_support::Options {
        pool_size: 8,
        ..mysql_support::Options::new(vec![primary.port(), replica.port()])
    });
    // Prepared statements, as sysbench runs them by default with a MySQL driver.
    let common = |port: u16, user: &str, password: &str| {
        let mut args = mysql_support::sysbench_args(port, user, password);
        args.push("--db-ps-mode=auto".to_owned());
        args
    };
    let prepare = std::process::Command::new(sysbench)
        .arg("oltp_read_write")
        .args(common(
            primary.port(),
            mysql_support::DB_USER,
            mysql_support::DB_PASSWORD,
        ))
        .arg("prepare")
        .output()
        .expect("run sysbench prepare");
    assert!(
        prepare.status.success(),
        "{}",
        String::from_utf8_lossy(&prepare.stderr)
    );
    replica.wait_replicated(&primary);

    // Autocommit statements (--skip_trx): every one is between transactions. Without
    // its DELETE + INSERT pairs, which without a transaction collide between threads
    // (duplicate key) against any server.
    let run = std::process::Command::new(sysbench)
        .arg("oltp_read_write")
        .args(common(
            sluice.rw_port,
            mysql_support::APP_USER,
            mysql_support::APP_PASSWORD,
        ))
        .args([
            "--skip_trx=on",
            "--delete_inserts=0",
            "--threads=8",
            "--time=6",
            "run",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sysbench");
    std::thread::sleep(Duration::from_secs(2));
    let began = Instant::now();
    MariaDbServer::switch_writable(&primary, &replica);
    eprintln!(
        "sysbench switch: the writable member moved in {:?}",
        began.elapsed()
    );
    let run = run.wait_with_output().expect("sysbench output");
    let out = String::from_utf8_lossy(&run.stdout);
    eprintln!("{out}");
    assert!(
        run.status.success(),
        "sysbench stopped on an error:\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        mysql_support::sysbench_count(&out, "ignored errors:"),
        Some(0),
        "{out}"
    );
    assert_eq!(
        mysql_support::sysbench_count(&out, "reconnects:"),
        Some(0),
        "{out}"
    );
    assert!(
        mysql_support::sysbench_count(&out, "queries:").unwrap_or(0) > 0,
        "{out}"
    );
}
