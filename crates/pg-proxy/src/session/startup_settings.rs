//! The session settings a client asks for in its startup packet: its parameters, and
//! the `-c name=value` switches of `options`, as a direct connection would apply them.

use crate::protocol::startup::StartupParams;
use crate::state::settings::{SettingValue, Settings};

/// Startup keys that are not session settings.
const NOT_SETTINGS: &[&str] = &["user", "database", "options", "replication"];

/// The session settings a client's startup packet asks for, `options` included.
pub(super) fn startup_settings(params: &StartupParams) -> Settings {
    let mut s = Settings::default();
    for (k, v) in &params.pairs {
        if NOT_SETTINGS.contains(&k.as_str()) {
            continue;
        }
        s.set(k, SettingValue::Text(v.clone()));
    }
    if let Some(options) = params.get("options") {
        for (k, v) in parse_options(options) {
            s.set(&k, SettingValue::Text(v));
        }
    }
    s
}

/// `-c name=value` and `--name=value` switches of the `options` parameter; backslash
/// escapes a space, as libpq documents.
fn parse_options(options: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut out = Vec::new();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let setting = if w == "-c" {
            it.next()
        } else if let Some(rest) = w.strip_prefix("--") {
            Some(rest.to_owned())
        } else {
            w.strip_prefix("-c").map(str::to_owned)
        };
        if let Some((k, v)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            out.push((k.replace('-', "_"), v.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_parsed_like_libpq() {
        assert_eq!(
            parse_options("-c search_path=a,b --statement-timeout=5s -cwork_mem=1MB -c x=a\\ b"),
            vec![
                ("search_path".into(), "a,b".into()),
                ("statement_timeout".into(), "5s".into()),
                ("work_mem".into(), "1MB".into()),
                ("x".into(), "a b".into()),
            ]
        );
    }

    #[test]
    fn startup_settings_skip_identity_keys() {
        let p = StartupParams {
            pairs: vec![
                ("user".into(), "u".into()),
                ("database".into(), "d".into()),
                ("application_name".into(), "app".into()),
                ("options".into(), "-c search_path=s".into()),
            ],
        };
        let s = startup_settings(&p);
        assert_eq!(
            s.get("application_name"),
            Some(&SettingValue::Text("app".into()))
        );
        assert_eq!(s.get("search_path"), Some(&SettingValue::Text("s".into())));
        assert_eq!(s.get("user"), None);
    }
}
