//! Sans-IO SIP for telling Cisco SIP phones to re-read their config.
//!
//! - [`message`]: a strict, bounded SIP/2.0 parser and writer for single
//!   UDP datagrams, used by phoneboot (responses) and by the phone
//!   simulator (NOTIFY in, 200/404/481 out).
//!
//! The crate never opens a socket and never reads the clock; tags, branch
//! and Call-ID come from the caller, so every run can be replayed.
#![forbid(unsafe_code)]
// Parsers see hostile bytes: no panicking shortcuts outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod message;

pub use message::{CSeq, Header, Message, Method, ParseError, StartLine, Via, WriteError};
