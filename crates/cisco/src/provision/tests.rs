//! Fleet tests: simulated phones walk the request sequences PHONES.md
//! describes, against a fleet driven with an injected clock.

use super::*;
use crate::desired::{Mac, TargetLoad};
use crate::load_name::LoadName;
use crate::model::{ImageSet, Model, Protocol};
use crate::plan::{AvailableLoad, PlanError};
use crate::synth;
use std::net::IpAddr;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn l(s: &str) -> LoadName {
    LoadName::parse(s).expect(s)
}

fn catalog(names: &[&str]) -> Vec<AvailableLoad> {
    names
        .iter()
        .map(|n| AvailableLoad::synthetic(&l(n)))
        .collect()
}

const P0X3: [&str; 6] = [
    "P00303010102",
    "P00305000500",
    "P00306000200",
    "P00308000900",
    "P0030801SR02",
    "P0S3-8-12-00",
];

/// The one clock read: an origin for virtual time (Instant has no other constructor).
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

/// A fleet with a virtual clock; every input is followed by an invariant check
/// and the events are collected.
struct Rig {
    fleet: Fleet,
    now: Instant,
    events: Vec<FleetEvent>,
}

impl Rig {
    fn new(names: &[&str], intent: impl Fn(Option<Mac>, Model) -> Intent + Send + 'static) -> Rig {
        let mut fleet = Fleet::new(Policy::default(), intent);
        fleet.set_catalog(catalog(names));
        let mut rig = Rig {
            fleet,
            now: epoch(),
            events: Vec::new(),
        };
        rig.drain();
        rig
    }

    fn drain(&mut self) {
        while let Some(e) = self.fleet.poll_event() {
            self.events.push(e);
        }
        if let Err(e) = check_invariants(&self.fleet) {
            panic!("invariant broken: {e}");
        }
    }

    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.fleet.handle_timeout(self.now);
        self.drain();
    }

    fn dhcp(&mut self, mac: Mac, ip: IpAddr, model: Option<Model>) {
        self.fleet.on_dhcp(self.now, mac, ip, model);
        self.drain();
    }

    /// A request that the server answers (`ok`) or not ("not found").
    fn get(&mut self, ip: IpAddr, name: &str, ok: bool) -> Option<Mac> {
        let mac = self.fleet.on_request(self.now, ip, name);
        self.drain();
        self.now += Duration::from_millis(200);
        let bytes = if ok {
            synth::typical_size(name).unwrap_or(1000) as u64
        } else {
            0
        };
        self.fleet.on_transfer_done(self.now, ip, name, ok, bytes);
        self.drain();
        mac
    }

    fn files_of(&self, load: &LoadName) -> Vec<String> {
        self.fleet
            .catalog()
            .iter()
            .find(|a| a.name == *load)
            .map(|a| a.files.clone())
            .unwrap_or_else(|| panic!("{load} not in the catalog"))
    }

    fn hops_done(&self, mac: Mac) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                FleetEvent::HopDone { mac: m, load, .. } if *m == mac => Some(load.to_string()),
                _ => None,
            })
            .collect()
    }

    fn diagnoses(&self, mac: Mac) -> Vec<Diagnosis> {
        self.events
            .iter()
            .filter_map(|e| match e {
                FleetEvent::Diagnosis { mac: m, diagnosis } if *m == mac => Some(diagnosis.clone()),
                _ => None,
            })
            .collect()
    }

    fn stage(&self, mac: Mac) -> Stage {
        self.fleet.phone(mac).expect("known phone").stage
    }
}

/// A simulated phone: what it runs, and how it boots.
struct SimPhone {
    mac: Mac,
    ip: IpAddr,
    model: Model,
    running: LoadName,
    /// Take this many complete downloads without booting the new image.
    keeps_old: u32,
    /// Ask over HTTP first and fall back to TFTP for every file.
    http_first: bool,
}

impl SimPhone {
    fn new(last: u8, model: Model, running: &str) -> SimPhone {
        SimPhone {
            mac: Mac([0x00, 0x1e, 0x4a, 0x12, 0x34, last]),
            ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 100u8.wrapping_add(last))),
            model,
            running: l(running),
            keeps_old: 0,
            http_first: false,
        }
    }

    /// Newer Java loads try HTTP on 6970 first; model a miss there, then TFTP.
    fn fetch(&self, rig: &mut Rig, name: &str, ok: bool) {
        if self.http_first {
            rig.get(self.ip, name, false);
        }
        rig.get(self.ip, name, ok);
    }

    fn m(&self) -> String {
        self.mac.file_form()
    }

    fn power_on(&self, rig: &mut Rig) {
        rig.dhcp(self.mac, self.ip, Some(self.model));
    }

    /// The configs this phone reads, in order; returns the load they named
    /// (what the renderer would put in, i.e. `serving_load` when asked).
    fn read_config(&self, rig: &mut Rig) -> Option<LoadName> {
        let m = self.m();
        self.fetch(rig, &format!("CTLSEP{m}.tlv"), false);
        let xml = self.model.family().is_java() || self.running.protocol() != Some(Protocol::Sip);
        if self.model.family().is_java() {
            self.fetch(rig, &format!("ITLSEP{m}.tlv"), false);
            self.fetch(rig, "ITLFile.tlv", false);
        }
        self.fetch(rig, &format!("SEP{m}.cnf.xml"), true);
        let mut named = rig.fleet.serving_load(self.mac);
        if !xml {
            // 79x0 SIP: the text configs; image_version must name the same load.
            self.fetch(rig, "SIPDefault.cnf", true);
            self.fetch(rig, &format!("SIP{m}.cnf"), true);
            named = rig.fleet.serving_load(self.mac);
        }
        named
    }

    /// One boot. Returns whether it downloaded (and so will reboot).
    fn boot(&mut self, rig: &mut Rig) -> bool {
        let named = self.read_config(rig);
        match named {
            Some(load) if load != self.running => {
                for f in rig.files_of(&load) {
                    self.fetch(rig, &f, true);
                }
                if self.keeps_old > 0 {
                    self.keeps_old -= 1;
                } else {
                    self.running = load;
                }
                rig.now += Duration::from_secs(40); // flashing and rebooting
                true
            }
            _ => {
                let after = if self.model.family().is_java() {
                    ["Ringlist.xml", "dialplan.xml"]
                } else {
                    ["RINGLIST.DAT", "dialplan.xml"]
                };
                for f in after {
                    self.fetch(rig, f, false);
                }
                false
            }
        }
    }

    /// Boot until the fleet says done (or give up after `max` boots).
    fn walk(&mut self, rig: &mut Rig, max: usize) {
        self.power_on(rig);
        for _ in 0..max {
            self.boot(rig);
            if rig.stage(self.mac) == Stage::Done {
                return;
            }
        }
        panic!(
            "{} did not finish: {:?}",
            self.model,
            rig.fleet.phone(self.mac)
        );
    }
}

fn sip(_: Option<Mac>, _: Model) -> Intent {
    Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: None,
    }
}

#[test]
fn factory_7960_walks_to_sip_via_5x_and_8_0_9() {
    let mut rig = Rig::new(&P0X3, sip);
    let mut phone = SimPhone::new(1, Model::Cp7960, "P00303010102");
    phone.walk(&mut rig, 10);
    assert_eq!(
        rig.hops_done(phone.mac),
        ["P00305000500", "P00308000900", "P0S3-8-12-00"]
    );
    assert_eq!(phone.running, l("P0S3-8-12-00"));
    let view = rig.fleet.phone(phone.mac).expect("phone");
    assert_eq!(view.current, Some(l("P0S3-8-12-00")));
    assert_eq!(view.next, Some(l("P0S3-8-12-00")));
    assert!(
        view.evidence.contains("did not fetch it again"),
        "{}",
        view.evidence
    );
    assert_eq!(view.diagnosis, None);
    // Every stage of the walk was reported, in order.
    let stages: Vec<Stage> = rig
        .events
        .iter()
        .filter_map(|e| match e {
            FleetEvent::Stage { mac, stage } if *mac == phone.mac => Some(*stage),
            _ => None,
        })
        .collect();
    assert!(
        stages.contains(&Stage::Rebooting { hop: 1, of: 3 }),
        "{stages:?}"
    );
    assert!(
        stages.contains(&Stage::OnHop { hop: 2, of: 3 }),
        "{stages:?}"
    );
    assert_eq!(stages.last(), Some(&Stage::Done));
    // A settled phone that boots again downloads nothing.
    assert!(!phone.boot(&mut rig));
}

#[test]
fn sccp_7941_on_8_3_1_walks_to_sip_9_4_2_via_8_5_2() {
    let names = [
        "SCCP41.8-3-1S",
        "SCCP41.8-5-2S",
        "SIP41.9-4-2SR3-1S",
        "SCCP41.9-4-2SR3-1S",
    ];
    let mut rig = Rig::new(&names, |_, _| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("SCCP41.8-3-1S")),
    });
    let mut phone = SimPhone::new(2, Model::Cp7941, "SCCP41.8-3-1S");
    phone.power_on(&mut rig);
    assert_eq!(rig.fleet.serving_load(phone.mac), Some(l("SCCP41.8-5-2S")));

    // Watch progress mid-download.
    phone.read_config(&mut rig);
    let files = rig.files_of(&l("SCCP41.8-5-2S"));
    for f in &files[..3] {
        rig.get(phone.ip, f, true);
    }
    match rig.stage(phone.mac) {
        Stage::Downloading {
            hop: 1,
            of: 2,
            progress,
        } => {
            assert_eq!((progress.files_done, progress.files_total), (3, 6));
            assert!(progress.bytes_done > 0 && progress.bytes_done < progress.bytes_total);
        }
        other => panic!("{other:?}"),
    }
    for f in &files[3..] {
        rig.get(phone.ip, f, true);
    }
    assert_eq!(rig.stage(phone.mac), Stage::Rebooting { hop: 1, of: 2 });
    phone.running = l("SCCP41.8-5-2S");
    phone.walk(&mut rig, 6);
    assert_eq!(
        rig.hops_done(phone.mac),
        ["SCCP41.8-5-2S", "SIP41.9-4-2SR3-1S"]
    );
}

#[test]
fn sip_7965_switches_to_sccp() {
    let names = ["SIP45.9-4-2SR3-1S", "SCCP45.9-4-2SR4-3S", "SCCP45.8-5-2S"];
    let mut rig = Rig::new(&names, |_, _| Intent {
        protocol: Protocol::Sccp,
        target: TargetLoad::Newest,
        start_load: Some(l("SIP45.9-4-2SR3-1S")),
    });
    let mut phone = SimPhone::new(3, Model::Cp7965, "SIP45.9-4-2SR3-1S");
    phone.walk(&mut rig, 4);
    assert_eq!(rig.hops_done(phone.mac), ["SCCP45.9-4-2SR4-3S"]);
}

#[test]
fn a_phone_that_does_not_fetch_the_named_load_runs_it() {
    // Unknown load: the fleet names the 8.5(2) stone; this phone runs it already.
    let names = ["SIP45.8-5-2S", "SIP45.9-4-2SR3-1S"];
    let mut rig = Rig::new(&names, sip);
    let mut phone = SimPhone::new(4, Model::Cp7945, "SIP45.8-5-2S");
    phone.power_on(&mut rig);
    assert_eq!(rig.fleet.serving_load(phone.mac), Some(l("SIP45.8-5-2S")));
    assert!(!phone.boot(&mut rig));
    let view = rig.fleet.phone(phone.mac).expect("phone");
    assert_eq!(view.current, Some(l("SIP45.8-5-2S")));
    assert!(
        view.evidence.contains("did not fetch it"),
        "{}",
        view.evidence
    );
    assert!(rig.hops_done(phone.mac).is_empty(), "not a hop it took");
    assert_eq!(view.next, Some(l("SIP45.9-4-2SR3-1S")));
    phone.walk(&mut rig, 4);
    assert_eq!(rig.hops_done(phone.mac), ["SIP45.9-4-2SR3-1S"]);
}

#[test]
fn silence_after_the_config_also_settles() {
    let names = ["SIP45.8-5-2S", "SIP45.9-4-2SR3-1S"];
    let mut rig = Rig::new(&names, sip);
    let phone = SimPhone::new(5, Model::Cp7965, "SIP45.8-5-2S");
    phone.power_on(&mut rig);
    phone.read_config(&mut rig);
    let deadline = rig.fleet.poll_timeout().expect("settle timer");
    rig.now = deadline - Duration::from_secs(1);
    rig.fleet.handle_timeout(rig.now);
    rig.drain();
    assert_eq!(
        rig.fleet.phone(phone.mac).expect("p").current,
        None,
        "early call does nothing"
    );
    rig.advance(1);
    assert_eq!(
        rig.fleet.phone(phone.mac).expect("p").current,
        Some(l("SIP45.8-5-2S"))
    );
}

#[test]
fn reboot_mid_download_continues_the_same_hop() {
    let names = ["SIP41.8-5-2S", "SIP41.9-4-2SR3-1S"];
    let mut rig = Rig::new(&names, |_, _| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("SIP41.8-5-2S")),
    });
    let mut phone = SimPhone::new(6, Model::Cp7961, "SIP41.8-5-2S");
    phone.power_on(&mut rig);
    let target = phone.read_config(&mut rig).expect("named");
    assert_eq!(target, l("SIP41.9-4-2SR3-1S"));
    let files = rig.files_of(&target);
    for f in &files[..3] {
        rig.get(phone.ip, f, true);
    }
    // Power cut: it comes back and reads its config again.
    rig.now += Duration::from_secs(30);
    assert_eq!(phone.read_config(&mut rig), Some(target.clone()));
    assert!(rig.hops_done(phone.mac).is_empty());
    assert!(!rig
        .events
        .iter()
        .any(|e| matches!(e, FleetEvent::HopRetry { .. })));
    assert_eq!(
        rig.fleet.phone(phone.mac).expect("p").current,
        Some(l("SIP41.8-5-2S"))
    );
    // Then the whole load, and the check.
    for f in &files {
        rig.get(phone.ip, f, true);
    }
    phone.running = target;
    phone.walk(&mut rig, 3);
    assert_eq!(rig.hops_done(phone.mac), ["SIP41.9-4-2SR3-1S"]);
    let attempts = rig.events.iter().find_map(|e| match e {
        FleetEvent::HopDone { attempts, .. } => Some(*attempts),
        _ => None,
    });
    assert_eq!(attempts, Some(1));
}

#[test]
fn a_phone_that_keeps_its_old_image_once_is_retried() {
    let mut rig = Rig::new(&["P0030801SR02", "P0S3-8-12-00"], sip);
    let mut phone = SimPhone::new(7, Model::Cp7960, "P0030801SR02");
    phone.keeps_old = 1;
    rig.fleet.set_intents(|_: Option<Mac>, _: Model| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("P0030801SR02")),
    });
    phone.walk(&mut rig, 6);
    let retries: Vec<u32> = rig
        .events
        .iter()
        .filter_map(|e| match e {
            FleetEvent::HopRetry { attempts, .. } => Some(*attempts),
            _ => None,
        })
        .collect();
    assert_eq!(retries, [1]);
    let done: Vec<u32> = rig
        .events
        .iter()
        .filter_map(|e| match e {
            FleetEvent::HopDone { attempts, .. } => Some(*attempts),
            _ => None,
        })
        .collect();
    assert_eq!(done, [2]);
    assert!(rig.diagnoses(phone.mac).is_empty());
}

#[test]
fn a_phone_that_never_takes_the_image_is_diagnosed() {
    let mut rig = Rig::new(&["P0030801SR02", "P0S3-8-12-00"], |_, _| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("P0030801SR02")),
    });
    let mut phone = SimPhone::new(8, Model::Cp7940, "P0030801SR02");
    phone.keeps_old = u32::MAX;
    phone.power_on(&mut rig);
    for _ in 0..4 {
        phone.boot(&mut rig);
    }
    let d = rig.diagnoses(phone.mac);
    assert!(
        matches!(d.as_slice(), [Diagnosis::ImageRefused { attempts: 3, .. }]),
        "{d:?}"
    );
    assert!(d[0].to_string().contains("old image"), "{}", d[0]);
    assert_eq!(rig.stage(phone.mac), Stage::Stalled);
    assert!(rig.hops_done(phone.mac).is_empty());
}

#[test]
fn a_missing_hop_is_diagnosed_and_nothing_unsafe_is_served() {
    let mut names: Vec<&str> = P0X3.to_vec();
    names.retain(|n| *n != "P00308000900");
    let mut rig = Rig::new(&names, sip);
    let mut cat = rig.fleet.catalog().to_vec();
    cat.push(AvailableLoad {
        complete: false,
        missing: vec!["P00308000900.sb2".to_owned()],
        ..AvailableLoad::synthetic(&l("P00308000900"))
    });
    rig.fleet.set_catalog(cat.clone());
    let mut phone = SimPhone::new(9, Model::Cp7960, "P00303010102");
    phone.power_on(&mut rig);
    assert_eq!(rig.stage(phone.mac), Stage::Failed);
    // Unknown load and no complete plan: nothing is named at all.
    assert_eq!(rig.fleet.serving_load(phone.mac), None);
    let d = rig.diagnoses(phone.mac);
    assert!(
        matches!(&d[..], [Diagnosis::Plan(PlanError::Incomplete { missing, .. })] if missing == &["P00308000900.sb2"]),
        "{d:?}"
    );
    assert!(d[0].to_string().contains("phoneboot firmware import"));
    for _ in 0..3 {
        assert!(!phone.boot(&mut rig));
    }
    assert_eq!(phone.running, l("P00303010102"), "never moved");
    // The operator imports the missing file: the walk resumes.
    cat.last_mut().expect("entry").complete = true;
    rig.fleet.set_catalog(cat);
    rig.drain();
    phone.walk(&mut rig, 10);
    assert_eq!(rig.hops_done(phone.mac).len(), 3);
}

#[test]
fn term_loop_is_diagnosed_and_names_the_model() {
    let mut rig = Rig::new(&["SIP41.8-5-2S", "SIP41.9-4-2SR3-1S"], sip);
    let ip: IpAddr = "192.168.1.50".parse().expect("ip");
    let mac = Mac([0, 0x1e, 0x4a, 0, 0, 1]);
    rig.dhcp(mac, ip, None);
    for _ in 0..3 {
        rig.get(ip, "term61.default.loads", true);
        rig.advance(60);
    }
    let view = rig.fleet.phone(mac).expect("phone");
    assert_eq!(view.model.map(|m| m.image_set()), Some(ImageSet::Java41));
    assert!(
        view.model_evidence.contains("term61.default.loads"),
        "{}",
        view.model_evidence
    );
    assert!(
        matches!(view.diagnosis, Some(Diagnosis::TermLoop { count: 3, .. })),
        "{:?}",
        view.diagnosis
    );
    assert_eq!(view.stage, Stage::Stalled);
}

#[test]
fn signed_config_request_means_an_old_trust_list() {
    let mut rig = Rig::new(&["SIP42.9-4-2SR3-1S"], sip);
    let ip: IpAddr = "10.0.0.9".parse().expect("ip");
    // No lease known: the MAC comes from the name.
    let mac = rig
        .get(ip, "SEP00112233AABB.cnf.xml.sgn", false)
        .expect("attributed");
    assert_eq!(mac, Mac([0, 0x11, 0x22, 0x33, 0xaa, 0xbb]));
    let d = rig.diagnoses(mac);
    assert!(matches!(&d[..], [Diagnosis::OldTrustList { .. }]), "{d:?}");
    assert!(d[0].to_string().contains("Trust List"), "{}", d[0]);
    assert_eq!(rig.fleet.mac_for_ip(ip), Some(mac));
    // Lower-case MACs and sub-paths are attributed too, through the IP.
    assert_eq!(
        rig.get(ip, "Desktops/320x212x16/List.xml", false),
        Some(mac)
    );
    assert_eq!(
        rig.get(
            "10.0.0.10".parse().expect("ip"),
            "ctlsep00112233aabc.tlv",
            false
        ),
        Some(Mac([0, 0x11, 0x22, 0x33, 0xaa, 0xbc]))
    );
    assert_eq!(
        rig.get("10.0.0.11".parse().expect("ip"), "RINGLIST.DAT", false),
        None
    );
}

#[test]
fn loader_without_application_is_diagnosed() {
    let mut rig = Rig::new(&["P00308000900", "P0S3-8-12-00"], |_, _| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("P00308000900")),
    });
    let phone = SimPhone::new(10, Model::Cp7960, "P00308000900");
    phone.power_on(&mut rig);
    phone.read_config(&mut rig);
    rig.get(phone.ip, "P0S3-8-12-00.loads", true);
    rig.get(phone.ip, "P003-8-12-00.sbn", true);
    // Flashed the loader, rebooted, and never came back.
    rig.advance(299);
    assert!(rig.diagnoses(phone.mac).is_empty());
    rig.advance(1);
    let d = rig.diagnoses(phone.mac);
    assert!(
        matches!(&d[..], [Diagnosis::LoaderOnly { missing, .. }] if missing == &["P0S3-8-12-00.sb2"]),
        "{d:?}"
    );
    assert!(d[0].to_string().contains("150"), "{}", d[0]);
    assert_eq!(rig.stage(phone.mac), Stage::Stalled);
    // It comes back: the stall clears and the download starts over.
    phone.read_config(&mut rig);
    rig.get(phone.ip, "P0S3-8-12-00.loads", true);
    assert!(matches!(rig.stage(phone.mac), Stage::Downloading { .. }));
}

#[test]
fn lease_without_tftp_is_diagnosed() {
    let mut rig = Rig::new(&["SIP41.8-5-2S", "SIP41.9-4-2SR3-1S"], sip);
    let mac = Mac([0, 0x1e, 0x4a, 0, 0, 2]);
    let ip: IpAddr = "192.168.1.51".parse().expect("ip");
    rig.dhcp(
        mac,
        ip,
        Model::from_vendor_class(b"Cisco Systems, Inc. IP Phone CP-7941G\0"),
    );
    assert_eq!(
        rig.fleet.poll_timeout(),
        Some(rig.now + Duration::from_secs(120))
    );
    rig.advance(119);
    assert!(rig.diagnoses(mac).is_empty());
    rig.advance(1);
    assert!(matches!(
        &rig.diagnoses(mac)[..],
        [Diagnosis::NoTftp { .. }]
    ));
    assert_eq!(rig.fleet.poll_timeout(), None);
    // A request clears it.
    rig.get(ip, &format!("CTLSEP{}.tlv", mac.file_form()), false);
    assert_ne!(rig.stage(mac), Stage::Stalled);
}

#[test]
fn model_from_requested_names_and_option_60_wins() {
    let mut rig = Rig::new(&P0X3, sip);
    let ip: IpAddr = "192.168.1.60".parse().expect("ip");
    let mac = rig.get(ip, "SIP0011223344AA.cnf", false).expect("mac");
    let view = rig.fleet.phone(mac).expect("phone");
    assert_eq!(
        view.model.map(|m| m.family()),
        Some(crate::Family::Series79x0)
    );
    rig.dhcp(mac, ip, Some(Model::Cp7940));
    let view = rig.fleet.phone(mac).expect("phone");
    assert_eq!(view.model, Some(Model::Cp7940));
    assert_eq!(view.model_evidence, "DHCP option 60");
    // A guess from a file does not override option 60.
    rig.get(ip, "term41.default.loads", false);
    assert_eq!(rig.fleet.phone(mac).expect("p").model, Some(Model::Cp7940));
    // Moving to another address follows the lease.
    let ip2: IpAddr = "192.168.1.61".parse().expect("ip");
    rig.dhcp(mac, ip2, None);
    assert_eq!(rig.fleet.mac_for_ip(ip2), Some(mac));
    assert_eq!(rig.fleet.mac_for_ip(ip), None);
}

#[test]
fn a_lease_without_a_cisco_option_60_is_not_a_phone_until_it_asks_for_one_s_file() {
    let mut rig = Rig::new(&["SIP41.8-5-2S", "SIP41.9-4-2SR3-1S"], sip);
    let pc = Mac([0x52, 0x54, 0, 0, 0, 9]);
    let ip: IpAddr = "192.168.1.70".parse().expect("ip");
    rig.dhcp(pc, ip, None);
    rig.advance(3600);
    assert!(rig.fleet.phone(pc).is_none(), "a PC became a phone");
    assert_eq!(rig.fleet.mac_for_ip(ip), Some(pc));
    // The same lease, then a phone's request from that address: a phone.
    rig.get(ip, "term61.default.loads", true);
    assert_eq!(rig.fleet.phone(pc).expect("a phone now").ip, Some(ip));
    // Known now, a renewal without option 60 keeps it.
    rig.dhcp(pc, ip, None);
    assert!(rig.fleet.phone(pc).is_some());
}

#[test]
fn beliefs_survive_a_restart() {
    let mut rig = Rig::new(&P0X3, sip);
    let mut phone = SimPhone::new(11, Model::Cp7960, "P00303010102");
    phone.walk(&mut rig, 10);
    let records = rig.fleet.snapshot();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].current, Some(l("P0S3-8-12-00")));
    assert!(!records[0].evidence.is_empty());

    let mut fresh = Fleet::new(Policy::default(), sip);
    fresh.set_catalog(catalog(&P0X3));
    fresh.restore(records.clone());
    assert_eq!(fresh.serving_load(phone.mac), Some(l("P0S3-8-12-00")));
    assert_eq!(fresh.phone(phone.mac).expect("p").stage, Stage::Done);
    assert_eq!(fresh.snapshot(), records);
    assert_eq!(fresh.mac_for_ip(phone.ip), Some(phone.mac));
}

#[test]
fn xml_default_names_the_first_safe_hop_per_model() {
    let rig = Rig::new(&P0X3, sip);
    assert_eq!(
        rig.fleet.default_load(Model::Cp7960),
        Ok(Some(l("P00305000500")))
    );
    assert!(matches!(
        rig.fleet.default_load(Model::Cp7941),
        Err(PlanError::NoLoad { .. })
    ));
}

#[test]
fn fetching_the_believed_load_refutes_the_belief() {
    // The operator says SIP 9.4(2), but the phone fetches it: it is not on it.
    let mut rig = Rig::new(&["SIP41.8-5-2S", "SIP41.9-4-2SR3-1S"], |_, _| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("SIP41.9-4-2SR3-1S")),
    });
    let phone = SimPhone::new(12, Model::Cp7941, "SIP41.8-5-2S");
    phone.power_on(&mut rig);
    assert_eq!(rig.stage(phone.mac), Stage::Done);
    phone.read_config(&mut rig);
    rig.get(phone.ip, "SIP41.9-4-2SR3-1S.loads", true);
    let view = rig.fleet.phone(phone.mac).expect("p");
    assert_eq!(view.current, None);
    assert!(view.evidence.contains("does not run"), "{}", view.evidence);
    assert!(matches!(view.stage, Stage::Downloading { .. }));
}

#[test]
fn http_misses_before_tftp_are_not_retries() {
    let names = ["SIP42.8-5-2S", "SIP42.9-4-2SR3-1S"];
    let mut rig = Rig::new(&names, |_, _| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("SIP42.8-5-2S")),
    });
    let mut phone = SimPhone::new(13, Model::Cp7962, "SIP42.8-5-2S");
    phone.http_first = true;
    phone.walk(&mut rig, 4);
    assert_eq!(rig.hops_done(phone.mac), ["SIP42.9-4-2SR3-1S"]);
    assert!(!rig
        .events
        .iter()
        .any(|e| matches!(e, FleetEvent::HopRetry { .. })));
    assert!(rig
        .events
        .iter()
        .any(|e| matches!(e, FleetEvent::HopDone { attempts: 1, .. })));
}

#[test]
fn operator_model_lets_a_phone_without_our_dhcp_walk() {
    let names = ["SIP41.8-5-2S", "SIP41.9-4-2SR3-1S"];
    let mut rig = Rig::new(&names, sip);
    let phone = SimPhone::new(14, Model::Cp7961, "SIP41.9-4-2SR3-1S");
    // No lease: the config request alone attributes it, but names nothing.
    assert_eq!(phone.read_config(&mut rig), None);
    rig.fleet.set_model(phone.mac, Model::Cp7961);
    rig.drain();
    assert_eq!(
        rig.fleet.phone(phone.mac).expect("p").model_evidence,
        "the operator's config"
    );
    assert_eq!(rig.fleet.serving_load(phone.mac), Some(l("SIP41.8-5-2S")));
}

#[test]
fn a_download_cut_short_again_and_again_is_diagnosed() {
    let mut rig = Rig::new(&["P00308000900", "P0S3-8-12-00"], |_, _| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("P00308000900")),
    });
    let phone = SimPhone::new(15, Model::Cp7960, "P00308000900");
    phone.power_on(&mut rig);
    // Loader flashed, reboot, and round again: the application never comes.
    for round in 0..4 {
        phone.read_config(&mut rig);
        rig.get(phone.ip, "P0S3-8-12-00.loads", true);
        if round == 3 {
            break;
        }
        assert!(rig.diagnoses(phone.mac).is_empty(), "round {round}");
        rig.get(phone.ip, "P003-8-12-00.sbn", true);
        rig.now += Duration::from_secs(30);
    }
    let d = rig.diagnoses(phone.mac);
    assert!(
        matches!(&d[..], [Diagnosis::LoaderOnly { missing, .. }] if missing.contains(&"P0S3-8-12-00.sb2".to_owned())),
        "{d:?}"
    );
}

// ---- hands-off: what the phone says, and the reboots the fleet asks for ----

impl Rig {
    fn with_policy(mut self, policy: Policy) -> Rig {
        let catalog = self.fleet.catalog().to_vec();
        let mut fleet = Fleet::new(policy, sip);
        fleet.set_catalog(catalog);
        self.fleet = fleet;
        self
    }

    fn reboots(&self, mac: Mac) -> Vec<(Channel, RebootCause)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                FleetEvent::Reboot {
                    mac: m,
                    channel,
                    cause,
                    ..
                } if *m == mac => Some((*channel, cause.clone())),
                _ => None,
            })
            .collect()
    }

    fn register(&mut self, phone: &SimPhone, load: Option<&str>) {
        self.fleet.on_sccp_registered(
            self.now,
            phone.mac,
            phone.ip,
            Some(phone.model),
            load.map(l),
        );
        self.drain();
    }
}

impl SimPhone {
    /// Boots, and on an SCCP load registers with phoneboot the way the
    /// family does (79x0: no load name; Java: `loadInfo`). Returns whether
    /// the fleet asked for a reboot.
    fn boot_and_register(&mut self, rig: &mut Rig) -> bool {
        let before = rig.reboots(self.mac).len();
        if self.boot(rig) {
            // Flashed: the firmware reboots by itself.
            return true;
        }
        if self.running.protocol() == Some(Protocol::Sccp) {
            let load = self
                .model
                .family()
                .is_java()
                .then(|| self.running.to_string());
            rig.register(self, load.as_deref());
        }
        rig.reboots(self.mac).len() > before
    }

    /// Walks with no hand on the phone: it boots again only when its
    /// firmware or phoneboot says so. Returns the boots it took.
    fn walk_hands_off(&mut self, rig: &mut Rig, max: usize) -> usize {
        self.power_on(rig);
        for n in 1..=max {
            let again = self.boot_and_register(rig);
            if rig.stage(self.mac) == Stage::Done {
                return n;
            }
            assert!(
                again,
                "{} sits on {} with nobody to reboot it: {:?}",
                self.model,
                self.running,
                rig.fleet.phone(self.mac)
            );
            rig.now += Duration::from_secs(30);
            self.power_on(rig);
        }
        panic!(
            "{} did not finish: {:?}",
            self.model,
            rig.fleet.phone(self.mac)
        );
    }
}

#[test]
fn a_7960_walks_to_sip_with_sccp_resets_and_no_hand_on_it() {
    let mut rig = Rig::new(&P0X3, sip);
    let mut phone = SimPhone::new(1, Model::Cp7960, "P00303010102");
    phone.walk_hands_off(&mut rig, 10);
    assert_eq!(
        rig.hops_done(phone.mac),
        ["P00305000500", "P00308000900", "P0S3-8-12-00"]
    );
    // 5.x and 8.0(9) registered without naming their load, and were reset
    // into the next hop; the SIP load needs no reset.
    let reboots = rig.reboots(phone.mac);
    assert_eq!(
        reboots,
        [
            (
                Channel::Sccp,
                RebootCause::NextHop {
                    next: l("P00308000900")
                }
            ),
            (
                Channel::Sccp,
                RebootCause::NextHop {
                    next: l("P0S3-8-12-00")
                }
            ),
        ]
    );
    let view = rig.fleet.phone(phone.mac).unwrap();
    assert_eq!(view.reboot, None);
    assert_eq!(view.diagnosis, None);
}

#[test]
fn a_java_phones_register_load_verifies_its_hop() {
    let names = ["SCCP41.8-3-1S", "SCCP41.8-5-2S", "SIP41.9-4-2SR3-1S"];
    let mut rig = Rig::new(&names, sip);
    let mut phone = SimPhone::new(2, Model::Cp7941, "SCCP41.8-3-1S");
    phone.power_on(&mut rig);
    assert!(phone.boot_and_register(&mut rig), "flashes 8.5(2)");
    phone.power_on(&mut rig);
    phone.read_config(&mut rig);
    rig.register(&phone, Some("SCCP41.8-5-2S"));
    assert_eq!(rig.hops_done(phone.mac), ["SCCP41.8-5-2S"]);
    let view = rig.fleet.phone(phone.mac).unwrap();
    assert!(view.evidence.contains("SCCP Register"), "{}", view.evidence);
    assert_eq!(
        rig.reboots(phone.mac),
        [(
            Channel::Sccp,
            RebootCause::NextHop {
                next: l("SIP41.9-4-2SR3-1S")
            }
        )]
    );
    assert!(
        matches!(view.stage, Stage::Resetting { hop: 2, of: 2 }),
        "{:?}",
        view.stage
    );
}

#[test]
fn a_phone_that_reports_its_old_load_after_a_full_download_did_not_take_it() {
    let names = ["SCCP41.8-3-1S", "SCCP41.8-5-2S", "SIP41.9-4-2SR3-1S"];
    let mut rig = Rig::new(&names, sip);
    let mut phone = SimPhone::new(3, Model::Cp7941, "SCCP41.8-3-1S");
    phone.keeps_old = 1;
    phone.power_on(&mut rig);
    assert!(phone.boot_and_register(&mut rig));
    phone.power_on(&mut rig);
    phone.read_config(&mut rig);
    rig.register(&phone, Some("SCCP41.8-3-1S"));
    assert!(rig.hops_done(phone.mac).is_empty());
    assert!(rig
        .events
        .iter()
        .any(|e| matches!(e, FleetEvent::HopRetry { load, .. } if *load == l("SCCP41.8-5-2S"))));
    let view = rig.fleet.phone(phone.mac).unwrap();
    assert_eq!(view.current, Some(l("SCCP41.8-3-1S")));
    // It is reset to try the same hop again.
    assert_eq!(view.next, Some(l("SCCP41.8-5-2S")));
    assert_eq!(rig.reboots(phone.mac).len(), 1);
}

/// A 7960 on 5.x, told its next hop, that re-registers after every Reset
/// without rebooting, five times, 5 s apart.
fn ignoring_resets(rig: &mut Rig, n: u8) -> SimPhone {
    let phone = SimPhone::new(n, Model::Cp7960, "P00305000500");
    rig.fleet.set_model(phone.mac, phone.model);
    phone.power_on(rig);
    phone.read_config(rig);
    for _ in 0..5 {
        rig.register(&phone, None);
        rig.now += Duration::from_secs(5);
    }
    phone
}

#[test]
fn resets_are_bounded_per_hop_then_diagnosed() {
    let mut rig = Rig::new(&P0X3, sip);
    let phone = ignoring_resets(&mut rig, 4);
    let max = Policy::default().max_resets as usize;
    assert_eq!(rig.reboots(phone.mac).len(), max);
    assert!(
        rig.diagnoses(phone.mac).iter().any(
            |d| matches!(d, Diagnosis::ResetsIgnored { resets, .. } if *resets as usize == max)
        ),
        "{:?}",
        rig.diagnoses(phone.mac)
    );
    assert_eq!(rig.stage(phone.mac), Stage::Stalled);
}

#[test]
fn a_phone_that_does_not_come_back_from_a_reset_is_diagnosed() {
    let mut rig = Rig::new(&P0X3, sip);
    let phone = SimPhone::new(5, Model::Cp7960, "P00305000500");
    phone.power_on(&mut rig);
    phone.read_config(&mut rig);
    rig.register(&phone, None);
    assert_eq!(rig.reboots(phone.mac).len(), 1);
    rig.fleet.on_sccp_closed(rig.now, phone.mac);
    rig.advance(Policy::default().reboot_timeout.as_secs() - 1);
    assert!(rig.diagnoses(phone.mac).is_empty());
    rig.advance(2);
    assert!(
        matches!(
            rig.diagnoses(phone.mac).as_slice(),
            [Diagnosis::NoReturn {
                channel: Channel::Sccp,
                ..
            }]
        ),
        "{:?}",
        rig.diagnoses(phone.mac)
    );
    // Heard from again: the diagnosis clears and the walk goes on.
    phone.power_on(&mut rig);
    assert_eq!(rig.fleet.phone(phone.mac).unwrap().diagnosis, None);
}

#[test]
fn manual_mode_and_no_session_mean_no_reset() {
    let policy = Policy {
        reboot: RebootMode::Manual,
        ..Policy::default()
    };
    let mut rig = Rig::new(&P0X3, sip).with_policy(policy);
    let phone = SimPhone::new(6, Model::Cp7960, "P00305000500");
    phone.power_on(&mut rig);
    phone.read_config(&mut rig);
    rig.register(&phone, None);
    assert!(rig.reboots(phone.mac).is_empty());
    assert!(matches!(
        rig.stage(phone.mac),
        Stage::OnHop { .. } | Stage::Configured
    ));
    // Asked by the operator: sent, and counted as the operator's.
    assert_eq!(
        rig.fleet.request_reboot(rig.now, phone.mac),
        Some(Channel::Sccp)
    );
    rig.drain();
    assert_eq!(
        rig.reboots(phone.mac),
        [(Channel::Sccp, RebootCause::Operator)]
    );
    // Without a session (and not on SIP) there is no way to reach it.
    rig.fleet.on_sccp_closed(rig.now, phone.mac);
    assert_eq!(rig.fleet.request_reboot(rig.now, phone.mac), None);
    rig.drain();
    assert_eq!(rig.reboots(phone.mac).len(), 1);
}

#[test]
fn a_sip_79x0_is_notified_when_a_newer_load_arrives() {
    // On SIP 8.11 with nothing newer in the library: done.
    let mut rig = Rig::new(&["P0S3-8-11-00"], |_, _| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("P0S3-8-11-00")),
    });
    let mut phone = SimPhone::new(7, Model::Cp7960, "P0S3-8-11-00");
    phone.walk(&mut rig, 3);
    assert!(rig.reboots(phone.mac).is_empty());
    // 8.12 is imported: the phone is told through check-sync.
    rig.fleet
        .set_catalog(catalog(&["P0S3-8-11-00", "P0S3-8-12-00"]));
    rig.drain();
    assert_eq!(
        rig.reboots(phone.mac),
        [(
            Channel::SipCheckSync,
            RebootCause::NextHop {
                next: l("P0S3-8-12-00")
            }
        )]
    );
    // Asking for syncinfo.xml is part of deciding, not a phone back from a reboot.
    rig.get(phone.ip, "syncinfo.xml", true);
    assert!(rig.fleet.phone(phone.mac).unwrap().reboot.is_some());
    phone.power_on(&mut rig);
    assert!(phone.boot(&mut rig));
    assert_eq!(phone.running, l("P0S3-8-12-00"));
}

/// A 79x0 that boots from the operator's own XMLDefault.cnf.xml (no
/// SEP<MAC>.cnf.xml for it): what the file names is what it is told.
fn operator_boot(rig: &mut Rig, phone: &mut SimPhone, names: &str) -> bool {
    let m = phone.m();
    rig.get(phone.ip, &format!("CTLSEP{m}.tlv"), false);
    rig.get(phone.ip, &format!("SEP{m}.cnf.xml"), false);
    rig.fleet
        .on_request(rig.now, phone.ip, "XMLDefault.cnf.xml");
    rig.fleet
        .on_operator_config(rig.now, phone.ip, "XMLDefault.cnf.xml", Some(l(names)));
    rig.drain();
    rig.now += Duration::from_millis(200);
    rig.fleet
        .on_transfer_done(rig.now, phone.ip, "XMLDefault.cnf.xml", true, 900);
    rig.drain();
    let load = l(names);
    if load == phone.running {
        rig.get(phone.ip, "RINGLIST.DAT", false);
        return false;
    }
    for f in rig.files_of(&load) {
        rig.get(phone.ip, &f, true);
    }
    phone.running = load;
    rig.now += Duration::from_secs(40);
    true
}

#[test]
fn the_operators_file_is_watched_hop_by_hop_as_in_the_tftpd32_guide() {
    let mut rig = Rig::new(&P0X3, sip);
    let mut phone = SimPhone::new(7, Model::Cp7960, "P00303010102");
    phone.power_on(&mut rig);
    // Step f of the guide: 5.x first, then 8.0(9), editing the file between reboots.
    for hop in ["P00305000500", "P00308000900"] {
        assert!(operator_boot(&mut rig, &mut phone, hop));
        let view = rig.fleet.phone(phone.mac).unwrap();
        assert_eq!(
            view.next,
            Some(l(hop)),
            "the operator's word, not the plan's"
        );
        assert_eq!(view.target, Some(l(hop)));
        assert!(matches!(view.stage, Stage::Rebooting { .. }), "{view:?}");
        assert!(!operator_boot(&mut rig, &mut phone, hop));
        let view = rig.fleet.phone(phone.mac).unwrap();
        assert_eq!(view.current, Some(l(hop)), "{view:?}");
        assert_eq!(view.stage, Stage::Done, "{view:?}");
        assert_eq!(
            view.config_source,
            ConfigSource::Operator {
                file: "XMLDefault.cnf.xml".into(),
                load: Some(l(hop))
            }
        );
    }
    assert_eq!(rig.hops_done(phone.mac), ["P00305000500", "P00308000900"]);
    assert!(
        !rig.events
            .iter()
            .any(|e| matches!(e, FleetEvent::Reboot { .. })),
        "phoneboot never reboots a phone the operator's files drive"
    );
    // The plan's own hop would have been SIP 8.12 by now; the fleet kept to the file.
    assert_eq!(rig.fleet.serving_load(phone.mac), Some(l("P00308000900")));
}

#[test]
fn an_operators_file_that_skips_a_stepping_stone_is_diagnosed() {
    let mut rig = Rig::new(&P0X3, sip);
    let phone = SimPhone::new(8, Model::Cp7960, "P00303010102");
    phone.power_on(&mut rig);
    // The phone says what it runs (a 3.x load reports it over SCCP).
    rig.fleet.on_sccp_registered(
        rig.now,
        phone.mac,
        phone.ip,
        Some(Model::Cp7960),
        Some(l("P00303010102")),
    );
    rig.drain();
    // phoneboot's own plan would reset it into 5.x (no config fetched yet)…
    let reboots = |rig: &Rig| {
        rig.events
            .iter()
            .filter(|e| matches!(e, FleetEvent::Reboot { .. }))
            .count()
    };
    assert_eq!(reboots(&rig), 1);
    // …but it boots and gets the operator's file instead.
    rig.fleet
        .on_request(rig.now, phone.ip, "XMLDefault.cnf.xml");
    rig.fleet.on_operator_config(
        rig.now,
        phone.ip,
        "XMLDefault.cnf.xml",
        Some(l("P0S3-8-12-00")),
    );
    rig.drain();
    rig.fleet.on_sccp_registered(
        rig.now,
        phone.mac,
        phone.ip,
        Some(Model::Cp7960),
        Some(l("P00303010102")),
    );
    rig.drain();
    let d = rig.diagnoses(phone.mac);
    assert!(
        d.iter().any(|d| matches!(d,
            Diagnosis::OperatorSkips { first, load, .. }
                if *first == l("P00305000500") && *load == l("P0S3-8-12-00"))),
        "{d:?}"
    );
    let view = rig.fleet.phone(phone.mac).unwrap();
    assert_eq!(view.stage, Stage::Stalled);
    assert!(view
        .diagnosis
        .unwrap()
        .to_string()
        .contains("XMLDefault.cnf.xml names P0S3-8-12-00"));
    // Registered, with a next load that differs: no reboot from phoneboot.
    assert_eq!(reboots(&rig), 1);
}

#[test]
fn a_generated_config_takes_the_phone_back_from_the_operators_file() {
    let mut rig = Rig::new(&P0X3, sip);
    let mut phone = SimPhone::new(9, Model::Cp7960, "P00305000500");
    phone.power_on(&mut rig);
    assert!(!operator_boot(&mut rig, &mut phone, "P00305000500"));
    assert_eq!(rig.stage(phone.mac), Stage::Done);
    // The operator removed the file: phoneboot's own config now answers.
    let m = phone.m();
    rig.fleet
        .on_request(rig.now, phone.ip, &format!("SEP{m}.cnf.xml"));
    rig.fleet
        .on_generated_config(rig.now, phone.ip, &format!("SEP{m}.cnf.xml"));
    rig.drain();
    let view = rig.fleet.phone(phone.mac).unwrap();
    assert_eq!(view.config_source, ConfigSource::Generated);
    assert_eq!(view.next, Some(l("P00308000900")), "the plan's next hop");
    assert_eq!(view.target, Some(l("P0S3-8-12-00")));
}

#[test]
fn an_operators_file_that_names_nothing_for_the_model_leaves_the_phone_be() {
    let mut rig = Rig::new(&P0X3, sip);
    let phone = SimPhone::new(10, Model::Cp7960, "P00308000900");
    phone.power_on(&mut rig);
    rig.fleet
        .on_request(rig.now, phone.ip, "XMLDefault.cnf.xml");
    rig.fleet
        .on_operator_config(rig.now, phone.ip, "XMLDefault.cnf.xml", None);
    // A load for other phones is no word for this one.
    rig.fleet.on_operator_config(
        rig.now,
        phone.ip,
        "XMLDefault.cnf.xml",
        Some(l("SIP41.9-4-2SR3-1S")),
    );
    rig.drain();
    let view = rig.fleet.phone(phone.mac).unwrap();
    assert_eq!(view.next, None, "{view:?}");
    assert!(matches!(
        view.config_source,
        ConfigSource::Operator { load: None, .. }
    ));
}

// ---- the operator's retry ----------------------------------------------------

#[test]
fn retry_hop_clears_a_refused_image_and_counts_again_from_zero() {
    let mut rig = Rig::new(&["P0030801SR02", "P0S3-8-12-00"], |_, _| Intent {
        protocol: Protocol::Sip,
        target: TargetLoad::Newest,
        start_load: Some(l("P0030801SR02")),
    });
    let mut phone = SimPhone::new(20, Model::Cp7940, "P0030801SR02");
    phone.keeps_old = u32::MAX;
    phone.power_on(&mut rig);
    for _ in 0..4 {
        phone.boot(&mut rig);
    }
    assert_eq!(rig.stage(phone.mac), Stage::Stalled);
    assert!(matches!(
        rig.fleet.phone(phone.mac).unwrap().diagnosis,
        Some(Diagnosis::ImageRefused { attempts: 3, .. })
    ));
    let before = rig.events.len();
    assert!(rig.fleet.retry_hop(rig.now, phone.mac));
    rig.drain();
    let view = rig.fleet.phone(phone.mac).unwrap();
    assert_eq!(view.diagnosis, None);
    assert_eq!(view.attempts, 0);
    assert_ne!(view.stage, Stage::Stalled);
    assert_eq!(view.next, Some(l("P0S3-8-12-00")), "the same hop again");
    assert!(
        rig.events[before..]
            .iter()
            .any(|e| matches!(e, FleetEvent::Stage { stage, .. } if *stage != Stage::Stalled)),
        "{:?}",
        &rig.events[before..]
    );
    // Fixed by the operator: this time it takes the image, counted as the
    // first download since the retry.
    phone.keeps_old = 0;
    phone.walk(&mut rig, 4);
    let done: Vec<u32> = rig
        .events
        .iter()
        .filter_map(|e| match e {
            FleetEvent::HopDone { attempts, .. } => Some(*attempts),
            _ => None,
        })
        .collect();
    assert_eq!(done, [1]);
    assert_eq!(rig.fleet.phone(phone.mac).unwrap().diagnosis, None);
}

#[test]
fn retry_hop_after_ignored_resets_sends_a_fresh_reboot() {
    let mut rig = Rig::new(&P0X3, sip);
    let phone = ignoring_resets(&mut rig, 21);
    let max = Policy::default().max_resets as usize;
    assert_eq!(rig.reboots(phone.mac).len(), max);
    assert_eq!(rig.stage(phone.mac), Stage::Stalled);
    assert!(rig.fleet.retry_hop(rig.now, phone.mac));
    rig.drain();
    // Still registered: the hop is tried again at once, counted from one.
    let reboots: Vec<u32> = rig
        .events
        .iter()
        .filter_map(|e| match e {
            FleetEvent::Reboot { mac, resets, .. } if *mac == phone.mac => Some(*resets),
            _ => None,
        })
        .collect();
    assert_eq!(reboots.len(), max + 1);
    assert_eq!(reboots.last(), Some(&1));
    let view = rig.fleet.phone(phone.mac).unwrap();
    assert_eq!(view.diagnosis, None);
    assert!(
        matches!(view.stage, Stage::Resetting { .. }),
        "{:?}",
        view.stage
    );
}

#[test]
fn retry_hop_refuses_unknown_healthy_and_library_bound_phones() {
    let mut names: Vec<&str> = P0X3.to_vec();
    names.retain(|n| *n != "P00308000900");
    let mut rig = Rig::new(&names, sip);
    let unknown = Mac([0x00, 0x1e, 0x4a, 0xff, 0xff, 0xff]);
    assert!(!rig.fleet.retry_hop(rig.now, unknown));
    assert!(rig.fleet.phone(unknown).is_none(), "no phone made up");

    // Healthy: nothing to retry, nothing changes.
    let healthy = SimPhone::new(22, Model::Cp7941, "SCCP41.8-3-1S");
    healthy.power_on(&mut rig);
    let before = rig.events.len();
    assert!(!rig.fleet.retry_hop(rig.now, healthy.mac));
    rig.drain();
    assert_eq!(rig.events.len(), before);

    // A missing stepping stone is the library's to fix, not a retry's.
    let stuck = SimPhone::new(23, Model::Cp7960, "P00303010102");
    stuck.power_on(&mut rig);
    stuck.read_config(&mut rig);
    let stage = rig.stage(stuck.mac);
    assert!(matches!(
        rig.fleet.phone(stuck.mac).unwrap().diagnosis,
        Some(Diagnosis::Plan(_))
    ));
    assert!(!rig.fleet.retry_hop(rig.now, stuck.mac));
    assert_eq!(rig.stage(stuck.mac), stage);
    // Also diagnosed otherwise: the plan error still decides.
    rig.get(stuck.ip, &format!("SEP{}.cnf.xml.sgn", stuck.m()), false);
    assert!(!rig.fleet.retry_hop(rig.now, stuck.mac));
    assert!(matches!(
        rig.fleet.phone(stuck.mac).unwrap().diagnosis,
        Some(Diagnosis::Plan(_))
    ));
    // Importing the missing load brings the other diagnosis to light,
    // and that one a retry clears.
    let mut full = rig.fleet.catalog().to_vec();
    full.push(AvailableLoad::synthetic(&l("P00308000900")));
    rig.fleet.set_catalog(full);
    rig.drain();
    assert!(matches!(
        rig.fleet.phone(stuck.mac).unwrap().diagnosis,
        Some(Diagnosis::OldTrustList { .. })
    ));
    assert!(rig.fleet.retry_hop(rig.now, stuck.mac));
    assert_eq!(rig.fleet.phone(stuck.mac).unwrap().diagnosis, None);
}

#[test]
fn a_peer_servers_belief_fills_in_what_this_fleet_does_not_know() {
    let mut rig = Rig::new(&P0X3, sip);
    let known = SimPhone::new(20, Model::Cp7960, "P00303010102");
    known.power_on(&mut rig);
    let record = |mac: Mac, load: &str| PhoneRecord {
        mac,
        model: Some(Model::Cp7960),
        ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 99))),
        current: Some(l(load)),
        evidence: "registered over SCCP".into(),
        attempts: 0,
    };
    // A phone never seen here: taken as the peer describes it, and its
    // next hop follows from that load, not from the oldest start.
    let stranger = Mac([0, 0x1e, 0x4a, 0, 0, 0x77]);
    assert!(rig
        .fleet
        .learn_from_peer(record(stranger, "P00308000900"), "server-b"));
    rig.drain();
    let view = rig.fleet.phone(stranger).unwrap();
    assert_eq!(view.current, Some(l("P00308000900")));
    assert!(view.evidence.contains("seen by server-b"), "{view:?}");
    assert_eq!(view.next, Some(l("P0S3-8-12-00")));
    // A phone known here without a belief learns the load.
    assert!(rig
        .fleet
        .learn_from_peer(record(known.mac, "P00305000500"), "server-b"));
    assert_eq!(
        rig.fleet.phone(known.mac).unwrap().current,
        Some(l("P00305000500"))
    );
    // What this fleet saw itself wins over the peer's word.
    assert!(!rig
        .fleet
        .learn_from_peer(record(known.mac, "P00303010102"), "server-b"));
    assert_eq!(
        rig.fleet.phone(known.mac).unwrap().current,
        Some(l("P00305000500"))
    );
    rig.drain();
}
