//! What the operator wants a phone to end up as, in the shape the config
//! renderers and the planner take. The binary builds these from the config
//! file (and validates them there); this crate only reads them.
//!
//! Values are plain strings as the operator wrote them: the renderers escape
//! them, and [`limits`] holds the phones' length limits so validation and
//! rendering agree.

use std::fmt;
use std::str::FromStr;

use crate::{LoadName, Model, Protocol};

/// Lengths the phones accept (PHONES.md, "Config essentials").
pub mod limits {
    /// SIP names, auth names, display names and passwords.
    pub const MAX_SIP_VALUE: usize = 30;
    /// The phone label shown at the top of the screen.
    pub const MAX_LABEL: usize = 12;
}

/// A phone's Ethernet address. Displays as Cisco writes it in file names:
/// twelve upper-case hex digits, as in `SEP0021555500AA.cnf.xml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// `001E4A123456`, as in `SEP001E4A123456.cnf.xml`.
    pub fn file_form(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }
}

impl fmt::Display for Mac {
    /// `00:1e:4a:12:34:56`, as DHCP tools print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A MAC that is not six hex bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a MAC address; write it as 00:1e:4a:12:34:56, 00-1E-4A-12-34-56 or 001E4A123456")]
pub struct MacError {
    /// What was given.
    pub input: String,
}

impl FromStr for Mac {
    type Err = MacError;

    /// Accepts `:` or `-` separators, `.`-grouped Cisco form, or none; any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacError {
            input: s.to_owned(),
        };
        let hex: Vec<u8> = s
            .trim()
            .bytes()
            .filter(|b| !matches!(b, b':' | b'-' | b'.'))
            .collect();
        // from_str_radix alone would take a sign ("+a").
        if hex.len() != 12 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(err());
        }
        let mut out = [0u8; 6];
        for (slot, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| err())?;
            *slot = u8::from_str_radix(text, 16).map_err(|_| err())?;
        }
        Ok(Mac(out))
    }
}

/// How phones reach the SIP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// The default: every 79xx SIP load speaks it.
    #[default]
    Udp,
    /// XML-configured phones only (`transportLayerProtocol` 1).
    Tcp,
}

impl Transport {
    /// `udp` or `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Where phones register or connect, shared by every phone unless one says
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The SIP registrar/proxy (Asterisk host), as an IP or name.
    pub sip_server: String,
    /// SIP port, 5060 by default.
    pub sip_port: u16,
    /// SIP transport.
    pub transport: Transport,
    /// The SCCP call manager (chan-sccp, CUCM) for phones kept on SCCP.
    pub sccp_server: Option<String>,
    /// Olson time zone name as the operator wrote it (`Europe/London`).
    pub time_zone: String,
    /// NTP/SNTP server for the phones; `None` leaves it out of configs.
    pub ntp_server: Option<String>,
    /// Where phones should send syslog, when the config format has a key.
    pub syslog_server: Option<String>,
    /// User locale (`English_United_States`).
    pub user_locale: Option<String>,
    /// Network locale (`United_States`).
    pub network_locale: Option<String>,
}

/// One SIP line (registration) on a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipLine {
    /// The extension / SIP user name (`101`).
    pub extension: String,
    /// Caller-ID name shown to others.
    pub display: String,
    /// Authentication user name; usually the extension.
    pub auth: String,
    /// SIP password. Never logged, never returned by the API.
    pub password: String,
    /// Text next to the line button; the extension when absent.
    pub label: Option<String>,
}

/// A speed-dial button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeedDial {
    /// What is dialled.
    pub number: String,
    /// What the button says.
    pub label: String,
}

/// The load a phone should end up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetLoad {
    /// The newest complete load in the library for the phone's image set and
    /// protocol.
    Newest,
    /// Exactly this load.
    Exact(LoadName),
}

/// Everything the renderers need to know about one phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneSettings {
    /// The phone's MAC.
    pub mac: Mac,
    /// Its model, when known (configured, or learned from DHCP option 60 or
    /// the files it asks for).
    pub model: Option<Model>,
    /// The protocol it should end up on.
    pub protocol: Protocol,
    /// The label at the top of the screen (≤ 12 characters).
    pub label: Option<String>,
    /// SIP lines, in button order.
    pub lines: Vec<SipLine>,
    /// Speed dials, after the lines.
    pub speed_dials: Vec<SpeedDial>,
    /// SCCP server for this phone, overriding [`Site::sccp_server`].
    pub sccp_server: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_forms() {
        for text in [
            "00:1e:4a:12:34:56",
            "00-1E-4A-12-34-56",
            "001e4a123456",
            "001e.4a12.3456",
        ] {
            let mac: Mac = text.parse().unwrap();
            assert_eq!(mac.file_form(), "001E4A123456");
            assert_eq!(mac.to_string(), "00:1e:4a:12:34:56");
        }
        for bad in [
            "",
            "00:1e:4a:12:34",
            "00:1e:4a:12:34:5g",
            "001e4a1234567",
            "é1e4a123456",
            "+0+1+2+3+4+5",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }
}
