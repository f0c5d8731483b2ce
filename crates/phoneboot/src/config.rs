//! The config file, read in two layers: `file::*` mirrors the TOML exactly
//! (unknown keys are errors), and [`Config`] is the validated result that the
//! drivers use. Every error names the file and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::ServeArgs;

/// Where state lives when nothing says otherwise: beside the working
/// directory, so `phoneboot serve` works as any user on a fresh machine.
pub const DEFAULT_DATA_DIR: &str = "phoneboot-data";
pub const DEFAULT_ROOT: &str = "tftpboot";
pub const DEFAULT_TFTP_LISTEN: &str = "0.0.0.0:69";

/// Sections of the example config that later work reads. They are accepted
/// now so one config file serves every version, and reported as unused.
const FUTURE_SECTIONS: &[&str] = &[
    "dhcp", "sip", "time", "defaults", "models", "families", "phone",
];

pub mod file {
    //! The TOML as written. Nothing is derived here.
    use serde::Deserialize;
    use std::path::PathBuf;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Config {
        pub server: Option<Server>,
        pub tftp: Option<Tftp>,
        pub dhcp: Option<toml::Value>,
        pub sip: Option<toml::Value>,
        pub time: Option<toml::Value>,
        pub defaults: Option<toml::Value>,
        pub models: Option<toml::Value>,
        pub families: Option<toml::Value>,
        pub phone: Option<toml::Value>,
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
    /// Sections present in the file that this version does not act on yet.
    pub unused_sections: Vec<&'static str>,
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
        let mut unused_sections = Vec::new();
        for (name, present) in FUTURE_SECTIONS.iter().zip([
            raw.dhcp.is_some(),
            raw.sip.is_some(),
            raw.time.is_some(),
            raw.defaults.is_some(),
            raw.models.is_some(),
            raw.families.is_some(),
            raw.phone.is_some(),
        ]) {
            if present {
                unused_sections.push(*name);
            }
        }
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
            unused_sections,
        })
    }
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
    fn the_shared_example_parses_and_reports_future_sections() {
        let text = include_str!("../../../examples/phoneboot.toml");
        let c = Config::parse_str(text, "phoneboot.toml").unwrap();
        assert_eq!(c.interface.as_deref(), Some("eth0"));
        assert!(c.unused_sections.contains(&"sip"));
    }
}
