//! Per-phone provisioning state, and a [`Fleet`] of phones keyed by MAC.
//!
//! The fleet turns what the drivers see (DHCP leases, TFTP/HTTP requests and
//! finished transfers) into a belief about which load each phone runs, walks
//! each phone along its [`Plan`], and tells the config renderers which load
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
//! possible load (see [`crate::plan`]). The belief and its evidence survive
//! restarts through [`Fleet::snapshot`] and [`Fleet::restore`].
//!
//! The rule assumes every config the phone fetched (`SEP<MAC>.cnf.xml`,
//! `XMLDefault.cnf.xml`, `SIPDefault.cnf`, `SIP<MAC>.cnf`) named
//! [`Fleet::serving_load`] as it was right after `on_request`: render
//! `XMLDefault.cnf.xml` per requesting phone when the fleet knows its MAC
//! ([`Fleet::mac_for_ip`]), and [`Fleet::default_load`] otherwise.
//!
//! Hops are served one at a time: after a hop is verified the next one is
//! named in the phone's config, which the phone reads on its next boot.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::desired::{Mac, TargetLoad};
use crate::files::{classify, FirmwareFile, ImageExt, TermFile};
use crate::load_name::{LoadKind, LoadName};
use crate::model::{Model, Protocol};
use crate::plan::{direct_hop_ok, plan, AvailableLoad, Hop, Plan, PlanError};
use crate::request::{base_name, RequestedFile};

/// What the operator wants for one phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The protocol it should end on.
    pub protocol: Protocol,
    /// The load it should end on.
    pub target: TargetLoad,
    /// What the operator says it runs now, used until the phone shows otherwise.
    pub start_load: Option<LoadName>,
}

/// Where the fleet gets each phone's [`Intent`]. The binary resolves
/// phone > model > family > defaults itself; `mac` is `None` for the
/// model-wide default (`XMLDefault.cnf.xml`).
pub trait Intents {
    /// The intent for this phone (or, with `mac` `None`, for phones of `model`
    /// without their own entry).
    fn intent(&self, mac: Option<Mac>, model: Model) -> Intent;
}

impl<F: Fn(Option<Mac>, Model) -> Intent> Intents for F {
    fn intent(&self, mac: Option<Mac>, model: Model) -> Intent {
        self(mac, model)
    }
}

/// Timing and thresholds. Plain data; the defaults suit real phones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How long after a config a phone that has not asked for the named load
    /// is taken to run it.
    pub settle: Duration,
    /// A lease with no TFTP request after this long is diagnosed.
    pub no_tftp_after: Duration,
    /// An unfinished download with no request for this long is diagnosed.
    pub download_stall: Duration,
    /// This many `termNN.default.loads` requests within `term_loop_window` is a loop.
    pub term_loop_count: usize,
    /// See `term_loop_count`.
    pub term_loop_window: Duration,
    /// Complete downloads of one hop before "keeps its old image" is diagnosed.
    pub max_attempts: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            settle: Duration::from_secs(90),
            no_tftp_after: Duration::from_secs(120),
            download_stall: Duration::from_secs(300),
            term_loop_count: 3,
            term_loop_window: Duration::from_secs(30 * 60),
            max_attempts: 3,
        }
    }
}

/// How far a download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Files fetched completely.
    pub files_done: usize,
    /// Files in the load (`.loads` included).
    pub files_total: usize,
    /// Bytes of the fetched files.
    pub bytes_done: u64,
    /// Bytes of the whole load.
    pub bytes_total: u64,
}

/// Where a phone is in its walk. `hop` counts from 1; `of` is the hops done
/// plus the hops still planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Seen (DHCP or a request), no config fetched yet.
    Discovered,
    /// Fetched its config; nothing to download yet, or not started.
    Configured,
    /// Fetching the files of hop `hop`.
    Downloading {
        /// Which hop.
        hop: u32,
        /// Of how many.
        of: u32,
        /// Files and bytes so far.
        progress: Progress,
    },
    /// Fetched every file of hop `hop`; expected to reboot into it.
    Rebooting {
        /// Which hop.
        hop: u32,
        /// Of how many.
        of: u32,
    },
    /// Back after a download; checking that it does not fetch the load again.
    Verifying {
        /// Which hop.
        hop: u32,
        /// Of how many.
        of: u32,
    },
    /// Runs hop `hop`; takes the next one when it next reads its config.
    OnHop {
        /// Which hop.
        hop: u32,
        /// Of how many.
        of: u32,
    },
    /// Runs its target.
    Done,
    /// Something is wrong on the phone or the network; see the diagnosis.
    Stalled,
    /// No safe plan; see the diagnosis (usually: import a load).
    Failed,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Discovered => f.write_str("discovered"),
            Stage::Configured => f.write_str("configured"),
            Stage::Downloading { hop, of, progress } => write!(
                f,
                "downloading hop {hop}/{of} ({}/{} files, {}/{} bytes)",
                progress.files_done,
                progress.files_total,
                progress.bytes_done,
                progress.bytes_total
            ),
            Stage::Rebooting { hop, of } => write!(f, "rebooting into hop {hop}/{of}"),
            Stage::Verifying { hop, of } => write!(f, "verifying hop {hop}/{of}"),
            Stage::OnHop { hop, of } => write!(f, "on hop {hop}/{of}"),
            Stage::Done => f.write_str("done"),
            Stage::Stalled => f.write_str("stalled"),
            Stage::Failed => f.write_str("failed"),
        }
    }
}

/// Something the operator should know, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnosis {
    /// No safe plan.
    Plan(PlanError),
    /// `termNN.default.loads` asked for again and again.
    TermLoop {
        /// The file.
        file: String,
        /// Requests within the window.
        count: usize,
    },
    /// The whole load fetched again and again, but the phone keeps its old image.
    ImageRefused {
        /// The load.
        load: LoadName,
        /// Complete downloads so far.
        attempts: u32,
    },
    /// The phone asks for signed configs: it holds an old trust list.
    OldTrustList {
        /// The `.sgn` name asked for.
        file: String,
    },
    /// Loader fetched, application never.
    LoaderOnly {
        /// The load.
        load: LoadName,
        /// Files it never fetched.
        missing: Vec<String>,
    },
    /// A download stopped part-way.
    DownloadStalled {
        /// The load.
        load: LoadName,
        /// Files it never fetched.
        missing: Vec<String>,
    },
    /// A lease but no TFTP request.
    NoTftp {
        /// The leased address.
        ip: Option<IpAddr>,
        /// How long it has been.
        waited: Duration,
    },
}

impl Diagnosis {
    /// What to do about it.
    pub fn fix(&self) -> String {
        match self {
            Diagnosis::Plan(e) => e.to_string(),
            Diagnosis::TermLoop { .. } => "serve this phone a complete load of the protocol it \
                should recover into (import the bundle whose term file lists it), power it from a \
                brick rather than PoE, and if it still loops do a factory reset"
                .to_owned(),
            Diagnosis::ImageRefused { load, .. } => format!(
                "check that {load} fits the phone (hardware revision), give the phone's real load \
                 as its start load, or factory-reset it and let it walk again"
            ),
            Diagnosis::OldTrustList { .. } => "erase the trust list on the phone: Settings > \
                Security > Trust List (unlock with **#), or factory-reset it"
                .to_owned(),
            Diagnosis::LoaderOnly { .. } => "the phone flashed the loader but never fetched the \
                application (\"Protocol Application Invalid\"): make sure DHCP option 150/66 \
                reaches it, that the application files are in the library, then power-cycle it"
                .to_owned(),
            Diagnosis::DownloadStalled { .. } => "check the network path and the TFTP log for \
                errors on these files, then power-cycle the phone"
                .to_owned(),
            Diagnosis::NoTftp { .. } => "check that DHCP options 150 and 66 reach the phone \
                (another DHCP server, or a relay dropping them?) and that UDP 69 is reachable; if \
                the phone is up and working, ignore this"
                .to_owned(),
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnosis::Plan(e) => return write!(f, "{e}"),
            Diagnosis::TermLoop { file, count } => write!(
                f,
                "asked for {file} {count} times: it keeps failing to recover (the term.defaults loop)"
            )?,
            Diagnosis::ImageRefused { load, attempts } => write!(
                f,
                "fetched all of {load} {attempts} times but keeps booting its old image"
            )?,
            Diagnosis::OldTrustList { file } => write!(
                f,
                "asked for {file}: it holds an old trust list (ITL) and rejects unsigned configs"
            )?,
            Diagnosis::LoaderOnly { load, missing } => write!(
                f,
                "fetched the loader of {load} but never {}",
                missing.join(", ")
            )?,
            Diagnosis::DownloadStalled { load, missing } => write!(
                f,
                "stopped downloading {load}; never fetched {}",
                missing.join(", ")
            )?,
            Diagnosis::NoTftp { ip, waited } => {
                let ip = ip.map_or_else(|| "its address".to_owned(), |i| i.to_string());
                write!(
                    f,
                    "got a DHCP lease ({ip}) but made no TFTP request in {}s",
                    waited.as_secs()
                )?
            }
        }
        write!(f, ": {}", self.fix())
    }
}

/// Something that happened, for logs, the dashboard and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetEvent {
    /// A phone moved to another stage.
    Stage {
        /// The phone.
        mac: Mac,
        /// The new stage.
        stage: Stage,
    },
    /// A hop was verified: the phone runs `load`.
    HopDone {
        /// The phone.
        mac: Mac,
        /// The load it now runs.
        load: LoadName,
        /// Complete downloads it took.
        attempts: u32,
    },
    /// The phone fetched a hop again after fetching all of it: it did not take it.
    HopRetry {
        /// The phone.
        mac: Mac,
        /// The load.
        load: LoadName,
        /// Complete downloads so far.
        attempts: u32,
    },
    /// The belief about the running load changed for a reason other than a hop.
    Belief {
        /// The phone.
        mac: Mac,
        /// What it is now believed to run.
        current: Option<LoadName>,
        /// Why.
        evidence: String,
    },
    /// Something needs the operator.
    Diagnosis {
        /// The phone.
        mac: Mac,
        /// What and what to do.
        diagnosis: Diagnosis,
    },
}

/// What survives a restart. Plain data; the binary stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRecord {
    /// The phone.
    pub mac: Mac,
    /// Its model, when known.
    pub model: Option<Model>,
    /// Its last address.
    pub ip: Option<IpAddr>,
    /// The load it is believed to run.
    pub current: Option<LoadName>,
    /// Why, in words.
    pub evidence: String,
    /// Complete downloads of the hop being served.
    pub attempts: u32,
}

/// A read-only view of one phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneView {
    /// The phone.
    pub mac: Mac,
    /// Its last address.
    pub ip: Option<IpAddr>,
    /// Its model, when known.
    pub model: Option<Model>,
    /// How the model is known.
    pub model_evidence: String,
    /// The load it is believed to run (what it showed, else the operator's start load).
    pub current: Option<LoadName>,
    /// Why.
    pub evidence: String,
    /// What its config names now.
    pub next: Option<LoadName>,
    /// Where it should end.
    pub target: Option<LoadName>,
    /// The remaining hops.
    pub hops: Vec<Hop>,
    /// Its stage.
    pub stage: Stage,
    /// Download progress, when downloading.
    pub progress: Option<Progress>,
    /// What is wrong, if anything.
    pub diagnosis: Option<Diagnosis>,
    /// Complete downloads of the hop being served.
    pub attempts: u32,
    /// Its last DHCP or file request.
    pub last_seen: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    NoTftp = 0,
    Settle = 1,
    Stall = 2,
}

const TIMERS: [Timer; 3] = [Timer::NoTftp, Timer::Settle, Timer::Stall];

#[derive(Debug, Clone)]
struct Download {
    load: LoadName,
    files: Vec<String>,
    done: Vec<bool>,
    bytes_done: u64,
    bytes_total: u64,
    complete: bool,
}

impl Download {
    fn progress(&self) -> Progress {
        Progress {
            files_done: self.done.iter().filter(|d| **d).count(),
            files_total: self.files.len(),
            bytes_done: self.bytes_done,
            bytes_total: self.bytes_total,
        }
    }

    fn missing(&self) -> Vec<String> {
        self.files
            .iter()
            .zip(&self.done)
            .filter(|(_, d)| !**d)
            .map(|(f, _)| f.clone())
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Told {
    load: LoadName,
    file: String,
}

#[derive(Debug, Clone)]
struct Phone {
    mac: Mac,
    ip: Option<IpAddr>,
    model: Option<Model>,
    model_sure: bool,
    model_evidence: String,
    current: Option<LoadName>,
    evidence: String,
    /// The operator's start load was contradicted by the phone.
    start_refuted: bool,
    /// Fetched a config at least once.
    configured: bool,
    intent: Option<Intent>,
    plan: Option<Result<Plan, PlanError>>,
    hops_done: u32,
    download: Option<Download>,
    /// The download finished and the phone has made a request since.
    returned: bool,
    told: Option<Told>,
    /// Boots that began after a config named this load, without the load
    /// being fetched in between.
    quiet_boots: Option<(LoadName, u32)>,
    attempts: u32,
    /// Downloads of the current hop restarted after part of it was fetched.
    restarts: u32,
    term_requests: VecDeque<Instant>,
    stall: Option<Diagnosis>,
    last_seen: Option<Instant>,
    timers: [Option<Instant>; 3],
    stage: Stage,
}

impl Phone {
    fn new(mac: Mac) -> Phone {
        Phone {
            mac,
            ip: None,
            model: None,
            model_sure: false,
            model_evidence: String::new(),
            current: None,
            evidence: "nothing seen yet".to_owned(),
            start_refuted: false,
            configured: false,
            intent: None,
            plan: None,
            hops_done: 0,
            download: None,
            returned: false,
            told: None,
            quiet_boots: None,
            attempts: 0,
            restarts: 0,
            term_requests: VecDeque::new(),
            stall: None,
            last_seen: None,
            timers: [None; 3],
            stage: Stage::Discovered,
        }
    }

    /// The load the plan starts from: what the phone showed, else what the operator said.
    fn belief(&self) -> Option<&LoadName> {
        let fits = |l: &&LoadName| self.model.is_none_or(|m| l.fits(m));
        self.current.as_ref().filter(fits).or_else(|| {
            if self.start_refuted {
                None
            } else {
                self.intent
                    .as_ref()
                    .and_then(|i| i.start_load.as_ref())
                    .filter(fits)
            }
        })
    }

    fn serving(&self) -> Option<LoadName> {
        let model = self.model?;
        let load = match &self.plan {
            Some(Ok(p)) => p
                .next()
                .map(|h| h.load.clone())
                .or_else(|| self.belief().cloned()),
            // No safe plan: keep the phone where it is.
            _ => self.belief().cloned(),
        }?;
        load.fits(model).then_some(load)
    }

    fn timer(&mut self, t: Timer) -> &mut Option<Instant> {
        let [no_tftp, settle, stall] = &mut self.timers;
        match t {
            Timer::NoTftp => no_tftp,
            Timer::Settle => settle,
            Timer::Stall => stall,
        }
    }

    fn hops_left(&self) -> u32 {
        match &self.plan {
            Some(Ok(p)) => u32::try_from(p.hops.len()).unwrap_or(u32::MAX),
            _ => 0,
        }
    }

    fn diagnosis(&self) -> Option<Diagnosis> {
        match &self.plan {
            Some(Err(e)) => Some(Diagnosis::Plan(e.clone())),
            _ => self.stall.clone(),
        }
    }

    fn compute_stage(&self) -> Stage {
        if matches!(self.plan, Some(Err(_))) {
            return Stage::Failed;
        }
        if self.stall.is_some() {
            return Stage::Stalled;
        }
        let hop = self.hops_done.saturating_add(1);
        let of = self.hops_done.saturating_add(self.hops_left());
        if let Some(d) = &self.download {
            return if !d.complete {
                Stage::Downloading {
                    hop,
                    of,
                    progress: d.progress(),
                }
            } else if self.returned {
                Stage::Verifying { hop, of }
            } else {
                Stage::Rebooting { hop, of }
            };
        }
        if self.model.is_none() {
            return Stage::Discovered;
        }
        if self.belief().is_some() && self.hops_left() == 0 {
            return Stage::Done;
        }
        if self.hops_done > 0 {
            return Stage::OnHop {
                hop: self.hops_done,
                of,
            };
        }
        if self.configured {
            return Stage::Configured;
        }
        Stage::Discovered
    }

    fn record(&self) -> PhoneRecord {
        PhoneRecord {
            mac: self.mac,
            model: self.model,
            ip: self.ip,
            current: self.current.clone(),
            evidence: self.evidence.clone(),
            attempts: self.attempts,
        }
    }

    fn view(&self) -> PhoneView {
        let hops = match &self.plan {
            Some(Ok(p)) => p.hops.clone(),
            _ => Vec::new(),
        };
        let target = match &self.plan {
            Some(Ok(p)) => p.target().cloned().or_else(|| self.belief().cloned()),
            _ => None,
        };
        PhoneView {
            mac: self.mac,
            ip: self.ip,
            model: self.model,
            model_evidence: self.model_evidence.clone(),
            current: self.belief().cloned(),
            evidence: if self.current.is_none() && self.belief().is_some() {
                "the operator's start load".to_owned()
            } else {
                self.evidence.clone()
            },
            next: self.serving(),
            target,
            hops,
            stage: self.stage,
            progress: self.download.as_ref().map(Download::progress),
            diagnosis: self.diagnosis(),
            attempts: self.attempts,
            last_seen: self.last_seen,
        }
    }
}

/// What a requested name is, for the state machine.
#[derive(Debug)]
enum Kind {
    /// CTL/ITL files and `OS79XX.TXT`: the start of a boot.
    Boot,
    /// A config that names a load (or precedes the one that does).
    Config,
    /// A signed config: the phone holds a trust list.
    Signed,
    /// `termNN.default.loads`.
    Term(TermFile),
    /// A firmware file.
    Firmware(FirmwareFile),
    /// Anything else: ring lists, dial plans, locales. Comes after the load decision.
    Other,
}

impl Kind {
    fn of(file: RequestedFile) -> Kind {
        match file {
            RequestedFile::TrustList(_) | RequestedFile::Os79xxTxt => Kind::Boot,
            RequestedFile::XmlDefault
            | RequestedFile::SepCnfXml(_)
            | RequestedFile::SipDefaultCnf
            | RequestedFile::SipMacCnf(_)
            | RequestedFile::MacCfg { .. }
            | RequestedFile::OtherConfig => Kind::Config,
            RequestedFile::SignedConfig(_) => Kind::Signed,
            RequestedFile::Firmware(FirmwareFile::TermDefault(t)) => Kind::Term(t),
            RequestedFile::Firmware(f) => Kind::Firmware(f),
            RequestedFile::RingListDat | RequestedFile::DialplanXml | RequestedFile::Other => {
                Kind::Other
            }
        }
    }
}

/// The phone a MAC-bearing file name is for (`SEP<MAC>.cnf.xml`,
/// `CTLSEP<MAC>.tlv`, `ITLSEP<MAC>.tlv`, `SIP<MAC>.cnf`, signed configs, …),
/// any letter case, folders ignored.
pub fn mac_of_file(name: &str) -> Option<Mac> {
    RequestedFile::of_path(name).mac()
}

/// A loader file: the 79x0 `.sbn`, or a Java phone's `jar…sbn`.
fn is_loader(file: &str) -> bool {
    classify(file).is_some_and(|f| f.is_loader())
}

/// Every phone phoneboot has seen, and the machinery that walks them to their targets.
///
/// After every `on_*`/`handle_timeout`/`set_*` call, drain [`Fleet::poll_event`];
/// then re-arm the driver's timer from [`Fleet::poll_timeout`].
pub struct Fleet {
    phones: BTreeMap<Mac, Phone>,
    by_ip: HashMap<IpAddr, Mac>,
    catalog: Vec<AvailableLoad>,
    intents: Box<dyn Intents + Send>,
    policy: Policy,
    events: VecDeque<FleetEvent>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("phones", &self.phones.len())
            .field("catalog", &self.catalog.len())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// An empty fleet with an empty catalog.
    pub fn new(policy: Policy, intents: impl Intents + Send + 'static) -> Fleet {
        Fleet {
            phones: BTreeMap::new(),
            by_ip: HashMap::new(),
            catalog: Vec::new(),
            intents: Box::new(intents),
            policy,
            events: VecDeque::new(),
        }
    }

    // ---- application commands -------------------------------------------------

    /// Replace the library catalog and replan every phone.
    pub fn set_catalog(&mut self, catalog: Vec<AvailableLoad>) {
        self.catalog = catalog;
        self.replan_all();
    }

    /// Replace where intents come from (config reload) and replan every phone.
    pub fn set_intents(&mut self, intents: impl Intents + Send + 'static) {
        self.intents = Box::new(intents);
        self.replan_all();
    }

    /// The operator's config states this phone's model (for phones whose
    /// DHCP comes from another server, so option 60 never reaches phoneboot).
    pub fn set_model(&mut self, mac: Mac, model: Model) {
        self.learn_model(mac, model, true, "the operator's config".to_owned());
        self.update_stage(mac);
    }

    /// Put back what [`Fleet::snapshot`] saved. Phones already known are overwritten.
    pub fn restore(&mut self, records: Vec<PhoneRecord>) {
        for r in records {
            let phone = self
                .phones
                .entry(r.mac)
                .or_insert_with(|| Phone::new(r.mac));
            phone.model = r.model;
            phone.model_sure = r.model.is_some();
            phone.model_evidence = "restored".to_owned();
            phone.current = r.current;
            phone.evidence = r.evidence;
            phone.attempts = r.attempts;
            phone.ip = r.ip;
            if let Some(ip) = r.ip {
                self.by_ip.insert(ip, r.mac);
            }
            self.replan(r.mac);
            if let Some(p) = self.phones.get_mut(&r.mac) {
                p.stage = p.compute_stage();
            }
        }
    }

    // ---- inputs ---------------------------------------------------------------

    /// A lease was granted: `model` from option 60, when it matched.
    pub fn on_dhcp(&mut self, now: Instant, mac: Mac, ip: IpAddr, model: Option<Model>) {
        self.bind(mac, ip);
        let deadline = now.checked_add(self.policy.no_tftp_after);
        let phone = self.phone_mut(mac);
        phone.last_seen = Some(now);
        if phone.stage != Stage::Done {
            *phone.timer(Timer::NoTftp) = deadline;
        }
        if let Some(m) = model {
            self.learn_model(mac, m, true, "DHCP option 60".to_owned());
        }
        self.update_stage(mac);
    }

    /// A TFTP RRQ or HTTP GET for `name` began from `ip`. Call it before
    /// resolving the file. Returns the phone it was attributed to, if any.
    pub fn on_request(&mut self, now: Instant, ip: IpAddr, name: &str) -> Option<Mac> {
        let base = base_name(name);
        let file = RequestedFile::parse(base);
        let mac = self.attribute(ip, base, &file)?;
        // A name with a MAC taught its model in `attribute`.
        if let Some(m) = file.implied_model().filter(|_| file.mac().is_none()) {
            self.learn_model(mac, m, false, format!("asked for {base}"));
        }
        let kind = Kind::of(file);
        let stall = now.checked_add(self.policy.download_stall);
        let settle = now.checked_add(self.policy.settle);
        let serving = self.serving_load(mac);
        let phone = self.phone_mut(mac);
        phone.last_seen = Some(now);
        phone.ip = Some(ip);
        *phone.timer(Timer::NoTftp) = None;
        if matches!(
            phone.stall,
            Some(
                Diagnosis::NoTftp { .. }
                    | Diagnosis::LoaderOnly { .. }
                    | Diagnosis::DownloadStalled { .. }
            )
        ) {
            phone.stall = None;
        }
        if phone.download.as_ref().is_some_and(|d| d.complete) {
            phone.returned = true;
        }
        if phone.download.as_ref().is_some_and(|d| !d.complete) {
            *phone.timer(Timer::Stall) = stall;
        }
        match kind {
            Kind::Boot => {
                // Starting over after a config named X, without fetching X,
                // is past the load decision: twice in a row (a power cut in
                // that window is not twice in a row) means it runs X. Phones
                // that cannot register fall back to TFTP this way.
                // (Java phones ask for several trust files per boot; only
                // the first, after a config, counts.)
                let quiet = match phone.told.take() {
                    Some(t) => match phone.quiet_boots.take() {
                        Some((l, n)) if l == t.load => Some((t, n.saturating_add(1))),
                        _ => Some((t, 1)),
                    },
                    None => None,
                };
                *phone.timer(Timer::Settle) = None;
                match quiet {
                    Some((told, n)) if n >= 2 => {
                        phone.told = Some(told);
                        self.conclude(
                            mac,
                            format!("then started over {n} times without fetching it"),
                        );
                    }
                    Some((told, n)) => phone.quiet_boots = Some((told.load, n)),
                    None => {}
                }
            }
            Kind::Signed => {
                let d = Diagnosis::OldTrustList {
                    file: base.to_owned(),
                };
                self.stall(mac, d);
            }
            Kind::Config => {
                if matches!(phone.stall, Some(Diagnosis::TermLoop { .. })) {
                    phone.stall = None;
                }
                phone.configured = true;
                if let Some(load) = serving {
                    phone.told = Some(Told {
                        load,
                        file: base.to_owned(),
                    });
                    *phone.timer(Timer::Settle) = settle;
                }
            }
            Kind::Term(t) => self.on_term(now, mac, t),
            Kind::Firmware(f) => self.on_firmware(now, mac, f, base),
            Kind::Other => {
                if phone.told.is_some() {
                    self.conclude(mac, format!("then asked for {base}"));
                }
            }
        }
        self.update_stage(mac);
        Some(mac)
    }

    /// A transfer of `name` to `ip` ended; `bytes` were sent.
    pub fn on_transfer_done(&mut self, now: Instant, ip: IpAddr, name: &str, ok: bool, bytes: u64) {
        let base = base_name(name);
        let file = RequestedFile::parse(base);
        let Some(mac) = self.attribute(ip, base, &file) else {
            return;
        };
        let phone = self.phone_mut(mac);
        phone.last_seen = Some(now);
        if let Some(d) = phone.download.as_mut() {
            let slot = d
                .files
                .iter()
                .position(|f| f.eq_ignore_ascii_case(base))
                .and_then(|i| d.done.get_mut(i));
            if let Some(done) = slot {
                if ok && !*done && !d.complete {
                    *done = true;
                    d.bytes_done = d.bytes_done.saturating_add(bytes);
                    if d.done.iter().all(|x| *x) {
                        d.complete = true;
                        phone.returned = false;
                        phone.attempts = phone.attempts.saturating_add(1);
                        phone.restarts = 0;
                        *phone.timer(Timer::Stall) = None;
                    }
                }
            }
        }
        if !ok && matches!(Kind::of(file), Kind::Config) {
            // The config never arrived, so it told the phone nothing.
            if phone
                .told
                .as_ref()
                .is_some_and(|t| t.file.eq_ignore_ascii_case(base))
            {
                phone.told = None;
                *phone.timer(Timer::Settle) = None;
            }
        }
        self.update_stage(mac);
    }

    /// Run expired timers. An early or extra call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(Mac, Timer)> = self
            .phones
            .values()
            .flat_map(|p| {
                TIMERS
                    .into_iter()
                    .zip(p.timers)
                    .filter(|(_, at)| at.is_some_and(|at| at <= now))
                    .map(|(t, _)| (p.mac, t))
            })
            .collect();
        for (mac, t) in due {
            let phone = self.phone_mut(mac);
            *phone.timer(t) = None;
            match t {
                Timer::Settle => {
                    if phone.told.is_some() {
                        let secs = self.policy.settle.as_secs();
                        self.conclude(mac, format!("then nothing for {secs}s"));
                    }
                }
                Timer::NoTftp => {
                    let d = Diagnosis::NoTftp {
                        ip: phone.ip,
                        waited: self.policy.no_tftp_after,
                    };
                    self.stall(mac, d);
                }
                Timer::Stall => {
                    if let Some(d) = phone.download.as_ref().filter(|d| !d.complete) {
                        let loader = d
                            .files
                            .iter()
                            .zip(&d.done)
                            .any(|(f, done)| *done && is_loader(f));
                        let missing = d.missing();
                        let load = d.load.clone();
                        let diag = if loader {
                            Diagnosis::LoaderOnly { load, missing }
                        } else {
                            Diagnosis::DownloadStalled { load, missing }
                        };
                        self.stall(mac, diag);
                    }
                }
            }
            self.update_stage(mac);
        }
    }

    // ---- outputs --------------------------------------------------------------

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FleetEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.phones
            .values()
            .flat_map(|p| p.timers.iter().flatten())
            .min()
            .copied()
    }

    // ---- getters --------------------------------------------------------------

    /// The load configs for this phone should name now: the next hop, or the
    /// load it runs when it has arrived (or when no safe plan exists). `None`
    /// when the model is unknown or nothing is safe to name.
    pub fn serving_load(&self, mac: Mac) -> Option<LoadName> {
        self.phones.get(&mac).and_then(Phone::serving)
    }

    /// The load `XMLDefault.cnf.xml` should name for `model`: the first hop
    /// for a phone of that model whose load is unknown.
    pub fn default_load(&self, model: Model) -> Result<Option<LoadName>, PlanError> {
        let intent = self.intents.intent(None, model);
        let p = plan(
            model,
            intent.start_load.as_ref(),
            intent.protocol,
            &intent.target,
            &self.catalog,
        )?;
        Ok(p.next()
            .map(|h| h.load.clone())
            .or(intent.start_load.clone()))
    }

    /// The phone that holds `ip`, as far as the fleet knows.
    pub fn mac_for_ip(&self, ip: IpAddr) -> Option<Mac> {
        self.by_ip.get(&ip).copied()
    }

    /// One phone.
    pub fn phone(&self, mac: Mac) -> Option<PhoneView> {
        self.phones.get(&mac).map(Phone::view)
    }

    /// Every phone, by MAC.
    pub fn phones(&self) -> impl Iterator<Item = PhoneView> + '_ {
        self.phones.values().map(Phone::view)
    }

    /// What to store so beliefs survive a restart.
    pub fn snapshot(&self) -> Vec<PhoneRecord> {
        self.phones.values().map(Phone::record).collect()
    }

    /// The catalog in use.
    pub fn catalog(&self) -> &[AvailableLoad] {
        &self.catalog
    }

    // ---- internals ------------------------------------------------------------

    fn phone_mut(&mut self, mac: Mac) -> &mut Phone {
        self.phones.entry(mac).or_insert_with(|| Phone::new(mac))
    }

    fn bind(&mut self, mac: Mac, ip: IpAddr) {
        if let Some(old) = self.phones.get(&mac).and_then(|p| p.ip) {
            if old != ip && self.by_ip.get(&old) == Some(&mac) {
                self.by_ip.remove(&old);
            }
        }
        self.by_ip.insert(ip, mac);
        self.phone_mut(mac).ip = Some(ip);
    }

    /// The phone behind a request: the MAC in the name wins over the lease table.
    fn attribute(&mut self, ip: IpAddr, base: &str, file: &RequestedFile) -> Option<Mac> {
        if let Some(mac) = file.mac() {
            if self.by_ip.get(&ip) != Some(&mac) {
                self.bind(mac, ip);
            }
            if let Some(m) = file.implied_model() {
                self.learn_model(mac, m, false, format!("asked for {base}"));
            }
            return Some(mac);
        }
        self.by_ip.get(&ip).copied()
    }

    fn learn_model(&mut self, mac: Mac, model: Model, sure: bool, evidence: String) {
        let phone = self.phone_mut(mac);
        let change = match phone.model {
            None => true,
            Some(m) if m == model => {
                if sure && !phone.model_sure {
                    phone.model_sure = true;
                    phone.model_evidence = evidence.clone();
                }
                false
            }
            // A guess never overrides option 60; option 60 overrides a guess.
            Some(m) => sure || (!phone.model_sure && m.image_set() != model.image_set()),
        };
        if !change {
            return;
        }
        phone.model = Some(model);
        phone.model_sure = sure;
        phone.model_evidence = if sure {
            evidence
        } else {
            let others: Vec<&str> = model.image_set().models().map(Model::name).collect();
            format!("{evidence} (one of {})", others.join("/"))
        };
        if phone.current.as_ref().is_some_and(|c| !c.fits(model)) {
            phone.current = None;
            phone.evidence = "the load it was believed to run is for other phones".to_owned();
        }
        self.replan(mac);
    }

    fn replan_all(&mut self) {
        let macs: Vec<Mac> = self.phones.keys().copied().collect();
        for mac in macs {
            self.replan(mac);
            self.update_stage(mac);
        }
    }

    fn replan(&mut self, mac: Mac) {
        let Some(phone) = self.phones.get_mut(&mac) else {
            return;
        };
        let Some(model) = phone.model else {
            phone.plan = None;
            return;
        };
        let intent = self.intents.intent(Some(mac), model);
        phone.intent = Some(intent.clone());
        let belief = phone.belief().cloned();
        let result = plan(
            model,
            belief.as_ref(),
            intent.protocol,
            &intent.target,
            &self.catalog,
        );
        if let Err(e) = &result {
            let changed = !matches!(&phone.plan, Some(Err(old)) if old == e);
            if changed {
                self.events.push_back(FleetEvent::Diagnosis {
                    mac,
                    diagnosis: Diagnosis::Plan(e.clone()),
                });
            }
        }
        phone.plan = Some(result);
    }

    fn stall(&mut self, mac: Mac, d: Diagnosis) {
        let phone = self.phone_mut(mac);
        if phone.stall.as_ref() == Some(&d) {
            return;
        }
        phone.stall = Some(d.clone());
        self.events
            .push_back(FleetEvent::Diagnosis { mac, diagnosis: d });
    }

    fn update_stage(&mut self, mac: Mac) {
        let Some(phone) = self.phones.get_mut(&mac) else {
            return;
        };
        let stage = phone.compute_stage();
        if stage != phone.stage {
            phone.stage = stage;
            self.events.push_back(FleetEvent::Stage { mac, stage });
        }
    }

    fn on_term(&mut self, now: Instant, mac: Mac, t: TermFile) {
        let window = self.policy.term_loop_window;
        let threshold = self.policy.term_loop_count;
        let phone = self.phone_mut(mac);
        phone.term_requests.push_back(now);
        while phone
            .term_requests
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) > window)
        {
            phone.term_requests.pop_front();
        }
        let count = phone.term_requests.len();
        // Recovering from a reset or a bad flash: it will run whatever the term file lists.
        phone.told = None;
        phone.download = None;
        phone.start_refuted = true;
        if phone.current.is_some() {
            phone.current = None;
            phone.evidence = format!(
                "asked for {t}: recovering from a factory reset or bad flash, running load unknown"
            );
            let evidence = phone.evidence.clone();
            self.events.push_back(FleetEvent::Belief {
                mac,
                current: None,
                evidence,
            });
        }
        self.replan(mac);
        if count >= threshold {
            self.stall(
                mac,
                Diagnosis::TermLoop {
                    file: t.file_name(),
                    count,
                },
            );
        }
    }

    fn on_firmware(&mut self, now: Instant, mac: Mac, file: FirmwareFile, base: &str) {
        self.phone_mut(mac).quiet_boots = None;
        // Phones below 5.x may ask for `<load>.bin` even for a load with a `.loads`.
        let (load, single) = match &file {
            FirmwareFile::Loads(l) => (l.clone(), false),
            FirmwareFile::Image {
                load,
                ext: ImageExt::Bin,
            } if load.kind() == LoadKind::Application => (load.clone(), load.has_loads_file()),
            FirmwareFile::Image { load, .. } if !load.has_loads_file() => (load.clone(), false),
            // Files inside a load: progress is counted when their transfer ends.
            _ => return,
        };
        if !single && !load.requested_file().eq_ignore_ascii_case(base) {
            return;
        }
        let serving = self.serving_load(mac);
        let max = self.policy.max_attempts;
        let stall_at = now.checked_add(self.policy.download_stall);
        let phone = self.phone_mut(mac);
        let ours = serving.as_ref() == Some(&load)
            || phone.download.as_ref().is_some_and(|d| d.load == load);
        if !ours {
            return;
        }
        phone.told = None;
        *phone.timer(Timer::Settle) = None;
        *phone.timer(Timer::Stall) = stall_at;
        let again = phone
            .download
            .as_ref()
            .is_some_and(|d| d.load == load && d.complete);
        if phone.download.as_ref().is_some_and(|d| d.load != load) {
            phone.attempts = 0;
            phone.restarts = 0;
        }
        // Started over after fetching part of the load (beyond the list itself):
        // it rebooted mid-download. Again and again means it cannot finish.
        let cut_short = phone
            .download
            .as_ref()
            .filter(|d| d.load == load && !d.complete && d.progress().files_done >= 2)
            .map(|d| {
                let loader = d
                    .files
                    .iter()
                    .zip(&d.done)
                    .any(|(f, done)| *done && is_loader(f));
                (loader, d.missing())
            });
        if cut_short.is_some() {
            phone.restarts = phone.restarts.saturating_add(1);
        }
        if phone.current.as_ref() == Some(&load)
            || (phone.current.is_none() && phone.belief() == Some(&load))
        {
            // It fetches what it was believed to run, so it does not run it.
            phone.current = None;
            phone.start_refuted = true;
            phone.evidence =
                format!("fetched {base}, so it does not run {load}; running load unknown");
            let evidence = phone.evidence.clone();
            self.events.push_back(FleetEvent::Belief {
                mac,
                current: None,
                evidence,
            });
        }
        let files = self
            .catalog
            .iter()
            .find(|a| a.name == load)
            .map(|a| (a.files.clone(), a.bytes));
        let (files, bytes_total) = match files {
            Some(f) if !single => f,
            _ => (vec![base.to_owned()], 0),
        };
        let phone = self.phone_mut(mac);
        let attempts = phone.attempts;
        phone.download = Some(Download {
            load: load.clone(),
            done: vec![false; files.len()],
            files,
            bytes_done: 0,
            bytes_total,
            complete: false,
        });
        phone.returned = false;
        let restarts = phone.restarts;
        if let Some((loader, missing)) = cut_short.filter(|_| restarts >= max) {
            let load = load.clone();
            let d = if loader {
                Diagnosis::LoaderOnly { load, missing }
            } else {
                Diagnosis::DownloadStalled { load, missing }
            };
            self.stall(mac, d);
        }
        if again {
            self.events.push_back(FleetEvent::HopRetry {
                mac,
                load: load.clone(),
                attempts,
            });
            if attempts >= max {
                self.stall(mac, Diagnosis::ImageRefused { load, attempts });
            }
        }
        // Replan only after the download record exists, so a contradicted belief
        // does not change what this download is for.
        self.replan(mac);
    }

    /// The phone was told a load and has not fetched it: it runs that load.
    fn conclude(&mut self, mac: Mac, how: String) {
        let phone = self.phone_mut(mac);
        let Some(told) = phone.told.take() else {
            return;
        };
        *phone.timer(Timer::Settle) = None;
        let downloaded = phone
            .download
            .as_ref()
            .is_some_and(|d| d.load == told.load && d.complete);
        // It is running the told load and fetching nothing: no download is under way.
        phone.download = None;
        let Told { load, file } = told;
        if phone.current.as_ref() == Some(&load) {
            return;
        }
        phone.current = Some(load.clone());
        let attempts = phone.attempts;
        if downloaded {
            phone.evidence = format!(
                "fetched every file of {load}, came back, was told {load} in {file} and did not \
                 fetch it again ({how}); took {attempts} download(s)"
            );
            phone.hops_done = phone.hops_done.saturating_add(1);
            phone.attempts = 0;
            phone.stall = None;
            self.events.push_back(FleetEvent::HopDone {
                mac,
                load,
                attempts,
            });
        } else {
            phone.evidence = format!("was told {load} in {file} and did not fetch it ({how})");
            let evidence = phone.evidence.clone();
            self.events.push_back(FleetEvent::Belief {
                mac,
                current: Some(load),
                evidence,
            });
        }
        self.replan(mac);
    }
}

/// Checks the fleet's safety promises; the fuzz entry and tests call it.
/// Returns a description of the first broken promise.
pub fn check_invariants(fleet: &Fleet) -> Result<(), String> {
    for phone in fleet.phones.values() {
        let Some(serving) = phone.serving() else {
            continue;
        };
        let Some(model) = phone.model else {
            return Err(format!("{} serves {serving} with no model", phone.mac));
        };
        if !serving.fits(model) {
            return Err(format!("{} ({model}) serves {serving}", phone.mac));
        }
        let belief = phone.belief();
        if belief != Some(&serving) && !direct_hop_ok(belief, &serving) {
            return Err(format!(
                "{} ({model}) on {} is served {serving}, which skips a rule",
                phone.mac,
                belief.map_or("an unknown load".to_owned(), ToString::to_string)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
