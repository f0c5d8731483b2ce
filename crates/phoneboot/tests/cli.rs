//! The command line as an operator meets it: defaults, config errors, and
//! what happens when the TFTP port cannot be bound.

mod common;

use std::process::{Command, Stdio};

use common::*;

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn port_in_use_says_who_to_look_for() {
    let s = Scratch::new("inuse");
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let (code, _, err) = output(
        Command::new(BIN)
            .args(["serve", "--tftp-listen", &addr, "--root"])
            .arg(s.path().join("r"))
            .arg("--data-dir")
            .arg(s.path().join("d")),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(&format!("phoneboot: cannot bind the TFTP port {addr}")),
        "{err}"
    );
    assert!(
        err.contains("another program already serves this port"),
        "{err}"
    );
    assert!(err.contains("--tftp-listen"), "{err}");
}

#[test]
fn privileged_port_as_an_ordinary_user_explains_the_fix() {
    require("setpriv");
    let s = Scratch::new("eacces");
    // Files must be reachable for the unprivileged user.
    std::fs::set_permissions(
        s.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let (code, _, err) = output(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                BIN,
                "serve",
                "--tftp-listen",
                "127.0.0.1:69",
                "--root",
            ])
            .arg(s.path().join("r"))
            .arg("--data-dir")
            .arg(s.path().join("d")),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(
        err.contains("CAP_NET_BIND_SERVICE") && err.contains("setcap"),
        "{err}"
    );
}

#[test]
fn config_errors_name_the_file_and_key() {
    let s = Scratch::new("badcfg");
    let cfg = s.path().join("phoneboot.toml");
    std::fs::write(&cfg, "[tftp]\nmax_blksize = 70000\n").unwrap();
    let (code, _, err) = output(Command::new(BIN).arg("serve").arg("--config").arg(&cfg));
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "{}: tftp.max_blksize: 70000 is outside 512..=65464",
            cfg.display()
        )),
        "{err}"
    );

    std::fs::write(&cfg, "[tftp]\nlisen = \"0.0.0.0:69\"\n").unwrap();
    let (code, _, err) = output(Command::new(BIN).arg("check-config").arg(&cfg));
    assert_eq!(code, 2);
    assert!(err.contains("unknown field `lisen`"), "{err}");

    let (code, _, err) = output(
        Command::new(BIN)
            .arg("check-config")
            .arg(s.path().join("missing.toml")),
    );
    assert_eq!(code, 2);
    assert!(err.contains("cannot read config file"), "{err}");
}

#[test]
fn check_config_accepts_the_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/phoneboot.toml");
    let (code, out, err) = output(Command::new(BIN).arg("check-config").arg(example));
    // Its data dir (/var/lib/phoneboot) holds no firmware here: the one
    // load it names exactly is reported, by entry, and nothing else.
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("[families.79x1]: load: SIP41.9-4-2SR3-1S is not in the firmware library"),
        "{err}"
    );
    assert!(out.contains("tftp root:  /srv/tftp"), "{out}");
    assert!(
        out.contains("phones:     2 configured, default protocol SIP, SIP server 192.168.1.10"),
        "{out}"
    );
}

/// `phoneboot serve` with no arguments, as the README's run command: inside
/// a fresh network namespace (only its own loopback), from an empty folder.
#[test]
fn serve_with_no_arguments_uses_the_documented_defaults() {
    require("ip");
    require("tftp");
    let s = Scratch::new("defaults");
    let ns = format!("pbdef{}", std::process::id() % 10000);
    let _ = Command::new("ip")
        .args(["netns", "del", &ns])
        .stderr(Stdio::null())
        .status();
    run(Command::new("ip").args(["netns", "add", &ns]));
    struct Ns(String);
    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _guard = Ns(ns.clone());
    run(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]));
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns, BIN, "serve"])
        .current_dir(s.path());
    let server = Server::spawn(&mut cmd);
    assert_eq!(server.addr.to_string(), "0.0.0.0:69");
    assert!(
        server.stdout_line.contains("tftpboot") && server.stdout_line.contains("phoneboot-data"),
        "{}",
        server.stdout_line
    );
    assert!(s.path().join("tftpboot").is_dir());
    assert!(s.path().join("phoneboot-data").is_dir());
    write_file(&s.path().join("tftpboot/Chirp1.raw"), b"ring ring\n");
    let fetch = |name: &str| {
        let out = s.path().join("got");
        let _ = std::fs::remove_file(&out);
        run(Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "tftp",
                "-m",
                "binary",
                "127.0.0.1",
                "-c",
                "get",
                name,
            ])
            .arg(&out));
        std::fs::read(&out).unwrap()
    };
    assert_eq!(fetch("Chirp1.raw"), b"ring ring\n");
    // Generated from the built-in desired state, not read from the root.
    let xml = String::from_utf8(fetch("XMLDefault.cnf.xml")).unwrap();
    assert!(
        xml.contains("<Default>") && xml.contains("<callManagerGroup>"),
        "{xml}"
    );
    let status = server.stop();
    assert!(
        status.success(),
        "SIGTERM should end it cleanly: {status:?}"
    );
}

#[test]
fn dhcp_option_150_prints_every_servers_syntax() {
    let (code, out, err) =
        output(Command::new(BIN).args(["dhcp-option", "150", "192.168.1.1", "192.168.1.2"]));
    assert_eq!(code, 0, "{err}");
    // The seed's tftpd32 value for 192.168.1.1, and network-order hex.
    assert!(out.contains("0x0101A8C0"), "{out}");
    assert!(out.contains("c0a80101c0a80102"), "{out}");
    for server in ["dnsmasq", "kea", "isc", "mikrotik", "ios"] {
        assert!(
            out.to_lowercase().contains(server),
            "no {server} form in:\n{out}"
        );
    }
    let (code, _, err) = output(Command::new(BIN).args(["dhcp-option", "150", "not-an-ip"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn check_config_names_loads_missing_from_the_library() {
    let s = Scratch::new("missing-load");
    let config = s.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = {:?}\n[[phone]]\nmac = \"001e4a000001\"\nmodel = \"7941\"\nload = \"SIP41.9-4-2SR3-1S\"\n",
            s.path().join("data")
        ),
    )
    .unwrap();
    let (code, _, err) = output(Command::new(BIN).arg("check-config").arg(&config));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "phone 00:1e:4a:00:00:01: load: SIP41.9-4-2SR3-1S is not in the firmware library"
        ),
        "{err}"
    );
}

#[test]
fn asterisk_pjsip_writes_the_file_atomically() {
    let s = Scratch::new("pjsip");
    let config = s.path().join("p.toml");
    std::fs::write(
        &config,
        "[[phone]]\nmac = \"001e4a000001\"\nmodel = \"7960\"\nlines = [{ extension = \"201\", password = \"s3cret\" }]\n",
    )
    .unwrap();
    let out_file = s.path().join("phoneboot-pjsip.conf");
    let (code, stdout, err) = output(
        Command::new(BIN)
            .args(["asterisk", "pjsip", "--config"])
            .arg(&config)
            .arg("--output")
            .arg(&out_file),
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty(), "{stdout}");
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.contains("[201]\ntype=endpoint\n"), "{text}");
    assert!(text.contains("[201-auth]\ntype=auth\n"), "{text}");
    assert!(text.contains("password=s3cret\n"), "{text}");
    let (code, stdout, _) = output(
        Command::new(BIN)
            .args(["asterisk", "pjsip", "--config"])
            .arg(&config),
    );
    assert_eq!(code, 0);
    assert_eq!(stdout, text, "stdout and --output agree");
}

/// The shipped unit passes `systemd-analyze verify`, and its ExecStart
/// (with the binary and config swapped for the test's) starts the server:
/// run inside a fresh network namespace so port 69 is free.
#[test]
fn systemd_unit_verifies_and_its_execstart_runs() {
    require("systemd-analyze");
    require("ip");
    let s = Scratch::new("unit");
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contrib/phoneboot.service"
    ))
    .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart line");
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(words[0], "/usr/local/bin/phoneboot", "{exec}");
    let local_unit = s.path().join("phoneboot.service");
    std::fs::write(&local_unit, unit.replace("/usr/local/bin/phoneboot", BIN)).unwrap();
    let (code, _, err) = output(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(&local_unit),
    );
    assert_eq!(code, 0, "{err}");

    let config = s.path().join("phoneboot.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = {:?}\nroot = {:?}\n",
            s.path().join("data"),
            s.path().join("root")
        ),
    )
    .unwrap();
    let ns = format!("pbunit{}", std::process::id() % 10000);
    let _ = Command::new("ip")
        .args(["netns", "del", &ns])
        .stderr(Stdio::null())
        .status();
    run(Command::new("ip").args(["netns", "add", &ns]));
    struct Ns(String);
    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _guard = Ns(ns.clone());
    run(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]));
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns, BIN]);
    for w in &words[1..] {
        if *w == "/etc/phoneboot/phoneboot.toml" {
            cmd.arg(&config);
        } else {
            cmd.arg(w);
        }
    }
    let server = Server::spawn(&mut cmd);
    assert_eq!(server.addr.to_string(), "0.0.0.0:69");
    assert!(server.stop().success());
}
