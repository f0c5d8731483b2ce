//! Simulated phones against an in-test TFTP server on loopback.

mod common;

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use cisco::Model;
use common::*;
use phonesim::{fnv64, parse_mix, PhoneReport, State};

fn names(p: &PhoneReport, boot: u32) -> Vec<&str> {
    p.requests
        .iter()
        .filter(|r| r.boot == boot)
        .map(|r| r.file.as_str())
        .collect()
}

/// The 7960 walk of PHONES.md: 3.x → signed 5.x → 8.0(9), with a server
/// that plans like phoneboot should: the next hop after the hops this
/// address has completely fetched.
#[tokio::test]
async fn a_7960_walks_3x_to_5x_to_8_0_9() {
    let path = ["P00303010102", "P00305000500", "P00308000900"];
    let mut all = std::collections::HashMap::new();
    for load in &path[1..] {
        for (name, bytes) in load_files(load) {
            all.insert(name.to_ascii_lowercase(), Bytes::from(bytes));
        }
    }
    let served = all.clone();
    let server = TestServer::start(Arc::new(
        move |ip: IpAddr, name: &str, log: &[(IpAddr, String)]| {
            if name.eq_ignore_ascii_case("SEP001E4A000000.cnf.xml") {
                // Hops done = image sets (.sb2) this phone has asked for.
                let done = log
                    .iter()
                    .filter(|(i, n)| *i == ip && n.ends_with(".sb2"))
                    .count();
                let next = path[(done + 1).min(path.len() - 1)];
                return Some(Bytes::from(sep_xml(next)));
            }
            served.get(&name.to_ascii_lowercase()).cloned()
        },
    ))
    .await;
    let cfg = config(
        parse_mix("7960:P00303010102").unwrap(),
        server.addr,
        "127.1.0.0/16",
    );
    let report = phonesim::run(cfg).await.unwrap();
    assert!(report.ok, "{}", report.to_text());
    let p = &report.phones[0];
    assert_eq!(p.state, State::Settled);
    assert_eq!(p.final_load, "P00308000900");
    let hops: Vec<(&str, &str)> = p
        .hops
        .iter()
        .map(|h| (h.from.as_str(), h.to.as_str()))
        .collect();
    assert_eq!(
        hops,
        [
            ("P00303010102", "P00305000500"),
            ("P00305000500", "P00308000900")
        ]
    );
    assert_eq!(p.boots, 3);
    assert!(!p.registered, "SCCP phones do not register with SIP");
    assert_eq!(
        names(p, 1),
        [
            "OS79XX.TXT",
            "CTLSEP001E4A000000.tlv",
            "SEP001E4A000000.cnf.xml",
            "P00305000500.loads",
            "P00305000500.sbn",
            "P00305000500.sb2"
        ]
    );
    assert_eq!(
        names(p, 2)[3..],
        ["P00308000900.loads", "P00308000900.sbn", "P00308000900.sb2"]
    );
    // From 8.x on, no OS79XX.TXT.
    assert_eq!(
        names(p, 3),
        ["CTLSEP001E4A000000.tlv", "SEP001E4A000000.cnf.xml"]
    );
    // Bytes: every image and .loads file exactly once, plus three configs.
    let images: u64 = all.values().map(|b| b.len() as u64).sum();
    let configs: u64 = p
        .requests
        .iter()
        .filter(|r| r.file.ends_with(".cnf.xml"))
        .map(|r| r.bytes)
        .sum();
    assert_eq!(p.bytes, images + configs);
    assert_eq!(p.ip.as_deref(), Some("127.1.0.1"));
    assert_eq!(server.requests_from("127.1.0.1").len(), p.requests.len());
}

#[tokio::test]
async fn a_java_phone_fetches_the_loads_list_in_order_and_registers() {
    let target = "SIP41.9-4-2SR3-1S";
    let mut f = files(load_files(target));
    f.insert(
        "XMLDefault.cnf.xml".into(),
        xml_default(&[(Model::Cp7941, target), (Model::Cp7960, "P00308000900")]).into_bytes(),
    );
    let listed: Vec<String> = load_files(target)
        .into_iter()
        .skip(1)
        .map(|(n, _)| n)
        .collect();
    let server = TestServer::with_files(f.clone()).await;
    let cfg = config(
        parse_mix("7941:SCCP41.8-5-2S").unwrap(),
        server.addr,
        "127.2.0.0/16",
    );
    let report = phonesim::run(cfg).await.unwrap();
    let p = &report.phones[0];
    assert_eq!(p.state, State::Settled, "{}", report.to_text());
    assert_eq!(p.final_load, target);
    assert!(p.registered);
    let mut want = vec![
        "CTLSEP001E4A000000.tlv",
        "ITLSEP001E4A000000.tlv",
        "ITLFile.tlv",
        "SEP001E4A000000.cnf.xml",
        "XMLDefault.cnf.xml",
        "SIP41.9-4-2SR3-1S.loads",
    ];
    want.extend(listed.iter().map(String::as_str));
    assert_eq!(names(p, 1), want);
    assert_eq!(listed.len(), 5);
    assert_eq!(
        names(p, 2)[5..],
        ["RingList.xml", "dialplan.xml"],
        "post-boot files once the load matches"
    );
    // Contents arrive byte for byte.
    for r in p.requests.iter().filter(|r| r.result == "ok") {
        assert_eq!(
            r.fnv64.as_deref(),
            Some(fnv64(&f[&r.file]).as_str()),
            "{}",
            r.file
        );
    }
}

#[tokio::test]
async fn a_79x0_sip_phone_obeys_image_version_of_its_mac_file() {
    let target = "P0S3-8-12-00";
    let mut f = files(load_files(target));
    // Decoys: the default file and the XML config name other loads.
    f.insert(
        "SIPDefault.cnf".into(),
        b"image_version: \"P0S3-8-11-00\";\nproxy1_address: \"127.0.0.1\"\n".to_vec(),
    );
    f.insert(
        "SIP001E4A000000.cnf".into(),
        format!("# phone 0\nline1_name: \"100\"\nimage_version: \"{target}\"\n").into_bytes(),
    );
    f.insert(
        "SEP001E4A000000.cnf.xml".into(),
        sep_xml("P00308000900").into_bytes(),
    );
    f.insert("RINGLIST.DAT".into(), b"Chirp\tchirp1.raw\n".to_vec());
    let server = TestServer::with_files(f).await;
    let cfg = config(
        parse_mix("7940:P0S3-8-11-00").unwrap(),
        server.addr,
        "127.3.0.0/16",
    );
    let report = phonesim::run(cfg).await.unwrap();
    let p = &report.phones[0];
    assert_eq!(p.state, State::Settled, "{}", report.to_text());
    assert_eq!(p.final_load, target);
    assert!(p.registered);
    assert_eq!(
        names(p, 1),
        [
            "CTLSEP001E4A000000.tlv",
            "SEP001E4A000000.cnf.xml",
            "SIPDefault.cnf",
            "SIP001E4A000000.cnf",
            "P0S3-8-12-00.loads",
            "P003-8-12-00.sbn",
            "P0S3-8-12-00.sb2"
        ]
    );
    assert_eq!(names(p, 2)[4..], ["RINGLIST.DAT", "dialplan.xml"]);
    assert_eq!(
        p.files_not_found, 3,
        "two CTL files and dialplan.xml: {:?}",
        p.requests
    );
}

#[tokio::test]
async fn forbidden_hops_brick_and_allowed_ones_do_not() {
    // 3.x straight to 8.0(9); a Java phone below 8.3(3) past 8.5(2); a Java
    // phone below 8.3(3) to exactly 8.5(2) (allowed).
    let mut f = files(load_files("P00308000900"));
    f.extend(load_files("SIP41.9-4-2SR3-1S"));
    f.extend(load_files("SCCP45.8-5-2S"));
    f.insert(
        "XMLDefault.cnf.xml".into(),
        xml_default(&[
            (Model::Cp7960, "P00308000900"),
            (Model::Cp7961, "SIP41.9-4-2SR3-1S"),
            (Model::Cp7965, "SCCP45.8-5-2S"),
        ])
        .into_bytes(),
    );
    let server = TestServer::with_files(f).await;
    let phones = parse_mix("7960:P00303010102,7961:SCCP41.8-3-1S,7965:SCCP45.8-3-1S").unwrap();
    let report = phonesim::run(config(phones, server.addr, "127.4.0.0/16"))
        .await
        .unwrap();
    assert!(!report.ok);
    assert_eq!(
        (report.bricked, report.settled),
        (2, 1),
        "{}",
        report.to_text()
    );
    let [a, b, c] = &report.phones[..] else {
        panic!()
    };
    assert_eq!(a.state, State::Bricked);
    assert!(
        a.reason.as_deref().unwrap().contains("signed 5.x"),
        "{:?}",
        a.reason
    );
    assert_eq!(b.state, State::Bricked);
    assert!(
        b.reason.as_deref().unwrap().contains("8.5(2)"),
        "{:?}",
        b.reason
    );
    assert_eq!(
        (c.state, c.final_load.as_str()),
        (State::Settled, "SCCP45.8-5-2S")
    );
    // Each phone used its own address.
    for (i, p) in report.phones.iter().enumerate() {
        let ip = format!("127.4.0.{}", i + 1);
        assert_eq!(p.ip.as_deref(), Some(ip.as_str()));
        assert_eq!(server.requests_from(&ip).len(), p.requests.len());
    }
}

#[tokio::test]
async fn a_load_with_a_missing_file_keeps_the_old_load_and_retries() {
    let target = "SCCP42.9-4-2SR3-1S";
    let mut f = files(load_files(target));
    let listed: Vec<String> = load_files(target)
        .into_iter()
        .skip(1)
        .map(|(n, _)| n)
        .collect();
    f.remove(&listed[2]);
    f.insert(
        "XMLDefault.cnf.xml".into(),
        xml_default(&[(Model::Cp7962, target)]).into_bytes(),
    );
    let server = TestServer::with_files(f).await;
    let mut cfg = config(
        parse_mix("7962:SCCP42.8-5-2S").unwrap(),
        server.addr,
        "127.5.0.0/16",
    );
    cfg.max_boots = 3;
    let report = phonesim::run(cfg).await.unwrap();
    let p = &report.phones[0];
    assert_eq!(p.state, State::Failed, "{}", report.to_text());
    assert_eq!(p.final_load, "SCCP42.8-5-2S");
    assert_eq!(p.failed_downloads, 3);
    assert!(p.hops.is_empty());
    for boot in 1..=3 {
        assert_eq!(names(p, boot).last().copied(), Some(listed[2].as_str()));
    }
}

#[tokio::test]
async fn loss_mid_download_reboots_and_old_images_still_end_byte_exact() {
    let target = "SIP45.9-4-2SR3-1S";
    let mut f = files(load_files(target));
    f.insert(
        "XMLDefault.cnf.xml".into(),
        xml_default(&[(Model::Cp7965, target), (Model::Cp7945, target)]).into_bytes(),
    );
    let server = TestServer::with_files(f.clone()).await;
    let mut cfg = config(
        parse_mix("7965:SCCP45.9-3-1SR1-1S:2,7945:SCCP45.9-3-1SR1-1S").unwrap(),
        server.addr,
        "127.6.0.0/16",
    );
    cfg.loss = 0.1;
    cfg.seed = 5;
    cfg.reboot_mid_download = 2;
    cfg.keep_old_image = 1;
    let report = phonesim::run(cfg).await.unwrap();
    assert!(report.ok, "{}", report.to_text());
    let jar = load_files(target)[1].0.clone();
    for p in &report.phones {
        assert_eq!(p.final_load, target);
        assert_eq!(p.hops.len(), 1);
        for r in p.requests.iter().filter(|r| r.result == "ok") {
            assert_eq!(
                r.fnv64.as_deref(),
                Some(fnv64(&f[&r.file]).as_str()),
                "{}",
                r.file
            );
        }
    }
    assert!(
        report.phones.iter().map(|p| p.dropped_data).sum::<u64>() > 0,
        "loss never struck"
    );
    let [p0, p1, p2] = &report.phones[..] else {
        panic!()
    };
    // Phone 0: cut the jar half way, fetched the hop again, booted the old
    // image once, so the server saw the whole hop a third time.
    assert_eq!(
        (p0.aborted_downloads, p0.kept_old_image, p0.boots),
        (1, 1, 4)
    );
    let aborted = p0.requests.iter().find(|r| r.result == "aborted").unwrap();
    assert_eq!((aborted.boot, aborted.file.as_str()), (1, jar.as_str()));
    assert!(aborted.bytes >= IMAGE_LEN as u64 / 2 && aborted.bytes < IMAGE_LEN as u64);
    let loads_fetches = |p: &PhoneReport| {
        p.requests
            .iter()
            .filter(|r| r.file == format!("{target}.loads"))
            .count()
    };
    assert_eq!(loads_fetches(p0), 3);
    assert_eq!(
        (p1.aborted_downloads, p1.kept_old_image, p1.boots),
        (1, 0, 3)
    );
    assert_eq!(loads_fetches(p1), 2);
    assert_eq!(
        (p2.aborted_downloads, p2.kept_old_image, p2.boots),
        (0, 0, 2)
    );
    assert_eq!(loads_fetches(p2), 1);
}

#[tokio::test]
async fn no_server_times_out_and_bad_source_net_is_refused() {
    // A bound but silent UDP port: requests vanish.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = config(
        parse_mix("7960:P00308000900").unwrap(),
        silent.local_addr().unwrap(),
        "127.7.0.0/16",
    );
    cfg.timeout = std::time::Duration::from_millis(700);
    let report = phonesim::run(cfg).await.unwrap();
    assert_eq!(report.timed_out, 1, "{}", report.to_text());
    assert!(!report.ok);
    let cfg = config(
        parse_mix("7960:P00308000900:3").unwrap(),
        silent.local_addr().unwrap(),
        "127.7.0.0/31",
    );
    assert!(matches!(
        phonesim::run(cfg).await,
        Err(phonesim::SimError::SourceNetTooSmall { index: 2, .. })
    ));
}
