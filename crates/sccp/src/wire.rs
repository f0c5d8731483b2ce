//! SCCP frames and the registration messages, both directions.
//!
//! A frame is `LE32 length | LE32 header version | LE32 message id | body`,
//! where `length` counts the message id and the body but not the first 8
//! bytes, so a frame is `length + 8` bytes on the wire. Bodies are padded
//! with zeros to a multiple of 4 when emitted.
//!
//! Guarantees:
//! - Nothing here panics on any input, and nothing allocates more than the
//!   bytes that actually arrived: a length field above [`MAX_LENGTH`] is an
//!   error before a byte of body is read.
//! - Every message id parses. Ids without a typed body become
//!   [`Message::Unknown`] with their body kept, so the caller decides.
//! - Bodies parse by the length the header gives: missing fields read as
//!   zero (older loads send shorter messages), extra bytes are ignored.
//! - Fixed `char[N]` fields hold at most `N - 1` characters when emitted, so
//!   a peer that reads them as C strings always finds the NUL. Characters
//!   outside printable ASCII become `?` both ways.

use std::net::Ipv4Addr;

use crate::device::DeviceType;
use crate::protocol::ProtocolVersion;
use crate::{EmitError, FrameError};

/// Bytes before the message id: length and header version.
pub const HEADER_LEN: usize = 8;

/// Largest `length` field accepted (message id + body). Real registration
/// messages are under 300 bytes; the largest call-control messages are
/// around 2 KiB.
pub const MAX_LENGTH: u32 = 4096;

/// Largest body that fits under [`MAX_LENGTH`].
pub const MAX_BODY_LEN: usize = MAX_LENGTH as usize - 4;

macro_rules! message_ids {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $dir:ident; )*) => {
        /// A message id. Ids this crate has no name for keep their value in
        /// `Unknown`. Names are Wireshark's (`tshark -G values`, skinny).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MessageId {
            $( $(#[$doc])* $name, )*
            Unknown(u32),
        }

        impl From<u32> for MessageId {
            fn from(v: u32) -> Self {
                match v {
                    $( $value => MessageId::$name, )*
                    other => MessageId::Unknown(other),
                }
            }
        }

        impl From<MessageId> for u32 {
            fn from(id: MessageId) -> u32 {
                match id {
                    $( MessageId::$name => $value, )*
                    MessageId::Unknown(v) => v,
                }
            }
        }

        impl MessageId {
            /// Every named id, for exhaustive tests.
            pub const NAMED: &'static [MessageId] = &[ $( MessageId::$name, )* ];

            /// Who sends this message, or `None` for an unnamed id.
            pub fn direction(self) -> Option<Direction> {
                match self {
                    $( MessageId::$name => Some(Direction::$dir), )*
                    MessageId::Unknown(_) => None,
                }
            }
        }
    };
}

message_ids! {
    KeepAlive = 0x0000, PhoneToServer;
    Register = 0x0001, PhoneToServer;
    IpPort = 0x0002, PhoneToServer;
    ForwardStatReq = 0x0009, PhoneToServer;
    SpeedDialStatReq = 0x000a, PhoneToServer;
    LineStatReq = 0x000b, PhoneToServer;
    ConfigStatReq = 0x000c, PhoneToServer;
    TimeDateReq = 0x000d, PhoneToServer;
    ButtonTemplateReq = 0x000e, PhoneToServer;
    VersionReq = 0x000f, PhoneToServer;
    CapabilitiesRes = 0x0010, PhoneToServer;
    ServerReq = 0x0012, PhoneToServer;
    Alarm = 0x0020, PhoneToServer;
    SoftKeySetReq = 0x0025, PhoneToServer;
    Unregister = 0x0027, PhoneToServer;
    SoftKeyTemplateReq = 0x0028, PhoneToServer;
    HeadsetStatus = 0x002b, PhoneToServer;
    RegisterAvailableLines = 0x002d, PhoneToServer;
    UpdateCapabilities = 0x0030, PhoneToServer;
    CapabilitiesV2Res = 0x0043, PhoneToServer;
    CapabilitiesV3Res = 0x0044, PhoneToServer;
    RegisterAck = 0x0081, ServerToPhone;
    CapabilitiesReq = 0x009b, ServerToPhone;
    RegisterReject = 0x009d, ServerToPhone;
    Reset = 0x009f, ServerToPhone;
    KeepAliveAck = 0x0100, ServerToPhone;
    UnregisterAck = 0x0118, ServerToPhone;
}

/// Who sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    PhoneToServer,
    ServerToPhone,
}

/// What a Reset asks the phone to do (Wireshark `DeviceResetType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetType {
    /// Full reboot: DHCP, TFTP, config and load check. This is what makes a
    /// phone take the next firmware hop.
    Reset,
    /// Quick restart: re-reads its config by TFTP and registers again,
    /// without DHCP.
    Restart,
    /// Re-read the config without restarting (newer loads only).
    ApplyConfig,
    Unknown(u32),
}

impl From<u32> for ResetType {
    fn from(v: u32) -> Self {
        match v {
            1 => ResetType::Reset,
            2 => ResetType::Restart,
            3 => ResetType::ApplyConfig,
            other => ResetType::Unknown(other),
        }
    }
}

impl From<ResetType> for u32 {
    fn from(t: ResetType) -> u32 {
        match t {
            ResetType::Reset => 1,
            ResetType::Restart => 2,
            ResetType::ApplyConfig => 3,
            ResetType::Unknown(v) => v,
        }
    }
}

/// Register (0x0001). The short form (79x0 8.x loads) ends after `mac`;
/// the long form (79x1 and later) runs through `load_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// `SEP` + the MAC in hex for phones.
    pub device_name: String,
    pub user_id: u32,
    pub instance: u32,
    /// Sent in network byte order, unlike every other field.
    pub station_ip: Ipv4Addr,
    pub device_type: DeviceType,
    pub max_streams: u32,
    pub active_streams: u32,
    /// The highest protocol version the phone speaks.
    pub protocol_version: u8,
    /// The three bytes after the protocol version (phone features).
    pub features: [u8; 3],
    pub max_conferences: u32,
    pub active_conferences: u32,
    /// Raw; phones fill it inconsistently. Use the device name for the MAC.
    pub mac_field: [u8; 12],
    pub ipv4_scope: u32,
    pub max_lines: u32,
    pub ipv6: [u8; 16],
    pub ipv6_scope: u32,
    /// The running load (`SCCP41.8-5-3S`), only in the long form; `None`
    /// when absent or empty.
    pub load_info: Option<String>,
}

/// Body length of the short Register form.
pub const REGISTER_SHORT_LEN: usize = 64;
/// Body length of the long Register form, through `load_info`.
pub const REGISTER_LONG_LEN: usize = 124;

mod register_field {
    pub const NAME: usize = 0;
    pub const NAME_LEN: usize = 16;
    pub const USER_ID: usize = 16;
    pub const INSTANCE: usize = 20;
    pub const IP: usize = 24;
    pub const DEVICE_TYPE: usize = 28;
    pub const MAX_STREAMS: usize = 32;
    pub const ACTIVE_STREAMS: usize = 36;
    pub const PROTOCOL: usize = 40;
    pub const FEATURES: usize = 41;
    pub const MAX_CONFERENCES: usize = 44;
    pub const ACTIVE_CONFERENCES: usize = 48;
    pub const MAC: usize = 52;
    pub const IPV4_SCOPE: usize = 64;
    pub const MAX_LINES: usize = 68;
    pub const IPV6: usize = 72;
    pub const IPV6_SCOPE: usize = 88;
    pub const LOAD_INFO: usize = 92;
    pub const LOAD_INFO_LEN: usize = 32;
}

impl Default for Register {
    fn default() -> Register {
        Register {
            device_name: String::new(),
            user_id: 0,
            instance: 0,
            station_ip: Ipv4Addr::UNSPECIFIED,
            device_type: DeviceType::default(),
            max_streams: 0,
            active_streams: 0,
            protocol_version: 0,
            features: [0; 3],
            max_conferences: 0,
            active_conferences: 0,
            mac_field: [0; 12],
            ipv4_scope: 0,
            max_lines: 0,
            ipv6: [0; 16],
            ipv6_scope: 0,
            load_info: None,
        }
    }
}

impl Register {
    /// The MAC named by a `SEP<12 hex digits>` device name.
    pub fn mac(&self) -> Option<[u8; 6]> {
        mac_from_device_name(&self.device_name)
    }

    /// True when the fields past the short form carry anything, so emitting
    /// must use the long form.
    fn is_long(&self) -> bool {
        self.load_info.is_some()
            || self.ipv4_scope != 0
            || self.max_lines != 0
            || self.ipv6 != [0; 16]
            || self.ipv6_scope != 0
    }

    fn body_len(&self) -> usize {
        if self.is_long() {
            REGISTER_LONG_LEN
        } else {
            REGISTER_SHORT_LEN
        }
    }

    fn parse(body: &[u8]) -> Register {
        use register_field as f;
        let b: [u8; REGISTER_LONG_LEN] = zero_filled(body);
        let load = fixed_str(&b[f::LOAD_INFO..f::LOAD_INFO + f::LOAD_INFO_LEN]);
        Register {
            device_name: fixed_str(&b[f::NAME..f::NAME + f::NAME_LEN]),
            user_id: le32(&b, f::USER_ID),
            instance: le32(&b, f::INSTANCE),
            station_ip: Ipv4Addr::new(b[f::IP], b[f::IP + 1], b[f::IP + 2], b[f::IP + 3]),
            device_type: DeviceType(le32(&b, f::DEVICE_TYPE)),
            max_streams: le32(&b, f::MAX_STREAMS),
            active_streams: le32(&b, f::ACTIVE_STREAMS),
            protocol_version: b[f::PROTOCOL],
            features: [b[f::FEATURES], b[f::FEATURES + 1], b[f::FEATURES + 2]],
            max_conferences: le32(&b, f::MAX_CONFERENCES),
            active_conferences: le32(&b, f::ACTIVE_CONFERENCES),
            mac_field: array_at(&b, f::MAC),
            ipv4_scope: le32(&b, f::IPV4_SCOPE),
            max_lines: le32(&b, f::MAX_LINES),
            ipv6: array_at(&b, f::IPV6),
            ipv6_scope: le32(&b, f::IPV6_SCOPE),
            load_info: (!load.is_empty()).then_some(load),
        }
    }

    fn emit_body(&self, out: &mut Vec<u8>) {
        use register_field as f;
        put_str(out, &self.device_name, f::NAME_LEN);
        put32(out, self.user_id);
        put32(out, self.instance);
        out.extend_from_slice(&self.station_ip.octets());
        put32(out, self.device_type.0);
        put32(out, self.max_streams);
        put32(out, self.active_streams);
        out.push(self.protocol_version);
        out.extend_from_slice(&self.features);
        put32(out, self.max_conferences);
        put32(out, self.active_conferences);
        out.extend_from_slice(&self.mac_field);
        if self.is_long() {
            put32(out, self.ipv4_scope);
            put32(out, self.max_lines);
            out.extend_from_slice(&self.ipv6);
            put32(out, self.ipv6_scope);
            put_str(
                out,
                self.load_info.as_deref().unwrap_or(""),
                f::LOAD_INFO_LEN,
            );
        }
    }
}

/// RegisterAck (0x0081): 20 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterAck {
    /// Seconds between the phone's KeepAlives.
    pub keepalive_secs: u32,
    /// How the phone shows dates, e.g. `M/D/Y`; at most 5 characters are
    /// emitted (the field is 6 bytes).
    pub date_template: String,
    pub secondary_keepalive_secs: u32,
    /// The negotiated protocol version.
    pub protocol_version: u8,
    /// Feature bytes that go with the version ([`ProtocolVersion::register_ack_features`]).
    pub features: [u8; 3],
}

/// Size of RegisterAck's `dateTemplate`.
pub const DATE_TEMPLATE_LEN: usize = 6;

impl RegisterAck {
    /// The ack for a negotiated version, with the feature bytes it needs.
    pub fn new(
        keepalive_secs: u32,
        date_template: &str,
        secondary_keepalive_secs: u32,
        version: ProtocolVersion,
    ) -> RegisterAck {
        RegisterAck {
            keepalive_secs,
            date_template: date_template.to_owned(),
            secondary_keepalive_secs,
            protocol_version: version.get(),
            features: version.register_ack_features(),
        }
    }

    fn parse(body: &[u8]) -> RegisterAck {
        let b: [u8; 20] = zero_filled(body);
        RegisterAck {
            keepalive_secs: le32(&b, 0),
            date_template: fixed_str(&b[4..4 + DATE_TEMPLATE_LEN]),
            secondary_keepalive_secs: le32(&b, 12),
            protocol_version: b[16],
            features: [b[17], b[18], b[19]],
        }
    }

    fn emit_body(&self, out: &mut Vec<u8>) {
        put32(out, self.keepalive_secs);
        put_str(out, &self.date_template, DATE_TEMPLATE_LEN);
        out.extend_from_slice(&[0, 0]);
        put32(out, self.secondary_keepalive_secs);
        out.push(self.protocol_version);
        out.extend_from_slice(&self.features);
    }
}

/// Alarm (0x0020): a phone's status line, e.g.
/// `Name=SEP001F9E266369 Load= SCCP41.8-5-3S Last=TCP-timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alarm {
    pub severity: u32,
    pub text: String,
    pub parm1: u32,
    pub parm2: u32,
}

/// Size of Alarm's `text`.
pub const ALARM_TEXT_LEN: usize = 80;

impl Alarm {
    /// The load named in the text; see [`load_from_alarm_text`].
    pub fn load(&self) -> Option<String> {
        load_from_alarm_text(&self.text)
    }

    fn parse(body: &[u8]) -> Alarm {
        let b: [u8; 92] = zero_filled(body);
        Alarm {
            severity: le32(&b, 0),
            text: fixed_str(&b[4..4 + ALARM_TEXT_LEN]),
            parm1: le32(&b, 84),
            parm2: le32(&b, 88),
        }
    }

    fn emit_body(&self, out: &mut Vec<u8>) {
        put32(out, self.severity);
        put_str(out, &self.text, ALARM_TEXT_LEN);
        put32(out, self.parm1);
        put32(out, self.parm2);
    }
}

/// One media capability of a CapabilitiesRes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capability {
    /// Wireshark `Media_PayloadType` (4 = G.711 µ-law 64k, 11 = G.729).
    pub payload: u32,
    pub max_frames_per_packet: u32,
    /// Codec parameters; kept raw.
    pub params: [u8; 8],
}

/// Most capabilities a CapabilitiesRes carries (Wireshark `maxsize`).
pub const MAX_CAPABILITIES: usize = 18;
const CAPABILITY_LEN: usize = 16;

/// CapabilitiesRes (0x0010). Parsed leniently: the count as sent, and the
/// entries that are both counted and present (at most 18).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapabilitiesRes {
    pub count: u32,
    pub caps: Vec<Capability>,
}

impl CapabilitiesRes {
    /// A response listing `caps` (at most 18 are emitted).
    pub fn new(caps: Vec<Capability>) -> CapabilitiesRes {
        CapabilitiesRes {
            count: caps.len().min(MAX_CAPABILITIES) as u32,
            caps,
        }
    }

    fn emitted_caps(&self) -> &[Capability] {
        let n = self.caps.len().min(MAX_CAPABILITIES);
        self.caps.get(..n).unwrap_or_default()
    }

    fn parse(body: &[u8]) -> CapabilitiesRes {
        let head: [u8; 4] = zero_filled(body);
        let count = le32(&head, 0);
        let entries = body.get(4..).unwrap_or_default();
        let n = (count as usize)
            .min(MAX_CAPABILITIES)
            .min(entries.len() / CAPABILITY_LEN);
        let caps = entries
            .chunks_exact(CAPABILITY_LEN)
            .take(n)
            .map(|c| {
                let c: [u8; CAPABILITY_LEN] = zero_filled(c);
                Capability {
                    payload: le32(&c, 0),
                    max_frames_per_packet: le32(&c, 4),
                    params: array_at(&c, 8),
                }
            })
            .collect();
        CapabilitiesRes { count, caps }
    }

    fn emit_body(&self, out: &mut Vec<u8>) {
        put32(out, self.count);
        for c in self.emitted_caps() {
            put32(out, c.payload);
            put32(out, c.max_frames_per_packet);
            out.extend_from_slice(&c.params);
        }
    }
}

/// Size of RegisterReject's `text`.
pub const REJECT_TEXT_LEN: usize = 32;

/// One SCCP message, either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Register(Register),
    CapabilitiesRes(CapabilitiesRes),
    Alarm(Alarm),
    Unregister,
    KeepAliveAck,
    RegisterAck(RegisterAck),
    CapabilitiesReq,
    /// Shown on the phone's screen; at most 31 characters are emitted.
    RegisterReject {
        text: String,
    },
    Reset(ResetType),
    /// 0 = OK.
    UnregisterAck {
        status: u32,
    },
    /// A message this crate does not decode; its id may still be named
    /// (TimeDateReq, ButtonTemplateReq, ...). The body is kept as sent.
    Unknown {
        id: MessageId,
        body: Vec<u8>,
    },
}

impl Message {
    pub fn id(&self) -> MessageId {
        match self {
            Message::KeepAlive => MessageId::KeepAlive,
            Message::Register(_) => MessageId::Register,
            Message::CapabilitiesRes(_) => MessageId::CapabilitiesRes,
            Message::Alarm(_) => MessageId::Alarm,
            Message::Unregister => MessageId::Unregister,
            Message::KeepAliveAck => MessageId::KeepAliveAck,
            Message::RegisterAck(_) => MessageId::RegisterAck,
            Message::CapabilitiesReq => MessageId::CapabilitiesReq,
            Message::RegisterReject { .. } => MessageId::RegisterReject,
            Message::Reset(_) => MessageId::Reset,
            Message::UnregisterAck { .. } => MessageId::UnregisterAck,
            Message::Unknown { id, .. } => *id,
        }
    }

    /// Decodes a body. Never fails: short bodies are zero-filled, and ids
    /// without a typed body become [`Message::Unknown`].
    pub fn parse(id: MessageId, body: &[u8]) -> Message {
        match id {
            MessageId::KeepAlive => Message::KeepAlive,
            MessageId::Register => Message::Register(Register::parse(body)),
            MessageId::CapabilitiesRes => Message::CapabilitiesRes(CapabilitiesRes::parse(body)),
            MessageId::Alarm => Message::Alarm(Alarm::parse(body)),
            MessageId::Unregister => Message::Unregister,
            MessageId::KeepAliveAck => Message::KeepAliveAck,
            MessageId::RegisterAck => Message::RegisterAck(RegisterAck::parse(body)),
            MessageId::CapabilitiesReq => Message::CapabilitiesReq,
            MessageId::RegisterReject => Message::RegisterReject {
                text: fixed_str(&zero_filled::<REJECT_TEXT_LEN>(body)),
            },
            MessageId::Reset => Message::Reset(ResetType::from(le32(&zero_filled::<4>(body), 0))),
            MessageId::UnregisterAck => Message::UnregisterAck {
                status: le32(&zero_filled::<4>(body), 0),
            },
            other => Message::Unknown {
                id: other,
                body: body.to_vec(),
            },
        }
    }

    /// Body length before padding.
    pub fn body_len(&self) -> usize {
        match self {
            Message::KeepAlive
            | Message::Unregister
            | Message::KeepAliveAck
            | Message::CapabilitiesReq => 0,
            Message::Register(r) => r.body_len(),
            Message::CapabilitiesRes(c) => 4 + CAPABILITY_LEN * c.emitted_caps().len(),
            Message::Alarm(_) => 92,
            Message::RegisterAck(_) => 20,
            Message::RegisterReject { .. } => REJECT_TEXT_LEN,
            Message::Reset(_) | Message::UnregisterAck { .. } => 4,
            Message::Unknown { body, .. } => body.len(),
        }
    }

    /// Appends the body, unpadded.
    pub fn emit_body(&self, out: &mut Vec<u8>) {
        match self {
            Message::KeepAlive
            | Message::Unregister
            | Message::KeepAliveAck
            | Message::CapabilitiesReq => {}
            Message::Register(r) => r.emit_body(out),
            Message::CapabilitiesRes(c) => c.emit_body(out),
            Message::Alarm(a) => a.emit_body(out),
            Message::RegisterAck(a) => a.emit_body(out),
            Message::RegisterReject { text } => put_str(out, text, REJECT_TEXT_LEN),
            Message::Reset(t) => put32(out, u32::from(*t)),
            Message::UnregisterAck { status } => put32(out, *status),
            Message::Unknown { body, .. } => out.extend_from_slice(body),
        }
    }
}

/// A whole frame: the header version field and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header's second word. Servers send 0 or the negotiated version
    /// (see [`ProtocolVersion::header_version`]); phones send 0 or their own.
    pub version: u32,
    pub message: Message,
}

/// The total frame size a header announces, after checking its length field.
pub fn frame_len(header: &[u8]) -> Result<usize, FrameError> {
    let length = match header.get(..4) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => return Err(FrameError::Truncated),
    };
    if length < 4 {
        return Err(FrameError::LengthTooSmall(length));
    }
    if length > MAX_LENGTH {
        return Err(FrameError::LengthTooLarge(length));
    }
    Ok(length as usize + HEADER_LEN)
}

fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

impl Frame {
    pub fn new(version: u32, message: Message) -> Frame {
        Frame { version, message }
    }

    /// Parses the frame at the start of `buf`; returns it and the bytes used.
    /// `Truncated` means more bytes are needed, not that the stream is bad.
    pub fn parse(buf: &[u8]) -> Result<(Frame, usize), FrameError> {
        let total = frame_len(buf)?;
        let frame = buf.get(..total).ok_or(FrameError::Truncated)?;
        let head: [u8; 12] = zero_filled(frame);
        let version = le32(&head, 4);
        let id = MessageId::from(le32(&head, 8));
        let body = frame.get(12..).unwrap_or_default();
        let message = Message::parse(id, body);
        Ok((Frame { version, message }, total))
    }

    /// Bytes [`Frame::emit`] writes: header, id, padded body.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + 4 + padded(self.message.body_len())
    }

    /// Writes the frame to the front of `buf` and returns its length. Every
    /// byte up to that length is written, padding included.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let mut body = Vec::with_capacity(self.message.body_len());
        self.message.emit_body(&mut body);
        if body.len() > MAX_BODY_LEN {
            return Err(EmitError::TooLong(body.len()));
        }
        let total = HEADER_LEN + 4 + padded(body.len());
        let got = buf.len();
        let out = buf
            .get_mut(..total)
            .ok_or(EmitError::BufferTooShort { needed: total, got })?;
        let length = (total - HEADER_LEN) as u32;
        let (head, rest) = out.split_at_mut(12);
        head[..4].copy_from_slice(&length.to_le_bytes());
        head[4..8].copy_from_slice(&self.version.to_le_bytes());
        head[8..].copy_from_slice(&u32::from(self.message.id()).to_le_bytes());
        let (data, pad) = rest.split_at_mut(body.len());
        data.copy_from_slice(&body);
        pad.fill(0);
        Ok(total)
    }

    /// Appends the frame to `out`.
    pub fn emit_vec(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let start = out.len();
        out.resize(start + self.buffer_len(), 0);
        let tail = out.get_mut(start..).unwrap_or_default();
        match self.emit(tail) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// The frame as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EmitError> {
        let mut out = Vec::with_capacity(self.buffer_len());
        self.emit_vec(&mut out)?;
        Ok(out)
    }
}

/// Cuts a TCP byte stream into frames. Takes chunks of any size (partial
/// frames, many frames at once) and holds at most one partial frame, so its
/// buffer never exceeds `MAX_LENGTH + 8` bytes. After a framing error the
/// stream cannot be resynchronised; every later call returns the same error.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
    failed: Option<FrameError>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Bytes of an unfinished frame held back.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes bytes from the front of `input` until one frame is complete
    /// (returned) or `input` is used up (`Ok(None)`). Call again while
    /// `input` is not empty.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.buf.len() < HEADER_LEN {
            self.take(input, HEADER_LEN);
            if self.buf.len() < HEADER_LEN {
                return Ok(None);
            }
        }
        let total = match frame_len(&self.buf) {
            Ok(total) => total,
            Err(e) => return Err(self.fail(e)),
        };
        self.take(input, total);
        if self.buf.len() < total {
            return Ok(None);
        }
        let parsed = Frame::parse(&self.buf);
        self.buf.clear();
        match parsed {
            Ok((frame, _)) => Ok(Some(frame)),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn take(&mut self, input: &mut &[u8], upto: usize) {
        let want = upto.saturating_sub(self.buf.len()).min(input.len());
        let (now, rest) = input.split_at(want);
        self.buf.extend_from_slice(now);
        *input = rest;
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.failed = Some(e);
        self.buf = Vec::new();
        e
    }
}

/// The MAC in a `SEP<12 hex digits>` device name (prefix case-insensitive).
pub fn mac_from_device_name(name: &str) -> Option<[u8; 6]> {
    let prefix = name.get(..3)?;
    if !prefix.eq_ignore_ascii_case("SEP") {
        return None;
    }
    let hex = name.get(3..)?.as_bytes();
    if hex.len() != 12 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (byte, pair) in mac.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *byte = (hi * 16 + lo) as u8;
    }
    Some(mac)
}

/// The load in an Alarm text: the first token after `Load=` (spaces after
/// the `=` allowed), skipping `InactiveLoad=`. A trailing `.loads` is
/// removed, so `P0030801SR02.loads` gives `P0030801SR02`; anything else
/// (`term06.default` from a phone recovering) is returned as sent.
pub fn load_from_alarm_text(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find("Load=") {
        let before = &rest[..at];
        let after = &rest[at + "Load=".len()..];
        rest = after;
        let inactive = before.len() >= 8
            && before
                .get(before.len() - 8..)
                .is_some_and(|s| s.eq_ignore_ascii_case("inactive"));
        if inactive {
            continue;
        }
        let token = after
            .trim_start()
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default();
        let token = match token.len().checked_sub(".loads".len()) {
            Some(cut)
                if token
                    .get(cut..)
                    .is_some_and(|s| s.eq_ignore_ascii_case(".loads")) =>
            {
                &token[..cut]
            }
            _ => token,
        };
        if !token.is_empty() {
            return Some(token.to_owned());
        }
    }
    None
}

/// Copies `body` into a zeroed array, so fields past its end read as zero.
fn zero_filled<const N: usize>(body: &[u8]) -> [u8; N] {
    let mut b = [0u8; N];
    let n = body.len().min(N);
    b[..n].copy_from_slice(&body[..n]);
    b
}

fn array_at<const N: usize, const M: usize>(b: &[u8; M], at: usize) -> [u8; N] {
    zero_filled(b.get(at..).unwrap_or_default())
}

fn le32<const M: usize>(b: &[u8; M], at: usize) -> u32 {
    u32::from_le_bytes(array_at(b, at))
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A C string from a fixed field: up to the first NUL, printable ASCII kept.
fn fixed_str(field: &[u8]) -> String {
    field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

/// Writes `s` into a `len`-byte field: at most `len - 1` bytes, NUL padded.
fn put_str(out: &mut Vec<u8>, s: &str, len: usize) {
    let mut written = 0;
    for c in s.chars().take(len.saturating_sub(1)) {
        out.push(if (' '..='~').contains(&c) {
            c as u8
        } else {
            b'?'
        });
        written += 1;
    }
    out.resize(out.len() + (len - written), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefilled_emit(frame: &Frame) -> Vec<u8> {
        let mut buf = vec![0xa5; frame.buffer_len() + 3];
        let n = frame.emit(&mut buf).unwrap();
        assert_eq!(n, frame.buffer_len());
        assert_eq!(&buf[n..], &[0xa5; 3], "emit wrote past its length");
        buf.truncate(n);
        buf
    }

    fn check(bytes: &[u8], frame: Frame) {
        let (parsed, used) = Frame::parse(bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(parsed, frame);
        assert_eq!(prefilled_emit(&frame), bytes);
    }

    static KEEPALIVE: [u8; 12] = [4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    static KEEPALIVE_ACK: [u8; 12] = [4, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01, 0, 0];
    static CAPABILITIES_REQ_V17: [u8; 12] = [4, 0, 0, 0, 0x11, 0, 0, 0, 0x9b, 0, 0, 0];
    static UNREGISTER: [u8; 12] = [4, 0, 0, 0, 0, 0, 0, 0, 0x27, 0, 0, 0];
    static UNREGISTER_ACK: [u8; 16] = [8, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x01, 0, 0, 0, 0, 0, 0];
    static RESET_HARD: [u8; 16] = [8, 0, 0, 0, 0, 0, 0, 0, 0x9f, 0, 0, 0, 1, 0, 0, 0];

    #[test]
    fn empty_and_small_messages() {
        check(&KEEPALIVE, Frame::new(0, Message::KeepAlive));
        check(&KEEPALIVE_ACK, Frame::new(0, Message::KeepAliveAck));
        check(
            &CAPABILITIES_REQ_V17,
            Frame::new(17, Message::CapabilitiesReq),
        );
        check(&UNREGISTER, Frame::new(0, Message::Unregister));
        check(
            &UNREGISTER_ACK,
            Frame::new(0, Message::UnregisterAck { status: 0 }),
        );
        check(&RESET_HARD, Frame::new(0, Message::Reset(ResetType::Reset)));
    }

    #[test]
    fn reset_types() {
        for (v, t) in [
            (1, ResetType::Reset),
            (2, ResetType::Restart),
            (3, ResetType::ApplyConfig),
            (9, ResetType::Unknown(9)),
        ] {
            assert_eq!(ResetType::from(v), t);
            assert_eq!(u32::from(t), v);
        }
    }

    /// 7960 on 8.1.2 style: short form, protocol 11, features 00 60 85.
    static REGISTER_SHORT: [u8; 76] = [
        0x44, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, // length 68, version 0, id 1
        b'S', b'E', b'P', b'0', b'0', b'1', b'E', b'4', b'A', b'0', b'0', b'0', b'0', b'0', b'1',
        0, 0, 0, 0, 0, // user id
        1, 0, 0, 0, // instance
        192, 168, 9, 36, // station ip, network order
        7, 0, 0, 0, // device type 7960
        3, 0, 0, 0, // max streams
        0, 0, 0, 0, // active streams
        11, 0x00, 0x60, 0x85, // protocol 11 + features
        1, 0, 0, 0, // max conferences
        0, 0, 0, 0, // active conferences
        b'0', b'0', b'1', b'E', b'4', b'A', b'0', b'0', b'0', b'0', b'0', b'1', // mac field
    ];

    fn short_register() -> Register {
        Register {
            device_name: "SEP001E4A000001".into(),
            instance: 1,
            station_ip: Ipv4Addr::new(192, 168, 9, 36),
            device_type: DeviceType(7),
            max_streams: 3,
            protocol_version: 11,
            features: [0x00, 0x60, 0x85],
            max_conferences: 1,
            mac_field: *b"001E4A000001",
            ..Register::default()
        }
    }

    #[test]
    fn register_short_form() {
        check(
            &REGISTER_SHORT,
            Frame::new(0, Message::Register(short_register())),
        );
        assert_eq!(short_register().mac(), Some([0x00, 0x1e, 0x4a, 0, 0, 1]));
    }

    fn long_register_bytes() -> Vec<u8> {
        let mut v = REGISTER_SHORT.to_vec();
        v[0] = 0x80; // length 128 = 4 + 124
        v[4] = 0x11; // header version 17, as a 7941 on 8.5.3 sends
        v[12 + 28] = 115; // device type 7941
        v[12 + 40] = 17;
        v[12 + 41..12 + 44].copy_from_slice(&[0x00, 0x72, 0x85]);
        v.extend_from_slice(&[0; 4]); // ipv4 scope
        v.extend_from_slice(&[2, 0, 0, 0]); // max lines
        v.extend_from_slice(&[0; 16]); // ipv6
        v.extend_from_slice(&[0; 4]); // ipv6 scope
        let mut load = [0u8; 32];
        load[..13].copy_from_slice(b"SCCP41.8-5-3S");
        v.extend_from_slice(&load);
        v
    }

    #[test]
    fn register_long_form_carries_the_load() {
        let bytes = long_register_bytes();
        assert_eq!(bytes.len(), 8 + 128);
        let want = Register {
            device_type: DeviceType(115),
            protocol_version: 17,
            features: [0x00, 0x72, 0x85],
            max_lines: 2,
            load_info: Some("SCCP41.8-5-3S".into()),
            ..short_register()
        };
        check(&bytes, Frame::new(17, Message::Register(want)));
    }

    #[test]
    fn register_parses_by_length_and_zero_fills() {
        // Only the device name and user id: everything else reads as zero.
        let mut bytes = vec![24, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
        bytes.extend_from_slice(b"SEP00112233445\0\0");
        bytes.truncate(12 + 16);
        bytes.extend_from_slice(&[5, 0, 0, 0]);
        let (frame, _) = Frame::parse(&bytes).unwrap();
        let Message::Register(r) = frame.message else {
            panic!("{frame:?}")
        };
        assert_eq!(r.device_name, "SEP00112233445");
        assert_eq!(r.user_id, 5);
        assert_eq!(r.protocol_version, 0);
        assert_eq!(r.load_info, None);
        // An empty load name in a long message is no load.
        let mut long = long_register_bytes();
        for b in &mut long[12 + 92..] {
            *b = 0;
        }
        let (frame, _) = Frame::parse(&long).unwrap();
        assert!(matches!(frame.message, Message::Register(r) if r.load_info.is_none()));
    }

    static REGISTER_ACK_V11: [u8; 32] = [
        24, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 0, // length 24, version 0, id 0x81
        30, 0, 0, 0, // keepalive 30 s
        b'M', b'/', b'D', b'/', b'Y', 0, // date template
        0, 0, // padding
        30, 0, 0, 0, // secondary keepalive
        11, 0x20, 0xf1, 0xff, // version + features
    ];

    #[test]
    fn register_ack() {
        let ack = RegisterAck::new(30, "M/D/Y", 30, ProtocolVersion::V11);
        check(&REGISTER_ACK_V11, Frame::new(0, Message::RegisterAck(ack)));
    }

    #[test]
    fn alarm_and_its_load() {
        let text = "Name=SEP3037A617E137Load= SCCP11.8-4-2S Last=TCP-timeout";
        let mut bytes = vec![96, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 2, 0, 0, 0];
        let mut field = [0u8; 80];
        field[..text.len()].copy_from_slice(text.as_bytes());
        bytes.extend_from_slice(&field);
        bytes.extend_from_slice(&[7, 0, 0, 0, 9, 0, 0, 0]);
        let alarm = Alarm {
            severity: 2,
            text: text.into(),
            parm1: 7,
            parm2: 9,
        };
        assert_eq!(alarm.load().as_deref(), Some("SCCP11.8-4-2S"));
        check(&bytes, Frame::new(0, Message::Alarm(alarm)));
    }

    #[test]
    fn alarm_load_forms() {
        let cases = [
            (
                "Name=SEP00215503A8FB Load= term06.default Last=x",
                Some("term06.default"),
            ),
            ("Load=P0030801SR02.loads", Some("P0030801SR02")),
            ("Load=P0030801SR02.LOADS", Some("P0030801SR02")),
            ("InactiveLoad=OLD ActiveLoad=NEW", Some("NEW")),
            ("Load=", None),
            ("Load=   ", None),
            ("no load here", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(load_from_alarm_text(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn register_reject_text_is_truncated_and_terminated() {
        let long = "x".repeat(40);
        let frame = Frame::new(0, Message::RegisterReject { text: long });
        let bytes = prefilled_emit(&frame);
        assert_eq!(bytes.len(), 12 + 32);
        assert_eq!(&bytes[12..43], "x".repeat(31).as_bytes());
        assert_eq!(bytes[43], 0);
        let (parsed, _) = Frame::parse(&bytes).unwrap();
        assert_eq!(
            parsed.message,
            Message::RegisterReject {
                text: "x".repeat(31)
            }
        );
        // Non-ASCII never reaches the wire.
        let frame = Frame::new(
            0,
            Message::RegisterReject {
                text: "é\u{0}".into(),
            },
        );
        assert_eq!(&prefilled_emit(&frame)[12..15], b"??\0");
    }

    #[test]
    fn capabilities_res_is_lenient() {
        let res = CapabilitiesRes::new(vec![
            Capability {
                payload: 4,
                max_frames_per_packet: 40,
                params: [0; 8],
            },
            Capability {
                payload: 11,
                max_frames_per_packet: 60,
                params: [1, 2, 3, 4, 5, 6, 7, 8],
            },
        ]);
        let bytes = Frame::new(0, Message::CapabilitiesRes(res.clone()))
            .to_bytes()
            .unwrap();
        assert_eq!(bytes.len(), 12 + 4 + 32);
        assert_eq!(
            Frame::parse(&bytes).unwrap().0.message,
            Message::CapabilitiesRes(res)
        );
        // A count far beyond what is present keeps the count, parses what is there.
        let mut lying = bytes.clone();
        lying[12] = 200;
        let (frame, _) = Frame::parse(&lying).unwrap();
        assert!(
            matches!(frame.message, Message::CapabilitiesRes(c) if c.count == 200 && c.caps.len() == 2)
        );
    }

    #[test]
    fn unknown_ids_keep_their_body_and_are_padded() {
        let frame = Frame::new(
            0,
            Message::Unknown {
                id: MessageId::TimeDateReq,
                body: vec![1, 2, 3, 4, 5],
            },
        );
        let bytes = prefilled_emit(&frame);
        assert_eq!(
            bytes,
            [12, 0, 0, 0, 0, 0, 0, 0, 0x0d, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0]
        );
        let raw = [4, 0, 0, 0, 0, 0, 0, 0, 0x34, 0x12, 0, 0];
        let (f, _) = Frame::parse(&raw).unwrap();
        assert_eq!(
            f.message,
            Message::Unknown {
                id: MessageId::Unknown(0x1234),
                body: vec![]
            }
        );
    }

    #[test]
    fn message_ids_round_trip() {
        for &id in MessageId::NAMED {
            assert_eq!(MessageId::from(u32::from(id)), id);
            assert!(id.direction().is_some());
        }
        assert_eq!(MessageId::from(0x0118), MessageId::UnregisterAck);
        assert_eq!(MessageId::from(0x0027), MessageId::Unregister);
        assert_eq!(MessageId::from(0xdead), MessageId::Unknown(0xdead));
    }

    #[test]
    fn bad_lengths_are_errors() {
        let huge = [0, 0, 0, 0x80, 0, 0, 0, 0, 1, 0, 0, 0];
        assert_eq!(
            Frame::parse(&huge),
            Err(FrameError::LengthTooLarge(1 << 31))
        );
        let tiny = [3, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(Frame::parse(&tiny), Err(FrameError::LengthTooSmall(3)));
        assert_eq!(Frame::parse(&KEEPALIVE[..11]), Err(FrameError::Truncated));
        assert_eq!(Frame::parse(&[]), Err(FrameError::Truncated));
        let max = (MAX_LENGTH).to_le_bytes();
        let mut at_limit = vec![max[0], max[1], max[2], max[3], 0, 0, 0, 0];
        at_limit.resize(8 + MAX_LENGTH as usize, 0);
        assert!(Frame::parse(&at_limit).is_ok());
        at_limit[0] += 1;
        assert_eq!(
            Frame::parse(&at_limit),
            Err(FrameError::LengthTooLarge(MAX_LENGTH + 1))
        );
    }

    #[test]
    fn emit_refuses_short_buffers_and_huge_bodies() {
        let frame = Frame::new(0, Message::Reset(ResetType::Reset));
        let mut small = [0u8; 10];
        assert_eq!(
            frame.emit(&mut small),
            Err(EmitError::BufferTooShort {
                needed: 16,
                got: 10
            })
        );
        let huge = Frame::new(
            0,
            Message::Unknown {
                id: MessageId::Unknown(0x4444),
                body: vec![0; MAX_BODY_LEN + 1],
            },
        );
        let mut out = vec![7];
        assert!(huge.emit_vec(&mut out).is_err());
        assert_eq!(out, [7]);
    }

    #[test]
    fn decoder_handles_any_split() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&REGISTER_SHORT);
        stream.extend_from_slice(&KEEPALIVE);
        stream.extend_from_slice(&long_register_bytes());
        stream.extend_from_slice(&UNREGISTER);
        let whole = decode_all(&stream, stream.len());
        assert_eq!(whole.len(), 4);
        for chunk in 1..stream.len() {
            assert_eq!(decode_all(&stream, chunk), whole, "chunk size {chunk}");
        }
    }

    fn decode_all(stream: &[u8], chunk: usize) -> Vec<Frame> {
        let mut d = Decoder::new();
        let mut frames = Vec::new();
        for mut piece in stream.chunks(chunk) {
            while let Some(f) = d.decode(&mut piece).unwrap() {
                frames.push(f);
            }
            assert!(piece.is_empty());
        }
        assert_eq!(d.buffered(), 0);
        frames
    }

    #[test]
    fn decoder_rejects_huge_length_without_buffering_it() {
        let mut d = Decoder::new();
        let mut input: &[u8] = &[0, 0, 0, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
        assert_eq!(
            d.decode(&mut input),
            Err(FrameError::LengthTooLarge(1 << 31))
        );
        assert_eq!(d.buffered(), 0);
        let mut more: &[u8] = &KEEPALIVE;
        assert_eq!(
            d.decode(&mut more),
            Err(FrameError::LengthTooLarge(1 << 31))
        );
    }

    #[test]
    fn device_names() {
        assert_eq!(
            mac_from_device_name("SEP001F9E266369"),
            Some([0x00, 0x1f, 0x9e, 0x26, 0x63, 0x69])
        );
        assert_eq!(
            mac_from_device_name("sep001f9e266369"),
            Some([0x00, 0x1f, 0x9e, 0x26, 0x63, 0x69])
        );
        for bad in [
            "",
            "SEP",
            "SEP001F9E26636",
            "SEP001F9E2663690",
            "ATA001F9E266369",
            "SEP001F9E26636G",
            "SEP00\u{e9}F9E26636",
        ] {
            assert_eq!(mac_from_device_name(bad), None, "{bad:?}");
        }
    }
}
