//! The configuration file as written: its sections, read and parsed from TOML. Unknown
//! keys are rejected by the parser so that a misspelt option is not silently ignored.

use std::path::Path;

use serde::Deserialize;

use super::common::{AdminConfig, LogConfig, RuntimeConfig};
use super::mysql::MysqlConfig;
use super::peers::PeersConfig;
use super::postgres::PostgresConfig;
use super::vault::VaultConfig;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    pub postgres: Option<PostgresConfig>,
    pub mysql: Option<MysqlConfig>,
    pub vault: Option<VaultConfig>,
    pub peers: Option<PeersConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| LoadError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}
