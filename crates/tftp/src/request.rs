//! Judging a read request: mode, name, and which options the server will
//! honour (RFC 2347 negotiation, RFC 2348 blksize, RFC 2349 timeout and tsize,
//! RFC 7440 windowsize).

use std::time::Duration;

use crate::path::sanitize;
use crate::wire::{ErrorCode, RawRequest, RequestKind};
use crate::RequestError;

/// Server-wide transfer policy. Plain data so the binary can fill it from its
/// config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The largest block size granted. 1468 keeps a DATA packet inside a
    /// 1500-byte Ethernet frame (1500 − 20 IP − 8 UDP − 4 TFTP), so no phone
    /// ever sees a fragmented datagram.
    pub max_blksize: u16,
    /// The largest window granted (RFC 7440).
    pub max_windowsize: u16,
    /// A window is also capped so window × blksize stays under this many
    /// bytes: large windows of large blocks overflow UDP socket buffers.
    pub max_window_bytes: usize,
    /// The retransmission timeout before any round trip has been measured.
    pub initial_rto: Duration,
    /// The floor of the measured retransmission timeout.
    pub min_rto: Duration,
    /// The ceiling of the retransmission timeout, after back-off. A client's
    /// `timeout` option lowers it further.
    pub max_rto: Duration,
    /// Consecutive timeouts without progress before the transfer is abandoned.
    pub max_retries: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_blksize: 1468,
            max_windowsize: 64,
            max_window_bytes: 256 * 1024,
            initial_rto: Duration::from_millis(250),
            min_rto: Duration::from_millis(50),
            max_rto: Duration::from_secs(2),
            max_retries: 10,
        }
    }
}

/// RFC 1350 transfer modes. `mail` is obsolete and refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Octet,
    Netascii,
}

/// The options a client asked for, after validation. Invalid values are
/// dropped (and listed in `ignored`) rather than failing the transfer: the
/// client then gets RFC 1350 defaults, which every client handles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedOptions {
    /// RFC 2348: 8..=65464.
    pub blksize: Option<u16>,
    /// RFC 2349: the client asked for the transfer size.
    pub tsize: bool,
    /// RFC 2349: 1..=255 seconds.
    pub timeout: Option<u8>,
    /// RFC 7440: 1..=65535 blocks.
    pub windowsize: Option<u16>,
    /// Unknown options and known ones with invalid values, as sent: logged so
    /// the operator learns what phones send.
    pub ignored: Vec<(String, String)>,
}

/// A read request the server accepted for resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The name as the client sent it.
    pub original_name: String,
    /// The sanitised relative path (see [`crate::path::sanitize`]).
    pub path: String,
    pub mode: Mode,
    pub options: RequestedOptions,
}

impl Request {
    /// Judges a parsed request. Write requests are refused: phoneboot never
    /// lets the network change what it serves.
    pub fn from_raw(raw: &RawRequest<'_>) -> Result<Request, RequestError> {
        if raw.kind == RequestKind::Write {
            return Err(RequestError::WriteRefused);
        }
        let mode = match raw.mode.to_ascii_lowercase().as_str() {
            "octet" | "binary" => Mode::Octet,
            "netascii" | "ascii" => Mode::Netascii,
            other => return Err(RequestError::UnsupportedMode(other.to_owned())),
        };
        let path = sanitize(raw.filename).map_err(|source| RequestError::BadName {
            name: raw.filename.escape_debug().to_string(),
            source,
        })?;
        Ok(Request {
            original_name: raw.filename.to_owned(),
            path,
            mode,
            options: parse_options(&raw.options),
        })
    }
}

fn parse_options(pairs: &[(&str, &str)]) -> RequestedOptions {
    let mut out = RequestedOptions::default();
    let mut seen: Vec<String> = Vec::new();
    for &(name, value) in pairs {
        let key = name.to_ascii_lowercase();
        // RFC 2347 does not define duplicates; the first one wins.
        if seen.contains(&key) {
            out.ignored.push((name.to_owned(), value.to_owned()));
            continue;
        }
        seen.push(key.clone());
        let number = value.trim().parse::<u64>().ok();
        let accepted = match (key.as_str(), number) {
            ("blksize", Some(n @ 8..=65464)) => {
                out.blksize = u16::try_from(n).ok();
                true
            }
            // RFC 2349: a read request carries tsize 0; any value is accepted,
            // the server answers with the real size.
            ("tsize", Some(_)) => {
                out.tsize = true;
                true
            }
            ("timeout", Some(n @ 1..=255)) => {
                out.timeout = u8::try_from(n).ok();
                true
            }
            ("windowsize", Some(n @ 1..=65535)) => {
                out.windowsize = u16::try_from(n).ok();
                true
            }
            _ => false,
        };
        if !accepted {
            out.ignored.push((name.to_owned(), value.to_owned()));
        }
    }
    out
}

impl RequestError {
    /// The TFTP error code a client gets for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            RequestError::WriteRefused | RequestError::BadName { .. } => ErrorCode::AccessViolation,
            RequestError::UnsupportedMode(_)
            | RequestError::Malformed(_)
            | RequestError::NotARequest => ErrorCode::IllegalOperation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(name: &'a str, mode: &'a str, options: Vec<(&'a str, &'a str)>) -> RawRequest<'a> {
        RawRequest {
            kind: RequestKind::Read,
            filename: name,
            mode,
            options,
        }
    }

    #[test]
    fn accepts_octet_and_netascii_any_case() {
        assert_eq!(
            Request::from_raw(&raw("a", "OCTET", vec![])).unwrap().mode,
            Mode::Octet
        );
        assert_eq!(
            Request::from_raw(&raw("a", "NetAscii", vec![]))
                .unwrap()
                .mode,
            Mode::Netascii
        );
        assert!(matches!(
            Request::from_raw(&raw("a", "mail", vec![])),
            Err(RequestError::UnsupportedMode(_))
        ));
    }

    #[test]
    fn write_requests_are_refused_with_access_violation() {
        let mut r = raw("a", "octet", vec![]);
        r.kind = RequestKind::Write;
        let err = Request::from_raw(&r).unwrap_err();
        assert_eq!(err.code(), ErrorCode::AccessViolation);
    }

    #[test]
    fn option_ranges() {
        let r = Request::from_raw(&raw(
            "a",
            "octet",
            vec![
                ("BLKSIZE", "1428"),
                ("tsize", "0"),
                ("timeout", "6"),
                ("windowsize", "16"),
            ],
        ))
        .unwrap();
        assert_eq!(r.options.blksize, Some(1428));
        assert!(r.options.tsize);
        assert_eq!(r.options.timeout, Some(6));
        assert_eq!(r.options.windowsize, Some(16));
        assert!(r.options.ignored.is_empty());

        let absurd = Request::from_raw(&raw(
            "a",
            "octet",
            vec![
                ("blksize", "1"),
                ("timeout", "0"),
                ("windowsize", "0"),
                ("tsize", "-5"),
                ("multicast", ""),
                ("blksize", "512"),
            ],
        ))
        .unwrap();
        assert_eq!(absurd.options.blksize, None);
        assert_eq!(absurd.options.timeout, None);
        assert_eq!(absurd.options.windowsize, None);
        assert!(!absurd.options.tsize);
        assert_eq!(absurd.options.ignored.len(), 6);
    }
}
