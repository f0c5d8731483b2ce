//! `phoneboot demo`: a room of simulated phones walking their upgrade paths
//! on a machine with no phones.
//!
//! Everything runs in two network namespaces the demo creates (server and
//! phones, joined by a veth pair), so no real interface ever sees a DHCP
//! packet. The dashboard lives on the server namespace's loopback; the demo
//! proxies it to `--http-listen` in the host namespace, where the browser
//! is. A [`Cleanup`] guard kills the children, deletes the namespaces (and
//! with them the veth pair) and removes the scratch folder on every way out:
//! normal end, error, Ctrl-C, SIGTERM, SIGHUP.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
// Children get their own process group: a Ctrl-C on the terminal reaches
// only the demo, which stops them itself (phones first, then the server)
// instead of racing their own shutdowns.
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Flags of `phoneboot demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How many simulated phones (7940, 7960, 7941 and 7965 in turn).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub phones: u16,
    /// Where the dashboard is served in this (the host's) network namespace.
    #[arg(long, default_value = "127.0.0.1:8067")]
    pub http_listen: SocketAddr,
    /// How long a simulated phone takes to reboot. Real phones take about a
    /// minute; the default keeps each hop visible on the dashboard without
    /// making a newcomer wait long.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub reboot_delay: Duration,
    /// Keep the dashboard up after the phones are done, until Ctrl-C (what
    /// the demo does unless --exit-when-done).
    #[arg(long, conflicts_with = "exit_when_done")]
    pub keep_going: bool,
    /// Stop and clean up as soon as the phones are done; exits 1 unless
    /// every phone reached SIP.
    #[arg(long)]
    pub exit_when_done: bool,
    /// Only these models of the room, comma-separated (7940, 7960, 7941,
    /// 7965) [default: all four].
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
}

/// The loads the walk needs in the library. The start loads (P00303010102,
/// SCCP41.8-3-1S, SCCP45.9-4-2SR3-1S) are what the phones already run.
const LOADS: [&str; 6] = [
    "P00305000500",
    "P00308000900",
    "P0S3-8-12-00",
    "SCCP41.8-5-2S",
    "SIP41.9-4-2SR3-1S",
    "SIP45.9-4-2SR3-1S",
];

/// Big enough that downloads show as progress bars, small enough that the
/// whole room is done in a minute or two.
const IMAGE_SIZE: usize = 300_000;

/// Models in the room, with the load each starts on.
const ROOM: [(&str, &str); 4] = [
    ("7940", "P00303010102"),
    ("7960", "P00303010102"),
    ("7941", "SCCP41.8-3-1S"),
    ("7965", "SCCP45.9-4-2SR3-1S"),
];

/// Private addresses on the veth pair; phones get theirs by DHCP.
const SERVER_IP: &str = "10.231.250.1";
const PREFIX: u8 = 24;

/// The operator API inside the server namespace (its own loopback, so no
/// other program can hold the port).
const INNER_API: &str = "127.0.0.1:8067";

/// Same as phonesim's default, so the `[[phone]]` entries name real phones.
const MAC_BASE: [u8; 6] = [0x00, 0x1e, 0x4a, 0, 0, 0];

const NS_PREFIXES: [&str; 2] = ["pbdemo-srv-", "pbdemo-phones-"];

/// Names of everything the demo creates; the process id keeps two demos
/// (or two tests) apart.
#[derive(Debug, Clone)]
pub struct Names {
    pub server_ns: String,
    pub phones_ns: String,
    pub server_if: String,
    pub phones_if: String,
    pub dir: PathBuf,
}

impl Names {
    pub fn for_pid(pid: u32) -> Names {
        Names {
            server_ns: format!("{}{pid}", NS_PREFIXES[0]),
            phones_ns: format!("{}{pid}", NS_PREFIXES[1]),
            // IFNAMSIZ: at most 15 characters; pids have at most 7 digits.
            server_if: format!("pbd-s{pid}"),
            phones_if: format!("pbd-p{pid}"),
            dir: std::env::temp_dir().join(format!("phoneboot-demo-{pid}")),
        }
    }
}

/// Runs the demo until the phones are done (`--exit-when-done`) or a signal.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "phoneboot demo creates network namespaces: run it with sudo"
    );
    anyhow::ensure!(
        which("ip"),
        "phoneboot demo needs the `ip` command of iproute2 to create network namespaces: install iproute2"
    );
    let exe = std::env::current_exe().context("cannot find the phoneboot program itself")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Declared after the runtime so it is dropped first, while the runtime
    // still exists.
    let mut cleanup = Cleanup::new(Names::for_pid(std::process::id()));
    let result = rt.block_on(demo(&args, &exe, &mut cleanup));
    let created = cleanup.dir_created;
    drop(cleanup);
    if created {
        println!("phoneboot demo: cleaned up (namespaces, processes, temporary files)");
    }
    result
}

async fn demo(args: &DemoArgs, exe: &Path, cleanup: &mut Cleanup) -> anyhow::Result<ExitCode> {
    // First, so that a Ctrl-C during set-up still ends in the cleanup.
    let mut signals = Signals::new()?;
    remove_stale_leftovers();
    let names = cleanup.names.clone();

    // Before any namespace exists: a busy port is the likeliest mistake.
    let listener = tokio::net::TcpListener::bind(args.http_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: another program (a running phoneboot?) holds it; pick another address with --http-listen",
                args.http_listen
            )
        })?;

    let _ = std::fs::remove_dir_all(&names.dir);
    std::fs::create_dir_all(&names.dir)
        .with_context(|| format!("cannot create {}", names.dir.display()))?;
    cleanup.dir_created = true;
    if let Some(bad) = args
        .models
        .iter()
        .find(|m| !ROOM.iter().any(|(r, _)| r == m))
    {
        anyhow::bail!("--models {bad}: the demo's room has 7940, 7960, 7941 and 7965");
    }
    let mix = mix_of(args.phones, &args.models);
    println!(
        "phoneboot demo: making synthetic firmware in {}",
        names.dir.display()
    );
    let dir = names.dir.clone();
    tokio::task::spawn_blocking(move || import_firmware(&dir))
        .await
        .context("the firmware task failed")??;
    let config = names.dir.join("phoneboot.toml");
    std::fs::write(&config, config_text(&names, &mix))
        .with_context(|| format!("cannot write {}", config.display()))?;

    cleanup.namespaces_created = true;
    create_namespaces(&names)?;

    let serve_log = names.dir.join("serve.log");
    let mut serve = Command::new("ip");
    serve
        .args(["netns", "exec", &names.server_ns])
        .arg(exe)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file(&serve_log)?)
        .process_group(0);
    let mut child = serve
        .spawn()
        .context("cannot start phoneboot serve in the server namespace")?;
    let lines = stdout_lines(&mut child);
    cleanup.children.push(child);
    wait_until_serving(lines, &mut signals, cleanup, &serve_log).await?;
    if signals.fired {
        return Ok(ExitCode::SUCCESS);
    }

    let ns_path = PathBuf::from("/var/run/netns").join(&names.server_ns);
    let inner: SocketAddr = INNER_API.parse().context("inner API address")?;
    tokio::spawn(proxy(listener, ns_path, inner));
    println!(
        "phoneboot demo: dashboard at http://{}/ — {} simulated phones are walking their upgrade paths (Ctrl-C to stop and clean up)",
        args.http_listen, args.phones
    );

    let sim_log = names.dir.join("simulate.log");
    let mix_text = mix_text(&mix);
    let mut sim = Command::new("ip");
    sim.args(["netns", "exec", &names.phones_ns])
        .arg(exe)
        .args([
            "simulate",
            "--interface",
            &names.phones_if,
            "--mix",
            &mix_text,
        ])
        .args(["--timeout", "600s"])
        .arg("--reboot-delay")
        .arg(humantime::format_duration(args.reboot_delay).to_string())
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file(&sim_log)?)
        .process_group(0);
    let mut child = sim
        .spawn()
        .context("cannot start phoneboot simulate in the phones namespace")?;
    let report = read_all(&mut child);
    cleanup.children.push(child);
    let sim_index = cleanup.children.len() - 1;

    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = signals.recv() => return Ok(ExitCode::SUCCESS),
            _ = tick.tick() => {
                check_serve(cleanup, &serve_log)?;
                if cleanup.children[sim_index].try_wait()?.is_some() {
                    break;
                }
            }
        }
    }
    let out = report
        .join()
        .map_err(|_| anyhow::anyhow!("the thread reading the simulator's report failed"))?;
    let report: serde_json::Value = serde_json::from_slice(&out).with_context(|| {
        format!(
            "the simulator printed no report; its log ends with:\n{}",
            tail(&sim_log)
        )
    })?;
    let (text, all_sip) = summary(&report);
    print!("{text}");
    if args.exit_when_done {
        return Ok(if all_sip {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    println!(
        "phoneboot demo: the dashboard stays up at http://{}/ (Ctrl-C to stop and clean up)",
        args.http_listen
    );
    loop {
        tokio::select! {
            _ = signals.recv() => return Ok(ExitCode::SUCCESS),
            _ = tick.tick() => check_serve(cleanup, &serve_log)?,
        }
    }
}

/// Ctrl-C, SIGTERM and SIGHUP (a closed terminal) all mean "stop and clean up".
struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
    fired: bool,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        let make = |k| signal(k).context("cannot install the signal handler");
        Ok(Signals {
            int: make(SignalKind::interrupt())?,
            term: make(SignalKind::terminate())?,
            hup: make(SignalKind::hangup())?,
            fired: false,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
        self.fired = true;
        println!("phoneboot demo: stopping");
    }
}

/// Undoes everything the demo created, in the order that works: processes
/// first (a namespace lives on while a process is inside it), then the
/// namespaces (deleting one removes its end of the veth pair, and with it
/// the pair), then the files.
struct Cleanup {
    names: Names,
    children: Vec<Child>,
    namespaces_created: bool,
    dir_created: bool,
}

impl Cleanup {
    fn new(names: Names) -> Cleanup {
        Cleanup {
            names,
            children: Vec::new(),
            namespaces_created: false,
            dir_created: false,
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Last started, first stopped: the phones before the server.
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.namespaces_created {
            for ns in [&self.names.server_ns, &self.names.phones_ns] {
                delete_namespace(ns);
            }
        }
        if self.dir_created {
            let _ = std::fs::remove_dir_all(&self.names.dir);
        }
    }
}

/// Kills whatever still runs inside `ns` (only the demo's own processes can
/// be there), then deletes it.
fn delete_namespace(ns: &str) {
    if let Ok(out) = Command::new("ip")
        .args(["netns", "pids", ns])
        .stderr(Stdio::null())
        .output()
    {
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(Stdio::null())
        .status();
}

/// Namespaces and scratch folders of demos that died without cleaning up
/// (SIGKILL, power loss): their process id no longer exists.
fn remove_stale_leftovers() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let dead = |pid: &str| pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        if NS_PREFIXES
            .iter()
            .any(|p| ns.strip_prefix(p).is_some_and(dead))
        {
            tracing::info!("removing {ns}, left by a demo that did not clean up");
            delete_namespace(ns);
        }
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name();
            if let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("phoneboot-demo-"))
            {
                if dead(pid) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

fn create_namespaces(n: &Names) -> anyhow::Result<()> {
    ip(&["netns", "add", &n.server_ns])?;
    ip(&["netns", "add", &n.phones_ns])?;
    // Created directly inside the namespaces: the host never has the link.
    ip(&[
        "link",
        "add",
        &n.server_if,
        "netns",
        &n.server_ns,
        "type",
        "veth",
        "peer",
        "name",
        &n.phones_if,
        "netns",
        &n.phones_ns,
    ])?;
    let addr = format!("{SERVER_IP}/{PREFIX}");
    ip(&[
        "-n",
        &n.server_ns,
        "addr",
        "add",
        &addr,
        "dev",
        &n.server_if,
    ])?;
    for (ns, dev) in [(&n.server_ns, &n.server_if), (&n.phones_ns, &n.phones_if)] {
        ip(&["-n", ns, "link", "set", dev, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    Ok(())
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip`: install iproute2")?;
    anyhow::ensure!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// `phones` phones spread over the four models, in `ROOM` order (the order
/// phonesim hands out MACs in): `(model, start load, count)`, no zero counts.
pub fn mix(phones: u16) -> Vec<(&'static str, &'static str, u16)> {
    mix_of(phones, &[])
}

/// [`mix`] over the models of the room named in `only` (all when empty).
pub fn mix_of(phones: u16, only: &[String]) -> Vec<(&'static str, &'static str, u16)> {
    let room: Vec<(&'static str, &'static str)> = ROOM
        .iter()
        .copied()
        .filter(|(m, _)| only.is_empty() || only.iter().any(|o| o == m))
        .collect();
    let n = room.len().max(1) as u16;
    let per = phones / n;
    let extra = phones % n;
    room.iter()
        .zip(0u16..)
        .map(|(&(model, load), i)| (model, load, per + u16::from(i < extra)))
        .filter(|&(_, _, n)| n > 0)
        .collect()
}

/// The SIP load of [`LOADS`] that `model` runs: where its walk ends, so
/// its simulated phone stops there (and not on the first load it settles
/// on while it waits for the server's reboot order).
fn expected_load(model: &str) -> Option<&'static str> {
    let model = cisco::Model::from_name(model)?;
    LOADS.into_iter().find(|l| {
        cisco::LoadName::parse(l)
            .is_ok_and(|l| l.fits(model) && l.protocol() == Some(cisco::Protocol::Sip))
    })
}

/// The `--mix` of `phoneboot simulate` for the room:
/// `MODEL:LOAD:COUNT:EXPECT`, entries joined by commas.
pub fn mix_text(mix: &[(&str, &str, u16)]) -> String {
    mix.iter()
        .map(|(model, load, n)| match expected_load(model) {
            Some(e) => format!("{model}:{load}:{n}:{e}"),
            None => format!("{model}:{load}:{n}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Synthetic bundles (real names and `.loads` structure, made-up images)
/// imported into `<dir>/data/firmware`, where `serve` looks.
fn import_firmware(dir: &Path) -> anyhow::Result<()> {
    let bundles = dir.join("bundles");
    std::fs::create_dir_all(&bundles)
        .with_context(|| format!("cannot create {}", bundles.display()))?;
    let mut lib = library::Library::open(dir.join("data").join("firmware"))
        .context("cannot open the demo's firmware library")?;
    for load in LOADS {
        let path = library::fixtures::Bundle::new(load)
            .and_then(|b| {
                b.image_size(IMAGE_SIZE)
                    .write(&bundles, library::Format::Zip)
            })
            .with_context(|| format!("cannot write the synthetic bundle for {load}"))?;
        lib.import(&path, &library::ImportOptions::default())
            .with_context(|| format!("cannot import the synthetic bundle for {load}"))?;
    }
    let _ = std::fs::remove_dir_all(&bundles);
    Ok(())
}

/// What an operator with this room would write, plus quick DHCP start-up.
pub fn config_text(names: &Names, mix: &[(&str, &str, u16)]) -> String {
    let dir = names.dir.display();
    let mut s = format!(
        "# Written by `phoneboot demo`; removed when the demo ends.\n\
         [server]\ninterface = \"{}\"\ndata_dir = \"{dir}/data\"\nroot = \"{dir}/root\"\n\n\
         [tftp]\nlisten = \"{SERVER_IP}:69\"\n\n\
         [http]\nlisten = \"{INNER_API}\"\n\n\
         [dhcp]\nprobe_wait = \"300ms\"\nconflict_check = false\n\n\
         [sip]\nserver = \"{SERVER_IP}\"\n\n\
         [defaults]\nprotocol = \"sip\"\n\n\
         [models.7940]\nstart_load = \"P00303010102\"\n\
         [models.7960]\nstart_load = \"P00303010102\"\n\
         [families.79x1]\nstart_load = \"SCCP41.8-3-1S\"\n\
         [families.79x5]\nstart_load = \"SCCP45.9-4-2SR3-1S\"\n\n\
         [provision]\nsettle = \"5s\"\n",
        names.server_if
    );
    // The first phone of each model gets a name and two SIP lines (every
    // model here has at least two), as phones on people's desks would.
    let people = [
        ("Reception", 101),
        ("Sales", 201),
        ("Workshop", 301),
        ("Manager", 401),
    ];
    let mut index: u64 = 0;
    for ((model, _, count), (label, ext)) in mix.iter().zip(people) {
        let mac = nth_mac(index);
        let _ = write!(
            s,
            "\n[[phone]]\nmac = \"{mac}\"\nmodel = \"{model}\"\nlabel = \"{label}\"\nlines = [\n"
        );
        for e in ext..ext + 2 {
            let _ = writeln!(
                s,
                "  {{ extension = \"{e}\", display = \"{label} {e}\", auth = \"{e}\", password = \"demo-{e}\" }},"
            );
        }
        s.push_str("]\n");
        index += u64::from(*count);
    }
    s
}

fn nth_mac(i: u64) -> String {
    let mut v = [0u8; 8];
    v[2..].copy_from_slice(&MAC_BASE);
    let b = u64::from_be_bytes(v).wrapping_add(i).to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

fn log_file(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))
}

/// The last lines of a child's log, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The child's stdout, line by line, on a channel (a thread reads it, so
/// the child never blocks on a full pipe).
fn stdout_lines(child: &mut Child) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                tracing::debug!("serve: {line}");
                let _ = tx.send(line);
            }
        });
    }
    rx
}

fn read_all(child: &mut Child) -> std::thread::JoinHandle<Vec<u8>> {
    let out = child.stdout.take();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut out) = out {
            let _ = out.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits for serve's "DHCP on" line: by then every listener is bound.
async fn wait_until_serving(
    mut lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    signals: &mut Signals,
    cleanup: &mut Cleanup,
    log: &Path,
) -> anyhow::Result<()> {
    let deadline = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = signals.recv() => return Ok(()),
            _ = &mut deadline => anyhow::bail!(
                "phoneboot serve did not start within 60s; its log ends with:\n{}", tail(log)
            ),
            line = lines.recv() => match line {
                Some(l) if l.starts_with("phoneboot: DHCP on") => break,
                Some(_) => {}
                None => {
                    check_serve(cleanup, log)?;
                    anyhow::bail!("phoneboot serve closed its output; its log ends with:\n{}", tail(log));
                }
            },
        }
    }
    // Keep draining, so serve never blocks on stdout.
    tokio::spawn(async move { while lines.recv().await.is_some() {} });
    Ok(())
}

/// Fails when the server (always the first child) has exited.
fn check_serve(cleanup: &mut Cleanup, log: &Path) -> anyhow::Result<()> {
    if let Some(serve) = cleanup.children.first_mut() {
        if let Some(status) = serve.try_wait()? {
            anyhow::bail!(
                "phoneboot serve stopped ({status}); its log ends with:\n{}",
                tail(log)
            );
        }
    }
    Ok(())
}

/// Accepts dashboard connections here and connects each one to the API in
/// the server namespace.
async fn proxy(listener: tokio::net::TcpListener, ns: PathBuf, target: SocketAddr) {
    loop {
        let mut inbound = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("dashboard proxy: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ns = ns.clone();
        tokio::spawn(async move {
            match connect_in_namespace(ns, target).await {
                Ok(mut outbound) => {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
                Err(e) => tracing::warn!("dashboard proxy: cannot reach the API: {e}"),
            }
        });
    }
}

/// Connects to `target` from inside the namespace at `ns`. The namespace is
/// per thread, so a fresh thread enters it and connects; the socket stays
/// in that namespace wherever it is used afterwards.
async fn connect_in_namespace(
    ns: PathBuf,
    target: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let connect = || -> std::io::Result<std::net::TcpStream> {
            let file = std::fs::File::open(&ns)?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
            let stream = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
            stream.set_nonblocking(true)?;
            Ok(stream)
        };
        let _ = tx.send(connect());
    });
    let stream = rx
        .await
        .map_err(|_| std::io::Error::other("the connecting thread died"))??;
    tokio::net::TcpStream::from_std(stream)
}

/// The end of the walk in a few lines, and whether every phone settled on
/// a SIP load.
pub fn summary(report: &serde_json::Value) -> (String, bool) {
    let phones = report["phones"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let is_sip = |load: &str| {
        cisco::LoadName::parse(load).ok().and_then(|l| l.protocol()) == Some(cisco::Protocol::Sip)
    };
    let mut by_model: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    let mut behind = Vec::new();
    for p in phones {
        let model = p["model"].as_str().unwrap_or("?");
        let load = p["final_load"].as_str().unwrap_or("?");
        *by_model.entry(model).or_default().entry(load).or_default() += 1;
        if p["state"] != "settled" || !is_sip(load) {
            behind.push(format!(
                "  {} {model} {}: {load}{}",
                p["mac"].as_str().unwrap_or("?"),
                p["state"].as_str().unwrap_or("?"),
                p["reason"]
                    .as_str()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
    }
    let total = phones.len();
    let all_sip = total > 0 && behind.is_empty();
    let hops: usize = phones
        .iter()
        .map(|p| p["hops"].as_array().map_or(0, Vec::len))
        .sum();
    let mut s = format!(
        "phoneboot demo: done in {:.1}s: {} of {total} phones settled, {hops} hop{}; ",
        report["elapsed_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        report["settled"].as_u64().unwrap_or(0),
        if hops == 1 { "" } else { "s" },
    );
    if all_sip {
        s.push_str("every phone reached SIP\n");
    } else {
        let _ = writeln!(s, "{} did not reach SIP:", behind.len());
        for b in &behind {
            let _ = writeln!(s, "{b}");
        }
    }
    for (model, loads) in &by_model {
        let list: Vec<String> = loads.iter().map(|(l, n)| format!("{n} × {l}")).collect();
        let _ = writeln!(s, "  {model}: {}", list.join(", "));
    }
    (s, all_sip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_is_spread_over_the_four_models() {
        assert_eq!(
            mix(6),
            vec![
                ("7940", "P00303010102", 2),
                ("7960", "P00303010102", 2),
                ("7941", "SCCP41.8-3-1S", 1),
                ("7965", "SCCP45.9-4-2SR3-1S", 1),
            ]
        );
        assert_eq!(mix(1).len(), 1);
        assert_eq!(mix(24).iter().map(|m| m.2).sum::<u16>(), 24);
        let only = mix_of(101, &["7940".to_owned(), "7960".to_owned()]);
        assert_eq!(
            only,
            [("7940", "P00303010102", 51), ("7960", "P00303010102", 50)]
        );
    }

    #[test]
    fn every_phone_of_the_room_expects_its_sip_load() {
        let text = mix_text(&mix(4));
        assert_eq!(
            text,
            "7940:P00303010102:1:P0S3-8-12-00,7960:P00303010102:1:P0S3-8-12-00,\
             7941:SCCP41.8-3-1S:1:SIP41.9-4-2SR3-1S,7965:SCCP45.9-4-2SR3-1S:1:SIP45.9-4-2SR3-1S"
        );
        let phones = phonesim::parse_mix(&text).unwrap();
        assert!(phones.iter().all(|p| p.expect.is_some()), "{text}");
    }

    #[test]
    fn the_config_is_valid_and_names_the_first_phone_of_each_model() {
        let names = Names::for_pid(4_194_304);
        assert!(names.server_if.len() <= 15 && names.phones_if.len() <= 15);
        let text = config_text(&names, &mix(8));
        let cfg = crate::config::Config::parse_str(&text, "demo.toml")
            .unwrap_or_else(|e| panic!("{e:#}\n{text}"));
        assert_eq!(cfg.interface.as_deref(), Some("pbd-s4194304"));
        // Phones 0, 2, 4 and 6 are the first 7940, 7960, 7941 and 7965.
        for mac in [
            "00:1e:4a:00:00:00",
            "00:1e:4a:00:00:02",
            "00:1e:4a:00:00:04",
            "00:1e:4a:00:00:06",
        ] {
            assert!(text.contains(mac), "{mac} missing:\n{text}");
        }
    }

    #[test]
    fn the_summary_says_who_did_not_reach_sip() {
        let report = serde_json::json!({
            "settled": 2, "elapsed_ms": 1500,
            "phones": [
                {"model": "7960", "mac": "m1", "state": "settled", "final_load": "P0S3-8-12-00",
                 "hops": [{"from": "P00308000900", "to": "P0S3-8-12-00"}]},
                {"model": "7941", "mac": "m2", "state": "settled", "final_load": "SCCP41.8-5-2S"},
            ]
        });
        let (text, ok) = summary(&report);
        assert!(!ok);
        assert!(text.contains("1 did not reach SIP"), "{text}");
        assert!(text.contains("m2 7941 settled: SCCP41.8-5-2S"), "{text}");
        let mut report = report;
        report["phones"][1]["final_load"] = "SIP41.9-4-2SR3-1S".into();
        let (text, ok) = summary(&report);
        assert!(ok);
        assert!(
            text.contains("2 of 2 phones settled, 1 hop; every phone reached SIP"),
            "{text}"
        );
        assert!(text.contains("7941: 1 × SIP41.9-4-2SR3-1S"), "{text}");
    }
}
