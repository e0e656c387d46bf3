//! Logging through `tracing`: text by default, JSON on request. `RUST_LOG` overrides the
//! configured level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Libraries whose own events are never wanted: the Vault client's HTTP layer reports
/// every failed request a second time, with request details sluice already logs in
/// its own words (and without the secrets).
const SILENCED: &[&str] = &["rustify=off", "vaultrs=off"];

pub fn init(format: LogFormat, level: &str) -> anyhow::Result<()> {
    let mut filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(level))?;
    for directive in SILENCED {
        filter = filter.add_directive(directive.parse()?);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never in files or log collectors.
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
