//! Logs go to stderr: readable lines by default, JSON with `--log-format json`.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

static JSON: AtomicBool = AtomicBool::new(false);

/// True when logs are JSON: events then carry their full record as a field;
/// text logs keep to the one readable line.
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

use crate::cli::LogFormat;

pub fn init(format: LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
