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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cisco::render::{self, GeneratedFile};
use cisco::{
    AvailableLoad, Diagnosis, Fleet, FleetEvent, Intent, LoadName, Mac, Model, PhoneRecord,
    PhoneView, Policy, Protocol, Site, Stage, TargetLoad,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::desired::{file, DesiredError, DesiredState, Sections};
use crate::events::{Event, EventBus, PhoneEvent};
use crate::leases::WallClock;
use crate::resolver::{ResolveError, Resolved};

/// Who holds a lease on an address (the DHCP server's live state).
pub type LeaseHolder = Arc<dyn Fn(IpAddr) -> Option<Mac> + Send + Sync>;

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
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("state_file", &self.state_file)
            .finish()
    }
}

/// `phones.json`: what survives a restart.
#[derive(Debug, Serialize, Deserialize)]
struct StoredPhone {
    mac: String,
    model: Option<String>,
    ip: Option<IpAddr>,
    current: Option<String>,
    evidence: String,
    attempts: u32,
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
        }))
    }

    fn fleet(&self) -> MutexGuard<'_, Fleet> {
        // A panic while holding the lock must not stop provisioning: the
        // fleet's own invariants hold between calls.
        self.fleet.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The library changed (or was opened): replan every phone.
    pub fn set_catalog(&self, catalog: Vec<AvailableLoad>) {
        let mut fleet = self.fleet();
        fleet.set_catalog(catalog);
        self.drain(fleet);
    }

    /// A phone asked for `name`. Called before the file is resolved.
    pub fn observe_request(&self, client: IpAddr, name: &str) {
        let mut fleet = self.fleet();
        fleet.on_request(Instant::now(), client, name);
        self.drain(fleet);
    }

    /// Follows DHCP acks and finished transfers (the bus's observer).
    pub fn observe(&self, event: &Event) {
        match event {
            Event::Dhcp(d) if d.kind == "ack" => {
                let (Some(mac), Some(ip)) = (d.mac.as_deref(), d.ip) else {
                    return;
                };
                let Ok(mac) = mac.parse::<Mac>() else { return };
                let model = d.model.as_deref().and_then(Model::from_name);
                let mut fleet = self.fleet();
                fleet.on_dhcp(Instant::now(), mac, IpAddr::V4(ip), model);
                self.drain(fleet);
            }
            _ => {
                if let Some(t) = event.finished_transfer() {
                    // Refusals before a transfer started were already seen
                    // as requests; only real transfers end downloads.
                    let mut fleet = self.fleet();
                    fleet.on_transfer_done(
                        Instant::now(),
                        t.client.ip(),
                        t.file,
                        t.delivered,
                        t.bytes,
                    );
                    self.drain(fleet);
                }
            }
        }
    }

    /// Turns fleet events into bus events (after the lock is released: the
    /// bus calls back into [`Engine::observe`]).
    fn drain(&self, mut fleet: MutexGuard<'_, Fleet>) {
        let mut out = Vec::new();
        let mut changed = false;
        while let Some(e) = fleet.poll_event() {
            changed |= matches!(e, FleetEvent::HopDone { .. } | FleetEvent::Belief { .. });
            let ip = fleet_mac(&e)
                .and_then(|m| fleet.phone(m))
                .and_then(|v| v.ip);
            out.push(phone_event(&e, ip));
        }
        let records = changed.then(|| fleet.snapshot());
        drop(fleet);
        self.wake.notify_one();
        for e in out {
            self.bus.emit(Event::Phone(e));
        }
        if let Some(records) = records {
            if let Err(e) = save_records(&self.state_file, &records) {
                tracing::warn!(
                    "cannot save phone state to {}: {e:#}",
                    self.state_file.display()
                );
            }
        }
    }

    /// Runs the fleet's timers until shutdown; saves state at the end.
    pub async fn run_timers(self: Arc<Engine>, shutdown: CancellationToken) {
        loop {
            let next = self.fleet().poll_timeout();
            let sleep = match next {
                Some(t) => tokio::time::sleep_until(t.into()),
                None => tokio::time::sleep(Duration::from_secs(3600)),
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => continue,
                _ = sleep => {
                    let mut fleet = self.fleet();
                    fleet.handle_timeout(Instant::now());
                    self.drain(fleet);
                }
            }
        }
        let records = self.fleet().snapshot();
        if let Err(e) = save_records(&self.state_file, &records) {
            tracing::warn!(
                "cannot save phone state to {}: {e:#}",
                self.state_file.display()
            );
        }
    }

    /// The protocol a phone should recover into (which `termNN.default.loads`
    /// it is served).
    pub fn protocol_for(&self, client: IpAddr) -> Protocol {
        let fleet = self.fleet();
        let mac = fleet.mac_for_ip(client);
        let model = mac.and_then(|m| fleet.phone(m)).and_then(|v| v.model);
        drop(fleet);
        match (mac, model) {
            (Some(mac), model) => self.desired().intent(mac, model, self.fallback).protocol,
            (None, Some(model)) => self.desired().model_intent(model, self.fallback).protocol,
            (None, None) => self.desired().defaults.protocol.unwrap_or(self.fallback),
        }
    }

    /// A generated config for `name`, or `None` when `name` is not one.
    pub fn render(&self, client: IpAddr, name: &str) -> Option<Result<Resolved, ResolveError>> {
        let file = GeneratedFile::parse(name)?;
        Some(self.render_file(client, &file))
    }

    fn render_file(&self, client: IpAddr, file: &GeneratedFile) -> Result<Resolved, ResolveError> {
        let fleet = self.fleet();
        let requester = fleet.mac_for_ip(client);
        let text = match file {
            GeneratedFile::XmlDefault => {
                let mut loads = Vec::new();
                let own = requester.and_then(|m| fleet.phone(m));
                for model in Model::ALL {
                    let load = match &own {
                        // The phone's own walk, for its own model.
                        Some(v) if v.model == Some(model) => fleet.serving_load(v.mac),
                        _ => fleet.default_load(model).ok().flatten(),
                    };
                    if let Some(load) = load {
                        loads.push((model, load));
                    }
                }
                render::xml_default(&self.site, &loads)
            }
            GeneratedFile::SepCnfXml(mac) => {
                let view = fleet.phone(*mac);
                let model = view.as_ref().and_then(|v| v.model);
                let intent = self.desired().intent(*mac, model, self.fallback);
                let Some(model) = intent.settings.model.or(model) else {
                    // Without the model there is no load to name: the phone
                    // falls back to XMLDefault.cnf.xml, which names one per model.
                    return Err(ResolveError::NotFound);
                };
                self.check_secret_access(client, *mac, !intent.settings.lines.is_empty())?;
                let load = fleet.serving_load(*mac);
                render::sep_cnf_xml(&self.site, &intent.settings, model, load.as_ref())
            }
            GeneratedFile::SipDefaultCnf | GeneratedFile::Os79xxTxt => {
                // Per requesting phone; a phone not yet known gets its
                // model's first safe hop.
                let load = match requester {
                    Some(m) => fleet.serving_load(m),
                    None => None,
                }
                .or_else(|| fleet.default_load(Model::Cp7960).ok().flatten());
                let Some(load) = load else {
                    return Err(ResolveError::NotFound);
                };
                if matches!(file, GeneratedFile::Os79xxTxt) {
                    render::os79xx_txt(&load)
                } else {
                    render::sip_default_cnf(&self.site, &load)
                }
            }
            GeneratedFile::SipMacCnf(mac) => {
                let view = fleet.phone(*mac);
                let intent =
                    self.desired()
                        .intent(*mac, view.as_ref().and_then(|v| v.model), self.fallback);
                let model = intent
                    .settings
                    .model
                    .or(view.as_ref().and_then(|v| v.model))
                    .unwrap_or(Model::Cp7960);
                self.check_secret_access(client, *mac, !intent.settings.lines.is_empty())?;
                let Some(load) = fleet
                    .serving_load(*mac)
                    .or_else(|| fleet.default_load(model).ok().flatten())
                else {
                    return Err(ResolveError::NotFound);
                };
                render::sip_mac_cnf(&self.site, &intent.settings, model, &load)
            }
            GeneratedFile::RingListDat => render::ringlist_dat(),
            GeneratedFile::DialplanXml => render::dialplan_xml(),
            _ => return Err(ResolveError::NotFound),
        };
        Ok(Resolved {
            content: Bytes::from(text),
            source: format!("generated:{}", file.file_name()),
        })
    }

    /// Files with SIP passwords go only to the address leased to their MAC.
    fn check_secret_access(
        &self,
        client: IpAddr,
        mac: Mac,
        has_secrets: bool,
    ) -> Result<(), ResolveError> {
        if !has_secrets || !self.desired().restrict_per_mac_files {
            return Ok(());
        }
        let holder = self.lease_holder.as_ref().and_then(|f| f(client));
        if holder == Some(mac) {
            return Ok(());
        }
        tracing::warn!(
            "refused {mac}'s config (it carries SIP passwords) to {client}, which {}; set [provision] restrict_per_mac_files = false to serve it anyway",
            match holder {
                Some(other) => format!("holds the lease of {other}"),
                None => "holds no lease from phoneboot".to_owned(),
            }
        );
        Err(ResolveError::NotLeaseHolder)
    }

    /// Every phone, for the API.
    pub fn phones(&self) -> Vec<PhoneView> {
        self.fleet().phones().collect()
    }

    pub fn phone(&self, mac: Mac) -> Option<PhoneView> {
        self.fleet().phone(mac)
    }

    /// The desired state in force now.
    pub fn desired(&self) -> Arc<DesiredState> {
        read(&self.desired)
    }

    /// Adds or replaces one phone's entry at run time, validated exactly as
    /// if it were in the config file, kept in `desired-phones.json`, and
    /// applied at once (every phone is replanned).
    pub fn set_phone(&self, mac: Mac, mut entry: file::Phone) -> Result<(), DesiredError> {
        entry.mac = mac.to_string();
        let mut edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = edits.clone();
        next.insert(mac, entry);
        self.commit_edits(&mut edits, next)
    }

    /// Drops a run-time entry (the config file's own entry, if any, applies
    /// again). False when there was none.
    pub fn remove_phone(&self, mac: Mac) -> Result<bool, DesiredError> {
        let mut edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = edits.clone();
        if next.remove(&mac).is_none() {
            return Ok(false);
        }
        self.commit_edits(&mut edits, next).map(|()| true)
    }

    fn commit_edits(
        &self,
        edits: &mut BTreeMap<Mac, file::Phone>,
        next: BTreeMap<Mac, file::Phone>,
    ) -> Result<(), DesiredError> {
        let desired = apply_edits(&self.base, &next)?;
        let text = serde_json::to_string_pretty(&next.values().collect::<Vec<_>>())
            .map_err(|e| internal(e.to_string()))?;
        crate::fsutil::write_atomically(&self.edits_file, &text)
            .map_err(|e| internal(format!("{e:#}")))?;
        *edits = next;
        let models: Vec<(Mac, Model)> = desired
            .phones
            .iter()
            .filter_map(|(m, p)| p.model.map(|model| (*m, model)))
            .collect();
        *self.desired.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(desired);
        let mut fleet = self.fleet();
        for (mac, model) in models {
            fleet.set_model(mac, model);
        }
        fleet.set_intents(intents_of(self.desired.clone(), self.fallback));
        self.drain(fleet);
        Ok(())
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

fn internal(problem: String) -> DesiredError {
    DesiredError {
        entry: "desired-phones.json".into(),
        key: "write".into(),
        problem,
    }
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

/// The config file's sections with run-time phone entries replacing (or
/// adding to) its `[[phone]]` entries, validated as one file.
fn apply_edits(
    base: &Sections,
    edits: &BTreeMap<Mac, file::Phone>,
) -> Result<DesiredState, DesiredError> {
    let mut sections = base.clone();
    let mut phones: Vec<file::Phone> = sections
        .phones
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.mac
                .parse::<Mac>()
                .map_or(true, |m| !edits.contains_key(&m))
        })
        .collect();
    phones.extend(edits.values().cloned());
    sections.phones = Some(phones);
    DesiredState::from_sections(sections)
}

fn load_edits(path: &Path) -> anyhow::Result<BTreeMap<Mac, file::Phone>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    let list: Vec<file::Phone> = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is damaged ({e}); move it away", path.display()))?;
    list.into_iter()
        .map(|p| {
            let mac = p
                .mac
                .parse::<Mac>()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok((mac, p))
        })
        .collect()
}

/// The catalog the fleet plans with, from the firmware library.
pub fn catalog(lib: &library::Library) -> Vec<AvailableLoad> {
    lib.loads()
        .into_iter()
        .filter_map(|info| {
            let detail = lib.show(info.name.as_str()).ok()?;
            let files: Vec<String> = detail
                .files
                .iter()
                .filter(|f| f.role != library::FileRole::Extra)
                .map(|f| f.name.clone())
                .collect();
            let bytes = detail
                .files
                .iter()
                .filter(|f| f.role != library::FileRole::Extra)
                .map(|f| f.size)
                .sum();
            Some(AvailableLoad {
                name: info.name,
                complete: info.complete,
                missing: info.missing,
                files,
                bytes,
            })
        })
        .collect()
}

fn fleet_mac(e: &FleetEvent) -> Option<Mac> {
    Some(match e {
        FleetEvent::Stage { mac, .. }
        | FleetEvent::HopDone { mac, .. }
        | FleetEvent::HopRetry { mac, .. }
        | FleetEvent::Belief { mac, .. }
        | FleetEvent::Diagnosis { mac, .. } => *mac,
        _ => return None,
    })
}

/// The stage as one word, for the API and the dashboard.
pub fn stage_word(stage: &Stage) -> &'static str {
    match stage {
        Stage::Discovered => "discovered",
        Stage::Configured => "configured",
        Stage::Downloading { .. } => "downloading",
        Stage::Rebooting { .. } => "rebooting",
        Stage::Verifying { .. } => "verifying",
        Stage::OnHop { .. } => "on_hop",
        Stage::Done => "done",
        Stage::Stalled => "stalled",
        Stage::Failed => "failed",
        _ => "unknown",
    }
}

/// How many phones are at each stage, for `/metrics` and `/api/status`.
pub fn by_stage(phones: &[PhoneView]) -> BTreeMap<&'static str, usize> {
    let mut by = BTreeMap::new();
    for v in phones {
        *by.entry(stage_word(&v.stage)).or_default() += 1;
    }
    by
}

/// A short code per diagnosis.
pub fn diagnosis_code(d: &Diagnosis) -> &'static str {
    match d {
        Diagnosis::Plan(_) => "missing_load",
        Diagnosis::TermLoop { .. } => "term_loop",
        Diagnosis::ImageRefused { .. } => "image_refused",
        Diagnosis::OldTrustList { .. } => "old_trust_list",
        Diagnosis::LoaderOnly { .. } => "loader_only",
        Diagnosis::DownloadStalled { .. } => "download_stalled",
        Diagnosis::NoTftp { .. } => "no_tftp",
        _ => "other",
    }
}

/// The problem alone (`Display` of a diagnosis appends the fix).
pub fn diagnosis_problem(d: &Diagnosis) -> String {
    let full = d.to_string();
    let fix = d.fix();
    full.strip_suffix(&format!(": {fix}"))
        .map(str::to_owned)
        .unwrap_or(full)
}

fn phone_event(e: &FleetEvent, ip: Option<IpAddr>) -> PhoneEvent {
    let mac = fleet_mac(e).map(|m| m.to_string()).unwrap_or_default();
    let mut p = PhoneEvent {
        mac,
        ip,
        kind: "other",
        stage: None,
        load: None,
        message: String::new(),
        fix: None,
        code: None,
    };
    match e {
        FleetEvent::Stage { stage, .. } => {
            p.kind = "stage";
            p.stage = Some(stage_word(stage));
            p.message = stage.to_string();
        }
        FleetEvent::HopDone { load, attempts, .. } => {
            p.kind = "hop_done";
            p.load = Some(load.to_string());
            p.message = format!(
                "runs {load} now (verified: it came back and did not fetch it again; {attempts} download{})",
                if *attempts == 1 { "" } else { "s" }
            );
        }
        FleetEvent::HopRetry { load, attempts, .. } => {
            p.kind = "hop_retry";
            p.load = Some(load.to_string());
            p.message = format!("fetched {load} again after downloading all of it ({attempts} times): it did not take it");
        }
        FleetEvent::Belief {
            current, evidence, ..
        } => {
            p.kind = "belief";
            p.load = current.as_ref().map(ToString::to_string);
            p.message = match current {
                Some(l) => format!("runs {l} ({evidence})"),
                None => format!("running load unknown ({evidence})"),
            };
        }
        FleetEvent::Diagnosis { diagnosis, .. } => {
            p.kind = "diagnosis";
            p.code = Some(diagnosis_code(diagnosis));
            p.message = diagnosis_problem(diagnosis);
            p.fix = Some(diagnosis.fix());
        }
        _ => p.message = format!("{e:?}"),
    }
    p
}

fn load_records(path: &Path) -> anyhow::Result<Vec<PhoneRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    let stored: Vec<StoredPhone> = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is damaged ({e}); move it away to start with no remembered phone loads",
            path.display()
        )
    })?;
    Ok(stored
        .into_iter()
        .filter_map(|s| {
            Some(PhoneRecord {
                mac: s.mac.parse().ok()?,
                model: s.model.as_deref().and_then(Model::from_name),
                ip: s.ip,
                current: s.current.as_deref().and_then(|l| LoadName::parse(l).ok()),
                evidence: s.evidence,
                attempts: s.attempts,
            })
        })
        .collect())
}

fn save_records(path: &Path, records: &[PhoneRecord]) -> anyhow::Result<()> {
    let stored: Vec<StoredPhone> = records
        .iter()
        .map(|r| StoredPhone {
            mac: r.mac.to_string(),
            model: r.model.map(|m| m.name().to_owned()),
            ip: r.ip,
            current: r.current.as_ref().map(ToString::to_string),
            evidence: r.evidence.clone(),
            attempts: r.attempts,
        })
        .collect();
    let text = serde_json::to_string_pretty(&stored)?;
    crate::fsutil::write_atomically(path, &text)
}

/// The target as the fleet would resolve it, for display.
pub fn target_text(t: &TargetLoad) -> String {
    match t {
        TargetLoad::Newest => "newest".into(),
        TargetLoad::Exact(l) => l.to_string(),
    }
}
