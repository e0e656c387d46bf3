//! Reload on file change. Kubernetes updates a mounted ConfigMap or Secret in place and
//! sends no signal, so besides SIGHUP sluice re-reads its configuration when the
//! config file, or a file it names (users, access rules, TLS), changes content.
//! Contents rather than modification times: a mounted volume swaps a symlink, and a
//! copy may keep the old time.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Validated;

/// How often the files are looked at: a few small reads.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

pub struct ConfigWatch {
    files: Vec<PathBuf>,
    fingerprint: u64,
    every: Duration,
}

impl ConfigWatch {
    pub fn new(files: Vec<PathBuf>, every: Duration) -> Self {
        let fingerprint = fingerprint(&files);
        Self {
            files,
            fingerprint,
            every,
        }
    }

    /// Watches `files` from now on, as they are now (after a reload).
    pub fn reset(&mut self, files: Vec<PathBuf>) {
        self.fingerprint = fingerprint(&files);
        self.files = files;
    }

    /// Waits until a watched file's content differs from the last look.
    pub async fn changed(&mut self) {
        loop {
            tokio::time::sleep(self.every).await;
            let now = fingerprint(&self.files);
            if now != self.fingerprint {
                self.fingerprint = now;
                return;
            }
        }
    }
}

/// The config file and the files its settings name.
pub fn watched_files(config_path: &Path, settings: &Validated) -> Vec<PathBuf> {
    let mut files = vec![config_path.to_path_buf()];
    if let Some(pg) = &settings.postgres {
        files.extend(pg.client.files().cloned());
    }
    if let Some(mysql) = &settings.mysql {
        files.extend(mysql.client.files().cloned());
    }
    files.sort();
    files.dedup();
    files
}

/// One number for the contents of all `files`; a missing or unreadable file counts
/// by its error, so that its return is a change too.
fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut h = DefaultHasher::new();
    for f in files {
        match std::fs::read(f) {
            Ok(bytes) => bytes.hash(&mut h),
            Err(e) => e.kind().hash(&mut h),
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_of_content_is_seen_and_an_unchanged_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        std::fs::write(&users, "[users.a]\npassword = \"x\"\n").unwrap();
        let every = Duration::from_millis(20);
        let mut watch = ConfigWatch::new(vec![users.clone()], every);
        let quiet = tokio::time::timeout(every * 10, watch.changed()).await;
        assert!(quiet.is_err(), "nothing changed");
        // Same content written again: no change.
        std::fs::write(&users, "[users.a]\npassword = \"x\"\n").unwrap();
        let quiet = tokio::time::timeout(every * 10, watch.changed()).await;
        assert!(quiet.is_err(), "the content is the same");
        std::fs::write(&users, "[users.b]\npassword = \"y\"\n").unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .expect("the new content is seen");
        std::fs::remove_file(&users).unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .expect("a removed file is a change");
    }
}
