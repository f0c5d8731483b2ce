//! Transfers across a lossy link: a veth pair between two network
//! namespaces this test creates (and removes), with iptables dropping a
//! random share of the server's DATA packets. (tc netem is not available on
//! this kernel; the `statistic` match gives the same random loss.)
//! Needs root, like every netns test.

mod common;

use std::process::Command;

use common::*;

fn lossy_fetch(tag: &str, octet: u8, loss: f64, client: &str) -> (Vec<u8>, serde_json::Value) {
    assert!(
        rustix_is_root(),
        "network-namespace tests need root (CI runs as root)"
    );
    require("ip");
    require("iptables");
    let scratch = Scratch::new(&format!("loss-{tag}"));
    let root = scratch.path().join("root");
    let data = random_bytes(512 * 2000 + 77, octet.into());
    write_file(&root.join("P0S3-8-12-00.sb2"), &data);
    let net = NetnsPair::new(tag, octet);
    // DATA packets are the only large ones; the client's side drops a random
    // share of them as they arrive, as a lossy wire would.
    run(net.in_client("iptables").args([
        "-A",
        "INPUT",
        "-p",
        "udp",
        "-m",
        "length",
        "--length",
        "400:65535",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        &loss.to_string(),
        "-j",
        "DROP",
    ]));
    let cfg = scratch.path().join("phoneboot.toml");
    // A 10 ms floor keeps the test short; the link's round trip is ~0.1 ms.
    std::fs::write(
        &cfg,
        "[tftp]\nmin_timeout = \"10ms\"\ninitial_timeout = \"20ms\"\nretries = 20\n",
    )
    .unwrap();
    let listen = format!("{}:6969", net.server_ip);
    let server = Server::spawn(net.in_server(BIN).args([
        "serve",
        "--tftp-listen",
        &listen,
        "--root",
        root.to_str().unwrap(),
        "--data-dir",
        scratch.path().join("data").to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]));
    let out = scratch.path().join("fetched");
    match client {
        "tftp-hpa" => run(net
            .in_client("tftp")
            .args([
                "-m",
                "binary",
                &net.server_ip,
                "6969",
                "-c",
                "get",
                "P0S3-8-12-00.sb2",
            ])
            .arg(&out)),
        "atftp-window" => run(net
            .in_client("atftp")
            .args(["--get", "-r", "P0S3-8-12-00.sb2", "-l"])
            .arg(&out)
            .args([
                "--option",
                "blksize 1428",
                "--option",
                "windowsize 16",
                &net.server_ip,
                "6969",
            ])),
        other => panic!("unknown client {other}"),
    };
    let fetched = std::fs::read(&out).unwrap();
    assert!(fetched == data, "{client} at {loss} loss: content differs");
    let ev = server.transfers_for("P0S3-8-12-00.sb2", 1).remove(0);
    drop(server);
    (fetched, ev)
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn check_ratio(loss: f64, ev: &serde_json::Value) {
    let ideal = (512 * 2000 + 77) / 512 + 1;
    let sent = ev["data_packets"].as_u64().unwrap();
    let ratio = sent as f64 / ideal as f64;
    println!("loss {loss}: {sent} DATA for {ideal} blocks = {ratio:.3}× ideal ({ev})");
    assert!(
        ratio <= 1.5,
        "loss {loss}: {ratio:.3}× the ideal DATA count; {ev}"
    );
    assert_eq!(ev["result"], "ok");
}

#[test]
fn ten_percent_loss_tftp_hpa() {
    let (_, ev) = lossy_fetch("l10", 71, 0.10, "tftp-hpa");
    check_ratio(0.10, &ev);
}

#[test]
fn thirty_percent_loss_tftp_hpa() {
    let (_, ev) = lossy_fetch("l30", 72, 0.30, "tftp-hpa");
    check_ratio(0.30, &ev);
}

#[test]
fn ten_percent_loss_atftp_window_16_is_byte_exact() {
    let (_, ev) = lossy_fetch("lw", 73, 0.10, "atftp-window");
    assert_eq!(ev["windowsize"], 16);
    assert!(
        ev["result"] == "ok" || ev["result"] == "final_ack_lost",
        "{ev}"
    );
}
