//! Simulated Cisco 79xx phones, to test a provisioning server the way real
//! phones would use it. `phoneboot simulate` is its command line.
//!
//! Each phone is a tokio task running boot cycles:
//! - **Addressing.** [`Addressing::Direct`]: no DHCP, phone `i` sends from its
//!   own loopback address (`127.1.0.1`, `127.1.0.2`, … from the source
//!   network) so the server tells phones apart by IP. [`Addressing::Dhcp`]:
//!   DISCOVER/REQUEST with the model's real option 60, 55, 61 and 12 on one
//!   shared port-68 socket bound to the interface ([`dhcp`]); the TFTP server
//!   is option 150 (first address), else 66; the leased address is added to
//!   the interface for the run (so only use it inside a network namespace).
//! - **Requests in the family's order** (`shared/PHONES.md`, "Boot
//!   sequence"): Java phones `CTLSEP<MAC>.tlv`, `ITLSEP<MAC>.tlv`,
//!   `ITLFile.tlv`, `SEP<MAC>.cnf.xml` or `XMLDefault.cnf.xml`; 79x0 SCCP
//!   (`OS79XX.TXT` first below 7.x) `CTLSEP…`, the XML config; 79x0 SIP
//!   `CTLSEP…`, `SEP<MAC>.cnf.xml`, `SIPDefault.cnf`, `SIP<MAC>.cnf`
//!   (`image_version`; the MAC file wins). A different load than the running
//!   one is fetched (`<load>.loads` and every file it lists, or `<load>.bin`
//!   below 5.x) and booted; otherwise the phone fetches its post-boot files
//!   (ring list, dial plan) and settles.
//! - **Between boots, like real phones**: a settled phone reads no config.
//!   It reboots only when its server tells it to, or after flashing a new
//!   image. SCCP loads register from their own address with the call
//!   manager of their XML config (lowest-priority `member` with an
//!   `ethernetPhonePort`; none named: the phone just sits): 79x0 loads with
//!   the short Register (version 11 from 8.x, 5 before), Java loads with the
//!   long one naming their load (version 17) and an informational Alarm
//!   after the ack ([`sccp_client`]). They keep alive at the ack's interval,
//!   reconnect with a backoff of 1 to 16 s, retry 5 s after a
//!   RegisterReject, and reboot on Reset: type 1 with DHCP again, type 2
//!   without. SIP loads answer NOTIFY on `<ip>:<sip_port>` for their line-1
//!   name (404 otherwise) ([`sip_listener`]): 79x0 loads take `check-sync`,
//!   read `syncinfo.xml` and reboot when the `SYNC` for their load (or `*`)
//!   differs from the `sync` of their config (default `1`); Java loads take
//!   `service-control` `action=reset` (with DHCP) or `restart`, and answer
//!   `check-sync` with 200 only. Retransmitted NOTIFYs get the same answer
//!   and no second reboot.
//! - **When a run ends**: a phone with an expected load ([`PhoneSpec::expect`])
//!   ends once settled on it and registered (SCCP: RegisterAck, or no call
//!   manager; SIP: listening) and [`SimConfig::hold`] has passed without a
//!   reboot order; one without ends at its first settled boot that `hold`
//!   leaves alone. An order during the hold reboots it and the walk goes on.
//! - **Constraints like the real phones**, so server mistakes show: a 79x0
//!   below 5.x given anything newer than a signed 5.x load, or a Java phone
//!   below 8.3(3) given a load past 8.5(2), ends *bricked*. A load with a
//!   missing file leaves the old load running and is retried next boot
//!   (`failed_downloads`). A load for other hardware fails the phone.
//! - **Faults**: seeded DATA loss, the first K phones cutting their first
//!   image download half way (then rebooting and starting that hop again),
//!   the first K phones booting the old image once after a full download.
//!
//! The boot logic ([`Phone`]) fetches through the [`Fetcher`] trait and hears
//! its server through the [`Control`] trait, so it is tested against a map
//! and a script as well as over real TFTP ([`TftpClient`], built on
//! `tftp::wire`), SCCP and SIP ([`NetControl`], on the `sccp` and `sipnotify`
//! wire types). The simulator reads configs with its own parsers
//! ([`configs`]), never phoneboot's renderers, so it judges them
//! independently. It never touches an interface unless told to with
//! [`Addressing::Dhcp`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use phonesim::{parse_mix, Addressing, SimConfig};
//! // Two 7960s that should end on 8.0(9), and a 7965 that stays where it is.
//! let phones = parse_mix("7960:P00303010102:2:P00308000900,7965:SIP45.9-4-2SR3-1S:1")?;
//! let cfg = SimConfig::new(
//!     phones,
//!     Addressing::Direct {
//!         server: "127.0.0.1:69".parse()?,
//!         source_net: phonesim::parse_net("127.1.0.0/16")?,
//!     },
//! );
//! let report = phonesim::run(cfg).await?;
//! println!("{}", report.to_text());
//! assert!(report.ok);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod configs;
pub mod control;
pub mod dhcp;
mod phone;
mod report;
mod rng;
pub mod sccp_client;
pub mod sip_listener;
mod spec;
mod tftp_client;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

pub use control::{Channel, Control, ControlError, Heard, NetControl};
pub use phone::{Faults, Phone, RunEnd, RunOptions};
pub use report::{fnv64, Hop, PhoneReport, Report, RequestRecord, Resets, State};
pub use spec::{
    nth_addr, nth_mac, parse_mix, parse_net, Addressing, PhoneSpec, SimConfig, SpecError,
    TftpOptions,
};
pub use tftp_client::{FetchResult, Fetched, Fetcher, TftpClient};

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("no phones to simulate: give --phones N with --model and --start-load, or --mix")]
    NoPhones,
    #[error("source network {net} has no address for phone {index}: give a larger --source-net")]
    SourceNetTooSmall { net: String, index: usize },
    #[error(transparent)]
    Dhcp(#[from] dhcp::DhcpError),
}

/// Runs every phone until its run ends (see [`SimConfig::hold`]), it bricks
/// or fails, or `cfg.timeout` passes.
pub async fn run(cfg: SimConfig) -> Result<Report, SimError> {
    if cfg.phones.is_empty() {
        return Err(SimError::NoPhones);
    }
    if let Addressing::Direct { source_net, .. } = &cfg.addressing {
        let last = cfg.phones.len() - 1;
        if nth_addr(*source_net, last).is_none() {
            return Err(SimError::SourceNetTooSmall {
                net: format!("{}/{}", source_net.0, source_net.1),
                index: last,
            });
        }
    }
    let dhcp = match &cfg.addressing {
        Addressing::Dhcp { interface, .. } => Some(Arc::new(dhcp::DhcpClient::bind(interface)?)),
        Addressing::Direct { .. } => None,
    };
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + cfg.timeout;
    let cfg = Arc::new(cfg);
    let leased: Leased = Arc::default();
    let tasks: Vec<_> = (0..cfg.phones.len())
        .map(|i| {
            tokio::spawn(run_phone(
                cfg.clone(),
                dhcp.clone(),
                leased.clone(),
                i,
                deadline,
            ))
        })
        .collect();
    let mut phones = Vec::with_capacity(tasks.len());
    for (i, t) in tasks.into_iter().enumerate() {
        phones.push(match t.await {
            Ok(r) => r,
            Err(e) => {
                let spec = &cfg.phones[i];
                let p = Phone::new(
                    i,
                    spec.model,
                    nth_mac(cfg.mac_base, i),
                    spec.start_load.clone(),
                    Faults::default(),
                );
                p.report(
                    State::Failed,
                    Some(format!("phone task died: {e}")),
                    started.elapsed(),
                )
            }
        });
    }
    // Newest first: deleting the first (primary) address of a subnet takes
    // the secondary ones with it, so it goes last.
    let mut leased = std::mem::take(&mut *leased.lock().unwrap_or_else(|e| e.into_inner()));
    while leased.pop().is_some() {}
    Ok(Report::new(phones, started.elapsed().as_millis() as u64))
}

/// Addresses added to the interface, kept until every phone is done: a
/// settled phone keeps its address, and removing one address early could
/// take others with it.
type Leased = Arc<std::sync::Mutex<Vec<dhcp::AddrGuard>>>;

async fn run_phone(
    cfg: Arc<SimConfig>,
    dhcp: Option<Arc<dhcp::DhcpClient>>,
    leased: Leased,
    i: usize,
    deadline: tokio::time::Instant,
) -> PhoneReport {
    let started = Instant::now();
    let spec = &cfg.phones[i];
    let mac = nth_mac(cfg.mac_base, i);
    let faults = Faults {
        reboot_mid_download: i < cfg.reboot_mid_download,
        keep_old_image: i < cfg.keep_old_image,
    };
    let mut phone = Phone::new(i, spec.model, mac, spec.start_load.clone(), faults);
    let seed = rng::phone_seed(cfg.seed, i);
    let opts = RunOptions {
        reboot_delay: cfg.reboot_delay,
        max_boots: cfg.max_boots,
        hold: cfg.hold,
        expect: spec.expect.clone(),
        sip_port: cfg.sip_port,
    };
    let body = async {
        // The route (TFTP server, own address) and the clients bound to it.
        let mut link: Option<((SocketAddr, IpAddr), TftpClient, NetControl)> = None;
        // Each pass is a full reboot: DHCP first, where the phone uses it.
        let mut pass = 0u32;
        loop {
            let now_route = match (&cfg.addressing, &dhcp) {
                (Addressing::Direct { server, source_net }, _) => {
                    let Some(a) = nth_addr(*source_net, i) else {
                        return (State::Failed, Some("no source address".to_owned()));
                    };
                    (*server, IpAddr::V4(a))
                }
                (
                    Addressing::Dhcp {
                        interface,
                        tftp_port,
                    },
                    Some(dhcp),
                ) => {
                    let xid = (seed as u32).wrapping_add(pass);
                    let lease = match dhcp.lease(mac, spec.model, xid).await {
                        Ok(l) => l,
                        Err(e) => return (State::Failed, Some(e.to_string())),
                    };
                    // The same address again (the usual case) is already on
                    // the interface; a new one is added beside it, and the
                    // old one stays until the run ends (see `Leased`).
                    let own = link.as_ref().map(|((_, ip), _, _)| *ip);
                    if own != Some(IpAddr::V4(lease.addr)) {
                        match dhcp::AddrGuard::add(interface, lease.addr, lease.prefix) {
                            Ok(g) => leased.lock().unwrap_or_else(|e| e.into_inner()).push(g),
                            Err(e) => return (State::Failed, Some(e.to_string())),
                        }
                    }
                    (
                        SocketAddr::new(lease.tftp_server.into(), *tftp_port),
                        IpAddr::V4(lease.addr),
                    )
                }
                (Addressing::Dhcp { .. }, None) => {
                    return (State::Failed, Some("no DHCP client".to_owned()))
                }
            };
            if link
                .as_ref()
                .is_some_and(|(route, _, _)| *route != now_route)
            {
                link = None;
            }
            let (_, client, control) = link.get_or_insert_with(|| {
                let (server, bind) = now_route;
                phone.set_ip(bind);
                let seed = seed.wrapping_add(u64::from(pass));
                let client = TftpClient::new(server, bind, cfg.tftp.clone(), cfg.loss, seed);
                (now_route, client, NetControl::new(bind))
            });
            match phone.run(client, control, &opts).await {
                RunEnd::Ended(state, reason) => return (state, reason),
                RunEnd::FullReboot => pass = pass.wrapping_add(1),
            }
        }
    };
    let (state, reason) = match tokio::time::timeout_at(deadline, body).await {
        Ok(r) => r,
        Err(_) => (
            State::TimedOut,
            Some(
                phone
                    .waiting_reason(spec.expect.as_ref())
                    .map(|w| format!("{w} within {}s", cfg.timeout.as_secs_f64()))
                    .unwrap_or_else(|| {
                        format!("did not settle within {}s", cfg.timeout.as_secs_f64())
                    }),
            ),
        ),
    };
    phone.report(state, reason, started.elapsed())
}
