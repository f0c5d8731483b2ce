//! Sans-IO TFTP server core: wire format, request judging and option
//! negotiation (RFC 1350, 2347, 2348, 2349, 7440), and the read-transfer state
//! machine.
//!
//! The crate never opens a socket or a file and never reads the clock: the
//! caller passes datagrams and `now` in and takes packets, deadlines and
//! events out. That keeps every timing rule testable with simulated time and
//! injected loss (see `tests/sim.rs`).
//!
//! ```
//! use std::time::Instant;
//! use tftp::{Incoming, Limits, Policy, Server, Transfer};
//!
//! let mut server = Server::new(Limits::default());
//! let peer = "127.0.0.1:40000".parse().unwrap();
//! let Incoming::Accept(request, _slot) = server.handle_request(peer, b"\x00\x01hello.txt\x00octet\x00") else {
//!     panic!("refused");
//! };
//! let now = Instant::now();
//! let mut transfer = Transfer::new(now, &request, bytes::Bytes::from_static(b"hi"), &Policy::default());
//! let mut packet = Vec::new();
//! assert!(transfer.poll_transmit(&mut packet));
//! assert_eq!(packet, b"\x00\x03\x00\x01hi");
//! transfer.handle_datagram(now, b"\x00\x04\x00\x01");
//! assert!(transfer.is_finished());
//! ```
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod netascii;
pub mod path;
pub mod request;
pub mod server;
pub mod transfer;
pub mod wire;

pub use request::{Mode, Policy, Request, RequestedOptions};
pub use server::{Incoming, Limits, Server, Slot};
pub use transfer::{Datagram, Event, Negotiated, Outcome, Stats, Summary, Transfer};
pub use wire::{ErrorCode, Repr};

/// A datagram that is not a well-formed TFTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("packet too short")]
    Truncated,
    #[error("request is missing its file name or mode")]
    MissingField,
    #[error("request field is not valid UTF-8")]
    NotUtf8,
}

/// Why a requested name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    #[error("name is {0} bytes long; the limit is 255")]
    TooLong(usize),
    #[error("name contains a control character")]
    ControlCharacter,
    #[error("absolute paths are not served; ask for a name relative to the root")]
    Absolute,
    #[error("drive letters are not served; ask for a name relative to the root")]
    DriveLetter,
    #[error("'..' is not allowed in names")]
    ParentComponent,
    #[error("name is empty")]
    Empty,
}

/// Why a request was refused before any file was looked up. Each maps to a
/// TFTP error code with [`RequestError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    #[error("write requests are refused: this server is read-only")]
    WriteRefused,
    #[error("transfer mode {0:?} is not supported; use octet or netascii")]
    UnsupportedMode(String),
    #[error("refused name \"{name}\": {source}")]
    BadName { name: String, source: PathError },
    #[error("malformed request: {0}")]
    Malformed(WireError),
    #[error("expected a read request on this port")]
    NotARequest,
}
