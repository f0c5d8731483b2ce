//! Which options a reply carries, in what order, within what size; and how
//! a configured value becomes the dhcproto option that carries it.
//!
//! Rules (the "Protocol Application Invalid" trap decides the first one):
//! - 150 (TFTP server list) and 66 (its first address as dotted text) go in
//!   every OFFER and ACK, requested or not: a phone that has just flashed a
//!   bootloader may not ask for them, and without them it cannot fetch its
//!   application. Both default to the server's address on the ingress
//!   interface; a configured 150 moves 66 along with it.
//! - 1 (mask) and 3 (routers) are always sent: every client needs them.
//! - Other configured options: all of them when the client sent no
//!   parameter request list (55); only the requested ones when it did.
//! - Order on the wire: 53, 54, 51, 58, 59, 1, 3, 150, 66, then the others
//!   in the order of the client's list (ascending code without one), then
//!   61 (RFC 6842 echo) and 82 last (RFC 3046 §2.2). 1 comes before 3 as
//!   RFC 2132 §3.3 requires.
//! - Size: the message may not exceed the client's option 57 (at least 576,
//!   RFC 2132 §9.10; at most 1500) less 28 bytes of IP and UDP headers, or
//!   548 bytes without 57 (RFC 2131 §2). Optional options are dropped from
//!   the end of the order until it fits; 1, 3, 51, 53, 54, 150, 66 and the
//!   echoed 61 and 82 are never dropped.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, DhcpOptions, Message, MessageType, OptionCode, UnknownOption};
use dhcproto::{Decodable, Decoder, Encodable};

use super::OPTIONS_START as HEADER_LEN;
use crate::config::{OptionSet, OptionValue, Subnet};

/// RFC 2131 §2: 576-byte datagrams, less 20 (IP) and 8 (UDP).
const DEFAULT_MAX_DHCP: usize = 548;
const IP_UDP_HEADERS: usize = 28;
/// Replies are never bigger than an Ethernet frame allows, whatever 57 says.
const MAX_DATAGRAM: u16 = 1500;

const NEVER_DROP: &[u8] = &[1, 3, 51, 53, 54, 150, 66, 61, 82];

/// Largest DHCP message (UDP payload) the client accepts.
pub(crate) fn max_dhcp_len(req: &Message) -> usize {
    match req.opts().get(OptionCode::MaxMessageSize) {
        Some(DhcpOption::MaxMessageSize(v)) => {
            usize::from((*v).clamp(576, MAX_DATAGRAM)).saturating_sub(IP_UDP_HEADERS)
        }
        _ => DEFAULT_MAX_DHCP,
    }
}

/// The kinds of reply that carry options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyKind {
    Offer,
    Ack,
    /// DHCPACK to DHCPINFORM: configuration only, no lease times (RFC 2131 §4.3.5).
    InformAck,
    Nak,
}

impl ReplyKind {
    pub(crate) fn message_type(self) -> MessageType {
        match self {
            ReplyKind::Offer => MessageType::Offer,
            ReplyKind::Ack | ReplyKind::InformAck => MessageType::Ack,
            ReplyKind::Nak => MessageType::Nak,
        }
    }
}

pub(crate) struct Built {
    pub opts: DhcpOptions,
    /// Codes in wire order.
    pub order: Vec<u8>,
    /// Optional options left out because the message would not fit.
    pub dropped: Vec<u8>,
    /// The first TFTP server (siaddr), the address option 66 names.
    pub next_server: Ipv4Addr,
}

pub(crate) struct Inputs<'a> {
    pub kind: ReplyKind,
    pub subnet: &'a Subnet,
    pub model: Option<&'a OptionSet>,
    pub server_id: Ipv4Addr,
    /// Other servers sharing the store: after ours in a default option 150.
    pub peer_tftp: &'a [Ipv4Addr],
    pub req: &'a Message,
    pub nak_text: Option<&'a str>,
}

/// Encoded into `scratch` (cleared first), so sizing a reply allocates once.
fn encoded_len(opt: &DhcpOption, scratch: &mut Vec<u8>) -> usize {
    scratch.clear();
    match opt.encode(&mut dhcproto::Encoder::new(scratch)) {
        Ok(()) => scratch.len(),
        Err(_) => usize::MAX / 4,
    }
}

pub(crate) fn build(inp: &Inputs<'_>) -> Built {
    let mut chosen: Vec<(u8, DhcpOption)> = Vec::new();
    chosen.push((53, DhcpOption::MessageType(inp.kind.message_type())));
    chosen.push((54, DhcpOption::ServerIdentifier(inp.server_id)));
    // A set carries `tftp_first` exactly when it carries 150, so a model's
    // 150 moves the first TFTP server (and with it 66 and siaddr).
    let next_server = inp
        .model
        .and_then(|m| m.tftp_first)
        .or(inp.subnet.options.tftp_first)
        .unwrap_or(inp.server_id);

    if inp.kind == ReplyKind::Nak {
        if let Some(text) = inp.nak_text {
            chosen.push((56, DhcpOption::Message(text.to_string())));
        }
    } else {
        if matches!(inp.kind, ReplyKind::Offer | ReplyKind::Ack) {
            let secs = inp.subnet.lease_secs;
            chosen.push((51, DhcpOption::AddressLeaseTime(secs)));
            // RFC 2131 §4.4.5: T1 = 0.5 * lease, T2 = 0.875 * lease.
            chosen.push((58, DhcpOption::Renewal(secs / 2)));
            chosen.push((59, DhcpOption::Rebinding(secs / 8 * 7 + secs % 8 * 7 / 8)));
        }
        // The subnet's options with the model's on top, looked up rather
        // than merged into a copy of both maps: only the options sent are
        // cloned (issue #15: the copy was a visible part of each reply).
        let model = inp.model.map(|m| &m.opts);
        let in_model = |code: u8| model.is_some_and(|m| m.contains_key(&code));
        let merged = |code: u8| -> Option<&DhcpOption> {
            if let Some(opt) = model.and_then(|m| m.get(&code)) {
                return Some(opt);
            }
            // A model's 150 moves 66 along with it, unless it gives 66 too.
            if code == 66 && in_model(150) {
                return None;
            }
            inp.subnet.options.opts.get(&code)
        };
        let mut taken = [false; 256];
        chosen.push((1, DhcpOption::SubnetMask(inp.subnet.mask())));
        if let Some(opt) = merged(3) {
            chosen.push((3, opt.clone()));
        }
        chosen.push((
            150,
            merged(150).cloned().unwrap_or_else(|| {
                let mut list = inp.server_id.octets().to_vec();
                for peer in inp.peer_tftp.iter().filter(|p| **p != inp.server_id) {
                    list.extend_from_slice(&peer.octets());
                }
                to_dhcp_option(150, list)
            }),
        ));
        chosen.push((
            66,
            merged(66).cloned().unwrap_or_else(|| {
                DhcpOption::TFTPServerName(next_server.to_string().into_bytes())
            }),
        ));
        for code in [3u8, 150, 66] {
            taken[usize::from(code)] = true;
        }
        let mut take = |code: u8, chosen: &mut Vec<(u8, DhcpOption)>| {
            if !std::mem::replace(&mut taken[usize::from(code)], true) {
                if let Some(opt) = merged(code) {
                    chosen.push((code, opt.clone()));
                }
            }
        };
        match prl(inp.req) {
            Some(list) => {
                for code in list {
                    take(code, &mut chosen);
                }
            }
            // Every configured option, ascending (both maps are sorted).
            None => {
                let subnet = inp.subnet.options.opts.keys();
                let mut codes: Vec<u8> = subnet
                    .chain(model.into_iter().flat_map(|m| m.keys()))
                    .copied()
                    .collect();
                codes.sort_unstable();
                for code in codes {
                    take(code, &mut chosen);
                }
            }
        }
    }

    // Echoes go last, 82 very last.
    if let Some(opt @ DhcpOption::ClientIdentifier(_)) =
        inp.req.opts().get(OptionCode::ClientIdentifier)
    {
        chosen.push((61, opt.clone()));
    }
    if let Some(opt @ DhcpOption::RelayAgentInformation(_)) =
        inp.req.opts().get(OptionCode::RelayAgentInformation)
    {
        chosen.push((82, opt.clone()));
    }

    // Fit the size budget by dropping optional options from the back.
    let budget = max_dhcp_len(inp.req);
    let mut scratch = Vec::with_capacity(64);
    let lens: Vec<usize> = chosen
        .iter()
        .map(|(_, o)| encoded_len(o, &mut scratch))
        .collect();
    let mut total = lens.iter().fold(HEADER_LEN.saturating_add(1), |acc, l| {
        acc.saturating_add(*l)
    });
    let mut keep = vec![true; chosen.len()];
    let mut dropped = Vec::new();
    for ((code, _), (len, k)) in chosen.iter().zip(lens.iter().zip(keep.iter_mut())).rev() {
        if total <= budget {
            break;
        }
        if !NEVER_DROP.contains(code) {
            *k = false;
            total = total.saturating_sub(*len);
            dropped.push(*code);
        }
    }
    dropped.reverse();

    let mut opts = DhcpOptions::new();
    let mut order = Vec::new();
    for ((code, opt), k) in chosen.into_iter().zip(keep) {
        if k {
            order.push(code);
            opts.insert(opt);
        }
    }
    Built {
        opts,
        order,
        dropped,
        next_server,
    }
}

/// The client's parameter request list as plain codes.
pub(crate) fn prl(req: &Message) -> Option<Vec<u8>> {
    match req.opts().get(OptionCode::ParameterRequestList) {
        Some(DhcpOption::ParameterRequestList(list)) => {
            Some(list.iter().map(|c| u8::from(*c)).collect())
        }
        _ => None,
    }
}

/// A configured value as the dhcproto option that carries it, ready to be
/// cloned into replies.
pub(crate) fn prepare(code: u8, value: &OptionValue) -> DhcpOption {
    to_dhcp_option(code, value_bytes(value))
}

/// The value's bytes on the wire: addresses and integers in network order,
/// text without a trailing NUL (RFC 2132 §2).
fn value_bytes(value: &OptionValue) -> Vec<u8> {
    match value {
        OptionValue::Ips(ips) => ips.iter().flat_map(|ip| ip.octets()).collect(),
        OptionValue::Text(s) => s.as_bytes().to_vec(),
        OptionValue::U8(v) => vec![*v],
        OptionValue::U16(v) => v.to_be_bytes().to_vec(),
        OptionValue::U32(v) => v.to_be_bytes().to_vec(),
        OptionValue::Bytes(b) => b.clone(),
    }
}

/// Builds the dhcproto value for raw option bytes: the typed variant when
/// dhcproto can read it, otherwise `Unknown` carrying the bytes as they are.
/// (dhcproto 0.12 types option 150 as a single address, so a list of two
/// goes through `Unknown`; its encoder writes the bytes unchanged.)
fn to_dhcp_option(code: u8, bytes: Vec<u8>) -> DhcpOption {
    if let Ok(len) = u8::try_from(bytes.len()) {
        let mut buf = Vec::with_capacity(bytes.len().saturating_add(3));
        buf.push(code);
        buf.push(len);
        buf.extend_from_slice(&bytes);
        buf.push(255);
        // Keep the typed form only if it writes back exactly these bytes
        // (dhcproto would silently read a u32 given for a u16 option as u16).
        if let Ok(opt) = DhcpOption::decode(&mut Decoder::new(&buf)) {
            let same = opt
                .to_vec()
                .is_ok_and(|v| Some(v.as_slice()) == buf.get(..buf.len().saturating_sub(1)));
            if same && !matches!(opt, DhcpOption::Unknown(_)) {
                return opt;
            }
        }
    }
    DhcpOption::Unknown(UnknownOption::new(OptionCode::from(code), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(opt: &DhcpOption) -> Vec<u8> {
        opt.to_vec().unwrap()
    }

    #[test]
    fn prepared_values_write_back_the_configured_bytes() {
        let one = Ipv4Addr::new(192, 168, 1, 1);
        let two = Ipv4Addr::new(10, 0, 0, 2);
        // One address: dhcproto's typed 150.
        let opt = prepare(150, &OptionValue::Ips(vec![one]));
        assert_eq!(opt, DhcpOption::TFTPServerAddress(one));
        // Two: dhcproto types 150 as one address, so the bytes go raw.
        let opt = prepare(150, &OptionValue::Ips(vec![one, two]));
        assert!(matches!(opt, DhcpOption::Unknown(_)));
        assert_eq!(written(&opt), [150, 8, 192, 168, 1, 1, 10, 0, 0, 2]);
        // A u32 for the u16 option 13 is not cut to two bytes.
        let opt = prepare(13, &OptionValue::U32(0x0102_0304));
        assert_eq!(written(&opt), [13, 4, 1, 2, 3, 4]);
        // Text has no trailing NUL.
        let opt = prepare(67, &OptionValue::Text("SEPDefault.cnf".into()));
        assert_eq!(written(&opt)[..2], [67, 14]);
    }
}
