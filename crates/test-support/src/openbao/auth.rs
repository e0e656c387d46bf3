//! Who may do what in an OpenBao server: ACL policies, tokens, and the AppRole login
//! method, as sluice's `[vault.auth]` uses them.

use std::time::Duration;

use serde_json::json;

use super::cli::{json_str, parse_json, secs};
use super::server::OpenBao;

impl OpenBao {
    /// Creates or replaces ACL policy `name` with the HCL text `hcl`.
    pub fn write_policy(&self, name: &str, hcl: &str) {
        self.bao_with_stdin(&["policy", "write", name, "-"], hcl);
    }

    /// Creates a service token, child of the root token, with `policies`
    /// (plus `default`, which lets it look up, renew and revoke itself),
    /// time to live `ttl` and the given renewability. Returns the token.
    pub fn create_token(&self, policies: &[&str], ttl: Duration, renewable: bool) -> String {
        assert!(
            !policies.is_empty(),
            "create_token needs at least one policy (without one the token would inherit root)"
        );
        let mut args = vec![
            "token".to_string(),
            "create".to_string(),
            "-format=json".to_string(),
            format!("-ttl={}", secs(ttl)),
            format!("-renewable={renewable}"),
        ];
        args.extend(policies.iter().map(|p| format!("-policy={p}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let answer = parse_json(&self.bao(&args), "token create");
        json_str(&answer, "/auth/client_token")
    }

    /// Mounts the AppRole auth method at `mount` (unless something is
    /// mounted there already), creates or replaces role `role` issuing
    /// tokens with `policies` and `token_ttl`, and returns a role id and a
    /// new secret id for it. Log in with
    /// `bao write auth/<mount>/login role_id=.. secret_id=..`.
    pub fn enable_approle(
        &self,
        mount: &str,
        role: &str,
        policies: &[&str],
        token_ttl: Duration,
    ) -> (String, String) {
        let mount = mount.trim_matches('/');
        let methods = parse_json(&self.bao(&["auth", "list", "-format=json"]), "auth list");
        if methods.get(format!("{mount}/")).is_none() {
            self.bao(&["auth", "enable", &format!("-path={mount}"), "approle"]);
        }
        let role_path = format!("auth/{mount}/role/{role}");
        self.write_json(
            &role_path,
            &json!({
                "token_policies": policies,
                "token_ttl": secs(token_ttl),
            }),
        );
        let role_id = json_str(
            &self.read_json(&format!("{role_path}/role-id")),
            "/data/role_id",
        );
        let secret = parse_json(
            &self.bao(&[
                "write",
                "-f",
                "-format=json",
                &format!("{role_path}/secret-id"),
            ]),
            "secret-id",
        );
        (role_id, json_str(&secret, "/data/secret_id"))
    }
}
