//! The [`Fleet`]: every phone by MAC, fed DHCP leases, requests, finished
//! transfers and timeouts, and drained of events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use super::phone::{Download, Phone, Timer, Told, TIMERS};
use super::vocab::{
    Channel, ConfigSource, Diagnosis, FleetEvent, Intents, PendingReboot, PhoneRecord, PhoneView,
    Policy, RebootCause, RebootMode, Stage,
};
use crate::desired::{Mac, TargetLoad};
use crate::files::{FirmwareFile, ImageExt, TermFile};
use crate::load_name::{LoadKind, LoadName};
use crate::model::Model;
use crate::plan::{direct_hop_ok, plan, AvailableLoad, PlanError};
use crate::request::{base_name, RequestedFile};

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
            RequestedFile::RingListDat
            | RequestedFile::DialplanXml
            | RequestedFile::SyncinfoXml
            | RequestedFile::Other => Kind::Other,
        }
    }
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
    /// The latest `now` any input carried, for commands that carry none
    /// (a catalog change can make a next hop ready).
    last_now: Option<Instant>,
    /// No timer of any phone is due before this (`poll_timeout`). Inputs
    /// lower it when they may set a timer; `handle_timeout` makes it exact
    /// again. A bound that is early costs one extra `handle_timeout`, where
    /// a scan of every phone on each `poll_timeout` cost the engine a scan
    /// per DHCP ACK (issue #15).
    next_timer: Option<Instant>,
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
            next_timer: None,
            events: VecDeque::new(),
            last_now: None,
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

    /// Another server sharing the store believes `record` about a phone
    /// (`server` names it, for the evidence). A phone this fleet has not
    /// seen is taken as the other describes it; one it knows but has no
    /// belief about learns the load; what this fleet saw itself is kept.
    /// Returns whether anything changed.
    pub fn learn_from_peer(&mut self, record: PhoneRecord, server: &str) -> bool {
        let known = self.phones.get(&record.mac);
        let take = match known {
            None => true,
            Some(p) => p.current.is_none() && record.current.is_some(),
        };
        if !take {
            return false;
        }
        let mac = record.mac;
        let evidence = format!("{} (seen by {server})", record.evidence);
        let phone = self.phone_mut(mac);
        if phone.model.is_none() {
            phone.model = record.model;
            phone.model_sure = record.model.is_some();
            phone.model_evidence = format!("seen by {server}");
        }
        if record
            .current
            .as_ref()
            .is_some_and(|c| phone.model.is_none_or(|m| c.fits(m)))
        {
            phone.current = record.current.clone();
            phone.evidence = evidence.clone();
            self.events.push_back(FleetEvent::Belief {
                mac,
                current: record.current,
                evidence,
            });
        }
        if let Some(ip) = record.ip {
            if !self.by_ip.contains_key(&ip) {
                self.bind(mac, ip);
            }
        }
        self.replan(mac);
        self.update_stage(mac);
        true
    }

    // ---- inputs ---------------------------------------------------------------

    /// A lease was granted: `model` from option 60, when it matched.
    ///
    /// A client whose option 60 names no Cisco phone and that is not yet
    /// known is not tracked: the PCs and printers on the segment would each
    /// become a "phone" that never asks for a config (and cost memory per
    /// lease). Its address is remembered, so a phone's file it asks for
    /// later still makes it one.
    pub fn on_dhcp(&mut self, now: Instant, mac: Mac, ip: IpAddr, model: Option<Model>) {
        self.last_now = Some(now);
        if model.is_none() && !self.phones.contains_key(&mac) {
            self.by_ip.insert(ip, mac);
            return;
        }
        self.bind(mac, ip);
        let deadline = now.checked_add(self.policy.no_tftp_after);
        let phone = self.phone_mut(mac);
        phone.last_seen = Some(now);
        phone.came_back();
        if phone.stage != Stage::Done {
            *phone.timer(Timer::NoTftp) = deadline;
            self.arm(deadline);
        }
        if let Some(m) = model {
            self.learn_model(mac, m, true, "DHCP option 60".to_owned());
        }
        self.update_stage(mac);
    }

    /// A TFTP RRQ or HTTP GET for `name` began from `ip`. Call it before
    /// resolving the file. Returns the phone it was attributed to, if any.
    pub fn on_request(&mut self, now: Instant, ip: IpAddr, name: &str) -> Option<Mac> {
        let (mac, base, file) = self.requester(now, ip, name)?;
        // A 79x0 fetches syncinfo.xml to decide whether to reboot: that is
        // not a phone back from a reboot.
        if file != RequestedFile::SyncinfoXml {
            self.phone_mut(mac).came_back();
        }
        // A name with a MAC taught its model in `attribute`.
        if let Some(m) = file.implied_model().filter(|_| file.mac().is_none()) {
            self.learn_model(mac, m, false, format!("asked for {base}"));
        }
        let kind = Kind::of(file);
        let stall = now.checked_add(self.policy.download_stall);
        let settle = now.checked_add(self.policy.settle);
        // The timers set below, for `arm` once the phone is let go.
        let (mut armed_stall, mut armed_settle) = (None, None);
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
            armed_stall = stall;
        }
        if matches!(kind, Kind::Boot | Kind::Config) {
            // Booting: whatever SCCP session the driver still holds for it
            // is stale (a phone that lost power sends no FIN).
            phone.sccp = false;
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
                    armed_settle = settle;
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
        self.arm(armed_stall);
        self.arm(armed_settle);
        self.maybe_reboot(now, mac);
        self.update_stage(mac);
        Some(mac)
    }

    /// The config `name` that `ip` just asked for is the operator's own file
    /// (from the TFTP root), served as it is; it names `load` for this phone,
    /// or nothing. Call after [`Fleet::on_request`]. From here on the phone
    /// follows the operator's word: the fleet watches it walk to `load`
    /// (progress, hop checks, diagnoses) and sends it no reboots.
    pub fn on_operator_config(
        &mut self,
        now: Instant,
        ip: IpAddr,
        name: &str,
        load: Option<LoadName>,
    ) {
        let Some((mac, base, file)) = self.requester(now, ip, name) else {
            return;
        };
        let settle = now.checked_add(self.policy.settle);
        let phone = self.phone_mut(mac);
        let fits = |l: &LoadName| phone.model.is_none_or(|m| l.fits(m));
        let load = load.filter(fits);
        let armed = load.is_some();
        match load {
            Some(load) => {
                phone.source = ConfigSource::Operator {
                    file: base.to_owned(),
                    load: Some(load.clone()),
                };
                phone.told = Some(Told {
                    load,
                    file: base.to_owned(),
                });
                *phone.timer(Timer::Settle) = settle;
            }
            // A 79x0 reads image_version from SIP<MAC>.cnf over SIPDefault.cnf;
            // without one, SIPDefault.cnf's word stands.
            None if matches!(file, RequestedFile::SipMacCnf(_))
                && phone.source.operator_load().is_some() => {}
            None => {
                // Named nothing for it: the phone stays on what it runs.
                phone.source = ConfigSource::Operator {
                    file: base.to_owned(),
                    load: None,
                };
                phone.told = None;
                *phone.timer(Timer::Settle) = None;
            }
        }
        if armed {
            self.arm(settle);
        }
        self.replan(mac);
        if let Some(d) = self.phones.get(&mac).and_then(Phone::operator_skips) {
            self.events
                .push_back(FleetEvent::Diagnosis { mac, diagnosis: d });
        }
        self.update_stage(mac);
    }

    /// The config `name` that `ip` just asked for was rendered by phoneboot.
    /// Call after [`Fleet::on_request`].
    pub fn on_generated_config(&mut self, now: Instant, ip: IpAddr, name: &str) {
        let Some((mac, _, _)) = self.requester(now, ip, name) else {
            return;
        };
        let phone = self.phone_mut(mac);
        if phone.source == ConfigSource::Generated {
            return;
        }
        let was_operator = matches!(phone.source, ConfigSource::Operator { .. });
        phone.source = ConfigSource::Generated;
        if was_operator {
            // Back on phoneboot's plan: what it is told is the plan's hop.
            self.replan(mac);
            let serving = self.serving_load(mac);
            let phone = self.phone_mut(mac);
            if let Some(t) = phone.told.as_mut() {
                match serving {
                    Some(load) => t.load = load,
                    None => phone.told = None,
                }
            }
        }
        self.maybe_reboot(now, mac);
        self.update_stage(mac);
    }

    /// The phone registered with phoneboot over SCCP, from `ip`, the lease
    /// holder's address (the driver checked). `model` is what its device
    /// type says; `load` its `loadInfo` (79x0 loads send none).
    pub fn on_sccp_registered(
        &mut self,
        now: Instant,
        mac: Mac,
        ip: IpAddr,
        model: Option<Model>,
        load: Option<LoadName>,
    ) {
        self.last_now = Some(now);
        self.bind(mac, ip);
        if let Some(m) = model {
            self.learn_model(mac, m, false, "its SCCP device type".to_owned());
        }
        let phone = self.phone_mut(mac);
        phone.last_seen = Some(now);
        phone.sccp = true;
        // Registering is the end of a boot: whatever reboot was sent is over.
        phone.came_back();
        *phone.timer(Timer::NoTftp) = None;
        match load {
            Some(load) => self.reported(mac, load, "its SCCP Register says so"),
            None => {
                if self.phone_mut(mac).told.is_some() {
                    self.conclude(mac, "then registered over SCCP".to_owned());
                }
            }
        }
        self.maybe_reboot(now, mac);
        self.update_stage(mac);
    }

    /// The phone said which load it runs other than in its Register (an
    /// SCCP Alarm's `Load=`); `how` says where, for the evidence.
    pub fn on_reported_load(&mut self, now: Instant, mac: Mac, load: LoadName, how: &str) {
        self.last_now = Some(now);
        self.phone_mut(mac).last_seen = Some(now);
        self.reported(mac, load, how);
        self.maybe_reboot(now, mac);
        self.update_stage(mac);
    }

    /// The phone's SCCP session with phoneboot ended.
    pub fn on_sccp_closed(&mut self, now: Instant, mac: Mac) {
        self.last_now = Some(now);
        if let Some(p) = self.phones.get_mut(&mac) {
            p.sccp = false;
        }
        self.update_stage(mac);
    }

    /// The operator wants the phone rebooted now. Emits
    /// [`FleetEvent::Reboot`] and returns how it will be sent, or `None`
    /// when phoneboot cannot reach the phone (no SCCP session, no SIP load).
    pub fn request_reboot(&mut self, now: Instant, mac: Mac) -> Option<Channel> {
        self.last_now = Some(now);
        let channel = self.phones.get(&mac)?.channel()?;
        let resets = {
            let serving = self.serving_load(mac);
            self.phones.get(&mac)?.resets_towards(serving.as_ref())
        };
        self.send_reboot(now, mac, channel, RebootCause::Operator, resets);
        self.update_stage(mac);
        Some(channel)
    }

    /// The operator fixed what stopped the phone's walk (erased a trust
    /// list, power-cycled it, checked the cable) and wants its current hop
    /// tried again: forgets the diagnosis and the counts behind it
    /// (complete downloads, restarted downloads, reboots sent towards the
    /// hop, term-file requests), drops the unfinished or refused download
    /// and the reboot waited for, so the phone is judged afresh from its
    /// next request. A phone phoneboot can reach is rebooted into the hop
    /// at once (as [`FleetEvent::Reboot`]).
    ///
    /// Returns false, changing nothing, for an unknown phone, one whose
    /// walk nothing stops, and one without a safe plan (the library must
    /// change first; the plan error then clears by itself).
    pub fn retry_hop(&mut self, now: Instant, mac: Mac) -> bool {
        self.last_now = Some(now);
        let Some(phone) = self.phones.get_mut(&mac) else {
            return false;
        };
        // A plan error is what the phone shows and what stops it, whatever
        // else is wrong; it clears when the library changes.
        if matches!(phone.plan, Some(Err(_))) || phone.stall.take().is_none() {
            return false;
        }
        phone.attempts = 0;
        phone.restarts = 0;
        phone.resets = None;
        phone.term_requests.clear();
        phone.quiet_boots = None;
        phone.download = None;
        phone.returned = false;
        phone.reboot = None;
        for t in [Timer::Stall, Timer::Reboot, Timer::NoTftp] {
            *phone.timer(t) = None;
        }
        self.maybe_reboot(now, mac);
        self.update_stage(mac);
        true
    }

    /// The reboot could not be sent (the session ended first, the address
    /// is gone): it is not waited for.
    pub fn reboot_failed(&mut self, mac: Mac) {
        if let Some(p) = self.phones.get_mut(&mac) {
            p.reboot = None;
            *p.timer(Timer::Reboot) = None;
        }
        self.update_stage(mac);
    }

    /// A transfer of `name` to `ip` ended; `bytes` were sent. Returns the
    /// phone it was attributed to, if any.
    pub fn on_transfer_done(
        &mut self,
        now: Instant,
        ip: IpAddr,
        name: &str,
        ok: bool,
        bytes: u64,
    ) -> Option<Mac> {
        let (mac, base, file) = self.requester(now, ip, name)?;
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
        Some(mac)
    }

    /// Run expired timers. An early or extra call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
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
                Timer::Reboot => {
                    if let Some(r) = phone.reboot.take() {
                        let d = Diagnosis::NoReturn {
                            channel: r.channel,
                            waited: now.saturating_duration_since(r.at),
                        };
                        self.stall(mac, d);
                    }
                }
                Timer::Stall => {
                    if let Some(d) = phone.download.as_ref().filter(|d| !d.complete) {
                        let loader = d.loader_done();
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
            self.maybe_reboot(now, mac);
            self.update_stage(mac);
        }
        self.next_timer = self.earliest_timer();
    }

    /// Lowers the bound `poll_timeout` returns to `at`.
    fn arm(&mut self, at: Option<Instant>) {
        if let Some(at) = at {
            self.next_timer = Some(self.next_timer.map_or(at, |t| t.min(at)));
        }
    }

    fn earliest_timer(&self) -> Option<Instant> {
        self.phones
            .values()
            .flat_map(|p| p.timers.iter().flatten())
            .min()
            .copied()
    }

    // ---- outputs --------------------------------------------------------------

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FleetEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` next has work: never later than the earliest
    /// timer, and exact after `handle_timeout` (it may be early when a
    /// timer was cleared or not set after all; the call then does nothing).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Checked against a full scan in this crate's tests and fuzzing
        // only: in a debug server that scan ran per DHCP ACK, and with
        // thousands of phones it, not the server, set the pace of the
        // integration tests.
        #[cfg(any(test, feature = "fuzzing"))]
        assert!(
            self.earliest_timer()
                .is_none_or(|t| self.next_timer.is_some_and(|n| n <= t)),
            "a timer was set without lowering next_timer"
        );
        self.next_timer
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

    /// The phone behind a request for `name` from `ip` (the inputs that
    /// carry a file name start here), with the name's last part and what it is.
    fn requester<'n>(
        &mut self,
        now: Instant,
        ip: IpAddr,
        name: &'n str,
    ) -> Option<(Mac, &'n str, RequestedFile)> {
        self.last_now = Some(now);
        let base = base_name(name);
        let file = RequestedFile::parse(base);
        let mac = self.attribute(ip, base, &file)?;
        // A client known only by its lease becomes a phone here, at its
        // leased address.
        if !self.phones.contains_key(&mac) && self.by_ip.get(&ip) == Some(&mac) {
            self.phone_mut(mac).ip = Some(ip);
        }
        Some((mac, base, file))
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
            if let Some(now) = self.last_now {
                self.maybe_reboot(now, mac);
            }
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
        let mut intent = self.intents.intent(Some(mac), model);
        phone.intent = Some(intent.clone());
        if let Some(load) = phone.source.operator_load() {
            // The operator's file decides where it goes; the plan towards
            // that load says what is missing and which stones it skips.
            intent.target = TargetLoad::Exact(load.clone());
            intent.protocol = load.protocol().unwrap_or(intent.protocol);
        }
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
        self.arm(stall_at);
        let phone = self.phone_mut(mac);
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
            .map(|d| (d.loader_done(), d.missing()));
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

    /// The phone itself says it runs `load`.
    fn reported(&mut self, mac: Mac, load: LoadName, how: &str) {
        let phone = self.phone_mut(mac);
        if phone.model.is_some_and(|m| !load.fits(m)) {
            // Not a load for this hardware: a garbled report, not evidence.
            return;
        }
        phone.told = None;
        phone.quiet_boots = None;
        *phone.timer(Timer::Settle) = None;
        let complete = phone.download.as_ref().filter(|d| d.complete).cloned();
        match complete {
            Some(d) if d.load == load => {
                // Conclude the hop through the one path that counts hops.
                phone.told = Some(Told {
                    load,
                    file: "its config".to_owned(),
                });
                self.conclude(mac, how.to_owned());
                return;
            }
            Some(d) => {
                // Fetched all of the hop, rebooted, and runs something else.
                phone.download = None;
                let attempts = phone.attempts;
                self.events.push_back(FleetEvent::HopRetry {
                    mac,
                    load: d.load.clone(),
                    attempts,
                });
                if attempts >= self.policy.max_attempts {
                    self.stall(
                        mac,
                        Diagnosis::ImageRefused {
                            load: d.load,
                            attempts,
                        },
                    );
                }
            }
            None => {}
        }
        let phone = self.phone_mut(mac);
        if phone.current.as_ref() == Some(&load) {
            phone.evidence = format!("runs {load}: {how}");
            return;
        }
        phone.current = Some(load.clone());
        phone.evidence = format!("runs {load}: {how}");
        let evidence = phone.evidence.clone();
        self.events.push_back(FleetEvent::Belief {
            mac,
            current: Some(load),
            evidence,
        });
        self.replan(mac);
    }

    /// Asks for a reboot when the phone runs a verified hop, the next one
    /// is ready and phoneboot can reach it.
    fn maybe_reboot(&mut self, now: Instant, mac: Mac) {
        if self.policy.reboot != RebootMode::Auto {
            return;
        }
        let max = self.policy.max_resets;
        let Some(phone) = self.phones.get(&mac) else {
            return;
        };
        // The operator's files drive this phone: phoneboot only watches.
        if matches!(phone.source, ConfigSource::Operator { .. }) {
            return;
        }
        let quiet = phone.reboot.is_none()
            && phone.download.is_none()
            && phone.told.is_none()
            && phone.stall.is_none()
            && matches!(phone.plan, Some(Ok(_)));
        let (Some(current), Some(next)) = (phone.current.clone(), phone.serving()) else {
            return;
        };
        if !quiet || current == next {
            return;
        }
        let Some(channel) = phone.channel() else {
            return;
        };
        let sent = phone.resets_towards(Some(&next));
        if sent >= max {
            self.stall(
                mac,
                Diagnosis::ResetsIgnored {
                    load: next,
                    resets: sent,
                },
            );
            return;
        }
        let phone = self.phone_mut(mac);
        phone.resets = Some((next.clone(), sent.saturating_add(1)));
        self.send_reboot(
            now,
            mac,
            channel,
            RebootCause::NextHop { next },
            sent.saturating_add(1),
        );
    }

    fn send_reboot(
        &mut self,
        now: Instant,
        mac: Mac,
        channel: Channel,
        cause: RebootCause,
        resets: u32,
    ) {
        let deadline = now.checked_add(self.policy.reboot_timeout);
        self.arm(deadline);
        let phone = self.phone_mut(mac);
        phone.reboot = Some(PendingReboot {
            channel,
            cause: cause.clone(),
            at: now,
        });
        *phone.timer(Timer::Reboot) = deadline;
        if matches!(phone.stall, Some(Diagnosis::NoReturn { .. })) {
            phone.stall = None;
        }
        self.events.push_back(FleetEvent::Reboot {
            mac,
            channel,
            cause,
            resets,
        });
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
        // The operator's own file is served as it is; a skip it makes is
        // diagnosed (`OperatorSkips`), not prevented.
        let operators = matches!(phone.source, ConfigSource::Operator { .. });
        if !operators && belief != Some(&serving) && !direct_hop_ok(belief, &serving) {
            return Err(format!(
                "{} ({model}) on {} is served {serving}, which skips a rule",
                phone.mac,
                belief.map_or("an unknown load".to_owned(), ToString::to_string)
            ));
        }
    }
    Ok(())
}
