//! Validated, typed server configuration.
//!
//! The binary reads its file into plain input structs ([`SubnetConfig`],
//! [`OptionSpec`], [`Limits`]) and turns them into a [`Subnet`] and a
//! [`ServerConfig`] here. Everything a packet later relies on (pool inside the
//! subnet, reservations unique, option values of the right shape) is checked
//! once, before the server starts, so `decide` never meets a bad config.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use dhcproto::v4::DhcpOption;

use crate::wire;

/// An Ethernet hardware address (the only `htype` phones use).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a configuration was refused. Every message names the bad value and
/// says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("bad subnet {0:?} (write it as network/prefix, e.g. 192.168.1.0/24)")]
    BadCidr(String),
    #[error("subnet {network}/{prefix_len}: prefix must be between /1 and /30 (a /31 or /32 leaves no addresses to lease)")]
    BadPrefix { network: Ipv4Addr, prefix_len: u8 },
    #[error(
        "subnet {network}/{prefix_len} has host bits set (did you mean {expected}/{prefix_len}?)"
    )]
    HostBitsSet {
        network: Ipv4Addr,
        prefix_len: u8,
        expected: Ipv4Addr,
    },
    #[error("{what} {ip} is outside subnet {subnet} (use an address inside the subnet, or put it in the subnet it belongs to)")]
    OutsideSubnet {
        what: &'static str,
        ip: Ipv4Addr,
        subnet: String,
    },
    #[error("pool range {start}-{end} in subnet {subnet} runs backwards (write the lower address first)")]
    BackwardsRange {
        start: Ipv4Addr,
        end: Ipv4Addr,
        subnet: String,
    },
    #[error("subnet {subnet} has no address left to lease after exclusions (widen the pool or remove exclusions)")]
    EmptyPool { subnet: String },
    #[error("reservation for {mac} appears twice in subnet {subnet} (keep one)")]
    DuplicateReservationMac { mac: Mac, subnet: String },
    #[error(
        "address {ip} is reserved for both {first} and {second} (give each MAC its own address)"
    )]
    DuplicateReservationIp {
        ip: Ipv4Addr,
        first: Mac,
        second: Mac,
    },
    #[error("reservation {ip} for {mac} is the network, broadcast or server address of subnet {subnet} (pick a host address)")]
    UnusableReservation {
        ip: Ipv4Addr,
        mac: Mac,
        subnet: String,
    },
    #[error("lease time {0:?} is out of range (use between 1 second and 136 years, e.g. 1 day)")]
    BadLeaseTime(Duration),
    #[error("option {code} cannot be configured: {why}")]
    ReservedOption { code: u8, why: &'static str },
    #[error("option {code} expects {expected}, got {got} (change the value's type)")]
    OptionType {
        code: u8,
        expected: &'static str,
        got: &'static str,
    },
    #[error("option {code} has an empty value (give at least one byte, address or character)")]
    EmptyOption { code: u8 },
    #[error("option {code} is given twice in the same list (keep one)")]
    DuplicateOption { code: u8 },
    #[error("option 66 value {0:?} is not a dotted IPv4 address (phones do not resolve names there; write e.g. 192.168.1.1)")]
    Option66NotIp(String),
    #[error(
        "option 150 lists {0} TFTP servers (at most 16 fit; keep the ones phones should try first)"
    )]
    TooManyTftpServers(usize),
    #[error("hex value {0:?} is not valid (write pairs of hex digits, e.g. c0a80101)")]
    BadHex(String),
    #[error("subnets {first} and {second} overlap (each address may belong to one subnet only)")]
    OverlappingSubnets { first: String, second: String },
    #[error("no subnet configured (add at least one subnet to serve)")]
    NoSubnets,
    #[error("limit {name} must be greater than zero")]
    ZeroLimit { name: &'static str },
    #[error("limit max_offer_share_percent is {0} (use 1 to 100)")]
    BadSharePercent(u8),
}

/// A typed option value, as the operator writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// One or more IPv4 addresses, in order (3, 6, 42, 150, …).
    Ips(Vec<Ipv4Addr>),
    /// Text, sent without a trailing NUL (RFC 2132 §2).
    Text(String),
    U8(u8),
    U16(u16),
    U32(u32),
    /// Raw bytes (parse them from hex with [`OptionValue::from_hex`]).
    Bytes(Vec<u8>),
}

impl OptionValue {
    /// Parses `c0a80101`, `c0:a8:01:01` or `0xc0a80101` into [`OptionValue::Bytes`].
    pub fn from_hex(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BadHex(s.to_string());
        let t = s.trim();
        let t = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        let nibbles: Vec<u8> = t
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        if !nibbles.len().is_multiple_of(2) {
            return Err(bad());
        }
        Ok(OptionValue::Bytes(
            nibbles
                .chunks_exact(2)
                .map(|p| match p {
                    [hi, lo] => (hi << 4) | lo,
                    _ => 0,
                })
                .collect(),
        ))
    }

    fn kind(&self) -> &'static str {
        match self {
            OptionValue::Ips(_) => "an IP list",
            OptionValue::Text(_) => "a string",
            OptionValue::U8(_) => "a u8",
            OptionValue::U16(_) => "a u16",
            OptionValue::U32(_) => "a u32",
            OptionValue::Bytes(_) => "hex bytes",
        }
    }

    /// No byte, address or character: nothing to send.
    fn is_empty(&self) -> bool {
        match self {
            OptionValue::Ips(ips) => ips.is_empty(),
            OptionValue::Text(s) => s.is_empty(),
            OptionValue::Bytes(b) => b.is_empty(),
            OptionValue::U8(_) | OptionValue::U16(_) | OptionValue::U32(_) => false,
        }
    }
}

/// One option as configured: code and typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSpec {
    pub code: u8,
    pub value: OptionValue,
}

impl OptionSpec {
    pub fn new(code: u8, value: OptionValue) -> Self {
        OptionSpec { code, value }
    }
}

/// Codes the server owns: derived from the protocol exchange or the subnet,
/// never set by hand.
fn reserved_reason(code: u8) -> Option<&'static str> {
    Some(match code {
        0 | 255 => "it is pad/end, not an option",
        1 => "the subnet mask comes from the subnet's prefix",
        50 | 55 | 57 | 61 | 60 => "it is sent by clients, not servers",
        51 | 58 | 59 => "lease times come from the subnet's lease_time",
        52 => "option overload is not used by this server",
        53 | 54 => "the message type and server identifier are set per message",
        82 => "relay agent information is echoed from the relay, never configured",
        _ => return None,
    })
}

/// Options whose value must be an address list (RFC 2132 / RFC 5859).
const IP_LIST_CODES: &[u8] = &[3, 4, 5, 6, 7, 8, 9, 10, 11, 41, 42, 44, 45, 48, 49, 65, 150];
/// Options whose value must be text.
const TEXT_CODES: &[u8] = &[12, 14, 15, 17, 18, 40, 47, 64, 66, 67];

/// A validated set of options. The values are prepared once by the wire
/// layer (`wire::options::prepare`), so `decide` only clones them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionSet {
    pub(crate) opts: BTreeMap<u8, DhcpOption>,
    /// First address of option 150 when the set carries one: option 66
    /// follows it unless 66 is given too.
    pub(crate) tftp_first: Option<Ipv4Addr>,
}

impl OptionSet {
    /// Validates a list of options: no protocol-owned codes, no duplicates,
    /// value types that match the well-known codes, 66 a dotted address.
    pub fn new(specs: Vec<OptionSpec>) -> Result<Self, ConfigError> {
        let mut set = OptionSet::default();
        for spec in specs {
            set.insert(spec)?;
        }
        Ok(set)
    }

    fn insert(&mut self, spec: OptionSpec) -> Result<(), ConfigError> {
        let OptionSpec { code, value } = spec;
        if let Some(why) = reserved_reason(code) {
            return Err(ConfigError::ReservedOption { code, why });
        }
        if self.opts.contains_key(&code) {
            return Err(ConfigError::DuplicateOption { code });
        }
        let type_err = |expected| ConfigError::OptionType {
            code,
            expected,
            got: value.kind(),
        };
        if IP_LIST_CODES.contains(&code) && !matches!(value, OptionValue::Ips(_)) {
            return Err(type_err("an IP list"));
        }
        if TEXT_CODES.contains(&code) && !matches!(value, OptionValue::Text(_)) {
            return Err(type_err("a string"));
        }
        match &value {
            OptionValue::Ips(ips) if code == 150 && ips.len() > 16 => {
                return Err(ConfigError::TooManyTftpServers(ips.len()));
            }
            OptionValue::Ips(ips) if code == 150 => self.tftp_first = ips.first().copied(),
            OptionValue::Text(s) if code == 66 && s.parse::<Ipv4Addr>().is_err() => {
                return Err(ConfigError::Option66NotIp(s.clone()));
            }
            _ => {}
        }
        if value.is_empty() {
            return Err(ConfigError::EmptyOption { code });
        }
        self.opts.insert(code, wire::options::prepare(code, &value));
        Ok(())
    }

    /// Codes in this set, ascending.
    pub fn codes(&self) -> Vec<u8> {
        self.opts.keys().copied().collect()
    }
}

/// Parses `192.168.1.0/24` into (network, prefix length).
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), ConfigError> {
    let bad = || ConfigError::BadCidr(s.to_string());
    let (net, len) = s.trim().split_once('/').ok_or_else(bad)?;
    let net: Ipv4Addr = net.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    Ok((net, len))
}

/// A reservation: this MAC always gets this address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub mac: Mac,
    pub ip: Ipv4Addr,
}

/// One subnet as the operator describes it; turn it into a [`Subnet`] with
/// `Subnet::try_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetConfig {
    pub network: Ipv4Addr,
    pub prefix_len: u8,
    /// The server's own address on this subnet (for a directly attached
    /// interface). Excluded from the pool; `None` for relayed subnets.
    pub server_addr: Option<Ipv4Addr>,
    /// Inclusive ranges. Empty means every host address of the subnet.
    pub pool: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Inclusive ranges never leased (a single address is `(a, a)`).
    pub exclude: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Option 3, in order.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6, in order.
    pub dns: Vec<Ipv4Addr>,
    /// Option 15.
    pub domain: Option<String>,
    /// Option 42, in order.
    pub ntp: Vec<Ipv4Addr>,
    /// Option 150, in priority order. Empty means "the server's address on
    /// the interface the request came in on".
    pub tftp_servers: Vec<Ipv4Addr>,
    /// Option 51; T1 (58) and T2 (59) are 1/2 and 7/8 of it (RFC 2131 §4.4.5).
    pub lease_time: Duration,
    pub reservations: Vec<Reservation>,
    /// Any other options by code.
    pub options: Vec<OptionSpec>,
}

impl SubnetConfig {
    /// A subnet with a one-day lease and nothing else set.
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Self {
        SubnetConfig {
            network,
            prefix_len,
            server_addr: None,
            pool: Vec::new(),
            exclude: Vec::new(),
            routers: Vec::new(),
            dns: Vec::new(),
            domain: None,
            ntp: Vec::new(),
            tftp_servers: Vec::new(),
            lease_time: Duration::from_secs(86_400),
            reservations: Vec::new(),
            options: Vec::new(),
        }
    }
}

/// A validated subnet: a pool of disjoint ranges, reservations both ways,
/// and its options ready to clone into replies.
#[derive(Debug, Clone)]
pub struct Subnet {
    pub(crate) network: u32,
    pub(crate) mask: u32,
    pub(crate) prefix_len: u8,
    pub(crate) server_addr: Option<Ipv4Addr>,
    /// Disjoint, sorted, inclusive ranges after exclusions.
    pub(crate) ranges: Vec<(u32, u32)>,
    pub(crate) pool_size: u64,
    pub(crate) lease_secs: u32,
    pub(crate) by_mac: HashMap<Mac, Ipv4Addr>,
    pub(crate) by_ip: HashMap<Ipv4Addr, Mac>,
    pub(crate) options: OptionSet,
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix_len)
    }
}

impl Subnet {
    /// True when `ip` belongs to this subnet (network and broadcast included).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask == self.network
    }

    /// The subnet's network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Number of leasable addresses in the pool (reservations outside the
    /// pool not counted).
    pub fn pool_size(&self) -> u64 {
        self.pool_size
    }

    /// Option 1's value.
    pub(crate) fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask)
    }

    pub(crate) fn lease_time(&self) -> Duration {
        Duration::from_secs(u64::from(self.lease_secs))
    }
}

/// Removes `(ea, eb)` from every range in `ranges`.
fn subtract(ranges: Vec<(u32, u32)>, ea: u32, eb: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(ranges.len().saturating_add(1));
    for (a, b) in ranges {
        if eb < a || ea > b {
            out.push((a, b));
            continue;
        }
        if ea > a {
            out.push((a, ea - 1));
        }
        if eb < b {
            out.push((eb + 1, b));
        }
    }
    out
}

impl TryFrom<SubnetConfig> for Subnet {
    type Error = ConfigError;

    fn try_from(c: SubnetConfig) -> Result<Self, ConfigError> {
        if c.prefix_len == 0 || c.prefix_len > 30 {
            return Err(ConfigError::BadPrefix {
                network: c.network,
                prefix_len: c.prefix_len,
            });
        }
        let mask = u32::MAX << (32 - u32::from(c.prefix_len));
        let net = u32::from(c.network);
        if net & mask != net {
            return Err(ConfigError::HostBitsSet {
                network: c.network,
                prefix_len: c.prefix_len,
                expected: Ipv4Addr::from(net & mask),
            });
        }
        let name = format!("{}/{}", c.network, c.prefix_len);
        let bcast = net | !mask;
        let inside = |what: &'static str, ip: Ipv4Addr| {
            if u32::from(ip) & mask == net {
                Ok(())
            } else {
                Err(ConfigError::OutsideSubnet {
                    what,
                    ip,
                    subnet: name.clone(),
                })
            }
        };
        if let Some(s) = c.server_addr {
            inside("server address", s)?;
        }
        for r in &c.routers {
            inside("router", *r)?;
        }
        let mut ranges = Vec::new();
        if c.pool.is_empty() {
            ranges.push((net + 1, bcast - 1));
        }
        for &(a, b) in &c.pool {
            inside("pool start", a)?;
            inside("pool end", b)?;
            if u32::from(a) > u32::from(b) {
                return Err(ConfigError::BackwardsRange {
                    start: a,
                    end: b,
                    subnet: name,
                });
            }
            // Merge by subtracting first, so overlapping ranges count once.
            ranges = subtract(ranges, u32::from(a), u32::from(b));
            ranges.push((u32::from(a), u32::from(b)));
        }
        // The network and broadcast addresses and the server's own address
        // are never leased, whatever the ranges say.
        ranges = subtract(ranges, net, net);
        ranges = subtract(ranges, bcast, bcast);
        if let Some(s) = c.server_addr {
            ranges = subtract(ranges, u32::from(s), u32::from(s));
        }
        for &(a, b) in &c.exclude {
            inside("exclusion start", a)?;
            inside("exclusion end", b)?;
            if u32::from(a) > u32::from(b) {
                return Err(ConfigError::BackwardsRange {
                    start: a,
                    end: b,
                    subnet: name,
                });
            }
            ranges = subtract(ranges, u32::from(a), u32::from(b));
        }
        ranges.sort_unstable();
        let pool_size: u64 = ranges.iter().map(|&(a, b)| u64::from(b - a) + 1).sum();

        let mut by_mac = HashMap::new();
        let mut by_ip: HashMap<Ipv4Addr, Mac> = HashMap::new();
        for r in &c.reservations {
            inside("reservation", r.ip)?;
            let v = u32::from(r.ip);
            if v == net || v == bcast || Some(r.ip) == c.server_addr {
                return Err(ConfigError::UnusableReservation {
                    ip: r.ip,
                    mac: r.mac,
                    subnet: name,
                });
            }
            if by_mac.insert(r.mac, r.ip).is_some() {
                return Err(ConfigError::DuplicateReservationMac {
                    mac: r.mac,
                    subnet: name,
                });
            }
            if let Some(first) = by_ip.insert(r.ip, r.mac) {
                return Err(ConfigError::DuplicateReservationIp {
                    ip: r.ip,
                    first,
                    second: r.mac,
                });
            }
        }
        if pool_size == 0 && by_mac.is_empty() {
            return Err(ConfigError::EmptyPool { subnet: name });
        }

        let secs = c.lease_time.as_secs();
        let lease_secs = u32::try_from(secs)
            .ok()
            .filter(|s| *s > 0 && *s < u32::MAX)
            .ok_or(ConfigError::BadLeaseTime(c.lease_time))?;

        // Typed fields become options; the generic list may not repeat them.
        let mut specs = Vec::new();
        if !c.routers.is_empty() {
            specs.push(OptionSpec::new(3, OptionValue::Ips(c.routers.clone())));
        }
        if !c.dns.is_empty() {
            specs.push(OptionSpec::new(6, OptionValue::Ips(c.dns.clone())));
        }
        if let Some(d) = &c.domain {
            specs.push(OptionSpec::new(15, OptionValue::Text(d.clone())));
        }
        if !c.ntp.is_empty() {
            specs.push(OptionSpec::new(42, OptionValue::Ips(c.ntp.clone())));
        }
        if !c.tftp_servers.is_empty() {
            specs.push(OptionSpec::new(
                150,
                OptionValue::Ips(c.tftp_servers.clone()),
            ));
        }
        specs.extend(c.options.iter().cloned());
        // Option 1 is not here: the reply takes it from the prefix.
        let options = OptionSet::new(specs)?;

        Ok(Subnet {
            network: net,
            mask,
            prefix_len: c.prefix_len,
            server_addr: c.server_addr,
            ranges,
            pool_size,
            lease_secs,
            by_mac,
            by_ip,
            options,
        })
    }
}

/// Maps option 60 (vendor class identifier) bytes to a model name such as
/// `"7960"`, the key of [`ServerConfig::with_model_options`]. Injected, so
/// the phone catalog stays in one place (the binary passes the Cisco
/// crate's) and this crate knows no vendor.
pub type Classifier = Arc<dyn Fn(&[u8]) -> Option<String> + Send + Sync>;

/// Protection limits: plain data with defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long an offered address stays held for the client that was
    /// offered it (RFC 2131 §4.3.1 leaves this to the server).
    pub offer_hold: Duration,
    /// How long an address declined by a client (DHCPDECLINE) or found in
    /// use by the conflict probe stays out of the pool.
    pub quarantine: Duration,
    /// Token bucket per client MAC: burst size.
    pub rate_burst: u32,
    /// Token bucket per client MAC: messages per minute refilled.
    pub rate_per_minute: u32,
    /// Outstanding offers across all subnets.
    pub max_offers: usize,
    /// Outstanding offers in one subnet, as a share of its pool, so a flood
    /// of fake MACs can hold at most this part of it until offers expire.
    pub max_offer_share_percent: u8,
    /// Clients tracked by the rate limiter; beyond this, idle entries are
    /// dropped and, if none is idle, unknown MACs are refused.
    pub max_tracked_clients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Clients retransmit DISCOVER after about 4 s; holding an
            // offer much longer only lets lost replies pile up against
            // `max_offers` (measured: the cap refused every new client after
            // a burst of lost OFFERs under 10 000 DORA/s).
            offer_hold: Duration::from_secs(10),
            quarantine: Duration::from_secs(600),
            rate_burst: 20,
            rate_per_minute: 60,
            max_offers: 4096,
            max_offer_share_percent: 50,
            max_tracked_clients: 65_536,
        }
    }
}

/// Everything `Server` needs, validated.
#[derive(Clone)]
pub struct ServerConfig {
    pub(crate) subnets: Vec<Subnet>,
    pub(crate) limits: Limits,
    pub(crate) classifier: Classifier,
    pub(crate) model_options: HashMap<String, OptionSet>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("subnets", &self.subnets)
            .field("limits", &self.limits)
            .field("model_options", &self.model_options)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Checks that the subnets don't overlap; uses default limits and a
    /// classifier that names no model (see [`ServerConfig::with_classifier`]).
    pub fn new(subnets: Vec<Subnet>) -> Result<Self, ConfigError> {
        if subnets.is_empty() {
            return Err(ConfigError::NoSubnets);
        }
        for (i, a) in subnets.iter().enumerate() {
            for b in subnets.iter().skip(i.saturating_add(1)) {
                if a.contains(b.network()) || b.contains(a.network()) {
                    return Err(ConfigError::OverlappingSubnets {
                        first: a.to_string(),
                        second: b.to_string(),
                    });
                }
            }
        }
        // The same MAC reserved in two subnets is allowed (a phone may move
        // between them); only duplicates inside one subnet are refused.
        Ok(ServerConfig {
            subnets,
            limits: Limits::default(),
            classifier: Arc::new(|_: &[u8]| None),
            model_options: HashMap::new(),
        })
    }

    /// Replaces the protection limits after checking them.
    pub fn with_limits(mut self, limits: Limits) -> Result<Self, ConfigError> {
        for (name, zero) in [
            ("rate_burst", limits.rate_burst == 0),
            ("rate_per_minute", limits.rate_per_minute == 0),
            ("max_offers", limits.max_offers == 0),
            ("max_tracked_clients", limits.max_tracked_clients == 0),
            ("offer_hold", limits.offer_hold.is_zero()),
        ] {
            if zero {
                return Err(ConfigError::ZeroLimit { name });
            }
        }
        if limits.max_offer_share_percent == 0 || limits.max_offer_share_percent > 100 {
            return Err(ConfigError::BadSharePercent(limits.max_offer_share_percent));
        }
        self.limits = limits;
        Ok(self)
    }

    /// Sets the option 60 classifier (e.g. the Cisco catalog's). Without
    /// one, per-model options never apply.
    pub fn with_classifier(mut self, classifier: Classifier) -> Self {
        self.classifier = classifier;
        self
    }

    /// Options that replace the subnet's for clients the classifier names
    /// `model` (matched exactly). Option 150 here also moves option 66
    /// unless 66 is given too.
    pub fn with_model_options(
        mut self,
        model: impl Into<String>,
        options: Vec<OptionSpec>,
    ) -> Result<Self, ConfigError> {
        let set = OptionSet::new(options)?;
        self.model_options.insert(model.into(), set);
        Ok(self)
    }

    pub fn subnets(&self) -> &[Subnet] {
        &self.subnets
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}
