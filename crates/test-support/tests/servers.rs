use std::net::TcpListener;
use std::time::{Duration, Instant};

use test_support::{
    connect, free_port, make_tls_files, pg_bin, pgbench_bin, psql_bin, run_psql, try_connect,
    wait_for_port, AuthMethod, PgOptions, PgServer, SUPERUSER, SUPERUSER_PASSWORD,
};

#[test]
fn free_ports_are_distinct_and_not_reserved() {
    let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ports.len());
    assert!(!ports.contains(&5432));
    assert!(!ports.contains(&3306));
    for port in ports.iter().take(5) {
        TcpListener::bind(("127.0.0.1", *port)).expect("free port can be bound");
    }
}

#[test]
fn wait_for_port_sees_listeners() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(wait_for_port(port, Duration::from_secs(2)));
    drop(listener);

    let closed = free_port();
    let started = Instant::now();
    assert!(!wait_for_port(closed, Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn binaries_are_found() {
    assert!(psql_bin().ends_with("psql"));
    assert!(pgbench_bin().ends_with("pgbench"));
    assert!(pg_bin("initdb").is_file());
}

#[test]
#[should_panic(expected = "apt-get install -y postgresql-15 postgresql-client-15")]
fn missing_binary_panics_with_install_hint() {
    pg_bin("no-such-postgres-tool");
}

#[tokio::test]
async fn superuser_connects_with_password() {
    let server = PgServer::start();
    assert_eq!(server.host(), "127.0.0.1");
    assert_ne!(server.port(), 5432);
    assert_eq!(server.superuser(), (SUPERUSER, SUPERUSER_PASSWORD));
    assert!(server.tls_files().is_none());

    let (user, password) = server.superuser();
    let client = connect(&server.connection_string(user, password, "postgres")).await;
    let row = client
        .query_one("SELECT 40 + 2, current_user::text, version()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_eq!(row.get::<_, String>(1), "postgres");
    assert!(row.get::<_, String>(2).starts_with("PostgreSQL 15"));

    let settings = client
        .query_one(
            "SELECT current_setting('max_connections'), current_setting('fsync'), \
             current_setting('listen_addresses'), current_setting('ssl')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(settings.get::<_, String>(0), "200");
    assert_eq!(settings.get::<_, String>(1), "off");
    assert_eq!(settings.get::<_, String>(2), "127.0.0.1");
    assert_eq!(settings.get::<_, String>(3), "off");

    // Password authentication is enforced over TCP.
    let wrong = try_connect(&server.connection_string(user, "wrong", "postgres")).await;
    assert!(wrong.is_err(), "wrong password was accepted");

    assert_eq!(server.psql("SELECT 1; SELECT 'a', 'b'"), "1\na|b");
    assert!(server.log_contents().contains("connection authorized"));
}

#[tokio::test]
async fn users_authenticate_with_their_method() {
    let server = PgServer::start();
    server.create_user("md5_user", "md5 secret", AuthMethod::Md5);
    server.create_user("clear_user", "clear'secret", AuthMethod::Cleartext);
    server.create_user("scram_user", "scram-secret", AuthMethod::Scram);
    server.create_database("md5_db", "md5_user");

    let stored = server.psql(
        "SELECT rolname || ':' || CASE WHEN rolpassword LIKE 'md5%' THEN 'md5' \
         WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram' ELSE 'other' END \
         FROM pg_authid WHERE rolname LIKE '%\\_user' ORDER BY rolname",
    );
    assert_eq!(stored, "clear_user:scram\nmd5_user:md5\nscram_user:scram");

    for (user, password, method, db) in [
        ("md5_user", "md5 secret", "md5", "md5_db"),
        ("clear_user", "clear'secret", "password", "postgres"),
        ("scram_user", "scram-secret", "scram-sha-256", "postgres"),
    ] {
        let client = connect(&server.connection_string(user, password, db)).await;
        let row = client
            .query_one("SELECT current_user::text, current_database()::text", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), user);
        assert_eq!(row.get::<_, String>(1), db);

        // CREATE on schema public was granted.
        let table = format!("t_{user}");
        client
            .batch_execute(&format!(
                "CREATE TABLE {table} (v int); INSERT INTO {table} VALUES (7), (8);"
            ))
            .await
            .unwrap();
        let sum: i64 = client
            .query_one(&format!("SELECT sum(v) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(sum, 15);

        let log = server.log_contents();
        let needle = format!("connection authenticated: identity=\"{user}\" method={method}");
        assert!(log.contains(&needle), "{needle:?} not in log:\n{log}");

        let wrong = try_connect(&server.connection_string(user, "nope", db)).await;
        assert!(wrong.is_err(), "{user} accepted a wrong password");
    }

    // CREATE on database postgres was granted.
    let client = connect(&server.connection_string("md5_user", "md5 secret", "postgres")).await;
    client
        .batch_execute("CREATE SCHEMA md5_schema")
        .await
        .unwrap();

    let owner =
        server.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'md5_db'");
    assert_eq!(owner, "md5_user");
}

#[test]
fn tls_server_verifies_with_generated_ca() {
    let server = PgServer::start_with(PgOptions {
        tls: true,
        ..PgOptions::default()
    });
    let tls = server.tls_files().expect("TLS files");
    for path in [&tls.ca_cert, &tls.server_cert, &tls.server_key, &tls.ca_key] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    assert!(std::fs::read_to_string(&tls.ca_cert)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));

    for host in ["localhost", "127.0.0.1"] {
        let conninfo = format!(
            "host={host} port={} user={SUPERUSER} password={SUPERUSER_PASSWORD} dbname=postgres \
             sslmode=verify-full sslrootcert={}",
            server.port(),
            tls.ca_cert.display()
        );
        let out = run_psql(
            &conninfo,
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log_contents()));
        assert_eq!(out, "t", "host {host}");
    }

    // Another CA must not be trusted.
    let other = make_tls_files(&["localhost"]);
    let conninfo = format!(
        "host=localhost port={} user={SUPERUSER} password={SUPERUSER_PASSWORD} dbname=postgres \
         sslmode=verify-full sslrootcert={}",
        server.port(),
        other.ca_cert.display()
    );
    assert!(run_psql(&conninfo, "select 1").is_err());

    // Plain connections still work (ssl is optional on the server side).
    assert_eq!(server.psql("show ssl"), "on");
}

#[test]
fn make_tls_files_writes_pem_files() {
    let files = make_tls_files(&["db.example.test", "10.1.2.3"]);
    let ca = std::fs::read_to_string(&files.ca_cert).unwrap();
    let cert = std::fs::read_to_string(&files.server_cert).unwrap();
    let key = std::fs::read_to_string(&files.server_key).unwrap();
    assert!(ca.contains("BEGIN CERTIFICATE"));
    assert!(cert.contains("BEGIN CERTIFICATE"));
    assert!(key.contains("PRIVATE KEY"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&files.server_key)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir = files.dir.clone();
    assert!(dir.is_dir());
    drop(files);
    assert!(!dir.exists(), "TLS directory not removed");
}

#[test]
fn several_servers_run_at_once() {
    let handles: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                PgServer::start_with(PgOptions {
                    max_connections: 20 + i,
                    ..PgOptions::default()
                })
            })
        })
        .collect();
    let mut servers: Vec<PgServer> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let mut ports: Vec<u16> = servers.iter().map(|s| s.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3);

    for (i, server) in servers.iter().enumerate() {
        assert_eq!(server.psql("show max_connections"), (20 + i).to_string());
        server.psql(&format!("CREATE TABLE marker_{i} ()"));
    }
    for (i, server) in servers.iter().enumerate() {
        let tables = server
            .psql("SELECT string_agg(relname, ',') FROM pg_class WHERE relname LIKE 'marker_%'");
        assert_eq!(tables, format!("marker_{i}"));
    }

    // Stopping is idempotent and does not disturb the other servers.
    let first_port = servers[0].port();
    let first_dir = servers[0].data_dir().to_path_buf();
    servers[0].stop();
    servers[0].stop();
    assert!(!wait_for_port(first_port, Duration::from_millis(200)));
    assert!(servers[0]
        .log_contents()
        .contains("database system is shut down"));
    assert_eq!(servers[1].psql("SELECT 1"), "1");

    drop(servers);
    assert!(!first_dir.exists(), "server directory not removed");
}

#[test]
fn drop_stops_a_running_server() {
    let server = PgServer::start();
    let port = server.port();
    let dir = server.data_dir().to_path_buf();
    assert!(wait_for_port(port, Duration::from_secs(1)));
    drop(server);
    assert!(!wait_for_port(port, Duration::from_millis(200)));
    assert!(!dir.exists());
}

#[test]
fn a_streaming_standby_follows_is_promoted_and_the_old_primary_rejoins() {
    let mut primary = PgServer::start_with(PgOptions {
        tls: true,
        ..Default::default()
    });
    primary.create_user("app", "app-pw", AuthMethod::Scram);
    primary.psql(
        "create table kv (k int primary key, v text); insert into kv values (1, 'a'); \
         grant all on kv to app",
    );

    let standby = PgServer::start_standby_of(&primary);
    assert_ne!(standby.port(), primary.port());
    assert!(standby.is_in_recovery());
    assert!(!primary.is_in_recovery());
    assert_eq!(standby.psql("select v from kv where k = 1"), "a");
    assert_eq!(
        primary.psql("select count(*) from pg_stat_replication where state = 'streaming'"),
        "1"
    );

    // Later writes reach it too.
    primary.psql("insert into kv values (2, 'b')");
    standby.wait_caught_up(&primary);
    assert_eq!(standby.psql("select v from kv where k = 2"), "b");

    // Same roles and passwords; the same CA verifies its certificate.
    let ca = primary.tls_files().unwrap().ca_cert.display().to_string();
    let app = format!(
        "{} sslmode=verify-full sslrootcert={ca}",
        standby.connection_string("app", "app-pw", "postgres")
    );
    assert_eq!(
        run_psql(
            &app,
            "select current_user || ' ' || ssl from pg_stat_ssl where pid = pg_backend_pid()"
        )
        .unwrap(),
        "app true"
    );
    let err = run_psql(&app, "insert into kv values (3, 'c')").unwrap_err();
    assert!(err.contains("read-only transaction"), "{err}");

    // Switchover: the primary stops, the standby takes over.
    primary.stop();
    standby.promote();
    assert!(!standby.is_in_recovery());
    run_psql(&app, "insert into kv values (3, 'c')").unwrap();

    // The former primary re-joins on its port as a standby of the new one.
    let port = primary.port();
    primary.restart_as_standby_of(&standby);
    assert_eq!(primary.port(), port);
    assert!(primary.is_in_recovery());
    assert_eq!(primary.psql("select v from kv where k = 3"), "c");
    standby.psql("insert into kv values (4, 'd')");
    primary.wait_caught_up(&standby);
    assert_eq!(primary.psql("select count(*) from kv"), "4");
}
