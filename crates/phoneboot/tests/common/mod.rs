//! Test support: run the real `phoneboot` binary, talk to it with real
//! clients, read its events. Every server listens on loopback (or inside a
//! network namespace the test creates) and is killed on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_phoneboot");

/// A scratch folder removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("phoneboot-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails loudly when a peer program is missing: `.ci/run` installs them, and
/// a test that silently skips would hide a broken install step.
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{program} is not installed; run `.ci/install-peers` (the test command does)"
    );
}

/// A running `phoneboot serve`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    /// Every stdout line so far (the first is `stdout_line`).
    stdout: Arc<Mutex<Vec<String>>>,
    pub stdout_line: String,
}

impl Server {
    /// Starts `phoneboot serve` on 127.0.0.1, ephemeral ports (TFTP, API,
    /// phone HTTP, unless `extra` names them), with `root`.
    pub fn start(root: &Path, data: &Path, extra: &[&str]) -> Server {
        let mut args = vec![
            "serve".to_owned(),
            "--tftp-listen".into(),
            "127.0.0.1:0".into(),
            "--root".into(),
            root.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
        ];
        for flag in ["--http-listen", "--phone-http-listen"] {
            if !extra.contains(&flag) {
                args.extend([flag.to_owned(), "127.0.0.1:0".to_owned()]);
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::spawn(Command::new(BIN).args(&args))
    }

    /// Spawns a prepared command (e.g. under `ip netns exec`) and waits for
    /// its "listening" line.
    pub fn spawn(cmd: &mut Command) -> Server {
        let mut child = cmd
            .arg("--log-format")
            .arg("json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn phoneboot");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // Keep draining stdout so the server never blocks on a full pipe.
        let out_lines = Arc::new(Mutex::new(vec![first.clone()]));
        let out_sink = out_lines.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                out_sink.lock().unwrap().push(line);
            }
        });
        let addr = first
            .split_whitespace()
            .find_map(|w| w.trim_end_matches(',').parse::<SocketAddr>().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "phoneboot did not start: stdout {first:?}, stderr {:?}",
                    lines.lock().unwrap()
                )
            });
        Server {
            child,
            addr,
            lines,
            stdout: out_lines,
            stdout_line: first,
        }
    }

    /// The address on the stdout line that starts with `prefix` (waits for
    /// it: the lines are printed once every listener is bound).
    pub fn stdout_addr(&self, prefix: &str) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.stdout.lock().unwrap().iter().find_map(|l| {
                l.strip_prefix(prefix)?
                    .split_whitespace()
                    .next()?
                    .trim_start_matches("http://")
                    .parse::<SocketAddr>()
                    .ok()
            });
            if let Some(a) = found {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix:?} line on stdout: {:?}\n{}",
                self.stdout.lock().unwrap(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every stdout line so far, once the API line is out (start-up is over).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.api_addr();
        self.stdout.lock().unwrap().clone()
    }

    /// The operator API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.stdout_addr("phoneboot: API on ")
    }

    /// The phone HTTP listener's address.
    pub fn phone_http_addr(&self) -> SocketAddr {
        self.stdout_addr("phoneboot: phone HTTP on ")
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every event logged so far, as JSON.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
            .filter_map(|e| serde_json::from_str(&e).ok())
            .collect()
    }

    pub fn log_text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until `n` transfer events for `file` have arrived. Events are
    /// written after the transfer ends, so this waits on the process, not on
    /// a guess about timing.
    pub fn transfers_for(&self, file: &str, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found: Vec<_> = self
                .events()
                .into_iter()
                .filter(|e| e["type"] == "tftp_transfer" && e["file"] == file)
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {n} transfer events for {file:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log contains `needle`. A refusal is logged after the
    /// client got its error, so a check right after the client returns races.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{needle:?} never logged:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Sends SIGTERM and waits for the exit, keeping the log readable (for
    /// lines written at shutdown).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().unwrap()
    }

    /// Stops the server with SIGTERM and returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Random bytes from a seed (xorshift), so files differ but tests repeat.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

pub fn write_file(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::File::create(path)
        .unwrap()
        .write_all(data)
        .unwrap();
}

/// Runs a command, panicking with its output if it fails.
pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace pair joined by a veth, removed on drop. Names carry
/// the process id so parallel runs do not collide; leftovers of a crashed
/// run with the same names are removed first.
pub struct NetnsPair {
    pub server_ns: String,
    pub client_ns: String,
    pub server_ip: String,
    pub client_ip: String,
}

impl NetnsPair {
    pub fn new(tag: &str, subnet_octet: u8) -> NetnsPair {
        let id = std::process::id() % 10000;
        let pair = NetnsPair {
            server_ns: format!("pb{tag}s{id}"),
            client_ns: format!("pb{tag}c{id}"),
            server_ip: format!("10.231.{subnet_octet}.1"),
            client_ip: format!("10.231.{subnet_octet}.2"),
        };
        pair.cleanup();
        let veth_s = format!("v{tag}s{id}");
        let veth_c = format!("v{tag}c{id}");
        let sh = |args: &str| {
            run(Command::new("sh").arg("-c").arg(args));
        };
        sh(&format!("ip netns add {}", pair.server_ns));
        sh(&format!("ip netns add {}", pair.client_ns));
        sh(&format!(
            "ip link add {veth_s} netns {} type veth peer name {veth_c} netns {}",
            pair.server_ns, pair.client_ns
        ));
        for (ns, dev, ip) in [
            (&pair.server_ns, &veth_s, &pair.server_ip),
            (&pair.client_ns, &veth_c, &pair.client_ip),
        ] {
            sh(&format!("ip -n {ns} addr add {ip}/24 dev {dev}"));
            sh(&format!("ip -n {ns} link set {dev} up"));
            sh(&format!("ip -n {ns} link set lo up"));
        }
        pair
    }

    pub fn in_server(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.server_ns, program]);
        c
    }

    pub fn in_client(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.client_ns, program]);
        c
    }

    fn cleanup(&self) {
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl NetnsPair {
    /// dnsmasq as a rogue DHCP server on the client side of the segment
    /// (`client_if`, which must have an address), leasing `.100`–`.150` of
    /// the pair's /24; its files go in `dir`.
    pub fn rogue_dnsmasq(&self, client_if: &str, dir: &Path) -> Child {
        let net = self.client_ip.rsplit_once('.').unwrap().0;
        self.in_client("dnsmasq")
            .args([
                "--keep-in-foreground",
                "-C",
                "/dev/null",
                "--port=0",
                "--no-ping",
                "--bind-interfaces",
            ])
            .arg(format!("--interface={client_if}"))
            .arg(format!("--dhcp-range={net}.100,{net}.150,255.255.255.0,1h"))
            .arg(format!(
                "--dhcp-leasefile={}",
                dir.join("dnsmasq.leases").display()
            ))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// What the hostile-name corpus expects outside the root.
pub const SECRET: &[u8] = b"TOP-SECRET-OUTSIDE-ROOT";

/// A root for the hostile-name corpus: `ok.txt`, `big.bin`, a folder, and
/// symlinks that lead out of the root to [`SECRET`]. Returns the root.
pub fn hostile_root(scratch: &Scratch) -> PathBuf {
    let root = scratch.path().join("root");
    write_file(&root.join("ok.txt"), b"fine\n");
    write_file(&root.join("big.bin"), &random_bytes(512 * 200, 5));
    std::fs::create_dir_all(root.join("dir")).unwrap();
    write_file(&scratch.path().join("secret"), SECRET);
    std::os::unix::fs::symlink(scratch.path().join("secret"), root.join("escape")).unwrap();
    std::os::unix::fs::symlink(scratch.path(), root.join("up")).unwrap();
    root
}

/// Hostile and odd file names with the TFTP error code each must get, in a
/// [`hostile_root`]. TFTP and phone HTTP both run it (HTTP maps the code to
/// its status).
pub fn hostile_names() -> Vec<(Vec<u8>, u16)> {
    let long = "a".repeat(300);
    let cases: Vec<(&[u8], u16)> = vec![
        (b"../etc/passwd", 2),
        (b"..\\..\\etc\\passwd", 2),
        (b"a/../../secret", 2),
        (b"/etc/passwd", 2),
        (b"\\etc\\passwd", 2),
        (b"\\\\host\\share\\x", 2),
        (b"C:\\boot.ini", 2),
        (b"c:secret", 2),
        (b"/dev/zero", 2),
        (b"name\x01with-control", 2),
        (long.as_bytes(), 2),
        (b"escape", 2),
        (b"ESCAPE", 2),
        (b"up/secret", 2),
        (b"dir", 2),
        (b"CON", 1),
        (b"NUL", 1),
        (b"aux.txt", 1),
        (b"missing.cnf.xml", 1),
        (b"\xff\xfe", 4),
    ];
    cases.into_iter().map(|(n, c)| (n.to_vec(), c)).collect()
}

/// Imports synthetic bundles of `loads` into the library under `data`
/// with `phoneboot firmware import`, as an operator would.
pub fn import_synthetic(scratch: &Scratch, data: &Path, loads: &[&str]) {
    let dir = scratch.path().join("bundles");
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["firmware", "import"]);
    for load in loads {
        let bundle = library::fixtures::Bundle::new(load)
            .unwrap()
            .write(&dir, library::Format::Zip)
            .unwrap();
        cmd.arg(bundle);
    }
    let out = cmd.arg("--data-dir").arg(data).output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A phone asks for `file` over TFTP; the answer (the file's first block or
/// "not found") is read and dropped. The engine sees every request.
pub fn tftp_ask(server: &Server, file: &str) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(file.as_bytes());
    rrq.extend_from_slice(b"\0octet\0");
    sock.send_to(&rrq, ("127.0.0.1", server.port())).unwrap();
    let mut buf = [0u8; 600];
    sock.recv_from(&mut buf).unwrap();
}

/// One HTTP/1.1 exchange over a fresh connection: `(status, head, body)`.
/// Raw, so tests can send what curl would refuse or normalise.
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let body = buf[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    (status, head, body)
}

/// `GET path` with optional extra header lines (each ending in CRLF).
pub fn http_get(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
) -> (u16, String, Vec<u8>) {
    http_raw(
        addr,
        format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}\r\n")
            .as_bytes(),
    )
}

/// One end of an SCCP connection, played by the test.
pub struct SccpPhone {
    pub stream: std::net::TcpStream,
    decoder: sccp::Decoder,
    pending: Vec<u8>,
}

#[allow(dead_code)]
impl SccpPhone {
    pub fn connect(from: &str, to: std::net::SocketAddr) -> SccpPhone {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let from: std::net::SocketAddr = format!("{from}:0").parse().unwrap();
        socket.bind(&from.into()).unwrap();
        socket.connect(&to.into()).unwrap();
        let stream: std::net::TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        SccpPhone {
            stream,
            decoder: sccp::Decoder::new(),
            pending: Vec::new(),
        }
    }

    pub fn send(&mut self, m: sccp::Message) {
        let bytes = sccp::Frame::new(0, m).to_bytes().unwrap();
        self.stream.write_all(&bytes).unwrap();
    }

    /// The next message, or `None` when the server closed the connection.
    pub fn recv(&mut self) -> Option<sccp::Message> {
        loop {
            let mut input = self.pending.as_slice();
            let frame = self
                .decoder
                .decode(&mut input)
                .expect("server frames parse");
            self.pending = input.to_vec();
            if let Some(f) = frame {
                return Some(f.message);
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading from phoneboot: {e}"),
            }
        }
    }

    pub fn register(
        &mut self,
        name: &str,
        device: sccp::DeviceType,
        version: u8,
        load: Option<&str>,
    ) {
        self.send(sccp::Message::Register(sccp::wire::Register {
            device_name: name.into(),
            device_type: device,
            protocol_version: version,
            load_info: load.map(str::to_owned),
            ..sccp::wire::Register::default()
        }));
    }
}

/// tcpdump writing one interface's traffic to a pcap, for tshark to judge.
pub struct Capture {
    child: Child,
    pcap: PathBuf,
    /// tcpdump's stderr after its "listening on" line (its counts at exit).
    stderr: std::process::ChildStderr,
}

#[allow(dead_code)]
impl Capture {
    /// Starts `tcpdump` (a command: the host's, or `ip netns exec …`) on
    /// `iface` with `filter`; returns once it says it is listening.
    pub fn start(mut tcpdump: Command, iface: &str, filter: &str, pcap: &Path) -> Capture {
        // -Z root: Debian's tcpdump would drop to its own user and fail to
        // write a scratch folder; --immediate-mode: no packet waits in a
        // buffer when the capture is stopped.
        let mut child = tcpdump
            .args(["-i", iface, "-U", "--immediate-mode", "-Z", "root", "-w"])
            .arg(pcap)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tcpdump");
        let mut err = child.stderr.take().expect("tcpdump's stderr");
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !String::from_utf8_lossy(&seen).contains("listening on") {
            assert_eq!(
                err.read(&mut byte).unwrap_or(0),
                1,
                "tcpdump ended: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.push(byte[0]);
        }
        Capture {
            child,
            pcap: pcap.to_owned(),
            stderr: err,
        }
    }

    /// tshark's verbose dissection of the capture with `decode_as` (`-d`
    /// values) and an optional display filter. tcpdump may lag behind under
    /// load, so the file is read until `complete` says the traffic the test
    /// made is in it (or 20 s pass); then the capture stops and the whole
    /// file is dissected once more.
    pub fn dissect(
        mut self,
        decode_as: &[String],
        display: Option<&str>,
        complete: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !complete(&self.tshark(decode_as, display).1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let counts = self.halt();
        let (ok, verbose, err) = self.tshark(decode_as, display);
        assert!(ok, "tshark: {err}");
        if !complete(&verbose) {
            // Kept for a look with tshark: the scratch folder goes away.
            let dir =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/captures");
            let _ = std::fs::create_dir_all(&dir);
            let kept = dir.join(self.pcap.file_name().unwrap_or_default());
            let _ = std::fs::copy(&self.pcap, &kept);
            panic!(
                "the capture lacks the traffic the test made (kept in {}); tcpdump said: {counts}\n{verbose}",
                kept.display()
            );
        }
        verbose
    }

    /// Stops tcpdump (the pcap stays for the caller); returns its counts.
    pub fn stop(mut self) -> String {
        self.halt()
    }

    fn halt(&mut self) -> String {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let mut counts = String::new();
        let _ = self.stderr.read_to_string(&mut counts);
        counts
    }

    fn tshark(&self, decode_as: &[String], display: Option<&str>) -> (bool, String, String) {
        let mut tshark = Command::new("tshark");
        tshark.arg("-r").arg(&self.pcap);
        for d in decode_as {
            tshark.args(["-d", d]);
        }
        if let Some(f) = display {
            tshark.args(["-Y", f]);
        }
        let out = tshark.arg("-V").output().expect("run tshark");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `Message ID: Name (n)` names of tshark's Skinny dissection, in order.
#[allow(dead_code)]
pub fn skinny_message_names(verbose: &str) -> Vec<&str> {
    verbose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Message ID: "))
        .map(|rest| rest.split(" (").next().unwrap_or_default())
        .collect()
}
