//! TLS material for tests: a fresh CA and a server certificate it signed, as PEM
//! files, for sluice's listeners and for PostgreSQL servers started with TLS on.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::files::{make_tempdir, set_mode};
use crate::ports::LOOPBACK;
use crate::postgres::binaries::{give_to_postgres, postgres_os_user};
use crate::process::running_as_root;

/// A test CA and a server certificate signed by it, as PEM files.
pub struct TlsFiles {
    /// Directory holding the files.
    pub dir: PathBuf,
    /// Certificate of the CA that signed `server_cert`.
    pub ca_cert: PathBuf,
    /// Private key of the CA (PKCS#8 PEM), to sign further certificates.
    pub ca_key: PathBuf,
    /// Server certificate (SANs: the requested names, `localhost`, `127.0.0.1`).
    pub server_cert: PathBuf,
    /// Private key of the server certificate (PKCS#8 PEM, mode 0600).
    pub server_key: PathBuf,
    _tmp: Option<TempDir>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("dir", &self.dir)
            .field("ca_cert", &self.ca_cert)
            .field("ca_key", &self.ca_key)
            .field("server_cert", &self.server_cert)
            .field("server_key", &self.server_key)
            .finish()
    }
}

impl TlsFiles {
    /// The directory and every file in it.
    pub(crate) fn paths(&self) -> [&Path; 5] {
        [
            &self.dir,
            &self.ca_cert,
            &self.ca_key,
            &self.server_cert,
            &self.server_key,
        ]
    }

    /// Copies the files into `dir` (created when missing), keeping their modes: a
    /// second server with the same certificate, signed by the same CA.
    pub(crate) fn copy_into(&self, dir: &Path) -> TlsFiles {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let copy = |from: &Path| -> PathBuf {
            let name = from.file_name().expect("TLS file name");
            let to = dir.join(name);
            fs::copy(from, &to)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
            to
        };
        TlsFiles {
            dir: dir.to_path_buf(),
            ca_cert: copy(&self.ca_cert),
            ca_key: copy(&self.ca_key),
            server_cert: copy(&self.server_cert),
            server_key: copy(&self.server_key),
            _tmp: None,
        }
    }

    /// Gives the directory and its files to the `postgres` OS user when we are root,
    /// so that a PostgreSQL server can read them.
    pub(crate) fn give_to_postgres(&self) {
        for path in self.paths() {
            give_to_postgres(path);
        }
    }
}

/// Creates a CA and a server certificate for `hostnames` (plus `localhost`
/// and `127.0.0.1`; names that parse as IP addresses become IP SANs) in a
/// new temporary directory, removed when the returned value is dropped.
///
/// When running as root the files are owned by the `postgres` OS user (if it
/// exists), so that a PostgreSQL server can use them too. Keys have mode 0600.
pub fn make_tls_files(hostnames: &[&str]) -> TlsFiles {
    let tmp = make_tempdir("sluice-tls-");
    let dir = tmp.path().to_path_buf();
    let mut files = write_tls_files(&dir, hostnames);
    set_mode(&dir, 0o755);
    if running_as_root() && postgres_os_user().is_some() {
        files.give_to_postgres();
    }
    files._tmp = Some(tmp);
    files
}

pub(crate) fn write_tls_files(dir: &Path, hostnames: &[&str]) -> TlsFiles {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };

    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));

    let ca_key = KeyPair::generate().expect("generate CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    let mut ca_dn = DistinguishedName::new();
    ca_dn.push(DnType::OrganizationName, "sluice tests");
    ca_dn.push(DnType::CommonName, "sluice test CA");
    ca_params.distinguished_name = ca_dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");

    let mut names: Vec<String> = Vec::new();
    for name in hostnames
        .iter()
        .copied()
        .chain(["localhost", LOOPBACK])
        .map(str::trim)
    {
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    let common_name = names
        .iter()
        .find(|n| n.parse::<IpAddr>().is_err())
        .cloned()
        .unwrap_or_else(|| "localhost".to_string());
    let server_key = KeyPair::generate().expect("generate server key");
    let mut server_params = CertificateParams::new(names).expect("server certificate names");
    let mut server_dn = DistinguishedName::new();
    server_dn.push(DnType::OrganizationName, "sluice tests");
    server_dn.push(DnType::CommonName, common_name);
    server_params.distinguished_name = server_dn;
    server_params.is_ca = IsCa::ExplicitNoCa;
    server_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    server_params.use_authority_key_identifier_extension = true;
    let server_cert = server_params
        .signed_by(&server_key, &ca_cert, &ca_key)
        .expect("sign server certificate");

    let write = |name: &str, contents: String, mode: u32| -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        set_mode(&path, mode);
        path
    };
    TlsFiles {
        dir: dir.to_path_buf(),
        ca_cert: write("ca.crt", ca_cert.pem(), 0o644),
        ca_key: write("ca.key", ca_key.serialize_pem(), 0o600),
        server_cert: write("server.crt", server_cert.pem(), 0o644),
        server_key: write("server.key", server_key.serialize_pem(), 0o600),
        _tmp: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TlsFiles>();
    }
}
