//! Command-line flags. Flags override the config file, which overrides the
//! built-in defaults (see `config`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "phoneboot",
    version,
    about = "Provisioning server for Cisco IP phones: TFTP, DHCP and a firmware library (and soon HTTP and upgrade paths) in one program."
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
    /// The TFTP root whose files and firmware `serve` serves
    /// [default: the config's, else ./tftpboot].
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Where leases live: `postgresql://user:password@host:port/db` for a
    /// store several servers share [default: the config's `[store] url`,
    /// else SQLite in the data directory].
    #[arg(long, env = "PHONEBOOT_STORE", hide_env_values = true)]
    pub store: Option<String>,
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
    /// The firmware library: import Cisco bundles, list, show, verify, remove
    /// loads. It lives in <data-dir>/firmware and `serve` serves it.
    #[command(subcommand)]
    Firmware(FirmwareCommand),
    /// The lease store: its schema version (`status`) and upgrading it
    /// (`migrate`). For a PostgreSQL store shared by several servers.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Check this machine before plugging phones in: ports, privileges,
    /// firewall, the interface and its pool, another DHCP server on the
    /// segment, firmware the desired state needs. Each finding with a fix;
    /// exits 1 when something is a problem.
    Doctor {
        #[command(flatten)]
        common: Common,
        /// Also check DHCP on this interface (sends one probe DISCOVER).
        #[arg(long)]
        interface: Option<String>,
    },
    /// Asterisk's side of the configured phones.
    #[command(subcommand)]
    Asterisk(AsteriskCommand),
    /// List the DHCP leases in the store (MAC, IP, model, expiry).
    Leases {
        #[command(flatten)]
        common: Common,
    },
    /// One screen on the running server: services, counts, problems.
    Status {
        #[command(flatten)]
        api: ApiClientArgs,
    },
    /// Every phone the running server knows: model, loads, stage, diagnosis;
    /// `phones reboot MAC` reboots one, `phones retry MAC` retries its hop.
    Phones {
        #[command(subcommand)]
        action: Option<PhonesAction>,
        #[command(flatten)]
        api: ApiClientArgs,
    },
    /// Recent events of the running server; --follow keeps printing new ones.
    Events {
        #[command(flatten)]
        api: ApiClientArgs,
        /// Keep printing events as they happen (like `tail -f`).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only events about this phone (any MAC notation).
        #[arg(long)]
        mac: Option<String>,
        /// Only these event types, comma-separated (tftp_transfer, dhcp, …).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// How many past events to print first.
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: usize,
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
    /// Run simulated phones against a server and report how each one ended
    /// (final load, hops, files, bytes, time); exits 1 unless all settled.
    #[cfg(feature = "demo")]
    Simulate(crate::commands::simulate::SimulateArgs),
    /// No phones needed: run phoneboot and simulated 7940/7960/7941/7965
    /// phones inside network namespaces it creates (and removes), with
    /// synthetic firmware, and serve the dashboard. Needs root.
    #[cfg(feature = "demo")]
    Demo(crate::commands::demo::DemoArgs),
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: Common,
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
    /// Run the SNTP server on this address [default with --interface:
    /// 0.0.0.0:123 on that interface].
    #[arg(long)]
    pub sntp_listen: Option<SocketAddr>,
    /// Run the syslog receiver on this address [default with --interface:
    /// 0.0.0.0:514 on that interface].
    #[arg(long)]
    pub syslog_listen: Option<SocketAddr>,
    /// Be the SCCP call manager of phones on stepping-stone loads here, or
    /// "off" [default with --interface: 0.0.0.0:2000 on that interface].
    #[arg(long, value_name = "ADDR|off")]
    pub sccp_listen: Option<String>,
    /// Operator API (REST, events, /metrics) [default: 127.0.0.1:8067].
    /// Any address but loopback needs a token.
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
    /// HTTP file serving for phones, or `off` [default: 0.0.0.0:6970].
    #[arg(long, value_name = "ADDR|off")]
    pub phone_http_listen: Option<String>,
    /// Bearer token the operator API requires.
    #[arg(long, env = "PHONEBOOT_HTTP_TOKEN", hide_env_values = true)]
    pub http_token: Option<String>,
}

/// What to do to one phone.
#[derive(Debug, Subcommand)]
pub enum PhonesAction {
    /// Reboot it now: SCCP Reset if it is registered with phoneboot, else a
    /// SIP NOTIFY (check-sync on 79x0 SIP, service-control reset on 79x1/2/5).
    Reboot {
        /// The phone's MAC (any notation).
        mac: String,
        #[command(flatten)]
        api: ApiClientArgs,
    },
    /// Retry its current hop: clear the diagnosis that stops its walk (and
    /// the download, reboot and attempt counts behind it) once you have
    /// fixed the cause; reboots it into the hop when phoneboot reaches it.
    Retry {
        /// The phone's MAC (any notation).
        mac: String,
        #[command(flatten)]
        api: ApiClientArgs,
    },
}

/// How the `status` and `events` commands reach a running server.
#[derive(Debug, Clone, Args)]
pub struct ApiClientArgs {
    /// The server's operator API.
    #[arg(
        long,
        env = "PHONEBOOT_SERVER",
        default_value = "http://127.0.0.1:8067"
    )]
    pub server: String,
    /// Bearer token, when the server has one.
    #[arg(long, env = "PHONEBOOT_HTTP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AsteriskCommand {
    /// Print pjsip.conf sections (endpoint, auth, aor) for every SIP line of
    /// every configured phone.
    Pjsip {
        #[command(flatten)]
        common: Common,
        /// Write to this file (atomically) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Which store, whether it answers, its schema version and what
    /// `migrate` would do.
    Status {
        #[command(flatten)]
        common: Common,
    },
    /// Bring the schema up to this build's version (run it once every
    /// server sharing the store runs this build).
    Migrate {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
pub enum FirmwareCommand {
    /// Import Cisco bundles (.zip, .tar, .tar.gz/.tgz, .cop, .cop.sgn, an
    /// unpacked folder, or an old 79x0 .bin). Each is all or nothing.
    Import {
        #[command(flatten)]
        common: Common,
        /// Bundles to import, one after the other.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Keep loads that lack files (marked incomplete; never served).
        #[arg(long)]
        allow_incomplete: bool,
    },
    /// List every load: family, protocol, version, models, files, size, complete.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Show one load's files in order, with sizes and SHA-256.
    Show {
        #[command(flatten)]
        common: Common,
        /// The load name, any letter case (SIP41.9-4-2SR3-1S).
        load: String,
    },
    /// Re-hash every stored file; exits 1 if any is damaged or missing.
    Verify {
        #[command(flatten)]
        common: Common,
    },
    /// Remove a load and the files no other load uses.
    Remove {
        #[command(flatten)]
        common: Common,
        /// The load name, any letter case.
        load: String,
    },
}
