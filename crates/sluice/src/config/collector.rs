//! Collecting validation problems: every problem is kept with the location of the option
//! (`postgres.databases.app.pool_size`) instead of stopping at the first, and the
//! helpers that turn option text into values record theirs here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// The problems found so far, and the directory relative paths are resolved against.
pub(super) struct Collector<'a> {
    pub(super) problems: Vec<Problem>,
    pub(super) base: &'a Path,
}

impl<'a> Collector<'a> {
    pub(super) fn new(base: &'a Path) -> Self {
        Self {
            problems: Vec::new(),
            base,
        }
    }

    /// Records a problem once: the routes of a wildcard route share its block, and
    /// with it its problems.
    pub(super) fn add(&mut self, location: impl Into<String>, message: impl Into<String>) {
        let problem = Problem {
            location: location.into(),
            message: message.into(),
        };
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    pub(super) fn duration(&mut self, location: &str, text: &str) -> Duration {
        duration::parse(text).unwrap_or_else(|e| {
            self.add(location, e);
            Duration::ZERO
        })
    }

    /// A duration that must not be zero.
    pub(super) fn positive_duration(&mut self, location: &str, text: &str) -> Duration {
        let d = self.duration(location, text);
        if d.is_zero() {
            self.add(location, "must be more than 0");
        }
        d
    }

    pub(super) fn addr(&mut self, location: &str, text: &str) -> SocketAddr {
        text.parse().unwrap_or_else(|_| {
            self.add(
                location,
                format!("\"{text}\" is not an address like 0.0.0.0:6432"),
            );
            SocketAddr::from(([0, 0, 0, 0], 0))
        })
    }

    /// Resolves a path option; with `must_exist`, a missing file is a problem.
    pub(super) fn path(&mut self, location: &str, text: &str, must_exist: bool) -> PathBuf {
        match resolve_path(text, self.base) {
            Ok(p) => {
                if must_exist && !p.exists() {
                    self.add(location, format!("file {} does not exist", p.display()));
                }
                p
            }
            Err(e) => {
                self.add(location, e);
                PathBuf::new()
            }
        }
    }

    /// The text of an existing file named by a path option, or `None` (with the problem
    /// recorded) when it is missing or unreadable.
    pub(super) fn read(&mut self, location: &str, text: &str) -> (PathBuf, Option<String>) {
        let p = self.path(location, text, true);
        if !p.exists() {
            return (p, None);
        }
        match std::fs::read_to_string(&p) {
            Ok(content) => (p, Some(content)),
            Err(e) => {
                self.add(location, e.to_string());
                (p, None)
            }
        }
    }

    /// What has been collected: the value when there is no problem.
    pub(super) fn finish<T>(self, value: T) -> Result<T, Vec<Problem>> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(self.problems)
        }
    }
}

/// Expands `${VAR}` in a path option (paths of secrets can come from the environment)
/// and resolves it against the config file's directory.
pub fn resolve_path(value: &str, base: &Path) -> Result<PathBuf, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated ${{ in \"{value}\""))?;
        let var = &after[..end];
        let v = std::env::var(var)
            .map_err(|_| format!("environment variable {var} (used in \"{value}\") is not set"))?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let p = PathBuf::from(out);
    Ok(if p.is_relative() { base.join(p) } else { p })
}
