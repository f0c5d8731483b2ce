//! phoneboot: the provisioning server for Cisco IP phones. This crate is the
//! binary's body: command-line and config handling, and the tokio drivers
//! around the sans-IO cores (`tftp`, and later `dhcp` and `cisco`).
//!
//! `main.rs` only parses flags and calls [`run`]; each command has one
//! function here.

pub mod cli;
pub mod config;
pub mod events;
pub mod logging;
pub mod resolver;
pub mod tftp_driver;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use cli::{Cli, Command, ServeArgs};
use config::Config;

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::CheckConfig { path } => check_config(&path),
    }
}

fn check_config(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(path)?;
    println!("{}: ok", path.display());
    print_summary(&cfg);
    Ok(ExitCode::SUCCESS)
}

fn print_summary(cfg: &Config) {
    let p = &cfg.tftp.policy;
    println!("  data dir:   {}", cfg.data_dir.display());
    println!("  tftp root:  {}", cfg.root.display());
    println!(
        "  tftp:       {} (blksize ≤ {}, window ≤ {}, timeout {:?}..{:?}, {} retries)",
        cfg.tftp.listen, p.max_blksize, p.max_windowsize, p.min_rto, p.max_rto, p.max_retries
    );
    println!(
        "  limits:     {} transfers, {} per client",
        cfg.tftp.limits.max_transfers, cfg.tftp.limits.max_per_client
    );
    if let Some(i) = &cfg.interface {
        println!("  interface:  {i}");
    }
    if !cfg.unused_sections.is_empty() {
        println!(
            "  not used by this version yet: [{}]",
            cfg.unused_sections.join("], [")
        );
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::for_serve(&args)?;
    for section in &cfg.unused_sections {
        tracing::warn!("config section [{section}] is not used by this version yet; it is ignored");
    }
    if let Some(i) = &cfg.interface {
        tracing::warn!("server.interface = {i:?} is not used yet: DHCP is not part of this version, and TFTP listens on {}", cfg.tftp.listen);
    }
    std::fs::create_dir_all(&cfg.root)
        .with_context(|| format!("cannot create the TFTP root {}", cfg.root.display()))?;
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            cfg.data_dir.display()
        )
    })?;
    let root = resolver::RootSource::new(&cfg.root)
        .with_context(|| format!("cannot open the TFTP root {}", cfg.root.display()))?;
    let resolver = Arc::new(resolver::Resolver::new(root));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let socket = tftp_driver::bind(cfg.tftp.listen)?;
        let local = socket.local_addr()?;
        let files = std::fs::read_dir(resolver.root())
            .map(|d| d.count())
            .unwrap_or(0);
        // One line on stdout that people and tests can rely on.
        println!(
            "phoneboot: TFTP listening on {local}, serving {} ({files} entries); data in {}",
            resolver.root().display(),
            cfg.data_dir.display()
        );
        let shutdown = CancellationToken::new();
        let events = events::EventBus::new();
        let server = tokio::spawn(tftp_driver::serve(
            cfg.tftp.clone(),
            socket,
            resolver,
            events,
            shutdown.clone(),
        ));
        wait_for_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
        server.await.context("the TFTP server task failed")??;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
