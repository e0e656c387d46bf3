//! A running `sluice` for an end-to-end test: started with a config file in its own
//! temporary directory, ready once its listeners accept connections, with its log
//! (shown when the test fails), signals, and GETs on its admin listener.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::config::SluiceConfig;
use crate::ports::free_port;

/// How long sluice may take to listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How much of sluice's log a failing test prints.
#[derive(Clone, Copy, Debug)]
pub enum PanicLog {
    Whole,
    LastLines(usize),
}

/// The sluice process of a test. Dropping it kills the process and removes its
/// directory.
pub struct SluiceProcess {
    pub admin_port: u16,
    pub config_path: PathBuf,
    /// The first listener's port, which names the log kept by `$SLUICE_KEEP_LOGS`.
    first_port: u16,
    child: Option<Child>,
    log_path: PathBuf,
    panic_log: PanicLog,
    dir: TempDir,
}

impl SluiceProcess {
    /// Writes `config` and its files into a new temporary directory, starts `binary`
    /// with it (`RUST_LOG` from `$SLUICE_TEST_LOG`, `debug` by default) and returns
    /// once `listeners` and the admin listener accept connections. Panics with the
    /// log when sluice exits or does not listen within 20 seconds.
    pub fn start(
        binary: &Path,
        config: &SluiceConfig<'_>,
        listeners: &[u16],
        panic_log: PanicLog,
    ) -> SluiceProcess {
        let dir = tempfile::tempdir().expect("create sluice's directory");
        let admin_port = free_port();
        let config_path = dir.path().join("sluice.toml");
        let text = config.write_files(dir.path(), admin_port);
        std::fs::write(&config_path, text).expect("write sluice.toml");
        let log_path = dir.path().join("sluice.log");
        let log = std::fs::File::create(&log_path).expect("create sluice.log");
        let child = Command::new(binary)
            .arg("--config")
            .arg(&config_path)
            .env(
                "RUST_LOG",
                std::env::var("SLUICE_TEST_LOG").unwrap_or("debug".into()),
            )
            .stdout(log.try_clone().expect("dup sluice.log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start sluice");
        let mut sluice = SluiceProcess {
            admin_port,
            config_path,
            first_port: listeners.first().copied().unwrap_or(admin_port),
            child: Some(child),
            log_path,
            panic_log,
            dir,
        };
        sluice.wait_listening(listeners);
        sluice
    }

    fn wait_listening(&mut self, listeners: &[u16]) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            let accepting = |port: &u16| TcpStream::connect(("127.0.0.1", *port)).is_ok();
            if listeners.iter().all(accepting) && accepting(&self.admin_port) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sluice exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sluice did not start listening:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The directory holding the config file and the files it names.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `kill -<sig>` to sluice; asserts that it was delivered.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id();
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns whether it exited successfully.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<bool> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// GET on the admin listener: (status code, body).
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin_port, path)
    }

    /// The sum of every sample of metric `name` whose labels contain `label` (e.g.
    /// `source="static:database/app"`, or "" for any), or `None` when there is none.
    pub fn metric(&self, name: &str, label: &str) -> Option<f64> {
        let (code, body) = self.admin_get("/metrics");
        assert_eq!(code, 200);
        let samples: Vec<f64> = body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter(|l| l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!samples.is_empty()).then(|| samples.iter().sum())
    }
}

impl Drop for SluiceProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Ok(dir) = std::env::var("SLUICE_KEEP_LOGS") {
            // For a closer look at a run: the whole log, named by the listener's port.
            let _ = std::fs::copy(
                &self.log_path,
                Path::new(&dir).join(format!("sluice-{}.log", self.first_port)),
            );
        }
        if std::thread::panicking() {
            let log = self.log();
            match self.panic_log {
                PanicLog::Whole => eprintln!("---- sluice log ----\n{log}"),
                PanicLog::LastLines(n) => {
                    let tail: Vec<&str> = log.lines().rev().take(n).collect();
                    eprintln!("--- sluice log (last lines) ---");
                    for line in tail.iter().rev() {
                        eprintln!("{line}");
                    }
                }
            }
        }
    }
}

/// One GET on `127.0.0.1:port` (HTTP/1.0, read to the end): (status code, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    try_http_get(port, path).unwrap_or_else(|e| panic!("GET {path} on port {port}: {e}"))
}

/// [`http_get`], with a failed connection (the listener gone) as an error.
pub fn try_http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}
