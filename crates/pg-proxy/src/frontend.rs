//! State shared by every client session of the PostgreSQL listener: routes, client
//! authentication rules and users, TLS, cancel keys, limits. Routes and auth are
//! swapped whole on reload, so a session keeps the snapshot it started with; all
//! but the users' secrets and the cancel keys is pool-core's `FrontendCore`.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pool_core::activity::Activity;
use pool_core::frontend::FrontendCore;
use pool_core::hba::HbaRules;
use pool_core::shutdown::Shutdown;
use pool_core::users::{DatabaseUsers, Users};

use crate::auth::scram::ScramVerifier;
use crate::cancel::CancelRegistry;
use crate::console::ConsoleBackend;
use crate::route::Route;

/// Iterations for verifiers sluice derives from plain-text passwords in the users file.
const DERIVED_SCRAM_ITERATIONS: u32 = 4096;

/// Client authentication: who may connect, and how they prove it.
pub struct AuthConfig {
    pub hba: HbaRules,
    pub users: Users,
    /// The databases bound to users, and who they admit.
    pub databases: DatabaseUsers,
    /// SCRAM verifiers per user, parsed or derived once at load.
    scram: HashMap<String, ScramVerifier>,
    /// Keys the decoy verifiers of unknown users, so that each name always gets the
    /// same salt, as a known user does.
    decoy_key: [u8; 32],
}

impl AuthConfig {
    pub fn new(hba: HbaRules, users: Users, databases: DatabaseUsers) -> Self {
        let mut scram = HashMap::new();
        for entry in users.iter() {
            let verifier = match (&entry.scram, &entry.password) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(pw)) => {
                    let salt: [u8; 16] = rand::random();
                    Some(ScramVerifier::from_password(
                        pw.expose(),
                        &salt,
                        DERIVED_SCRAM_ITERATIONS,
                    ))
                }
                (None, None) => None,
            };
            if let Some(v) = verifier {
                scram.insert(entry.name.clone(), v);
            }
        }
        Self {
            hba,
            users,
            databases,
            scram,
            decoy_key: rand::random(),
        }
    }

    pub fn scram_verifier(&self, user: &str) -> Option<&ScramVerifier> {
        self.scram.get(user)
    }

    /// The verifier an unknown user's exchange runs with: no password matches it, and
    /// it looks like a known user's (the same salt for the same name at every attempt,
    /// the iterations of derived verifiers). Made with a few HMACs, not the iterated
    /// hash, so unknown names cost no more CPU than known ones.
    pub fn decoy_verifier(&self, user: &str) -> ScramVerifier {
        use hmac::{Hmac, Mac};
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.decoy_key)
                .expect("HMAC takes any key length");
            mac.update(label);
            mac.update(user.as_bytes());
            mac.finalize().into_bytes().into()
        };
        ScramVerifier {
            iterations: DERIVED_SCRAM_ITERATIONS,
            salt: derive(b"salt")[..16].to_vec(),
            stored_key: derive(b"stored"),
            server_key: derive(b"server"),
        }
    }

    /// The stored md5 hash (`md5` + hex) for a user, from the file or its password.
    pub fn md5_secret(&self, user: &str) -> Option<String> {
        let entry = self.users.get(user)?;
        if let Some(h) = &entry.md5 {
            return Some(h.expose().to_owned());
        }
        entry
            .password
            .as_ref()
            .map(|pw| crate::auth::md5::md5_hash(user, pw.expose()))
    }
}

/// `client_write_timeout` unless configured.
pub const DEFAULT_CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The PostgreSQL listener's shared state: the protocol-independent part (routes,
/// auth, TLS, limits, sessions) and the cancel keys.
pub struct Frontend {
    core: FrontendCore<Route, AuthConfig>,
    pub cancels: Arc<CancelRegistry>,
    /// Where sessions and server connections are listed (SHOW CLIENTS, KILL_CLIENT).
    pub activity: Arc<Activity>,
    /// How long sluice waits for a client to read what it sends before ending its
    /// session (a stalled client would otherwise hold its server connection).
    pub client_write_timeout: Duration,
    /// What the admin console shows and acts on; set once the process's sides exist.
    console: OnceLock<Arc<dyn ConsoleBackend>>,
}

/// Counts a client against the global and route limits while it lives.
pub type ClientSlot = pool_core::frontend::ClientSlot<Route>;

impl Frontend {
    pub fn new(
        routes: HashMap<String, Arc<Route>>,
        auth: AuthConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
        max_clients: usize,
        auth_timeout: Duration,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            core: FrontendCore::new(routes, auth, tls, max_clients, auth_timeout, shutdown),
            cancels: Arc::new(CancelRegistry::default()),
            activity: Arc::default(),
            client_write_timeout: DEFAULT_CLIENT_WRITE_TIMEOUT,
            console: OnceLock::new(),
        }
    }

    /// Opens the admin console; only the first call counts.
    pub fn set_console(&self, backend: Arc<dyn ConsoleBackend>) {
        let _ = self.console.set(backend);
    }

    /// The admin console's backend, once set.
    pub fn console(&self) -> Option<Arc<dyn ConsoleBackend>> {
        self.console.get().cloned()
    }
}

impl Deref for Frontend {
    type Target = FrontendCore<Route, AuthConfig>;

    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_gets_the_same_salt_every_time_and_no_match() {
        let mut users_file = std::env::temp_dir();
        users_file.push(format!("sluice-decoy-{}.toml", std::process::id()));
        std::fs::write(&users_file, "[users.known]\npassword = \"pw\"\n").unwrap();
        let users = Users::load(&users_file).unwrap();
        std::fs::remove_file(&users_file).unwrap();
        let auth = AuthConfig::new(HbaRules::default(), users, DatabaseUsers::default());
        let a = auth.decoy_verifier("nobody");
        assert_eq!(a, auth.decoy_verifier("nobody"));
        assert_ne!(a.salt, auth.decoy_verifier("somebody").salt);
        // Shaped as the known user's verifier, derived from its password, is.
        let known = auth.scram_verifier("known").unwrap();
        assert_eq!(a.salt.len(), known.salt.len());
        assert_eq!(a.iterations, known.iterations);
    }
}
