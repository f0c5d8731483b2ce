//! Decoding a datagram into a dhcproto `Message`, safely.
//!
//! dhcproto 0.12 checks some option lengths with `debug_assert!` (80, 94,
//! 152-155, 81) and subtracts without a check for 151, so a hostile packet
//! panics a debug or fuzzing build. [`decode`] walks the option TLVs first
//! and refuses those lengths, then lets dhcproto do the decoding. Drivers
//! and fuzz targets decode with it, never with `Message::decode` directly.

use dhcproto::v4::{HType, Message};
use dhcproto::{Decodable, Decoder};

use crate::config::Mac;

/// BOOTP fixed header (236 bytes) plus the magic cookie.
const OPTIONS_START: usize = 240;
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
