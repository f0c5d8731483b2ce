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
    /// The load the --phones phones should end on: each one's run ends once
    /// it has settled on it and registered (SCCP: RegisterAck; SIP:
    /// listening) and --hold has passed. Without it, a run ends at the first
    /// settled boot --hold leaves alone.
    #[arg(
        long,
        value_name = "LOAD",
        requires = "start_load",
        conflicts_with = "mix"
    )]
    pub expect: Option<String>,
    /// A mix of phones instead: MODEL:LOAD[:COUNT[:EXPECT]],…
    /// (7940:P00303010102:3:P0S3-8-12-00,7965:SIP45.9-4-2SR3-1S:2).
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
    /// Phones whose run has not ended by then count as timed out.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Boots in a row without settling before a phone counts as stuck in a
    /// loop (reboots the server orders after it settled start over).
    #[arg(long, default_value_t = 20)]
    pub max_boots: u32,
    /// Pause between boots.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    pub reboot_delay: Duration,
    /// How long a phone whose run may end keeps listening for a reboot order
    /// (SCCP Reset, SIP NOTIFY) first; an order during it reboots the phone
    /// and its walk goes on. Settled phones re-read their config only when
    /// rebooted, as real phones do.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub hold: Duration,
    /// UDP port SIP phones answer NOTIFY on, on their own address.
    #[arg(long, default_value_t = 5060)]
    pub sip_port: u16,
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
    let cfg = sim_config(&args)?;
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

/// The simulation the flags describe.
pub fn sim_config(args: &SimulateArgs) -> anyhow::Result<phonesim::SimConfig> {
    let phones = match (&args.mix, &args.model, &args.start_load) {
        (Some(mix), _, _) => phonesim::parse_mix(mix)?,
        (None, Some(model), Some(load)) => {
            let mut spec = phonesim::PhoneSpec::new(model, load)?;
            if let Some(expect) = &args.expect {
                spec = spec.expecting(expect)?;
            }
            vec![spec; args.phones]
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
    cfg.hold = args.hold;
    cfg.sip_port = args.sip_port;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<SimulateArgs, clap::Error> {
        let cli = Cli::try_parse_from(["phoneboot", "simulate"].iter().chain(args))?;
        match cli.command {
            Command::Simulate(a) => Ok(a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn expect_hold_and_sip_port_reach_the_simulation() {
        let a = parse(&[
            "--server",
            "127.0.0.1",
            "--model",
            "7960",
            "--start-load",
            "P00303010102",
            "--phones",
            "2",
            "--expect",
            "P0S3-8-12-00",
            "--hold",
            "3s",
            "--sip-port",
            "15060",
        ])
        .unwrap();
        let cfg = sim_config(&a).unwrap();
        assert_eq!(cfg.phones.len(), 2);
        assert!(cfg
            .phones
            .iter()
            .all(|p| p.expect.as_ref().map(|l| l.as_str()) == Some("P0S3-8-12-00")));
        assert_eq!(cfg.hold, Duration::from_secs(3));
        assert_eq!(cfg.sip_port, 15060);
    }

    #[test]
    fn defaults_expect_nothing_hold_nothing_and_use_5060() {
        let a = parse(&[
            "--server",
            "127.0.0.1:6969",
            "--mix",
            "7941:SCCP41.8-3-1S:2:SIP41.9-4-2SR3-1S,7960:P00303010102",
        ])
        .unwrap();
        let cfg = sim_config(&a).unwrap();
        assert_eq!((cfg.hold, cfg.sip_port), (Duration::ZERO, 5060));
        let expects: Vec<_> = cfg
            .phones
            .iter()
            .map(|p| p.expect.as_ref().map(|l| l.to_string()))
            .collect();
        assert_eq!(
            expects,
            [
                Some("SIP41.9-4-2SR3-1S".to_owned()),
                Some("SIP41.9-4-2SR3-1S".to_owned()),
                None
            ]
        );
    }

    #[test]
    fn resync_is_gone_and_expect_needs_the_model_form() {
        let base = [
            "--server",
            "127.0.0.1",
            "--model",
            "7960",
            "--start-load",
            "P00303010102",
        ];
        for gone in [["--resync", "1s"], ["--resync-stable", "3"]] {
            let args: Vec<&str> = base.iter().copied().chain(gone).collect();
            assert!(parse(&args).is_err(), "{gone:?}");
        }
        assert!(parse(&[
            "--server",
            "127.0.0.1",
            "--mix",
            "7960:P00303010102",
            "--expect",
            "P00308000900"
        ])
        .is_err());
        let a = parse(&[&base[..], &["--expect", "SIP41.9-4-2SR3-1S"]].concat()).unwrap();
        let err = sim_config(&a).unwrap_err().to_string();
        assert!(err.contains("does not run on a 7960"), "{err}");
    }
}
