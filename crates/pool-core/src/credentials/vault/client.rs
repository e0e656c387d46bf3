//! sluice's own session with Vault: logging in, keeping the token alive, logging in
//! again when it is refused, and remembering whether Vault answers (for readiness).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::RwLock;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use super::error::VaultError;
use super::metrics::VaultMetrics;
use super::retry::Backoff;
use super::settings::{TokenFrom, VaultAuth, VaultSettings};
use crate::secret::Secret;

/// A request against Vault with the current token; called again after a re-login.
pub(crate) type VaultCall<'c, T> =
    Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send + 'c>>;

/// What sluice knows of its token.
#[derive(Debug, Clone, Copy)]
struct TokenLife {
    /// When the token expires; `None` for tokens without a TTL (e.g. a root token).
    expires_at: Option<Instant>,
    ttl: Duration,
    renewable: bool,
}

/// Whether Vault answered lately, for `/readyz` and logs.
#[derive(Debug, Clone, Default)]
pub struct VaultStatus {
    /// Set while requests fail: since when, and the latest error.
    pub failing: Option<(Instant, String)>,
    pub logged_in: bool,
}

/// One Vault (or OpenBao) server and sluice's token for it, shared by every source.
pub struct Vault {
    settings: VaultSettings,
    client: RwLock<VaultClient>,
    token: Mutex<Option<TokenLife>>,
    /// Serialises logins; the counter tells a caller whether someone logged in since
    /// its request was refused.
    login: tokio::sync::Mutex<u64>,
    status: Mutex<VaultStatus>,
    metrics: VaultMetrics,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("address", &self.settings.address)
            .field("auth", &self.settings.auth.method_name())
            .finish()
    }
}

impl Vault {
    /// Sets up the client; no request is made until the first use.
    pub fn new(settings: VaultSettings) -> Result<Arc<Vault>, VaultError> {
        let client = build_client(&settings)?;
        Ok(Arc::new(Vault {
            client: RwLock::new(client),
            token: Mutex::new(None),
            login: tokio::sync::Mutex::new(0),
            status: Mutex::new(VaultStatus::default()),
            metrics: VaultMetrics::new(),
            settings,
        }))
    }

    pub fn address(&self) -> &str {
        &self.settings.address
    }

    pub fn settings(&self) -> &VaultSettings {
        &self.settings
    }

    pub fn status(&self) -> VaultStatus {
        self.status.lock().expect("vault status poisoned").clone()
    }

    /// Runs `op` with the current token, logging in first if needed and once more if
    /// Vault refuses the token (it expired or was revoked).
    pub(crate) async fn call<T, F>(&self, what: &str, op: F) -> Result<T, VaultError>
    where
        F: for<'c> Fn(&'c VaultClient) -> VaultCall<'c, T>,
    {
        let mut epoch = self.ensure_logged_in().await?;
        let mut relogged = false;
        loop {
            let result = {
                let client = self.client.read().await;
                op(&client).await
            };
            match result.map_err(|e| self.classify(what, e)) {
                Ok(v) => {
                    self.record_ok();
                    return Ok(v);
                }
                Err(e) if e.is_permission_denied() && !relogged => {
                    tracing::info!(vault = %self.settings.address, what, "Vault refused the token; logging in again");
                    epoch = self.relogin(epoch).await?;
                    relogged = true;
                }
                Err(e) => {
                    self.record_failure(&e);
                    return Err(e);
                }
            }
        }
    }

    /// Logs in unless a token is held; returns the login epoch.
    async fn ensure_logged_in(&self) -> Result<u64, VaultError> {
        let mut epoch = self.login.lock().await;
        if *epoch == 0 {
            self.login_now().await?;
            *epoch += 1;
        }
        Ok(*epoch)
    }

    /// Logs in again unless another caller did since `seen`.
    async fn relogin(&self, seen: u64) -> Result<u64, VaultError> {
        let mut epoch = self.login.lock().await;
        if *epoch == seen {
            self.login_now().await?;
            *epoch += 1;
        }
        Ok(*epoch)
    }

    /// Obtains a token by the configured method and installs it.
    async fn login_now(&self) -> Result<(), VaultError> {
        let method = self.settings.auth.method_name();
        let login_err = |reason: String| VaultError::Login { method, reason };
        let result: Result<(Secret, TokenLife), VaultError> = match &self.settings.auth {
            VaultAuth::Token(from) => {
                let token = read_token(from).map_err(login_err)?;
                self.client.write().await.set_token_secret(&token);
                let client = self.client.read().await;
                match vaultrs::token::lookup_self(&*client).await {
                    Ok(info) => Ok((token, life(info.ttl, info.renewable, Instant::now()))),
                    Err(e) => Err(self.classify("token lookup", e)),
                }
            }
            VaultAuth::AppRole {
                mount,
                role_id,
                secret_id_file,
            } => {
                let secret_id = read_secret_file(secret_id_file).map_err(login_err)?;
                let client = self.client.read().await;
                vaultrs::auth::approle::login(&*client, mount, role_id, secret_id.expose())
                    .await
                    .map(|auth| {
                        let life = life(auth.lease_duration, auth.renewable, Instant::now());
                        (Secret::new(auth.client_token), life)
                    })
                    .map_err(|e| self.classify("AppRole login", e))
            }
            VaultAuth::Kubernetes {
                mount,
                role,
                jwt_file,
            } => {
                // The kubelet rotates the projected token: read it at each login.
                let jwt = read_secret_file(jwt_file).map_err(login_err)?;
                let client = self.client.read().await;
                vaultrs::auth::kubernetes::login(&*client, mount, role, jwt.expose())
                    .await
                    .map(|auth| {
                        let life = life(auth.lease_duration, auth.renewable, Instant::now());
                        (Secret::new(auth.client_token), life)
                    })
                    .map_err(|e| self.classify("Kubernetes login", e))
            }
        };
        match result {
            Ok((token, token_life)) => {
                self.client.write().await.set_token_secret(&token);
                *self.token.lock().expect("vault token poisoned") = Some(token_life);
                self.metrics.logins.increment(1);
                self.metrics.set_token_ttl(token_life.expires_at);
                self.status.lock().expect("vault status poisoned").logged_in = true;
                self.record_ok();
                tracing::info!(vault = %self.settings.address, method, ttl = ?token_life.ttl, "logged in to Vault");
                Ok(())
            }
            Err(e) => {
                let e = match e {
                    VaultError::Login { .. } => e,
                    other => login_err(other.to_string()),
                };
                self.metrics.login_failures.increment(1);
                self.record_failure(&e);
                Err(e)
            }
        }
    }

    /// Keeps the token alive: renews it at two thirds of its TTL, logs in again when it
    /// cannot be renewed, and retries with backoff while Vault is unreachable.
    pub fn spawn_token_upkeep(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(token_upkeep(weak))
    }

    /// Renews the token once; on refusal, logs in again.
    async fn renew_or_login(&self) -> Result<(), VaultError> {
        let renewable = self
            .token
            .lock()
            .expect("vault token poisoned")
            .is_some_and(|t| t.renewable);
        let epoch = self.ensure_logged_in().await?;
        if renewable {
            let renewed = {
                let client = self.client.read().await;
                vaultrs::token::renew_self(&*client, None).await
            };
            match renewed {
                Ok(auth) => {
                    let life = life(auth.lease_duration, auth.renewable, Instant::now());
                    *self.token.lock().expect("vault token poisoned") = Some(life);
                    self.metrics.set_token_ttl(life.expires_at);
                    self.record_ok();
                    tracing::debug!(ttl = ?life.ttl, "renewed the Vault token");
                    return Ok(());
                }
                Err(e) => {
                    let e = self.classify("token renewal", e);
                    if !e.is_permission_denied() {
                        self.record_failure(&e);
                        return Err(e);
                    }
                }
            }
        }
        self.relogin(epoch).await.map(|_| ())
    }

    /// Time until the token should be renewed, if it expires at all.
    fn renew_in(&self) -> Option<Duration> {
        let life = (*self.token.lock().expect("vault token poisoned"))?;
        let expires_at = life.expires_at?;
        let issued = expires_at.checked_sub(life.ttl)?;
        let renew_at = issued + life.ttl * 2 / 3;
        Some(renew_at.saturating_duration_since(Instant::now()))
    }

    /// How long the upkeep loop sleeps before looking at the token again: soon while
    /// no login happened yet, and never so long that a token replaced by a re-login
    /// with a shorter TTL is renewed late.
    fn upkeep_wait(&self) -> Duration {
        let logged_in = self.token.lock().expect("vault token poisoned").is_some();
        if !logged_in {
            return Duration::from_secs(5);
        }
        self.renew_in()
            .unwrap_or(Duration::from_secs(300))
            .min(Duration::from_secs(60))
    }

    fn classify(&self, what: &str, e: ClientError) -> VaultError {
        classify(&self.settings.address, what, e)
    }

    fn record_ok(&self) {
        let mut st = self.status.lock().expect("vault status poisoned");
        if let Some((since, _)) = st.failing.take() {
            tracing::info!(vault = %self.settings.address, after = ?since.elapsed(), "Vault answers again");
        }
        self.metrics.up.set(1.0);
    }

    fn record_failure(&self, e: &VaultError) {
        self.metrics.request_failures.increment(1);
        // A refusal of one request says nothing about whether Vault is up.
        if matches!(e, VaultError::Refused { .. }) {
            return;
        }
        let mut st = self.status.lock().expect("vault status poisoned");
        let since = st.failing.as_ref().map_or_else(Instant::now, |(t, _)| *t);
        if st.failing.is_none() {
            tracing::warn!(vault = %self.settings.address, error = %e, "Vault is failing; serving with cached credentials");
        }
        st.failing = Some((since, e.to_string()));
        self.metrics.up.set(0.0);
    }
}

async fn token_upkeep(vault: Weak<Vault>) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        let wait = match vault.upgrade() {
            Some(v) => v.upkeep_wait(),
            None => return,
        };
        tokio::time::sleep(wait).await;
        let Some(v) = vault.upgrade() else { return };
        let needs_renewal = v.renew_in().is_some_and(|d| d.is_zero());
        if !needs_renewal {
            continue;
        }
        match v.renew_or_login().await {
            Ok(()) => backoff.reset(),
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "cannot renew the Vault token");
                drop(v);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn life(ttl_secs: u64, renewable: bool, now: Instant) -> TokenLife {
    let ttl = Duration::from_secs(ttl_secs);
    TokenLife {
        expires_at: (ttl_secs > 0).then(|| now + ttl),
        ttl,
        renewable,
    }
}

fn build_client(settings: &VaultSettings) -> Result<VaultClient, VaultError> {
    let mut builder = VaultClientSettingsBuilder::default();
    builder
        .address(settings.address.as_str())
        .token("")
        .timeout(Some(settings.request_timeout))
        .verify(true)
        .ca_certs(
            settings
                .ca_file
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        );
    if let Some(ns) = &settings.namespace {
        builder.set_namespace(ns.clone());
    }
    let client_settings = builder
        .build()
        .map_err(|e| VaultError::Setup(e.to_string()))?;
    VaultClient::new(client_settings).map_err(|e| VaultError::Setup(error_chain(&e)))
}

/// Installs a token on the client.
trait SetTokenSecret {
    fn set_token_secret(&mut self, token: &Secret);
}

impl SetTokenSecret for VaultClient {
    fn set_token_secret(&mut self, token: &Secret) {
        use vaultrs::client::Client;
        self.set_token(token.expose());
    }
}

fn read_token(from: &TokenFrom) -> Result<Secret, String> {
    match from {
        TokenFrom::File(path) => read_secret_file(path),
        TokenFrom::Env(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_owned())),
            _ => Err(format!("environment variable {var} is not set")),
        },
    }
}

/// Reads a token, secret ID or JWT file; surrounding whitespace is not part of it.
fn read_secret_file(path: &std::path::Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    let value = Secret::new(text.trim().to_owned());
    drop(zeroize::Zeroizing::new(text));
    if value.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    // Header values cannot hold control characters; refuse rather than fail later.
    if value.expose().chars().any(char::is_control) {
        return Err(format!("{} holds control characters", path.display()));
    }
    Ok(value)
}

/// Turns a client error into a typed one. Vault's error texts never hold the token.
pub(crate) fn classify(address: &str, what: &str, e: ClientError) -> VaultError {
    match e {
        ClientError::APIError { code, errors } => VaultError::Refused {
            what: what.to_owned(),
            status: code,
            message: errors.join("; "),
        },
        ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError { code, content },
        } => VaultError::Refused {
            what: what.to_owned(),
            status: code,
            message: content.map(|c| api_errors(&c)).unwrap_or_default(),
        },
        ClientError::ResponseEmptyError
        | ClientError::ResponseDataEmptyError
        | ClientError::JsonParseError { .. } => VaultError::Malformed {
            what: what.to_owned(),
            reason: error_chain(&e),
        },
        other => VaultError::Unreachable {
            address: address.to_owned(),
            reason: error_chain(&other),
        },
    }
}

/// Vault's `{"errors": [...]}` body as one line.
fn api_errors(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<String>,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(e) => e.errors.join("; "),
        Err(_) => body.chars().take(200).collect(),
    }
}

/// An error with its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_life_without_ttl_never_expires() {
        let l = life(0, false, Instant::now());
        assert!(l.expires_at.is_none());
        let l = life(60, true, Instant::now());
        assert!(l.expires_at.is_some());
        assert_eq!(l.ttl, Duration::from_secs(60));
    }

    #[test]
    fn api_error_bodies_become_one_line() {
        assert_eq!(
            api_errors(r#"{"errors":["permission denied","x"]}"#),
            "permission denied; x"
        );
        assert_eq!(api_errors("plain"), "plain");
    }

    #[test]
    fn secret_files_are_trimmed_and_checked() {
        let dir = tempfile_dir();
        let p = dir.join("token");
        std::fs::write(&p, "s.abc\n").unwrap();
        assert_eq!(read_secret_file(&p).unwrap().expose(), "s.abc");
        std::fs::write(&p, "  \n").unwrap();
        assert!(read_secret_file(&p).unwrap_err().contains("empty"));
        std::fs::write(&p, "a\u{7}b").unwrap();
        assert!(read_secret_file(&p).unwrap_err().contains("control"));
        let err = read_secret_file(&dir.join("missing")).unwrap_err();
        assert!(err.contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Reads one HTTP/1.1 request (head and body) from `sock`.
    async fn read_request(sock: &mut tokio::net::TcpStream) -> (String, String) {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let head_end = loop {
            let mut chunk = [0u8; 1024];
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-request");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 1024];
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8(buf[head_end..head_end + length].to_vec()).unwrap();
        (head, body)
    }

    /// The Kubernetes login sluice sends: `POST /v1/auth/<mount>/login` with the role
    /// and the service-account JWT read from its file at each login, in the namespace
    /// header, and no token of its own.
    #[tokio::test]
    async fn kubernetes_login_request_reads_the_jwt_at_each_login() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let dir = tempfile_dir().join("k8s");
        std::fs::create_dir_all(&dir).unwrap();
        let jwt_file = dir.join("token");
        std::fs::write(&jwt_file, "eyJ.first.jwt\n").unwrap();

        let server = tokio::spawn(async move {
            let mut requests = Vec::new();
            for n in 0..2 {
                let (mut sock, _) = listener.accept().await.unwrap();
                requests.push(read_request(&mut sock).await);
                let body = format!(
                    r#"{{"request_id":"r{n}","lease_id":"","lease_duration":0,"renewable":false,"data":null,"warnings":null,"wrap_info":null,"auth":{{"client_token":"s.token{n}","accessor":"acc","policies":["sluice"],"token_policies":["sluice"],"metadata":{{"role":"sluice"}},"lease_duration":3600,"renewable":true,"entity_id":"e","token_type":"service","orphan":true}}}}"#
                );
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(resp.as_bytes()).await.unwrap();
                sock.shutdown().await.unwrap();
            }
            requests
        });

        let vault = Vault::new(VaultSettings {
            address: format!("http://127.0.0.1:{port}"),
            namespace: Some("platform".into()),
            ca_file: None,
            request_timeout: Duration::from_secs(5),
            auth: VaultAuth::Kubernetes {
                mount: "kubernetes-prod".into(),
                role: "sluice".into(),
                jwt_file: jwt_file.clone(),
            },
        })
        .unwrap();
        vault.ensure_logged_in().await.unwrap();
        // The kubelet rotated the projected token; the next login must send the new one.
        std::fs::write(&jwt_file, "eyJ.second.jwt").unwrap();
        vault.relogin(1).await.unwrap();
        let requests = server.await.unwrap();

        let expected = ["eyJ.first.jwt", "eyJ.second.jwt"];
        for (n, ((head, body), jwt)) in requests.iter().zip(expected).enumerate() {
            let request_line = head.lines().next().unwrap();
            assert_eq!(request_line, "POST /v1/auth/kubernetes-prod/login HTTP/1.1");
            let header = |name: &str| {
                head.lines().skip(1).find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
            };
            assert_eq!(header("x-vault-namespace").as_deref(), Some("platform"));
            if n == 0 {
                // Before its first login sluice has no token to send.
                assert!(
                    header("x-vault-token").is_none_or(|t| t.is_empty()),
                    "{head}"
                );
            }
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(json, serde_json::json!({"role": "sluice", "jwt": jwt}));
        }
        assert!(vault.status().logged_in);
        assert!(vault.status().failing.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "sluice-vault-client-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
