//! `[sccp]`: phoneboot as the call manager of the SCCP loads phones walk
//! through; and the NOTIFY keys of `[sip]`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::{file, ConfigError};

pub const DEFAULT_SCCP_LISTEN: &str = "0.0.0.0:2000";
/// Where phones take NOTIFY (their SIP port).
pub const DEFAULT_PHONE_SIP_PORT: u16 = 5060;

/// Validated `[sccp]`.
#[derive(Debug, Clone)]
pub struct SccpConfig {
    /// `None`: on with an interface only.
    pub enabled: Option<bool>,
    pub listen: SocketAddr,
    pub allow: Vec<(Ipv4Addr, u8)>,
    pub max_sessions: usize,
    pub max_per_address: usize,
    pub keepalive: Duration,
}

/// The NOTIFY keys of `[sip]`.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Send NOTIFY to SIP phones (on unless turned off).
    pub enabled: bool,
    /// The port phones take NOTIFY on.
    pub phone_port: u16,
    /// The address NOTIFY is sent from (port 0: any free port).
    pub listen: SocketAddr,
}

impl Default for SccpConfig {
    fn default() -> SccpConfig {
        SccpConfig {
            enabled: None,
            listen: DEFAULT_SCCP_LISTEN.parse().expect("valid default"),
            allow: Vec::new(),
            max_sessions: 4096,
            max_per_address: 4,
            keepalive: Duration::from_secs(30),
        }
    }
}

pub(super) fn sccp_config(
    raw: Option<file::Sccp>,
    invalid: &dyn Fn(&'static str, String) -> ConfigError,
) -> Result<SccpConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let mut cfg = SccpConfig {
        enabled: raw.enabled,
        ..SccpConfig::default()
    };
    if let Some(text) = &raw.listen {
        cfg.listen = text.parse().map_err(|_| {
            invalid(
                "sccp.listen",
                format!("{text:?} is not an address:port (example: {DEFAULT_SCCP_LISTEN:?})"),
            )
        })?;
    }
    for net in raw.allow.unwrap_or_default() {
        let parsed = dhcp::parse_cidr(&net).ok().filter(|(_, len)| *len <= 32);
        cfg.allow.push(parsed.ok_or_else(|| {
            invalid(
                "sccp.allow",
                format!("{net:?} is not an IPv4 network: write it as \"10.1.0.0/16\""),
            )
        })?);
    }
    for (key, value, slot) in [
        ("sccp.max_sessions", raw.max_sessions, &mut cfg.max_sessions),
        (
            "sccp.max_per_address",
            raw.max_per_address,
            &mut cfg.max_per_address,
        ),
    ] {
        match value {
            Some(0) => return Err(invalid(key, "must be at least 1".to_owned())),
            Some(n) => *slot = n,
            None => {}
        }
    }
    if let Some(text) = &raw.keepalive {
        let d = humantime::parse_duration(text).map_err(|e| {
            invalid(
                "sccp.keepalive",
                format!("{text:?} is not a duration like \"30s\": {e}"),
            )
        })?;
        if d.as_secs() == 0 || d.subsec_nanos() != 0 || d > Duration::from_secs(3600) {
            return Err(invalid(
                "sccp.keepalive",
                format!("{text:?}: give whole seconds between 1s and 1h"),
            ));
        }
        cfg.keepalive = d;
    }
    Ok(cfg)
}

pub(super) fn notify_config(
    sip: Option<&crate::provision::desired::file::Sip>,
    invalid: &dyn Fn(&'static str, String) -> ConfigError,
) -> Result<NotifyConfig, ConfigError> {
    let listen_text = sip
        .and_then(|s| s.notify_listen.as_deref())
        .unwrap_or("0.0.0.0:0");
    let listen = listen_text.parse().map_err(|_| {
        invalid(
            "sip.notify_listen",
            format!("{listen_text:?} is not an address:port (example: \"0.0.0.0:0\")"),
        )
    })?;
    let phone_port = sip
        .and_then(|s| s.phone_port)
        .unwrap_or(DEFAULT_PHONE_SIP_PORT);
    if phone_port == 0 {
        return Err(invalid("sip.phone_port", "must not be 0".to_owned()));
    }
    Ok(NotifyConfig {
        enabled: sip.and_then(|s| s.notify).unwrap_or(true),
        phone_port,
        listen,
    })
}

/// Whether `ip` lies in `net`.
pub fn in_net(ip: Ipv4Addr, (net, prefix): (Ipv4Addr, u8)) -> bool {
    let mask = 32u32
        .checked_sub(u32::from(prefix))
        .and_then(|shift| u32::MAX.checked_shl(shift))
        .unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let net = ("10.1.0.0".parse().unwrap(), 16);
        assert!(in_net("10.1.200.3".parse().unwrap(), net));
        assert!(!in_net("10.2.0.1".parse().unwrap(), net));
        assert!(in_net(
            "8.8.8.8".parse().unwrap(),
            ("0.0.0.0".parse().unwrap(), 0)
        ));
        assert!(in_net(
            "10.0.0.1".parse().unwrap(),
            ("10.0.0.1".parse().unwrap(), 32)
        ));
    }

    #[test]
    fn allow_must_be_networks() {
        let invalid = |key: &'static str, problem: String| ConfigError::Invalid {
            path: "t".into(),
            key,
            problem,
        };
        let raw = |allow: &str| file::Sccp {
            allow: Some(vec![allow.to_owned()]),
            ..file::Sccp::default()
        };
        let cfg = sccp_config(Some(raw("10.1.0.0/16")), &invalid).unwrap();
        assert_eq!(cfg.allow, [("10.1.0.0".parse().unwrap(), 16)]);
        for bad in ["ten/8", "10.0.0.1", "", "10.0.0.0/33"] {
            let err = sccp_config(Some(raw(bad)), &invalid).unwrap_err();
            assert!(err.to_string().contains("sccp.allow"), "{err}");
        }
    }
}
