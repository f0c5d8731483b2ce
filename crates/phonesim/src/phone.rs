//! One simulated phone: a loop of boot cycles that asks for files in its
//! family's order, judges what it is served like the real firmware does, and
//! records everything it did.

use std::time::Duration;

use cisco::{Family, LoadKind, LoadName, LoadsFile, Mac, Model, Protocol, Version};

use crate::configs;
use crate::report::{Hop, PhoneReport, RequestRecord, State};
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
    ip: Option<String>,
    start: LoadName,
    running: LoadName,
    faults: Faults,
    boots: u32,
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
            hops: Vec::new(),
            requests: Vec::new(),
            timeouts: 0,
            dropped: 0,
            failed_downloads: 0,
            aborted_downloads: 0,
            kept_old_image: 0,
        }
    }

    /// Records the source address for the report.
    pub fn set_ip(&mut self, ip: impl ToString) {
        self.ip = Some(ip.to_string());
    }

    /// The load it runs now.
    pub fn running(&self) -> &LoadName {
        &self.running
    }

    /// Boots until the phone settles, bricks or fails. Pauses `reboot_delay`
    /// between boots; more than `max_boots` boots is a failure (a loop).
    pub async fn run<F: Fetcher>(
        &mut self,
        fetcher: &mut F,
        reboot_delay: Duration,
        max_boots: u32,
        resync: Option<crate::Resync>,
    ) -> (State, Option<String>) {
        // Settled boots in a row that changed nothing.
        let mut quiet = 0u32;
        loop {
            if self.boots >= max_boots {
                let last_miss = self
                    .requests
                    .iter()
                    .rev()
                    .find(|r| r.result != "ok")
                    .map(|r| format!("; last miss: {} {}", r.file, r.result))
                    .unwrap_or_default();
                return (
                    State::Failed,
                    Some(format!(
                        "still not settled after {} boots, {} downloads stopped on a missing or failed file{last_miss}",
                        self.boots, self.failed_downloads
                    )),
                );
            }
            self.boots += 1;
            let end = self.boot(fetcher).await;
            tracing::debug!(phone = self.index, boot = self.boots, ?end, "boot ended");
            match end {
                BootEnd::Settle => match resync {
                    Some(r) if quiet + 1 < r.stable.max(1) => {
                        quiet += 1;
                        // Re-reading config is not a reboot: it does not
                        // count towards the loop limit.
                        self.boots -= 1;
                        tokio::time::sleep(r.every).await;
                    }
                    _ => return (State::Settled, None),
                },
                BootEnd::Brick(why) => return (State::Bricked, Some(why)),
                BootEnd::Fail(why) => return (State::Failed, Some(why)),
                BootEnd::Reboot => {
                    quiet = 0;
                    tokio::time::sleep(reboot_delay).await
                }
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
            ip: self.ip.clone(),
            start_load: self.start.to_string(),
            final_load: self.running.to_string(),
            state,
            reason,
            registered: state == State::Settled && self.running.protocol() == Some(Protocol::Sip),
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
        match text {
            Some(t) => configs::xml_load(&t, self.model),
            None => Ok(None),
        }
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
        let image = own
            .as_deref()
            .and_then(|t| configs::text_value(t, "image_version"))
            .or_else(|| {
                default
                    .as_deref()
                    .and_then(|t| configs::text_value(t, "image_version"))
            })
            .or(os_load);
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Serves a map, no sockets.
    struct MapFetcher(HashMap<String, Vec<u8>>);

    impl Fetcher for MapFetcher {
        async fn fetch(&mut self, name: &str, _abort_half: bool) -> FetchResult {
            FetchResult::of(match self.0.get(name) {
                Some(d) => Fetched::Data(d.clone()),
                None => Fetched::NotFound,
            })
        }
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
        MapFetcher(map)
    }

    #[tokio::test]
    async fn an_old_sip_79x0_follows_os79xx_back_to_sccp() {
        let mut f = with_load(
            "P00308000900",
            HashMap::from([("OS79XX.TXT".to_owned(), b"P00308000900 \r\n".to_vec())]),
        );
        let mut p = phone(Model::Cp7960, "P0S3-06-3-00");
        let (state, _) = p.run(&mut f, Duration::ZERO, 5, None).await;
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
        let (state, reason) = p.run(&mut f, Duration::ZERO, 5, None).await;
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
        let (state, reason) = p.run(&mut MapFetcher(map), Duration::ZERO, 5, None).await;
        assert_eq!(state, State::Bricked, "{reason:?}");
    }
}
