//! The provisioning engine: the driver around `cisco::Fleet`.
//!
//! It feeds the fleet what the other drivers see, in order:
//! - every file request, synchronously from the resolver **before** the file
//!   is resolved ([`Engine::observe_request`]), so a config rendered for that
//!   request already names the phone's next hop;
//! - DHCP acks and finished TFTP/HTTP transfers through the event bus's
//!   synchronous observer (a phone's next request depends on the transfer it
//!   just finished, so these must not queue behind a lagging subscriber);
//! - the fleet's own timers from a small task.
//!
//! It renders the generated configs ([`Engine::render`]) with
//! `cisco::render`, turns fleet events into `Event::Phone`, and keeps what
//! each phone runs in `<data_dir>/phones.json` across restarts.
//!
//! Per-MAC files that carry SIP passwords are served only to the address
//! that holds that MAC's DHCP lease (unless `[provision]
//! restrict_per_mac_files = false`); other clients get "file not found", as
//! if the file did not exist, and the refusal is logged.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use cisco::{Fleet, FleetEvent, Intent, Mac, Model, PhoneView, Policy, Protocol, Site};
use tokio_util::sync::CancellationToken;

use crate::clock::WallClock;
use crate::events::{Event, EventBus};
use crate::provision::control::{NoControl, PhoneControl};
use crate::provision::desired::{file, DesiredState, Sections};

mod edits;
mod forward;
mod persist;
mod reboot;
mod render;
mod retry;
pub mod words;

pub use edits::EntrySource;
pub use forward::{Seen, SeenKind};
pub use persist::{record_from_json, record_json};
pub use reboot::{NotifyRecord, RebootRefused, SccpInfo};
pub use retry::RetryRefused;

use edits::{apply_edits, load_edits};
use persist::{load_records, save_records};
use words::{fleet_mac, phone_event};

/// Who holds a lease on an address (the DHCP server's live state).
pub type LeaseHolder = Arc<dyn Fn(IpAddr) -> Option<Mac> + Send + Sync>;

/// How long the timer task lets fleet changes pile up before it looks for
/// the next deadline again.
const WAKE_COALESCE: Duration = Duration::from_millis(20);
/// `phones.json` is written at most this often while beliefs change.
const SAVE_COALESCE: Duration = Duration::from_secs(1);

pub struct Engine {
    fleet: Mutex<Fleet>,
    /// The desired state in force: the config file with the run-time edits
    /// (`<data_dir>/desired-phones.json`) applied. Swapped whole on an edit.
    desired: Arc<RwLock<Arc<DesiredState>>>,
    /// The config file's sections, to validate edits against.
    base: Sections,
    /// Phones added or replaced at run time, by MAC.
    edits: Mutex<BTreeMap<Mac, file::Phone>>,
    edits_file: PathBuf,
    site: Site,
    fallback: Protocol,
    bus: EventBus,
    clock: WallClock,
    state_file: PathBuf,
    lease_holder: Option<LeaseHolder>,
    /// The fleet's next timer moved earlier: wake the timer task.
    wake: tokio::sync::Notify,
    /// A belief changed: `phones.json` is behind (a permit waits until the
    /// saver takes it).
    unsaved: tokio::sync::Notify,
    /// The deadline the timer task sleeps until (`None`: no timer). Read
    /// and written with the fleet locked: a change that leaves the next
    /// timer where it was wakes nobody (issue #15: one wake-up per ACK).
    sleeps_until: Mutex<Option<Instant>>,
    /// The SCCP and NOTIFY drivers, once they run.
    control: RwLock<Arc<dyn PhoneControl>>,
    /// phoneboot's own SCCP listener as configs name it (`host:port`).
    own_sccp: Option<String>,
    /// The port phones take NOTIFY on.
    sip_port: u16,
    /// What phoneboot knows about each phone's control channels.
    reach: Mutex<reboot::Reach>,
    /// Observations of phones other servers own, to pass on.
    forward: Mutex<forward::Forward>,
}

/// The settings the engine starts from.
pub struct EngineConfig {
    pub desired: DesiredState,
    /// The config file's desired-state sections (run-time edits are
    /// validated as if written there).
    pub sections: Sections,
    /// With the SIP server, NTP and syslog addresses filled in.
    pub site: Site,
    pub fallback: Protocol,
    pub data_dir: PathBuf,
    pub policy: Policy,
    pub lease_holder: Option<LeaseHolder>,
    /// phoneboot's SCCP listener as configs should name it (`host:port`),
    /// when it runs.
    pub own_sccp: Option<String>,
    /// The port phones take NOTIFY on (5060).
    pub sip_port: u16,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("state_file", &self.state_file)
            .finish()
    }
}

impl Engine {
    pub fn new(cfg: EngineConfig, bus: EventBus) -> anyhow::Result<Arc<Engine>> {
        let edits_file = cfg.data_dir.join("desired-phones.json");
        let edits = load_edits(&edits_file)?;
        let desired = if edits.is_empty() {
            cfg.desired
        } else {
            tracing::info!(
                "desired state: {} phone entries changed at run time, from {}",
                edits.len(),
                edits_file.display()
            );
            apply_edits(&cfg.sections, &edits).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e}; the config file changed since these edits were made: fix it, or move the file away",
                    edits_file.display()
                )
            })?
        };
        let desired = Arc::new(RwLock::new(Arc::new(desired)));
        let intents = intents_of(desired.clone(), cfg.fallback);
        let mut fleet = Fleet::new(cfg.policy, intents);
        let current = read(&desired);
        for (mac, entry) in &current.phones {
            if let Some(model) = entry.model {
                fleet.set_model(*mac, model);
            }
        }
        let state_file = cfg.data_dir.join("phones.json");
        let records = load_records(&state_file)?;
        if !records.is_empty() {
            tracing::info!(
                "provisioning: restored what {} phones run from {}",
                records.len(),
                state_file.display()
            );
        }
        fleet.restore(records);
        Ok(Arc::new(Engine {
            fleet: Mutex::new(fleet),
            desired,
            base: cfg.sections,
            edits: Mutex::new(edits),
            edits_file,
            site: cfg.site,
            fallback: cfg.fallback,
            bus,
            clock: WallClock::now(),
            state_file,
            lease_holder: cfg.lease_holder,
            wake: tokio::sync::Notify::new(),
            unsaved: tokio::sync::Notify::new(),
            sleeps_until: Mutex::new(None),
            control: RwLock::new(Arc::new(NoControl)),
            own_sccp: cfg.own_sccp,
            sip_port: cfg.sip_port,
            reach: Mutex::new(reboot::Reach::default()),
            forward: Mutex::new(forward::Forward::default()),
        }))
    }

    fn fleet(&self) -> MutexGuard<'_, Fleet> {
        // A panic while holding the lock must not stop provisioning: the
        // fleet's own invariants hold between calls.
        self.fleet.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows DHCP acks and finished transfers (the bus's observer).
    pub fn observe(&self, event: &Event) {
        match event {
            Event::Dhcp(d) if d.kind == dhcp::EventKind::Ack => {
                let (Some(mac), Some(ip)) = (d.mac, d.ip) else {
                    return;
                };
                self.owns(mac);
                let mut fleet = self.fleet();
                fleet.on_dhcp(Instant::now(), mac, IpAddr::V4(ip), d.model);
                self.drain(fleet);
            }
            Event::SccpRegister(_)
            | Event::SccpSession(_)
            | Event::SccpReset(_)
            | Event::SipNotify(_) => self.observe_control(event),
            _ => {
                if let Some(t) = event.finished_transfer() {
                    // Refusals before a transfer started were already seen
                    // as requests; only real transfers end downloads.
                    let mut fleet = self.fleet();
                    let mac = fleet.on_transfer_done(
                        Instant::now(),
                        t.client.ip(),
                        t.file,
                        t.delivered,
                        t.bytes,
                    );
                    self.drain(fleet);
                    let kind = forward::SeenKind::Done {
                        ok: t.delivered,
                        bytes: t.bytes,
                    };
                    self.seen(mac, t.client.ip(), t.file, kind);
                }
            }
        }
    }

    /// Turns fleet events into bus events (after the lock is released: the
    /// bus calls back into [`Engine::observe`]).
    fn drain(&self, mut fleet: MutexGuard<'_, Fleet>) {
        let mut out = Vec::new();
        let mut reboots = Vec::new();
        let mut changed = false;
        while let Some(e) = fleet.poll_event() {
            changed |= matches!(e, FleetEvent::HopDone { .. } | FleetEvent::Belief { .. });
            if let FleetEvent::Reboot {
                mac,
                channel,
                cause,
                resets,
            } = &e
            {
                reboots.push((*mac, *channel, cause.clone(), *resets));
            }
            let ip = fleet_mac(&e)
                .and_then(|m| fleet.phone(m))
                .and_then(|v| v.ip);
            out.extend(phone_event(&e, ip));
        }
        let earlier = fleet.poll_timeout().is_some_and(|next| {
            let sleeps = self.sleeps_until.lock().unwrap_or_else(|p| p.into_inner());
            sleeps.is_none_or(|s| next < s)
        });
        drop(fleet);
        if earlier {
            self.wake.notify_one();
        }
        if changed {
            self.unsaved.notify_one();
        }
        for e in out {
            self.bus.emit(Event::Phone(e));
        }
        for (mac, channel, cause, resets) in reboots {
            self.send_reboot(mac, channel, &cause, resets);
        }
    }

    /// Runs the fleet's timers and saves the phones' state until shutdown,
    /// then saves it once more. A timer may fire up to [`WAKE_COALESCE`]
    /// late.
    pub async fn run_timers(self: Arc<Engine>, shutdown: CancellationToken) {
        tokio::join!(self.fire_timers(&shutdown), self.save_changes(&shutdown));
        // Both loops have ended: no save is in flight to land after this one.
        let records = self.fleet().snapshot();
        if let Err(e) = save_records(&self.state_file, &records) {
            tracing::warn!(
                "cannot save phone state to {}: {e:#}",
                self.state_file.display()
            );
        }
    }

    /// Writes `phones.json` after belief changes, at most once per
    /// [`SAVE_COALESCE`] and off the thread that made them. Saving inside
    /// `drain` wrote the whole fleet on the DHCP thread for every phone's
    /// first ACK (its model learned from option 60): O(phones) and a file
    /// write per new phone, which slowed a server taking over a thousand
    /// phones a second. A crash loses at most the last second of beliefs;
    /// the phones' next requests tell them again.
    async fn save_changes(&self, shutdown: &CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.unsaved.notified() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SAVE_COALESCE) => {}
            }
            let records = self.fleet().snapshot();
            let path = self.state_file.clone();
            let saved = tokio::task::spawn_blocking(move || save_records(&path, &records)).await;
            if let Ok(Err(e)) = saved {
                tracing::warn!(
                    "cannot save phone state to {}: {e:#}",
                    self.state_file.display()
                );
            }
        }
    }

    async fn fire_timers(&self, shutdown: &CancellationToken) {
        loop {
            let next = {
                let fleet = self.fleet();
                let next = fleet.poll_timeout();
                *self.sleeps_until.lock().unwrap_or_else(|p| p.into_inner()) = next;
                next
            };
            let sleep = match next {
                Some(t) => tokio::time::sleep_until(t.into()),
                None => tokio::time::sleep(Duration::from_secs(3600)),
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // A storm of changes that move the next timer earlier
                // wakes us once: look again at most every WAKE_COALESCE
                // (fleet timers are seconds long; issue #15).
                _ = self.wake.notified() => {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(WAKE_COALESCE) => continue,
                    }
                }
                _ = sleep => {
                    let mut fleet = self.fleet();
                    fleet.handle_timeout(Instant::now());
                    self.drain(fleet);
                }
            }
        }
    }

    /// Hands the engine the drivers that reach phones between boots.
    pub fn set_control(&self, control: Arc<dyn PhoneControl>) {
        *self.control.write().unwrap_or_else(|p| p.into_inner()) = control;
    }

    fn control(&self) -> Arc<dyn PhoneControl> {
        self.control
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every phone, for the API.
    /// What this server believes about each phone, to share.
    pub fn records(&self) -> Vec<cisco::PhoneRecord> {
        self.fleet().snapshot()
    }

    /// Beliefs of other servers sharing the store (with their names): a
    /// phone unknown here, or known without a belief, takes them. Returns
    /// how many changed something.
    pub fn learn_from_peers(&self, records: Vec<(cisco::PhoneRecord, String)>) -> usize {
        let mut fleet = self.fleet();
        let n = records
            .into_iter()
            .filter(|(r, server)| fleet.learn_from_peer(r.clone(), server))
            .count();
        self.drain(fleet);
        n
    }

    pub fn phones(&self) -> Vec<PhoneView> {
        self.fleet().phones().collect()
    }

    pub fn phone(&self, mac: Mac) -> Option<PhoneView> {
        self.fleet().phone(mac)
    }

    /// The phone phoneboot knows at `ip` (its lease, or the MAC in the
    /// files it asked for).
    pub fn mac_for_ip(&self, ip: IpAddr) -> Option<Mac> {
        self.fleet().mac_for_ip(ip)
    }

    /// The desired state in force now.
    pub fn desired(&self) -> Arc<DesiredState> {
        read(&self.desired)
    }

    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Unix milliseconds for an instant the fleet reported.
    pub fn unix_ms(&self, t: Instant) -> i64 {
        self.clock.to_unix_ms(t)
    }
}

fn read(desired: &RwLock<Arc<DesiredState>>) -> Arc<DesiredState> {
    desired.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The fleet's view of the desired state: read fresh on every question, so
/// a run-time edit applies to the next request.
fn intents_of(
    desired: Arc<RwLock<Arc<DesiredState>>>,
    fallback: Protocol,
) -> impl Fn(Option<Mac>, Model) -> Intent + Send + 'static {
    move |mac: Option<Mac>, model: Model| {
        let d = read(&desired);
        match mac {
            Some(mac) => (&d.intent(mac, Some(model), fallback)).into(),
            None => d.model_intent(model, fallback),
        }
    }
}
