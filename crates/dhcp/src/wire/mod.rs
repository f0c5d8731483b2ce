//! Everything that touches bytes: decoding a datagram, the reply's header
//! and options (`options`), and encoding the reply.
//!
//! Decoding: dhcproto 0.12 checks some option lengths with `debug_assert!`
//! (80, 94, 152-155, 81) and subtracts without a check for 151, so a hostile
//! packet panics a debug or fuzzing build. [`decode`] walks the option TLVs
//! first and refuses those lengths, then lets dhcproto do the decoding.
//! Drivers and fuzz targets decode with it, never with `Message::decode`
//! directly.
//!
//! Encoding: dhcproto writes the header and each option, but its options
//! encoder follows hash order, so [`Reply::encode`] writes the options in the
//! order `options::build` chose (RFC 2132 §3.3 wants the mask before the
//! router), then End and padding.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, DhcpOptions, HType, Message, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

use crate::config::Mac;
use crate::contract::Reply;

pub(crate) mod options;

use options::ReplyKind;

/// BOOTP fixed header (236 bytes) plus the magic cookie.
const OPTIONS_START: usize = 240;
/// Older relays and BOOTP clients drop messages shorter than this
/// (RFC 1542 §3.1.1), so replies are padded up to it.
const MIN_BOOTP_LEN: usize = 300;
const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// Why a datagram is not a DHCP message we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("datagram of {0} bytes is shorter than a DHCP header (240 bytes); ignoring it")]
    Short(usize),
    #[error("magic cookie {0:02x?} is not 63 82 53 63: not DHCP (plain BOOTP is not served)")]
    BadCookie([u8; 4]),
    #[error(
        "option {code} has length {len}, which is invalid for that option; ignoring the datagram"
    )]
    BadOptionLength { code: u8, len: usize },
    #[error("cannot decode DHCP message: {0}")]
    Decode(String),
}

/// Lengths dhcproto would assert on; `len` is the total of a run of
/// consecutive same-code options, as dhcproto joins them (RFC 3396).
fn length_ok(code: u8, len: usize) -> bool {
    match code {
        80 => len == 0,
        81 => len >= 3,
        94 => len == 3,
        151 => len >= 1,
        152..=155 => len == 4,
        _ => true,
    }
}

/// Checks the option area, then decodes with dhcproto.
pub fn decode(data: &[u8]) -> Result<Message, WireError> {
    let cookie: [u8; 4] = data
        .get(OPTIONS_START - 4..OPTIONS_START)
        .and_then(|c| c.try_into().ok())
        .ok_or(WireError::Short(data.len()))?;
    if cookie != MAGIC {
        return Err(WireError::BadCookie(cookie));
    }
    let mut i = OPTIONS_START;
    let mut run: Option<(u8, usize)> = None;
    let check = |run: Option<(u8, usize)>| match run {
        Some((code, len)) if !length_ok(code, len) => Err(WireError::BadOptionLength { code, len }),
        _ => Ok(()),
    };
    while let Some(&code) = data.get(i) {
        if code == 255 {
            break;
        }
        if code == 0 {
            check(run.take())?;
            i = i.saturating_add(1);
            continue;
        }
        let Some(&len) = data.get(i.saturating_add(1)) else {
            break;
        };
        let len = usize::from(len);
        let end = i.saturating_add(2).saturating_add(len);
        if end > data.len() {
            // dhcproto stops at a truncated option; so do we.
            break;
        }
        run = match run {
            Some((c, total)) if c == code => Some((c, total.saturating_add(len))),
            other => {
                check(other)?;
                Some((code, len))
            }
        };
        i = end;
    }
    check(run)?;
    Message::decode(&mut Decoder::new(data)).map_err(|e| WireError::Decode(e.to_string()))
}

/// chaddr as a MAC, only for Ethernet with hlen 6. (dhcproto's `chaddr()`
/// slices by hlen and panics when hlen > 16, so hlen is checked first.)
pub(crate) fn mac_of(msg: &Message) -> Option<Mac> {
    if msg.htype() != HType::Eth || msg.hlen() != 6 {
        return None;
    }
    <[u8; 6]>::try_from(msg.chaddr()).ok().map(Mac)
}

/// The reply's header from the request's, RFC 2131 table 3: xid, flags,
/// giaddr and chaddr copied; hops and secs 0; sname and file unused.
pub(crate) fn reply_message(
    req: &Message,
    kind: ReplyKind,
    yiaddr: Ipv4Addr,
    next_server: Ipv4Addr,
    opts: DhcpOptions,
) -> Message {
    let mut m = req.clone();
    m.set_opcode(Opcode::BootReply);
    m.set_hops(0);
    m.set_secs(0);
    m.clear_sname();
    m.clear_fname();
    m.set_yiaddr(yiaddr);
    match kind {
        // Table 3: ciaddr 0 in OFFER and NAK.
        ReplyKind::Offer | ReplyKind::Nak => {
            m.set_ciaddr(Ipv4Addr::UNSPECIFIED);
        }
        ReplyKind::Ack | ReplyKind::InformAck => {}
    }
    if kind == ReplyKind::Nak {
        m.set_siaddr(Ipv4Addr::UNSPECIFIED);
        // §4.1: "If 'giaddr' is set in the DHCPREQUEST message, the client
        // is on a different subnet. The server MUST set the broadcast bit
        // in the DHCPNAK, so that the relay agent will broadcast the
        // DHCPNAK to the client".
        if !req.giaddr().is_unspecified() {
            m.set_flags(m.flags().set_broadcast());
        }
    } else {
        // siaddr: "IP address of next server to use in bootstrap" — the
        // first TFTP server, for clients that look there.
        m.set_siaddr(next_server);
    }
    m.set_opts(opts);
    m
}

/// The reply could not be encoded (a dhcproto encoder error).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode DHCP reply for {mac}: {source} (this is a bug; please report it with the event log)")]
pub struct EncodeError {
    mac: String,
    #[source]
    source: dhcproto::error::EncodeError,
}

impl Reply {
    /// The datagram: dhcproto encodes the header and each option; this
    /// orders the options, adds End and pads to 300 bytes (RFC 1542 §3.1.1).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let err = |source| EncodeError {
            mac: mac_of(&self.message).map_or_else(|| "?".into(), |m| m.to_string()),
            source,
        };
        let mut head = self.message.clone();
        head.set_opts(DhcpOptions::new());
        let mut out = head.to_vec().map_err(err)?;
        let mut written = Vec::with_capacity(self.order.len());
        for code in &self.order {
            if let Some(opt) = self.message.opts().get(OptionCode::from(*code)) {
                out.extend(opt.to_vec().map_err(err)?);
                written.push(*code);
            }
        }
        // Anything a caller added to `message` after `decide` still goes out.
        let mut rest: Vec<(&OptionCode, &DhcpOption)> = self
            .message
            .opts()
            .iter()
            .filter(|(c, _)| !written.contains(&u8::from(**c)))
            .collect();
        rest.sort_by_key(|(c, _)| u8::from(**c));
        for (_, opt) in rest {
            out.extend(opt.to_vec().map_err(err)?);
        }
        out.push(255);
        if out.len() < MIN_BOOTP_LEN {
            out.resize(MIN_BOOTP_LEN, 0);
        }
        Ok(out)
    }
}
