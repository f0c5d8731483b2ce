//! What to simulate: which phones, where the server is, which faults.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use cisco::{LoadName, Mac, Model};

/// One simulated phone before it starts: a model running a load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneSpec {
    pub model: Model,
    pub start_load: LoadName,
    /// The load its walk should end on: once settled on it and registered,
    /// the phone's run ends (after [`SimConfig::hold`]). `None`: the run
    /// ends at the first settled boot that `hold` leaves alone.
    pub expect: Option<LoadName>,
}

/// A phone list that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error(
        "unknown phone model {0:?}: use one such as 7940, 7960, 7941, 7961G-GE, 7965, 7975, 7911"
    )]
    UnknownModel(String),
    #[error("start load {load:?}: {reason}")]
    BadLoad { load: String, reason: String },
    #[error("start load {load} does not run on a {model}: give a load of that model's family")]
    WrongFamily { load: String, model: &'static str },
    #[error(
        "the simulator does not model the {0} (7912/7905): simulate a 79x0 or Java-family phone"
    )]
    Unsupported(&'static str),
    #[error("phone entry {0:?} is not MODEL:LOAD[:COUNT[:EXPECT]] (e.g. 7940:P00303010102:3:P0S3-8-12-00)")]
    Malformed(String),
    #[error("expected load {load:?}: {reason}")]
    BadExpect { load: String, reason: String },
    #[error(
        "expected load {load} does not run on a {model}: expect a load of that model's family"
    )]
    ExpectWrongFamily { load: String, model: &'static str },
    #[error("{0:?} is not an IPv4 network: write it as 127.1.0.0/16")]
    BadNetwork(String),
}

impl PhoneSpec {
    /// Checks that `load` is one `model` runs, and that the simulator knows the family.
    pub fn new(model: &str, load: &str) -> Result<PhoneSpec, SpecError> {
        let model_v =
            Model::from_name(model).ok_or_else(|| SpecError::UnknownModel(model.to_owned()))?;
        if !model_v.family().is_java() && model_v.family() != cisco::Family::Series79x0 {
            return Err(SpecError::Unsupported(model_v.name()));
        }
        let start_load = LoadName::parse(load).map_err(|e| SpecError::BadLoad {
            load: load.to_owned(),
            reason: e.to_string(),
        })?;
        if !start_load.fits(model_v) || start_load.kind() != cisco::LoadKind::Application {
            return Err(SpecError::WrongFamily {
                load: load.to_owned(),
                model: model_v.name(),
            });
        }
        Ok(PhoneSpec {
            model: model_v,
            start_load,
            expect: None,
        })
    }

    /// The same phone, whose walk should end on `load`.
    pub fn expecting(mut self, load: &str) -> Result<PhoneSpec, SpecError> {
        let expect = LoadName::parse(load).map_err(|e| SpecError::BadExpect {
            load: load.to_owned(),
            reason: e.to_string(),
        })?;
        if !expect.fits(self.model) || expect.kind() != cisco::LoadKind::Application {
            return Err(SpecError::ExpectWrongFamily {
                load: load.to_owned(),
                model: self.model.name(),
            });
        }
        self.expect = Some(expect);
        Ok(self)
    }
}

/// Parses a mix: comma-separated `MODEL:LOAD[:COUNT[:EXPECT]]` entries
/// (`7940:P00303010102:3:P0S3-8-12-00,7965:SIP45.9-4-2SR3-1S:2`); COUNT
/// defaults to 1, EXPECT (see [`PhoneSpec::expect`]) to none.
pub fn parse_mix(text: &str) -> Result<Vec<PhoneSpec>, SpecError> {
    let mut out = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let malformed = || SpecError::Malformed(entry.to_owned());
        let parts: Vec<&str> = entry.split(':').collect();
        let (model, load, count, expect) = match parts.as_slice() {
            [m, l] => (*m, *l, "1", None),
            [m, l, c] => (*m, *l, *c, None),
            [m, l, c, e] => (*m, *l, *c, Some(*e)),
            _ => return Err(malformed()),
        };
        let count = count.parse::<usize>().map_err(|_| malformed())?;
        let mut spec = PhoneSpec::new(model, load)?;
        if let Some(e) = expect {
            spec = spec.expecting(e)?;
        }
        out.extend(std::iter::repeat_n(spec, count));
    }
    Ok(out)
}

/// Parses `A.B.C.D/P`.
pub fn parse_net(text: &str) -> Result<(Ipv4Addr, u8), SpecError> {
    let bad = || SpecError::BadNetwork(text.to_owned());
    let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    Ok((addr, prefix))
}

/// How phones reach the TFTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressing {
    /// No DHCP: phone `i` binds the `i+1`-th address of `source_net` (on
    /// loopback) and talks to `server`.
    Direct {
        server: SocketAddr,
        source_net: (Ipv4Addr, u8),
    },
    /// DHCP on `interface` (only inside a network namespace: the leased
    /// addresses are added to it). The TFTP server comes from option 150/66.
    Dhcp { interface: String, tftp_port: u16 },
}

/// The TFTP client's knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct TftpOptions {
    /// `blksize` to ask for; `None` asks for none (512-byte blocks).
    pub blksize: Option<u16>,
    /// Ask for `tsize`.
    pub tsize: bool,
    /// Resend the RRQ or last ACK after this long without an answer.
    pub retransmit: Duration,
    /// Timeouts in a row before a transfer fails.
    pub retries: u32,
}

impl Default for TftpOptions {
    fn default() -> Self {
        TftpOptions {
            blksize: Some(1428),
            tsize: true,
            retransmit: Duration::from_secs(1),
            retries: 5,
        }
    }
}

/// A whole simulation run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub phones: Vec<PhoneSpec>,
    /// Phone `i` gets `mac_base + i`.
    pub mac_base: Mac,
    pub addressing: Addressing,
    /// Probability of dropping each received DATA packet.
    pub loss: f64,
    /// Seeds the loss generator (each phone derives its own).
    pub seed: u64,
    /// The first K phones abort their first image download half way and reboot.
    pub reboot_mid_download: usize,
    /// The first K phones complete one image download but boot the old image.
    pub keep_old_image: usize,
    /// Phones that have not settled by then are reported as timed out.
    pub timeout: Duration,
    /// Pause between the end of one boot and the next boot's first request.
    pub reboot_delay: Duration,
    /// A phone that boots this often in a row without settling has failed
    /// (a loop). Reboots its server orders after it settled start the count
    /// over.
    pub max_boots: u32,
    /// How long a phone whose run may end (settled, and on its `expect`
    /// load and registered when it has one) keeps listening for a reboot
    /// order before its run ends. An order during the hold reboots it and
    /// the walk goes on.
    pub hold: Duration,
    /// The UDP port SIP loads answer NOTIFY on, on the phone's address.
    pub sip_port: u16,
    pub tftp: TftpOptions,
}

impl SimConfig {
    /// Defaults of the command line for these phones and server.
    pub fn new(phones: Vec<PhoneSpec>, addressing: Addressing) -> SimConfig {
        SimConfig {
            phones,
            mac_base: Mac([0x00, 0x1e, 0x4a, 0, 0, 0]),
            addressing,
            loss: 0.0,
            seed: 1,
            reboot_mid_download: 0,
            keep_old_image: 0,
            timeout: Duration::from_secs(300),
            reboot_delay: Duration::from_millis(100),
            max_boots: 20,
            hold: Duration::ZERO,
            sip_port: 5060,
            tftp: TftpOptions::default(),
        }
    }
}

/// `base + i` over the whole 48 bits.
pub fn nth_mac(base: Mac, i: usize) -> Mac {
    let mut v = [0u8; 8];
    v[2..].copy_from_slice(&base.0);
    let n = u64::from_be_bytes(v).wrapping_add(i as u64);
    let b = n.to_be_bytes();
    Mac([b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// The `i`-th host address of `net` (the network address itself is skipped),
/// or `None` when the network is too small.
pub fn nth_addr(net: (Ipv4Addr, u8), i: usize) -> Option<Ipv4Addr> {
    let (addr, prefix) = net;
    let size: u64 = 1u64 << (32 - u32::from(prefix));
    let host = (i as u64).checked_add(1)?;
    // Keep off the broadcast address of networks that have one.
    if host >= size.saturating_sub(u64::from(prefix < 31)) {
        return None;
    }
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    let base = u32::from(addr) & mask;
    Some(Ipv4Addr::from(base | host as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_expands_counts_and_checks_families() {
        let mix = parse_mix("7940:P00303010102:3, 7965:SIP45.9-4-2SR3-1S:2,7961G-GE:SCCP41.8-3-1S")
            .unwrap();
        assert_eq!(mix.len(), 6);
        assert_eq!(mix[0].model, Model::Cp7940);
        assert_eq!(mix[4].start_load.as_str(), "SIP45.9-4-2SR3-1S");
        assert_eq!(mix[5].model, Model::Cp7961Ge);
        assert!(matches!(
            parse_mix("7960:SIP41.9-4-2SR3-1S"),
            Err(SpecError::WrongFamily { .. })
        ));
        assert!(matches!(
            parse_mix("7999:P00303010102"),
            Err(SpecError::UnknownModel(_))
        ));
        assert!(matches!(parse_mix("7960"), Err(SpecError::Malformed(_))));
        assert!(matches!(
            parse_mix("7960:P00303010102:x"),
            Err(SpecError::Malformed(_))
        ));
        assert!(matches!(
            parse_mix("7912:CP7912080004SCCP080108A"),
            Err(SpecError::Unsupported(_))
        ));
    }

    #[test]
    fn mix_entries_may_name_the_load_the_walk_ends_on() {
        let mix = parse_mix("7940:P00303010102:2:P0S3-8-12-00,7965:SCCP45.9-4-2SR3-1S").unwrap();
        assert_eq!(mix.len(), 3);
        assert_eq!(
            mix[1].expect.as_ref().map(LoadName::as_str),
            Some("P0S3-8-12-00")
        );
        assert_eq!(mix[2].expect, None);
        assert!(matches!(
            parse_mix("7940:P00303010102:1:SIP41.9-4-2SR3-1S"),
            Err(SpecError::ExpectWrongFamily { .. })
        ));
        assert!(matches!(
            parse_mix("7940:P00303010102:1:nonsense"),
            Err(SpecError::BadExpect { .. })
        ));
        assert!(matches!(
            parse_mix("7940:P00303010102::P0S3-8-12-00"),
            Err(SpecError::Malformed(_))
        ));
        assert!(matches!(
            parse_mix("7940:P00303010102:1:P0S3-8-12-00:x"),
            Err(SpecError::Malformed(_))
        ));
    }

    #[test]
    fn macs_and_addresses_count_up() {
        let base = Mac([0, 0x1e, 0x4a, 0, 0, 0xff]);
        assert_eq!(nth_mac(base, 1), Mac([0, 0x1e, 0x4a, 0, 1, 0]));
        let net = parse_net("127.1.0.0/16").unwrap();
        assert_eq!(nth_addr(net, 0), Some(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(nth_addr(net, 256), Some(Ipv4Addr::new(127, 1, 1, 1)));
        assert_eq!(nth_addr(net, 65533), Some(Ipv4Addr::new(127, 1, 255, 254)));
        assert_eq!(nth_addr(net, 65534), None);
        assert_eq!(nth_addr(parse_net("127.0.0.9/32").unwrap(), 0), None);
        assert!(parse_net("127.1.0.0").is_err());
        assert!(parse_net("127.1.0.0/33").is_err());
    }
}
