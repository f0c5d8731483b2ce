//! Sans-IO SCCP (Skinny) core: framing and the registration messages in
//! both directions (`wire`), protocol version negotiation (`protocol`),
//! device types (`device`), and the server side of one phone connection
//! (`session::Session`).
//!
//! phoneboot speaks just enough SCCP to let a phone register, learn what it
//! runs, and send it a Reset so it reboots into its next firmware hop. The
//! crate never opens a socket and never reads the clock: the driver passes
//! TCP bytes and `now` in and takes bytes, deadlines and events out, so
//! every timing rule is testable with simulated time. A simulated phone
//! uses the same `wire` types to send Register, KeepAlive, Alarm and
//! Unregister.
//!
//! ```
//! use std::time::Instant;
//! use sccp::wire::{Frame, Message, Register};
//! use sccp::{Config, Event, ResetType, Session};
//!
//! let now = Instant::now();
//! let mut session = Session::new(now, Config::default()).unwrap();
//! let register = Register {
//!     device_name: "SEP001E4A000001".into(),
//!     device_type: sccp::DeviceType::CP7960,
//!     protocol_version: 11,
//!     ..Register::default()
//! };
//! let bytes = Frame::new(0, Message::Register(register)).to_bytes().unwrap();
//! session.handle_input(now, &bytes);
//! let Some(Event::RegisterRequest { mac, .. }) = session.poll_event() else { panic!() };
//! assert_eq!(mac, Some([0x00, 0x1e, 0x4a, 0, 0, 1]));
//! session.accept(now).unwrap(); // the driver checked the DHCP lease
//! assert!(matches!(session.poll_event(), Some(Event::Registered { .. })));
//! session.reset(now, ResetType::Reset).unwrap();
//! let mut out = Vec::new();
//! assert!(session.poll_transmit(&mut out)); // RegisterAck, CapabilitiesReq, Reset
//! ```
#![forbid(unsafe_code)]

use std::time::Duration;

pub mod device;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod protocol;
pub mod session;
pub mod wire;

pub use device::DeviceType;
pub use protocol::ProtocolVersion;
pub use session::{CloseReason, Config, Event, Session, State, Stats};
pub use wire::{Decoder, Frame, Message, MessageId, ResetType};

/// A byte stream that is not well-formed SCCP. The stream cannot be
/// resynchronised after one; close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame incomplete; more bytes are needed")]
    Truncated,
    #[error("frame length field is {0}, below the 4 bytes of the message id; the peer is not speaking SCCP")]
    LengthTooSmall(u32),
    #[error("frame length field is {0}, above the {max}-byte limit; the peer is not speaking SCCP or the stream is corrupt", max = wire::MAX_LENGTH)]
    LengthTooLarge(u32),
}

/// A frame that cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    #[error(
        "buffer holds {got} bytes but the frame needs {needed}; size it with Frame::buffer_len"
    )]
    BufferTooShort { needed: usize, got: usize },
    #[error("body is {0} bytes, above the {max}-byte limit; split or shorten it", max = wire::MAX_BODY_LEN)]
    TooLong(usize),
}

/// A session setting RegisterAck cannot carry or that would misbehave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("sccp {field} is {value:?}; RegisterAck carries whole seconds, so use 1 s or more with no fraction")]
    NotWholeSeconds {
        field: &'static str,
        value: Duration,
    },
    #[error("sccp idle timeout {idle_timeout:?} must be longer than the keepalive interval {keepalive:?} (2-3 intervals is usual)")]
    IdleTimeoutTooShort {
        idle_timeout: Duration,
        keepalive: Duration,
    },
    #[error("sccp date template {0:?} must be 1-5 printable ASCII characters without spaces, e.g. M/D/Y or D.M.Y")]
    DateTemplate(String),
}

/// A session command given in the wrong state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    #[error("no Register is waiting for a decision (session is {state}); accept or reject only after Event::RegisterRequest")]
    NotAwaitingDecision { state: State },
    #[error("the phone is not registered (session is {state}); send a Reset only after Event::Registered")]
    NotRegistered { state: State },
    #[error("the session is closed; drop it")]
    Closed,
}
