//! Per-phone provisioning state, and a [`Fleet`] of phones keyed by MAC.
//!
//! The fleet turns what the drivers see (DHCP leases, TFTP/HTTP requests and
//! finished transfers) into a belief about which load each phone runs, walks
//! each phone along its [`Plan`](crate::plan::Plan), and tells the config renderers which load
//! to name ([`Fleet::serving_load`]). It never reads the clock: every input
//! carries `now`.
//!
//! # Driving it
//!
//! - `on_dhcp` for each lease granted (option 60 gives the model);
//! - `on_request` when a TFTP RRQ or HTTP GET begins, **before** the file is
//!   resolved, so a config rendered for that request names the right load;
//! - `on_transfer_done` when it ends;
//! - `handle_timeout(now)` when `poll_timeout()` passes (an early call does nothing);
//! - after every call, drain `poll_event()`.
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::Instant;
//! use cisco::plan::AvailableLoad;
//! use cisco::provision::{Fleet, Intent, Policy};
//! use cisco::{LoadName, Mac, Model, Protocol, TargetLoad};
//!
//! let target = LoadName::parse("SIP41.9-4-2SR3-1S")?;
//! // The binary resolves phone > model > family > defaults in this closure.
//! let mut fleet = Fleet::new(Policy::default(), |_mac: Option<Mac>, _model: Model| Intent {
//!     protocol: Protocol::Sip,
//!     target: TargetLoad::Newest,
//!     start_load: LoadName::parse("SCCP41.9-4-2SR3-1S").ok(),
//! });
//! fleet.set_catalog(vec![AvailableLoad::synthetic(&target)]);
//!
//! let now = Instant::now(); // drivers read the clock; the fleet never does
//! let mac: Mac = "00:1e:4a:12:34:56".parse()?;
//! let ip: IpAddr = "192.168.1.20".parse()?;
//! fleet.on_dhcp(now, mac, ip, Model::from_vendor_class(b"Cisco Systems, Inc. IP Phone CP-7961G\0"));
//! assert_eq!(fleet.on_request(now, ip, "SEP001E4A123456.cnf.xml"), Some(mac));
//! // Render the config with this load in <loadInformation>.
//! assert_eq!(fleet.serving_load(mac), Some(target));
//! while let Some(event) = fleet.poll_event() {
//!     println!("{event:?}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What counts as evidence
//!
//! Nothing on the wire states the running load (PHONES.md "Knowing what a phone
//! runs"). The fleet uses one rule: **a phone told to run X (by a config it
//! fetched) that does not fetch X runs X.** "Does not fetch" is concluded when,
//! after the config, the phone asks for a file that only comes after the load
//! decision (ring lists, dial plans, locales, backgrounds: anything that is
//! neither a boot, config nor firmware file), or when `settle` passes without
//! a request for X. Applied after a complete download and a reboot, that is
//! the hop check; applied to a new phone, it finds the load the phone already
//! runs. A phone that fetches X again after a complete download of X did not
//! take it: the attempt is counted, and after `max_attempts` it is diagnosed.
//!
//! Before any evidence, the operator's start load counts (the [`Intent`]),
//! else the current load is unknown and the plan starts from the oldest
//! possible load (see [`crate::plan`](mod@crate::plan)). The belief and its evidence survive
//! restarts through [`Fleet::snapshot`] and [`Fleet::restore`].
//!
//! The rule assumes every config the phone fetched (`SEP<MAC>.cnf.xml`,
//! `XMLDefault.cnf.xml`, `SIPDefault.cnf`, `SIP<MAC>.cnf`) named
//! [`Fleet::serving_load`] as it was right after `on_request`: render
//! `XMLDefault.cnf.xml` per requesting phone when the fleet knows its MAC
//! ([`Fleet::mac_for_ip`]), and [`Fleet::default_load`] otherwise.
//!
//! What the phone says about itself counts too: the load in an SCCP
//! Register (`loadInfo`) or Alarm (`Load=`) is the running load, reported
//! ([`Fleet::on_reported_load`]); a Register without a load, right after a
//! config named X that the phone did not fetch, means it runs X
//! ([`Fleet::on_sccp_registered`]).
//!
//! Hops are served one at a time: after a hop is verified the next one is
//! named in the phone's config, which the phone reads on its next boot. A
//! phone reads its config only when it boots, so when a hop is verified,
//! the next one is ready and phoneboot can reach the phone (an SCCP session
//! with phoneboot, or a SIP load that takes NOTIFY), the fleet emits
//! [`FleetEvent::Reboot`] ([`Policy::reboot`] `Auto`). At most
//! [`Policy::max_resets`] per hop, and a phone that is not heard from within
//! [`Policy::reboot_timeout`] is diagnosed. The operator can ask for a
//! reboot at any time ([`Fleet::request_reboot`]).

mod fleet;
mod phone;
mod vocab;

pub use fleet::{check_invariants, Fleet};
pub use vocab::{
    Channel, ConfigSource, Diagnosis, FleetEvent, Intent, Intents, PendingReboot, PhoneRecord,
    PhoneView, Policy, Progress, RebootCause, RebootMode, Stage,
};

#[cfg(test)]
mod tests;
