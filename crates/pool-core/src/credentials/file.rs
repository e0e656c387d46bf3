//! Credentials from a username in the config and a password file, for development and
//! migration. The file is re-read for each new server connection after an
//! invalidation, so replacing its contents takes effect without a reload.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{CredentialError, CredentialFuture, CredentialSource, Credentials};
use crate::secret::Secret;

pub struct FileSource {
    username: String,
    password_file: PathBuf,
    cached: Mutex<Option<Arc<Credentials>>>,
}

impl FileSource {
    pub fn new(username: impl Into<String>, password_file: impl Into<PathBuf>) -> Self {
        Self {
            username: username.into(),
            password_file: password_file.into(),
            cached: Mutex::new(None),
        }
    }

    fn load(&self, generation: u64) -> Result<Arc<Credentials>, CredentialError> {
        let text = std::fs::read_to_string(&self.password_file).map_err(|e| {
            CredentialError::Unavailable {
                source_name: self.describe(),
                reason: e.kind().to_string(),
            }
        })?;
        // A trailing newline is an editor's artefact, not part of the password.
        let password = text.trim_end_matches(['\n', '\r']).to_owned();
        drop(text);
        Ok(Arc::new(Credentials::new(
            self.username.clone(),
            Secret::new(password),
            generation,
        )))
    }
}

impl CredentialSource for FileSource {
    fn current(&self) -> CredentialFuture<'_> {
        Box::pin(async move {
            let mut cached = self.cached.lock().expect("credential cache poisoned");
            if let Some(c) = cached.as_ref() {
                return Ok(c.clone());
            }
            let next_generation = 1;
            let fresh = self.load(next_generation)?;
            *cached = Some(fresh.clone());
            Ok(fresh)
        })
    }

    fn invalidate(&self, stale: &Credentials) {
        let mut cached = self.cached.lock().expect("credential cache poisoned");
        if cached
            .as_ref()
            .is_some_and(|c| c.generation == stale.generation)
        {
            // Re-read now so the generation moves on and the next connection uses the file's
            // current contents; on a read error, clear the cache and retry on next use.
            *cached = self.load(stale.generation + 1).ok();
        }
    }

    fn describe(&self) -> String {
        format!("file {}", self.password_file.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_and_rereads_after_invalidate() {
        let dir = std::env::temp_dir().join(format!("sluice-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pw");
        std::fs::write(&path, "first\n").unwrap();
        let src = FileSource::new("app", &path);
        let c1 = src.current().await.unwrap();
        assert_eq!(c1.username, "app");
        assert_eq!(c1.password.expose(), "first");
        std::fs::write(&path, "second").unwrap();
        // Cached until the database says otherwise.
        assert_eq!(src.current().await.unwrap().password.expose(), "first");
        src.invalidate(&c1);
        let c2 = src.current().await.unwrap();
        assert_eq!(c2.password.expose(), "second");
        assert!(c2.generation > c1.generation);
        // A second invalidation of the old generation does not discard the new one.
        src.invalidate(&c1);
        assert_eq!(src.current().await.unwrap().generation, c2.generation);
        assert!(!format!("{c2:?}").contains("second"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn missing_file_is_an_error_without_secret() {
        let src = FileSource::new("app", "/nonexistent/sluice/pw");
        let err = src.current().await.unwrap_err().to_string();
        assert!(err.contains("/nonexistent/sluice/pw"), "{err}");
    }
}
