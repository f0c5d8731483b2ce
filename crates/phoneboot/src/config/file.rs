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
    pub sip: Option<crate::provision::desired::file::Sip>,
    pub time: Option<Time>,
    pub defaults: Option<crate::provision::desired::file::Layer>,
    pub models: Option<crate::provision::desired::file::Layers>,
    pub families: Option<crate::provision::desired::file::Layers>,
    pub groups: Option<crate::provision::desired::file::Layers>,
    pub phone: Option<Vec<crate::provision::desired::file::Phone>>,
    pub provision: Option<crate::provision::desired::file::Provision>,
    pub syslog: Option<Syslog>,
    pub sccp: Option<Sccp>,
    pub store: Option<Store>,
    pub ha: Option<Ha>,
}

/// `[ha]`: servers sharing a PostgreSQL store.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ha {
    /// A peer silent this long loses its share of the clients.
    pub takeover_after: Option<String>,
    /// This server's name among its peers (default: host name and address).
    pub name: Option<String>,
}

/// `[store]`: where leases live.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// `postgresql://user:password@host:port/db`; unset: SQLite in the data dir.
    pub url: Option<String>,
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
    /// File contents kept in memory between transfers: bytes, or text
    /// such as "64MiB".
    pub cache_bytes: Option<ByteSize>,
    /// Threads that run transfers.
    pub threads: Option<u64>,
    pub initial_timeout: Option<String>,
    pub min_timeout: Option<String>,
    pub max_timeout: Option<String>,
    pub retries: Option<u32>,
}

/// A size as written: a number of bytes, or text with a unit.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ByteSize {
    Bytes(u64),
    Text(String),
}

/// `[sccp]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sccp {
    /// On by default with `server.interface`.
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    /// Networks whose phones may register without a lease from phoneboot
    /// (static addresses, another DHCP server): `["10.1.0.0/16"]`.
    pub allow: Option<Vec<String>>,
    pub max_sessions: Option<usize>,
    pub max_per_address: Option<usize>,
    /// KeepAlive interval told to phones.
    pub keepalive: Option<String>,
}
