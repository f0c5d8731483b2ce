//! `tftp-load`: many concurrent TFTP downloads, one JSON line of results.
//!
//! ```text
//! tftp-load 127.0.0.1:69 file.bin --blksize 1428 --windowsize 16 \
//!     --concurrency 200 --duration 8 --warmup 2 --expect-file root/file.bin
//! ```
//!
//! Exit status: 0 when every transfer succeeded and the first transfer's
//! SHA-256 matched (when an expected digest was given), 1 otherwise, 2 on a
//! usage error.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tftp_load::{Config, Expect};

#[derive(Debug, Parser)]
#[command(
    name = "tftp-load",
    version,
    about = "TFTP download load generator: concurrent RRQs against one server, one JSON result line on stdout."
)]
struct Cli {
    /// Server address, e.g. 127.0.0.1:69.
    server: SocketAddr,
    /// File name to request.
    file: String,
    /// Request this block size (RFC 2348). Without it no option is sent and
    /// blocks are 512 bytes.
    #[arg(long, short = 'b', value_parser = clap::value_parser!(u16).range(8..=65464))]
    blksize: Option<u16>,
    /// Request this window size (RFC 7440).
    #[arg(long, short = 'w', value_parser = clap::value_parser!(u16).range(1..))]
    windowsize: Option<u16>,
    /// Request tsize and check it against the bytes received.
    #[arg(long)]
    tsize: bool,
    /// Transfers in flight at once.
    #[arg(long, short = 'c', default_value_t = 1)]
    concurrency: usize,
    /// Total transfers [default: one per concurrent client, unless
    /// --duration is given].
    #[arg(long, short = 'n')]
    transfers: Option<u64>,
    /// Seconds after which no new transfer starts (running ones finish).
    #[arg(long, short = 'd')]
    duration: Option<f64>,
    /// Seconds at the start left out of the steady rate (with --duration).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Retransmission timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Timeouts in a row before a transfer fails.
    #[arg(long, default_value_t = 5)]
    retries: u32,
    /// A local copy of the file: every transfer's size and the first
    /// transfer's SHA-256 are checked against it.
    #[arg(long)]
    expect_file: Option<PathBuf>,
    /// Expected SHA-256 (hex) of the file.
    #[arg(long)]
    expect_sha256: Option<String>,
    /// Expected size of the file in bytes.
    #[arg(long)]
    expect_size: Option<u64>,
    /// Local address for client sockets [default: the unspecified address].
    #[arg(long)]
    bind: Option<IpAddr>,
    /// OS threads running the clients (1 = one event loop).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Text copied into the JSON line's "label".
    #[arg(long)]
    label: Option<String>,
}

fn seconds(name: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("--{name} {s} is not a duration"))
}

fn config(cli: Cli) -> anyhow::Result<Config> {
    let mut cfg = Config::new(cli.server, cli.file);
    cfg.blksize = cli.blksize;
    cfg.windowsize = cli.windowsize;
    cfg.tsize = cli.tsize;
    anyhow::ensure!(cli.concurrency >= 1, "--concurrency must be at least 1");
    cfg.concurrency = cli.concurrency;
    cfg.transfers = cli.transfers;
    cfg.duration = cli.duration.map(|d| seconds("duration", d)).transpose()?;
    cfg.warmup = seconds("warmup", cli.warmup)?;
    cfg.timeout = Duration::from_millis(cli.timeout_ms.max(1));
    cfg.retries = cli.retries;
    cfg.threads = cli.threads.max(1);
    cfg.label = cli.label;
    if let Some(ip) = cli.bind {
        cfg.bind = ip;
    }
    let mut expect = match &cli.expect_file {
        Some(p) => Expect::from_file(p).with_context(|| format!("reading {}", p.display()))?,
        None => Expect::default(),
    };
    if let Some(hex_digest) = &cli.expect_sha256 {
        let bytes = hex::decode(hex_digest.trim()).context("--expect-sha256 is not hex")?;
        let digest: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("--expect-sha256 must be 64 hex digits"))?;
        expect.sha256 = Some(digest);
    }
    if let Some(size) = cli.expect_size {
        expect.size = Some(size);
    }
    cfg.expect = expect;
    Ok(cfg)
}

fn main() -> ExitCode {
    let cfg = match config(Cli::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tftp-load: {e:#}");
            return ExitCode::from(2);
        }
    };
    let report = match tftp_load::run(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tftp-load: {e:#}");
            return ExitCode::from(2);
        }
    };
    println!("{}", report.to_json(&cfg));
    if let Some(e) = &report.first_error {
        eprintln!("tftp-load: {} failed; first: {e}", report.transfers_failed);
    }
    if report.sha256_ok == Some(false) {
        eprintln!("tftp-load: SHA-256 of the first transfer does not match");
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
