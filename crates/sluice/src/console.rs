//! The admin console's view of this process: every side's routes and pools, the
//! users file, and RELOAD and SHUTDOWN handed to the main loop, which runs them as
//! it runs SIGHUP and SIGTERM.

use std::sync::Weak;

use pg_proxy::console::{ConsoleBackend, ConsoleFuture, RouteRow};
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
}

impl Console {
    pub fn new(
        sides: Vec<Weak<dyn Side>>,
        postgres: Weak<PostgresSide>,
        requests: mpsc::UnboundedSender<Request>,
    ) -> Self {
        Self {
            sides,
            postgres,
            requests,
        }
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
                })
                .collect();
            routes.sort_by(|a, b| a.name.cmp(&b.name));
            rows.extend(routes);
        }
        rows
    }

    fn users(&self) -> Users {
        self.postgres
            .upgrade()
            .map(|pg| pg.users())
            .unwrap_or_default()
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
}
