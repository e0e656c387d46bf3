//! The monitoring files of `deploy/` as the tests read them: the Grafana dashboard's
//! PromQL and the PrometheusRule's alert rules.

use serde_json::Value;

pub const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/grafana/sluice-dashboard.json"
);
pub const ALERTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/prometheus/sluice-alerts.yaml"
);

/// Every PromQL string of the dashboard: panel targets and template variable queries.
pub fn dashboard_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_exprs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| dashboard_exprs(i, out)),
        _ => {}
    }
}

/// The rule file: `#` comment lines, then the PrometheusRule as JSON (which is YAML).
pub fn alert_rules() -> Vec<Value> {
    let text = std::fs::read_to_string(ALERTS).unwrap();
    let json: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let doc: Value = serde_json::from_str(&json).expect("the alert rules parse");
    assert_eq!(doc["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(doc["kind"], "PrometheusRule");
    let groups = doc["spec"]["groups"].as_array().expect("rule groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

/// The dashboard, parsed.
pub fn dashboard() -> Value {
    serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap())
        .expect("the dashboard parses")
}
