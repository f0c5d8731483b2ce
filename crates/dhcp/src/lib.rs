//! DHCPv4 server logic for provisioning Cisco IP phones, on `dhcproto`.
//!
//! What it does: validates the DHCP configuration (subnets, pools,
//! reservations, typed options, option 150/66 for the TFTP server),
//! allocates addresses in memory (a stable address per client), and for
//! each request decides the reply, its RFC 2131 §4.1 destination, the lease
//! changes to persist and the events to report. It also renders option 150
//! for other DHCP servers ([`export`]).
//!
//! What it never does: open a socket or a file, read the clock (time is an
//! argument), spawn a task, or probe the network. The driver does those:
//! decode each datagram with [`decode`] (not dhcproto's `Message::decode`,
//! whose debug assertions a hostile packet can trip), call
//! [`Server::decide`], run the conflict probe when [`Decision::probe`] asks,
//! commit [`Decision::lease_ops`] durably, then send [`Reply::encode`]'s
//! bytes to [`Reply::destination`]. [`contract`] spells that out.
//!
//! Inside: [`contract`] is what a driver sees; [`wire`] is every byte
//! (decoding, the reply's header and options, encoding); the allocator
//! keeps bindings, offers and quarantine and picks addresses; the server
//! turns each message into a [`Decision`]; `config` holds the validated
//! types, built once before the server starts.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use std::time::Instant;
//! use dhcp::{Ingress, Server, ServerConfig, Subnet, SubnetConfig};
//! use dhcproto::v4::{DhcpOption, Message, MessageType};
//!
//! let mut sc = SubnetConfig::new(Ipv4Addr::new(192, 168, 1, 0), 24);
//! sc.server_addr = Some(Ipv4Addr::new(192, 168, 1, 1));
//! let config = ServerConfig::new(vec![Subnet::try_from(sc)?])?;
//! let mut server = Server::new(config);
//!
//! let mut discover = Message::default();
//! discover.set_chaddr(&[0x00, 0x1b, 0x54, 0x01, 0x02, 0x03]);
//! discover.opts_mut().insert(DhcpOption::MessageType(MessageType::Discover));
//! let ingress = Ingress {
//!     local_addr: Ipv4Addr::new(192, 168, 1, 1),
//!     ifindex: 2,
//!     source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
//!     broadcast: true,
//! };
//! let decision = server.decide(Instant::now(), &ingress, &discover);
//! let reply = decision.reply.expect("an offer");
//! assert_eq!(reply.message.opts().msg_type(), Some(MessageType::Offer));
//! // Option 150 defaults to the server's own address on that interface.
//! assert!(reply.option_codes().contains(&150));
//! let _datagram: Vec<u8> = reply.encode()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod allocator;
mod config;
pub mod contract;
pub mod export;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod ratelimit;
mod server;
mod share;
pub mod wire;

#[cfg(test)]
mod tests;

pub use config::{
    parse_cidr, Classifier, ConfigError, Limits, Mac, OptionSet, OptionSpec, OptionValue,
    Reservation, ServerConfig, Subnet, SubnetConfig,
};
pub use contract::{
    ClientState, Decision, Destination, Event, EventKind, Ingress, Lease, LeaseOp, Reason, Reply,
    RestoreReport, CLIENT_PORT, SERVER_PORT,
};
pub use dhcproto;
pub use export::{option150_formats, OptionFormat};
pub use server::Server;
pub use share::{bucket, Share};
pub use wire::{decode, EncodeError, WireError};
