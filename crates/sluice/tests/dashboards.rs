//! The Grafana dashboard and the Prometheus alert rules of `deploy/` query only metrics
//! sluice exports: both files parse, and every `sluice_*` name in their PromQL is in
//! `/metrics` of a sluice serving PostgreSQL (credentials from OpenBao) and of one
//! serving MariaDB, each after one client's queries. A renamed or removed metric that
//! a panel or an alert still queries fails here, not silently on a dashboard.

mod common;
#[allow(unused)]
mod deploy_support;
mod mysql_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mysql_async::prelude::*;
use test_support::sluice::SluiceVault;

use deploy_support::{alert_rules, dashboard, dashboard_exprs};

const METRICS_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md");

/// The `sluice_*` metric names in a PromQL expression (label values and strings hold
/// none).
fn metric_names(expr: &str) -> Vec<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find(|c: char| is_ident(c)) {
        let word = &rest[start..];
        let end = word.find(|c: char| !is_ident(c)).unwrap_or(word.len());
        if word[..end].starts_with("sluice_") {
            names.push(word[..end].to_owned());
        }
        rest = &word[end..];
    }
    names
}

/// Metric families of a `/metrics` body, by name, with their type.
fn exported(body: &str, into: &mut BTreeMap<String, String>) {
    for line in body.lines() {
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            let mut parts = decl.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                into.insert(name.to_owned(), kind.to_owned());
            }
        }
    }
}

/// Whether a queried name is exported: a family, or a histogram's series.
fn is_exported(name: &str, families: &BTreeMap<String, String>) -> bool {
    families.contains_key(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .and_then(|base| families.get(base))
                .is_some_and(|kind| kind == "histogram")
        })
}

#[test]
fn the_alert_rules_parse_and_link_their_runbooks() {
    let doc = std::fs::read_to_string(METRICS_DOC).unwrap();
    let rules = alert_rules();
    assert!(rules.len() >= 7, "{rules:?}");
    for rule in &rules {
        let name = rule["alert"].as_str().expect("alert name");
        assert!(
            !metric_names(rule["expr"].as_str().expect("expr")).is_empty(),
            "{name}"
        );
        assert!(rule["for"].is_string(), "{name}: no `for`");
        assert!(
            rule["labels"]["severity"].is_string(),
            "{name}: no severity"
        );
        for key in ["summary", "description", "runbook"] {
            assert!(rule["annotations"][key].is_string(), "{name}: no {key}");
        }
        // The runbook is a section of docs/metrics.md named after the alert.
        assert_eq!(
            rule["annotations"]["runbook"],
            format!("docs/metrics.md#{}", name.to_lowercase())
        );
        assert!(doc.contains(&format!("### {name}\n")), "{name}: no runbook");
    }
}

/// `/metrics` of a sluice in front of PostgreSQL whose route's credentials come from
/// an OpenBao static role, after a client's queries (one of which pins it).
async fn postgres_metrics() -> String {
    let pg = common::start_postgres();
    let bao = SluiceVault::start("database");
    bao.configure_postgres("database", "pg", &pg, "*");
    bao.create_static_role(
        "database",
        "app",
        "pg",
        common::DB_USER,
        Duration::from_secs(3600),
    );
    let sluice = common::Sluice::start(
        &pg,
        common::SluiceOptions {
            extra_sections: bao.token_section(),
            credentials: Some("{ vault_static_role = \"app\" }".into()),
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    c.query_one("select 1", &[]).await.unwrap();
    // LISTEN pins the client: the pinned series appear.
    c.batch_execute("listen dashboards").await.unwrap();
    c.query_one("select 2", &[]).await.unwrap();
    drop(c);
    // Its member check sets the cluster's primary gauge.
    let seen = mysql_support::eventually(Duration::from_secs(10), || {
        sluice.metric("sluice_cluster_primary", "").unwrap_or(0.0) >= 1.0
    });
    assert!(seen, "no primary found");
    let (code, body) = sluice.admin_get("/metrics");
    assert_eq!(code, 200);
    body
}

/// `/metrics` of a sluice in front of one MariaDB, after a client's queries.
async fn mysql_metrics() -> String {
    let m = mysql_support::start_mariadb();
    let sluice = mysql_support::MySluice::start(mysql_support::Options::new(vec![m.port()]));
    let mut c = sluice.connect().await;
    let one: Option<i64> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    c.disconnect().await.unwrap();
    let seen = mysql_support::eventually(Duration::from_secs(10), || {
        sluice.metric("sluice_mysql_member_role", "") == Some(1.0)
    });
    assert!(seen, "no member role");
    let (code, body) = sluice.admin_get("/metrics");
    assert_eq!(code, 200);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_alerts_query_only_exported_metrics() {
    let dashboard = dashboard();
    assert!(dashboard["panels"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut exprs);
    let dashboard_names: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    let alert_names: BTreeSet<String> = alert_rules()
        .iter()
        .flat_map(|r| metric_names(r["expr"].as_str().unwrap()))
        .collect();
    assert!(
        dashboard_names.contains("sluice_checkout_wait_seconds_bucket"),
        "{dashboard_names:?}"
    );

    let mut families = BTreeMap::new();
    exported(&postgres_metrics().await, &mut families);
    exported(&mysql_metrics().await, &mut families);
    let missing: Vec<&String> = dashboard_names
        .union(&alert_names)
        .filter(|name| !is_exported(name, &families))
        .collect();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\nexported: {:?}",
        families.keys().collect::<Vec<_>>()
    );
}

#[test]
fn metric_names_are_found_in_promql() {
    assert_eq!(
        metric_names(
            "histogram_quantile(0.99, sum by (le) (rate(sluice_a_bucket{pool=~\"$pool\"}[5m]))) / sluice_b"
        ),
        ["sluice_a_bucket", "sluice_b"]
    );
    let families = BTreeMap::from([("sluice_a".to_owned(), "histogram".to_owned())]);
    assert!(is_exported("sluice_a_bucket", &families));
    assert!(!is_exported("sluice_b", &families));
}
