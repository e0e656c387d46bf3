//! sluice's access to a test OpenBao: the policy that lets it read database
//! credentials and renew and revoke its leases, and the `[vault]` sections that log
//! in with a token or by AppRole, whose secrets are kept in files.

use std::ops::Deref;
use std::time::Duration;

use tempfile::TempDir;

use crate::openbao::OpenBao;

/// Name of the policy sluice's token and AppRole get.
const POLICY: &str = "sluice";

/// An OpenBao with the database secrets engine mounted and the `sluice` policy, and
/// a directory for the secrets the `[vault]` sections point to. Derefs to the
/// [`OpenBao`] for setting up roles.
pub struct SluiceVault {
    bao: OpenBao,
    secrets: TempDir,
}

impl SluiceVault {
    /// Starts OpenBao with the database secrets engine at `mount` and a `sluice`
    /// policy that may read credentials under it and renew and revoke leases
    /// (renewing and looking up its own token come with the `default` policy).
    pub fn start(mount: &str) -> SluiceVault {
        let bao = OpenBao::start();
        bao.enable_database_engine(mount);
        bao.write_policy(
            POLICY,
            &format!(
                "\npath \"{mount}/static-creds/*\" {{ capabilities = [\"read\"] }}\n\
                 path \"{mount}/creds/*\" {{ capabilities = [\"read\"] }}\n\
                 path \"sys/leases/renew\" {{ capabilities = [\"update\"] }}\n\
                 path \"sys/leases/revoke\" {{ capabilities = [\"update\"] }}\n"
            ),
        );
        SluiceVault {
            bao,
            secrets: tempfile::tempdir().expect("create a directory for Vault secrets"),
        }
    }

    /// A `[vault]` section logging in with a new token of the `sluice` policy.
    pub fn token_section(&self) -> String {
        let token = self
            .bao
            .create_token(&[POLICY], Duration::from_secs(3600), true);
        let path = self.secrets.path().join("vault-token");
        std::fs::write(&path, format!("{token}\n")).unwrap();
        format!(
            "[vault]\naddress = \"{}\"\nrequest_timeout = \"2s\"\n\n\
             [vault.auth]\nmethod = \"token\"\ntoken_file = \"{}\"\n",
            self.bao.address(),
            path.display()
        )
    }

    /// A `[vault]` section logging in by AppRole with the `sluice` policy.
    pub fn approle_section(&self) -> String {
        let (role_id, secret_id) =
            self.bao
                .enable_approle("approle", POLICY, &[POLICY], Duration::from_secs(3600));
        let path = self.secrets.path().join("secret-id");
        std::fs::write(&path, secret_id).unwrap();
        format!(
            "[vault]\naddress = \"{}\"\nrequest_timeout = \"2s\"\n\n\
             [vault.auth]\nmethod = \"approle\"\nrole_id = \"{role_id}\"\nsecret_id_file = \"{}\"\n",
            self.bao.address(),
            path.display()
        )
    }
}

impl Deref for SluiceVault {
    type Target = OpenBao;

    fn deref(&self) -> &OpenBao {
        &self.bao
    }
}
