//! The server side of SNTP (RFC 4330) / NTPv4 server mode (RFC 5905), as
//! pure functions.
//!
//! - [`Header`]: the 48-byte NTP header, [`Header::parse`] and
//!   [`Header::emit`]; extension fields and MACs after it are ignored.
//! - [`Request::parse`]: accept a client request (mode 3, versions 1–4) or
//!   say why it is [`Ignored`].
//! - [`reply`]: the mode-4 answer, from the receive and transmit times and a
//!   [`ClockStatus`] the caller read from the host (`ntp_adjtime`).
//! - `fuzzing` (feature `fuzzing`): entry points for fuzz targets.
//!
//! What it never does: open a socket, read the clock or guess the host's
//! state. An unsynchronised host is answered with leap = 3 (alarm) and
//! stratum 16, so clients refuse the time, unless the operator declares the
//! host clock to be the reference ([`Policy::host_is_reference`]): then it
//! is stratum 1 with reference id `LOCL`.
//!
//! ```
//! use std::time::Duration;
//! use sntp::{reply, ClockStatus, Leap, NtpTimestamp, Policy, Request};
//!
//! // A client (mode 3, version 4) asks; its transmit time comes back as our originate time.
//! let mut ask = [0u8; 48];
//! ask[0] = 0b00_100_011;
//! ask[40..48].copy_from_slice(&0x1234_5678_9abc_def0u64.to_be_bytes());
//! let request = Request::parse(&ask)?;
//!
//! let now = NtpTimestamp::from_unix(Duration::from_secs(1_700_000_000));
//! let answer = reply(&request, now, now, &ClockStatus::unsynchronised(), &Policy::default());
//! assert_eq!(answer.mode, 4);
//! assert_eq!(answer.leap, Leap::Alarm);
//! assert_eq!(answer.originate.to_bits(), 0x1234_5678_9abc_def0);
//! let datagram: [u8; 48] = answer.emit();
//! assert_eq!(datagram[0] >> 6, 3);
//! # Ok::<(), sntp::Ignored>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Parsers see hostile bytes: no panicking shortcuts outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

use std::time::Duration;

/// UDP port of NTP and SNTP.
pub const PORT: u16 = 123;

/// Length of the NTP header; requests may carry more (extensions, MAC).
pub const HEADER_LEN: usize = 48;

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix epoch).
const UNIX_OFFSET: u64 = 2_208_988_800;

/// An NTP timestamp: seconds since 1900 (mod 2³², so era 1 after 2036
/// wraps as RFC 5905 §6 says) and a binary fraction of a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct NtpTimestamp(u64);

impl NtpTimestamp {
    /// The raw 64-bit wire value.
    pub fn from_bits(bits: u64) -> NtpTimestamp {
        NtpTimestamp(bits)
    }

    /// The raw 64-bit wire value.
    pub fn to_bits(self) -> u64 {
        self.0
    }

    /// From time since the Unix epoch (what `SystemTime` gives).
    pub fn from_unix(since_epoch: Duration) -> NtpTimestamp {
        let secs = since_epoch.as_secs().wrapping_add(UNIX_OFFSET) & 0xffff_ffff;
        // nanos < 10⁹, so nanos·2³² / 10⁹ < 2³²: no overflow in u64.
        let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTimestamp((secs << 32) | frac)
    }

    /// Back to time since the Unix epoch, assuming era 0 for timestamps from
    /// 1970 on and era 1 (after 2036-02-07) for the rest.
    pub fn to_unix(self) -> Duration {
        let secs = self.0 >> 32;
        let frac = self.0 & 0xffff_ffff;
        let unix = if secs >= UNIX_OFFSET {
            secs.wrapping_sub(UNIX_OFFSET)
        } else {
            secs.wrapping_add(1 << 32).wrapping_sub(UNIX_OFFSET)
        };
        let nanos = frac.wrapping_mul(1_000_000_000) >> 32; // frac < 2³²: fits
        Duration::new(unix, u32::try_from(nanos).unwrap_or(0))
    }
}

/// Leap indicator (RFC 5905 §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leap {
    /// No leap second pending.
    None,
    /// The last minute of the day has 61 seconds.
    Insert,
    /// The last minute of the day has 59 seconds.
    Delete,
    /// The clock is unsynchronised: clients must not use the time.
    Alarm,
}

impl Leap {
    fn bits(self) -> u8 {
        match self {
            Leap::None => 0,
            Leap::Insert => 1,
            Leap::Delete => 2,
            Leap::Alarm => 3,
        }
    }

    fn from_bits(b: u8) -> Leap {
        match b & 3 {
            0 => Leap::None,
            1 => Leap::Insert,
            2 => Leap::Delete,
            _ => Leap::Alarm,
        }
    }
}

/// The whole 48-byte header, in either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Leap indicator.
    pub leap: Leap,
    /// Version number (1–4 are real; other values parse and are refused later).
    pub version: u8,
    /// 3 = client, 4 = server, others exist.
    pub mode: u8,
    /// 0 = unspecified / kiss-o'-death, 1 = primary, 2–15 secondary, 16 = unsynchronised.
    pub stratum: u8,
    /// log₂ of the poll interval in seconds.
    pub poll: i8,
    /// log₂ of the clock's precision in seconds.
    pub precision: i8,
    /// NTP short format (16.16 seconds).
    pub root_delay: u32,
    /// NTP short format (16.16 seconds).
    pub root_dispersion: u32,
    /// Four ASCII letters at stratum 0/1, an IPv4 address above.
    pub reference_id: [u8; 4],
    /// When the clock was last set or corrected.
    pub reference: NtpTimestamp,
    /// The client's transmit time, echoed.
    pub originate: NtpTimestamp,
    /// When the request arrived.
    pub receive: NtpTimestamp,
    /// When the reply left.
    pub transmit: NtpTimestamp,
}

/// Why a datagram got no reply. The driver counts these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ignored {
    /// Shorter than the 48-byte header.
    #[error("datagram of {0} bytes is shorter than the 48-byte NTP header")]
    TooShort(usize),
    /// Not a client request (a server reply, broadcast, control message …).
    #[error("mode {0} is not a client request (mode 3)")]
    NotClient(u8),
    /// Version 0 or 5–7.
    #[error("NTP version {0} is not 1 to 4")]
    Version(u8),
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at.saturating_add(4)) {
        w.copy_from_slice(s);
    }
    u32::from_be_bytes(w)
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at.saturating_add(8)) {
        w.copy_from_slice(s);
    }
    u64::from_be_bytes(w)
}

impl Header {
    /// Reads the first 48 bytes; anything after them is ignored.
    pub fn parse(bytes: &[u8]) -> Result<Header, Ignored> {
        let b = bytes
            .get(..HEADER_LEN)
            .ok_or(Ignored::TooShort(bytes.len()))?;
        let first = b.first().copied().unwrap_or(0);
        let byte = |i: usize| b.get(i).copied().unwrap_or(0);
        let mut refid = [0u8; 4];
        if let Some(s) = b.get(12..16) {
            refid.copy_from_slice(s);
        }
        Ok(Header {
            leap: Leap::from_bits(first >> 6),
            version: (first >> 3) & 7,
            mode: first & 7,
            stratum: byte(1),
            poll: i8::from_be_bytes([byte(2)]),
            precision: i8::from_be_bytes([byte(3)]),
            root_delay: be_u32(b, 4),
            root_dispersion: be_u32(b, 8),
            reference_id: refid,
            reference: NtpTimestamp(be_u64(b, 16)),
            originate: NtpTimestamp(be_u64(b, 24)),
            receive: NtpTimestamp(be_u64(b, 32)),
            transmit: NtpTimestamp(be_u64(b, 40)),
        })
    }

    /// The 48 bytes on the wire.
    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let first = (self.leap.bits() << 6) | ((self.version & 7) << 3) | (self.mode & 7);
        let mut parts: Vec<u8> = Vec::with_capacity(HEADER_LEN);
        parts.push(first);
        parts.push(self.stratum);
        parts.extend_from_slice(&self.poll.to_be_bytes());
        parts.extend_from_slice(&self.precision.to_be_bytes());
        parts.extend_from_slice(&self.root_delay.to_be_bytes());
        parts.extend_from_slice(&self.root_dispersion.to_be_bytes());
        parts.extend_from_slice(&self.reference_id);
        for t in [self.reference, self.originate, self.receive, self.transmit] {
            parts.extend_from_slice(&t.0.to_be_bytes());
        }
        for (o, p) in out.iter_mut().zip(parts) {
            *o = p;
        }
        out
    }
}

/// A client request worth answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// 1–4; the reply carries the same version (RFC 4330 §5).
    pub version: u8,
    /// The client's poll exponent, echoed.
    pub poll: i8,
    /// The client's transmit time, which becomes our originate time.
    pub transmit: NtpTimestamp,
}

impl Request {
    /// Accepts mode 3 (client), versions 1 to 4.
    pub fn parse(bytes: &[u8]) -> Result<Request, Ignored> {
        let h = Header::parse(bytes)?;
        if h.mode != 3 {
            return Err(Ignored::NotClient(h.mode));
        }
        if !(1..=4).contains(&h.version) {
            return Err(Ignored::Version(h.version));
        }
        Ok(Request {
            version: h.version,
            poll: h.poll,
            transmit: h.transmit,
        })
    }
}

/// What the host kernel says about its clock (`ntp_adjtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockStatus {
    /// False when the kernel's `STA_UNSYNC` is set: nothing disciplines the clock.
    pub synchronised: bool,
    /// A leap second announced to the kernel (`TIME_INS`/`TIME_DEL`).
    pub leap: Leap,
    /// The kernel's maximum error (grows until the next correction).
    pub max_error: Duration,
    /// The kernel's estimated error.
    pub est_error: Duration,
    /// Stratum of the host's own time source, when the driver knows it.
    pub upstream_stratum: Option<u8>,
}

impl ClockStatus {
    /// A host nobody synchronises (and the safe assumption when the
    /// kernel cannot be asked).
    pub fn unsynchronised() -> ClockStatus {
        ClockStatus {
            synchronised: false,
            leap: Leap::None,
            max_error: Duration::from_secs(16),
            est_error: Duration::from_secs(16),
            upstream_stratum: None,
        }
    }
}

/// Operator choices that shape replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// The host clock is the reference (an isolated phone network, a GPS-fed
    /// host): answer stratum 1 `LOCL` even when the kernel says unsynchronised.
    pub host_is_reference: bool,
}

/// Stratum assumed for the host's source when the driver cannot tell:
/// public pool servers are mostly stratum 2, which makes us 3.
pub const ASSUMED_UPSTREAM_STRATUM: u8 = 2;

/// Our precision: about a microsecond (2⁻²⁰ s), what `SystemTime` resolves
/// on Linux with a TSC clock source.
pub const PRECISION: i8 = -20;

/// A duration in NTP short format (16.16 seconds), saturating.
pub fn short_format(d: Duration) -> u32 {
    let secs = d.as_secs();
    if secs >= 0xffff {
        return u32::MAX;
    }
    let frac = (u64::from(d.subsec_nanos()) << 16) / 1_000_000_000;
    u32::try_from((secs << 16) | frac).unwrap_or(u32::MAX)
}

/// The server's answer (RFC 4330 §5, RFC 5905 §7.3). `received` and
/// `transmit` are the host clock when the request arrived and now.
pub fn reply(
    request: &Request,
    received: NtpTimestamp,
    transmit: NtpTimestamp,
    clock: &ClockStatus,
    policy: &Policy,
) -> Header {
    let (leap, stratum, reference_id, root_dispersion) = if policy.host_is_reference {
        // RFC 5905 §7.3: stratum 1 with a four-letter source; LOCL is the
        // conventional name of an undisciplined local clock.
        let leap = if clock.leap == Leap::Alarm {
            Leap::None
        } else {
            clock.leap
        };
        (
            leap,
            1,
            *b"LOCL",
            clock.est_error.min(Duration::from_millis(1)),
        )
    } else if clock.synchronised {
        let up = clock.upstream_stratum.unwrap_or(ASSUMED_UPSTREAM_STRATUM);
        let stratum = up.saturating_add(1).clamp(2, 15);
        // Above stratum 1 the id names the upstream server, which the
        // kernel does not tell; zero claims nothing.
        (clock.leap, stratum, [0; 4], clock.max_error)
    } else {
        // RFC 5905 §7.3: leap 3 = unsynchronised, stratum 16; INIT is what
        // ntpd shows for a server that has not synchronised yet.
        (Leap::Alarm, 16, *b"INIT", clock.max_error)
    };
    Header {
        leap,
        version: request.version,
        mode: 4,
        stratum,
        poll: request.poll.clamp(4, 17),
        precision: PRECISION,
        root_delay: 0,
        root_dispersion: short_format(root_dispersion),
        reference_id,
        // The kernel does not say when it was last corrected; clients
        // reject replies whose reference time is in the future or a day old.
        reference: received,
        originate: request.transmit,
        receive: received,
        transmit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chronyd/ntpdate-style v4 client request.
    const CLIENT_V4: [u8; 48] = [
        0x23, 0, 6, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xe9, 0x0b, 0x1c, 0x2d, 0x80, 0, 0, 0,
    ];

    fn at(secs: u64) -> NtpTimestamp {
        NtpTimestamp::from_unix(Duration::from_secs(secs))
    }

    #[test]
    fn parses_a_client_request() {
        let r = Request::parse(&CLIENT_V4).unwrap();
        assert_eq!(r.version, 4);
        assert_eq!(r.poll, 6);
        assert_eq!(r.transmit.to_bits(), 0xe90b_1c2d_8000_0000);
    }

    #[test]
    fn ignores_short_non_client_and_bad_versions() {
        assert_eq!(Request::parse(&CLIENT_V4[..47]), Err(Ignored::TooShort(47)));
        let mut server = CLIENT_V4;
        server[0] = 0x24;
        assert_eq!(Request::parse(&server), Err(Ignored::NotClient(4)));
        let mut v5 = CLIENT_V4;
        v5[0] = 0b00_101_011;
        assert_eq!(Request::parse(&v5), Err(Ignored::Version(5)));
        let mut v0 = CLIENT_V4;
        v0[0] = 0b00_000_011;
        assert_eq!(Request::parse(&v0), Err(Ignored::Version(0)));
        for v in 1..=4u8 {
            let mut ok = CLIENT_V4;
            ok[0] = (v << 3) | 3;
            assert_eq!(Request::parse(&ok).unwrap().version, v);
        }
    }

    #[test]
    fn extension_fields_after_the_header_are_ignored() {
        let mut long = CLIENT_V4.to_vec();
        long.extend_from_slice(&[0xa5; 24]);
        assert_eq!(Request::parse(&long), Request::parse(&CLIENT_V4));
    }

    #[test]
    fn unsynchronised_host_says_alarm() {
        let r = Request::parse(&CLIENT_V4).unwrap();
        let h = reply(
            &r,
            at(1_700_000_000),
            at(1_700_000_001),
            &ClockStatus::unsynchronised(),
            &Policy::default(),
        );
        assert_eq!(h.leap, Leap::Alarm);
        assert_eq!(h.stratum, 16);
        assert_eq!(&h.reference_id, b"INIT");
        assert_eq!(h.emit()[0] >> 6, 3);
    }

    #[test]
    fn host_as_reference_is_stratum_one_locl() {
        let r = Request::parse(&CLIENT_V4).unwrap();
        let h = reply(
            &r,
            at(1_700_000_000),
            at(1_700_000_001),
            &ClockStatus::unsynchronised(),
            &Policy {
                host_is_reference: true,
            },
        );
        assert_eq!(h.leap, Leap::None);
        assert_eq!(h.stratum, 1);
        assert_eq!(&h.reference_id, b"LOCL");
        assert!(h.root_dispersion <= short_format(Duration::from_millis(1)));
    }

    #[test]
    fn synchronised_host_passes_leap_and_error_on() {
        let r = Request::parse(&CLIENT_V4).unwrap();
        let clock = ClockStatus {
            synchronised: true,
            leap: Leap::Insert,
            max_error: Duration::from_millis(250),
            est_error: Duration::from_millis(1),
            upstream_stratum: Some(1),
        };
        let h = reply(&r, at(10), at(11), &clock, &Policy::default());
        assert_eq!(h.leap, Leap::Insert);
        assert_eq!(h.stratum, 2);
        assert_eq!(h.root_dispersion, 0x0000_4000);
        let unknown = ClockStatus {
            upstream_stratum: None,
            ..clock
        };
        assert_eq!(
            reply(&r, at(10), at(11), &unknown, &Policy::default()).stratum,
            3
        );
    }

    #[test]
    fn reply_echoes_and_stamps() {
        let r = Request::parse(&CLIENT_V4).unwrap();
        let h = reply(
            &r,
            at(1_700_000_000),
            at(1_700_000_001),
            &ClockStatus::unsynchronised(),
            &Policy::default(),
        );
        let mut buf = [0xa5u8; 48];
        buf.copy_from_slice(&h.emit());
        assert_eq!(buf[0] & 7, 4, "mode 4");
        assert_eq!((buf[0] >> 3) & 7, 4, "version copied");
        assert_eq!(buf[2], 6, "poll copied");
        assert_eq!(
            &buf[24..32],
            &CLIENT_V4[40..48],
            "originate = client transmit"
        );
        assert_eq!(&buf[32..40], &at(1_700_000_000).to_bits().to_be_bytes());
        assert_eq!(&buf[40..48], &at(1_700_000_001).to_bits().to_be_bytes());
        assert_eq!(Header::parse(&buf).unwrap(), h);
    }

    #[test]
    fn timestamps_convert_both_ways() {
        // 1970-01-01 is 2208988800 s after 1900-01-01.
        assert_eq!(at(0).to_bits() >> 32, 2_208_988_800);
        let t = Duration::new(1_700_000_000, 500_000_000);
        let n = NtpTimestamp::from_unix(t);
        assert_eq!(n.to_bits() & 0xffff_ffff, 0x8000_0000);
        let back = n.to_unix();
        assert!(back.abs_diff(t) < Duration::from_nanos(2), "{back:?}");
        // After 2036 the seconds wrap into era 1 and still come back.
        let late = Duration::from_secs(2_200_000_000);
        assert_eq!(NtpTimestamp::from_unix(late).to_unix(), late);
    }

    #[test]
    fn short_format_saturates() {
        assert_eq!(short_format(Duration::from_secs(1)), 0x0001_0000);
        assert_eq!(short_format(Duration::from_secs(1 << 20)), u32::MAX);
    }
}
