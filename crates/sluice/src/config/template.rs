//! The wildcard route: a database block under the name `"*"` whose Vault role names a
//! `{database}` placeholder (`vault_dynamic_role = "postgres-{database}-role"`) and
//! whose `allow` list names the databases it serves. Each of those becomes a route of
//! its own, exactly as if its block were written out with the name filled in: its own
//! pool, credential source and metrics label. Where every app's Vault role follows one
//! naming scheme, adding an app is one more name in a list instead of a copied block.
//!
//! A client that names a database missing from the list is refused as unknown, as
//! before; the list is explicit so that a typo or a stranger's guess never makes
//! sluice ask Vault for a role. A name both written out and in the list is an error:
//! which block wins would otherwise be a rule to remember, and the two blocks usually
//! disagree by accident.

use std::collections::{BTreeMap, BTreeSet};

use super::collector::Collector;
use super::credentials::CredentialsConfig;

/// The key of the wildcard route in a databases table.
pub(super) const WILDCARD: &str = "*";
/// What each allowed database's name replaces.
pub(super) const PLACEHOLDER: &str = "{database}";

/// What the template checks read of a database block.
pub(super) trait Block {
    fn allow(&self) -> Option<&[String]>;
    fn users(&self) -> Option<&[String]>;
    fn credentials(&self) -> &CredentialsConfig;
}

/// One route a databases table declares, written out or through the wildcard route.
pub(super) struct Declared<'a, D> {
    pub name: String,
    /// Where problems of its block are reported: its own table, or the wildcard's.
    pub loc: String,
    pub block: &'a D,
    /// Whether it comes from the wildcard route.
    pub templated: bool,
    /// Its users and credentials, with the placeholder filled in.
    pub users: Option<Vec<String>>,
    pub credentials: CredentialsConfig,
}

/// The routes of `section`'s databases table, in name order: the blocks written out,
/// and one per name of the wildcard route's `allow` list.
pub(super) fn declare<'a, D: Block>(
    c: &mut Collector<'_>,
    section: &str,
    databases: &'a BTreeMap<String, D>,
) -> Vec<Declared<'a, D>> {
    let mut out = Vec::new();
    for (name, block) in databases.iter().filter(|(name, _)| *name != WILDCARD) {
        let loc = format!("{section}.databases.{name}");
        if block.allow().is_some() {
            c.add(
                format!("{loc}.allow"),
                format!("only the wildcard route \"{WILDCARD}\" serves a list of databases"),
            );
        }
        no_placeholder(c, &loc, block);
        out.push(Declared {
            name: name.clone(),
            loc,
            block,
            templated: false,
            users: block.users().map(<[String]>::to_vec),
            credentials: block.credentials().clone(),
        });
    }
    if let Some(template) = databases.get(WILDCARD) {
        let loc = format!("{section}.databases.\"{WILDCARD}\"");
        check_template(c, &loc, template);
        for name in allowed(c, section, &loc, template, databases) {
            out.push(Declared {
                users: template
                    .users()
                    .map(|users| users.iter().map(|u| fill(u, &name)).collect()),
                credentials: fill_credentials(template.credentials(), &name),
                name,
                loc: loc.clone(),
                block: template,
                templated: true,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn fill(text: &str, name: &str) -> String {
    text.replace(PLACEHOLDER, name)
}

/// A protocol's own option that may name the database (PostgreSQL's `owner_role`):
/// filled in for a route of the wildcard, refused with the placeholder on one written
/// out (also when it inherits it from the section's defaults).
pub(super) fn fill_option<D>(
    c: &mut Collector<'_>,
    loc: &str,
    text: &str,
    d: &Declared<'_, D>,
) -> String {
    if !d.templated {
        if has_braces(text) {
            c.add(
                loc,
                format!(
                    "the {PLACEHOLDER} placeholder is only for the wildcard route \"{WILDCARD}\""
                ),
            );
        }
        return text.to_owned();
    }
    if has_braces(&text.replace(PLACEHOLDER, "")) {
        c.add(loc, format!("only {PLACEHOLDER} may stand in braces"));
    }
    fill(text, &d.name)
}

fn fill_credentials(cfg: &CredentialsConfig, name: &str) -> CredentialsConfig {
    CredentialsConfig {
        vault_static_role: cfg.vault_static_role.as_deref().map(|r| fill(r, name)),
        vault_dynamic_role: cfg.vault_dynamic_role.as_deref().map(|r| fill(r, name)),
        ..cfg.clone()
    }
}

fn has_braces(text: &str) -> bool {
    text.contains('{') || text.contains('}')
}

/// A block written out has nothing to fill in.
fn no_placeholder(c: &mut Collector<'_>, loc: &str, block: &impl Block) {
    let message =
        format!("the {PLACEHOLDER} placeholder is only for the wildcard route \"{WILDCARD}\"");
    if role_names(block.credentials()).any(has_braces) {
        c.add(format!("{loc}.credentials"), message.clone());
    }
    if block
        .users()
        .unwrap_or_default()
        .iter()
        .any(|u| has_braces(u))
    {
        c.add(format!("{loc}.users"), message);
    }
}

fn role_names(cfg: &CredentialsConfig) -> impl Iterator<Item = &str> {
    [&cfg.vault_static_role, &cfg.vault_dynamic_role]
        .into_iter()
        .filter_map(|r| r.as_deref())
}

/// The wildcard's credentials name a Vault role per database; the placeholder stands
/// only in role names and users.
fn check_template(c: &mut Collector<'_>, loc: &str, template: &impl Block) {
    let cfg = template.credentials();
    let cred_loc = format!("{loc}.credentials");
    if cfg.username.is_some() || cfg.password_file.is_some() {
        c.add(
            &cred_loc,
            format!("the wildcard route takes a Vault role (vault_static_role or vault_dynamic_role) with {PLACEHOLDER} in its name"),
        );
    }
    for role in role_names(cfg) {
        if !role.contains(PLACEHOLDER) {
            c.add(
                &cred_loc,
                format!(
                    "\"{role}\" must contain {PLACEHOLDER}, so that each database has its own role"
                ),
            );
        }
        if has_braces(&role.replace(PLACEHOLDER, "")) {
            c.add(&cred_loc, format!("only {PLACEHOLDER} may stand in braces"));
        }
    }
    if cfg.mount.as_deref().is_some_and(has_braces) {
        c.add(
            format!("{cred_loc}.mount"),
            format!("{PLACEHOLDER} may stand in role names and users only"),
        );
    }
    let users = template.users().unwrap_or_default();
    if users
        .iter()
        .any(|u| has_braces(&u.replace(PLACEHOLDER, "")))
    {
        c.add(
            format!("{loc}.users"),
            format!("only {PLACEHOLDER} may stand in braces"),
        );
    }
}

/// The names the wildcard's `allow` list declares: each a valid database name, listed
/// once, and not also written out.
fn allowed<D>(
    c: &mut Collector<'_>,
    section: &str,
    loc: &str,
    template: &impl Block,
    databases: &BTreeMap<String, D>,
) -> BTreeSet<String> {
    let allow = template.allow().unwrap_or_default();
    if allow.is_empty() {
        c.add(
            format!("{loc}.allow"),
            "the wildcard route needs the list of databases it serves (at least one name)",
        );
    }
    let mut names = BTreeSet::new();
    for name in allow {
        let bad = name.is_empty()
            || name == WILDCARD
            || has_braces(name)
            || name.contains('/')
            || name.chars().any(|ch| ch.is_whitespace() || ch.is_control());
        if bad {
            c.add(
                format!("{loc}.allow"),
                format!("\"{name}\" is not a database name sluice can fill in"),
            );
        } else if databases.contains_key(name) {
            c.add(
                format!("{section}.databases.{name}"),
                format!("also in the allow list of the wildcard route \"{WILDCARD}\": write a database out or list it, not both"),
            );
        } else if !names.insert(name.clone()) {
            c.add(
                format!("{loc}.allow"),
                format!("\"{name}\" is listed twice"),
            );
        }
    }
    names
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
