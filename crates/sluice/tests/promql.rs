//! Prometheus's own `promtool` reads the PromQL of `deploy/`: every alert rule and
//! every dashboard query must parse (`promtool check rules`), and the alerts fire, or
//! stay quiet, on made-up series as their runbooks say (`promtool test rules`).
//! promtool comes with Debian's `prometheus` package (scripts/install-deps.sh).

#[allow(unused)]
mod deploy_support;

use std::path::Path;
use std::process::Command;

use deploy_support::{alert_rules, dashboard, dashboard_exprs};
use serde_json::{json, Value};

fn promtool() -> &'static str {
    let found = Command::new("promtool").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "promtool not found: install Debian's prometheus package \
         (apt-get install --no-install-recommends prometheus), as scripts/install-deps.sh does"
    );
    "promtool"
}

fn run(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A dashboard query as Prometheus receives it: Grafana's interval variables take
/// a duration, the others (route, protocol) match anything.
fn as_prometheus_sees_it(expr: &str) -> String {
    let mut e = expr
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h");
    for var in ["pool", "protocol"] {
        e = e
            .replace(&format!("${{{var}}}"), ".*")
            .replace(&format!("${var}"), ".*");
    }
    assert!(!e.contains('$'), "a Grafana variable left in {expr}");
    e
}

fn write(dir: &Path, name: &str, v: &Value) {
    std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

#[test]
fn promtool_accepts_every_alert_and_every_dashboard_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard(), &mut exprs);
    // Variable queries such as label_values(...) are Grafana's, not PromQL.
    let promql: Vec<String> = exprs
        .iter()
        .filter(|e| !e.starts_with("label_values("))
        .map(|e| as_prometheus_sees_it(e))
        .collect();
    assert!(promql.len() >= 5, "{exprs:?}");
    let recorded: Vec<Value> = promql
        .iter()
        .enumerate()
        .map(|(i, e)| json!({ "record": format!("dashboard:query_{i}"), "expr": e }))
        .collect();
    let rules = json!({ "groups": [
        { "name": "alerts", "rules": alert_rules() },
        { "name": "dashboard", "rules": recorded },
    ]});
    write(dir.path(), "rules.json", &rules);
    let (ok, out) = run(&["check", "rules", "rules.json"], dir.path());
    assert!(ok, "promtool check rules failed:\n{out}");

    // The check does fail on bad PromQL.
    let broken = json!({ "groups": [{ "name": "x", "rules": [
        { "record": "x:broken", "expr": "sum by (pool (sluice_route_ready)" }
    ]}]});
    write(dir.path(), "broken.json", &broken);
    let (ok, _) = run(&["check", "rules", "broken.json"], dir.path());
    assert!(!ok, "promtool accepted broken PromQL");
}

/// A series of `sluice_*` labelled as a replica exports it.
fn series(name: &str, labels: &str, values: &str) -> Value {
    json!({ "series": format!("{name}{{instance=\"sluice-0\",{labels}}}"), "values": values })
}

#[test]
fn the_alerts_fire_on_the_conditions_their_runbooks_name() {
    let dir = tempfile::tempdir().unwrap();
    // Annotations are left out: promtool compares them whole, and their text is
    // checked by the dashboards test.
    let rules: Vec<Value> = alert_rules()
        .into_iter()
        .map(|mut r| {
            r.as_object_mut().unwrap().remove("annotations");
            r
        })
        .collect();
    write(
        dir.path(),
        "rules.json",
        &json!({ "groups": [{ "name": "sluice", "rules": rules }] }),
    );
    let pg = "protocol=\"postgres\",pool=\"appdb\"";
    let alert = |name: &str, at: &str, labels: Value| {
        json!({ "eval_time": at, "alertname": name,
                "exp_alerts": if labels.is_null() { json!([]) } else { json!([{ "exp_labels": labels }]) } })
    };
    let tests = json!({
        "rule_files": ["rules.json"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    series("sluice_route_ready", pg, "1 1 0x10"),
                    series("sluice_route_ready", "protocol=\"mysql\",pool=\"shop\"", "1x12"),
                ],
                "alert_rule_test": [
                    alert("SluiceRouteDown", "3m", Value::Null),
                    alert("SluiceRouteDown", "6m", json!({
                        "severity": "critical", "protocol": "postgres", "pool": "appdb" })),
                ]
            },
            {
                "interval": "1m",
                "input_series": [
                    series("sluice_pool_clients_waiting", pg, "0 0 3x10"),
                ],
                "alert_rule_test": [
                    alert("SluiceClientsWaiting", "4m", Value::Null),
                    alert("SluiceClientsWaiting", "9m", json!({
                        "severity": "warning", "protocol": "postgres", "pool": "appdb" })),
                ]
            },
            {
                "interval": "1m",
                "input_series": [
                    series("sluice_pool_clients_pinned", pg, "12x20"),
                    series("sluice_pool_clients", pg, "20x20"),
                    series("sluice_pool_clients_pinned", "protocol=\"mysql\",pool=\"shop\"", "3x20"),
                    series("sluice_pool_clients", "protocol=\"mysql\",pool=\"shop\"", "4x20"),
                ],
                "alert_rule_test": [
                    // shop's 3 of 4 are under the 10-client floor: only appdb fires.
                    alert("SluicePinnedClientsHigh", "18m", json!({
                        "severity": "warning", "protocol": "postgres", "pool": "appdb" })),
                ]
            },
        ]
    });
    write(dir.path(), "tests.json", &tests);
    let (ok, out) = run(&["test", "rules", "tests.json"], dir.path());
    assert!(ok, "promtool test rules failed:\n{out}");
}
