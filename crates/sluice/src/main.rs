//! sluice: a connection pooler and proxy for PostgreSQL and MySQL.
//!
//! `sluice --config FILE` runs it; `sluice check --config FILE` validates a config and
//! warns about what it asks of a deployment (`budget.rs`).

mod admin;
mod app;
mod budget;
mod config;
mod config_watch;
mod console;
mod console_config;
mod drain;
mod logging;
mod peering;
mod sides;
mod signals;
mod sources;
mod status;
mod workers;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// `sluice --version` and the console's `SHOW VERSION`: the version and the commit it
/// was built from (`build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SLUICE_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "sluice",
    version = VERSION,
    about = "Database connection pooler and proxy"
)]
struct Cli {
    /// Path of the TOML configuration file.
    #[arg(long, short, global = true, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration and print every problem found; warn when the
    /// deployment described by the options cannot hold it.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// sluice replicas sharing the clusters: each opens its pools in full.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// The pod's terminationGracePeriodSeconds: stopping must end within it.
    #[arg(long, value_name = "SECONDS")]
    termination_grace_period: Option<u64>,
    /// How long the preStop hook waits before SIGTERM, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pre_stop: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(path) = cli.config else {
        eprintln!("sluice: --config FILE is required");
        return ExitCode::from(2);
    };
    match cli.command {
        Some(Command::Check(args)) => check(&path, &args),
        None => match run(&path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sluice: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn check(path: &Path, args: &CheckArgs) -> ExitCode {
    match config::load(path) {
        Ok(settings) => {
            println!("{}: configuration is valid", path.display());
            // Warnings, not problems: the configuration runs, the deployment may not hold it.
            for overrun in budget::pool_overruns(&settings, args.replicas) {
                eprintln!("warning: {overrun}");
            }
            if let Some(grace) = args.termination_grace_period {
                let pre_stop = Duration::from_secs(args.pre_stop);
                if let Some(overrun) =
                    budget::stop_overrun(&settings, pre_stop, Duration::from_secs(grace))
                {
                    eprintln!("warning: {overrun}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{}: {p}", path.display());
            }
            eprintln!("{} problem(s) found", problems.len());
            ExitCode::FAILURE
        }
    }
}

fn run(path: &Path) -> anyhow::Result<()> {
    let settings = config::load(path).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "invalid configuration {}:\n  {}",
            path.display(),
            lines.join("\n  ")
        )
    })?;
    logging::init(settings.common.log_format, &settings.common.log_level)?;
    pg_proxy::tls::install_crypto_provider();
    // Clients are served by the worker threads; this runtime runs the admin listener,
    // signals, Vault and readiness probes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(app::App::run(path.to_owned(), settings))
}
