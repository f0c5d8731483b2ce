//! One simulated phone: a loop of boot cycles that asks for files in its
//! family's order, judges what it is served like the real firmware does, and
//! records everything it did. Between boots it reads no config: once
//! settled it listens to its server ([`Control`]) and reboots only when
//! told to, as real phones do.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use cisco::{Family, LoadKind, LoadName, LoadsFile, Mac, Model, Protocol, Version};
use sccp::ResetType;
use tokio::time::Instant;

use crate::configs;
use crate::control::{Channel, Control, Heard};
use crate::report::{Hop, PhoneReport, RequestRecord, Resets, State};
use crate::sccp_client::{self, Registration};
use crate::sip_listener::{self, Order, SipStack};
use crate::tftp_client::{FetchResult, Fetched, Fetcher};

/// Faults this phone will act out once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Cut the first image download half way and reboot.
    pub reboot_mid_download: bool,
    /// Finish one image download, then boot the old image anyway.
    pub keep_old_image: bool,
}

/// How a boot cycle ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BootEnd {
    Settle,
    Reboot,
    Brick(String),
    Fail(String),
}

/// How a phone runs between boots; see [`crate::SimConfig`] for each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    pub reboot_delay: Duration,
    pub max_boots: u32,
    pub hold: Duration,
    pub expect: Option<LoadName>,
    pub sip_port: u16,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            reboot_delay: Duration::ZERO,
            max_boots: 20,
            hold: Duration::ZERO,
            expect: None,
            sip_port: 5060,
        }
    }
}

/// How [`Phone::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// The phone's run is over.
    Ended(State, Option<String>),
    /// Its server ordered a full reboot: the caller gets the phone an
    /// address by DHCP again (where it uses DHCP) and calls `run` again.
    FullReboot,
}

/// How a settled phone stopped listening.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Waited {
    Done,
    Reboot { dhcp: bool },
    Fail(String),
}

/// What the last boot's configs said that matters once the phone runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Booted {
    call_manager: Option<SocketAddrV4>,
    line1: Option<String>,
    /// 79x0 SIP: the `sync` value, compared with syncinfo.xml.
    sync: String,
}

/// Cisco's default sync value when no config sets `sync`.
const DEFAULT_SYNC: &str = "1";

/// Java phones below this cannot jump past [`JAVA_STEP`] (PHONES.md,
/// "Upgrade constraints").
const JAVA_MIN_FOR_JUMP: Version = Version::new(8, 3, 3);
const JAVA_STEP: Version = Version::new(8, 5, 2);

/// A simulated phone and everything it has done so far.
#[derive(Debug, Clone)]
pub struct Phone {
    index: usize,
    model: Model,
    mac: Mac,
    ip: Option<IpAddr>,
    start: LoadName,
    running: LoadName,
    faults: Faults,
    boots: u32,
    /// Boots since the phone last settled; `max_boots` limits these.
    unsettled_boots: u32,
    booted: Booted,
    /// Settled and listening to its server (not booting).
    settled: bool,
    /// SCCP: RegisterAck received on the current connection.
    sccp_registered: bool,
    /// SIP: the NOTIFY port is bound.
    listening: bool,
    sccp_registrations: u32,
    register_rejects: u32,
    last_reject: Option<String>,
    resets: Resets,
    notifies: u32,
    notify_repeats: u32,
    notify_reboots: u32,
    hops: Vec<Hop>,
    requests: Vec<RequestRecord>,
    timeouts: u64,
    dropped: u64,
    failed_downloads: u32,
    aborted_downloads: u32,
    kept_old_image: u32,
}

impl Phone {
    /// A phone of `model` with `mac` running `load`.
    pub fn new(index: usize, model: Model, mac: Mac, load: LoadName, faults: Faults) -> Phone {
        Phone {
            index,
            model,
            mac,
            ip: None,
            start: load.clone(),
            running: load,
            faults,
            boots: 0,
            unsettled_boots: 0,
            booted: Booted::default(),
            settled: false,
            sccp_registered: false,
            listening: false,
            sccp_registrations: 0,
            register_rejects: 0,
            last_reject: None,
            resets: Resets::default(),
            notifies: 0,
            notify_repeats: 0,
            notify_reboots: 0,
            hops: Vec::new(),
            requests: Vec::new(),
            timeouts: 0,
            dropped: 0,
            failed_downloads: 0,
            aborted_downloads: 0,
            kept_old_image: 0,
        }
    }

    /// The phone's address: the source of its requests, and what it puts
    /// in its SCCP Register.
    pub fn set_ip(&mut self, ip: IpAddr) {
        self.ip = Some(ip);
    }

    /// The load it runs now.
    pub fn running(&self) -> &LoadName {
        &self.running
    }

    /// Boots, and once settled listens to its server through `control`,
    /// until its run ends (see [`crate::SimConfig::hold`]) or it bricks or
    /// fails. Pauses `reboot_delay` before every reboot; more than
    /// `max_boots` boots in a row without settling is a failure (a loop).
    pub async fn run<F: Fetcher, C: Control>(
        &mut self,
        fetcher: &mut F,
        control: &mut C,
        opts: &RunOptions,
    ) -> RunEnd {
        loop {
            if self.unsettled_boots >= opts.max_boots {
                let last_miss = self
                    .requests
                    .iter()
                    .rev()
                    .find(|r| r.result != "ok")
                    .map(|r| format!("; last miss: {} {}", r.file, r.result))
                    .unwrap_or_default();
                return RunEnd::Ended(
                    State::Failed,
                    Some(format!(
                        "still not settled after {} boots, {} downloads stopped on a missing or failed file{last_miss}",
                        self.unsettled_boots, self.failed_downloads
                    )),
                );
            }
            self.boots += 1;
            self.unsettled_boots += 1;
            let end = self.boot(fetcher).await;
            tracing::debug!(phone = self.index, boot = self.boots, ?end, "boot ended");
            match end {
                BootEnd::Settle => {
                    self.unsettled_boots = 0;
                    match self.listen(fetcher, control, opts).await {
                        Waited::Done => return RunEnd::Ended(State::Settled, None),
                        Waited::Fail(why) => return RunEnd::Ended(State::Failed, Some(why)),
                        Waited::Reboot { dhcp } => {
                            tokio::time::sleep(opts.reboot_delay).await;
                            if dhcp {
                                return RunEnd::FullReboot;
                            }
                        }
                    }
                }
                BootEnd::Brick(why) => return RunEnd::Ended(State::Bricked, Some(why)),
                BootEnd::Fail(why) => return RunEnd::Ended(State::Failed, Some(why)),
                BootEnd::Reboot => tokio::time::sleep(opts.reboot_delay).await,
            }
        }
    }

    /// Why a run cut short by the timeout had not ended.
    pub fn waiting_reason(&self, expect: Option<&LoadName>) -> Option<String> {
        if !self.settled {
            return None;
        }
        let what = if self.sccp_registered {
            "registered"
        } else if self.listening {
            "listening for NOTIFY"
        } else if self.booted.call_manager.is_some() && !self.is_sip() {
            "not registered with its call manager"
        } else {
            "idle"
        };
        Some(match expect {
            Some(e) if e != &self.running => format!(
                "settled on {} ({what}) and waited for a reboot order that would take it to {e}",
                self.running
            ),
            _ => format!(
                "settled on {} ({what}) but its run had not ended",
                self.running
            ),
        })
    }

    fn is_sip(&self) -> bool {
        self.running.protocol() == Some(Protocol::Sip)
    }

    /// What the settled phone listens to: SIP loads their NOTIFY port, SCCP
    /// loads (and `TERM` loads, which name no protocol but are SCCP) the
    /// call manager of their config.
    fn channel(&self, sip_port: u16) -> Channel {
        if self.is_sip() {
            return Channel::Sip {
                port: sip_port,
                stack: if self.model.family().is_java() {
                    SipStack::Sipcc
                } else {
                    SipStack::Cisco79x0
                },
                line1: self.booted.line1.clone(),
                tag: format!("{}-{}", self.mac_name().to_ascii_lowercase(), self.boots),
            };
        }
        match self.booted.call_manager {
            Some(call_manager) => {
                let ip = match self.ip {
                    Some(IpAddr::V4(a)) => a,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                Channel::Sccp {
                    call_manager,
                    registration: Registration::for_phone(self.model, self.mac, ip, &self.running),
                }
            }
            None => Channel::None,
        }
    }

    /// Whether the run may end (once `hold` more has passed): settled and,
    /// with an `expect`ed load, on it and registered as its protocol
    /// registers.
    fn may_end(&self, channel: &Channel, expect: Option<&LoadName>) -> bool {
        let Some(expect) = expect else {
            return true;
        };
        expect == &self.running
            && match channel {
                Channel::None => true,
                Channel::Sccp { .. } => self.sccp_registered,
                Channel::Sip { .. } => self.listening,
            }
    }

    /// The settled phone: opens its channel and acts on what it hears.
    async fn listen<F: Fetcher, C: Control>(
        &mut self,
        fetcher: &mut F,
        control: &mut C,
        opts: &RunOptions,
    ) -> Waited {
        let channel = self.channel(opts.sip_port);
        if let Err(e) = control.open(channel.clone()).await {
            return Waited::Fail(e.to_string());
        }
        self.settled = true;
        self.listening = matches!(channel, Channel::Sip { .. });
        let waited = self.hear(fetcher, control, &channel, opts).await;
        for heard in control.close().await {
            if let Heard::Notify(h) = heard {
                self.notifies += 1;
                self.notify_repeats += u32::from(h.repeat);
            }
        }
        if waited != Waited::Done {
            self.settled = false;
            self.listening = false;
            self.sccp_registered = false;
        }
        waited
    }

    async fn hear<F: Fetcher, C: Control>(
        &mut self,
        fetcher: &mut F,
        control: &mut C,
        channel: &Channel,
        opts: &RunOptions,
    ) -> Waited {
        // Set while the run may end; a lost registration clears it, so the
        // hold counts from the latest registration.
        let mut hold_until: Option<Instant> = None;
        loop {
            if self.may_end(channel, opts.expect.as_ref()) {
                let until = *hold_until.get_or_insert_with(|| Instant::now() + opts.hold);
                if Instant::now() >= until {
                    return Waited::Done;
                }
            } else {
                hold_until = None;
            }
            let heard = tokio::select! {
                h = control.next() => h,
                () = sleep_until(hold_until) => continue,
            };
            tracing::debug!(phone = self.index, ?heard, "heard");
            match heard {
                Heard::Sccp(e) => {
                    if let Some(w) = self.on_sccp(e) {
                        return w;
                    }
                }
                Heard::Notify(h) => {
                    if let Some(w) = self.on_notify(fetcher, h).await {
                        return w;
                    }
                }
            }
        }
    }

    fn on_sccp(&mut self, event: sccp_client::Event) -> Option<Waited> {
        use sccp_client::Event as E;
        match event {
            E::Registered { .. } => {
                self.sccp_registrations += 1;
                self.sccp_registered = true;
            }
            E::Lost => self.sccp_registered = false,
            E::Rejected { text } => {
                self.register_rejects += 1;
                self.last_reject = Some(text);
                self.sccp_registered = false;
            }
            E::Reset(kind) => {
                self.resets.count(kind);
                return match kind {
                    ResetType::Reset => Some(Waited::Reboot { dhcp: true }),
                    ResetType::Restart => Some(Waited::Reboot { dhcp: false }),
                    // Apply-config and unknown types: the 79x0 and 8.x/9.x
                    // loads simulated here do not act on them.
                    ResetType::ApplyConfig | ResetType::Unknown(_) => None,
                };
            }
        }
        None
    }

    async fn on_notify<F: Fetcher>(
        &mut self,
        fetcher: &mut F,
        heard: sip_listener::Heard,
    ) -> Option<Waited> {
        self.notifies += 1;
        if heard.repeat {
            self.notify_repeats += 1;
        }
        let reboot = match heard.order {
            Order::Nothing => None,
            Order::Reset => Some(Waited::Reboot { dhcp: true }),
            Order::Restart => Some(Waited::Reboot { dhcp: false }),
            // A 79x0 reboots fully when its sync value moved.
            Order::CheckSync => self
                .sync_changed(fetcher)
                .await
                .then_some(Waited::Reboot { dhcp: true }),
        };
        if reboot.is_some() {
            self.notify_reboots += 1;
        }
        reboot
    }

    /// 79x0 SIP after check-sync: syncinfo.xml names a new SYNC for the
    /// running load (or `*`). Not found, unreadable or the same value: no.
    async fn sync_changed<F: Fetcher>(&mut self, fetcher: &mut F) -> bool {
        let Ok(Some(text)) = self.get_text(fetcher, "syncinfo.xml").await else {
            return false;
        };
        match configs::syncinfo_sync(&text, self.running.as_str()) {
            Ok(Some(sync)) => sync != self.booted.sync,
            Ok(None) => false,
            Err(e) => {
                tracing::debug!(phone = self.index, error = %e, "syncinfo.xml unreadable");
                false
            }
        }
    }

    /// The report of this phone as it stands.
    pub fn report(&self, state: State, reason: Option<String>, elapsed: Duration) -> PhoneReport {
        let ok = |r: &&RequestRecord| r.result == "ok";
        PhoneReport {
            index: self.index,
            model: self.model.name().to_owned(),
            mac: self.mac.to_string(),
            ip: self.ip.map(|ip| ip.to_string()),
            start_load: self.start.to_string(),
            final_load: self.running.to_string(),
            state,
            reason,
            registered: self.sccp_registered || (self.settled && self.listening),
            sccp_registrations: self.sccp_registrations,
            register_rejects: self.register_rejects,
            last_reject: self.last_reject.clone(),
            resets: self.resets,
            notifies: self.notifies,
            notify_repeats: self.notify_repeats,
            notify_reboots: self.notify_reboots,
            hops: self.hops.clone(),
            boots: self.boots,
            files_fetched: self.requests.iter().filter(ok).count() as u64,
            files_not_found: self
                .requests
                .iter()
                .filter(|r| r.result == "not_found")
                .count() as u64,
            bytes: self.requests.iter().map(|r| r.bytes).sum(),
            failed_downloads: self.failed_downloads,
            aborted_downloads: self.aborted_downloads,
            kept_old_image: self.kept_old_image,
            timeouts: self.timeouts,
            dropped_data: self.dropped,
            elapsed_ms: elapsed.as_millis() as u64,
            requests: self.requests.clone(),
        }
    }

    async fn get<F: Fetcher>(&mut self, f: &mut F, name: &str, abort_half: bool) -> Fetched {
        let FetchResult {
            outcome,
            bytes,
            timeouts,
            dropped,
        } = f.fetch(name, abort_half).await;
        self.timeouts += u64::from(timeouts);
        self.dropped += u64::from(dropped);
        let result = match &outcome {
            Fetched::Data(_) => "ok",
            Fetched::NotFound => "not_found",
            Fetched::Aborted => "aborted",
            Fetched::Failed(e) => {
                tracing::debug!(phone = self.index, file = name, error = %e, "request failed");
                "failed"
            }
        };
        self.requests.push(RequestRecord {
            boot: self.boots,
            file: name.to_owned(),
            result,
            bytes,
            fnv64: match &outcome {
                Fetched::Data(d) => Some(crate::report::fnv64(d)),
                _ => None,
            },
        });
        outcome
    }

    /// A config file: `Ok(Some(text))`, `Ok(None)` when not found, `Err`
    /// when the server did not answer (the boot is retried).
    async fn get_text<F: Fetcher>(&mut self, f: &mut F, name: &str) -> Result<Option<String>, ()> {
        match self.get(f, name, false).await {
            Fetched::Data(d) => Ok(Some(String::from_utf8_lossy(&d).into_owned())),
            Fetched::NotFound => Ok(None),
            Fetched::Aborted | Fetched::Failed(_) => Err(()),
        }
    }

    fn mac_name(&self) -> String {
        self.mac.file_form()
    }

    async fn boot<F: Fetcher>(&mut self, f: &mut F) -> BootEnd {
        self.booted = Booted {
            sync: DEFAULT_SYNC.to_owned(),
            ..Booted::default()
        };
        if self.model.family().is_java() {
            self.boot_java(f).await
        } else if self.running.protocol() == Some(Protocol::Sip) {
            self.boot_79x0_sip(f).await
        } else {
            self.boot_79x0_sccp(f).await
        }
    }

    /// Loads before the universal loader (7.x) ask for `OS79XX.TXT` first.
    async fn os79xx<F: Fetcher>(&mut self, f: &mut F) -> Result<Option<String>, ()> {
        if self.running.version().major() >= 7 {
            return Ok(None);
        }
        Ok(self
            .get_text(f, "OS79XX.TXT")
            .await?
            .and_then(|t| configs::os79xx_load(&t)))
    }

    /// `SEP<MAC>.cnf.xml`, else `XMLDefault.cnf.xml`: the load it names.
    /// What else it says is kept for after the boot.
    async fn xml_config<F: Fetcher>(&mut self, f: &mut F) -> Result<Option<String>, String> {
        let sep = format!("SEP{}.cnf.xml", self.mac_name());
        let text = match self.get_text(f, &sep).await {
            Ok(Some(t)) => Some(t),
            Ok(None) => self
                .get_text(f, "XMLDefault.cnf.xml")
                .await
                .map_err(|()| "no answer for XMLDefault.cnf.xml".to_owned())?,
            Err(()) => return Err(format!("no answer for {sep}")),
        };
        let Some(text) = text else {
            return Ok(None);
        };
        let cfg = configs::xml_config(&text, self.model)?;
        self.booted.call_manager = cfg.call_manager;
        self.booted.line1 = cfg.sip_line1;
        Ok(cfg.load)
    }

    async fn boot_java<F: Fetcher>(&mut self, f: &mut F) -> BootEnd {
        let mac = self.mac_name();
        for name in [
            format!("CTLSEP{mac}.tlv"),
            format!("ITLSEP{mac}.tlv"),
            "ITLFile.tlv".to_owned(),
        ] {
            // Normally "not found"; no answer at all means no server yet.
            if let Fetched::Failed(_) = self.get(f, &name, false).await {
                return BootEnd::Reboot;
            }
        }
        let wanted = match self.xml_config(f).await {
            Ok(w) => w,
            Err(why) if why.starts_with("no answer") => return BootEnd::Reboot,
            Err(why) => return BootEnd::Fail(format!("config unreadable: {why}")),
        };
        if let Some(end) = self.maybe_upgrade(f, wanted.as_deref()).await {
            return end;
        }
        let _ = self.get(f, "RingList.xml", false).await;
        if self.running.protocol() == Some(Protocol::Sip) {
            let _ = self.get(f, "dialplan.xml", false).await;
        }
        BootEnd::Settle
    }

    async fn boot_79x0_sccp<F: Fetcher>(&mut self, f: &mut F) -> BootEnd {
        let Ok(os_load) = self.os79xx(f).await else {
            return BootEnd::Reboot;
        };
        let mac = self.mac_name();
        if let Fetched::Failed(_) = self.get(f, &format!("CTLSEP{mac}.tlv"), false).await {
            return BootEnd::Reboot;
        }
        let wanted = match self.xml_config(f).await {
            Ok(w) => w.or(os_load),
            Err(why) if why.starts_with("no answer") => return BootEnd::Reboot,
            Err(why) => return BootEnd::Fail(format!("config unreadable: {why}")),
        };
        match self.maybe_upgrade(f, wanted.as_deref()).await {
            Some(end) => end,
            None => BootEnd::Settle,
        }
    }

    async fn boot_79x0_sip<F: Fetcher>(&mut self, f: &mut F) -> BootEnd {
        let Ok(os_load) = self.os79xx(f).await else {
            return BootEnd::Reboot;
        };
        let mac = self.mac_name();
        for name in [format!("CTLSEP{mac}.tlv"), format!("SEP{mac}.cnf.xml")] {
            if let Fetched::Failed(_) = self.get(f, &name, false).await {
                return BootEnd::Reboot;
            }
        }
        let Ok(default) = self.get_text(f, "SIPDefault.cnf").await else {
            return BootEnd::Reboot;
        };
        let Ok(own) = self.get_text(f, &format!("SIP{mac}.cnf")).await else {
            return BootEnd::Reboot;
        };
        // The MAC file overrides the default file.
        let value = |key: &str| {
            own.as_deref()
                .and_then(|t| configs::text_value(t, key))
                .or_else(|| default.as_deref().and_then(|t| configs::text_value(t, key)))
        };
        let image = value("image_version").or(os_load);
        self.booted.line1 = value("line1_name");
        self.booted.sync = value("sync").unwrap_or_else(|| DEFAULT_SYNC.to_owned());
        if let Some(end) = self.maybe_upgrade(f, image.as_deref()).await {
            return end;
        }
        let _ = self.get(f, "RINGLIST.DAT", false).await;
        let _ = self.get(f, "dialplan.xml", false).await;
        BootEnd::Settle
    }

    /// `None` when `wanted` is absent or the running load: the boot goes on.
    async fn maybe_upgrade<F: Fetcher>(
        &mut self,
        f: &mut F,
        wanted: Option<&str>,
    ) -> Option<BootEnd> {
        let wanted = wanted?;
        if wanted.eq_ignore_ascii_case(self.running.as_str()) {
            return None;
        }
        let target = match LoadName::parse(wanted) {
            Ok(t) => t,
            Err(e) => {
                return Some(BootEnd::Fail(format!(
                    "served load {wanted:?} is not a load name ({e}); the phone keeps {}",
                    self.running
                )))
            }
        };
        if !target.fits(self.model) || target.kind() != LoadKind::Application {
            return Some(BootEnd::Fail(format!(
                "served load {target} is not a {} load; the phone rejects it and keeps {}",
                self.model.name(),
                self.running
            )));
        }
        Some(self.upgrade(f, target).await)
    }

    /// Downloads `target` and reboots into it, or keeps the old load.
    async fn upgrade<F: Fetcher>(&mut self, f: &mut F, target: LoadName) -> BootEnd {
        let first = target.requested_file();
        let (files, signed) = if target.has_loads_file() {
            let bytes = match self.get(f, &first, false).await {
                Fetched::Data(b) => b,
                _ => {
                    self.failed_downloads += 1;
                    return BootEnd::Reboot;
                }
            };
            match LoadsFile::parse(&bytes) {
                Ok(l) => (l.files().to_vec(), l.header().is_some()),
                Err(e) => {
                    tracing::debug!(phone = self.index, file = %first, error = %e, "bad .loads");
                    self.failed_downloads += 1;
                    return BootEnd::Reboot;
                }
            }
        } else {
            (vec![first], false)
        };
        for name in &files {
            let abort = self.faults.reboot_mid_download;
            match self.get(f, name, abort).await {
                Fetched::Data(_) => {}
                Fetched::Aborted => {
                    self.faults.reboot_mid_download = false;
                    self.aborted_downloads += 1;
                    return BootEnd::Reboot;
                }
                Fetched::NotFound | Fetched::Failed(_) => {
                    // A real phone keeps its old load and tries again next boot.
                    self.failed_downloads += 1;
                    return BootEnd::Reboot;
                }
            }
        }
        if let Some(why) = self.forbidden(&target, signed) {
            self.hops.push(Hop {
                from: self.running.to_string(),
                to: target.to_string(),
            });
            self.running = target;
            return BootEnd::Brick(why);
        }
        if self.faults.keep_old_image {
            self.faults.keep_old_image = false;
            self.kept_old_image += 1;
            return BootEnd::Reboot;
        }
        self.hops.push(Hop {
            from: self.running.to_string(),
            to: target.to_string(),
        });
        self.running = target;
        BootEnd::Reboot
    }

    /// Why flashing `target` kills this phone, if it does.
    fn forbidden(&self, target: &LoadName, signed: bool) -> Option<String> {
        let from = &self.running;
        let v = target.version();
        if self.model.family() == Family::Series79x0 && from.version().major() < 5 {
            // Unsigned to unsigned (< 5.x) is fine; anything newer must be a signed 5.x.
            let ok = v.major() < 5 || (v.major() == 5 && signed);
            if !ok {
                return Some(format!(
                    "{from} is below 5.x and must first take a signed 5.x load (P00305000500), not {target}"
                ));
            }
        }
        if self.model.family().is_java()
            && from.version() < JAVA_MIN_FOR_JUMP
            && Version::new(v.major(), v.minor(), v.maint()) > JAVA_STEP
        {
            return Some(format!(
                "{from} is older than 8.3(3) and boot-loops on {target}: serve 8.5(2) first"
            ));
        }
        None
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use super::*;

    /// Serves a map, no sockets. A file in `staged` changes with each
    /// request for it (the last version stays), as a server's configs do
    /// between hops.
    struct MapFetcher(HashMap<String, Vec<u8>>, HashMap<String, Vec<Vec<u8>>>);

    impl Fetcher for MapFetcher {
        async fn fetch(&mut self, name: &str, _abort_half: bool) -> FetchResult {
            if let Some(versions) = self.1.get_mut(name) {
                let d = if versions.len() > 1 {
                    versions.remove(0)
                } else {
                    versions[0].clone()
                };
                return FetchResult::of(Fetched::Data(d));
            }
            FetchResult::of(match self.0.get(name) {
                Some(d) => Fetched::Data(d.clone()),
                None => Fetched::NotFound,
            })
        }
    }

    impl MapFetcher {
        fn stage(mut self, name: &str, versions: &[&str]) -> MapFetcher {
            let v = versions.iter().map(|t| t.as_bytes().to_vec()).collect();
            self.1.insert(name.to_owned(), v);
            self
        }
    }

    /// A control channel that plays a script: for each `open`, the next
    /// list of (time after the open, what is heard). No sockets.
    #[derive(Default)]
    struct Script {
        per_open: VecDeque<Vec<(u64, Heard)>>,
        current: VecDeque<(u64, Heard)>,
        opened_at: Option<Instant>,
        opened: Vec<Channel>,
        closes: u32,
    }

    impl Script {
        fn new(per_open: Vec<Vec<(u64, Heard)>>) -> Script {
            Script {
                per_open: per_open.into(),
                ..Script::default()
            }
        }
    }

    impl Control for Script {
        async fn open(&mut self, channel: Channel) -> Result<(), crate::ControlError> {
            self.opened.push(channel);
            self.current = self.per_open.pop_front().unwrap_or_default().into();
            self.opened_at = Some(Instant::now());
            Ok(())
        }

        async fn next(&mut self) -> Heard {
            let Some(&(secs, _)) = self.current.front() else {
                return std::future::pending().await;
            };
            let at = self.opened_at.unwrap() + Duration::from_secs(secs);
            tokio::time::sleep_until(at).await;
            self.current.pop_front().unwrap().1
        }

        async fn close(&mut self) -> Vec<Heard> {
            self.closes += 1;
            // What was due by now but not taken, as a socket would hold it.
            let now = Instant::now();
            let opened = self.opened_at.unwrap();
            let due = self
                .current
                .iter()
                .take_while(|(secs, _)| opened + Duration::from_secs(*secs) <= now)
                .count();
            let left = self.current.drain(..due).map(|(_, h)| h).collect();
            self.current.clear();
            left
        }
    }

    fn opts(max_boots: u32) -> RunOptions {
        RunOptions {
            max_boots,
            ..RunOptions::default()
        }
    }

    fn ended(end: RunEnd) -> (State, Option<String>) {
        match end {
            RunEnd::Ended(s, r) => (s, r),
            RunEnd::FullReboot => panic!("unexpected full reboot"),
        }
    }

    fn sccp(e: sccp_client::Event) -> Heard {
        Heard::Sccp(e)
    }

    fn registered() -> Heard {
        sccp(sccp_client::Event::Registered {
            keepalive: Duration::from_secs(30),
        })
    }

    fn reset(kind: ResetType) -> Heard {
        sccp(sccp_client::Event::Reset(kind))
    }

    fn notify(order: Order, repeat: bool) -> Heard {
        Heard::Notify(sip_listener::Heard {
            event: Some("check-sync".into()),
            status: 200,
            order,
            repeat,
        })
    }

    /// A SEP file naming `load` and a call manager.
    fn sep_sccp(load: &str) -> String {
        format!(
            "<device><devicePool><callManagerGroup><members><member priority=\"0\"><callManager><ports><ethernetPhonePort>2000</ethernetPhonePort></ports><processNodeName>10.9.9.9</processNodeName></callManager></member></members></callManagerGroup></devicePool><loadInformation>{load}</loadInformation></device>"
        )
    }

    fn phone(model: Model, load: &str) -> Phone {
        let load = LoadName::parse(load).unwrap();
        Phone::new(
            0,
            model,
            Mac([0, 0x1e, 0x4a, 0, 0, 1]),
            load,
            Faults::default(),
        )
    }

    fn with_load(load: &str, mut map: HashMap<String, Vec<u8>>) -> MapFetcher {
        let load = LoadName::parse(load).unwrap();
        let b = cisco::synth::LoadsBuilder::for_load(&load).unwrap();
        map.insert(b.file_name().to_owned(), b.build());
        for f in cisco::synth::load_files(&load) {
            map.insert(f.clone(), cisco::synth::image(&f, 100));
        }
        MapFetcher(map, HashMap::new())
    }

    #[tokio::test]
    async fn an_old_sip_79x0_follows_os79xx_back_to_sccp() {
        let mut f = with_load(
            "P00308000900",
            HashMap::from([("OS79XX.TXT".to_owned(), b"P00308000900 \r\n".to_vec())]),
        );
        let mut p = phone(Model::Cp7960, "P0S3-06-3-00");
        let mut c = Script::default();
        let (state, _) = ended(p.run(&mut f, &mut c, &opts(5)).await);
        assert_eq!(state, State::Settled);
        assert_eq!(p.running().as_str(), "P00308000900");
        let first: Vec<&str> = p.requests.iter().take(5).map(|r| r.file.as_str()).collect();
        assert_eq!(
            first,
            [
                "OS79XX.TXT",
                "CTLSEP001E4A000001.tlv",
                "SEP001E4A000001.cnf.xml",
                "SIPDefault.cnf",
                "SIP001E4A000001.cnf"
            ]
        );
        assert!(!p.report(state, None, Duration::ZERO).registered);
        // An SCCP load whose config names no call manager just sits.
        assert_eq!(c.opened, [Channel::None]);
    }

    #[tokio::test]
    async fn a_load_for_other_hardware_fails_the_phone_without_fetching_it() {
        let mut map = HashMap::new();
        map.insert(
            "SEP001E4A000001.cnf.xml".to_owned(),
            b"<device><loadInformation>SIP42.9-4-2SR3-1S</loadInformation></device>".to_vec(),
        );
        let mut f = with_load("SIP42.9-4-2SR3-1S", map);
        let mut p = phone(Model::Cp7941, "SCCP41.8-5-2S");
        let (state, reason) = ended(p.run(&mut f, &mut Script::default(), &opts(5)).await);
        assert_eq!(state, State::Failed);
        assert!(reason.unwrap().contains("not a 7941 load"));
        assert!(!p.requests.iter().any(|r| r.file.ends_with(".loads")));
        assert_eq!(p.running().as_str(), "SCCP41.8-5-2S");
    }

    #[tokio::test]
    async fn an_unsigned_5x_loads_bricks_a_3x_phone() {
        let load = LoadName::parse("P00305000500").unwrap();
        let b = cisco::synth::LoadsBuilder::for_load(&load)
            .unwrap()
            .unsigned();
        let mut map = HashMap::from([
            ("P00305000500.loads".to_owned(), b.build()),
            (
                "XMLDefault.cnf.xml".to_owned(),
                b"<Default><loadInformation7>P00305000500</loadInformation7></Default>".to_vec(),
            ),
        ]);
        for f in b.files() {
            map.insert(f.clone(), vec![1; 10]);
        }
        let mut p = phone(Model::Cp7960, "P00303010102");
        let mut f = MapFetcher(map, HashMap::new());
        let (state, reason) = ended(p.run(&mut f, &mut Script::default(), &opts(5)).await);
        assert_eq!(state, State::Bricked, "{reason:?}");
    }

    /// A 7960 on 5.x registers (short form), is restarted by its server,
    /// reads its config again, takes 8.0(9), registers again, and its run
    /// ends `hold` after that registration.
    #[tokio::test(start_paused = true)]
    async fn a_reset_reboots_into_the_next_hop_and_the_run_ends_on_the_expected_load() {
        let mut f = with_load("P00308000900", HashMap::new()).stage(
            "SEP001E4A000001.cnf.xml",
            &[&sep_sccp("P00305000500"), &sep_sccp("P00308000900")],
        );
        let mut c = Script::new(vec![
            vec![(1, registered()), (3, reset(ResetType::Restart))],
            vec![(2, registered())],
        ]);
        let mut p = phone(Model::Cp7960, "P00305000500");
        p.set_ip("10.0.0.5".parse().unwrap());
        let o = RunOptions {
            hold: Duration::from_secs(10),
            expect: Some(LoadName::parse("P00308000900").unwrap()),
            ..opts(5)
        };
        let t0 = Instant::now();
        let (state, reason) = ended(p.run(&mut f, &mut c, &o).await);
        assert_eq!(state, State::Settled, "{reason:?}");
        assert_eq!(p.running().as_str(), "P00308000900");
        // Reset at 3 s; second channel registered 2 s after it opened; hold 10 s.
        assert_eq!(t0.elapsed(), Duration::from_secs(15));
        assert_eq!(p.boots, 3, "settle, upgrade, settle");
        let configs = p
            .requests
            .iter()
            .filter(|r| r.file == "SEP001E4A000001.cnf.xml")
            .count();
        assert_eq!(configs, 3, "every boot reads the config, nothing between");
        let r = p.report(state, None, Duration::ZERO);
        assert_eq!(
            (r.sccp_registrations, r.resets.restart, r.resets.total()),
            (2, 1, 1)
        );
        assert!(r.registered);
        let regs: Vec<_> = c
            .opened
            .iter()
            .map(|ch| match ch {
                Channel::Sccp {
                    call_manager,
                    registration,
                } => (
                    call_manager.to_string(),
                    registration.protocol_version,
                    registration.load_info.clone(),
                    registration.station_ip.to_string(),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            regs,
            [
                ("10.9.9.9:2000".into(), 5, None, "10.0.0.5".into()),
                ("10.9.9.9:2000".into(), 11, None, "10.0.0.5".into())
            ]
        );
        assert_eq!(c.closes, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_reset_hands_the_reboot_to_the_caller_for_dhcp() {
        let mut f = with_load("SCCP41.8-5-2S", HashMap::new()).stage(
            "SEP001E4A000001.cnf.xml",
            &[&sep_sccp("SCCP41.8-3-1S"), &sep_sccp("SCCP41.8-5-2S")],
        );
        let mut c = Script::new(vec![vec![(0, registered()), (1, reset(ResetType::Reset))]]);
        let mut p = phone(Model::Cp7941, "SCCP41.8-3-1S");
        let o = RunOptions {
            reboot_delay: Duration::from_secs(7),
            hold: Duration::from_secs(5),
            ..opts(5)
        };
        let t0 = Instant::now();
        assert_eq!(p.run(&mut f, &mut c, &o).await, RunEnd::FullReboot);
        assert_eq!(
            t0.elapsed(),
            Duration::from_secs(8),
            "reboot delay before DHCP"
        );
        assert!(!p.report(State::Settled, None, Duration::ZERO).registered);
        // Called again, it boots on: the next config names the next hop.
        let (state, _) = ended(p.run(&mut f, &mut c, &o).await);
        assert_eq!(
            (state, p.running().as_str()),
            (State::Settled, "SCCP41.8-5-2S")
        );
        assert_eq!(p.boots, 3);
        let Channel::Sccp { registration, .. } = &c.opened[0] else {
            panic!()
        };
        assert_eq!(registration.load_info.as_deref(), Some("SCCP41.8-3-1S"));
        assert_eq!(p.resets.reset, 1);
    }

    /// With an `expect`, being registered counts from the latest
    /// registration: losing it during the hold starts the hold over. A
    /// reject is recorded and is not a reboot.
    #[tokio::test(start_paused = true)]
    async fn the_hold_counts_from_the_latest_registration() {
        let mut f = with_load("P00308000900", HashMap::new())
            .stage("SEP001E4A000001.cnf.xml", &[&sep_sccp("P00308000900")]);
        let rejected = sccp(sccp_client::Event::Rejected {
            text: "no such device".into(),
        });
        let mut c = Script::new(vec![vec![
            (1, registered()),
            (5, sccp(sccp_client::Event::Lost)),
            (6, rejected),
            (8, registered()),
        ]]);
        let mut p = phone(Model::Cp7940, "P00308000900");
        let o = RunOptions {
            hold: Duration::from_secs(10),
            expect: Some(LoadName::parse("P00308000900").unwrap()),
            ..opts(5)
        };
        let t0 = Instant::now();
        let (state, _) = ended(p.run(&mut f, &mut c, &o).await);
        assert_eq!(state, State::Settled);
        assert_eq!(t0.elapsed(), Duration::from_secs(18));
        let r = p.report(state, None, Duration::ZERO);
        assert_eq!(
            (r.boots, r.sccp_registrations, r.register_rejects),
            (1, 2, 1)
        );
        assert_eq!(r.last_reject.as_deref(), Some("no such device"));
    }

    /// Without registering, an `expect`ed SCCP phone never ends its run;
    /// and a phone on another load than `expect` waits for its order.
    #[tokio::test(start_paused = true)]
    async fn an_unmet_expect_keeps_the_phone_waiting() {
        for (load, heard) in [
            ("P00308000900", vec![]),
            ("P00305000500", vec![(0, registered())]),
        ] {
            let mut f = with_load("P00308000900", HashMap::new())
                .stage("SEP001E4A000001.cnf.xml", &[&sep_sccp(load)]);
            let mut c = Script::new(vec![heard]);
            let mut p = phone(Model::Cp7960, load);
            let o = RunOptions {
                expect: Some(LoadName::parse("P00308000900").unwrap()),
                ..opts(5)
            };
            let run = p.run(&mut f, &mut c, &o);
            assert!(
                tokio::time::timeout(Duration::from_secs(3600), run)
                    .await
                    .is_err(),
                "{load}"
            );
            let why = p.waiting_reason(o.expect.as_ref()).unwrap();
            assert!(why.contains(load), "{why}");
        }
    }

    /// Reboots the server orders after a settled boot are not a boot loop.
    #[tokio::test(start_paused = true)]
    async fn server_ordered_reboots_do_not_count_towards_max_boots() {
        let mut f = with_load("P00308000900", HashMap::new())
            .stage("SEP001E4A000001.cnf.xml", &[&sep_sccp("P00308000900")]);
        let mut script = vec![vec![(0, reset(ResetType::Restart))]; 6];
        script.push(Vec::new());
        let mut c = Script::new(script);
        let mut p = phone(Model::Cp7960, "P00308000900");
        let o = RunOptions {
            hold: Duration::from_secs(1),
            ..opts(2)
        };
        let (state, reason) = ended(p.run(&mut f, &mut c, &o).await);
        assert_eq!(state, State::Settled, "{reason:?}");
        assert_eq!((p.boots, p.resets.restart), (7, 6));
    }

    fn sip_79x0_files(sync: Option<&str>) -> MapFetcher {
        let own = match sync {
            Some(s) => format!("line1_name: \"100\"\nsync: {s}\n"),
            None => "line1_name: \"100\"\n".to_owned(),
        };
        MapFetcher(
            HashMap::from([
                (
                    "SIPDefault.cnf".to_owned(),
                    b"sync: 7;\nline1_name: 999\n".to_vec(),
                ),
                ("SIP001E4A000001.cnf".to_owned(), own.into_bytes()),
            ]),
            HashMap::new(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_79x0_sip_phone_reboots_on_check_sync_only_when_its_sync_moved() {
        let syncinfo = |sync: &str| {
            format!("<SYNCINFO><IMAGE VERSION=\"P0S3-8-12-00\" SYNC=\"{sync}\"/></SYNCINFO>")
        };
        // (sync in SIP<MAC>.cnf, SYNC in syncinfo.xml, reboots). SIPDefault says 7.
        for (own, served, reboots) in [
            (Some("2"), Some("2"), false),
            (Some("2"), Some("3"), true),
            (None, Some("7"), false),
            (None, Some("1"), true),
            (Some("2"), None, false),
        ] {
            let mut f = sip_79x0_files(own);
            if let Some(s) = served {
                f.0.insert("syncinfo.xml".into(), syncinfo(s).into_bytes());
            }
            let mut c = Script::new(vec![vec![
                // A retransmission answered at the same moment: counted,
                // even when the phone is already rebooting, and ignored.
                (1, notify(Order::CheckSync, false)),
                (1, notify(Order::Nothing, true)),
            ]]);
            let mut p = phone(Model::Cp7940, "P0S3-8-12-00");
            let o = RunOptions {
                hold: Duration::from_secs(5),
                sip_port: 15060,
                ..opts(5)
            };
            let end = p.run(&mut f, &mut c, &o).await;
            let case = format!("{own:?} {served:?}");
            assert_eq!(end == RunEnd::FullReboot, reboots, "{case}");
            let fetched = p
                .requests
                .iter()
                .filter(|r| r.file == "syncinfo.xml")
                .count();
            assert_eq!(fetched, 1, "{case}: one fetch, the repeat does nothing");
            assert_eq!((p.notifies, p.notify_repeats), (2, 1), "{case}");
            assert_eq!(p.notify_reboots, u32::from(reboots), "{case}");
            assert_eq!(
                c.opened[0],
                Channel::Sip {
                    port: 15060,
                    stack: SipStack::Cisco79x0,
                    line1: Some("100".into()),
                    tag: "001e4a000001-1".into(),
                }
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_java_sip_phone_listens_for_its_first_line_and_obeys_service_control() {
        let sep = "<device><sipProfile><sipLines><line button=\"1\"><name>1001</name></line></sipLines></sipProfile><loadInformation>SIP45.9-4-2SR3-1S</loadInformation></device>";
        for (order, end) in [
            (Order::Reset, Some(RunEnd::FullReboot)),
            (Order::Restart, None),
            (Order::Nothing, None),
        ] {
            let mut f = MapFetcher(
                HashMap::from([(
                    "SEP001E4A000001.cnf.xml".to_owned(),
                    sep.as_bytes().to_vec(),
                )]),
                HashMap::new(),
            );
            let mut c = Script::new(vec![vec![(1, notify(order, false))]]);
            let mut p = phone(Model::Cp7965, "SIP45.9-4-2SR3-1S");
            let o = RunOptions {
                hold: Duration::from_secs(5),
                ..opts(5)
            };
            let got = p.run(&mut f, &mut c, &o).await;
            match end {
                Some(e) => assert_eq!(got, e, "{order:?}"),
                None => assert!(matches!(got, RunEnd::Ended(State::Settled, _)), "{order:?}"),
            }
            // A restart reboots and settles again: two channels opened.
            let opens = if order == Order::Restart { 2 } else { 1 };
            assert_eq!(c.opened.len(), opens, "{order:?}");
            let Channel::Sip {
                stack, line1, port, ..
            } = &c.opened[0]
            else {
                panic!()
            };
            assert_eq!(
                (stack, line1.as_deref(), *port),
                (&SipStack::Sipcc, Some("1001"), 5060)
            );
            assert_eq!(p.notify_reboots, u32::from(order != Order::Nothing));
            let r = p.report(State::Settled, None, Duration::ZERO);
            assert_eq!(r.registered, order != Order::Reset, "{order:?}");
        }
    }
}
