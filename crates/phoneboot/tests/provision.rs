//! The provisioning engine end to end: `phoneboot serve` with synthetic
//! firmware in its library, and `phoneboot simulate` phones (the client
//! nobody on the server side wrote) walking their upgrade paths with no
//! operator action. Loopback for direct TFTP; network namespaces for DHCP.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use library::fixtures::Bundle;
use library::{Format, ImportOptions, Library};

/// The port simulated phones take NOTIFY on (not 5060, which a SIP server
/// on this machine may hold).
const SIP_PORT: u16 = 35060;

struct Bench {
    scratch: Scratch,
}

impl Bench {
    fn new(name: &str) -> Bench {
        Bench {
            scratch: Scratch::new(&format!("provision-{name}")),
        }
    }

    fn data(&self) -> PathBuf {
        self.scratch.path().join("data")
    }

    fn root(&self) -> PathBuf {
        self.scratch.path().join("root")
    }

    /// Imports synthetic bundles (real names, real `.loads` structure).
    fn import(&self, loads: &[&str]) {
        self.import_bundles(
            loads
                .iter()
                .map(|l| Bundle::new(l).unwrap().image_size(30_000)),
        );
    }

    fn import_bundles(&self, bundles: impl Iterator<Item = Bundle>) {
        let mut lib = Library::open(self.data().join("firmware")).unwrap();
        let tmp = self.scratch.path().join("bundles");
        std::fs::create_dir_all(&tmp).unwrap();
        for b in bundles {
            let path = b.write(&tmp, Format::Zip).unwrap();
            lib.import(&path, &ImportOptions::default().allow_incomplete(true))
                .unwrap_or_else(|e| panic!("import {}: {e}", b.load()));
        }
    }

    fn config(&self, text: &str) -> PathBuf {
        let path = self.scratch.path().join("phoneboot.toml");
        // Phones re-read their config quickly here; the settle fallback is
        // short so a phone that shows nothing is concluded within the test.
        let text = match text.find("[provision]\n") {
            Some(at) => format!("{}settle = \"1s\"\n{}", &text[..at + 12], &text[at + 12..]),
            None => format!("{text}\n[provision]\nsettle = \"1s\"\n"),
        };
        // Phones register with phoneboot from their loopback addresses and
        // take NOTIFY on their own port.
        let text = match text.find("[sip]\n") {
            Some(at) => format!(
                "{}phone_port = {SIP_PORT}\n{}",
                &text[..at + 6],
                &text[at + 6..]
            ),
            None => format!("{text}\n[sip]\nphone_port = {SIP_PORT}\n"),
        };
        let text = format!("{text}\n[sccp]\nallow = [\"127.0.0.0/8\"]\n");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `serve --interface` in the server namespace of `net`, with `cfg`
    /// (from [`Bench::config`]); its API is on the namespace's loopback.
    fn serve_in(&self, net: &NetnsPair, server_if: &str, cfg: &std::path::Path) -> Server {
        std::fs::create_dir_all(self.root()).unwrap();
        Server::spawn(
            net.in_server(BIN)
                .args(["serve", "--interface", server_if, "--tftp-listen"])
                .arg(format!("{}:69", net.server_ip))
                .args(["--http-listen", "127.0.0.1:0", "--phone-http-listen", "off"])
                .arg("--root")
                .arg(self.root())
                .arg("--data-dir")
                .arg(self.data())
                .arg("--config")
                .arg(cfg),
        )
    }

    fn serve(&self, config: &str) -> Server {
        let cfg = self.config(config);
        std::fs::create_dir_all(self.root()).unwrap();
        Server::start(
            &self.root(),
            &self.data(),
            &[
                "--config",
                cfg.to_str().unwrap(),
                "--sccp-listen",
                "127.0.0.1:0",
            ],
        )
    }
}

/// Runs simulated phones against `server` over loopback (each phone from
/// its own 127.x address); returns the exit status and the JSON report.
fn simulate(
    server: &Server,
    net: &str,
    args: &[&str],
) -> (std::process::ExitStatus, serde_json::Value) {
    let out = Command::new(BIN)
        .arg("simulate")
        .args([
            "--server",
            &server.addr.to_string(),
            "--source-net",
            net,
            "--json",
        ])
        .args(["--timeout", "90s", "--reboot-delay", "0s"])
        .args(["--sip-port", &SIP_PORT.to_string()])
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

/// The loads a simulated phone went through, start first.
fn path_of(phone: &serde_json::Value) -> Vec<String> {
    let mut path = vec![phone["start_load"].as_str().unwrap().to_owned()];
    for hop in phone["hops"].as_array().unwrap() {
        path.push(hop["to"].as_str().unwrap().to_owned());
    }
    path
}

/// The phone events of `kind` once at least `n` are in the log (its reader
/// is another thread, which may lag behind the simulator), or what there is
/// after 10 s.
fn wait_phone_events(server: &Server, kind: &str, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = phone_events(server, kind);
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn phone_events(server: &Server, kind: &str) -> Vec<serde_json::Value> {
    server
        .events()
        .into_iter()
        .filter(|e| e["type"] == "phone" && e["kind"] == kind)
        .collect()
}

#[test]
fn a_factory_7960_walks_from_sccp_3x_to_sip_through_5x_and_8_0_9() {
    let b = Bench::new("7960");
    b.import(&["P00305000500", "P00308000900", "P0S3-8-12-00"]);
    let server =
        b.serve("[defaults]\nprotocol = \"sip\"\n[models.7960]\nstart_load = \"P00303010102\"\n");
    let (status, report) = simulate(
        &server,
        "127.20.0.0/16",
        &[
            "--phones",
            "1",
            "--model",
            "7960",
            "--start-load",
            "P00303010102",
            "--expect",
            "P0S3-8-12-00",
        ],
    );
    assert!(status.success(), "{report:#}\n{}", server.log_text());
    let phone = &report["phones"][0];
    assert_eq!(
        path_of(phone),
        [
            "P00303010102",
            "P00305000500",
            "P00308000900",
            "P0S3-8-12-00"
        ],
        "{}",
        server.log_text()
    );
    assert_eq!(phone["registered"], true);
    // phoneboot verified each hop itself (the phone came back and did not
    // fetch the load again) and says so.
    let done: Vec<String> = wait_phone_events(&server, "hop_done", 3)
        .iter()
        .map(|e| e["load"].as_str().unwrap().to_owned())
        .collect();
    for load in ["P00305000500", "P00308000900", "P0S3-8-12-00"] {
        assert!(
            done.iter().any(|l| l == load),
            "no verified hop to {load}: {done:?}"
        );
    }
}

#[test]
fn a_7941_on_sccp_8_3_1_reaches_sip_9_4_2_through_8_5_2_and_a_7965_goes_back_to_sccp() {
    let b = Bench::new("java");
    b.import(&[
        "SCCP41.8-5-2S",
        "SIP41.9-4-2SR3-1S",
        "SCCP45.9-4-2SR3-1S",
        "SIP45.9-4-2SR3-1S",
    ]);
    let server = b.serve(
        "[defaults]\nprotocol = \"sip\"\n\
         [models.7941]\nstart_load = \"SCCP41.8-3-1S\"\n\
         [families.79x5]\nprotocol = \"sccp\"\nstart_load = \"SIP45.9-4-2SR3-1S\"\n",
    );
    let (status, report) = simulate(
        &server,
        "127.21.0.0/16",
        &[
            "--mix",
            "7941:SCCP41.8-3-1S:1:SIP41.9-4-2SR3-1S,7965:SIP45.9-4-2SR3-1S:1:SCCP45.9-4-2SR3-1S",
        ],
    );
    assert!(status.success(), "{report:#}\n{}", server.log_text());
    assert_eq!(
        path_of(&report["phones"][0]),
        ["SCCP41.8-3-1S", "SCCP41.8-5-2S", "SIP41.9-4-2SR3-1S"]
    );
    assert_eq!(
        path_of(&report["phones"][1]),
        ["SIP45.9-4-2SR3-1S", "SCCP45.9-4-2SR3-1S"]
    );
    // The SCCP target names no call manager of its own: it registers with phoneboot.
    assert_eq!(report["phones"][1]["registered"], true, "{report:#}");
    assert!(report["phones"][1]["sccp_registrations"].as_u64().unwrap() >= 1);
    // The 7941 was reset once, from 8.5(2) into SIP, by phoneboot.
    assert_eq!(report["phones"][0]["resets"]["reset"], 1, "{report:#}");
}

#[test]
fn the_api_and_cli_show_each_phone_and_never_a_password() {
    let b = Bench::new("api");
    b.import(&["SIP45.9-4-2SR3-1S"]);
    let server = b.serve(
        "[families.79x5]\nstart_load = \"SCCP45.9-4-2SR3-1S\"\n\
         [[phone]]\nmac = \"00:1e:4a:00:00:00\"\nmodel = \"7965\"\nlabel = \"Desk\"\n\
         lines = [{ extension = \"101\", password = \"pw-never-shown\" }]\n\
         [provision]\nrestrict_per_mac_files = false\n",
    );
    let (status, report) = simulate(
        &server,
        "127.25.0.0/16",
        &[
            "--phones",
            "1",
            "--model",
            "7965",
            "--start-load",
            "SCCP45.9-4-2SR3-1S",
        ],
    );
    assert!(status.success(), "{report:#}");
    let api = server.api_addr();
    let get = |path: &str| {
        let (code, _, body) = http_get(api, "GET", path, "");
        assert_eq!(code, 200, "{path}: {}", String::from_utf8_lossy(&body));
        let text = String::from_utf8(body).unwrap();
        assert!(
            !text.contains("pw-never-shown"),
            "{path} leaks a password: {text}"
        );
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let phones = get("/api/phones");
    let p = &phones[0];
    assert_eq!(p["mac"], "00:1e:4a:00:00:00");
    assert_eq!(p["model"], "7965");
    assert_eq!(p["stage"], "done", "{p:#}");
    assert_eq!(p["current_load"], "SIP45.9-4-2SR3-1S");
    assert_eq!(p["target_load"], "SIP45.9-4-2SR3-1S");
    assert_eq!(p["ip"], "127.25.0.1");
    let one = get("/api/phones/001E4A000000");
    let kinds: Vec<&str> = one["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"hop_done"), "{kinds:?}");
    let desired = get("/api/desired");
    assert_eq!(desired["phones"][0]["lines"][0]["password"], "***");
    let metrics = String::from_utf8(http_get(api, "GET", "/metrics", "").2).unwrap();
    assert!(
        metrics.contains("phoneboot_phones{stage=\"done\"} 1"),
        "{metrics}"
    );
    let (code, _, body) = http_get(api, "GET", "/api/phones/not-a-mac", "");
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    // The CLI reads the same.
    let out = Command::new(BIN)
        .args(["phones", "--server", &format!("http://{api}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("00:1e:4a:00:00:00")
            && text.contains("SIP45.9-4-2SR3-1S")
            && text.contains("done"),
        "{text}"
    );
}

#[test]
fn interrupted_downloads_resume_and_an_old_image_is_caught_under_loss() {
    let b = Bench::new("faults");
    b.import(&["SIP45.9-4-2SR3-1S"]);
    let server = b.serve("[families.79x5]\nstart_load = \"SCCP45.9-4-2SR3-1S\"\n");
    let (status, report) = simulate(
        &server,
        "127.22.0.0/16",
        &[
            "--phones",
            "3",
            "--model",
            "7965",
            "--start-load",
            "SCCP45.9-4-2SR3-1S",
            "--expect",
            "SIP45.9-4-2SR3-1S",
            "--reboot-mid-download",
            "1",
            "--keep-old-image",
            "1",
            "--loss",
            "0.05",
        ],
    );
    assert!(status.success(), "{report:#}\n{}", server.log_text());
    for p in report["phones"].as_array().unwrap() {
        assert_eq!(p["final_load"], "SIP45.9-4-2SR3-1S", "{p:#}");
    }
    assert!(report["phones"][0]["aborted_downloads"].as_u64().unwrap() >= 1);
    // The phone that booted its old image fetched the hop again; phoneboot
    // counted that as a failed attempt, then saw the second one take.
    let retries = wait_phone_events(&server, "hop_retry", 1);
    assert_eq!(retries.len(), 1, "{retries:#?}");
    assert_eq!(retries[0]["load"], "SIP45.9-4-2SR3-1S");
}

#[test]
fn a_missing_stepping_stone_is_diagnosed_and_the_phone_is_not_bricked() {
    let b = Bench::new("missing");
    // 8.0(9) is missing: the 5.x phone must not be sent straight to SIP.
    b.import(&["P0S3-8-12-00"]);
    let server =
        b.serve("[defaults]\nprotocol = \"sip\"\n[[phone]]\nmac = \"00:1e:4a:00:00:00\"\nmodel = \"7960\"\nstart_load = \"P00305000500\"\n");
    let (_, report) = simulate(
        &server,
        "127.23.0.0/16",
        &[
            "--phones",
            "1",
            "--model",
            "7960",
            "--start-load",
            "P00305000500",
        ],
    );
    let phone = &report["phones"][0];
    assert_ne!(phone["state"], "bricked", "{phone:#}");
    assert_eq!(phone["final_load"], "P00305000500", "{phone:#}");
    let text = serde_json::to_string(&wait_phone_events(&server, "diagnosis", 1)).unwrap();
    assert!(
        text.contains("missing_load") && text.contains("P00308000900"),
        "{text}"
    );
    assert!(text.contains("phoneboot firmware import"), "{text}");
}

#[test]
fn per_mac_configs_with_passwords_go_only_to_the_lease_holder() {
    require("tftp");
    let b = Bench::new("secret");
    b.import(&["SIP45.9-4-2SR3-1S"]);
    let server = b.serve(
        "[[phone]]\nmac = \"00:1e:4a:00:00:09\"\nmodel = \"7965\"\n\
         lines = [{ extension = \"101\", password = \"secret-pw-101\" }]\n\
         [[phone]]\nmac = \"00:1e:4a:00:00:0a\"\nmodel = \"7965\"\nstart_load = \"SCCP45.9-4-2SR3-1S\"\n",
    );
    let get = |name: &str| -> Option<Vec<u8>> {
        let out = b.scratch.path().join("got");
        let _ = std::fs::remove_file(&out);
        let status = Command::new("tftp")
            .args([
                "-m",
                "binary",
                "127.0.0.1",
                &server.addr.port().to_string(),
                "-c",
                "get",
                name,
            ])
            .arg(&out)
            .output()
            .unwrap();
        let got = std::fs::read(&out).ok().filter(|b| !b.is_empty());
        assert!(status.status.success() || got.is_none());
        got
    };
    // No lease: the phone with a SIP password gets nothing, and nothing
    // tells the asker the file exists.
    assert_eq!(get("SEP001E4A000009.cnf.xml"), None);
    // The log is read by another thread: wait for the line rather than race it.
    server.wait_for_log("carries SIP passwords");
    // A phone with no secrets is served to anyone, generated and valid.
    let xml = String::from_utf8(get("SEP001E4A00000A.cnf.xml").expect("served")).unwrap();
    assert!(
        xml.contains("<loadInformation>SIP45.9-4-2SR3-1S</loadInformation>"),
        "{xml}"
    );
    assert!(!xml.contains("secret-pw"), "{xml}");
}

#[test]
fn what_a_phone_runs_is_remembered_across_restarts() {
    let b = Bench::new("restart");
    b.import(&["SIP45.9-4-2SR3-1S"]);
    let cfg = "[families.79x5]\nstart_load = \"SCCP45.9-4-2SR3-1S\"\n";
    let server = b.serve(cfg);
    let (status, report) = simulate(
        &server,
        "127.24.0.0/16",
        &[
            "--phones",
            "1",
            "--model",
            "7965",
            "--start-load",
            "SCCP45.9-4-2SR3-1S",
            "--expect",
            "SIP45.9-4-2SR3-1S",
        ],
    );
    assert!(status.success(), "{report:#}");
    assert!(server.stop().success());
    let saved = std::fs::read_to_string(b.data().join("phones.json")).unwrap();
    assert!(saved.contains("SIP45.9-4-2SR3-1S"), "{saved}");
    // Restarted, it knows the phone is on its target: the config names the
    // target, and the phone (already there) downloads nothing.
    let server = b.serve(cfg);
    let (status, report) = simulate(
        &server,
        "127.24.0.0/16",
        &[
            "--phones",
            "1",
            "--model",
            "7965",
            "--start-load",
            "SIP45.9-4-2SR3-1S",
        ],
    );
    assert!(status.success(), "{report:#}");
    assert_eq!(
        report["phones"][0]["hops"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
}

/// 100 phones of four models at once, addressed by DHCP (option 60 names
/// each model) from `serve --interface` inside network namespaces.
#[test]
fn a_hundred_mixed_phones_by_dhcp_all_reach_their_targets() {
    require("ip");
    let net = NetnsPair::new("pv", 95);
    let id = std::process::id() % 10000;
    let (server_if, client_if) = (format!("vpvs{id}"), format!("vpvc{id}"));
    run(Command::new("ip").args(["-n", &net.client_ns, "addr", "flush", "dev", &client_if]));
    let b = Bench::new("hundred");
    b.import(&[
        "P00308000900",
        "P0S3-8-12-00",
        "SCCP41.8-5-2S",
        "SIP41.9-4-2SR3-1S",
        "SIP45.9-4-2SR3-1S",
    ]);
    let cfg = b.config(&format!(
        "[dhcp]\nprobe_wait = \"300ms\"\nconflict_check = false\npool = [\"10.231.95.10-10.231.95.250\"]\n\
         [defaults]\nprotocol = \"sip\"\n[sip]\nserver = \"{}\"\n\
         [families.79x0]\nstart_load = \"P00308000900\"\n\
         [families.79x1]\nstart_load = \"SCCP41.8-3-1S\"\n\
         [families.79x5]\nstart_load = \"SCCP45.9-4-2SR3-1S\"\n",
        net.server_ip
    ));
    std::fs::create_dir_all(b.root()).unwrap();
    let server = b.serve_in(&net, &server_if, &cfg);
    let out = net
        .in_client(BIN)
        .args(["simulate", "--interface", &client_if, "--json", "--timeout", "240s"])
        .args(["--reboot-delay", "0s"])
        .args(["--sip-port", &SIP_PORT.to_string()])
        .args(["--mix", "7940:P00308000900:25:P0S3-8-12-00,7960:P00308000900:25:P0S3-8-12-00,7941:SCCP41.8-3-1S:25:SIP41.9-4-2SR3-1S,7965:SCCP45.9-4-2SR3-1S:25:SIP45.9-4-2SR3-1S"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        out.status.success(),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["settled"], 100);
    for p in report["phones"].as_array().unwrap() {
        let want = match p["model"].as_str().unwrap() {
            "7940" | "7960" => "P0S3-8-12-00",
            "7941" => "SIP41.9-4-2SR3-1S",
            _ => "SIP45.9-4-2SR3-1S",
        };
        assert_eq!(p["final_load"], want, "{p:#}");
        assert_eq!(p["registered"], true);
    }
    drop(server);
}

fn http_send(
    api: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (code, _, bytes) = http_raw(api, request.as_bytes());
    (
        code,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The desired state changed through the API while serving: validated like
/// the file, applied to the next request, kept across a restart.
#[test]
fn the_desired_state_changes_at_run_time_and_is_kept() {
    let b = Bench::new("edit");
    b.import(&["SIP45.9-4-2SR3-1S", "SCCP45.9-4-2SR3-1S"]);
    let cfg = "[defaults]\nprotocol = \"sip\"\n";
    let server = b.serve(cfg);
    let api = server.api_addr();
    let path = "/api/desired/phones/001E4A000000";
    // Refused like a bad config entry, naming the key; nothing changes.
    let (code, body) = http_send(
        api,
        "PUT",
        path,
        r#"{"model": "7965", "label": "far too long a label"}"#,
    );
    assert_eq!(code, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("label"), "{body}");
    let (code, body) = http_send(api, "PUT", path, r#"{"modle": "7965"}"#);
    assert_eq!(code, 400, "{body}");
    let (code, body) = http_send(api, "PUT", path, "not json");
    assert_eq!(code, 400, "{body}");
    // This phone stays on SCCP, with a line.
    let (code, body) = http_send(
        api,
        "PUT",
        path,
        r#"{"model": "7965", "protocol": "sccp", "start_load": "SIP45.9-4-2SR3-1S",
            "lines": [{"extension": "201", "password": "pw-201-hidden"}]}"#,
    );
    assert_eq!(code, 200, "{body}");
    let (status, report) = simulate(
        &server,
        "127.26.0.0/16",
        &[
            "--phones",
            "1",
            "--model",
            "7965",
            "--start-load",
            "SIP45.9-4-2SR3-1S",
        ],
    );
    assert!(status.success(), "{report:#}");
    assert_eq!(
        path_of(&report["phones"][0]),
        ["SIP45.9-4-2SR3-1S", "SCCP45.9-4-2SR3-1S"]
    );
    let (_, _, desired) = http_get(api, "GET", "/api/desired", "");
    let desired = String::from_utf8(desired).unwrap();
    assert!(
        desired.contains("\"201\"") && !desired.contains("pw-201-hidden"),
        "{desired}"
    );
    assert!(server.stop().success());

    // Kept across a restart; removing it brings back the file's defaults.
    let server = b.serve(cfg);
    let api = server.api_addr();
    let (_, _, desired) = http_get(api, "GET", "/api/desired", "");
    assert!(String::from_utf8(desired).unwrap().contains("\"201\""));
    let (code, body) = http_send(api, "DELETE", path, "");
    assert_eq!(code, 200, "{body}");
    let (code, _) = http_send(api, "DELETE", path, "");
    assert_eq!(code, 404);
    let (_, _, desired) = http_get(api, "GET", "/api/desired", "");
    assert!(!String::from_utf8(desired).unwrap().contains("\"201\""));
}

/// The issue's own walk, with nobody touching a phone: a factory 7960 (3.x
/// → 5.x → 8.0(9) → SIP 8.12) and a 7941 (SCCP 8.3(1) → 8.5(2) → SIP 9.4(2))
/// at once, by DHCP from `serve --interface` in namespaces, SCCP on its
/// default port 2000; then a run-time edit of the 7960's line reaches it by
/// NOTIFY check-sync and it boots into the new name. tcpdump in the server
/// namespace captures it all and tshark's Skinny and SIP dissectors judge it.
#[test]
fn two_phones_walk_hands_off_by_dhcp_and_a_line_edit_reaches_the_sip_phone() {
    require("ip");
    require("tcpdump");
    require("tshark");
    require("curl");
    let net = NetnsPair::new("ho", 96);
    let id = std::process::id() % 10000;
    let (server_if, client_if) = (format!("vhos{id}"), format!("vhoc{id}"));
    run(Command::new("ip").args(["-n", &net.client_ns, "addr", "flush", "dev", &client_if]));
    let b = Bench::new("handsoff");
    b.import(&[
        "P00305000500",
        "P00308000900",
        "P0S3-8-12-00",
        "SCCP41.8-5-2S",
        "SIP41.9-4-2SR3-1S",
    ]);
    let phone_entry = |display: &str| {
        format!(
            "{{\"model\": \"7960\", \"start_load\": \"P00303010102\", \
             \"lines\": [{{\"extension\": \"801\", \"display\": \"{display}\", \"password\": \"pw-801\"}}]}}"
        )
    };
    let cfg = b.config(&format!(
        "[dhcp]\nprobe_wait = \"300ms\"\nconflict_check = false\npool = [\"10.231.96.10-10.231.96.50\"]\n\
         [defaults]\nprotocol = \"sip\"\n[sip]\nserver = \"{}\"\n\
         [families.79x1]\nstart_load = \"SCCP41.8-3-1S\"\n\
         [[phone]]\nmac = \"00:1e:4a:00:00:00\"\nmodel = \"7960\"\nstart_load = \"P00303010102\"\n\
         lines = [{{ extension = \"801\", display = \"Front desk\", password = \"pw-801\" }}]\n",
        net.server_ip
    ));
    std::fs::create_dir_all(b.root()).unwrap();
    let pcap = b.scratch.path().join("handsoff.pcap");
    let capture = Capture::start(
        net.in_server("tcpdump"),
        &server_if,
        &format!("tcp port 2000 or udp port {SIP_PORT}"),
        &pcap,
    );
    let server = b.serve_in(&net, &server_if, &cfg);
    let api = server.api_addr();
    // Phones stay up after reaching their targets, waiting for orders.
    let sim = net
        .in_client(BIN)
        .args([
            "simulate",
            "--interface",
            &client_if,
            "--json",
            "--timeout",
            "120s",
        ])
        .args(["--reboot-delay", "0s", "--hold", "15s"])
        .args(["--sip-port", &SIP_PORT.to_string()])
        .args([
            "--mix",
            "7960:P00303010102:1:P0S3-8-12-00,7941:SCCP41.8-3-1S:1:SIP41.9-4-2SR3-1S",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both phones done, by the engine's account.
    let curl_api = |args: &[&str]| -> String {
        let out = net
            .in_server("curl")
            .args(["-s", "-m", "5"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let phones: serde_json::Value =
            serde_json::from_str(&curl_api(&[&format!("http://{api}/api/phones")]))
                .unwrap_or_default();
        let done = phones
            .as_array()
            .map(|a| a.iter().filter(|p| p["stage"] == "done").count())
            .unwrap_or(0);
        if done == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "phones not done: {phones:#}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The operator renames the 7960's line while it sits on SIP 8.12.
    let body = phone_entry("Reception");
    let answer = curl_api(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "--data",
        &body,
        &format!("http://{api}/api/desired/phones/001E4A000000"),
    ]);
    assert!(answer.contains("\"applied\":true"), "{answer}");
    let out = sim.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{report:#}\n{}", server.log_text());
    let p7960 = &report["phones"][0];
    let p7941 = &report["phones"][1];
    assert_eq!(
        path_of(p7960),
        [
            "P00303010102",
            "P00305000500",
            "P00308000900",
            "P0S3-8-12-00"
        ]
    );
    assert_eq!(
        path_of(p7941),
        ["SCCP41.8-3-1S", "SCCP41.8-5-2S", "SIP41.9-4-2SR3-1S"]
    );
    // Reset by phoneboot from 5.x and from 8.0(9); from 8.5(2) for the 7941.
    assert_eq!(p7960["resets"]["reset"], 2, "{p7960:#}");
    assert_eq!(p7941["resets"]["reset"], 1, "{p7941:#}");
    assert!(p7960["notify_reboots"].as_u64().unwrap() >= 1, "{p7960:#}");
    // After the NOTIFY it read its config again, with the new name.
    let notified = server
        .events()
        .into_iter()
        .filter(|e| e["type"] == "sip_notify" && e["answer"] == "ok")
        .count();
    assert!(notified >= 1, "{}", server.log_text());
    let cnf = p7960["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["file"] == "SIP001E4A000000.cnf" && r["result"] == "ok")
        .count();
    assert!(cnf >= 2, "{p7960:#}");
    drop(server);
    let verbose = capture.dissect(
        &[
            "tcp.port==2000,skinny".to_owned(),
            format!("udp.port=={SIP_PORT},sip"),
        ],
        Some("skinny || sip"),
        |v| {
            skinny_message_names(v)
                .iter()
                .filter(|n| **n == "Reset")
                .count()
                >= 3
                && v.contains("Status-Line: SIP/2.0 200 OK")
        },
    );
    let names = skinny_message_names(&verbose);
    for want in ["RegisterReq", "RegisterAck", "CapabilitiesReq", "Reset"] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    assert_eq!(
        names.iter().filter(|n| **n == "Reset").count(),
        3,
        "{names:?}"
    );
    assert!(
        verbose.contains("Event: check-sync"),
        "no NOTIFY in the capture"
    );
    assert!(verbose.contains("Status-Line: SIP/2.0 200 OK"));
    assert!(
        verbose.contains("SCCP41.8-5-2S"),
        "the 7941's loadInfo is not in the capture"
    );
    for bad in ["Malformed", "Unknown Message"] {
        assert!(!verbose.contains(bad), "tshark reports {bad}");
    }
}
