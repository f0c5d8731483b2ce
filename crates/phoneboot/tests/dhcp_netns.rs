//! DHCP against real clients (busybox udhcpc, ISC dhclient, perfdhcp as a
//! relay) and a real rogue server (dnsmasq), inside network namespaces the
//! tests create and remove. The server only ever runs on the namespace's
//! veth. Needs root.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

struct Bench {
    net: NetnsPair,
    scratch: Scratch,
    server: Option<Server>,
    server_if: String,
    client_if: String,
}

fn veth_names(tag: &str) -> (String, String) {
    let id = std::process::id() % 10000;
    (format!("v{tag}s{id}"), format!("v{tag}c{id}"))
}

impl Bench {
    fn new(tag: &str, octet: u8) -> Bench {
        require("ip");
        let net = NetnsPair::new(tag, octet);
        let (server_if, client_if) = veth_names(tag);
        // The client starts without an address: DHCP gives it one.
        run(Command::new("ip").args(["-n", &net.client_ns, "addr", "flush", "dev", &client_if]));
        Bench {
            net,
            scratch: Scratch::new(&format!("dhcp-{tag}")),
            server: None,
            server_if,
            client_if,
        }
    }

    fn config(&self, extra: &str) -> PathBuf {
        let cfg = self.scratch.path().join("phoneboot.toml");
        let mut text = format!(
            "[dhcp]\ntftp_servers = [\"{}\", \"{}\"]\n",
            self.net.server_ip,
            self.second_tftp()
        );
        // Defaults go before `extra`, which may open further tables.
        for (key, default) in [("probe_wait", "\"300ms\""), ("lease_time", "\"10m\"")] {
            if !extra.contains(key) {
                text.push_str(&format!("{key} = {default}\n"));
            }
        }
        text.push_str(extra);
        std::fs::write(&cfg, text).unwrap();
        cfg
    }

    fn second_tftp(&self) -> String {
        self.net.server_ip.replace(".1", ".9")
    }

    fn data_dir(&self) -> PathBuf {
        self.scratch.path().join("data")
    }

    fn serve_command(&self, cfg: &Path) -> Command {
        self.serve_command_in(self.net.in_server(BIN), cfg)
    }

    /// `serve` under `timeout`, for runs expected to end by themselves.
    fn bounded_serve_command(&self, cfg: &Path) -> Command {
        let mut cmd = self.net.in_server("timeout");
        cmd.args(["15", BIN]);
        self.serve_command_in(cmd, cfg)
    }

    fn serve_command_in(&self, mut cmd: Command, cfg: &Path) -> Command {
        cmd.args(["serve", "--interface", &self.server_if, "--tftp-listen"])
            .arg(format!("{}:69", self.net.server_ip))
            .arg("--root")
            .arg(self.scratch.path().join("root"))
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--config")
            .arg(cfg);
        cmd
    }

    fn start(&mut self, extra: &str) -> &Server {
        let cfg = self.config(extra);
        self.server = Some(Server::spawn(&mut self.serve_command(&cfg)));
        self.server.as_ref().unwrap()
    }

    /// Waits until at least `n` events of `kind` were logged: the server
    /// logs an exchange just after sending its reply, so a client can see
    /// the reply first.
    fn wait_dhcp_events(&self, kind: &str, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.dhcp_events(kind);
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "fewer than {n} {kind} events: {found:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn dhcp_events(&self, kind: &str) -> Vec<serde_json::Value> {
        self.server
            .as_ref()
            .unwrap()
            .events()
            .into_iter()
            .filter(|e| e["type"] == "dhcp" && e["kind"] == kind)
            .collect()
    }

    /// Runs busybox udhcpc once (`-n -q`) with `extra` flags and returns the
    /// hook script's line for the bound lease.
    fn udhcpc_once(&self, extra: &[&str]) -> String {
        let (script, env) = udhcpc_script(self.scratch.path());
        let mut cmd = self.net.in_client("busybox");
        cmd.args([
            "udhcpc",
            "-i",
            &self.client_if,
            "-n",
            "-q",
            "-f",
            "-t",
            "5",
            "-O",
            "150",
        ])
        .args(extra)
        .arg("-s")
        .arg(&script);
        run(&mut cmd);
        let text = wait_for_text(&env, "event=bound");
        text.lines()
            .find(|l| l.starts_with("event=bound"))
            .unwrap()
            .to_owned()
    }

    /// perfdhcp as a relay on `relay`, `rate` DORA/s for `seconds`. `-p`
    /// with a 1 s `-W` drain rather than `-n`: otherwise perfdhcp stops
    /// listening before the last reply (a durable ACK waits for an fsync)
    /// and counts it as a drop, whatever the server.
    fn perfdhcp(&self, relay: &str, rate: u32, seconds: u32, clients: u32) -> Command {
        let mut cmd = self.net.in_client("timeout");
        cmd.args([
            "30",
            "perfdhcp",
            "-4",
            "-l",
            relay,
            "-r",
            &rate.to_string(),
            "-p",
            &seconds.to_string(),
        ])
        .args([
            "-W",
            "1000000",
            "-R",
            &clients.to_string(),
            &self.net.server_ip,
        ]);
        cmd
    }

    /// Puts an address on the client's veth (perfdhcp relays and dnsmasq
    /// need one; DHCP clients start without).
    fn give_client_address(&self, cidr: &str) {
        run(self
            .net
            .in_client("ip")
            .args(["addr", "add", cidr, "dev", &self.client_if]));
    }

    fn leases(&self) -> String {
        let out = run(Command::new(BIN)
            .arg("leases")
            .arg("--data-dir")
            .arg(self.data_dir()));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Waits (bounded) until `path` contains `needle`: the clients report
/// through hook scripts that write files.
fn wait_for_text(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared in {}: {text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn udhcpc_script(dir: &Path) -> (PathBuf, PathBuf) {
    let env = dir.join("udhcpc.env");
    let script = dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"event=$1 ip=$ip opt150=$opt150 tftp=$tftp serverid=$serverid\" >> {}\n",
            env.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, env)
}

fn hex_ip(ip: &str) -> String {
    ip.split('.')
        .map(|o| format!("{:02x}", o.parse::<u8>().unwrap()))
        .collect()
}

#[test]
fn udhcpc_gets_an_address_option_150_list_and_option_66() {
    require("busybox");
    let mut b = Bench::new("du", 81);
    b.start("");
    let line = b.udhcpc_once(&["-O", "tftp"]);
    // Option 150: both servers, in the configured order; option 66: the first.
    let want150 = format!(
        "opt150={}{}",
        hex_ip(&b.net.server_ip),
        hex_ip(&b.second_tftp())
    );
    assert!(line.contains(&want150), "{line}");
    assert!(
        line.contains(&format!("tftp={}", b.net.server_ip)),
        "{line}"
    );
    assert!(
        line.contains(&format!("serverid={}", b.net.server_ip)),
        "{line}"
    );
    let ip = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ip="))
        .unwrap()
        .to_owned();
    assert!(
        ip.starts_with("10.231.81.") && ip != b.net.server_ip,
        "{ip}"
    );
    let acks = b.wait_dhcp_events("ack", 1);
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0]["ip"], ip.as_str());
    let codes: Vec<u64> = acks[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert!(codes.contains(&150) && codes.contains(&66), "{codes:?}");
    // Durable: the lease is in the store, readable by `phoneboot leases`.
    assert!(b.leases().contains(&ip), "{}", b.leases());
}

#[test]
fn dhclient_gets_option_150_as_an_address_list() {
    require("dhclient");
    let mut b = Bench::new("dd", 82);
    b.start("");
    let dir = b.scratch.path();
    std::fs::write(
        dir.join("dhclient.conf"),
        "option cisco-tftp code 150 = array of ip-address;\nrequest subnet-mask, routers, tftp-server-name, cisco-tftp;\n",
    )
    .unwrap();
    let hook = dir.join("hook.out");
    std::fs::write(
        dir.join("dhclient.sh"),
        format!(
            "#!/bin/sh\ncase \"$reason\" in BOUND|RENEW|REBOOT) echo \"reason=$reason ip=$new_ip_address tftp66=$new_tftp_server_name opt150=$new_cisco_tftp\" >> {} ;; esac\n",
            hook.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("dhclient.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let pidfile = dir.join("dhclient.pid");
    // dhclient daemonises once bound: no pipes, and stop it by its pid file.
    let status = b
        .net
        .in_client("timeout")
        .args(["20", "dhclient", "-4", "-1", "-cf"])
        .arg(dir.join("dhclient.conf"))
        .arg("-lf")
        .arg(dir.join("dhclient.leases"))
        .arg("-pf")
        .arg(&pidfile)
        .arg("-sf")
        .arg(dir.join("dhclient.sh"))
        .arg(&b.client_if)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    // The daemon writes its pid file after it forks: wait for it, so no
    // dhclient outlives the test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
        if !pid.trim().is_empty() {
            let _ = Command::new("kill").arg(pid.trim()).status();
            break;
        }
        if std::time::Instant::now() > deadline || !status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(status.success(), "dhclient failed: {status}");
    let text = wait_for_text(&hook, "reason=BOUND");
    let want = format!("opt150={} {}", b.net.server_ip, b.second_tftp());
    assert!(text.contains(&want), "{text}");
    assert!(
        text.contains(&format!("tftp66={}", b.net.server_ip)),
        "{text}"
    );
}

#[test]
fn udhcpc_renews_and_releases() {
    require("busybox");
    let mut b = Bench::new("dr", 83);
    b.start("");
    let (script, env) = udhcpc_script(b.scratch.path());
    let mut client: Child = b
        .net
        .in_client("busybox")
        .args([
            "udhcpc",
            "-i",
            &b.client_if,
            "-f",
            "-t",
            "5",
            "-O",
            "150",
            "-s",
        ])
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let text = wait_for_text(&env, "event=bound");
    let bound = text.lines().find(|l| l.starts_with("event=bound")).unwrap();
    let ip = bound
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ip="))
        .unwrap()
        .to_owned();
    // udhcpc only unicasts a renewal from the address it holds.
    b.give_client_address(&format!("{ip}/24"));
    let pid = client.id().to_string();
    run(Command::new("kill").args(["-USR1", &pid]));
    wait_for_text(&env, "event=renew");
    let acks = b.wait_dhcp_events("ack", 2);
    assert_eq!(acks.len(), 2, "{acks:?}");
    assert!(
        acks.iter().all(|a| a["ip"] == ip.as_str()),
        "the renewal keeps the address: {acks:?}"
    );
    run(Command::new("kill").args(["-USR2", &pid]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.dhcp_events("released").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no release event:\n{}",
            b.server.as_ref().unwrap().log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = client.kill();
    let _ = client.wait();
    assert!(
        !b.leases().contains(&ip),
        "released lease still listed: {}",
        b.leases()
    );
}

#[test]
fn an_address_that_answers_ping_is_not_offered() {
    require("busybox");
    let mut b = Bench::new("dp", 84);
    // A device we do not know already uses .77 (it sits in the client
    // namespace); the pool is .77–.78.
    b.give_client_address("10.231.84.77/24");
    b.start("pool = [\"10.231.84.77-10.231.84.78\"]\n");
    // The client asks for .77 (option 50), which the allocator prefers when free.
    let line = b.udhcpc_once(&["-r", "10.231.84.77"]);
    assert!(line.contains("ip=10.231.84.78"), "{line}");
    let conflicts = b.wait_dhcp_events("conflict", 1);
    assert!(
        conflicts.iter().any(|c| c["ip"] == "10.231.84.77"),
        "{conflicts:?}"
    );
}

#[test]
fn relayed_requests_from_perfdhcp_are_answered_to_the_relay() {
    require("perfdhcp");
    let mut b = Bench::new("dl", 85);
    // perfdhcp acts as a relay: it needs its own address, and binds :67 on it.
    b.give_client_address(&format!("{}/24", b.net.client_ip));
    b.start("conflict_check = false\n");
    let out = b.perfdhcp(&b.net.client_ip, 50, 2, 100).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "perfdhcp reported drops or failed ({}):\n{text}\n{}\noffers {}, events: {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        b.dhcp_events("offer").len(),
        b.server
            .as_ref()
            .unwrap()
            .events()
            .iter()
            .filter(|e| e["kind"] != "ack" && e["kind"] != "offer")
            .collect::<Vec<_>>()
    );
    let acks = b.dhcp_events("ack");
    assert!(acks.len() >= 90, "{} acks", acks.len());
    assert!(acks.iter().all(|a| a["relay"] == b.net.client_ip.as_str()));
    assert!(
        acks.iter()
            .all(|a| a["sent_to"] == format!("{}:67", b.net.client_ip).as_str()),
        "{}",
        acks[0]
    );
}

#[test]
fn relay_from_another_subnet_and_per_model_options() {
    require("perfdhcp");
    require("busybox");
    let mut b = Bench::new("dm", 88);
    // A relay on 10.232.88.0/24, routed to the server through the veth.
    b.give_client_address("10.232.88.2/24");
    b.give_client_address(&format!("{}/24", b.net.client_ip));
    run(b
        .net
        .in_server("ip")
        .args(["route", "add", "10.232.88.0/24", "dev", &b.server_if]));
    b.start(
        "conflict_check = false\n\
         [[dhcp.relay_subnet]]\nsubnet = \"10.232.88.0/24\"\npool = [\"10.232.88.100-10.232.88.200\"]\nrouter = \"10.232.88.1\"\n\
         [[dhcp.model_option]]\nmodel = \"7960\"\ncode = 150\ntype = \"ips\"\nvalue = [\"10.231.88.77\"]\n",
    );
    let out = b.perfdhcp("10.232.88.2", 20, 1, 20).output().unwrap();
    assert!(
        out.status.success(),
        "perfdhcp: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let acks = b.dhcp_events("ack");
    assert!(!acks.is_empty());
    for a in &acks {
        let ip = a["ip"].as_str().unwrap();
        assert!(
            ip.starts_with("10.232.88."),
            "relayed client got {ip}, not an address of the relay's subnet"
        );
        assert_eq!(a["relay"], "10.232.88.2");
    }
    // A 7960 (option 60 names it) gets its model's TFTP server list.
    run(b
        .net
        .in_client("ip")
        .args(["addr", "flush", "dev", &b.client_if]));
    let acks_before = b.dhcp_events("ack").len();
    let text = b.udhcpc_once(&["-V", "Cisco Systems, Inc. IP Phone CP-7960G"]);
    assert!(
        text.contains(&format!("opt150={}", hex_ip("10.231.88.77"))),
        "{text}"
    );
    let phone_ack = b
        .wait_dhcp_events("ack", acks_before + 1)
        .into_iter()
        .find(|a| a["model"] == "7960");
    assert!(phone_ack.is_some(), "the lease records the model");
}

#[test]
fn refuses_to_start_when_another_dhcp_server_answers() {
    require("dnsmasq");
    let b = Bench::new("dg", 86);
    // dnsmasq on the client side of the same segment plays the rogue server.
    b.give_client_address(&format!("{}/24", b.net.client_ip));
    let mut rogue = b.net.rogue_dnsmasq(&b.client_if, b.scratch.path());
    // dnsmasq answers as soon as its socket is bound; retry the probe a few
    // times rather than guess how long that takes.
    let cfg = b.config("probe_wait = \"1s\"\n");
    let mut last = String::new();
    let mut refused = false;
    for _ in 0..5 {
        let out = b
            .bounded_serve_command(&cfg)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.code() == Some(2) && last.contains("another DHCP server answers") {
            refused = true;
            break;
        }
    }
    let _ = rogue.kill();
    let _ = rogue.wait();
    assert!(refused, "phoneboot did not refuse: {last}");
    assert!(
        last.contains(&b.net.client_ip),
        "names the rogue's address: {last}"
    );
    assert!(
        last.contains("MAC ") && !last.contains("MAC unknown"),
        "names the rogue's MAC: {last}"
    );
    assert!(last.contains("--allow-other-dhcp"), "{last}");
}

#[test]
fn acked_leases_survive_kill_9() {
    require("perfdhcp");
    let mut b = Bench::new("dk", 87);
    b.give_client_address(&format!("{}/24", b.net.client_ip));
    b.start("conflict_check = false\nlease_time = \"1h\"\n");
    let mut load = b
        .perfdhcp(&b.net.client_ip, 400, 10, 200)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill the server in the middle of the load, once it has acked plenty.
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.dhcp_events("ack").len() < 300 {
        assert!(Instant::now() < deadline, "too few acks under load");
        std::thread::sleep(Duration::from_millis(20));
    }
    let server = b.server.take().unwrap();
    let acked = acked_pairs(&server);
    drop(server); // SIGKILL
    let _ = load.kill();
    let _ = load.wait();
    check_leases_hold_acks(&b.leases(), &acked);
    // And the server starts again on the same database.
    b.start("conflict_check = false\n");
}

/// The PostgreSQL store, started by the test (initdb + pg_ctl as an
/// unprivileged user), reached from the server's namespace through its Unix
/// socket: acked leases survive kill -9 of phoneboot, nothing is acked
/// while the database is down, phoneboot reconnects when it is back, and
/// the password is never printed.
#[test]
fn a_postgresql_store_keeps_acked_leases_through_kill_9_and_a_database_restart() {
    require("perfdhcp");
    let pg = store::testing::TempPostgres::start("dhcp-pg").unwrap();
    let url = pg.socket_url();
    let secret = store::testing::PASSWORD;
    let mut b = Bench::new("dq", 86);
    b.give_client_address(&format!("{}/24", b.net.client_ip));
    let extra = format!("conflict_check = false\nlease_time = \"1h\"\n[store]\nurl = \"{url}\"\n");
    b.start(&extra);
    let server = b.server.as_ref().unwrap();
    let out = server.stdout_lines().join("\n");
    assert!(
        out.contains("leases in postgresql://phoneboot:***@"),
        "{out}"
    );
    let mut load = b
        .perfdhcp(&b.net.client_ip, 400, 14, 300)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.dhcp_events("ack").len() < 200 {
        assert!(Instant::now() < deadline, "too few acks under load");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The database goes away under load: nothing more is acked…
    pg.crash().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let at_crash = b.dhcp_events("ack").len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        b.dhcp_events("ack").len(),
        at_crash,
        "acked while the store was down"
    );
    // …until it is back: phoneboot reconnects by itself.
    pg.start_server().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.dhcp_events("ack").len() < at_crash + 100 {
        assert!(
            Instant::now() < deadline,
            "no acks after the database came back\n{}",
            b.server.as_ref().unwrap().log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let server = b.server.take().unwrap();
    let acked = acked_pairs(&server);
    let log = server.log_text();
    assert!(!log.contains(secret), "the password is in the log");
    assert!(log.contains("lease not saved, reply withheld"), "{log}");
    drop(server); // SIGKILL
    let _ = load.kill();
    let _ = load.wait();

    let listing = run(Command::new(BIN).args(["leases", "--store", &url]));
    let n = check_leases_hold_acks(&String::from_utf8(listing.stdout).unwrap(), &acked);

    let status = run(Command::new(BIN).args(["store", "status", "--store", &url]));
    let status = String::from_utf8(status.stdout).unwrap();
    assert!(status.contains("schema: version 1, up to date"), "{status}");
    assert!(status.contains(&format!("leases: {n}")), "{status}");
    assert!(!status.contains(secret), "{status}");
    // The server starts again on the same store.
    b.start(&extra);
    drop(b.server.take());

    // A store that does not answer at start: a clear refusal, no password.
    let dead = format!("postgresql://phoneboot:{secret}@127.0.0.1:1/postgres");
    let cfg = b.config("");
    let out = b
        .bounded_serve_command(&cfg)
        .args(["--store", &dead])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the PostgreSQL lease store at postgresql://phoneboot:***@127.0.0.1:1/postgres"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
}

/// The (MAC, address) of every ACK `server` logged.
fn acked_pairs(server: &Server) -> Vec<(String, String)> {
    server
        .events()
        .into_iter()
        .filter(|e| e["type"] == "dhcp" && e["kind"] == "ack")
        .map(|e| {
            (
                e["mac"].as_str().unwrap().to_owned(),
                e["ip"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Checks a `phoneboot leases` listing against the ACKs sent: each
/// client's last acked address is there, and no address twice. Returns
/// how many leases it lists.
fn check_leases_hold_acks(listing: &str, acked: &[(String, String)]) -> usize {
    let rows: Vec<(String, String)> = listing
        .lines()
        .filter(|l| l.contains(':'))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_owned(), w.next()?.to_owned()))
        })
        .collect();
    // Every client holds one lease; a later ack for the same client may
    // have moved it, so compare each client's last acked address.
    let mut last_ack = std::collections::HashMap::new();
    for (mac, ip) in acked {
        last_ack.insert(mac.clone(), ip.clone());
    }
    for (mac, ip) in &last_ack {
        assert!(
            rows.contains(&(mac.clone(), ip.clone())),
            "acked lease {mac} {ip} lost"
        );
    }
    let mut ips: Vec<&String> = rows.iter().map(|(_, ip)| ip).collect();
    let n = ips.len();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), n, "an address is held by two clients");
    n
}
