//! phoneboot: the provisioning server for Cisco IP phones, as a library so
//! the tests can reach its parts. `main.rs` parses flags and calls [`run`].
//!
//! - `net/`: drivers for every socket phones talk to (TFTP, DHCP, phone
//!   HTTP, SNTP, syslog), around the sans-IO cores;
//! - `provision/`: the desired state, the engine, the file resolver;
//! - `api/`: the operator API, SSE, metrics and the dashboard;
//! - `commands/`: every command but `serve`;
//! - `serve.rs`: start-up and shutdown of `serve`;
//! - `sync.rs`: run-time desired-state edits shared by servers of one store;
//! - `config/`, `cli`, `events`, `clock`, `logging`, `fsutil`: shared by all.

pub mod api;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod events;
pub mod fsutil;
/// Fuzz entry points (feature `fuzzing`, and in tests).
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod logging;
pub mod net;
pub mod provision;
mod serve;
pub mod sync;

pub use commands::run;
