//! Driving an OpenBao server through its `bao` command line as root (`BAO_ADDR` and
//! `BAO_TOKEN` set for every call, so everything here is synchronous), and reading
//! its JSON answers.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::binary::clean_bao_env;
use super::server::OpenBao;
use crate::files::tail;

/// `BAO_CLIENT_TIMEOUT` of CLI calls, so that nothing hangs for long when
/// the server is paused.
const CLI_TIMEOUT: &str = "30s";

/// `d` as whole seconds (rounded up) for OpenBao's duration parameters.
pub(super) fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// What a CLI run produced.
pub(super) struct CliOutput {
    pub(super) status: ExitStatus,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

pub(super) fn json_str(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in OpenBao's answer: {value}"))
        .to_string()
}

pub(super) fn json_u64(value: &Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no integer at {pointer} in OpenBao's answer: {value}"))
}

pub(super) fn parse_json(text: &str, what: &str) -> Value {
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what}: OpenBao's answer is not JSON ({e}): {text}"))
}

impl OpenBao {
    pub(super) fn run_cli(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> CliOutput {
        let mut cmd = Command::new(&self.cli);
        clean_bao_env(&mut cmd);
        cmd.env("BAO_ADDR", self.address())
            .env("BAO_TOKEN", &self.root_token)
            .env("BAO_CLIENT_TIMEOUT", CLI_TIMEOUT)
            .env("NO_COLOR", "1");
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.args(args)
            .current_dir(self.tmp.as_ref().map_or(Path::new("/"), |t| t.path()))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.cli.display()));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            // A CLI that exits early closes the pipe; its output tells why.
            let _ = pipe.write_all(input.as_bytes());
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.cli.display()));
        CliOutput {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn cli_result(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<String, String> {
        let out = self.run_cli(args, stdin, env);
        if out.status.success() {
            Ok(out.stdout.trim_end().to_string())
        } else {
            Err(format!(
                "`bao {}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
                args.join(" "),
                out.status,
                out.stdout.trim_end(),
                out.stderr.trim_end()
            ))
        }
    }

    fn checked(&self, result: Result<String, String>) -> String {
        result.unwrap_or_else(|err| {
            panic!(
                "{err}\n--- OpenBao log (tail) ---\n{}",
                tail(&self.log_contents(), 30)
            )
        })
    }

    /// Runs the `bao` CLI against this server as root (`BAO_ADDR`,
    /// `BAO_TOKEN` set) and returns its standard output without trailing
    /// white space. Panics with the output, error output and the tail of the
    /// server log when it fails.
    pub fn bao(&self, args: &[&str]) -> String {
        self.checked(self.try_bao(args))
    }

    /// Like [`OpenBao::bao`], returning the failure (exit status, stdout and
    /// stderr) as `Err` instead of panicking.
    pub fn try_bao(&self, args: &[&str]) -> Result<String, String> {
        self.cli_result(args, None, &[])
    }

    /// Like [`OpenBao::try_bao`] with extra environment variables, which
    /// override the defaults: e.g. `("BAO_TOKEN", token)` to act as another
    /// token, or `("BAO_CLIENT_TIMEOUT", "2s")` (the default is 30s).
    pub fn try_bao_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
        self.cli_result(args, None, env)
    }

    /// Like [`OpenBao::bao`], feeding `input` on standard input (for
    /// arguments such as `-` that read data from it).
    pub fn bao_with_stdin(&self, args: &[&str], input: &str) -> String {
        self.checked(self.cli_result(args, Some(input), &[]))
    }

    /// Writes `data` (a JSON object) to `path` with `bao write <path> -`.
    pub fn write_json(&self, path: &str, data: &Value) -> String {
        self.bao_with_stdin(&["write", path, "-"], &data.to_string())
    }

    /// `bao read -format=json <path>`, parsed.
    pub fn read_json(&self, path: &str) -> Value {
        parse_json(&self.bao(&["read", "-format=json", path]), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_seconds() {
        assert_eq!(secs(Duration::from_secs(5)), "5s");
        assert_eq!(secs(Duration::from_millis(1500)), "2s");
        assert_eq!(secs(Duration::ZERO), "0s");
    }
}
