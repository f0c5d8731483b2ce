//! Sans-IO SIP for telling Cisco SIP phones to re-read their config.
//!
//! - [`message`]: a strict, bounded SIP/2.0 parser and writer for single
//!   UDP datagrams, used by phoneboot (responses) and by the phone
//!   simulator (NOTIFY in, 200/404/481 out).
//! - [`notify`]: one NOTIFY client transaction ([`Notify`]) with RFC 3261
//!   retransmission timers: `check-sync` for 79x0 SIP loads,
//!   `service-control` for 79x1/79x2/79x5 SIP 9.x.
//! - `fuzzing` (feature `fuzzing`): entry points for fuzz targets.
//!
//! The crate never opens a socket and never reads the clock; tags, branch
//! and Call-ID come from the caller, so every run can be replayed.
//!
//! ```
//! use std::time::Instant;
//! use sipnotify::{Answer, Event, Kind, Message, Notify, NotifyRequest, Retransmit};
//!
//! let now = Instant::now();
//! let mut notify = Notify::new(now, NotifyRequest {
//!     kind: Kind::CheckSync,
//!     phone: "10.0.0.5:5060".parse().unwrap(),
//!     local: "10.0.0.1:5060".parse().unwrap(),
//!     line_user: "1001".into(),
//!     call_id: "c0ffee@10.0.0.1".into(),
//!     from_tag: "f1".into(),
//!     branch: "z9hG4bK1".into(),
//!     cseq: 1,
//! }, Retransmit::default())?;
//! let mut datagram = Vec::new();
//! assert!(notify.poll_transmit(&mut datagram));
//!
//! // The phone's side: parse the NOTIFY and answer it.
//! let request = Message::parse(&datagram)?;
//! assert_eq!(request.event(), Some("check-sync"));
//! assert_eq!(request.request_uri_user(), Some("1001"));
//! let ok = request.response(200, "OK", "t1").to_bytes()?;
//!
//! notify.handle_datagram(now, &ok);
//! let event = notify.poll_event().unwrap();
//! assert_eq!(event.answer(), Answer::Ok200);
//! assert!(matches!(event, Event::Answered { tries: 1, .. }));
//! assert!(notify.is_finished());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod message;
pub mod notify;

pub use message::{CSeq, Header, Message, Method, ParseError, StartLine, Via, WriteError};
pub use notify::{
    Action, Answer, Event, Kind, Notify, NotifyRequest, RequestError, Retransmit, Stats,
};
