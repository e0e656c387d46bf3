//! Credential sources by what they were built from: shared by the routes (of either
//! protocol) naming the same role, and kept across reloads so that a reload does not
//! fetch or lease anew. The Vault client they use lives here too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pool_core::credentials::vault::{DynamicRoleSource, StaticRoleSource, Vault, VaultSettings};
use pool_core::credentials::{CredentialSource, FileSource};

use crate::config::CredentialSettings;

#[derive(Default)]
pub struct Sources {
    vault: Option<(VaultSettings, Arc<Vault>)>,
    by_settings: HashMap<CredentialSettings, Arc<dyn CredentialSource>>,
}

impl Sources {
    /// Whether `settings` name another Vault (or none where there was one).
    pub fn vault_differs(&self, settings: Option<&VaultSettings>) -> bool {
        settings != self.vault.as_ref().map(|(s, _)| s)
    }

    /// Sets up the Vault client when the settings name one (or changed). Returns the
    /// sources of the previous client, which must not be reused: the caller closes them
    /// (revoking their leases) once no pool uses them.
    pub fn set_vault(
        &mut self,
        settings: Option<&VaultSettings>,
    ) -> anyhow::Result<Vec<Arc<dyn CredentialSource>>> {
        match (settings, &self.vault) {
            (None, None) => return Ok(Vec::new()),
            (None, Some(_)) => self.vault = None,
            (Some(s), Some((current, _))) if s == current => return Ok(Vec::new()),
            (Some(s), _) => {
                let vault = Vault::new(s.clone()).context("[vault]")?;
                vault.spawn_token_upkeep();
                self.vault = Some((s.clone(), vault));
            }
        }
        let previous: Vec<CredentialSettings> = self
            .by_settings
            .keys()
            .filter(|k| !matches!(k, CredentialSettings::File { .. }))
            .cloned()
            .collect();
        Ok(previous
            .iter()
            .filter_map(|k| self.by_settings.remove(k))
            .collect())
    }

    /// The source for `settings`: the one already built, or a new one.
    pub fn get(
        &mut self,
        settings: &CredentialSettings,
    ) -> anyhow::Result<Arc<dyn CredentialSource>> {
        if let Some(s) = self.by_settings.get(settings) {
            return Ok(s.clone());
        }
        let vault = || {
            self.vault()
                .context("a route names a Vault role but there is no [vault] section")
        };
        let source: Arc<dyn CredentialSource> = match settings {
            CredentialSettings::File {
                username,
                password_file,
            } => Arc::new(FileSource::new(username.clone(), password_file.clone())),
            CredentialSettings::VaultStatic { mount, role } => {
                Arc::new(StaticRoleSource::new(vault()?, mount, role))
            }
            CredentialSettings::VaultDynamic { mount, role } => {
                Arc::new(DynamicRoleSource::new(vault()?, mount, role))
            }
        };
        self.by_settings.insert(settings.clone(), source.clone());
        Ok(source)
    }

    /// Forgets sources no route uses any more (their leases are revoked by `close`).
    pub fn keep_only(&mut self, used: &[CredentialSettings]) -> Vec<Arc<dyn CredentialSource>> {
        let unused: Vec<CredentialSettings> = self
            .by_settings
            .keys()
            .filter(|k| !used.contains(k))
            .cloned()
            .collect();
        unused
            .into_iter()
            .filter_map(|k| self.by_settings.remove(&k))
            .collect()
    }

    pub fn vault(&self) -> Option<Arc<Vault>> {
        self.vault.as_ref().map(|(_, v)| v.clone())
    }

    /// Revokes what every source holds, so that no generated database user outlives
    /// sluice.
    pub async fn close_all(&self) {
        for source in self.by_settings.values() {
            source.close().await;
        }
    }
}

/// Revokes what a source no route names any more holds, once the sessions of the
/// routes that used it are gone.
pub async fn close_when_unused(source: Arc<dyn CredentialSource>) {
    while Arc::strong_count(&source) > 1 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    source.close().await;
}
