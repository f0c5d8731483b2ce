//! `phoneboot simulate` against `phoneboot serve`, both the real binary, on
//! loopback: the simulated phones are the client nobody on the server side wrote.

mod common;

use std::path::Path;
use std::process::Command;

use cisco::synth::{self, LoadsBuilder};
use cisco::LoadName;
use common::*;

fn put_load(root: &Path, load: &str) {
    let load = LoadName::parse(load).unwrap();
    if load.has_loads_file() {
        let b = LoadsBuilder::for_load(&load).unwrap();
        write_file(&root.join(b.file_name()), &b.build());
    }
    for f in synth::load_files(&load) {
        write_file(&root.join(&f), &synth::image(&f, 20_000));
    }
}

fn xml_default(entries: &[(u32, &str)]) -> String {
    let mut s = String::from("<Default>\n");
    for (id, load) in entries {
        s.push_str(&format!(
            "<loadInformation{id}>{load}</loadInformation{id}>\n"
        ));
    }
    s + "</Default>\n"
}

fn simulate(server: &Server, args: &[&str]) -> (std::process::ExitStatus, serde_json::Value) {
    let out = Command::new(BIN)
        .arg("simulate")
        .args([
            "--server",
            &server.addr.to_string(),
            "--json",
            "--timeout",
            "30s",
        ])
        .args(["--reboot-delay", "0s"])
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status, json)
}

#[test]
fn simulated_phones_upgrade_through_phoneboot_serve() {
    let scratch = Scratch::new("simulate-ok");
    let root = scratch.path().join("root");
    put_load(&root, "SIP45.9-4-2SR3-1S");
    put_load(&root, "P00308000900");
    write_file(
        &root.join("XMLDefault.cnf.xml"),
        xml_default(&[(436, "SIP45.9-4-2SR3-1S"), (7, "P00308000900")]).as_bytes(),
    );
    let server = Server::start(&root, &scratch.path().join("data"), &[]);
    let (status, report) = simulate(
        &server,
        &[
            "--mix",
            "7965:SCCP45.9-3-1SR1-1S:2,7960:P00305000500",
            "--source-net",
            "127.10.0.0/16",
            "--loss",
            "0.05",
            "--reboot-mid-download",
            "1",
        ],
    );
    assert!(status.success(), "{report:#}");
    assert_eq!(report["settled"], 3);
    let phones = report["phones"].as_array().unwrap();
    let finals: Vec<&str> = phones
        .iter()
        .map(|p| p["final_load"].as_str().unwrap())
        .collect();
    assert_eq!(
        finals,
        ["SIP45.9-4-2SR3-1S", "SIP45.9-4-2SR3-1S", "P00308000900"]
    );
    assert_eq!(phones[0]["registered"], true);
    assert_eq!(phones[0]["aborted_downloads"], 1);
    assert_eq!(phones[2]["hops"][0]["from"], "P00305000500");
    // The server saw each phone at its own address.
    let log = server.log_text();
    for ip in ["127.10.0.1", "127.10.0.2", "127.10.0.3"] {
        assert!(log.contains(ip), "no request from {ip} in the server log");
    }
}

#[test]
fn a_bricked_phone_makes_the_exit_status_fail() {
    let scratch = Scratch::new("simulate-brick");
    let root = scratch.path().join("root");
    put_load(&root, "P00308000900");
    write_file(
        &root.join("XMLDefault.cnf.xml"),
        xml_default(&[(7, "P00308000900")]).as_bytes(),
    );
    let server = Server::start(&root, &scratch.path().join("data"), &[]);
    let (status, report) = simulate(
        &server,
        &[
            "--phones",
            "2",
            "--model",
            "7960",
            "--start-load",
            "P00303010102",
            "--source-net",
            "127.11.0.0/16",
        ],
    );
    assert_eq!(status.code(), Some(1), "{report:#}");
    assert_eq!(report["bricked"], 2);
    assert_eq!(report["ok"], false);
}

/// The whole path a phone takes: DHCP from `serve --interface` (option 150),
/// then TFTP from the leased address, inside two network namespaces this test
/// creates. The simulator adds its leases to the client veth and removes them.
#[test]
fn simulated_phones_lease_by_dhcp_in_a_netns() {
    require("ip");
    let net = NetnsPair::new("sm", 91);
    let id = std::process::id() % 10000;
    let (server_if, client_if) = (format!("vsms{id}"), format!("vsmc{id}"));
    run(Command::new("ip").args(["-n", &net.client_ns, "addr", "flush", "dev", &client_if]));
    let scratch = Scratch::new("simulate-dhcp");
    let root = scratch.path().join("root");
    put_load(&root, "SIP41.9-4-2SR3-1S");
    write_file(
        &root.join("XMLDefault.cnf.xml"),
        xml_default(&[(115, "SIP41.9-4-2SR3-1S")]).as_bytes(),
    );
    let cfg = scratch.path().join("phoneboot.toml");
    std::fs::write(
        &cfg,
        format!(
            "[dhcp]\ntftp_servers = [\"{}\"]\nprobe_wait = \"300ms\"\n",
            net.server_ip
        ),
    )
    .unwrap();
    let _server = Server::spawn(
        net.in_server(BIN)
            .args(["serve", "--interface", &server_if, "--tftp-listen"])
            .arg(format!("{}:69", net.server_ip))
            .arg("--root")
            .arg(&root)
            .arg("--data-dir")
            .arg(scratch.path().join("data"))
            .arg("--config")
            .arg(&cfg),
    );
    let out = net
        .in_client(BIN)
        .args([
            "simulate",
            "--interface",
            &client_if,
            "--json",
            "--timeout",
            "30s",
        ])
        .args(["--mix", "7941:SCCP41.8-5-2S:3", "--reboot-delay", "0s"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        out.status.success(),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = net.server_ip.trim_end_matches(".1").to_owned() + ".";
    let mut ips: Vec<String> = report["phones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["final_load"], "SIP41.9-4-2SR3-1S");
            p["ip"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(ips.iter().all(|ip| ip.starts_with(&prefix)), "{ips:?}");
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "each phone leased its own address");
    // The leases are gone from the interface again.
    let addrs = run(Command::new("ip").args([
        "-n",
        &net.client_ns,
        "-4",
        "-o",
        "addr",
        "show",
        "dev",
        &client_if,
    ]));
    assert!(
        String::from_utf8_lossy(&addrs.stdout).trim().is_empty(),
        "{addrs:?}"
    );
}
