//! The decisions of a client's password check, without I/O: given the handshake
//! response and each packet the client sends after it, what sluice sends next and,
//! at the end, whether the client proved its password. The session's handshake
//! drives it over the wire (`session/client_auth.rs`).
//!
//! A user known by a mysql_native_password hash only is such an account, as on a
//! MySQL server; every other secret can serve caching_sha2_password, whose full path
//! takes the password itself: in clear over TLS, else RSA-encrypted with sluice's key.

use std::sync::Arc;

use mysql_common::packets::AuthSwitchRequest;
use mysql_common::proto::MySerialize;
use zeroize::Zeroizing;

use super::rsa_exchange::RsaKey;
use super::{caching_sha2, native, CACHING_SHA2, CLEAR, NATIVE};
use crate::protocol::handshake::SCRAMBLE_LEN;

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this payload as sluice's next packet, then pass the client's answer to
    /// [`PluginExchange::receive`].
    Send(Vec<u8>),
    /// Get sluice's RSA key and pass it to [`PluginExchange::with_rsa_key`].
    NeedRsaKey,
    /// Run the decryption (an RSA private-key operation, some milliseconds: off the
    /// event loop) and pass its result to [`PluginExchange::decrypted`].
    Decrypt(Decryption),
    /// The exchange is over.
    Done(Outcome),
}

/// The client's RSA-encrypted password, with the key and scramble to decrypt it.
pub struct Decryption {
    key: Arc<RsaKey>,
    ciphertext: Vec<u8>,
    scramble: [u8; SCRAMBLE_LEN],
}

impl Decryption {
    /// The password, without its NUL; `None` when the ciphertext does not decrypt.
    pub fn run(self) -> Option<Zeroizing<Vec<u8>>> {
        self.key.decrypt_password(&self.ciphertext, &self.scramble)
    }
}

impl std::fmt::Debug for Decryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Decryption({} bytes)", self.ciphertext.len())
    }
}

impl PartialEq for Decryption {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.key, &other.key)
            && self.ciphertext == other.ciphertext
            && self.scramble == other.scramble
    }
}

impl Eq for Decryption {}

/// How the exchange ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The client's answer matched its stored hash. With `fast_auth_notice`, the
    /// client first gets caching_sha2_password's "fast auth success" packet.
    Accepted { fast_auth_notice: bool },
    /// The client sent its password whole: it gets in when the password matches the
    /// user's secrets.
    CheckPassword(Zeroizing<Vec<u8>>),
    /// Wrong answer or unknown user; `why` when there is more to log.
    Denied { why: Option<&'static str> },
}

/// The packet the exchange waits for.
enum State {
    /// Nothing sent yet: the handshake response comes to [`PluginExchange::start`].
    Start,
    /// An auth switch to this plugin was sent; its answer comes next.
    Switched(&'static str),
    /// "Perform full authentication" was sent: the password (TLS), a request for the
    /// public key, or the encrypted password comes next.
    FullAuth,
    /// The client's answer to "perform full authentication", held until the key is
    /// there.
    AwaitingKey(Vec<u8>),
    /// The public key was sent: the encrypted password comes next.
    Encrypted(Arc<RsaKey>),
    /// The encrypted password is being decrypted.
    Decrypting,
    Over,
}

/// One client's plugin exchange against one user's stored hashes.
pub struct PluginExchange<'a> {
    scramble: [u8; SCRAMBLE_LEN],
    tls: bool,
    /// None when the user is unknown.
    secrets: Option<Secrets<'a>>,
    state: State,
}

#[derive(Clone, Copy)]
struct Secrets<'a> {
    native: Option<&'a native::Hash>,
    sha256: Option<&'a caching_sha2::Hash>,
}

impl<'a> PluginExchange<'a> {
    /// `known` is false for a user not in the users file; its hashes are those sluice
    /// has for it.
    pub fn new(
        scramble: [u8; SCRAMBLE_LEN],
        tls: bool,
        known: bool,
        native: Option<&'a native::Hash>,
        sha256: Option<&'a caching_sha2::Hash>,
    ) -> Self {
        Self {
            scramble,
            tls,
            secrets: known.then_some(Secrets { native, sha256 }),
            state: State::Start,
        }
    }

    /// Takes the plugin and answer of the handshake response.
    pub fn start(&mut self, plugin: Option<&str>, answer: &[u8]) -> Action {
        if !matches!(self.state, State::Start) {
            return self.deny(Some("handshake response out of sequence"));
        }
        let Some(secrets) = self.secrets else {
            return self.deny(None);
        };
        let plugin = plugin.unwrap_or(NATIVE);
        let native_only = secrets.sha256.is_none() && secrets.native.is_some();
        if answer.is_empty() {
            // Some clients answer for their own default plugin only once asked by
            // name: ask, with the same scramble.
            let target = if (plugin == NATIVE || native_only) && secrets.native.is_some() {
                NATIVE
            } else {
                CACHING_SHA2
            };
            return self.switch_to(target);
        }
        match (plugin, secrets.native) {
            (NATIVE, Some(hash)) => self.verdict(native::verify(answer, &self.scramble, hash)),
            (CACHING_SHA2, _) if native_only => self.switch_to(NATIVE),
            (CACHING_SHA2, _) => self.caching_sha2(answer),
            (CLEAR, _) if self.tls => self.check_password(strip_nul(answer)),
            // Another plugin, or one sluice cannot check for this user: ask for
            // caching_sha2_password, which every secret can serve.
            _ => self.switch_to(CACHING_SHA2),
        }
    }

    /// Takes the client's next packet.
    pub fn receive(&mut self, packet: &[u8]) -> Action {
        match std::mem::replace(&mut self.state, State::Over) {
            State::Switched(NATIVE) => {
                let hash = self.secrets.and_then(|s| s.native);
                let ok = hash.is_some_and(|h| native::verify(packet, &self.scramble, h));
                self.verdict(ok)
            }
            State::Switched(_) => self.caching_sha2(packet),
            State::FullAuth if self.tls => self.check_password(strip_nul(packet)),
            State::FullAuth => {
                self.state = State::AwaitingKey(packet.to_vec());
                Action::NeedRsaKey
            }
            State::Encrypted(key) => self.decrypt(key, packet.to_vec()),
            State::Start | State::AwaitingKey(_) | State::Decrypting | State::Over => {
                self.deny(Some("client packet out of sequence"))
            }
        }
    }

    /// Takes sluice's RSA key after [`Action::NeedRsaKey`]: hands it to a client
    /// that asked for it, else decrypts the password the client sent.
    pub fn with_rsa_key(&mut self, key: Arc<RsaKey>) -> Action {
        let State::AwaitingKey(reply) = std::mem::replace(&mut self.state, State::Over) else {
            return self.deny(Some("RSA key given out of sequence"));
        };
        if reply == [caching_sha2::REQUEST_PUBLIC_KEY] {
            let pem = key.public_pem().as_bytes();
            let mut data = Vec::with_capacity(1 + pem.len());
            data.push(0x01);
            data.extend_from_slice(pem);
            self.state = State::Encrypted(key);
            return Action::Send(data);
        }
        self.decrypt(key, reply)
    }

    /// Takes the result of [`Action::Decrypt`].
    pub fn decrypted(&mut self, password: Option<Zeroizing<Vec<u8>>>) -> Action {
        if !matches!(
            std::mem::replace(&mut self.state, State::Over),
            State::Decrypting
        ) {
            return self.deny(Some("decryption result out of sequence"));
        }
        match password {
            Some(password) => self.done(Outcome::CheckPassword(password)),
            None => self.deny(Some(
                "caching_sha2_password full authentication without TLS: the answer is not encrypted with sluice's RSA key",
            )),
        }
    }

    fn switch_to(&mut self, plugin: &'static str) -> Action {
        // The scramble goes NUL-terminated, as servers send it.
        let mut data = [0u8; SCRAMBLE_LEN + 1];
        data[..SCRAMBLE_LEN].copy_from_slice(&self.scramble);
        let mut payload = Vec::with_capacity(2 + plugin.len() + data.len());
        AuthSwitchRequest::new(plugin.as_bytes(), &data[..]).serialize(&mut payload);
        self.state = State::Switched(plugin);
        Action::Send(payload)
    }

    /// A caching_sha2_password answer: the fast path when sluice has the user's
    /// SHA-256 hash and the answer is a scramble, else the full path.
    fn caching_sha2(&mut self, answer: &[u8]) -> Action {
        if let Some(hash) = self.secrets.and_then(|s| s.sha256) {
            if answer.len() == 32 {
                if !caching_sha2::verify(answer, &self.scramble, hash) {
                    return self.deny(None);
                }
                return self.done(Outcome::Accepted {
                    fast_auth_notice: true,
                });
            }
        }
        if answer.is_empty() {
            return self.deny(None);
        }
        self.state = State::FullAuth;
        Action::Send(vec![0x01, caching_sha2::PERFORM_FULL_AUTH])
    }

    fn decrypt(&mut self, key: Arc<RsaKey>, ciphertext: Vec<u8>) -> Action {
        self.state = State::Decrypting;
        Action::Decrypt(Decryption {
            key,
            ciphertext,
            scramble: self.scramble,
        })
    }

    fn check_password(&mut self, password: &[u8]) -> Action {
        self.done(Outcome::CheckPassword(Zeroizing::new(password.to_vec())))
    }

    fn verdict(&mut self, ok: bool) -> Action {
        if !ok {
            return self.deny(None);
        }
        self.done(Outcome::Accepted {
            fast_auth_notice: false,
        })
    }

    fn deny(&mut self, why: Option<&'static str>) -> Action {
        self.done(Outcome::Denied { why })
    }

    fn done(&mut self, outcome: Outcome) -> Action {
        self.state = State::Over;
        Action::Done(outcome)
    }
}

fn strip_nul(b: &[u8]) -> &[u8] {
    b.strip_suffix(&[0]).unwrap_or(b)
}

#[cfg(test)]
#[path = "plugin_exchange_tests.rs"]
mod tests;
