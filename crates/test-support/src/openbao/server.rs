//! The lifecycle of a private `bao server -dev`: in-memory storage, a free loopback
//! port, a root token unique to it and a log file in a temporary directory; pausing
//! it (SIGSTOP) for outage tests; clean-up on drop — also when the test binary is
//! killed, through a watchdog.

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

use super::binary::{bao_bin, clean_bao_env};
use crate::files::{is_executable, make_tempdir, read_log, show_log_if_panicking, tail};
use crate::ports::{free_port, LOOPBACK};
use crate::process::{shell_quote, stop_or_continue, Watchdog};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const START_ATTEMPTS: usize = 5;

/// A root token id that no other server of this machine uses, so that a
/// readiness check can tell our server from any other one on the same port.
fn unique_root_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "sluice-root-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running `bao server -dev` private to a test. Dropping it (also while
/// panicking) kills the server and removes its directory.
pub struct OpenBao {
    child: Child,
    pid: u32,
    port: u16,
    pub(super) root_token: String,
    /// The binary used for CLI calls: the server's own executable when it
    /// can be resolved (skipping wrapper scripts such as pip's entry point
    /// and pyenv shims, which cost a few hundred milliseconds per call).
    pub(super) cli: PathBuf,
    log_path: PathBuf,
    watchdog: Option<Watchdog>,
    pub(super) tmp: Option<TempDir>,
}

impl std::fmt::Debug for OpenBao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBao")
            .field("address", &self.address())
            .field("pid", &self.pid)
            .field("log", &self.log_path)
            .finish()
    }
}

impl OpenBao {
    /// Starts `bao server -dev` on a free loopback port with a root token
    /// unique to this server, and waits until `GET /v1/sys/health` answers
    /// 200 and the root token is accepted. Panics (showing the server log)
    /// when that takes more than 20 seconds, and with installation
    /// instructions when `bao` is missing.
    pub fn start() -> OpenBao {
        let bin = bao_bin();
        let tmp = make_tempdir("sluice-bao-");
        let log_path = tmp.path().join("openbao.log");
        let root_token = unique_root_token();

        let mut attempt = 0;
        let (child, port) = loop {
            attempt += 1;
            let port = free_port();
            let log = fs::File::create(&log_path)
                .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
            let log_err = log
                .try_clone()
                .unwrap_or_else(|e| panic!("dup {}: {e}", log_path.display()));
            let mut cmd = Command::new(&bin);
            clean_bao_env(&mut cmd);
            // The dev server also opens a cluster listener on port + 1; when
            // that port is taken it only logs an error and keeps serving.
            cmd.args(["server", "-dev", "-dev-no-store-token"])
                .arg(format!("-dev-root-token-id={root_token}"))
                .arg(format!("-dev-listen-address={LOOPBACK}:{port}"))
                .current_dir(tmp.path())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err);
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {} server -dev: {e}", bin.display()));
            match wait_until_ready(child, port, &root_token, &log_path) {
                Ok(child) => break (child, port),
                // Someone took the API port between free_port() and bind.
                Err(log)
                    if log.contains("Error initializing listener")
                        && log.contains("address already in use")
                        && attempt < START_ATTEMPTS =>
                {
                    continue
                }
                Err(log) => panic!(
                    "OpenBao did not start (port {port}, {}):\n--- server log ---\n{log}",
                    bin.display()
                ),
            }
        };

        let pid = child.id();
        let cli = fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .filter(|exe| exe.file_name() == Some(OsStr::new("bao")) && is_executable(exe))
            .unwrap_or(bin);
        let mut server = OpenBao {
            child,
            pid,
            port,
            root_token,
            cli,
            log_path,
            watchdog: None,
            tmp: Some(tmp),
        };
        server.spawn_watchdog();
        server
    }

    /// Starts a helper that kills the server and removes its directory if
    /// this process goes away without dropping the `OpenBao` (for example
    /// when the test binary is killed). It waits for end-of-file on a pipe
    /// whose write end only this process holds.
    fn spawn_watchdog(&mut self) {
        let dir = self
            .tmp
            .as_ref()
            .map(|t| format!("rm -rf {}", shell_quote(&t.path().to_string_lossy())))
            .unwrap_or_default();
        let script = format!("kill -KILL {} 2>/dev/null; {dir}", self.pid);
        self.watchdog = Watchdog::spawn(Watchdog::command(&script));
    }

    /// The server's API address: `"http://127.0.0.1:PORT"` (no TLS).
    pub fn address(&self) -> String {
        format!("http://{LOOPBACK}:{}", self.port)
    }

    /// TCP port of the API listener (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The root token (unique to this server).
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Path of the server log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log, for debugging.
    pub fn log_contents(&self) -> String {
        read_log(&self.log_path)
    }

    // -- Availability -------------------------------------------------------

    /// Stops the server process (SIGSTOP): connections are still accepted by
    /// the kernel but requests hang, while the server keeps all its state.
    /// Returns once the process is stopped.
    pub fn pause(&self) {
        stop_or_continue(self.pid, "OpenBao", true);
    }

    /// Continues a server stopped by [`OpenBao::pause`] (SIGCONT) and returns
    /// once it answers requests again.
    pub fn resume(&self) {
        stop_or_continue(self.pid, "OpenBao", false);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while http_status(self.port, "/v1/sys/health", None) != Some(200) {
            if Instant::now() >= deadline {
                panic!(
                    "OpenBao on port {} did not answer within {STARTUP_TIMEOUT:?} after SIGCONT\n\
                     --- server log (tail) ---\n{}",
                    self.port,
                    tail(&self.log_contents(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        drop(self.watchdog.take());
        show_log_if_panicking("OpenBao", &self.address(), &self.log_path);
        // SIGKILL also ends a paused (SIGSTOPped) server.
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.tmp.take());
    }
}

/// Waits until the freshly spawned server on `port` is ready (health 200 and
/// `root_token` accepted). On failure the child is killed and the server log
/// is returned.
fn wait_until_ready(
    mut child: Child,
    port: u16,
    root_token: &str,
    log_path: &Path,
) -> Result<Child, String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "(server exited with {status})\n{}",
                read_log(log_path)
            ));
        }
        // The token check tells our server from another one that might
        // have taken the port first.
        if http_status(port, "/v1/sys/health", None) == Some(200)
            && http_status(port, "/v1/auth/token/lookup-self", Some(root_token)) == Some(200)
        {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "(not ready within {STARTUP_TIMEOUT:?})\n{}",
                read_log(log_path)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Status code of `GET path` on `127.0.0.1:port` (HTTP/1.0), or `None` when
/// the server does not answer within 2 seconds.
fn http_status(port: u16, path: &str, token: Option<&str>) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {LOOPBACK}:{port}\r\n");
    if let Some(token) = token {
        request.push_str(&format!("X-Vault-Token: {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    match words.next() {
        Some(version) if version.starts_with("HTTP/") => words.next()?.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_tokens_are_unique() {
        let a = unique_root_token();
        let b = unique_root_token();
        assert_ne!(a, b);
        assert!(a.starts_with("sluice-root-"));
    }

    #[test]
    fn openbao_handles_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<OpenBao>();
    }
}
