//! The `credentials` block of a database, in both sections: where a route's server
//! credentials come from.

use std::path::PathBuf;

use serde::Deserialize;

use super::collector::Collector;
use super::vault::VaultConfig;

/// Where a route's server credentials come from: a username and password file, or a
/// Vault static or dynamic role (with an optional secrets-engine mount).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsConfig {
    pub username: Option<String>,
    pub password_file: Option<String>,
    pub vault_static_role: Option<String>,
    pub vault_dynamic_role: Option<String>,
    pub mount: Option<String>,
}

/// A validated credential source; routes naming equal settings share one source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CredentialSettings {
    File {
        username: String,
        password_file: PathBuf,
    },
    VaultStatic {
        mount: String,
        role: String,
    },
    VaultDynamic {
        mount: String,
        role: String,
    },
}

/// A route's credential source: exactly one of a password file or a Vault role.
pub(super) fn validate(
    c: &mut Collector<'_>,
    loc: &str,
    cfg: &CredentialsConfig,
    vault: Option<&VaultConfig>,
) -> CredentialSettings {
    let loc = format!("{loc}.credentials");
    let kinds = [
        cfg.username.is_some() || cfg.password_file.is_some(),
        cfg.vault_static_role.is_some(),
        cfg.vault_dynamic_role.is_some(),
    ];
    let fallback = CredentialSettings::File {
        username: String::new(),
        password_file: PathBuf::new(),
    };
    if kinds.iter().filter(|k| **k).count() != 1 {
        c.add(
            loc,
            "needs exactly one of: username with password_file, vault_static_role, vault_dynamic_role",
        );
        return fallback;
    }
    if let (Some(u), Some(f)) = (&cfg.username, &cfg.password_file) {
        if cfg.mount.is_some() {
            c.add(format!("{loc}.mount"), "only applies to Vault roles");
        }
        return CredentialSettings::File {
            username: u.clone(),
            password_file: c.path(&format!("{loc}.password_file"), f, true),
        };
    }
    if cfg.username.is_some() || cfg.password_file.is_some() {
        c.add(loc, "needs both username and password_file");
        return fallback;
    }
    let Some(vault) = vault else {
        c.add(loc, "names a Vault role but there is no [vault] section");
        return fallback;
    };
    vault_role(c, &loc, cfg, vault)
}

fn vault_role(
    c: &mut Collector<'_>,
    loc: &str,
    cfg: &CredentialsConfig,
    vault: &VaultConfig,
) -> CredentialSettings {
    let mount = cfg.mount.clone().unwrap_or_else(|| vault.mount.clone());
    let role = cfg
        .vault_static_role
        .clone()
        .or_else(|| cfg.vault_dynamic_role.clone())
        .unwrap_or_default();
    if role.is_empty() || role.contains('/') {
        c.add(loc, format!("\"{role}\" is not a role name"));
    }
    if cfg.vault_static_role.is_some() {
        CredentialSettings::VaultStatic { mount, role }
    } else {
        CredentialSettings::VaultDynamic { mount, role }
    }
}
