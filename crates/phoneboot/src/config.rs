//! The config file, read in two layers: `file::*` mirrors the TOML exactly
//! (unknown keys are errors), and [`Config`] is the validated result that the
//! drivers use. Every error names the file and the key.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::ServeArgs;

/// Where state lives when nothing says otherwise: beside the working
/// directory, so `phoneboot serve` works as any user on a fresh machine.
pub const DEFAULT_DATA_DIR: &str = "phoneboot-data";
pub const DEFAULT_ROOT: &str = "tftpboot";
pub const DEFAULT_TFTP_LISTEN: &str = "0.0.0.0:69";
/// The operator API: loopback only unless a token is configured.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8067";
/// Where phones fetch files over HTTP (Cisco's port for it).
pub const DEFAULT_PHONE_HTTP_LISTEN: &str = "0.0.0.0:6970";

pub const DEFAULT_SNTP_LISTEN: &str = "0.0.0.0:123";
pub const DEFAULT_SYSLOG_LISTEN: &str = "0.0.0.0:514";

/// The protocol phones are brought to when nothing more specific says: it
/// picks the `termNN.default.loads` served from the firmware library.
pub const DEFAULT_PROTOCOL: cisco::Protocol = cisco::Protocol::Sip;

pub mod file {
    //! The TOML as written. Nothing is derived here.
    use serde::Deserialize;
    use std::path::PathBuf;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Config {
        pub server: Option<Server>,
        pub tftp: Option<Tftp>,
        pub dhcp: Option<Dhcp>,
        pub http: Option<Http>,
        pub sip: Option<crate::desired::file::Sip>,
        pub time: Option<Time>,
        pub defaults: Option<crate::desired::file::Layer>,
        pub models: Option<crate::desired::file::Layers>,
        pub families: Option<crate::desired::file::Layers>,
        pub groups: Option<crate::desired::file::Layers>,
        pub phone: Option<Vec<crate::desired::file::Phone>>,
        pub provision: Option<crate::desired::file::Provision>,
        pub syslog: Option<Syslog>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Time {
        /// Time zone for phone configs (read by the config renderer).
        pub zone: Option<String>,
        /// The NTP server phones are told to use, instead of ours.
        pub ntp: Option<String>,
        /// Our SNTP server; on by default with `server.interface`.
        pub sntp: Option<bool>,
        pub sntp_listen: Option<String>,
        /// Answer as stratum 1 even when the kernel says unsynchronised.
        pub host_is_reference: Option<bool>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Syslog {
        /// On by default with `server.interface`.
        pub enabled: Option<bool>,
        pub listen: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Server {
        pub interface: Option<String>,
        pub data_dir: Option<PathBuf>,
        pub root: Option<PathBuf>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Dhcp {
        /// The subnet to serve when it cannot be read off the interface.
        pub subnet: Option<String>,
        pub pool: Option<Vec<String>>,
        pub exclude: Option<Vec<String>>,
        pub router: Option<OneOrMany>,
        pub dns: Option<Vec<String>>,
        pub domain: Option<String>,
        pub ntp: Option<Vec<String>>,
        pub lease_time: Option<String>,
        pub tftp_servers: Option<Vec<String>>,
        pub reservation: Option<Vec<Reservation>>,
        pub option: Option<Vec<DhcpOption>>,
        pub allow_other_dhcp: Option<bool>,
        /// Subnets behind DHCP relays, chosen by the relay's giaddr.
        pub relay_subnet: Option<Vec<RelaySubnet>>,
        /// Options sent only to one phone model (as named by option 60).
        pub model_option: Option<Vec<ModelOption>>,
        pub probe_wait: Option<String>,
        pub offer_hold: Option<String>,
        pub max_offers: Option<u64>,
        pub conflict_check: Option<bool>,
        pub conflict_timeout: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    pub enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Reservation {
        pub mac: String,
        pub ip: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RelaySubnet {
        pub subnet: String,
        pub pool: Option<Vec<String>>,
        pub exclude: Option<Vec<String>>,
        pub router: Option<OneOrMany>,
        pub dns: Option<Vec<String>>,
        pub tftp_servers: Option<Vec<String>>,
        pub lease_time: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ModelOption {
        pub model: String,
        pub code: u8,
        #[serde(rename = "type")]
        pub kind: String,
        pub value: toml::Value,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DhcpOption {
        pub code: u8,
        /// ips | string | u8 | u16 | u32 | hex
        #[serde(rename = "type")]
        pub kind: String,
        pub value: toml::Value,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Http {
        /// The operator API.
        pub listen: Option<String>,
        /// File serving for phones, or "off".
        pub phone_listen: Option<String>,
        /// Bearer token for the operator API.
        pub token: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Tftp {
        pub listen: Option<String>,
        pub max_blksize: Option<u32>,
        pub max_windowsize: Option<u32>,
        pub max_window_bytes: Option<u64>,
        pub max_transfers: Option<u64>,
        pub max_per_client: Option<u64>,
        pub initial_timeout: Option<String>,
        pub min_timeout: Option<String>,
        pub max_timeout: Option<String>,
        pub retries: Option<u32>,
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub root: PathBuf,
    pub interface: Option<String>,
    pub tftp: TftpConfig,
    pub dhcp: DhcpSettings,
    pub http: HttpConfig,
    /// The protocol phones are brought to when nothing more specific says
    /// (`[defaults] protocol`).
    pub default_protocol: cisco::Protocol,
    /// Where each phone should end up, and the SIP/time settings its
    /// generated configs carry.
    pub desired: crate::desired::DesiredState,
    /// The desired state as written, for validating run-time edits.
    pub desired_sections: crate::desired::Sections,
    pub time: TimeConfig,
    pub syslog: SyslogConfig,
}

/// `[time]`: our SNTP server and what phones are told.
#[derive(Debug, Clone)]
pub struct TimeConfig {
    /// `Some(false)` turns SNTP off; `None` means on with an interface only.
    pub sntp: Option<bool>,
    pub sntp_listen: SocketAddr,
    pub host_is_reference: bool,
    /// `[time] ntp`: the server phones use when it is not us.
    pub ntp_for_phones: Option<String>,
    pub zone: Option<String>,
}

/// `[syslog]`: the receiver.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    /// `Some(false)` turns it off; `None` means on with an interface only.
    pub enabled: Option<bool>,
    pub listen: SocketAddr,
}

impl Config {
    /// SNTP runs when asked for, or by default when serving an interface.
    pub fn sntp_enabled(&self) -> bool {
        self.time.sntp.unwrap_or(self.interface.is_some())
    }

    /// The syslog receiver runs when asked for, or by default when serving
    /// an interface.
    pub fn syslog_enabled(&self) -> bool {
        self.syslog.enabled.unwrap_or(self.interface.is_some())
    }

    /// The NTP server phones should use (DHCP option 42 unless `[dhcp] ntp`
    /// says otherwise, and generated configs): `[time] ntp`, else our own
    /// address on the interface when SNTP runs there.
    pub fn phone_ntp_server(&self, interface_addr: Option<Ipv4Addr>) -> Option<String> {
        self.time.ntp_for_phones.clone().or_else(|| {
            interface_addr
                .filter(|_| self.sntp_enabled())
                .map(|a| a.to_string())
        })
    }

    /// Where phones should send syslog: our address on the interface when
    /// the receiver runs on the standard port.
    pub fn phone_syslog_server(&self, interface_addr: Option<Ipv4Addr>) -> Option<String> {
        interface_addr
            .filter(|_| self.syslog_enabled() && self.syslog.listen.port() == 514)
            .map(|a| a.to_string())
    }
}

/// A subnet behind a relay; unset values come from `[dhcp]`.
#[derive(Debug, Clone)]
pub struct RelaySubnet {
    pub network: (Ipv4Addr, u8),
    pub pool: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub exclude: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Option<Vec<Ipv4Addr>>,
    pub tftp_servers: Option<Vec<Ipv4Addr>>,
    pub lease_time: Option<Duration>,
}

/// DHCP settings that do not depend on the interface; `serve --interface`
/// combines them with the interface's address and subnet.
#[derive(Debug, Clone)]
pub struct DhcpSettings {
    pub subnet: Option<(Ipv4Addr, u8)>,
    pub pool: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub exclude: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub ntp: Vec<Ipv4Addr>,
    pub lease_time: Duration,
    pub tftp_servers: Vec<Ipv4Addr>,
    pub reservations: Vec<dhcp::Reservation>,
    pub options: Vec<dhcp::OptionSpec>,
    pub allow_other_dhcp: bool,
    /// Subnets served through relays, beside the interface's own.
    pub relay_subnets: Vec<RelaySubnet>,
    /// Per-model options: (model name as the Cisco catalog spells it, option).
    pub model_options: Vec<(String, dhcp::OptionSpec)>,
    /// Rate limits and offer caps for the core (defaults from `dhcp::Limits`).
    pub limits: dhcp::Limits,
    /// How long the start-up check listens for another DHCP server.
    pub probe_wait: Duration,
    /// Ping an address before offering it, waiting this long for an answer.
    pub conflict_check: Option<Duration>,
}

/// The operator API and the phones' HTTP file serving.
#[derive(Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// `None` when phone HTTP is off.
    pub phone_listen: Option<SocketAddr>,
    /// Required from API clients when set; required to be set when `listen`
    /// is not loopback.
    pub token: Option<String>,
}

impl std::fmt::Debug for HttpConfig {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("phone_listen", &self.phone_listen)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// `off` or an address:port, as `--phone-http-listen` and
/// `http.phone_listen` take it.
pub fn parse_phone_listen(text: &str) -> Result<Option<SocketAddr>, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        format!("{text:?} is not an address:port or \"off\" (example: \"0.0.0.0:6970\")")
    })
}

#[derive(Debug, Clone)]
pub struct TftpConfig {
    pub listen: SocketAddr,
    pub policy: tftp::Policy,
    pub limits: tftp::Limits,
}

/// A config problem, naming where it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {error}")]
    Desired {
        path: String,
        error: crate::desired::DesiredError,
    },
    #[error("{path}: {key}: {problem}")]
    Invalid {
        path: String,
        key: &'static str,
        problem: String,
    },
}

impl Config {
    /// Built-in defaults, as `phoneboot serve` with no arguments uses them.
    pub fn defaults() -> Config {
        Config::from_file(file::Config::default(), "(defaults)").expect("defaults are valid")
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse_str(&text, &path.display().to_string())
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: file::Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Config::from_file(raw, origin)
    }

    /// The config for `serve`: file (if any), then flags on top.
    pub fn for_serve(args: &ServeArgs) -> Result<Config, ConfigError> {
        let mut cfg = match &args.common.config {
            Some(path) => Config::load(path)?,
            None => Config::defaults(),
        };
        if let Some(d) = &args.common.data_dir {
            cfg.data_dir = d.clone();
        }
        if let Some(r) = &args.root {
            cfg.root = r.clone();
        }
        if let Some(l) = args.tftp_listen {
            cfg.tftp.listen = l;
        }
        if let Some(i) = &args.interface {
            cfg.interface = Some(i.clone());
        }
        if args.allow_other_dhcp {
            cfg.dhcp.allow_other_dhcp = true;
        }
        if let Some(l) = args.sntp_listen {
            cfg.time.sntp = Some(true);
            cfg.time.sntp_listen = l;
        }
        if let Some(l) = args.syslog_listen {
            cfg.syslog.enabled = Some(true);
            cfg.syslog.listen = l;
        }
        if let Some(l) = args.http_listen {
            cfg.http.listen = l;
        }
        if let Some(text) = &args.phone_http_listen {
            cfg.http.phone_listen =
                parse_phone_listen(text).map_err(|problem| ConfigError::Invalid {
                    path: "command line".into(),
                    key: "--phone-http-listen",
                    problem,
                })?;
        }
        if let Some(t) = &args.http_token {
            cfg.http.token = Some(t.clone());
        }
        if cfg.http.token.as_deref() == Some("") {
            cfg.http.token = None;
        }
        Ok(cfg)
    }

    fn from_file(raw: file::Config, origin: &str) -> Result<Config, ConfigError> {
        let invalid = |key: &'static str, problem: String| ConfigError::Invalid {
            path: origin.to_owned(),
            key,
            problem,
        };
        let server = raw.server.unwrap_or_default();
        let t = raw.tftp.unwrap_or_default();
        let listen_text = t.listen.as_deref().unwrap_or(DEFAULT_TFTP_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "tftp.listen",
                format!("{listen_text:?} is not an address:port (example: \"0.0.0.0:69\")"),
            )
        })?;
        let defaults = tftp::Policy::default();
        let max_blksize = match t.max_blksize {
            None => defaults.max_blksize,
            Some(n @ 512..=65464) => n as u16,
            Some(n) => {
                return Err(invalid(
                    "tftp.max_blksize",
                    format!("{n} is outside 512..=65464 (1468 fits a 1500-byte Ethernet frame)"),
                ))
            }
        };
        let max_windowsize = match t.max_windowsize {
            None => defaults.max_windowsize,
            Some(n @ 1..=65535) => n as u16,
            Some(n) => {
                return Err(invalid(
                    "tftp.max_windowsize",
                    format!("{n} is outside 1..=65535"),
                ))
            }
        };
        let max_window_bytes = match t.max_window_bytes {
            None => defaults.max_window_bytes,
            Some(n @ 512..=16_777_216) => n as usize,
            Some(n) => {
                return Err(invalid(
                    "tftp.max_window_bytes",
                    format!("{n} is outside 512..=16777216"),
                ))
            }
        };
        let duration = |key: &'static str, value: &Option<String>, default: Duration| match value {
            None => Ok(default),
            Some(text) => humantime::parse_duration(text).map_err(|e| {
                invalid(
                    key,
                    format!("{text:?} is not a duration like \"250ms\" or \"2s\": {e}"),
                )
            }),
        };
        let initial_rto = duration(
            "tftp.initial_timeout",
            &t.initial_timeout,
            defaults.initial_rto,
        )?;
        let min_rto = duration("tftp.min_timeout", &t.min_timeout, defaults.min_rto)?;
        let max_rto = duration("tftp.max_timeout", &t.max_timeout, defaults.max_rto)?;
        if min_rto.is_zero() || min_rto > max_rto {
            return Err(invalid(
                "tftp.min_timeout",
                format!(
                    "{min_rto:?} must be above zero and at most tftp.max_timeout ({max_rto:?})"
                ),
            ));
        }
        let positive = |key: &'static str, v: Option<u64>, default: usize| match v {
            None => Ok(default),
            Some(0) => Err(invalid(key, "must be at least 1".to_owned())),
            Some(n) => usize::try_from(n).map_err(|_| invalid(key, format!("{n} is too large"))),
        };
        let limit_defaults = tftp::Limits::default();
        let limits = tftp::Limits {
            max_transfers: positive(
                "tftp.max_transfers",
                t.max_transfers,
                limit_defaults.max_transfers,
            )?,
            max_per_client: positive(
                "tftp.max_per_client",
                t.max_per_client,
                limit_defaults.max_per_client,
            )?,
        };
        let policy = tftp::Policy {
            max_blksize,
            max_windowsize,
            max_window_bytes,
            initial_rto,
            min_rto,
            max_rto,
            max_retries: t.retries.unwrap_or(defaults.max_retries),
        };
        let desired_sections = crate::desired::Sections {
            sip: raw.sip,
            time: raw.time.as_ref().map(|t| crate::desired::file::Time {
                zone: t.zone.clone(),
                ntp: t.ntp.clone(),
            }),
            defaults: raw.defaults,
            models: raw.models,
            families: raw.families,
            groups: raw.groups,
            phones: raw.phone,
            provision: raw.provision,
        };
        let desired = crate::desired::DesiredState::from_sections(desired_sections.clone())
            .map_err(|error| ConfigError::Desired {
                path: origin.to_owned(),
                error,
            })?;
        let default_protocol = desired.defaults.protocol.unwrap_or(DEFAULT_PROTOCOL);
        let dhcp = dhcp_settings(raw.dhcp.unwrap_or_default(), &invalid)?;
        let addr = |key: &'static str, text: Option<&str>, default: &str| {
            let text = text.unwrap_or(default);
            text.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    key,
                    format!("{text:?} is not an address:port (example: {default:?})"),
                )
            })
        };
        let t = raw.time.unwrap_or_default();
        let time = TimeConfig {
            sntp: t.sntp,
            sntp_listen: addr(
                "time.sntp_listen",
                t.sntp_listen.as_deref(),
                DEFAULT_SNTP_LISTEN,
            )?,
            host_is_reference: t.host_is_reference.unwrap_or(false),
            ntp_for_phones: t.ntp.filter(|n| !n.is_empty()),
            zone: t.zone,
        };
        let sl = raw.syslog.unwrap_or_default();
        let syslog = SyslogConfig {
            enabled: sl.enabled,
            listen: addr("syslog.listen", sl.listen.as_deref(), DEFAULT_SYSLOG_LISTEN)?,
        };
        let h = raw.http.unwrap_or_default();
        let http_listen_text = h.listen.as_deref().unwrap_or(DEFAULT_HTTP_LISTEN);
        let http = HttpConfig {
            listen: http_listen_text.parse().map_err(|_| {
                invalid(
                    "http.listen",
                    format!(
                        "{http_listen_text:?} is not an address:port (example: \"127.0.0.1:8067\")"
                    ),
                )
            })?,
            phone_listen: parse_phone_listen(
                h.phone_listen
                    .as_deref()
                    .unwrap_or(DEFAULT_PHONE_HTTP_LISTEN),
            )
            .map_err(|p| invalid("http.phone_listen", p))?,
            token: h.token.filter(|t| !t.is_empty()),
        };
        if let Some(i) = &server.interface {
            if i.is_empty() {
                return Err(invalid(
                    "server.interface",
                    "is empty; name a network interface such as \"eth0\"".into(),
                ));
            }
        }
        Ok(Config {
            data_dir: server
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            root: server.root.unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
            interface: server.interface,
            tftp: TftpConfig {
                listen,
                policy,
                limits,
            },
            dhcp,
            http,
            default_protocol,
            desired,
            desired_sections,
            time,
            syslog,
        })
    }
}

fn dhcp_settings(
    d: file::Dhcp,
    invalid: &dyn Fn(&'static str, String) -> ConfigError,
) -> Result<DhcpSettings, ConfigError> {
    let ip = |key: &'static str, text: &str| -> Result<Ipv4Addr, ConfigError> {
        text.trim()
            .parse()
            .map_err(|_| invalid(key, format!("{text:?} is not an IPv4 address")))
    };
    let ips =
        |key: &'static str, list: &Option<Vec<String>>| -> Result<Vec<Ipv4Addr>, ConfigError> {
            list.iter().flatten().map(|t| ip(key, t)).collect()
        };
    let ranges = |key: &'static str, list: &Option<Vec<String>>| {
        list.iter()
            .flatten()
            .map(|text| {
                let (a, b) = text.split_once('-').unwrap_or((text, text));
                let (a, b) = (ip(key, a)?, ip(key, b)?);
                if u32::from(a) > u32::from(b) {
                    return Err(invalid(
                        key,
                        format!("range {text:?} ends before it starts"),
                    ));
                }
                Ok((a, b))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let duration = |key: &'static str, v: &Option<String>, default: Duration| match v {
        None => Ok(default),
        Some(t) => humantime::parse_duration(t).map_err(|e| {
            invalid(
                key,
                format!("{t:?} is not a duration like \"1h\" or \"2s\": {e}"),
            )
        }),
    };
    let subnet = match &d.subnet {
        None => None,
        Some(t) => Some(dhcp::parse_cidr(t).map_err(|e| invalid("dhcp.subnet", e.to_string()))?),
    };
    let one_or_many = |key: &'static str, v: &Option<file::OneOrMany>| match v {
        None => Ok(Vec::new()),
        Some(file::OneOrMany::One(r)) => Ok(vec![ip(key, r)?]),
        Some(file::OneOrMany::Many(rs)) => rs.iter().map(|r| ip(key, r)).collect(),
    };
    let routers = one_or_many("dhcp.router", &d.router)?;
    let mut reservations = Vec::new();
    for r in d.reservation.iter().flatten() {
        let mac = r
            .mac
            .parse::<dhcp::Mac>()
            .map_err(|e| invalid("dhcp.reservation.mac", format!("{:?}: {e}", r.mac)))?;
        reservations.push(dhcp::Reservation {
            mac,
            ip: ip("dhcp.reservation.ip", &r.ip)?,
        });
    }
    let mut options = Vec::new();
    for o in d.option.iter().flatten() {
        options
            .push(option_spec(o).map_err(|problem| {
                invalid("dhcp.option", format!("code {}: {problem}", o.code))
            })?);
    }
    let mut relay_subnets = Vec::new();
    for r in d.relay_subnet.iter().flatten() {
        let routers = one_or_many("dhcp.relay_subnet.router", &r.router)?;
        relay_subnets.push(RelaySubnet {
            network: dhcp::parse_cidr(&r.subnet)
                .map_err(|e| invalid("dhcp.relay_subnet.subnet", e.to_string()))?,
            pool: ranges("dhcp.relay_subnet.pool", &r.pool)?,
            exclude: ranges("dhcp.relay_subnet.exclude", &r.exclude)?,
            routers,
            dns: r
                .dns
                .as_ref()
                .map(|_| ips("dhcp.relay_subnet.dns", &r.dns))
                .transpose()?,
            tftp_servers: r
                .tftp_servers
                .as_ref()
                .map(|_| ips("dhcp.relay_subnet.tftp_servers", &r.tftp_servers))
                .transpose()?,
            lease_time: r
                .lease_time
                .as_ref()
                .map(|_| {
                    duration(
                        "dhcp.relay_subnet.lease_time",
                        &r.lease_time,
                        Duration::ZERO,
                    )
                })
                .transpose()?,
        });
    }
    let mut model_options = Vec::new();
    for m in d.model_option.iter().flatten() {
        let model = cisco::Model::from_name(&m.model).ok_or_else(|| {
            invalid(
                "dhcp.model_option.model",
                format!(
                    "{:?} is not a known phone model (examples: \"7960\", \"7961G-GE\", \"7965\")",
                    m.model
                ),
            )
        })?;
        let spec = option_spec(&file::DhcpOption {
            code: m.code,
            kind: m.kind.clone(),
            value: m.value.clone(),
        })
        .map_err(|problem| {
            invalid(
                "dhcp.model_option",
                format!("{} code {}: {problem}", m.model, m.code),
            )
        })?;
        model_options.push((model.name().to_owned(), spec));
    }
    let mut limits = dhcp::Limits::default();
    limits.offer_hold = duration("dhcp.offer_hold", &d.offer_hold, limits.offer_hold)?;
    if limits.offer_hold.is_zero() {
        return Err(invalid(
            "dhcp.offer_hold",
            "must be above zero, e.g. \"10s\"".into(),
        ));
    }
    if let Some(n) = d.max_offers {
        limits.max_offers = usize::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("dhcp.max_offers", format!("{n} must be at least 1")))?;
    }
    let lease_time = duration("dhcp.lease_time", &d.lease_time, Duration::from_secs(3600))?;
    if lease_time < Duration::from_secs(10) {
        return Err(invalid(
            "dhcp.lease_time",
            format!("{lease_time:?} is too short; use at least \"10s\""),
        ));
    }
    Ok(DhcpSettings {
        subnet,
        pool: ranges("dhcp.pool", &d.pool)?,
        exclude: ranges("dhcp.exclude", &d.exclude)?,
        routers,
        dns: ips("dhcp.dns", &d.dns)?,
        domain: d.domain.clone(),
        ntp: ips("dhcp.ntp", &d.ntp)?,
        lease_time,
        tftp_servers: ips("dhcp.tftp_servers", &d.tftp_servers)?,
        reservations,
        options,
        allow_other_dhcp: d.allow_other_dhcp.unwrap_or(false),
        relay_subnets,
        model_options,
        limits,
        probe_wait: duration("dhcp.probe_wait", &d.probe_wait, Duration::from_secs(2))?,
        conflict_check: if d.conflict_check.unwrap_or(true) {
            Some(duration(
                "dhcp.conflict_timeout",
                &d.conflict_timeout,
                Duration::from_millis(300),
            )?)
        } else {
            None
        },
    })
}

fn option_spec(o: &file::DhcpOption) -> Result<dhcp::OptionSpec, String> {
    use dhcp::OptionValue;
    let text = |v: &toml::Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or("value must be a string")
    };
    let int = |v: &toml::Value| v.as_integer().ok_or("value must be an integer");
    let value = match o.kind.as_str() {
        "ips" | "ip" => {
            let list: Vec<String> = match &o.value {
                toml::Value::Array(a) => a.iter().map(text).collect::<Result<_, _>>()?,
                other => vec![text(other)?],
            };
            OptionValue::Ips(
                list.iter()
                    .map(|s| {
                        s.parse()
                            .map_err(|_| format!("{s:?} is not an IPv4 address"))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        "string" => OptionValue::Text(text(&o.value)?),
        "u8" => OptionValue::U8(u8::try_from(int(&o.value)?).map_err(|_| "value must fit in u8")?),
        "u16" => {
            OptionValue::U16(u16::try_from(int(&o.value)?).map_err(|_| "value must fit in u16")?)
        }
        "u32" => {
            OptionValue::U32(u32::try_from(int(&o.value)?).map_err(|_| "value must fit in u32")?)
        }
        "hex" => OptionValue::from_hex(&text(&o.value)?).map_err(|e| e.to_string())?,
        other => {
            return Err(format!(
                "type {other:?} is not one of ips, string, u8, u16, u32, hex"
            ))
        }
    };
    Ok(dhcp::OptionSpec::new(o.code, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse_str("", "t.toml").unwrap();
        assert_eq!(c.root, PathBuf::from("tftpboot"));
        assert_eq!(c.data_dir, PathBuf::from("phoneboot-data"));
        assert_eq!(c.tftp.listen, "0.0.0.0:69".parse().unwrap());
        assert_eq!(c.tftp.policy, tftp::Policy::default());
    }

    #[test]
    fn tftp_settings_are_read() {
        let c = Config::parse_str(
            "[tftp]\nlisten = \"127.0.0.1:6969\"\nmax_blksize = 8192\nmax_windowsize = 16\nmax_timeout = \"3s\"\nmax_per_client = 200\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.tftp.listen.port(), 6969);
        assert_eq!(c.tftp.policy.max_blksize, 8192);
        assert_eq!(c.tftp.policy.max_windowsize, 16);
        assert_eq!(c.tftp.policy.max_rto, Duration::from_secs(3));
        assert_eq!(c.tftp.limits.max_per_client, 200);
    }

    #[test]
    fn errors_name_file_and_key() {
        let cases = [
            (
                "[tftp]\nmax_blksize = 4\n",
                "t.toml: tftp.max_blksize: 4 is outside",
            ),
            (
                "[tftp]\nlisten = \"nowhere\"\n",
                "t.toml: tftp.listen: \"nowhere\" is not an address:port",
            ),
            (
                "[tftp]\nmax_timeout = \"soon\"\n",
                "t.toml: tftp.max_timeout: \"soon\" is not a duration",
            ),
            (
                "[tftp]\nmax_transfers = 0\n",
                "t.toml: tftp.max_transfers: must be at least 1",
            ),
            (
                "[tftp]\nmin_timeout = \"5s\"\n",
                "t.toml: tftp.min_timeout:",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse_str(text, "t.toml").unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: got {err}");
        }
        let err = Config::parse_str("[tftp]\nblocksize = 4\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `blocksize`") && err.contains("line 2"),
            "{err}"
        );
        let err = Config::parse_str("[tftp\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml: "), "{err}");
    }

    #[test]
    fn the_shared_example_parses() {
        let text = include_str!("../../../examples/phoneboot.toml");
        let c = Config::parse_str(text, "phoneboot.toml").unwrap();
        assert_eq!(c.interface.as_deref(), Some("eth0"));
        assert_eq!(c.desired.site.sip_server, "192.168.1.10");
        assert_eq!(c.desired.phones.len(), 2);
        assert_eq!(c.default_protocol, cisco::Protocol::Sip);
        assert_eq!(
            c.dhcp.tftp_servers,
            vec![Ipv4Addr::new(192, 168, 1, 1), Ipv4Addr::new(192, 168, 1, 2)]
        );
        assert_eq!(
            c.dhcp.pool,
            vec![(
                Ipv4Addr::new(192, 168, 1, 100),
                Ipv4Addr::new(192, 168, 1, 250)
            )]
        );
        assert_eq!(c.dhcp.reservations.len(), 1);
        assert_eq!(c.dhcp.lease_time, Duration::from_secs(3600));
    }

    #[test]
    fn relay_subnets_and_model_options() {
        let c = Config::parse_str(
            "[dhcp]\ndns = [\"10.0.0.53\"]\n\
             [[dhcp.relay_subnet]]\nsubnet = \"10.20.0.0/24\"\npool = [\"10.20.0.10-10.20.0.99\"]\nrouter = \"10.20.0.1\"\n\
             [[dhcp.model_option]]\nmodel = \"CP-7960G\"\ncode = 150\ntype = \"ips\"\nvalue = [\"10.0.0.7\"]\n",
            "t.toml",
        )
        .unwrap();
        let r = &c.dhcp.relay_subnets[0];
        assert_eq!(r.network, (Ipv4Addr::new(10, 20, 0, 0), 24));
        assert_eq!(r.routers, vec![Ipv4Addr::new(10, 20, 0, 1)]);
        assert_eq!(r.dns, None, "inherits [dhcp].dns when serving");
        assert_eq!(
            c.dhcp.model_options[0].0, "7960",
            "model names are normalised"
        );
        let err = Config::parse_str(
            "[[dhcp.model_option]]\nmodel = \"7999\"\ncode = 150\ntype = \"ips\"\nvalue = \"10.0.0.7\"\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("t.toml: dhcp.model_option.model: \"7999\" is not a known phone model"),
            "{err}"
        );
    }

    #[test]
    fn dhcp_errors_name_the_key() {
        let cases = [
            (
                "[dhcp]\npool = [\"10.0.0.9-10.0.0.1\"]\n",
                "t.toml: dhcp.pool: range",
            ),
            (
                "[dhcp]\nrouter = \"gateway\"\n",
                "t.toml: dhcp.router: \"gateway\" is not an IPv4 address",
            ),
            (
                "[[dhcp.reservation]]\nmac = \"zz\"\nip = \"10.0.0.1\"\n",
                "t.toml: dhcp.reservation.mac:",
            ),
            (
                "[[dhcp.option]]\ncode = 42\ntype = \"float\"\nvalue = 1\n",
                "t.toml: dhcp.option: code 42: type \"float\"",
            ),
            ("[dhcp]\nlease_time = \"1s\"\n", "t.toml: dhcp.lease_time:"),
            (
                "[defaults]\nprotocol = \"h323\"\n",
                "t.toml: [defaults]: protocol: \"h323\" is not \"sip\" or \"sccp\"",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse_str(text, "t.toml").unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: got {err}");
        }
        let c = Config::parse_str(
            "[[dhcp.option]]\ncode = 160\ntype = \"ips\"\nvalue = [\"10.0.0.1\", \"10.0.0.2\"]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.dhcp.options.len(), 1);
    }

    #[test]
    fn default_protocol_is_sip_unless_configured() {
        assert_eq!(
            Config::parse_str("", "t.toml").unwrap().default_protocol,
            cisco::Protocol::Sip
        );
        let c = Config::parse_str("[defaults]\nprotocol = \"SCCP\"\n", "t.toml").unwrap();
        assert_eq!(c.default_protocol, cisco::Protocol::Sccp);
    }

    #[test]
    fn sntp_and_syslog_follow_the_interface_unless_configured() {
        let c = Config::parse_str("", "t.toml").unwrap();
        assert!(!c.sntp_enabled() && !c.syslog_enabled());
        assert_eq!(c.phone_ntp_server(None), None);
        let c = Config::parse_str("[server]\ninterface = \"eth1\"\n", "t.toml").unwrap();
        assert!(c.sntp_enabled() && c.syslog_enabled());
        let ip = Some(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c.phone_ntp_server(ip).as_deref(), Some("10.0.0.1"));
        assert_eq!(c.phone_syslog_server(ip).as_deref(), Some("10.0.0.1"));
        assert!(!c.time.host_is_reference);
        let c = Config::parse_str(
            "[server]\ninterface = \"eth1\"\n[time]\nsntp = false\n[syslog]\nenabled = false\n",
            "t.toml",
        )
        .unwrap();
        assert!(!c.sntp_enabled() && !c.syslog_enabled());
        assert_eq!(c.phone_ntp_server(ip), None);
        let c = Config::parse_str(
            "[time]\nntp = \"10.9.9.9\"\nhost_is_reference = true\n[syslog]\nlisten = \"127.0.0.1:5514\"\nenabled = true\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.phone_ntp_server(ip).as_deref(), Some("10.9.9.9"));
        assert!(c.time.host_is_reference && c.syslog_enabled());
        assert_eq!(c.syslog.listen.port(), 5514);
        assert_eq!(c.phone_syslog_server(ip), None, "phones only know port 514");
        let err = Config::parse_str("[syslog]\nlisten = \"514\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml: syslog.listen: \"514\""), "{err}");
    }

    #[test]
    fn http_section_flags_and_the_token_stay_hidden() {
        let c = Config::defaults();
        assert_eq!(c.http.listen.to_string(), DEFAULT_HTTP_LISTEN);
        assert_eq!(
            c.http.phone_listen.map(|a| a.to_string()).as_deref(),
            Some(DEFAULT_PHONE_HTTP_LISTEN)
        );
        let c = Config::parse_str(
            "[http]\nlisten = \"0.0.0.0:8080\"\nphone_listen = \"OFF\"\ntoken = \"s3cret-token\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.http.listen.port(), 8080);
        assert_eq!(c.http.phone_listen, None);
        assert_eq!(c.http.token.as_deref(), Some("s3cret-token"));
        assert!(!format!("{c:?}").contains("s3cret-token"));
        let err = Config::parse_str("[http]\nphone_listen = \"6970\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("http.phone_listen") && err.contains("\"off\""),
            "{err}"
        );
        let args = ServeArgs {
            phone_http_listen: Some("127.0.0.1:0".into()),
            http_token: Some(String::new()),
            ..Default::default()
        };
        let c = Config::for_serve(&args).unwrap();
        assert_eq!(c.http.phone_listen.map(|a| a.port()), Some(0));
        assert_eq!(c.http.token, None, "an empty token is no token");
    }
}
