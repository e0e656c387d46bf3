//! The deployment budgets computed from whole configuration files.

use std::time::Duration;

use super::*;

/// A PostgreSQL cluster `main` (limit 100) with databases of 20 and 10 connections,
/// and a MySQL cluster `innodb` without a limit.
const CONFIG: &str = r#"
admin = { shutdown_grace = "30s" }

[postgres]
users_file = "users.toml"
clusters.main = { hosts = ["db:5432"], server_max_connections = 100 }
databases.a = { cluster = "main", pool_size = 20, credentials = { username = "a", password_file = "users.toml" } }
databases.b = { cluster = "main", pool_size = 10, credentials = { username = "b", password_file = "users.toml" } }

[mysql]
users_file = "users.toml"
clusters.innodb = { hosts = ["m:3306"] }
databases.c = { cluster = "innodb", pool_size = 50, credentials = { username = "c", password_file = "users.toml" } }
"#;

fn load(text: &str) -> Validated {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), "").unwrap();
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, text).unwrap();
    crate::config::load(&path).unwrap()
}

#[test]
fn replicas_times_pool_sizes_and_member_checks_against_the_limit() {
    let settings = load(CONFIG);
    // 3 × (30 + 1) = 93 fits in 100; 4 × 31 = 124 does not.
    assert!(pool_overruns(&settings, 3).is_empty());
    let over = pool_overruns(&settings, 4);
    assert_eq!(
        over,
        vec![PoolOverrun {
            cluster: "postgres.clusters.main".into(),
            replicas: 4,
            pool_sizes: 30,
            total: 124,
            limit: 100,
        }]
    );
    assert!(over[0].to_string().contains("124"), "{}", over[0]);
    // A cluster without a limit is never reported, however large its pools.
    assert!(pool_overruns(&settings, 1000)
        .iter()
        .all(|o| !o.cluster.starts_with("mysql")));
}

#[test]
fn the_stop_must_fit_in_the_termination_grace() {
    let settings = load(CONFIG);
    let pre_stop = Duration::from_secs(5);
    // 5 + 30 + 2 (closing), without Vault.
    assert!(stop_overrun(&settings, pre_stop, Duration::from_secs(37)).is_none());
    let warning = stop_overrun(&settings, pre_stop, Duration::from_secs(30)).unwrap();
    assert!(warning.contains("37s"), "{warning}");
}
