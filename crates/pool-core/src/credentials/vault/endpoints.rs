//! Vault requests that vaultrs's typed functions do not cover fully. Its
//! `database::role::creds` drops the lease of dynamic credentials, so they are read here
//! through its request middleware with the whole response kept; lease renewal and
//! revocation are small typed endpoints of their own.

use std::time::Duration;

use rustify::endpoint::Endpoint;
use rustify::enums::{RequestMethod, RequestType, ResponseType};
use serde::Deserialize;
use vaultrs::api::EndpointResult;
use vaultrs::client::{Client, VaultClient};
use vaultrs::error::ClientError;

use crate::secret::Secret;

/// `GET <mount>/creds/<role>`: a generated user under a lease.
struct ReadDynamicCreds<'a> {
    mount: &'a str,
    role: &'a str,
}

#[derive(Deserialize)]
struct DynamicCredsData {
    username: String,
    password: Secret,
}

impl Endpoint for ReadDynamicCreds<'_> {
    type Response = DynamicCredsData;
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        format!("{}/creds/{}", self.mount, self.role)
    }

    fn method(&self) -> RequestMethod {
        RequestMethod::GET
    }
}

/// Dynamic credentials with their lease.
pub(crate) struct LeasedCreds {
    pub username: String,
    pub password: Secret,
    pub lease_id: String,
    pub lease_duration: Duration,
    pub renewable: bool,
}

pub(crate) async fn read_dynamic_creds(
    client: &VaultClient,
    mount: &str,
    role: &str,
) -> Result<LeasedCreds, ClientError> {
    let result: EndpointResult<DynamicCredsData> = ReadDynamicCreds { mount, role }
        .with_middleware(client.middle())
        .exec(client.http())
        .await?
        .wrap()?;
    let data = result.data.ok_or(ClientError::ResponseDataEmptyError)?;
    if result.lease_id.is_empty() {
        return Err(ClientError::ResponseEmptyError);
    }
    Ok(LeasedCreds {
        username: data.username,
        password: data.password,
        lease_id: result.lease_id,
        lease_duration: Duration::from_secs(u64::from(result.lease_duration)),
        renewable: result.renewable,
    })
}

/// `PUT sys/leases/renew`.
struct RenewLease<'a> {
    lease_id: &'a str,
    increment: u64,
}

impl Endpoint for RenewLease<'_> {
    type Response = serde::de::IgnoredAny;
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        "sys/leases/renew".into()
    }

    fn method(&self) -> RequestMethod {
        RequestMethod::PUT
    }

    fn body(&self) -> Result<Option<Vec<u8>>, rustify::errors::ClientError> {
        Ok(Some(
            serde_json::json!({ "lease_id": self.lease_id, "increment": self.increment })
                .to_string()
                .into_bytes(),
        ))
    }
}

/// What a renewal granted: the lease's new duration from now (Vault caps it at the
/// role's `max_ttl`).
pub(crate) struct Renewal {
    pub lease_duration: Duration,
    pub renewable: bool,
}

pub(crate) async fn renew_lease(
    client: &VaultClient,
    lease_id: &str,
    increment: Duration,
) -> Result<Renewal, ClientError> {
    let result: EndpointResult<serde::de::IgnoredAny> = RenewLease {
        lease_id,
        increment: increment.as_secs(),
    }
    .with_middleware(client.middle())
    .exec(client.http())
    .await?
    .wrap()?;
    Ok(Renewal {
        lease_duration: Duration::from_secs(u64::from(result.lease_duration)),
        renewable: result.renewable,
    })
}

/// `PUT sys/leases/revoke`: Vault drops the generated user now.
struct RevokeLease<'a> {
    lease_id: &'a str,
}

impl Endpoint for RevokeLease<'_> {
    type Response = ();
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        "sys/leases/revoke".into()
    }

    fn method(&self) -> RequestMethod {
        RequestMethod::PUT
    }

    fn body(&self) -> Result<Option<Vec<u8>>, rustify::errors::ClientError> {
        Ok(Some(
            serde_json::json!({ "lease_id": self.lease_id })
                .to_string()
                .into_bytes(),
        ))
    }
}

pub(crate) async fn revoke_lease(client: &VaultClient, lease_id: &str) -> Result<(), ClientError> {
    RevokeLease { lease_id }
        .with_middleware(client.middle())
        .exec(client.http())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shapes() {
        let r = ReadDynamicCreds {
            mount: "database",
            role: "app",
        };
        assert_eq!(r.path(), "database/creds/app");
        assert!(matches!(r.method(), RequestMethod::GET));
        let renew = RenewLease {
            lease_id: "database/creds/app/abc",
            increment: 30,
        };
        let body: serde_json::Value =
            serde_json::from_slice(&renew.body().unwrap().unwrap()).unwrap();
        assert_eq!(body["lease_id"], "database/creds/app/abc");
        assert_eq!(body["increment"], 30);
        assert!(matches!(renew.method(), RequestMethod::PUT));
        let revoke = RevokeLease { lease_id: "x" };
        assert_eq!(revoke.path(), "sys/leases/revoke");
    }

    #[test]
    fn dynamic_creds_answer_keeps_the_lease() {
        let body = r#"{"request_id":"r","lease_id":"database/creds/app/xyz","renewable":true,
            "lease_duration":30,"data":{"username":"v-app-1","password":"pw"},
            "wrap_info":null,"warnings":null,"auth":null}"#;
        let r: EndpointResult<DynamicCredsData> = serde_json::from_str(body).unwrap();
        assert_eq!(r.lease_id, "database/creds/app/xyz");
        assert_eq!(r.lease_duration, 30);
        let d = r.data.unwrap();
        assert_eq!(d.username, "v-app-1");
        assert_eq!(d.password.expose(), "pw");
    }
}
