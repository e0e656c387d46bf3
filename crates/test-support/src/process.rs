//! The OS side of running server processes for tests: who we run as (servers refuse
//! root, so they run as their own OS user), running a command that must succeed,
//! signals (pausing a server with SIGSTOP), and the watchdog that cleans up after a
//! test binary that is killed without running its destructors.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a signalled process may take to reach the stopped or running state.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether this process runs with effective uid 0.
pub(crate) fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        if let Ok(status) = fs::read_to_string("/proc/self/status") {
            for line in status.lines() {
                if let Some(rest) = line.strip_prefix("Uid:") {
                    // real, effective, saved, fs
                    if let Some(euid) = rest.split_whitespace().nth(1) {
                        return euid == "0";
                    }
                }
            }
        }
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

/// uid and gid of OS user `name`, if it exists.
pub(crate) fn os_user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == name {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}

/// Gives a file or directory to OS user `name` (`ids` from [`os_user_ids`]).
pub(crate) fn chown_to(path: &Path, name: &str, (uid, gid): (u32, u32)) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {} to {name}: {e}", path.display()));
}

pub(crate) fn run_checked(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({cmd:?}): {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Quotes a value for `/bin/sh`: `a'b` becomes `'a'\''b'`.
pub(crate) fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

// ---------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------

/// `kill -<name> <pid>`; the error output when it fails.
pub(crate) fn send_signal(pid: u32, name: &str) -> Result<(), String> {
    let out = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Whether process `pid` is stopped (state `T` in `/proc/<pid>/stat`);
/// `None` when it cannot be read.
pub(crate) fn process_stopped(pid: u32) -> Option<bool> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    Some(state == "T")
}

/// Sends SIGSTOP (`stopped`) or SIGCONT to `pid`, the `what` process, and waits until
/// it is (or is no longer) in the stopped state. Panics when that fails.
pub(crate) fn stop_or_continue(pid: u32, what: &str, stopped: bool) {
    let name = if stopped { "STOP" } else { "CONT" };
    send_signal(pid, name).unwrap_or_else(|e| panic!("kill -{name} {pid} failed: {e}"));
    let deadline = Instant::now() + SIGNAL_TIMEOUT;
    while process_stopped(pid) != Some(stopped) {
        if Instant::now() >= deadline {
            panic!(
                "{what} process {pid} did not {} within {SIGNAL_TIMEOUT:?}",
                if stopped { "stop" } else { "continue" }
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------
// Watchdog
// ---------------------------------------------------------------------------

/// A helper shell that runs a clean-up script (kill the server, remove its directory)
/// if this process goes away without dropping the server, for example when the test
/// binary is killed. It waits for end-of-file on a pipe whose write end only this
/// process holds; dropping the `Watchdog` ends it without running the script.
pub(crate) struct Watchdog(Child);

impl Watchdog {
    /// The helper for `script`, for the caller to adjust (environment) and spawn.
    pub(crate) fn command(script: &str) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(format!("trap '' INT TERM HUP; cat >/dev/null; {script}"))
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        cmd
    }

    /// Starts the helper. Without it everything still works; only abnormal exits
    /// would leave a server behind, so a failure to start it is not an error.
    pub(crate) fn spawn(mut cmd: Command) -> Option<Watchdog> {
        cmd.spawn().ok().map(Watchdog)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn process_state_is_read_from_proc() {
        assert_eq!(process_stopped(std::process::id()), Some(false));
        assert_eq!(process_stopped(u32::MAX), None);
    }
}
