//! The wildcard route: the routes it declares, and the mistakes refused at load.

use crate::config::collector::Problem;
use crate::config::credentials::CredentialSettings;
use crate::config::file::Config;
use crate::config::validated::{validate, Validated};

const USERS: &str = "[users.health]\npassword = \"x\"\n[users.affine]\npassword = \"y\"\n\
                     [users.ops]\npassword = \"z\"\n[users.woodpecker]\npassword = \"w\"\n";

/// A `[vault]` section, the users file and cluster `main`, then `rest`.
fn check(section: &str, rest: &str) -> (tempfile::TempDir, Result<Validated, Vec<Problem>>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), USERS).unwrap();
    let cluster = if section == "postgres" {
        "hosts = [\"pg-cluster-rw:5432\"]"
    } else {
        "hosts = [\"mysql-0:3306\"]"
    };
    let text = format!(
        "[vault]\naddress = \"http://vault:8200\"\n[vault.auth]\nmethod = \"token\"\n\
         [{section}]\nusers_file = \"users.toml\"\n[{section}.clusters.main]\n{cluster}\n{rest}"
    );
    let config = Config::parse(&text).unwrap();
    let result = validate(&config, dir.path());
    (dir, result)
}

fn problems(section: &str, rest: &str) -> Vec<Problem> {
    check(section, rest).1.unwrap_err()
}

fn has(problems: &[Problem], location: &str, text: &str) -> bool {
    problems
        .iter()
        .any(|p| p.location == location && p.message.contains(text))
}

const TEMPLATE: &str = r#"
[postgres.databases."*"]
allow = ["health", "affine"]
cluster = "main"
pool_size = 4
users = ["{database}", "ops"]
credentials = { vault_dynamic_role = "postgres-{database}-role" }
"#;

#[test]
fn each_allowed_name_becomes_a_route_of_its_own() {
    let explicit = r#"
        [postgres.databases.reports]
        cluster = "main"
        credentials = { vault_static_role = "postgres-reports-role" }
    "#;
    let (_dir, v) = check("postgres", &format!("{TEMPLATE}{explicit}"));
    let pg = v.unwrap().postgres.unwrap();
    let names: Vec<&str> = pg.databases.keys().map(String::as_str).collect();
    assert_eq!(names, ["affine", "health", "reports"]);
    for app in ["health", "affine"] {
        let db = &pg.databases[app];
        assert_eq!(
            db.credentials,
            CredentialSettings::VaultDynamic {
                mount: "database".into(),
                role: format!("postgres-{app}-role"),
            }
        );
        assert_eq!(db.route.server_database, app);
        assert_eq!(db.pool.max_size, 4);
        assert_eq!(db.cluster, "main");
    }
    // Each app's users: its own name and ops, not the other app's.
    let bound = &pg.client.databases;
    assert!(bound.admits("health", "health"));
    assert!(bound.admits("health", "ops"));
    assert!(!bound.admits("health", "affine"));
    assert!(bound.admits("affine", "affine"));
    assert!(!bound.admits("affine", "health"));
    // A name on no list is no route: its clients are refused as an unknown database.
    assert!(!pg.databases.contains_key("*"));
    assert!(!pg.databases.contains_key("linkwarden"));
}

#[test]
fn a_static_role_template_and_a_mount_work_alike_on_mysql() {
    let rest = r#"
        [mysql.databases."*"]
        allow = ["nextcloud", "shlink"]
        cluster = "main"
        credentials = { vault_static_role = "mysql-{database}-role", mount = "db" }
    "#;
    let (_dir, v) = check("mysql", rest);
    let my = v.unwrap().mysql.unwrap();
    assert_eq!(my.databases.len(), 2);
    assert_eq!(
        my.databases["shlink"].credentials,
        CredentialSettings::VaultStatic {
            mount: "db".into(),
            role: "mysql-shlink-role".into(),
        }
    );
}

#[test]
fn the_allow_list_must_name_databases() {
    let rest = |allow: &str| {
        format!(
            "[postgres.databases.\"*\"]\n{allow}\ncluster = \"main\"\n\
             credentials = {{ vault_dynamic_role = \"postgres-{{database}}-role\" }}\n"
        )
    };
    let loc = "postgres.databases.\"*\".allow";
    for allow in ["", "allow = []"] {
        let p = problems("postgres", &rest(allow));
        assert!(has(&p, loc, "needs the list of databases"), "{p:?}");
    }
    let p = problems(
        "postgres",
        &rest(r#"allow = ["ok", "", "a/b", "*", "x y", "{database}", "ok"]"#),
    );
    for bad in ["\"\"", "\"a/b\"", "\"*\"", "\"x y\"", "\"{database}\""] {
        assert!(
            has(&p, loc, &format!("{bad} is not a database name")),
            "{bad}: {p:?}"
        );
    }
    assert!(has(&p, loc, "\"ok\" is listed twice"), "{p:?}");
    let p = problems("postgres", &rest(r#"allow = ["pgbouncer"]"#));
    assert!(
        has(&p, "postgres.databases.pgbouncer", "admin console"),
        "{p:?}"
    );
}

#[test]
fn a_name_written_out_and_listed_is_refused() {
    let explicit = r#"
        [postgres.databases.health]
        cluster = "main"
        credentials = { vault_static_role = "postgres-health-role" }
    "#;
    let p = problems("postgres", &format!("{TEMPLATE}{explicit}"));
    assert!(
        has(
            &p,
            "postgres.databases.health",
            "write a database out or list it, not both"
        ),
        "{p:?}"
    );
}

#[test]
fn the_placeholder_belongs_to_the_wildcards_role_names_and_users() {
    // On a route written out.
    let p = problems(
        "postgres",
        r#"
        [postgres.databases.health]
        cluster = "main"
        allow = ["x"]
        users = ["{database}"]
        credentials = { vault_dynamic_role = "postgres-{database}-role" }
        "#,
    );
    for loc in ["credentials", "users"] {
        let loc = format!("postgres.databases.health.{loc}");
        assert!(has(&p, &loc, "only for the wildcard route"), "{loc}: {p:?}");
    }
    assert!(
        has(&p, "postgres.databases.health.allow", "only the wildcard"),
        "{p:?}"
    );

    // On the wildcard: a role per database, nothing else in braces, no fixed
    // credentials, no server database of its own.
    let wildcard = |lines: &str| {
        format!("[postgres.databases.\"*\"]\nallow = [\"health\"]\ncluster = \"main\"\n{lines}\n")
    };
    let creds = "postgres.databases.\"*\".credentials";
    for (lines, loc, text) in [
        (
            "credentials = { vault_dynamic_role = \"shared-role\" }",
            creds,
            "must contain {database}",
        ),
        (
            "credentials = { vault_dynamic_role = \"{database}-{app}\" }",
            creds,
            "only {database} may stand in braces",
        ),
        (
            "credentials = { username = \"u\", password_file = \"users.toml\" }",
            creds,
            "takes a Vault role",
        ),
        (
            "credentials = { vault_static_role = \"r-{database}\", mount = \"m-{database}\" }",
            "postgres.databases.\"*\".credentials.mount",
            "role names and users only",
        ),
        (
            "users = [\"{user}\"]\ncredentials = { vault_static_role = \"r-{database}\" }",
            "postgres.databases.\"*\".users",
            "only {database} may stand in braces",
        ),
        (
            "server_database = \"x\"\ncredentials = { vault_static_role = \"r-{database}\" }",
            "postgres.databases.\"*\".server_database",
            "not on the wildcard route",
        ),
    ] {
        let p = problems("postgres", &wildcard(lines));
        assert!(has(&p, loc, text), "{lines}: {p:?}");
    }
}

#[test]
fn a_problem_of_the_template_is_reported_once_at_the_wildcard() {
    let p = problems(
        "postgres",
        r#"
        [postgres.databases."*"]
        allow = ["health", "affine", "woodpecker"]
        cluster = "main"
        pool_size = 0
        credentials = { vault_dynamic_role = "postgres-{database}-role" }
        "#,
    );
    let pool_size: Vec<_> = p
        .iter()
        .filter(|p| p.location.ends_with(".pool_size"))
        .collect();
    assert_eq!(pool_size.len(), 1, "{p:?}");
    assert_eq!(pool_size[0].location, "postgres.databases.\"*\".pool_size");
}

#[test]
fn a_reload_reads_a_longer_list_as_more_routes() {
    // What SIGHUP does: the file is validated again, and the new name is one more
    // route beside the unchanged ones.
    let (_dir, before) = check("postgres", TEMPLATE);
    let after_text = TEMPLATE.replace(
        r#"["health", "affine"]"#,
        r#"["health", "affine", "woodpecker"]"#,
    );
    let (_dir2, after) = check("postgres", &after_text);
    let (before, after) = (
        before.unwrap().postgres.unwrap(),
        after.unwrap().postgres.unwrap(),
    );
    assert_eq!(before.databases.len(), 2);
    assert_eq!(after.databases.len(), 3);
    assert_eq!(
        before.databases["health"].credentials,
        after.databases["health"].credentials
    );
    assert_eq!(
        before.databases["health"].route,
        after.databases["health"].route
    );
}

#[test]
fn the_owner_role_may_name_each_database_on_the_wildcard_only() {
    let (_dir, v) = check(
        "postgres",
        &TEMPLATE.replace("pool_size = 4", "owner_role = \"{database}_owner\""),
    );
    let pg = v.unwrap().postgres.unwrap();
    for app in ["health", "affine"] {
        let owner = pg.databases[app].route.owner_role.as_ref().unwrap();
        assert_eq!(owner.name(), format!("{app}_owner"));
    }
    let written_out = r#"
        [postgres.defaults]
        owner_role = "{database}_owner"
        [postgres.databases.reports]
        cluster = "main"
        credentials = { vault_static_role = "postgres-reports-role" }
    "#;
    let p = problems("postgres", written_out);
    assert!(
        has(
            &p,
            "postgres.databases.reports.owner_role",
            "only for the wildcard route"
        ),
        "{p:?}"
    );
    let p = problems(
        "postgres",
        &TEMPLATE.replace("pool_size = 4", "owner_role = \"{app}_owner\""),
    );
    assert!(
        has(
            &p,
            "postgres.databases.\"*\".owner_role",
            "only {database} may stand in braces"
        ),
        "{p:?}"
    );
}
