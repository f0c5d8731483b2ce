//! `phoneboot doctor` inside network namespaces the tests create: a rogue
//! DHCP server on the segment, port 69 taken, a firewall rule dropping TFTP,
//! a load missing from the library. Needs root.

mod common;

use std::process::{Command, Stdio};

use common::*;

struct Doctor {
    net: NetnsPair,
    scratch: Scratch,
    server_if: String,
    client_if: String,
}

impl Doctor {
    fn new(tag: &str, octet: u8) -> Doctor {
        require("ip");
        let id = std::process::id() % 10000;
        Doctor {
            net: NetnsPair::new(tag, octet),
            scratch: Scratch::new(&format!("doctor-{tag}")),
            server_if: format!("v{tag}s{id}"),
            client_if: format!("v{tag}c{id}"),
        }
    }

    /// Runs doctor in the server namespace; returns (exit code, stdout).
    fn run(&self, config: &str, with_interface: bool) -> (i32, String) {
        let cfg = self.scratch.path().join("phoneboot.toml");
        std::fs::write(&cfg, config).unwrap();
        let mut cmd = self.net.in_server(BIN);
        cmd.args(["doctor", "--config"])
            .arg(&cfg)
            .arg("--data-dir")
            .arg(self.scratch.path().join("data"));
        if with_interface {
            cmd.args(["--interface", &self.server_if]);
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

#[test]
fn a_clean_namespace_has_no_problems() {
    let d = Doctor::new("dk", 90);
    let (code, out) = d.run("[dhcp]\nprobe_wait = \"300ms\"\n", true);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no problems found"), "{out}");
    assert!(
        out.contains(&format!("{} has {}/24", d.server_if, d.net.server_ip)),
        "{out}"
    );
    assert!(out.contains("no other DHCP server answered"), "{out}");
    // The host clock's state is reported either way (a warning at most).
    assert!(out.contains("time       the host clock"), "{out}");
}

#[test]
fn finds_a_rogue_dhcp_server_and_names_it() {
    require("dnsmasq");
    let d = Doctor::new("dr", 91);
    let mut rogue = d.net.rogue_dnsmasq(&d.client_if, d.scratch.path());
    // dnsmasq answers once its socket is bound; probe until it does.
    let mut last = String::new();
    let mut found = false;
    for _ in 0..5 {
        let (code, out) = d.run("[dhcp]\nprobe_wait = \"1s\"\n", true);
        last = out;
        if code == 1 && last.contains("another DHCP server answers") {
            found = true;
            break;
        }
    }
    let _ = rogue.kill();
    let _ = rogue.wait();
    assert!(found, "{last}");
    assert!(last.contains(&d.net.client_ip), "names the rogue: {last}");
    assert!(last.contains("fix: stop or unplug it"), "{last}");
}

#[test]
fn names_the_program_holding_port_69_and_the_firewall_rule() {
    require("in.tftpd");
    require("iptables");
    let d = Doctor::new("dp", 92);
    let mut holder = d
        .net
        .in_server("in.tftpd")
        .args(["--foreground", "--listen", "--address", ":69", "--secure"])
        .arg(d.scratch.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    run(d.net.in_server("iptables").args([
        "-A", "INPUT", "-p", "tcp", "--dport", "6970", "-j", "REJECT",
    ]));
    // tftpd-hpa, the usual squatter, binds asynchronously; look until
    // doctor sees it (bounded).
    let mut out = String::new();
    for _ in 0..50 {
        out = d.run("", false).1;
        if out.contains("TFTP 69/udp is taken") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // in.tftpd may fork: stop everything left in the namespace.
    let pids = run(Command::new("ip").args(["netns", "pids", &d.net.server_ns])).stdout;
    for pid in String::from_utf8_lossy(&pids).split_whitespace() {
        let _ = Command::new("kill").arg(pid).status();
    }
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        out.contains("TFTP 69/udp is taken by in.tftpd (pid "),
        "{out}"
    );
    assert!(out.contains("fix: stop it"), "{out}");
    assert!(
        out.contains(
            "HTTP for phones 6970/tcp is blocked by: -A INPUT -p tcp -m tcp --dport 6970 -j REJECT"
        ),
        "{out}"
    );
    assert!(out.contains("problem(s) found"), "{out}");
}

#[test]
fn reports_a_load_missing_from_the_library() {
    let d = Doctor::new("dm", 93);
    let (code, out) = d.run(
        "[[phone]]\nmac = \"001e4a000001\"\nmodel = \"7965\"\nload = \"SIP45.9-4-2SR3-1S\"\n",
        false,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "phone 00:1e:4a:00:00:01: load: SIP45.9-4-2SR3-1S is not in the firmware library"
        ),
        "{out}"
    );
    assert!(out.contains("fix: phoneboot firmware import"), "{out}");
}

/// The tftpd32 guide's XMLDefault.cnf.xml as it comes off its web page:
/// typographic quotes around the member's priority.
const SEED_XML_DEFAULT: &str = "<Default>\n<callManagerGroup>\n<members>\n\
    <member priority=\u{201d}0\u{2033}>\n<callManager>\n<ports>\n\
    <ethernetPhonePort>2000</ethernetPhonePort>\n</ports>\n\
    <processNodeName></processNodeName>\n</callManager>\n</member>\n</members>\n\
    </callManagerGroup>\n<loadInformation>SCCP40.8-3-1S</loadInformation>\n</Default>\n";

#[test]
fn explains_the_operators_root_files_and_flags_broken_xml() {
    let d = Doctor::new("dx", 89);
    let root = d.scratch.path().join("tftpboot");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("XMLDefault.cnf.xml"), SEED_XML_DEFAULT).unwrap();
    std::fs::write(
        root.join("SIPDefault.cnf"),
        "image_version: \"P0S3-8-12-00\"\nproxy1_address: \"10.0.0.1\"\n",
    )
    .unwrap();
    // A bundle unzipped by half.
    let bundle = library::fixtures::Bundle::new("P0S3-8-12-00").unwrap();
    for (name, bytes) in bundle.files() {
        std::fs::write(root.join(name), bytes).unwrap();
    }
    let lost = bundle.listed_files()[1].clone();
    std::fs::remove_file(root.join(&lost)).unwrap();
    let config = format!("[server]\nroot = \"{}\"\n", root.display());
    let (code, out) = d.run(&config, false);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("PROBLEM  root       XMLDefault.cnf.xml: from the root: phones without their own SEP file follow it"),
        "{out}"
    );
    assert!(
        out.contains("fix: not valid XML (line 4, column"),
        "the curly quotes are placed: {out}"
    );
    assert!(
        out.contains(
            "SIPDefault.cnf: from the root: 79x0 SIP phones without their own SIP<MAC>.cnf follow it \
             (it names P0S3-8-12-00 for 7940, 7960)"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "firmware P0S3-8-12-00 in the TFTP root is incomplete (lacks {lost})"
        )),
        "{out}"
    );
    // The engine's configs win when the operator says so.
    let (_, out) = d.run(
        &format!("{config}[provision]\nroot_files = \"generated\"\n"),
        false,
    );
    assert!(
        out.contains("XMLDefault.cnf.xml: not served: phoneboot generates XMLDefault.cnf.xml"),
        "{out}"
    );
}

#[test]
fn checks_a_shared_postgresql_store() {
    let pg = store::testing::TempPostgres::start("doctor-pg").unwrap();
    let d = Doctor::new("dy", 88);
    let config = format!("[store]\nurl = \"{}\"\n", pg.socket_url());
    let (_, out) = d.run(&config, false);
    assert!(
        out.contains("store      postgresql://phoneboot:***@"),
        "{out}"
    );
    assert!(out.contains("answers; empty"), "{out}");
    assert!(!out.contains(store::testing::PASSWORD), "{out}");
    // A server beats in it.
    let mut s = store::PgStore::open(&pg.url(), "server-a").unwrap();
    s.heartbeat(
        "server-a",
        std::net::Ipv4Addr::new(10, 0, 0, 1),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let (_, out) = d.run(&config, false);
    assert!(
        out.contains("schema version 1; live servers: server-a (10.0.0.1)"),
        "{out}"
    );
    // A store that does not answer is a problem, named without its password.
    let dead = format!(
        "[store]\nurl = \"postgresql://phoneboot:{}@127.0.0.1:1/x\"\n",
        store::testing::PASSWORD
    );
    let (code, out) = d.run(&dead, false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("PROBLEM  store"), "{out}");
    assert!(!out.contains(store::testing::PASSWORD), "{out}");
}
