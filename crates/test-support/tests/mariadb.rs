use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::Duration;

use test_support::mariadb::{run_mariadb, MARIADB_SUPERUSER, MARIADB_SUPERUSER_PASSWORD};
use test_support::MariaDbServer;

#[test]
fn user_logs_in_over_tcp() {
    let server = MariaDbServer::start();
    assert_eq!(server.host(), "127.0.0.1");
    assert_ne!(server.port(), 3306);
    assert_eq!(
        server.superuser(),
        (MARIADB_SUPERUSER, MARIADB_SUPERUSER_PASSWORD)
    );
    assert!(server.sql("SELECT VERSION()").starts_with("10.11."));
    assert_eq!(
        server.sql(
            "SELECT @@max_connections, @@log_bin, @@read_only, @@bind_address, \
             @@skip_name_resolve"
        ),
        "500\t1\t0\t127.0.0.1\t1"
    );
    assert_eq!(server.sql("SHOW DATABASES LIKE 'test'"), "test");
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = ''"),
        "0"
    );

    server.create_user("app", "app 'secret'");
    server.create_database("appdb");
    assert_eq!(
        server.sql("SELECT plugin FROM mysql.user WHERE User = 'app' AND Host = '%'"),
        "mysql_native_password"
    );

    let out = run_mariadb(
        server.host(),
        server.port(),
        "app",
        "app 'secret'",
        Some("appdb"),
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); \
         INSERT INTO t VALUES (1, 'one'), (2, 'two'); \
         SELECT CURRENT_USER(), DATABASE(), COUNT(*), GROUP_CONCAT(v ORDER BY id) FROM t",
    )
    .unwrap();
    assert_eq!(out, "app@%\tappdb\t2\tone,two");

    let wrong = run_mariadb(
        server.host(),
        server.port(),
        "app",
        "wrong",
        None,
        "SELECT 1",
    );
    let err = wrong.unwrap_err();
    assert!(err.contains("1045"), "{err}");

    assert!(server.log_contents().contains("ready for connections"));
}

#[test]
fn replica_follows_primary() {
    let primary = MariaDbServer::start();
    // Made before the replica exists: it reaches the replica all the same.
    primary.create_user("app", "pw");
    let replica = MariaDbServer::start_replica_of(&primary);
    assert_ne!(primary.server_id(), replica.server_id());
    assert_eq!(replica.sql("SELECT @@read_only"), "1");
    let status = replica.replica_status().expect("replica status");
    assert_eq!(status["Slave_IO_Running"], "Yes");
    assert_eq!(status["Master_Port"], primary.port().to_string());
    assert!(primary.replica_status().is_none());

    primary.create_database("shop");
    primary.sql("CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT)");
    primary.sql("INSERT INTO shop.items VALUES (1, 'apple')");
    replica.wait_replicated(&primary);
    assert_eq!(
        replica.sql("SELECT name FROM shop.items WHERE id = 1"),
        "apple"
    );

    // The account came through replication too; read_only applies to it.
    let read = run_mariadb(
        replica.host(),
        replica.port(),
        "app",
        "pw",
        Some("shop"),
        "SELECT COUNT(*) FROM items",
    );
    assert_eq!(read.unwrap(), "1");
    let write = run_mariadb(
        replica.host(),
        replica.port(),
        "app",
        "pw",
        Some("shop"),
        "INSERT INTO items VALUES (2, 'pear')",
    );
    let err = write.unwrap_err();
    assert!(err.contains("ERROR 1290"), "{err}");
    assert!(err.contains("read-only"), "{err}");
}

#[test]
fn read_only_toggles() {
    let server = MariaDbServer::start();
    server.create_user("app", "pw");
    let insert = || {
        run_mariadb(
            server.host(),
            server.port(),
            "app",
            "pw",
            Some("test"),
            "CREATE TABLE IF NOT EXISTS t (v INT); INSERT INTO t VALUES (1)",
        )
    };

    server.set_read_only(true);
    assert_eq!(server.sql("SELECT @@global.read_only"), "1");
    let err = insert().unwrap_err();
    assert!(err.contains("ERROR 1290"), "{err}");

    server.set_read_only(false);
    assert_eq!(server.sql("SELECT @@global.read_only"), "0");
    insert().unwrap();
}

#[test]
fn pause_resume_and_stop() {
    let mut server = MariaDbServer::start();
    server.pause();
    // The kernel accepts the connection, but no handshake comes.
    let mut stream = TcpStream::connect((server.host(), server.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let err = stream.read(&mut byte).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    server.resume();
    assert_eq!(server.sql("SELECT 1"), "1");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(stream.read(&mut byte).unwrap(), 1, "handshake after resume");

    let dir = server.data_dir().to_path_buf();
    server.stop();
    server.stop();
    assert!(server.try_sql("SELECT 1").is_err());
    assert!(server.log_contents().contains("Shutdown complete"));
    drop(server);
    assert!(!dir.exists());
}

#[test]
fn the_writable_role_moves_to_the_replica_and_back() {
    let primary = MariaDbServer::start();
    primary.create_user("app", "pw");
    primary
        .sql("CREATE TABLE test.kv (k INT PRIMARY KEY, v INT); INSERT INTO test.kv VALUES (1, 1)");
    let replica = MariaDbServer::start_replica_of(&primary);
    let write = |server: &MariaDbServer, k: u32| {
        run_mariadb(
            server.host(),
            server.port(),
            "app",
            "pw",
            Some("test"),
            &format!("INSERT INTO kv VALUES ({k}, {k})"),
        )
    };

    MariaDbServer::switch_writable(&primary, &replica);
    assert_eq!(primary.sql("SELECT @@global.read_only"), "1");
    assert_eq!(replica.sql("SELECT @@global.read_only"), "0");
    assert!(replica.replica_status().is_none());
    let status = primary
        .replica_status()
        .expect("the old primary replicates");
    assert_eq!(status["Slave_IO_Running"], "Yes");
    assert_eq!(status["Master_Port"], replica.port().to_string());
    let err = write(&primary, 2).unwrap_err();
    assert!(err.contains("ERROR 1290"), "{err}");
    write(&replica, 2).unwrap();
    primary.wait_replicated(&replica);
    assert_eq!(primary.sql("SELECT v FROM test.kv WHERE k = 2"), "2");

    // And back again: both directions keep their GTID positions.
    MariaDbServer::switch_writable(&replica, &primary);
    assert_eq!(primary.sql("SELECT @@global.read_only"), "0");
    assert_eq!(replica.sql("SELECT @@global.read_only"), "1");
    assert!(primary.replica_status().is_none());
    write(&primary, 3).unwrap();
    let err = write(&replica, 4).unwrap_err();
    assert!(err.contains("ERROR 1290"), "{err}");
    replica.wait_replicated(&primary);
    assert_eq!(replica.sql("SELECT COUNT(*) FROM test.kv"), "3");
}
