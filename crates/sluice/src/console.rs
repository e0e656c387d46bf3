//! The admin console's view of this process: every side's routes and pools, the
//! users file, and RELOAD and SHUTDOWN handed to the main loop, which runs them as
//! it runs SIGHUP and SIGTERM.

use std::sync::{Arc, Mutex, Weak};

use pg_proxy::console::{ConfigRow, ConsoleBackend, ConsoleFuture, RouteRow};
use pool_core::activity::{Activity, ClientEntry, ServerEntry};
use pool_core::users::Users;
use tokio::sync::{mpsc, oneshot};

use crate::sides::{PostgresSide, Side};

/// What the console asks of the main loop.
pub enum Request {
    /// Reload, then say how it went.
    Reload(oneshot::Sender<Result<(), String>>),
    /// Drain and stop.
    Shutdown,
}

pub struct Console {
    /// Weak: the sides hold the console (through the PostgreSQL frontend).
    sides: Vec<Weak<dyn Side>>,
    postgres: Weak<PostgresSide>,
    requests: mpsc::UnboundedSender<Request>,
    /// SHOW CONFIG's rows, replaced on every reload.
    config: Mutex<Vec<ConfigRow>>,
    /// Every client and server connection (SHOW CLIENTS, SHOW SERVERS, KILL_CLIENT).
    activity: Arc<Activity>,
}

impl Console {
    pub fn new(
        sides: Vec<Weak<dyn Side>>,
        postgres: Weak<PostgresSide>,
        requests: mpsc::UnboundedSender<Request>,
        config: Vec<ConfigRow>,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            sides,
            postgres,
            requests,
            config: Mutex::new(config),
            activity,
        }
    }

    /// The settings a reload has just applied.
    pub fn set_config(&self, config: Vec<ConfigRow>) {
        *self.config.lock().expect("config poisoned") = config;
    }
}

impl Console {
    /// Pauses or resumes on every side; how many routes matched.
    fn set_paused(&self, database: Option<&str>, paused: bool) -> usize {
        let sides = self.sides.iter().filter_map(Weak::upgrade);
        sides.map(|s| s.set_paused(database, paused)).sum()
    }

    /// Ends a client session: what it runs on its server is stopped first (a MySQL
    /// session learns of the kill only between commands), then the session is told.
    async fn end_session(&self, client: &ClientEntry) {
        for side in self.sides.iter().filter_map(Weak::upgrade) {
            side.interrupt(client).await;
        }
        client.kill();
    }
}

fn no_such_database(database: Option<&str>) -> String {
    match database {
        Some(d) => format!("no database \"{d}\""),
        None => "no database is configured".to_owned(),
    }
}

impl ConsoleBackend for Console {
    fn routes(&self) -> Vec<RouteRow> {
        let mut rows = Vec::new();
        for side in self.sides.iter().filter_map(Weak::upgrade) {
            let protocol = side.protocol();
            let mut routes: Vec<RouteRow> = side
                .route_gauges()
                .into_iter()
                .map(|g| RouteRow {
                    protocol,
                    name: g.route,
                    mode: g.mode,
                    pool: g.pool,
                    clients: g.clients,
                    ready: g.ready,
                    paused: g.paused,
                    totals: g.totals,
                })
                .collect();
            routes.sort_by(|a, b| a.name.cmp(&b.name));
            rows.extend(routes);
        }
        rows
    }

    fn version(&self) -> &str {
        crate::VERSION
    }

    fn users(&self) -> Users {
        self.postgres
            .upgrade()
            .map(|pg| pg.users())
            .unwrap_or_default()
    }

    fn pause(&self, database: Option<&str>) -> ConsoleFuture<'_> {
        let database = database.map(str::to_owned);
        Box::pin(async move {
            let database = database.as_deref();
            if self.set_paused(database, true) == 0 {
                return Err(no_such_database(database));
            }
            // Checked-out connections come back at the end of their transaction (or
            // session); none is handed out meanwhile.
            self.activity
                .until_returned(|s| database.is_none_or(|d| d == s.info.database))
                .await;
            Ok(())
        })
    }

    fn resume(&self, database: Option<&str>) -> Result<(), String> {
        if self.set_paused(database, false) == 0 {
            return Err(no_such_database(database));
        }
        Ok(())
    }

    fn config(&self) -> Vec<ConfigRow> {
        self.config.lock().expect("config poisoned").clone()
    }

    fn reconnect(&self, database: Option<&str>) -> Result<(), String> {
        let sides = self.sides.iter().filter_map(Weak::upgrade);
        if sides.map(|s| s.reconnect(database)).sum::<usize>() == 0 {
            return Err(no_such_database(database));
        }
        Ok(())
    }

    fn reload(&self) -> ConsoleFuture<'_> {
        Box::pin(async move {
            let (done, outcome) = oneshot::channel();
            self.requests
                .send(Request::Reload(done))
                .map_err(|_| "sluice is shutting down".to_owned())?;
            outcome
                .await
                .map_err(|_| "sluice is shutting down".to_owned())?
        })
    }

    fn shutdown(&self) {
        let _ = self.requests.send(Request::Shutdown);
    }

    fn clients(&self) -> Vec<Arc<ClientEntry>> {
        self.activity.clients()
    }

    fn servers(&self) -> Vec<Arc<ServerEntry>> {
        self.activity.servers()
    }

    fn kill_client(&self, id: u64) -> ConsoleFuture<'_> {
        Box::pin(async move {
            let client = self
                .activity
                .client(id)
                .ok_or_else(|| format!("no client with id {id} (see SHOW CLIENTS)"))?;
            tracing::info!(client_id = id, user = %client.info.user, database = %client.info.database, "KILL_CLIENT");
            self.end_session(&client).await;
            Ok(())
        })
    }

    fn kill(&self, database: &str) -> ConsoleFuture<'_> {
        let database = database.to_owned();
        Box::pin(async move {
            let chosen = Some(database.as_str());
            if self.set_paused(chosen, true) == 0 {
                return Err(no_such_database(chosen));
            }
            let clients = self.activity.clients();
            let victims: Vec<_> = clients
                .iter()
                .filter(|c| c.info.database == database)
                .collect();
            tracing::info!(database = %database, clients = victims.len(), "KILL: database paused, its clients ended, its server connections closed");
            for client in &victims {
                self.end_session(client).await;
            }
            // Idle connections close now; those the ended sessions hold close as
            // they come back.
            let sides = self.sides.iter().filter_map(Weak::upgrade);
            sides.for_each(|s| {
                s.reconnect(chosen);
            });
            Ok(())
        })
    }
}
