//! The operator's tftpd32 folder, served as it is: the seed's own
//! procedure (an `XMLDefault.cnf.xml` with one `loadInformation` per model,
//! firmware unzipped next to it, no phoneboot config at all), `serve
//! --interface` on it, and simulated phones that follow the operator's file
//! while the engine watches them walk.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use library::fixtures::Bundle;

/// The guide's XMLDefault.cnf.xml, with one `loadInformationNNN` per model
/// as Cisco writes it (7960: 7, 7941: 115) and straight quotes.
const XML_DEFAULT: &str = r#"<Default>
<callManagerGroup>
<members>
<member priority="0">
<callManager>
<ports>
<ethernetPhonePort>2000</ethernetPhonePort>
<mgcpPorts>
<listen>2427</listen>
<keepAlive>2428</keepAlive>
</mgcpPorts>
</ports>
<processNodeName></processNodeName>
</callManager>
</member>
</members>
</callManagerGroup>
<loadInformation7 model="IP Phone 7960">P00305000500</loadInformation7>
<loadInformation115 model="IP Phone 7941">SCCP41.8-5-2S</loadInformation115>
<authenticationURL></authenticationURL>
<directoryURL></directoryURL>
<idleURL></idleURL>
<informationURL></informationURL>
<messagesURL></messagesURL>
<servicesURL></servicesURL>
</Default>
"#;

/// Unzips a synthetic bundle into `root`, as the guide says: every file.
fn unzip(root: &Path, load: &str) -> Bundle {
    let bundle = Bundle::new(load).unwrap().image_size(30_000);
    for (name, bytes) in bundle.files() {
        std::fs::write(root.join(name), bytes).unwrap();
    }
    bundle
}

#[test]
fn the_seeds_folder_is_served_as_it_is_and_the_engine_watches_phones_follow_it() {
    require("ip");
    require("curl");
    let net = NetnsPair::new("of", 97);
    let id = std::process::id() % 10000;
    let (server_if, client_if) = (format!("vofs{id}"), format!("vofc{id}"));
    run(Command::new("ip").args(["-n", &net.client_ns, "addr", "flush", "dev", &client_if]));
    let scratch = Scratch::new("operator-folder");
    let root = scratch.path().join("tftpboot");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("XMLDefault.cnf.xml"), XML_DEFAULT).unwrap();
    unzip(&root, "P00305000500");
    unzip(&root, "SCCP41.8-5-2S");
    // Half of a third bundle: named, never offered.
    let partial = unzip(&root, "SIP41.9-4-2SR3-1S");
    let lost = partial.listed_files()[2].clone();
    std::fs::remove_file(root.join(&lost)).unwrap();

    // No --config: built-in defaults, DHCP on the interface.
    let server = Server::spawn(
        net.in_server(BIN)
            .args(["serve", "--interface", &server_if, "--tftp-listen"])
            .arg(format!("{}:69", net.server_ip))
            .args(["--http-listen", "127.0.0.1:0"])
            .arg("--root")
            .arg(&root)
            .arg("--data-dir")
            .arg(scratch.path().join("data")),
    );
    let api = server.api_addr();
    let out = server.stdout_lines().join("\n");
    assert!(
        out.contains(
            "XMLDefault.cnf.xml: from the root: phones without their own SEP file follow it \
             (it names P00305000500 for 7960; SCCP41.8-5-2S for 7941); the engine watches them"
        ),
        "{out}"
    );
    assert!(
        out.contains("firmware in the TFTP root: 2 complete loads offered to the planner")
            && out.contains(&format!("SIP41.9-4-2SR3-1S (lacks {lost})")),
        "{out}"
    );

    let sim = net
        .in_client(BIN)
        .args([
            "simulate",
            "--interface",
            &client_if,
            "--json",
            "--timeout",
            "90s",
        ])
        .args(["--reboot-delay", "0s", "--sip-port", "35060"])
        .args([
            "--mix",
            "7960:P00303010102:1:P00305000500,7941:SCCP41.8-3-1S:1:SCCP41.8-5-2S",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&sim.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&sim.stderr)));
    assert!(sim.status.success(), "{report:#}\n{}", server.log_text());
    for (p, want) in report["phones"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["P00305000500", "SCCP41.8-5-2S"])
    {
        assert_eq!(p["final_load"], want, "{p:#}");
        // The operator's file, byte for byte, after a miss on its own SEP file.
        let reqs = p["requests"].as_array().unwrap();
        assert!(
            reqs.iter()
                .any(|r| r["file"].as_str().unwrap().starts_with("SEP")
                    && r["result"] == "not_found"),
            "{p:#}"
        );
    }

    let curl = |url: &str| -> serde_json::Value {
        let out = net
            .in_server("curl")
            .args(["-s", "-m", "5", url])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    // The engine saw both walk their one hop to what the file names. The
    // 7941 proves it by asking for its ring list; the 7960 on 5.x SCCP has
    // no call manager in the guide's file and asks for nothing more, so it
    // stays "verifying" until [provision] settle (90 s) concludes it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let phones = loop {
        let phones = curl(&format!("http://{api}/api/phones"));
        let stage = |model: &str| {
            phones.as_array().and_then(|a| {
                a.iter()
                    .find(|p| p["model"] == model)
                    .map(|p| p["stage"].as_str().unwrap_or_default().to_owned())
            })
        };
        if stage("7941").as_deref() == Some("done") && stage("7960").as_deref() == Some("verifying")
        {
            break phones;
        }
        assert!(
            Instant::now() < deadline,
            "{phones:#}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for p in phones.as_array().unwrap() {
        let want = match p["model"].as_str().unwrap() {
            "7960" => "P00305000500",
            _ => "SCCP41.8-5-2S",
        };
        assert_eq!(p["config_source"]["kind"], "operator", "{p:#}");
        assert_eq!(p["config_source"]["file"], "XMLDefault.cnf.xml", "{p:#}");
        assert_eq!(p["config_source"]["load"], want, "{p:#}");
        assert_eq!(p["target_load"], want, "{p:#}");
        assert_eq!(p["hops_total"], 1, "{p:#}");
        if p["model"] == "7941" {
            assert_eq!(p["current_load"], want, "{p:#}");
            assert_eq!(p["hops_done"], 1, "{p:#}");
            let evidence = p["evidence"].as_str().unwrap();
            assert!(evidence.contains("XMLDefault.cnf.xml"), "{p:#}");
        } else {
            let progress = &p["progress"];
            assert_eq!(progress["files_done"], progress["files_total"], "{p:#}");
            assert_eq!(p["stage_text"], "verifying hop 1/1", "{p:#}");
        }
        // The files it fetched are on its page.
        let mac = p["mac"].as_str().unwrap();
        let page = curl(&format!("http://{api}/api/phones/{mac}"));
        let fetched: Vec<&str> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "tftp_transfer" && e["result"] == "ok")
            .filter_map(|e| e["file"].as_str())
            .collect();
        assert!(
            fetched.contains(&format!("{want}.loads").as_str()),
            "{fetched:?}"
        );
        assert!(fetched.contains(&"XMLDefault.cnf.xml"), "{fetched:?}");
    }
    // Root loads in the API, the incomplete one with what it lacks.
    let fw = curl(&format!("http://{api}/api/firmware"));
    let loads = fw["loads"].as_array().unwrap();
    let partial = loads
        .iter()
        .find(|l| l["name"] == "SIP41.9-4-2SR3-1S")
        .unwrap();
    assert_eq!(partial["source"], "root");
    assert_eq!(partial["complete"], false);
    assert_eq!(partial["missing"][0], lost.as_str());
    // What the phones got is the operator's file, byte for byte.
    let served = net
        .in_server("curl")
        .args(["-s", "-m", "5"])
        .arg(format!("tftp://{}/XMLDefault.cnf.xml", net.server_ip))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&served.stdout), XML_DEFAULT);
    // And over HTTP on 6970, as newer loads ask first.
    let served = net
        .in_server("curl")
        .args(["-s", "-m", "5"])
        .arg(format!("http://{}:6970/xmldefault.cnf.xml", net.server_ip))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&served.stdout), XML_DEFAULT);
    // `phoneboot phones` names the file each phone follows.
    let out = net
        .in_server(BIN)
        .args(["phones", "--server", &format!("http://{api}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("root:XMLDefault.cnf.xml").count(),
        2,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
}
