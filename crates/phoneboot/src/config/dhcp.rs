//! `[dhcp]`: the file's section checked into [`DhcpSettings`], and those
//! with the interface into the core's `dhcp::Server`, here and nowhere else.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use super::{file, ConfigError};

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

pub(super) fn dhcp_settings(
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
            .parse::<cisco::Mac>()
            .map(|m| dhcp::Mac(m.0))
            .map_err(|e| invalid("dhcp.reservation.mac", e.to_string()))?;
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

/// DHCP as `serve --interface` runs it: the interface's subnet, our address
/// as server id and TFTP server, the Cisco catalog to name phone models.
pub fn dhcp_core(
    settings: &DhcpSettings,
    iface: &crate::net::dhcp::Interface,
) -> anyhow::Result<dhcp::Server> {
    let (network, prefix) = settings
        .subnet
        .unwrap_or((iface.network(), iface.prefix_len));
    let mut sc = dhcp::SubnetConfig::new(network, prefix);
    sc.server_addr = Some(iface.addr);
    sc.pool = settings.pool.clone();
    sc.exclude = settings.exclude.clone();
    sc.routers = settings.routers.clone();
    sc.dns = settings.dns.clone();
    sc.domain = settings.domain.clone();
    sc.ntp = settings.ntp.clone();
    sc.tftp_servers = settings.tftp_servers.clone();
    sc.lease_time = settings.lease_time;
    sc.reservations = settings.reservations.clone();
    sc.options = settings.options.clone();
    let bad = |e: dhcp::ConfigError| anyhow::anyhow!("dhcp configuration: {e}");
    let mut subnets = vec![dhcp::Subnet::try_from(sc).map_err(bad)?];
    for r in &settings.relay_subnets {
        let mut rc = dhcp::SubnetConfig::new(r.network.0, r.network.1);
        rc.pool = r.pool.clone();
        rc.exclude = r.exclude.clone();
        rc.routers = r.routers.clone();
        rc.dns = r.dns.clone().unwrap_or_else(|| settings.dns.clone());
        rc.domain = settings.domain.clone();
        rc.ntp = settings.ntp.clone();
        rc.tftp_servers = r
            .tftp_servers
            .clone()
            .unwrap_or_else(|| settings.tftp_servers.clone());
        rc.lease_time = r.lease_time.unwrap_or(settings.lease_time);
        rc.options = settings.options.clone();
        subnets.push(dhcp::Subnet::try_from(rc).map_err(bad)?);
    }
    let classifier: dhcp::Classifier =
        Arc::new(|vci: &[u8]| cisco::Model::from_vendor_class(vci).map(|m| m.name().to_owned()));
    let mut config = dhcp::ServerConfig::new(subnets)
        .map_err(bad)?
        .with_limits(settings.limits.clone())
        .map_err(bad)?
        .with_classifier(classifier);
    let mut by_model: std::collections::BTreeMap<&str, Vec<dhcp::OptionSpec>> = Default::default();
    for (model, spec) in &settings.model_options {
        by_model.entry(model).or_default().push(spec.clone());
    }
    for (model, specs) in by_model {
        config = config.with_model_options(model, specs).map_err(bad)?;
    }
    Ok(dhcp::Server::new(config))
}
