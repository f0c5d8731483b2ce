//! Which options a reply carries, in what order, within what size.
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

use dhcproto::v4::{DhcpOption, DhcpOptions, Message, MessageType, OptionCode};
use dhcproto::Encodable;

use crate::config::{to_dhcp_option, OptionSet, Subnet};

/// Fixed BOOTP header (236) plus the magic cookie (4).
const HEADER_LEN: usize = 240;
/// RFC 2131 §2: 576-byte datagrams, less 20 (IP) and 8 (UDP).
const DEFAULT_MAX_DHCP: usize = 548;
const IP_UDP_HEADERS: usize = 28;
/// Replies are never bigger than an Ethernet frame allows, whatever 57 says.
const MAX_DATAGRAM: u16 = 1500;
/// Older relays and BOOTP clients drop messages shorter than this
/// (RFC 1542 §3.1.1), so replies are padded up to it.
pub(crate) const MIN_BOOTP_LEN: usize = 300;

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

pub(crate) struct Built {
    pub opts: DhcpOptions,
    /// Codes in wire order.
    pub order: Vec<u8>,
    /// Optional options left out because the message would not fit.
    pub dropped: Vec<u8>,
}

pub(crate) struct Inputs<'a> {
    pub kind: ReplyKind,
    pub subnet: &'a Subnet,
    pub model: Option<&'a OptionSet>,
    pub server_id: Ipv4Addr,
    pub req: &'a Message,
    pub nak_text: Option<&'a str>,
}

fn encoded_len(opt: &DhcpOption) -> usize {
    opt.to_vec().map(|v| v.len()).unwrap_or(usize::MAX / 4)
}

pub(crate) fn build(inp: &Inputs<'_>) -> Built {
    let mut chosen: Vec<(u8, DhcpOption)> = Vec::new();
    let mtype = match inp.kind {
        ReplyKind::Offer => MessageType::Offer,
        ReplyKind::Ack | ReplyKind::InformAck => MessageType::Ack,
        ReplyKind::Nak => MessageType::Nak,
    };
    chosen.push((53, DhcpOption::MessageType(mtype)));
    chosen.push((54, DhcpOption::ServerIdentifier(inp.server_id)));

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
        // The subnet's options with the model's on top.
        let mut merged = inp.subnet.options.opts.clone();
        let mut tftp_first = inp.subnet.options.tftp_first;
        if let Some(m) = inp.model {
            for (code, opt) in &m.opts {
                merged.insert(*code, opt.clone());
            }
            if m.opts.contains_key(&150) {
                tftp_first = m.tftp_first;
                if !m.opts.contains_key(&66) {
                    merged.remove(&66);
                }
            }
        }
        let tftp_first = tftp_first.unwrap_or(inp.server_id);
        merged
            .entry(150)
            .or_insert_with(|| to_dhcp_option(150, inp.server_id.octets().to_vec()));
        merged
            .entry(66)
            .or_insert_with(|| DhcpOption::TFTPServerName(tftp_first.to_string().into_bytes()));

        for code in [1u8, 3, 150, 66] {
            if let Some(opt) = merged.remove(&code) {
                chosen.push((code, opt));
            }
        }
        match prl(inp.req) {
            Some(list) => {
                for code in list {
                    if let Some(opt) = merged.remove(&code) {
                        chosen.push((code, opt));
                    }
                }
            }
            None => chosen.extend(merged),
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
    let lens: Vec<usize> = chosen.iter().map(|(_, o)| encoded_len(o)).collect();
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
