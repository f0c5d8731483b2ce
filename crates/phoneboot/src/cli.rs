//! Command-line flags. Flags override the config file, which overrides the
//! built-in defaults (see `config`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "phoneboot",
    version,
    about = "Provisioning server for Cisco IP phones: TFTP (and soon DHCP, HTTP, firmware and upgrade paths) in one program."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "PHONEBOOT_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// More detail in logs (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options every command that reads state shares.
#[derive(Debug, Clone, Default, Args)]
pub struct Common {
    /// Config file (TOML). Without it, built-in defaults apply.
    #[arg(long, short = 'c', env = "PHONEBOOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where phoneboot keeps its database and firmware library
    /// [default: ./phoneboot-data].
    #[arg(long, env = "PHONEBOOT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve phones: TFTP from the root folder (created if missing).
    Serve(ServeArgs),
    /// Check a config file and print the settings it results in.
    CheckConfig {
        /// The config file to check.
        path: PathBuf,
    },
    /// List the DHCP leases in the store (MAC, IP, model, expiry).
    Leases {
        #[command(flatten)]
        common: Common,
    },
    /// Print a DHCP option's value in the forms other DHCP servers want
    /// (today: option 150, the TFTP server list).
    DhcpOption {
        /// The option code (150).
        code: u8,
        /// The TFTP server addresses, in priority order.
        #[arg(required = true)]
        addresses: Vec<std::net::Ipv4Addr>,
    },
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Folder served as-is over TFTP [default: ./tftpboot].
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// TFTP listening address [default: 0.0.0.0:69].
    #[arg(long)]
    pub tftp_listen: Option<SocketAddr>,
    /// Serve DHCP on this interface only (pool = its subnet minus our own
    /// address; option 150/66 = our address). Without it, no DHCP at all.
    #[arg(long)]
    pub interface: Option<String>,
    /// Start even if another DHCP server answers on the interface.
    #[arg(long)]
    pub allow_other_dhcp: bool,
}
