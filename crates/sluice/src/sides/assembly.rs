//! What a side builds from its section, at start and on each reload: its clusters
//! (each with what its watcher was started from) and its routes, reusing those of the
//! previous build that did not change. Both sides decide this the same way, here; each
//! supplies how its clusters and routes are made ([`Parts`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Context;

use super::route_table::{RouteIdentity, RouteTable};
use crate::config::{ClusterSettings, CredentialSettings, DatabaseSettings};

/// A cluster, with what its watcher was started from.
pub struct Watched<K, R> {
    pub cluster: Arc<K>,
    pub settings: ClusterSettings,
    /// The cluster's first database (in name order) when the watcher started: the
    /// member checks log in with its credentials.
    pub checked_as: DatabaseSettings<R>,
}

impl<K, R: Clone> Clone for Watched<K, R> {
    fn clone(&self) -> Self {
        Self {
            cluster: self.cluster.clone(),
            settings: self.settings.clone(),
            checked_as: self.checked_as.clone(),
        }
    }
}

/// What the routes and clusters were built from, to tell on reload what changed.
pub struct Built<K, R, T> {
    pub clusters: HashMap<String, Watched<K, R>>,
    pub routes: RouteTable<RouteIdentity<ClusterSettings, R>, T>,
}

impl<K, R: PartialEq, T> Default for Built<K, R, T> {
    fn default() -> Self {
        Self {
            clusters: HashMap::new(),
            routes: RouteTable::default(),
        }
    }
}

impl<K, R: PartialEq, T> Built<K, R, T> {
    /// Credential settings in use: the routes' and the member checks'.
    pub fn credentials(&self) -> Vec<CredentialSettings> {
        self.routes
            .identities()
            .map(|i| i.credentials.clone())
            .chain(
                self.clusters
                    .values()
                    .map(|c| c.checked_as.credentials.clone()),
            )
            .collect()
    }
}

/// The outcome of [`assemble`].
pub struct Assembled<K, R, T> {
    pub built: Built<K, R, T>,
    /// Clusters that are new or changed: the caller starts their watchers.
    pub new_clusters: Vec<String>,
}

/// How one side makes its clusters and routes.
pub trait Parts {
    type Cluster;
    type RouteSettings: Clone + PartialEq;
    type Route;

    fn cluster(&self, name: &str, settings: &ClusterSettings) -> Self::Cluster;

    /// A route carried over: only its pool's sizing and timing are applied to it.
    fn reuse(&self, route: &Self::Route, db: &DatabaseSettings<Self::RouteSettings>);

    fn route(
        &mut self,
        name: &str,
        db: &DatabaseSettings<Self::RouteSettings>,
        cluster: Arc<Self::Cluster>,
        settings: &ClusterSettings,
    ) -> anyhow::Result<Arc<Self::Route>>;
}

pub type BuiltBy<P> =
    Built<<P as Parts>::Cluster, <P as Parts>::RouteSettings, <P as Parts>::Route>;
pub type AssembledBy<P> =
    Assembled<<P as Parts>::Cluster, <P as Parts>::RouteSettings, <P as Parts>::Route>;

/// Clusters and routes for `databases` of `protocol`'s section, reusing those of
/// `previous` that did not change: a cluster whose settings are the same keeps its
/// watcher, a route whose identity is the same keeps its pool.
pub fn assemble<P: Parts>(
    parts: &mut P,
    protocol: &str,
    clusters: &BTreeMap<String, ClusterSettings>,
    databases: &BTreeMap<String, DatabaseSettings<P::RouteSettings>>,
    previous: &BuiltBy<P>,
) -> anyhow::Result<AssembledBy<P>> {
    let mut next = BuiltBy::<P>::default();
    let mut new_clusters = Vec::new();
    for (name, db) in databases {
        let cs = clusters.get(&db.cluster).with_context(|| {
            format!("{protocol} database {name}: unknown cluster {}", db.cluster)
        })?;
        if !next.clusters.contains_key(&db.cluster) {
            let watched = match previous.clusters.get(&db.cluster) {
                Some(w) if w.settings == *cs => w.clone(),
                _ => {
                    new_clusters.push(db.cluster.clone());
                    Watched {
                        cluster: Arc::new(parts.cluster(&db.cluster, cs)),
                        settings: cs.clone(),
                        checked_as: db.clone(),
                    }
                }
            };
            next.clusters.insert(db.cluster.clone(), watched);
        }
        // The identity holds the cluster's settings: an unchanged route's cluster was
        // kept above, so the route still points at the watched one.
        let identity = RouteIdentity::of(db, cs);
        let route = match previous.routes.reusable(name, &identity) {
            Some(route) => {
                parts.reuse(&route, db);
                route
            }
            None => {
                let cluster = next.clusters[&db.cluster].cluster.clone();
                parts.route(name, db, cluster, cs)?
            }
        };
        next.routes.insert(name, identity, route);
    }
    Ok(Assembled {
        built: next,
        new_clusters,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pool_core::net::tls::ServerTlsMode;
    use pool_core::net::Endpoint;
    use pool_core::pool::PoolConfig;

    use super::*;

    /// Clusters are their names; routes count how often they were reused.
    #[derive(Default)]
    struct Fake {
        made: usize,
    }

    impl Parts for Fake {
        type Cluster = String;
        type RouteSettings = u32;
        type Route = std::sync::atomic::AtomicUsize;

        fn cluster(&self, name: &str, _: &ClusterSettings) -> String {
            name.to_owned()
        }

        fn reuse(&self, route: &Self::Route, _: &DatabaseSettings<u32>) {
            route.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }

        fn route(
            &mut self,
            _: &str,
            _: &DatabaseSettings<u32>,
            _: Arc<String>,
            _: &ClusterSettings,
        ) -> anyhow::Result<Arc<Self::Route>> {
            self.made += 1;
            Ok(Arc::default())
        }
    }

    fn cluster(check_interval_ms: u64) -> ClusterSettings {
        ClusterSettings {
            endpoints: vec![Endpoint {
                host: "db".into(),
                port: 5432,
            }],
            tls_mode: ServerTlsMode::Disable,
            tls_ca_file: None,
            connect_timeout: Duration::from_secs(1),
            check_interval: Duration::from_millis(check_interval_ms),
            failover_timeout: Duration::from_secs(1),
            allow_plaintext_password: false,
            server_max_connections: None,
        }
    }

    fn database(cluster: &str, route: u32) -> DatabaseSettings<u32> {
        DatabaseSettings {
            cluster: cluster.into(),
            pool: PoolConfig::default(),
            credentials: CredentialSettings::File {
                username: format!("user{route}"),
                password_file: "pw".into(),
            },
            route,
        }
    }

    #[test]
    fn an_unchanged_cluster_keeps_its_watcher_and_a_changed_one_gets_a_new_one() {
        let mut fake = Fake::default();
        let clusters = BTreeMap::from([("a".to_owned(), cluster(100)), ("b".into(), cluster(100))]);
        let databases = BTreeMap::from([
            ("one".to_owned(), database("a", 1)),
            ("two".into(), database("a", 2)),
            ("three".into(), database("b", 3)),
        ]);
        let first = assemble(&mut fake, "x", &clusters, &databases, &Built::default()).unwrap();
        assert_eq!(first.new_clusters, ["a", "b"]);
        assert_eq!(fake.made, 3);
        // The member checks log in as the cluster's first database.
        assert_eq!(first.built.clusters["a"].checked_as.route, 1);

        // Cluster b's check_interval changes; database two moves to b.
        let clusters = BTreeMap::from([("a".to_owned(), cluster(100)), ("b".into(), cluster(200))]);
        let databases = BTreeMap::from([
            ("one".to_owned(), database("a", 1)),
            ("two".into(), database("b", 2)),
            ("three".into(), database("b", 3)),
        ]);
        let second = assemble(&mut fake, "x", &clusters, &databases, &first.built).unwrap();
        assert_eq!(second.new_clusters, ["b"]);
        let (old, new) = (&first.built.clusters, &second.built.clusters);
        assert!(Arc::ptr_eq(&old["a"].cluster, &new["a"].cluster));
        assert!(!Arc::ptr_eq(&old["b"].cluster, &new["b"].cluster));
        assert_eq!(new["b"].checked_as.route, 3, "b's first database is three");
        // Only database one kept its route; the others were made anew.
        assert_eq!(fake.made, 5);
        let routes = second.built.routes.routes();
        assert_eq!(routes["one"].load(std::sync::atomic::Ordering::Relaxed), 1);

        // A cluster no database uses is left out.
        let databases = BTreeMap::from([("one".to_owned(), database("a", 1))]);
        let third = assemble(&mut fake, "x", &clusters, &databases, &second.built).unwrap();
        assert!(third.new_clusters.is_empty());
        assert_eq!(third.built.clusters.len(), 1);
    }
}
