//! Turning a parsed config into typed settings, section by section, collecting every
//! problem with its location instead of stopping at the first. The result carries what
//! the files named in the config hold (users, access rules, TLS keys), read once here.

use std::path::Path;

use pool_core::credentials::vault::VaultSettings;

use super::collector::{Collector, Problem};
use super::common::{self, CommonSettings};
use super::file::Config;
use super::mysql::{self, MysqlSettings};
use super::peers::{self, PeersSettings};
use super::postgres::{self, PgSettings};
use super::vault;

/// A configuration that can be run: every section checked, every file it names read.
#[derive(Debug)]
pub struct Validated {
    pub common: CommonSettings,
    pub postgres: Option<PgSettings>,
    pub mysql: Option<MysqlSettings>,
    pub vault: Option<VaultSettings>,
    pub peers: Option<PeersSettings>,
}

/// Reads the config file at `path` and validates it; relative paths in it are resolved
/// against its directory.
pub fn load(path: &Path) -> Result<Validated, Vec<Problem>> {
    let config = Config::load(path).map_err(|e| {
        vec![Problem {
            location: "(file)".into(),
            message: e.to_string(),
        }]
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    validate(&config, base)
}

/// Checks everything that can be checked without connecting anywhere: values, references
/// between sections, and that the files named exist and parse.
pub fn validate(config: &Config, base: &Path) -> Result<Validated, Vec<Problem>> {
    let mut c = Collector::new(base);
    let common = common::validate(&mut c, &config.log, &config.admin, &config.runtime);
    let vault_config = config.vault.as_ref();
    let postgres = config
        .postgres
        .as_ref()
        .map(|pg| postgres::validate(&mut c, pg, vault_config));
    let mysql = config
        .mysql
        .as_ref()
        .map(|m| mysql::validate(&mut c, m, vault_config));
    let vault = vault_config.map(|v| vault::validate(&mut c, v));
    let peers = config.peers.as_ref().map(|p| peers::validate(&mut c, p));
    if postgres.is_none() && mysql.is_none() {
        c.add(
            "postgres",
            "neither a [postgres] nor a [mysql] section: sluice would serve nothing",
        );
    }
    c.finish(Validated {
        common,
        postgres,
        mysql,
        vault,
        peers,
    })
}

#[cfg(test)]
#[path = "validated_tests.rs"]
mod tests;
