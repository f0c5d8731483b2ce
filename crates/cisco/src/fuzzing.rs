//! Entry points for fuzzers: each runs a parser on arbitrary bytes and checks
//! invariants, panicking only when an invariant breaks (which is a bug).
//!
//! cargo-fuzz targets call these; the unit test below runs them over seeded
//! random and mutated inputs so the invariants are exercised on every test run.
#![allow(clippy::panic, clippy::expect_used)]

use crate::files::{classify, FirmwareFile, TermFile};
use crate::load_name::{LoadName, Version};
use crate::loads::{check_file_name, Boundary, LoadsFile};
use crate::model::{Model, Protocol};
use crate::render::{self, GeneratedFile};
use crate::request::RequestedFile;
use crate::synth;
use crate::{PhoneSettings, SipLine, Site, SpeedDial, Transport};

/// `.loads` parser: never panics; every accepted name is safe; the canonical
/// text of a parsed file parses to the same lists, with or without a header.
pub fn loads(data: &[u8]) {
    let Ok(parsed) = LoadsFile::parse(data) else {
        return;
    };
    assert!(!parsed.files().is_empty());
    for name in parsed.files() {
        assert_eq!(
            check_file_name(name.as_bytes()),
            Ok(()),
            "accepted {name:?}"
        );
    }
    if let Some(h) = parsed.header() {
        assert!(h.length() <= data.len());
    }
    let text = parsed.to_text();
    let plain = LoadsFile::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("canonical text {text:?} does not parse: {e}"));
    assert_same(&parsed, &plain);
    assert!(plain.header().is_none());
    let mut signed = synth::signed_header("fuzz.loads");
    signed.extend_from_slice(text.as_bytes());
    let signed = LoadsFile::parse(&signed).expect("signed canonical text parses");
    assert_same(&parsed, &signed);
    assert_eq!(
        signed.header().map(|h| h.boundary()),
        Some(Boundary::LengthTag)
    );
}

fn assert_same(a: &LoadsFile, b: &LoadsFile) {
    assert_eq!(a.files(), b.files());
    assert_eq!(a.comments(), b.comments());
    assert_eq!(a.hardware_comp(), b.hardware_comp());
    assert_eq!(a.properties(), b.properties());
}

/// Load-name parser (and the other name parsers): never panics; display gives
/// the input back; parsing is case-insensitive; the file a phone would request
/// classifies back to the same load; synth's `.loads` for it parses back.
pub fn load_name(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = classify(s);
    let _ = Model::from_name(s);
    if let Some(t) = TermFile::parse(s) {
        assert!(!t.models().is_empty());
        assert_eq!(TermFile::parse(&t.file_name()), Some(t));
    }
    if let Ok(v) = s.parse::<Version>() {
        assert_eq!(v.to_string().parse::<Version>(), Ok(v));
    }
    let Ok(load) = LoadName::parse(s) else {
        return;
    };
    assert_eq!(load.to_string(), s);
    let again = LoadName::parse(&load.to_string()).expect("display parses");
    assert_eq!(again, load);
    assert_eq!(again.version(), load.version());
    assert_eq!(again.cmp(&load), std::cmp::Ordering::Equal);
    let lower = LoadName::parse(&s.to_ascii_lowercase()).expect("lower case parses");
    assert_eq!(
        (lower.version(), lower.image_set(), lower.protocol()),
        (load.version(), load.image_set(), load.protocol())
    );
    if load.version().build() == 0 {
        assert_eq!(
            load.version().to_string().parse::<Version>(),
            Ok(load.version())
        );
    }
    match classify(&load.requested_file()) {
        Some(FirmwareFile::Loads(l)) | Some(FirmwareFile::Image { load: l, .. }) => {
            assert_eq!(l, load)
        }
        other => panic!("{} classified as {other:?}", load.requested_file()),
    }
    if let Ok(builder) = synth::LoadsBuilder::for_load(&load) {
        let f = LoadsFile::parse(&builder.build()).expect("synth .loads parses");
        assert_eq!(f.files(), synth::load_files(&load));
        for name in f.files() {
            assert!(
                classify(name).is_some(),
                "synth file {name:?} is not recognised"
            );
        }
    }
}

/// DHCP option 60 matcher: never panics; a match contains `PHONE` and the
/// model's number, and the model's own vendor class matches it back.
pub fn vendor_class(data: &[u8]) {
    let Some(model) = Model::from_vendor_class(data) else {
        return;
    };
    let upper = data.to_ascii_uppercase();
    assert!(upper.windows(5).any(|w| w == b"PHONE"));
    let digits = model.number().to_string();
    assert!(upper.windows(4).any(|w| w == digits.as_bytes()));
    assert_eq!(Model::from_vendor_class(model.vendor_class()), Some(model));
}

/// What one fleet run reached, so the smoke test can tell a corpus that
/// exercises the state machine from one that only bounces off it.
#[derive(Debug, Default, Clone, Copy)]
struct FleetReach {
    downloads: usize,
    hops: usize,
}

/// Fleet state machine: an arbitrary sequence of leases, requests, finished
/// transfers, clock jumps, catalog changes and restarts never panics; every
/// load the fleet would name fits the phone and breaks no upgrade rule; and
/// after `handle_timeout(now)` no timer is left at or before `now`.
pub fn fleet(data: &[u8]) {
    let _ = drive_fleet(data);
}

// A harness, not a parser: it indexes fixed non-empty pools modulo their length.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn drive_fleet(data: &[u8]) -> FleetReach {
    use crate::desired::{Mac, TargetLoad};
    use crate::plan::AvailableLoad;
    use crate::provision::{check_invariants, Fleet, FleetEvent, Intent, Policy, Stage};
    use crate::Protocol;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    const LOADS: [&str; 14] = [
        "P00303010102",
        "P00305000500",
        "P00306000200",
        "P00308000900",
        "P0030801SR02",
        "P0S3-8-12-00",
        "SCCP41.8-3-1S",
        "SCCP41.8-5-2S",
        "SIP41.8-5-2S",
        "SIP41.9-4-2SR3-1S",
        "SCCP41.9-4-2SR3-1S",
        "SIP45.9-4-2SR3-1S",
        "SCCP45.9-4-2SR4-3S",
        "SIP42.9-4-2SR3-1S",
    ];
    const MODELS: [Model; 6] = [
        Model::Cp7960,
        Model::Cp7940,
        Model::Cp7941,
        Model::Cp7961Ge,
        Model::Cp7965,
        Model::Cp7942,
    ];
    let mut reach = FleetReach::default();
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let (Some(a), Some(b), Some(c)) = (next(), next(), next()) else {
        return reach;
    };
    let all: Vec<LoadName> = LOADS
        .iter()
        .filter_map(|n| LoadName::parse(n).ok())
        .collect();
    let entry = |i: usize, complete: bool| {
        let mut e = AvailableLoad::synthetic(&all[i % all.len()]);
        if !complete {
            e.complete = false;
            e.missing = e.files.split_off(e.files.len() - 1);
        }
        e
    };
    // Catalog: a bitmask over the pool; a second mask marks incomplete loads.
    let make_catalog = |mask: u16, broken: u8| -> Vec<AvailableLoad> {
        (0..all.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| entry(i, (broken >> (i % 8)) & 1 == 0))
            .collect()
    };
    let start_pool = all.clone();
    let intents = move |mac: Option<Mac>, model: Model| {
        let key = mac.map_or(0, |m| m.0[5]) ^ a;
        let protocol = if key & 1 == 0 {
            Protocol::Sip
        } else {
            Protocol::Sccp
        };
        let start_load =
            (key & 2 != 0).then(|| start_pool[usize::from(key >> 2) % start_pool.len()].clone());
        let target = if key & 0x40 != 0 {
            TargetLoad::Exact(start_pool[usize::from(key >> 3) % start_pool.len()].clone())
        } else {
            TargetLoad::Newest
        };
        let _ = model;
        Intent {
            protocol,
            target,
            start_load,
        }
    };
    let mut fleet = Fleet::new(Policy::default(), intents.clone());
    fleet.set_catalog(make_catalog(u16::from_le_bytes([b, c]) | 0x3f, 0));
    #[allow(clippy::disallowed_methods)] // the one origin for virtual time
    let mut now = Instant::now();
    let macs: Vec<Mac> = (0..4u8).map(|i| Mac([0, 0x1e, 0x4a, 0, 0, i])).collect();
    let ips: Vec<IpAddr> = (0..5u8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + i)))
        .collect();
    let name = |sel: u8, mac: Mac, catalog: &[AvailableLoad]| -> String {
        let m = mac.file_form();
        match sel % 16 {
            0 => format!("CTLSEP{m}.tlv"),
            1 => format!("SEP{m}.cnf.xml"),
            2 => format!("SIP{}.cnf", m.to_ascii_lowercase()),
            3 => "XMLDefault.cnf.xml".to_owned(),
            4 => format!("SEP{m}.cnf.xml.sgn"),
            5 => [
                "term41.default.loads",
                "term65.default.loads",
                "term62.default.loads",
            ][usize::from(sel / 16) % 3]
                .to_owned(),
            6 => "RINGLIST.DAT".to_owned(),
            7 => "Desktops/320x212x16/List.xml".to_owned(),
            8 => "ITLFile.tlv".to_owned(),
            9 => "SIPDefault.cnf".to_owned(),
            10 => "P00305000500.bin".to_owned(),
            _ => {
                let files: Vec<&String> = catalog.iter().flat_map(|e| &e.files).collect();
                if files.is_empty() {
                    "nothing".to_owned()
                } else {
                    files[usize::from(sel / 16 + sel % 5) % files.len()].clone()
                }
            }
        }
    };
    let mut steps = 0usize;
    while let Some(op) = next() {
        steps += 1;
        if steps > 400 {
            break;
        }
        let arg = next().unwrap_or(0);
        let mac = macs[usize::from(arg) % macs.len()];
        let ip = ips[usize::from(arg / 4) % ips.len()];
        match op % 10 {
            0 => {
                let model = (arg & 0x80 != 0).then(|| MODELS[usize::from(op / 10) % MODELS.len()]);
                fleet.on_dhcp(now, mac, ip, model);
            }
            9 => {
                // What the phone says over SCCP, and the operator's reboots.
                let pick = next().unwrap_or(0);
                let load = (pick & 1 != 0).then(|| {
                    let all = fleet.catalog();
                    all.get(usize::from(pick >> 1) % all.len().max(1))
                        .map(|a| a.name.clone())
                });
                match arg % 6 {
                    5 => {
                        // Another server's belief about a phone.
                        let record = crate::provision::PhoneRecord {
                            mac,
                            model: (pick & 0x40 != 0)
                                .then(|| MODELS[usize::from(pick) % MODELS.len()]),
                            ip: Some(ip),
                            current: load.flatten(),
                            evidence: "fuzz".into(),
                            attempts: 0,
                        };
                        fleet.learn_from_peer(record, "peer");
                    }
                    0 | 1 => {
                        let model =
                            (arg & 0x80 != 0).then(|| MODELS[usize::from(pick) % MODELS.len()]);
                        fleet.on_sccp_registered(now, mac, ip, model, load.flatten());
                    }
                    2 => {
                        if let Some(Some(l)) = load {
                            fleet.on_reported_load(now, mac, l, "fuzz");
                        }
                    }
                    3 => fleet.on_sccp_closed(now, mac),
                    _ => {
                        if fleet.request_reboot(now, mac).is_some() && pick & 0x80 != 0 {
                            fleet.reboot_failed(mac);
                        }
                    }
                }
            }
            1..=3 => {
                let n = name(next().unwrap_or(0), mac, fleet.catalog());
                fleet.on_request(now, ip, &n);
                // Who answered it: phoneboot's renderer or the operator's file.
                match arg & 0x30 {
                    0x10 => fleet.on_generated_config(now, ip, &n),
                    0x20 | 0x30 => {
                        let load =
                            (arg & 0x10 != 0).then(|| all[usize::from(op) % all.len()].clone());
                        fleet.on_operator_config(now, ip, &n, load);
                    }
                    _ => {}
                }
                let ok = arg & 0x40 == 0;
                now += Duration::from_millis(u64::from(op));
                let size = crate::synth::typical_size(&n).unwrap_or(100) as u64;
                fleet.on_transfer_done(now, ip, &n, ok, if ok { size } else { 0 });
            }
            4 => {
                let n = name(next().unwrap_or(0), mac, fleet.catalog());
                fleet.on_transfer_done(now, ip, &n, arg & 1 == 0, u64::from(arg));
            }
            5 => now += Duration::from_secs(u64::from(arg) * 3),
            6 => {
                let mask = u16::from_le_bytes([arg, next().unwrap_or(0)]);
                fleet.set_catalog(make_catalog(mask, next().unwrap_or(0)));
            }
            7 => {
                // A restart: a new fleet restored from the old one's records.
                let records = fleet.snapshot();
                let catalog = fleet.catalog().to_vec();
                let mut fresh = Fleet::new(Policy::default(), intents.clone());
                fresh.set_catalog(catalog);
                fresh.restore(records.clone());
                let again = fresh.snapshot();
                assert_eq!(again, records, "restore then snapshot changed the records");
                fleet = fresh;
            }
            _ => {
                if let Some(at) = fleet.poll_timeout() {
                    now = now.max(at);
                }
            }
        }
        fleet.handle_timeout(now);
        if let Some(at) = fleet.poll_timeout() {
            assert!(at > now, "a timer at or before now survived handle_timeout");
        }
        while let Some(e) = fleet.poll_event() {
            match e {
                FleetEvent::Stage {
                    stage: Stage::Downloading { progress, .. },
                    ..
                } => {
                    assert!(progress.files_done <= progress.files_total);
                    reach.downloads += 1;
                }
                FleetEvent::HopDone { .. } => reach.hops += 1,
                FleetEvent::Reboot { mac, channel, .. } => {
                    // Never a reboot through a channel the phone does not have.
                    let view = fleet.phone(mac).expect("a rebooted phone is known");
                    assert_eq!(view.channel, Some(channel), "{view:?}");
                }
                _ => {}
            }
        }
        if let Err(e) = check_invariants(&fleet) {
            panic!("{e}");
        }
    }
    reach
}

/// Operator configs: the first byte picks the file and the model, the rest
/// is the file. Never panics; a load it names fits the model; an XML
/// problem's place lies inside the file.
pub fn operator_config(data: &[u8]) {
    use crate::operator::{check_xml, told_load};
    use crate::request::RequestedFile;
    let Some((&sel, content)) = data.split_first() else {
        return;
    };
    let mac = crate::desired::Mac([0, 0x1e, 0x4a, 0, 0, 1]);
    let files = [
        RequestedFile::XmlDefault,
        RequestedFile::SepCnfXml(mac),
        RequestedFile::SipDefaultCnf,
        RequestedFile::SipMacCnf(mac),
        RequestedFile::Os79xxTxt,
    ];
    let file = &files[usize::from(sel) % files.len()];
    let model = Model::ALL.get(usize::from(sel / 8)).copied();
    if let Some(load) = told_load(file, content, model) {
        if let Some(m) = model {
            assert!(load.fits(m), "{load} named for a {m}");
        }
    }
    if let Err(p) = check_xml(content) {
        let lines = content.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        assert!(p.line >= 1 && p.line <= lines, "{p} in {lines} lines");
        assert!(p.column >= 1);
    }
}

/// Requested-name classifier: never panics; letter case changes nothing but
/// firmware details; a MAC it reads is in the name; a generated config has a
/// canonical name that parses back to it, in any case and with a leading
/// `/`; only per-MAC files carry secrets, and only names without sub-paths
/// are generated.
pub fn requested_file_name(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let file = RequestedFile::parse(s);
    let lower = RequestedFile::parse(&s.to_ascii_lowercase());
    assert_eq!(lower.mac(), file.mac(), "{s:?}");
    assert_eq!(lower.generated(), file.generated(), "{s:?}");
    if !matches!(file, RequestedFile::Firmware(_) | RequestedFile::Other) {
        assert_eq!(lower, file, "{s:?}");
    }
    if let Some(mac) = file.mac() {
        let hex = mac.file_form();
        assert!(s.to_ascii_uppercase().contains(&hex), "{s:?} has no {hex}");
    }
    if !s.contains(['/', '\\']) && !s.ends_with('\0') {
        assert_eq!(
            RequestedFile::of_path(&format!("a/b\\{s}\0")),
            file,
            "{s:?}"
        );
    }
    let Some(generated) = GeneratedFile::parse(s) else {
        assert!(
            s.trim_start_matches('/').contains('/') || file.generated().is_none(),
            "{s:?}"
        );
        return;
    };
    assert!(!s.trim_start_matches('/').contains('/'), "{s:?}");
    assert_eq!(
        RequestedFile::parse(s.strip_prefix('/').unwrap_or(s)).generated(),
        Some(generated)
    );
    let name = generated.file_name();
    for form in [
        name.clone(),
        name.to_ascii_lowercase(),
        name.to_ascii_uppercase(),
        format!("/{name}"),
        s.to_ascii_lowercase(),
    ] {
        assert_eq!(GeneratedFile::parse(&form), Some(generated), "{form:?}");
    }
    assert!(name.eq_ignore_ascii_case(s.strip_prefix('/').unwrap_or(s)));
    assert_eq!(generated.carries_secrets(), generated.mac().is_some());
    assert!(GeneratedFile::parse(&format!("{name}.sgn")).is_none());
}

/// Renderers on settings built from arbitrary bytes: never panic; XML is
/// well-formed and carries each line's password exactly once when it has a
/// SIP profile; 79x0 text configs are strict `key: "value"` CRLF lines whose
/// keys are the same as for harmless values (no value adds or hides a key).
pub fn render(data: &[u8]) {
    let (site, phone, model, load) = settings_from(data, &|s| s.to_owned());
    let (tame_site, tame_phone, _, _) = settings_from(data, &|_| "x".to_owned());

    for xml in [
        render::sep_cnf_xml(&site, &phone, model, load.as_ref()),
        render::sep_cnf_xml(&site, &phone, model, None),
    ] {
        let texts = xml_texts(&xml);
        let passwords: Vec<&String> = texts
            .iter()
            .filter(|(name, _)| name == "authPassword")
            .map(|(_, text)| text)
            .collect();
        if texts.iter().any(|(name, _)| name == "sipProfile") {
            let expected: Vec<String> = phone
                .lines
                .iter()
                .map(|l| {
                    l.password
                        .chars()
                        .map(|c| {
                            if render::text_value_ok(&c.to_string()) || c == '"' {
                                c
                            } else {
                                '?'
                            }
                        })
                        .collect()
                })
                .collect();
            let got: Vec<String> = passwords.into_iter().cloned().collect();
            assert_eq!(got, expected, "{xml}");
        } else {
            assert!(passwords.is_empty(), "{xml}");
        }
    }
    let mut loads = Vec::new();
    if let Some(l) = &load {
        loads.push((model, l.clone()));
    }
    xml_texts(&render::xml_default(&site, &loads));
    xml_texts(&render::dialplan_xml());

    let image = load
        .clone()
        .or_else(|| LoadName::newest_known(model.image_set(), Protocol::Sip))
        .or_else(|| LoadName::parse("P0S3-8-12-00").ok())
        .expect("a SIP load name parses");
    for (text, tame) in [
        (
            render::sip_mac_cnf(&site, &phone, model, &image),
            render::sip_mac_cnf(&tame_site, &tame_phone, model, &image),
        ),
        (
            render::sip_default_cnf(&site, &image),
            render::sip_default_cnf(&tame_site, &image),
        ),
    ] {
        assert_eq!(cnf_keys(&text), cnf_keys(&tame), "{text:?}");
    }
    let os = render::os79xx_txt(&image);
    assert_eq!(os.matches('\n').count(), 1);
    assert!(!os.contains(' '));
}

/// A phone, its site, model and load from bytes: fields separated by 0xFE,
/// each made into text with `text`.
fn settings_from(
    data: &[u8],
    text: &dyn Fn(&str) -> String,
) -> (Site, PhoneSettings, Model, Option<LoadName>) {
    let (head, rest) = data.split_at(data.len().min(2));
    let pick = |i: usize| head.get(i).copied().unwrap_or(0);
    let model = Model::ALL
        .get(
            usize::from(pick(0))
                .checked_rem(Model::ALL.len())
                .unwrap_or(0),
        )
        .copied()
        .unwrap_or(Model::Cp7960);
    let mut fields = rest
        .split(|b| *b == 0xFE)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let mut next = || fields.next().unwrap_or_default();
    let zone = next();
    let opt = |s: String| (!s.is_empty()).then(|| text(&s));
    let site = Site {
        sip_server: text(&next()),
        sip_port: u16::from(pick(1)).wrapping_mul(257),
        transport: if pick(1) % 2 == 0 {
            Transport::Udp
        } else {
            Transport::Tcp
        },
        sccp_server: opt(next()),
        time_zone: zone,
        ntp_server: opt(next()),
        syslog_server: None,
        user_locale: opt(next()),
        network_locale: opt(next()),
    };
    let load_text = next();
    let load = LoadName::parse(&load_text).ok().or_else(|| {
        let protocol = if pick(1) & 4 == 0 {
            Protocol::Sip
        } else {
            Protocol::Sccp
        };
        LoadName::newest_known(model.image_set(), protocol)
    });
    let label = opt(next());
    let mut lines = Vec::new();
    let mut speed_dials = Vec::new();
    loop {
        let extension = next();
        if extension.is_empty() {
            break;
        }
        if extension.starts_with('#') {
            speed_dials.push(SpeedDial {
                number: text(&extension),
                label: text(&next()),
            });
            continue;
        }
        let label = opt(next());
        lines.push(SipLine {
            extension: text(&extension),
            display: text(&next()),
            auth: text(&next()),
            password: text(&next()),
            label,
        });
    }
    let phone = PhoneSettings {
        mac: crate::Mac([0, 0x1e, 0x4a, pick(0), pick(1), 0x56]),
        model: Some(model),
        protocol: if pick(1) & 2 == 0 {
            Protocol::Sip
        } else {
            Protocol::Sccp
        },
        label,
        lines,
        speed_dials,
        sccp_server: None,
    };
    (site, phone, model, load)
}

/// `(element, unescaped text)` for every element start and the text after
/// it, after checking that quick-xml reads the whole document without error.
fn xml_texts(xml: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    use quick_xml::XmlVersion;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("{e}: {xml}")) {
            Event::Start(s) => {
                let name = String::from(s.name().as_ref());
                out.push((name.clone(), String::new()));
                stack.push(name);
            }
            Event::End(_) => {
                stack.pop().expect("balanced tags");
            }
            Event::Text(t) => {
                let text = t.xml_content(XmlVersion::Explicit1_0);
                append(&stack, &mut out, &text);
            }
            Event::GeneralRef(r) => {
                let name = r.xml_content(XmlVersion::Explicit1_0).into_owned();
                let ch = match name.as_str() {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other} in {xml}"),
                };
                assert!(!stack.is_empty(), "entity outside an element: {xml}");
                append(&stack, &mut out, ch);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed elements in {xml}");
    out
}

/// Adds a piece of text (split around entities) to the innermost open element.
fn append(stack: &[String], out: &mut Vec<(String, String)>, piece: &str) {
    let Some(top) = stack.last() else {
        return;
    };
    match out.last_mut() {
        Some((name, text)) if name == top => text.push_str(piece),
        _ => out.push((top.clone(), piece.to_owned())),
    }
}

/// Keys of a 79x0 text config, checking every line is a comment or `key: "value"`.
fn cnf_keys(text: &str) -> Vec<String> {
    let body = text.strip_suffix("\r\n").expect("ends with CRLF");
    body.split("\r\n")
        .filter(|l| !l.starts_with('#'))
        .map(|line| {
            assert!(!line.contains(['\r', '\n']), "{line:?}");
            let (key, value) = line
                .split_once(": \"")
                .unwrap_or_else(|| panic!("{line:?}"));
            let value = value
                .strip_suffix('"')
                .unwrap_or_else(|| panic!("{line:?}"));
            assert!(!value.contains('"'), "{line:?}");
            assert!(render::text_value_ok(value), "{line:?}");
            key.to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ImageSet, Protocol};
    use crate::rng::XorShift64;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// Set `CISCO_FUZZ_SEED` to rerun one failing seed.
    fn seeds(base: u64, count: u64) -> Vec<u64> {
        match std::env::var("CISCO_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            Some(seed) => vec![seed],
            None => (0..count).map(|i| base.wrapping_add(i)).collect(),
        }
    }

    fn mutate(rng: &mut XorShift64, input: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        const INTERESTING: [u8; 12] = [0, 1, 2, 13, 10, b'/', b'.', b'#', b'=', b' ', 0xff, 0x80];
        for _ in 0..=rng.below(4) {
            let len = v.len() as u64;
            let at = rng.below(len + 1) as usize;
            match rng.below(9) {
                // Kinds of change that often keep a name valid: digits and letter case.
                7 if at < v.len() && v[at].is_ascii_digit() => v[at] = b'0' + rng.below(10) as u8,
                8 if at < v.len() => v[at] ^= 0x20 * u8::from(v[at].is_ascii_alphabetic()),
                0 if !v.is_empty() => {
                    let i = rng.below(len) as usize;
                    v[i] ^= 1 << rng.below(8);
                }
                1 => v.insert(at, INTERESTING[rng.below(12) as usize]),
                2 if at < v.len() => {
                    v.remove(at);
                }
                3 => v.truncate(at),
                4 if at < v.len() => v[at] = INTERESTING[rng.below(12) as usize],
                5 => {
                    let start = rng.below(len + 1) as usize;
                    let end = (start + rng.below(16) as usize).min(v.len());
                    let chunk = v[start..end].to_vec();
                    v.splice(at..at, chunk);
                }
                _ => v.insert(at, rng.next_u64() as u8),
            }
        }
        v
    }

    fn random(rng: &mut XorShift64) -> Vec<u8> {
        let mut v = vec![0u8; rng.below(600) as usize];
        rng.fill(&mut v);
        if rng.below(2) == 0 {
            for b in &mut v {
                *b = b" #=./\r\nabcSIP0123456789-_"[(*b as usize) % 25];
            }
        }
        v
    }

    /// Runs `target` on 3000 seeded inputs; `accepts` counts how many took the
    /// long path, so a corpus that only exercises rejection fails the test.
    fn run(
        name: &str,
        corpus: &[Vec<u8>],
        target: fn(&[u8]),
        accepts: fn(&[u8]) -> bool,
        min_percent: usize,
        base: u64,
    ) -> usize {
        let mut accepted = 0usize;
        let mut total = 0usize;
        for seed in seeds(base, 3000) {
            let mut rng = XorShift64::new(seed);
            let input = if corpus.is_empty() || rng.below(4) == 0 {
                random(&mut rng)
            } else {
                let pick = &corpus[rng.below(corpus.len() as u64) as usize];
                mutate(&mut rng, pick)
            };
            if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
                panic!("fuzzing::{name} failed for seed {seed} (rerun with CISCO_FUZZ_SEED={seed}); input {input:02x?}");
            }
            accepted += usize::from(accepts(&input));
            total += 1;
        }
        if total > 1 {
            assert!(
                accepted * 100 >= total * min_percent,
                "fuzzing::{name}: only {accepted} of {total} inputs parsed"
            );
        }
        accepted
    }

    fn loads_corpus() -> Vec<Vec<u8>> {
        let mut corpus = Vec::new();
        for set in ImageSet::ALL {
            for p in Protocol::ALL {
                let Some(load) = LoadName::newest_known(set, p) else {
                    continue;
                };
                if let Ok(b) = synth::LoadsBuilder::for_load(&load) {
                    corpus.push(b.build());
                    corpus.push(b.clone().unsigned().lf().build());
                }
            }
        }
        corpus
    }

    #[test]
    fn loads_target() {
        let corpus = loads_corpus();
        let parsed = corpus
            .iter()
            .filter(|c| LoadsFile::parse(c).is_ok())
            .count();
        assert_eq!(parsed, corpus.len(), "the seed corpus must be valid");
        run(
            "loads",
            &corpus,
            loads,
            |d| LoadsFile::parse(d).is_ok(),
            10,
            0x10ad5,
        );
    }

    #[test]
    fn load_name_target() {
        let names = [
            "P00308000900",
            "P0030801SR02",
            "P00303010102",
            "P00305000500",
            "P0S3-8-12-00",
            "P0S3-08-12-00",
            "P003-8-12-00",
            "SIP41.9-4-2SR3-1S",
            "SCCP45.9-4-2SR4-3S",
            "SIP11.8-5-4S",
            "TERM41.7-0-3-0S",
            "SIP70.9-4-2SR3-1S",
            "SCCP75.9-4-2SR4-3S",
            "SCCP11.9-4-2-1S",
            "CP7912080004SCCP080108A",
            "term61.default.loads",
            "jar41sip.9-4-2ES26.sbn",
            "9.4(2)SR3",
            "CP-7961G-GE",
        ];
        let corpus: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
        run(
            "load_name",
            &corpus,
            load_name,
            |d| std::str::from_utf8(d).is_ok_and(|s| LoadName::parse(s).is_ok()),
            3,
            0x10ad_0a3e,
        );
    }

    #[test]
    fn operator_config_target() {
        let corpus: Vec<Vec<u8>> = [
            &b"\x08<Default><loadInformation7 model=\"IP Phone 7960\">P00305000500</loadInformation7></Default>"[..],
            b"\x01<device><loadInformation>SIP41.9-4-2SR3-1S</loadInformation></device>",
            b"\x02image_version: \"P0S3-8-12-00\"\n",
            b"\x04P0S3-8-12-00\n",
        ]
        .iter()
        .map(|c| c.to_vec())
        .collect();
        run(
            "operator_config",
            &corpus,
            operator_config,
            |d| crate::operator::check_xml(d.get(1..).unwrap_or_default()).is_ok(),
            1,
            0x0be_7a70,
        );
    }

    #[test]
    fn vendor_class_target() {
        let corpus: Vec<Vec<u8>> = Model::ALL
            .iter()
            .map(|m| m.vendor_class().to_vec())
            .collect();
        run(
            "vendor_class",
            &corpus,
            vendor_class,
            |d| Model::from_vendor_class(d).is_some(),
            10,
            0xdc_9060,
        );
    }

    #[test]
    fn fleet_target() {
        // Inputs are op streams; a corpus of plausible boots keeps them on the long path.
        let corpus: Vec<Vec<u8>> = vec![
            vec![
                0, 0, 0, 0x80, 1, 0, 0, 1, 0, 1, 1, 0, 11, 1, 0, 27, 1, 0, 43, 5, 200, 1, 0, 1, 1,
                0, 6,
            ],
            vec![
                3, 255, 255, 0, 0x81, 2, 1, 2, 2, 1, 9, 2, 1, 11, 2, 1, 43, 2, 1, 59, 8, 0, 7, 0,
                2, 1, 6,
            ],
            vec![
                2, 1, 0, 0, 0x83, 1, 3, 0, 1, 3, 1, 1, 3, 5, 1, 3, 5, 1, 3, 5, 5, 255, 8, 0,
            ],
        ];
        let mut downloads = 0usize;
        let mut hops = 0usize;
        for seed in seeds(0xf1ee7, 2000) {
            let mut rng = XorShift64::new(seed);
            let input = if rng.below(4) == 0 {
                random(&mut rng)
            } else {
                let pick = &corpus[rng.below(corpus.len() as u64) as usize];
                let mut v = mutate(&mut rng, pick);
                for _ in 0..rng.below(4) {
                    v.extend(mutate(&mut rng, pick));
                }
                v
            };
            match catch_unwind(AssertUnwindSafe(|| drive_fleet(&input))) {
                Ok(r) => {
                    downloads += usize::from(r.downloads > 0);
                    hops += usize::from(r.hops > 0);
                }
                Err(_) => panic!(
                    "fuzzing::fleet failed for seed {seed} (rerun with CISCO_FUZZ_SEED={seed}); input {input:02x?}"
                ),
            }
        }
        if std::env::var("CISCO_FUZZ_SEED").is_err() {
            assert!(downloads >= 100, "only {downloads} runs started a download");
            assert!(hops >= 1, "no run completed a hop");
        }
    }

    #[test]
    fn requested_file_name_target() {
        let names = [
            "XMLDefault.cnf.xml",
            "SEP001E4A123456.cnf.xml",
            "/sep001e4a123456.cnf.xml",
            "SIPDefault.cnf",
            "SIP00215555AA00.cnf",
            "OS79XX.TXT",
            "RINGLIST.DAT",
            "dialplan.xml",
            "SEP001E4A123456.cnf.xml.sgn",
            "CTLSEP001E4A123456.tlv",
            "gk001E4A123456.cfg",
            "lddefault.cfg",
            "term61.default.loads",
            "SIP41.9-4-2SR3-1S.loads",
            "jar41sip.9-4-2ES26.sbn",
            "P0S3-8-12-00.sb2",
        ];
        let corpus: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
        // Most mutations break a name, so ask for a count rather than a percentage.
        let accepted = run(
            "requested_file_name",
            &corpus,
            requested_file_name,
            |d| {
                std::str::from_utf8(d)
                    .is_ok_and(|s| RequestedFile::parse(s) != RequestedFile::Other)
            },
            0,
            0x06e4_f11e,
        );
        assert!(accepted >= 10, "only {accepted} names parsed");
    }

    fn render_corpus() -> Vec<Vec<u8>> {
        let fields = |model: u8, flags: u8, parts: &[&str]| {
            let mut v = vec![model, flags];
            v.extend(
                parts
                    .join("~")
                    .bytes()
                    .map(|b| if b == b'~' { 0xFE } else { b }),
            );
            v
        };
        let mut corpus = Vec::new();
        for (i, model) in Model::ALL.iter().enumerate() {
            let load = LoadName::newest_known(model.image_set(), Protocol::Sip)
                .map(|l| l.to_string())
                .unwrap_or_default();
            let text = format!(
                "Europe/London~192.168.1.10~192.168.1.11~192.168.1.1~English_United_States~United_States~{load}~Reception~101~L1~Desk <1>~101~pw&1~102~~Desk \"2\"~102~pw]]>2~#200~Sales"
            );
            corpus.push(fields(i as u8, i as u8, &[&text]));
        }
        corpus
    }

    #[test]
    fn render_target() {
        let corpus = render_corpus();
        for c in &corpus {
            let (_, phone, _, load) = settings_from(c, &|s| s.to_owned());
            assert_eq!(phone.lines.len(), 2, "the seed corpus must be valid");
            assert_eq!(phone.speed_dials.len(), 1);
            assert_eq!(
                load.is_some(),
                phone.model.is_some_and(
                    |m| LoadName::newest_known(m.image_set(), Protocol::Sip).is_some()
                )
            );
        }
        run(
            "render",
            &corpus,
            render,
            |d| !settings_from(d, &|s| s.to_owned()).1.lines.is_empty(),
            10,
            0x004e_4de4,
        );
    }

    #[test]
    fn targets_reject_nothing_valid() {
        for c in render_corpus() {
            render(&c);
        }
        requested_file_name(b"SEP001E4A123456.cnf.xml");
        // The invariants are real: valid inputs take the long path through each target.
        for c in loads_corpus() {
            loads(&c);
        }
        load_name(b"SIP41.9-4-2SR3-1S");
        vendor_class(b"Cisco Systems, Inc. IP Phone CP-7960G\0");
    }
}
