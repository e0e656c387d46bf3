//! The sections every configuration has: `[log]`, `[admin]` and `[runtime]`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::collector::Collector;

/// `[log]`: every field has a default, so the section may be left out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: String,
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// Threads serving clients.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads, each with its own listener and share of every pool; 0 means one
    /// per available core.
    #[serde(default)]
    pub workers: usize,
}

/// `[admin]`: every field has a default, so the section may be left out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: String,
    pub shutdown_grace: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9127".into(),
            shutdown_grace: "30s".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated `[log]`, `[admin]` and `[runtime]` sections.
#[derive(Debug, Clone)]
pub struct CommonSettings {
    pub log_format: LogFormat,
    pub log_level: String,
    pub admin_listen: SocketAddr,
    pub shutdown_grace: Duration,
    /// Worker threads (0: one per core).
    pub workers: usize,
}

pub(super) fn validate(
    c: &mut Collector<'_>,
    log: &LogConfig,
    admin: &AdminConfig,
    runtime: &RuntimeConfig,
) -> CommonSettings {
    let log_format = match log.format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            c.add(
                "log.format",
                format!("\"{other}\" is not one of text, json"),
            );
            LogFormat::Text
        }
    };
    if tracing_subscriber::EnvFilter::try_new(&log.level).is_err() {
        c.add(
            "log.level",
            format!("\"{}\" is not a log filter", log.level),
        );
    }
    CommonSettings {
        log_format,
        log_level: log.level.clone(),
        admin_listen: c.addr("admin.listen", &admin.listen),
        shutdown_grace: c.duration("admin.shutdown_grace", &admin.shutdown_grace),
        workers: runtime.workers,
    }
}
