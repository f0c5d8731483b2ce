//! TFTP packets (RFC 1350, RFC 2347 OACK): a checked parse into [`Repr`] and an
//! emit into a caller-owned buffer.
//!
//! Parsing never panics: every length is checked before a field is read, and
//! unknown opcodes and error codes become values (`Unknown`) so the caller
//! decides what they mean.

use crate::WireError;

/// The size of the fixed DATA/ACK header (opcode + block number).
pub const DATA_HEADER_LEN: usize = 4;

/// A TFTP opcode; unknown values are kept so the caller can answer them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Rrq,
    Wrq,
    Data,
    Ack,
    Error,
    Oack,
    Unknown(u16),
}

impl From<u16> for Opcode {
    fn from(v: u16) -> Self {
        match v {
            1 => Opcode::Rrq,
            2 => Opcode::Wrq,
            3 => Opcode::Data,
            4 => Opcode::Ack,
            5 => Opcode::Error,
            6 => Opcode::Oack,
            other => Opcode::Unknown(other),
        }
    }
}

impl From<Opcode> for u16 {
    fn from(op: Opcode) -> u16 {
        match op {
            Opcode::Rrq => 1,
            Opcode::Wrq => 2,
            Opcode::Data => 3,
            Opcode::Ack => 4,
            Opcode::Error => 5,
            Opcode::Oack => 6,
            Opcode::Unknown(v) => v,
        }
    }
}

/// RFC 1350 error codes, plus RFC 2347's 8 (option negotiation refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotDefined,
    FileNotFound,
    AccessViolation,
    DiskFull,
    IllegalOperation,
    UnknownTransferId,
    FileExists,
    NoSuchUser,
    OptionRefused,
    Unknown(u16),
}

impl From<u16> for ErrorCode {
    fn from(v: u16) -> Self {
        match v {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTransferId,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            other => ErrorCode::Unknown(other),
        }
    }
}

impl From<ErrorCode> for u16 {
    fn from(c: ErrorCode) -> u16 {
        match c {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTransferId => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionRefused => 8,
            ErrorCode::Unknown(v) => v,
        }
    }
}

/// Whether a request reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Read,
    Write,
}

/// A read or write request as it came off the wire: the raw fields, not yet
/// judged. Option names and values are kept in order, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest<'a> {
    pub kind: RequestKind,
    pub filename: &'a str,
    pub mode: &'a str,
    pub options: Vec<(&'a str, &'a str)>,
}

/// One parsed TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repr<'a> {
    Request(RawRequest<'a>),
    Data {
        block: u16,
        data: &'a [u8],
    },
    Ack {
        block: u16,
    },
    Error {
        code: ErrorCode,
        message: &'a str,
    },
    Oack {
        options: Vec<(&'a str, &'a str)>,
    },
    /// A well-formed header with an opcode this crate does not know.
    Unknown {
        opcode: u16,
    },
}

fn be_u16(buf: &[u8], at: usize) -> Result<u16, WireError> {
    match buf.get(at..at + 2) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(WireError::Truncated),
    }
}

/// Splits NUL-terminated strings. The last field may lack its NUL (some
/// clients omit it); fields must be UTF-8 (phones send ASCII).
fn fields(buf: &[u8]) -> Result<Vec<&str>, WireError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let (field, tail) = match rest.iter().position(|&b| b == 0) {
            Some(nul) => (&rest[..nul], &rest[nul + 1..]),
            None => (rest, &[][..]),
        };
        out.push(std::str::from_utf8(field).map_err(|_| WireError::NotUtf8)?);
        rest = tail;
    }
    Ok(out)
}

/// Pairs option fields, dropping an unpaired empty trailing field: an early
/// 7960 sent an extra NUL after the mode, and some clients pad.
fn option_pairs<'a>(mut fields: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    while let Some((last, init)) = fields.split_last() {
        if last.is_empty() && fields.len() % 2 == 1 {
            fields = init;
        } else {
            break;
        }
    }
    // A name with no value is ignored rather than failing the whole request.
    fields
        .chunks_exact(2)
        .map(|pair| (pair[0], pair[1]))
        .collect()
}

impl<'a> Repr<'a> {
    /// Parses one datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Repr<'a>, WireError> {
        let opcode = Opcode::from(be_u16(buf, 0)?);
        let body = buf.get(2..).unwrap_or_default();
        match opcode {
            Opcode::Rrq | Opcode::Wrq => {
                let f = fields(body)?;
                let (filename, mode) = match f.as_slice() {
                    [name, mode, ..] => (*name, *mode),
                    _ => return Err(WireError::MissingField),
                };
                if filename.is_empty() {
                    return Err(WireError::MissingField);
                }
                let kind = if opcode == Opcode::Rrq {
                    RequestKind::Read
                } else {
                    RequestKind::Write
                };
                Ok(Repr::Request(RawRequest {
                    kind,
                    filename,
                    mode,
                    options: option_pairs(f.get(2..).unwrap_or_default()),
                }))
            }
            Opcode::Data => Ok(Repr::Data {
                block: be_u16(buf, 2)?,
                data: buf.get(4..).unwrap_or_default(),
            }),
            Opcode::Ack => Ok(Repr::Ack {
                block: be_u16(buf, 2)?,
            }),
            Opcode::Error => {
                let code = ErrorCode::from(be_u16(buf, 2)?);
                let msg = buf.get(4..).unwrap_or_default();
                let msg = msg.split(|&b| b == 0).next().unwrap_or_default();
                // Error text is for humans; never fail a packet over its encoding.
                let message = std::str::from_utf8(msg).unwrap_or("(non-UTF-8 message)");
                Ok(Repr::Error { code, message })
            }
            Opcode::Oack => Ok(Repr::Oack {
                options: option_pairs(&fields(body)?),
            }),
            Opcode::Unknown(opcode) => Ok(Repr::Unknown { opcode }),
        }
    }

    /// Appends the packet's bytes to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Repr::Request(r) => {
                let op = match r.kind {
                    RequestKind::Read => Opcode::Rrq,
                    RequestKind::Write => Opcode::Wrq,
                };
                out.extend_from_slice(&u16::from(op).to_be_bytes());
                for s in [r.filename, r.mode] {
                    push_cstr(out, s);
                }
                for (k, v) in &r.options {
                    push_cstr(out, k);
                    push_cstr(out, v);
                }
            }
            Repr::Data { block, data } => {
                emit_data_header(out, *block);
                out.extend_from_slice(data);
            }
            Repr::Ack { block } => {
                out.extend_from_slice(&u16::from(Opcode::Ack).to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
            }
            Repr::Error { code, message } => emit_error(out, *code, message),
            Repr::Oack { options } => {
                out.extend_from_slice(&u16::from(Opcode::Oack).to_be_bytes());
                for (k, v) in options {
                    push_cstr(out, k);
                    push_cstr(out, v);
                }
            }
            Repr::Unknown { opcode } => out.extend_from_slice(&opcode.to_be_bytes()),
        }
    }
}

fn push_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// Writes a DATA header; the payload follows.
pub fn emit_data_header(out: &mut Vec<u8>, block: u16) {
    out.extend_from_slice(&data_header(block));
}

/// The four bytes that open DATA `block`.
pub fn data_header(block: u16) -> [u8; DATA_HEADER_LEN] {
    let [o0, o1] = u16::from(Opcode::Data).to_be_bytes();
    let [b0, b1] = block.to_be_bytes();
    [o0, o1, b0, b1]
}

/// Writes an ERROR packet. Embedded NULs in `message` are dropped so the
/// packet stays well-formed.
pub fn emit_error(out: &mut Vec<u8>, code: ErrorCode, message: &str) {
    out.extend_from_slice(&u16::from(Opcode::Error).to_be_bytes());
    out.extend_from_slice(&u16::from(code).to_be_bytes());
    out.extend(message.bytes().filter(|&b| b != 0));
    out.push(0);
}

/// A ready ERROR packet, for answers sent outside a transfer.
pub fn error_packet(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    emit_error(&mut out, code, message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    static RRQ: [u8; 32] = *b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00";

    #[test]
    fn parse_rrq() {
        let r = Repr::parse(&RRQ).unwrap();
        assert_eq!(
            r,
            Repr::Request(RawRequest {
                kind: RequestKind::Read,
                filename: "SEP001122334455.cnf.xml",
                mode: "octet",
                options: vec![],
            })
        );
    }

    #[test]
    fn emit_rrq_round_trips_into_prefilled_buffer() {
        let r = Repr::parse(&RRQ).unwrap();
        let mut out = vec![0xa5; 3];
        r.emit(&mut out);
        assert_eq!(&out[..3], &[0xa5; 3]);
        assert_eq!(&out[3..], &RRQ[..]);
    }

    #[test]
    fn rrq_with_options_and_trailing_empty_fields() {
        let pkt = b"\x00\x01a.bin\x00octet\x00blksize\x001428\x00tsize\x000\x00\x00";
        match Repr::parse(pkt).unwrap() {
            Repr::Request(r) => {
                assert_eq!(r.options, vec![("blksize", "1428"), ("tsize", "0")]);
            }
            other => panic!("{other:?}"),
        }
        let early_7960 = b"\x00\x01OS79XX.TXT\x00octet\x00\x00";
        match Repr::parse(early_7960).unwrap() {
            Repr::Request(r) => {
                assert_eq!((r.filename, r.mode), ("OS79XX.TXT", "octet"));
                assert!(r.options.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rrq_without_final_nul_is_tolerated() {
        let pkt = b"\x00\x01a.bin\x00octet";
        assert!(matches!(Repr::parse(pkt), Ok(Repr::Request(r)) if r.mode == "octet"));
    }

    #[test]
    fn dangling_option_name_is_ignored() {
        let pkt = b"\x00\x01a\x00octet\x00blksize\x001024\x00windowsize\x00";
        match Repr::parse(pkt).unwrap() {
            Repr::Request(r) => assert_eq!(r.options, vec![("blksize", "1024")]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn data_ack_error_oack() {
        let data = b"\x00\x03\x12\x34hello";
        assert_eq!(
            Repr::parse(data).unwrap(),
            Repr::Data {
                block: 0x1234,
                data: b"hello"
            }
        );
        assert_eq!(
            Repr::parse(b"\x00\x04\xff\xff").unwrap(),
            Repr::Ack { block: 0xffff }
        );
        assert_eq!(
            Repr::parse(b"\x00\x05\x00\x08tsize probe\x00").unwrap(),
            Repr::Error {
                code: ErrorCode::OptionRefused,
                message: "tsize probe"
            }
        );
        let oack = Repr::Oack {
            options: vec![("blksize", "1428"), ("tsize", "99")],
        };
        let mut out = Vec::new();
        oack.emit(&mut out);
        assert_eq!(Repr::parse(&out).unwrap(), oack);
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        assert_eq!(Repr::parse(b""), Err(WireError::Truncated));
        assert_eq!(Repr::parse(b"\x00"), Err(WireError::Truncated));
        assert_eq!(Repr::parse(b"\x00\x04\x01"), Err(WireError::Truncated));
        assert_eq!(Repr::parse(b"\x00\x01"), Err(WireError::MissingField));
        assert_eq!(
            Repr::parse(b"\x00\x01\x00octet\x00"),
            Err(WireError::MissingField)
        );
        assert_eq!(
            Repr::parse(b"\x00\x01name\x00"),
            Err(WireError::MissingField)
        );
        assert_eq!(
            Repr::parse(b"\x00\x01\xff\xfe\x00octet\x00"),
            Err(WireError::NotUtf8)
        );
        assert_eq!(
            Repr::parse(b"\x00\x09xx").unwrap(),
            Repr::Unknown { opcode: 9 }
        );
    }

    #[test]
    fn error_packet_strips_nul_from_message() {
        let pkt = error_packet(ErrorCode::FileNotFound, "a\0b");
        assert_eq!(pkt, b"\x00\x05\x00\x01ab\x00");
    }
}
