//! The config file, read in two layers: `file::*` mirrors the TOML exactly
//! (unknown keys are errors), and [`Config`] is the validated result that the
//! drivers use. Every error names the file and the key.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::ServeArgs;

mod dhcp;
pub mod file;
mod http;
pub mod sccp;

use self::dhcp::dhcp_settings;
pub use self::dhcp::{dhcp_core, DhcpSettings, RelaySubnet};
pub use http::{parse_phone_listen, HttpConfig};
pub use sccp::{NotifyConfig, SccpConfig};

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
    pub desired: crate::provision::desired::DesiredState,
    /// The desired state as written, for validating run-time edits.
    pub desired_sections: crate::provision::desired::Sections,
    pub time: TimeConfig,
    pub syslog: SyslogConfig,
    pub sccp: SccpConfig,
    pub notify: NotifyConfig,
    pub store: StoreLocation,
    pub ha: HaConfig,
}

/// `[ha]`: how servers sharing a PostgreSQL store split the clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// A peer whose heartbeat is older than this loses its share.
    pub takeover_after: Duration,
    /// This server's name among its peers; `None`: host name and address.
    pub name: Option<String>,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            takeover_after: Duration::from_secs(10),
            name: None,
        }
    }
}

/// Where leases live.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum StoreLocation {
    /// `<data_dir>/leases.sqlite`, one server.
    #[default]
    Sqlite,
    /// A PostgreSQL URL (with its password: never print it, use
    /// [`StoreLocation::describe`]).
    Postgres(String),
}

impl StoreLocation {
    /// A `--store`/`[store] url` value, checked.
    pub fn parse(url: &str) -> Result<StoreLocation, String> {
        if url.is_empty() {
            return Ok(StoreLocation::Sqlite);
        }
        if store::is_postgres_url(url) {
            return Ok(StoreLocation::Postgres(url.to_owned()));
        }
        Err(format!(
            "{:?} is not a PostgreSQL URL: write postgresql://user:password@host:5432/database, \
             or leave it unset for the SQLite file in the data directory",
            store::redact(url)
        ))
    }

    /// For people: the URL without its password, or the SQLite path.
    pub fn describe(&self, data_dir: &Path) -> String {
        match self {
            StoreLocation::Sqlite => crate::net::dhcp::leases::db_path(data_dir)
                .display()
                .to_string(),
            StoreLocation::Postgres(url) => store::redact(url),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite => f.write_str("Sqlite"),
            StoreLocation::Postgres(url) => write!(f, "Postgres({})", store::redact(url)),
        }
    }
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

    /// The SCCP listener runs when asked for, or by default when serving an
    /// interface.
    pub fn sccp_enabled(&self) -> bool {
        self.sccp.enabled.unwrap_or(self.interface.is_some())
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

#[derive(Debug, Clone)]
pub struct TftpConfig {
    pub listen: SocketAddr,
    pub policy: tftp::Policy,
    pub limits: tftp::Limits,
    /// Bytes of file contents the shared cache keeps between transfers
    /// (TFTP and phone HTTP); `None` is the cache's own default.
    pub cache_bytes: Option<u64>,
    /// Threads that run transfers, each with its own event loop.
    pub threads: usize,
}

/// One transfer thread: lock-step phones are bound by round trips, not CPU,
/// and one loop batches the most readiness events per `epoll_wait` (issue
/// 16: 1 thread spent 4.5 CPU s/GB at 200 clients, 2 threads 5.4).
pub const DEFAULT_TFTP_THREADS: usize = 1;

/// "64MiB", "512 KiB", "1GiB", "1000000" or "1000000B": a size in bytes.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(scale)
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
        error: crate::provision::desired::DesiredError,
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
        if let Some(r) = &args.common.root {
            cfg.root = r.clone();
        }
        cfg.apply_store_flag(&args.common)?;
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
        if let Some(text) = &args.sccp_listen {
            if text.eq_ignore_ascii_case("off") {
                cfg.sccp.enabled = Some(false);
            } else {
                cfg.sccp.enabled = Some(true);
                cfg.sccp.listen = text.parse().map_err(|_| ConfigError::Invalid {
                    path: "command line".into(),
                    key: "--sccp-listen",
                    problem: format!("{text:?} is not an address:port or \"off\""),
                })?;
            }
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

    /// `--store` / `PHONEBOOT_STORE` over the file's `[store] url`.
    pub fn apply_store_flag(&mut self, common: &crate::cli::Common) -> Result<(), ConfigError> {
        if let Some(url) = &common.store {
            self.store = StoreLocation::parse(url).map_err(|problem| ConfigError::Invalid {
                path: "command line".into(),
                key: "--store",
                problem,
            })?;
        }
        Ok(())
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
        let cache_bytes = match &t.cache_bytes {
            None => None,
            Some(file::ByteSize::Bytes(n)) => Some(*n),
            Some(file::ByteSize::Text(text)) => Some(parse_size(text).ok_or_else(|| {
                invalid(
                    "tftp.cache_bytes",
                    format!(
                        "{text:?} is not a size: write a number of bytes (67108864) or a number \
                         with KiB, MiB or GiB (\"64MiB\"); 0 keeps nothing between transfers"
                    ),
                )
            })?),
        };
        let threads = match t.threads {
            None => DEFAULT_TFTP_THREADS,
            Some(n @ 1..=64) => n as usize,
            Some(n) => {
                return Err(invalid(
                    "tftp.threads",
                    format!("{n} is outside 1..=64; one thread per core is the most that helps"),
                ))
            }
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
        let sccp = sccp::sccp_config(raw.sccp, &invalid)?;
        let notify = sccp::notify_config(raw.sip.as_ref(), &invalid)?;
        let desired_sections = crate::provision::desired::Sections {
            sip: raw.sip,
            time: raw
                .time
                .as_ref()
                .map(|t| crate::provision::desired::file::Time {
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
        let desired =
            crate::provision::desired::DesiredState::from_sections(desired_sections.clone())
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
                cache_bytes,
                threads,
            },
            dhcp,
            http,
            default_protocol,
            desired,
            desired_sections,
            time,
            syslog,
            sccp,
            notify,
            ha: match raw.ha {
                None => HaConfig::default(),
                Some(h) => HaConfig {
                    takeover_after: match h.takeover_after {
                        None => HaConfig::default().takeover_after,
                        Some(t) => {
                            let d = humantime::parse_duration(&t).map_err(|e| {
                                invalid(
                                    "ha.takeover_after",
                                    format!("{t:?} is not a duration like \"10s\": {e}"),
                                )
                            })?;
                            if d < Duration::from_secs(2) {
                                return Err(invalid(
                                    "ha.takeover_after",
                                    format!("{t:?} is shorter than two heartbeats (1 s each); use 2s or more"),
                                ));
                            }
                            d
                        }
                    },
                    name: h.name.filter(|n| !n.is_empty()),
                },
            },
            store: match raw.store.and_then(|s| s.url) {
                Some(url) => StoreLocation::parse(&url).map_err(|p| invalid("store.url", p))?,
                None => StoreLocation::Sqlite,
            },
        })
    }
}

#[cfg(test)]
mod tests;
