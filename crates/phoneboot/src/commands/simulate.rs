//! `phoneboot simulate`: run simulated phones (the `phonesim` crate) against
//! a server and report how each one ended.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

/// Flags of `phoneboot simulate`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["server", "interface"])))]
pub struct SimulateArgs {
    /// How many phones of --model running --start-load.
    #[arg(long, default_value_t = 1, conflicts_with = "mix")]
    pub phones: usize,
    /// Model of the --phones phones (7940, 7960, 7941, 7961G-GE, 7965, 7975, 7911, …).
    #[arg(long, requires = "start_load", conflicts_with = "mix")]
    pub model: Option<String>,
    /// The load the --phones phones run at start (P00303010102, SIP41.9-4-2SR3-1S).
    #[arg(long, requires = "model", conflicts_with = "mix")]
    pub start_load: Option<String>,
    /// A mix of phones instead: MODEL:LOAD[:COUNT],… (7940:P00303010102:3,7965:SIP45.9-4-2SR3-1S:2).
    #[arg(long)]
    pub mix: Option<String>,
    /// TFTP server to talk to directly, no DHCP (IP or IP:PORT; port 69 by default).
    #[arg(long, value_parser = parse_server)]
    pub server: Option<SocketAddr>,
    /// Get addresses by DHCP on this interface and add them to it. Only use an
    /// interface inside a network namespace made for the simulation.
    #[arg(long)]
    pub interface: Option<String>,
    /// TFTP port used with --interface (the server address comes from DHCP).
    #[arg(long, default_value_t = 69)]
    pub tftp_port: u16,
    /// Phone i sends from the (i+1)-th address of this network (with --server).
    #[arg(long, default_value = "127.1.0.0/16")]
    pub source_net: String,
    /// MAC of the first phone; the others count up from it.
    #[arg(long, default_value = "00:1e:4a:00:00:00")]
    pub mac_base: cisco::Mac,
    /// Drop each received TFTP DATA packet with this probability (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Seed of the loss generator (and DHCP transaction ids).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The first K phones cut their first image download half way and reboot.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub reboot_mid_download: usize,
    /// The first K phones finish one image download but boot the old image.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub keep_old_image: usize,
    /// Phones not settled by then count as failed.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Boots without settling before a phone counts as stuck in a loop.
    #[arg(long, default_value_t = 20)]
    pub max_boots: u32,
    /// Pause between boots.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    pub reboot_delay: Duration,
    /// After a phone settles, read its config again this often until it
    /// names the running load `--resync-stable` times in a row (phones that
    /// cannot register fall back to TFTP; this is how they reach their next
    /// hop without a power cycle). 0s: a settled phone stays settled.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub resync: Duration,
    /// See --resync.
    #[arg(long, default_value_t = 3)]
    pub resync_stable: u32,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_server(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 69))
        })
        .map_err(|_| format!("{s:?} is not an address: write 192.0.2.1 or 192.0.2.1:69"))
}

/// Runs the simulation; exit status 1 when any phone did not settle.
pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let phones = match (&args.mix, &args.model, &args.start_load) {
        (Some(mix), _, _) => phonesim::parse_mix(mix)?,
        (None, Some(model), Some(load)) => {
            vec![phonesim::PhoneSpec::new(model, load)?; args.phones]
        }
        _ => anyhow::bail!("say which phones to simulate: --model and --start-load, or --mix"),
    };
    anyhow::ensure!(
        (0.0..1.0).contains(&args.loss),
        "--loss {} is not a probability below 1: give e.g. 0.1",
        args.loss
    );
    let addressing = match (&args.server, &args.interface) {
        (Some(server), _) => phonesim::Addressing::Direct {
            server: *server,
            source_net: phonesim::parse_net(&args.source_net)?,
        },
        (None, Some(iface)) => phonesim::Addressing::Dhcp {
            interface: iface.clone(),
            tftp_port: args.tftp_port,
        },
        (None, None) => anyhow::bail!("give --server ADDR or --interface IFACE"),
    };
    let mut cfg = phonesim::SimConfig::new(phones, addressing);
    cfg.mac_base = args.mac_base;
    cfg.loss = args.loss;
    cfg.seed = args.seed;
    cfg.reboot_mid_download = args.reboot_mid_download;
    cfg.keep_old_image = args.keep_old_image;
    cfg.timeout = args.timeout;
    cfg.max_boots = args.max_boots;
    cfg.reboot_delay = args.reboot_delay;
    cfg.resync = (!args.resync.is_zero()).then_some(phonesim::Resync {
        every: args.resync,
        stable: args.resync_stable,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(phonesim::run(cfg))?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
