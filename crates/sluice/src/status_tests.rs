//! Readiness lines of one route, whatever its protocol.

use std::sync::Arc;

use pool_core::credentials::{
    CredentialError, CredentialFuture, CredentialSource, Credentials, SourceHealth,
};

use super::route_readiness;
use crate::sides::RouteHealth;

/// A source whose health is fixed.
struct Fixed(SourceHealth);

impl CredentialSource for Fixed {
    fn current(&self) -> CredentialFuture<'_> {
        Box::pin(async {
            Err(CredentialError::Unavailable {
                source_name: "fixed".into(),
                reason: "none".into(),
            })
        })
    }

    fn invalidate(&self, _stale: &Credentials) {}

    fn describe(&self) -> String {
        "vault role shop".into()
    }

    fn health(&self) -> SourceHealth {
        match &self.0 {
            SourceHealth::Ok => SourceHealth::Ok,
            SourceHealth::Degraded(e) => SourceHealth::Degraded(e.clone()),
            SourceHealth::Failed(e) => SourceHealth::Failed(e.clone()),
        }
    }
}

fn route(unreachable: Option<&str>, health: SourceHealth) -> RouteHealth {
    RouteHealth {
        name: "shop".into(),
        label: "mysql shop".into(),
        unreachable: unreachable.map(str::to_owned),
        credentials: Arc::new(Fixed(health)),
    }
}

#[test]
fn a_reachable_route_with_credentials_is_ready_and_quiet() {
    let mut lines = Vec::new();
    assert!(route_readiness(&route(None, SourceHealth::Ok), &mut lines));
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn cached_credentials_keep_a_route_ready_but_are_reported() {
    let mut lines = Vec::new();
    let health = SourceHealth::Degraded("sealed".into());
    assert!(route_readiness(&route(None, health), &mut lines));
    assert_eq!(
        lines,
        ["mysql shop: vault role shop failing, serving with cached credentials: sealed"]
    );
}

#[test]
fn no_writable_member_or_no_credentials_make_a_route_unready() {
    let mut lines = Vec::new();
    let health = SourceHealth::Failed("denied".into());
    let r = route(Some("no writable member among a, b"), health);
    assert!(!route_readiness(&r, &mut lines));
    assert_eq!(
        lines,
        [
            "mysql shop: no writable member among a, b",
            "mysql shop: no usable credentials from vault role shop: denied",
        ]
    );
}
