//! Running sluice from its settings: the credential sources, one side per configured
//! protocol, the admin listener; then reloading on SIGHUP (or a changed file) and
//! draining on SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use pool_core::shutdown::{Shutdown, ShutdownController};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::admin;
use crate::config::{self, Validated};
use crate::config_watch::{watched_files, ConfigWatch, WATCH_EVERY};
use crate::console::{Console, Request};
use crate::console_config::config_rows;
use crate::drain::drain;
use crate::peering::Keys;
use crate::sides::{MysqlSide, PostgresSide, Side, StartContext};
use crate::signals::{Signal, Signals};
use crate::sources::{close_when_unused, Sources};
use crate::status::Status;
use crate::workers::Workers;

pub struct App {
    config_path: PathBuf,
    /// The admin console, told of each reload's settings.
    console: Option<Arc<Console>>,
    sides: Vec<Arc<dyn Side>>,
    sources: Sources,
}

impl App {
    pub async fn run(config_path: PathBuf, settings: Validated) -> anyhow::Result<()> {
        // Before any route registers its metric handles.
        let metrics = admin::install_recorder()?;
        let (shutdown_ctl, shutdown) = ShutdownController::new();
        let workers = Workers::start(settings.common.workers)?;
        let mut sources = Sources::default();
        sources.set_vault(settings.vault.as_ref())?;
        let files = watched_files(&config_path, &settings);
        let common = settings.common.clone();
        let pg_listen = settings.postgres.as_ref().map(|pg| pg.listen);
        let keys = Keys::start(settings.peers.as_ref(), &shutdown).await?;
        let shown_config = config_rows(&settings);
        let (sides, postgres) =
            start_sides(settings, &workers, &mut sources, &keys, &shutdown).await?;
        let (console_tx, console_rx) = tokio::sync::mpsc::unbounded_channel();
        let console = postgres.as_ref().map(|pg| {
            let weak_sides = sides.iter().map(Arc::downgrade).collect();
            let console = Arc::new(Console::new(
                weak_sides,
                Arc::downgrade(pg),
                console_tx,
                shown_config,
                keys.activity.clone(),
            ));
            pg.open_console(console.clone());
            console
        });
        let admin_listener = tokio::net::TcpListener::bind(common.admin_listen)
            .await
            .with_context(|| format!("cannot listen on {} (admin)", common.admin_listen))?;
        tracing::info!(postgres = ?pg_listen, admin = %common.admin_listen, "sluice is listening");
        let status = Arc::new(Status::new(sides.clone(), sources.vault(), metrics));
        tokio::spawn(admin::serve(
            admin_listener,
            status.clone(),
            shutdown.clone(),
        ));
        status.set_listening(true);

        let mut app = App {
            config_path,
            console,
            sides,
            sources,
        };
        app.serve_until_stopped(ConfigWatch::new(files, WATCH_EVERY), console_rx)
            .await?;
        tracing::info!(grace = ?common.shutdown_grace, "shutting down: draining clients");
        status.set_listening(false);
        drain(&app.sides, &shutdown_ctl, common.shutdown_grace).await;
        // Leases are revoked so that no generated database user outlives sluice.
        app.sources.close_all().await;
        tracing::info!("sluice stopped");
        Ok(())
    }

    /// Reloads on SIGHUP, a changed file or the console's RELOAD until SIGTERM,
    /// SIGINT or the console's SHUTDOWN.
    async fn serve_until_stopped(
        &mut self,
        mut watch: ConfigWatch,
        mut console: UnboundedReceiver<Request>,
    ) -> anyhow::Result<()> {
        let mut signals = Signals::new()?;
        loop {
            let mut answer = None;
            let signal = tokio::select! {
                s = signals.next() => s,
                () = watch.changed() => {
                    tracing::info!("configuration files changed; reloading");
                    Signal::Reload
                }
                Some(request) = console.recv() => match request {
                    Request::Reload(done) => {
                        tracing::info!("reload asked for on the admin console");
                        answer = Some(done);
                        Signal::Reload
                    }
                    Request::Shutdown => {
                        tracing::info!("shutdown asked for on the admin console");
                        Signal::Stop
                    }
                },
            };
            if let Signal::Stop = signal {
                return Ok(());
            }
            let outcome = match self.reload() {
                Ok(files) => {
                    watch.reset(files);
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "reload failed; keeping the running configuration");
                    Err(format!(
                        "reload failed; keeping the running configuration: {e:#}"
                    ))
                }
            };
            if let Some(done) = answer {
                let _ = done.send(outcome);
            }
        }
    }

    /// Re-reads the config file and applies users, access rules, limits and routes
    /// without dropping clients. Listen addresses need a restart. Returns the files
    /// the new configuration names, to be watched for changes.
    fn reload(&mut self) -> anyhow::Result<Vec<PathBuf>> {
        let settings = config::load(&self.config_path).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("invalid configuration:\n  {}", lines.join("\n  "))
        })?;
        let files = watched_files(&self.config_path, &settings);
        let vault_changed = self.sources.vault_differs(settings.vault.as_ref());
        if vault_changed && self.sides.iter().any(|s| s.restart_for_vault_change()) {
            anyhow::bail!("[vault] changed: with a [mysql] section this needs a restart");
        }
        for source in self.sources.set_vault(settings.vault.as_ref())? {
            tokio::spawn(close_when_unused(source));
        }
        for side in &self.sides {
            side.reload(&settings, &mut self.sources, vault_changed)?;
        }
        let used: Vec<_> = self.sides.iter().flat_map(|s| s.credentials()).collect();
        for source in self.sources.keep_only(&used) {
            tokio::spawn(close_when_unused(source));
        }
        if let Some(console) = &self.console {
            console.set_config(config_rows(&settings));
        }
        tracing::info!("configuration reloaded");
        Ok(files)
    }
}

/// One side per configured protocol, PostgreSQL first; the PostgreSQL side once
/// more, as the admin console opens on it.
async fn start_sides(
    settings: Validated,
    workers: &Workers,
    sources: &mut Sources,
    keys: &Keys,
    shutdown: &Shutdown,
) -> anyhow::Result<(Vec<Arc<dyn Side>>, Option<Arc<PostgresSide>>)> {
    let mut sides: Vec<Arc<dyn Side>> = Vec::new();
    let mut postgres = None;
    if let Some(pg) = &settings.postgres {
        let context = StartContext::new(workers, sources, keys, shutdown);
        let side = Arc::new(PostgresSide::start(pg, context)?);
        sides.push(side.clone());
        postgres = Some(side);
    }
    if let Some(m) = settings.mysql {
        let context = StartContext::new(workers, sources, keys, shutdown);
        sides.push(Arc::new(MysqlSide::start(m, context).await?));
    }
    Ok((sides, postgres))
}
