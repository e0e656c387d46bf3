//! Authentication on both sides of the MySQL proxy. MySQL 8 cannot be installed on the
//! test machines, so sluice's server-side caching_sha2_password is exercised against
//! another sluice, whose client side speaks it: fast path, and full path over TLS and
//! with the RSA key exchange. Client-side plugins are exercised with real clients
//! (mysql_async's own RSA implementation, the mariadb CLI).

mod mysql_support;

use mysql_async::prelude::*;
use mysql_support::*;

/// A second sluice whose cluster is the first sluice's read-write port, logging in
/// there as the first one's client `APP_USER`.
fn front_of(back: &MySluice, tls_mode: &'static str) -> MySluice {
    front_of_with(back, tls_mode, String::new())
}

fn front_of_with(back: &MySluice, tls_mode: &'static str, extra_cluster: String) -> MySluice {
    MySluice::start(Options {
        extra_cluster,
        users: "[users.front]\npassword = \"front-pw\"\n".into(),
        credentials: Some(format!(
            "{{ username = \"{APP_USER}\", password_file = \"db-password\" }}"
        )),
        db_password: APP_PASSWORD.into(),
        tls_mode,
        ..Options::new(vec![back.rw_port])
    })
}

async fn current_user_through(s: &MySluice) -> Result<String, String> {
    login(s, "front", "front-pw").await
}

/// Logs in to `s` as `user` with mysql_async (no TLS) and returns CURRENT_USER().
async fn login(s: &MySluice, user: &str, password: &str) -> Result<String, String> {
    let url = s.url(s.rw_port, user, password, DATABASE);
    let attempt = async {
        let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap()).await?;
        let who: String = c.query_first("SELECT CURRENT_USER()").await?.unwrap();
        c.disconnect().await?;
        Ok::<_, mysql_async::Error>(who)
    };
    attempt.await.map_err(|e| e.to_string())
}

async fn app_login(s: &MySluice, password: &str) -> Result<String, String> {
    login(s, APP_USER, password).await
}

#[tokio::test]
async fn sluice_logs_in_to_a_caching_sha2_server_by_the_fast_path() {
    let m = start_mariadb();
    let back = MySluice::start(Options::new(vec![m.port()]));
    let front = front_of(&back, "disable");
    assert_eq!(
        current_user_through(&front).await,
        Ok(format!("{DB_USER}@%"))
    );
    // The back sluice checked the fast-path answer: a full authentication without TLS
    // would have made it generate its RSA key.
    let log = back.log();
    assert!(!log.contains("generated the RSA key"), "{log}");
}

/// A sluice that knows `APP_USER` only by a SCRAM verifier (as the PostgreSQL side
/// stores users): a caching_sha2_password fast-path answer cannot be checked, so it
/// asks for the password itself (full authentication).
fn full_auth_back(m: &test_support::MariaDbServer, extra_mysql: String) -> MySluice {
    let verifier =
        pg_proxy::auth::scram::ScramVerifier::from_password(APP_PASSWORD, b"mysql-salt", 4096);
    MySluice::start(Options {
        users: format!(
            "[users.{APP_USER}]\nscram_verifier = \"{}\"\n",
            verifier.to_text()
        ),
        extra_mysql,
        ..Options::new(vec![m.port()])
    })
}

#[tokio::test]
async fn a_user_known_by_a_native_hash_is_switched_to_mysql_native_password() {
    let m = start_mariadb();
    let hash = mysql_proxy::auth::native::stored_hash(APP_PASSWORD.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02X}")).collect();
    let s = MySluice::start(Options {
        users: format!("[users.{APP_USER}]\nmysql_native_password = \"*{hex}\"\n"),
        ..Options::new(vec![m.port()])
    });
    // mysql_async starts with caching_sha2_password (sluice's greeting); without TLS
    // it logs in by the switch, with no RSA key made.
    assert_eq!(
        app_login(&s, APP_PASSWORD).await,
        Ok(format!("{DB_USER}@%"))
    );
    let err = app_login(&s, "wrong").await.unwrap_err();
    assert!(err.contains("1045"), "{err}");
    let log = s.log();
    assert!(!log.contains("generated the RSA key"), "{log}");
}

#[tokio::test]
async fn full_authentication_goes_over_tls_or_with_the_rsa_key_exchange() {
    let m = start_mariadb();
    let tls = test_support::make_tls_files(&["127.0.0.1"]);
    let back = full_auth_back(
        &m,
        format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
            tls.server_cert.display(),
            tls.server_key.display()
        ),
    );
    let front = front_of(&back, "require");
    assert_eq!(
        current_user_through(&front).await,
        Ok(format!("{DB_USER}@%"))
    );
    // Without TLS the front sluice asks for the back one's public key and sends the
    // password encrypted with it.
    let plain = front_of(&back, "disable");
    assert_eq!(
        current_user_through(&plain).await,
        Ok(format!("{DB_USER}@%"))
    );
    let log = back.log();
    assert!(
        log.contains("generated the RSA key"),
        "the back sluice made its key at the first login without TLS: {log}"
    );
    assert!(!log.contains(APP_PASSWORD));
}

#[tokio::test]
async fn clients_log_in_without_tls_by_the_rsa_key_exchange() {
    let m = start_mariadb();
    // A key from a file, in PKCS#1 PEM as `openssl genrsa -traditional` writes it.
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("rsa.pem");
    let made = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key_path)
        .arg("2048")
        .output()
        .expect("openssl (apt-get install openssl) makes the test's RSA key");
    assert!(made.status.success(), "{made:?}");
    let s = full_auth_back(
        &m,
        format!("rsa_private_key_file = \"{}\"", key_path.display()),
    );
    // mysql_async: its own RSA-OAEP, asking sluice for the public key.
    assert_eq!(
        app_login(&s, APP_PASSWORD).await,
        Ok(format!("{DB_USER}@%"))
    );
    // The same exchange with a wrong password is refused with 1045.
    let err = app_login(&s, "wrong").await.unwrap_err();
    assert!(err.contains("1045"), "{err}");
    // The mariadb CLI (libmariadb's caching_sha2_password plugin).
    let out = s
        .cli(
            s.rw_port,
            APP_USER,
            APP_PASSWORD,
            &["--default-auth=caching_sha2_password"],
            "SELECT CURRENT_USER()",
        )
        .expect("the mariadb CLI logs in by the RSA exchange");
    assert_eq!(out.trim(), format!("{DB_USER}@%"));
    let log = s.log();
    assert!(
        !log.contains("generated the RSA key"),
        "the configured key is used: {log}"
    );
    assert!(!log.contains(APP_PASSWORD));
}

#[test]
fn cli_plugins_and_login_errors() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        extra_mysql: "max_client_conn = 50".into(),
        ..Options::new(vec![m.port()])
    });
    for plugin in ["mysql_native_password", "caching_sha2_password"] {
        let out = s
            .cli(
                s.rw_port,
                APP_USER,
                APP_PASSWORD,
                &[&format!("--default-auth={plugin}")],
                "SELECT CURRENT_USER()",
            )
            .unwrap_or_else(|e| panic!("{plugin}: {e}"));
        assert_eq!(out.trim(), format!("{DB_USER}@%"), "{plugin}");
    }
    let err = s
        .cli(s.rw_port, APP_USER, "wrong", &[], "SELECT 1")
        .unwrap_err();
    assert!(err.contains("1045"), "{err}");
    let err = s
        .cli(s.rw_port, "nobody", APP_PASSWORD, &[], "SELECT 1")
        .unwrap_err();
    assert!(err.contains("1045"), "{err}");
    // The database name picks the pool: an unknown one is refused at login.
    let out = std::process::Command::new(test_support::mariadb::mariadb_bin("mariadb"))
        .args([
            "--protocol=TCP",
            "-h",
            "127.0.0.1",
            "-P",
            &s.rw_port.to_string(),
        ])
        .args([format!("-u{APP_USER}"), format!("-p{APP_PASSWORD}")])
        .args(["--ssl=0", "nosuchdb", "-e", "SELECT 1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("1049"), "{err}");
    // Logs name the refusal but never the password.
    let log = s.log();
    assert!(log.contains("MySQL client refused"), "{log}");
    assert!(!log.contains(APP_PASSWORD) && !log.contains(DB_PASSWORD));
}

#[tokio::test]
async fn too_many_clients_get_1040() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        extra_mysql: "max_client_conn = 2".into(),
        ..Options::new(vec![m.port()])
    });
    let a = s.connect().await;
    let b = s.connect().await;
    let url = s.url(s.rw_port, APP_USER, APP_PASSWORD, DATABASE);
    let err = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("1040") || err.to_string().contains("Too many connections"),
        "{err}"
    );
    drop((a, b));
}

#[tokio::test]
async fn a_user_not_bound_to_the_database_is_refused_with_1045() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        users: format!(
            "[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n\
             [users.billing]\npassword = \"billing-secret\"\n"
        ),
        extra_database: "users = [\"billing\"]".into(),
        ..Options::new(vec![m.port()])
    });
    // The database is bound to another app: the right password does not open it.
    let err = app_login(&s, APP_PASSWORD).await.unwrap_err();
    assert!(err.contains("1045") && err.contains("to database"), "{err}");
    assert!(login(&s, "billing", "billing-secret").await.is_ok());
    assert!(s.log().contains("user not bound to the database"));
}

#[tokio::test]
async fn prefer_without_tls_asks_for_no_rsa_key_unless_allowed() {
    let m = start_mariadb();
    // A back sluice without TLS that needs the full caching_sha2_password exchange.
    let back = full_auth_back(&m, String::new());
    let refused = front_of(&back, "prefer");
    let err = current_user_through(&refused).await.unwrap_err();
    let log = refused.log();
    assert!(log.contains("allow_plaintext_password"), "{err}\n{log}");
    assert!(!back.log().contains("generated the RSA key"));
    let allowed = front_of_with(&back, "prefer", "allow_plaintext_password = true".into());
    assert_eq!(
        current_user_through(&allowed).await,
        Ok(format!("{DB_USER}@%"))
    );
}

#[tokio::test]
async fn idle_sockets_lock_no_app_out() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        extra_mysql: "max_client_conn = 1\nmax_handshakes_per_address = 2".into(),
        ..Options::new(vec![m.port()])
    });
    let open_idle = || std::net::TcpStream::connect(("127.0.0.1", s.rw_port)).unwrap();
    let mut idle = vec![open_idle(), open_idle()];
    // The next connection from that address gets "Too many connections" in place of
    // the greeting. (One that still gets in means an idle socket was refused while
    // sluice's start-up probe was counted: another takes its place.)
    let mut refused = None;
    for _ in 0..100 {
        match app_login(&s, APP_PASSWORD).await {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(_) => {
                idle.push(open_idle());
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    let err = refused.expect("the per-address handshake cap was never reached");
    assert!(
        err.contains("1040") && err.contains("from this address"),
        "{err}"
    );
    assert!(
        !err.contains("#08004"),
        "no SQLSTATE marker before the greeting: {err}"
    );
    // From another address the app gets in, and the idle sockets took no client slot
    // (max_client_conn = 1).
    let relay = relay_from("127.0.0.2", s.rw_port).await;
    let url = s.url(relay, APP_USER, APP_PASSWORD, DATABASE);
    let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", s.log()));
    let answer: Option<i64> = c.query_first("SELECT 40 + 2").await.unwrap();
    assert_eq!(answer, Some(42));
    drop(idle);
}

/// A local port whose connections reach `port` from the address `source` (a loopback
/// address other than 127.0.0.1 stands for another machine).
async fn relay_from(source: &'static str, port: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket
                .bind(std::net::SocketAddr::new(source.parse().unwrap(), 0))
                .unwrap();
            let mut outbound = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    local
}
