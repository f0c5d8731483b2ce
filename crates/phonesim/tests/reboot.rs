//! Settled phones rebooted by their server over real sockets on loopback: a
//! fake SCCP call manager built on `sccp::Session` (the server core
//! phoneboot uses) and a fake NOTIFY sender built on `sipnotify::Notify`.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use phonesim::{parse_mix, PhoneReport, Report, State};
use sccp::{CloseReason, Event, ResetType, Session};
use sipnotify::{Action, Kind, Notify, NotifyRequest, Retransmit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// One SCCP connection as the fake call manager saw it.
#[derive(Debug, Clone, Default)]
struct Conn {
    peer: Option<IpAddr>,
    /// The length field of the first frame: 4 + the Register body.
    first_length: u32,
    device_name: String,
    device_type: u32,
    protocol_version: u8,
    load: Option<String>,
    station_ip: String,
    alarms: Vec<(u32, String)>,
    reset_sent: bool,
    closed: Option<CloseReason>,
}

/// Accepts every Register and sends Reset(1) on each device's first
/// registration: after the Alarm for loads that send one (the long
/// Register form), at once for the others.
struct FakeCallManager {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<Conn>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCallManager {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeCallManager {
    async fn start() -> FakeCallManager {
        FakeCallManager::dropping_first(0).await
    }

    /// Closes its first `n` connections at once, as a restarting server
    /// would, then serves as [`FakeCallManager::start`].
    async fn dropping_first(n: usize) -> FakeCallManager {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let c = conns.clone();
        let task = tokio::spawn(async move {
            loop {
                let (stream, peer) = listener.accept().await.unwrap();
                let slot = {
                    let mut all = c.lock().unwrap();
                    all.push(Conn {
                        peer: Some(peer.ip()),
                        ..Conn::default()
                    });
                    all.len() - 1
                };
                if slot < n {
                    drop(stream);
                    continue;
                }
                tokio::spawn(connection(stream, c.clone(), slot));
            }
        });
        FakeCallManager { addr, conns, task }
    }

    fn all(&self) -> Vec<Conn> {
        self.conns.lock().unwrap().clone()
    }

    fn of(&self, device: &str) -> Vec<Conn> {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.device_name == device)
            .cloned()
            .collect()
    }
}

async fn connection(mut stream: TcpStream, conns: Arc<Mutex<Vec<Conn>>>, slot: usize) {
    let config = sccp::Config {
        keepalive: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(5),
        ..sccp::Config::default()
    };
    let mut session = Session::new(Instant::now(), config).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    let mut first = true;
    let mut reset_due = false;
    loop {
        while let Some(event) = session.poll_event() {
            let mut all = conns.lock().unwrap();
            let first_of_device = |all: &[Conn], name: &str| {
                !all.iter()
                    .enumerate()
                    .any(|(i, c)| i != slot && c.device_name == name)
            };
            match event {
                Event::RegisterRequest {
                    device_name,
                    device_type,
                    protocol_version,
                    load,
                    station_ip,
                    ..
                } => {
                    reset_due = first_of_device(&all, &device_name);
                    let c = &mut all[slot];
                    c.device_name = device_name;
                    c.device_type = device_type.0;
                    c.protocol_version = protocol_version;
                    c.load = load;
                    c.station_ip = station_ip.to_string();
                    session.accept(Instant::now()).unwrap();
                }
                Event::Registered { load, .. } => {
                    // Loads without a load name send no Alarm: reset now.
                    if reset_due && load.is_none() {
                        session.reset(Instant::now(), ResetType::Reset).unwrap();
                        all[slot].reset_sent = true;
                        reset_due = false;
                    }
                }
                Event::Alarm { severity, text, .. } => {
                    all[slot].alarms.push((severity, text));
                    if reset_due {
                        session.reset(Instant::now(), ResetType::Reset).unwrap();
                        all[slot].reset_sent = true;
                        reset_due = false;
                    }
                }
                Event::Closed { why } => {
                    all[slot].closed = Some(why);
                    return;
                }
            }
        }
        while session.poll_transmit(&mut out) {
            if stream.write_all(&out).await.is_err() {
                session.handle_eof(Instant::now());
            }
        }
        if session.poll_event().is_some() {
            unreachable!("writing raises no events");
        }
        let deadline = session
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(n) if n > 0 => {
                    if first && n >= 4 {
                        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                        conns.lock().unwrap()[slot].first_length = len;
                        first = false;
                    }
                    session.handle_input(Instant::now(), &buf[..n]);
                }
                _ => session.handle_eof(Instant::now()),
            },
            () = tokio::time::sleep_until(deadline.into()) => session.handle_timeout(Instant::now()),
        }
    }
}

/// An SCCP `SEP<MAC>.cnf.xml` naming `load` and the call manager.
fn sccp_config(load: &str, cm: SocketAddr) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<device><deviceProtocol>SCCP</deviceProtocol><devicePool><callManagerGroup><members>\
         <member priority=\"0\"><callManager><ports><ethernetPhonePort>{}</ethernetPhonePort></ports><processNodeName>{}</processNodeName></callManager></member>\
         </members></callManagerGroup></devicePool><loadInformation>{load}</loadInformation></device>\n",
        cm.port(),
        cm.ip()
    )
}

/// How often `ip` has asked for `name` so far (this request included).
fn asked(log: &[(IpAddr, String)], ip: IpAddr, name: &str) -> usize {
    log.iter().filter(|(i, n)| *i == ip && n == name).count()
}

fn boot_files(p: &PhoneReport, boot: u32) -> Vec<&str> {
    p.requests
        .iter()
        .filter(|r| r.boot == boot)
        .map(|r| r.file.as_str())
        .collect()
}

/// Serves `load_files` of every load given, plus whatever `extra` returns.
fn server_for(
    loads: &[&str],
    extra: impl Fn(IpAddr, &str, &[(IpAddr, String)]) -> Option<String> + Send + Sync + 'static,
) -> Resolve {
    let mut files = std::collections::HashMap::new();
    for load in loads {
        for (name, bytes) in load_files(load) {
            files.insert(name.to_ascii_lowercase(), Bytes::from(bytes));
        }
    }
    Arc::new(move |ip, name, log| {
        extra(ip, name, log)
            .map(Bytes::from)
            .or_else(|| files.get(&name.to_ascii_lowercase()).cloned())
    })
}

/// A 7960 (short Register, no Alarm) and a 7941 (long Register with its
/// load, then an Alarm) register, are reset, boot again, read their config
/// again, take the next load, and register on it.
#[tokio::test]
async fn a_reset_from_the_call_manager_walks_sccp_phones_to_their_next_load() {
    let cm = FakeCallManager::start().await;
    let cm_addr = cm.addr;
    let resolve = server_for(&["P00308000900", "SCCP41.8-5-2S"], move |ip, name, log| {
        let (start, next) = match name {
            "SEP001E4A000000.cnf.xml" => ("P00305000500", "P00308000900"),
            "SEP001E4A000001.cnf.xml" => ("SCCP41.8-3-1S", "SCCP41.8-5-2S"),
            _ => return None,
        };
        // The first read names the running load; after the reset, the next.
        let load = if asked(log, ip, name) == 1 {
            start
        } else {
            next
        };
        Some(sccp_config(load, cm_addr))
    });
    let server = TestServer::start(resolve).await;
    let cfg = config(
        parse_mix("7960:P00305000500:1:P00308000900,7941:SCCP41.8-3-1S:1:SCCP41.8-5-2S").unwrap(),
        server.addr,
        "127.21.0.0/16",
    );
    let report = phonesim::run(cfg).await.unwrap();
    assert!(report.ok, "{}", report.to_text());
    for p in &report.phones {
        assert_eq!(p.state, State::Settled);
        assert_eq!(p.boots, 3, "settle, take the hop, settle: {}", p.mac);
        assert_eq!((p.resets.reset, p.resets.total()), (1, 1));
        assert_eq!(p.sccp_registrations, 2);
        assert!(p.registered);
        // Boot 2 began by reading the config again, and took the hop.
        let sep = format!("SEP{}.cnf.xml", p.mac.replace(':', "").to_uppercase());
        assert!(boot_files(p, 2).contains(&sep.as_str()), "{:?}", p.requests);
        assert!(
            boot_files(p, 2).iter().any(|f| f.ends_with(".loads")),
            "{:?}",
            p.requests
        );
        assert_eq!(
            p.requests.iter().filter(|r| r.file == sep).count(),
            3,
            "config read once per boot, never in between"
        );
    }
    assert_eq!(report.phones[0].final_load, "P00308000900");
    assert_eq!(report.phones[1].final_load, "SCCP41.8-5-2S");

    let p7960 = cm.of("SEP001E4A000000");
    assert_eq!(p7960.len(), 2, "{p7960:?}");
    for c in &p7960 {
        assert_eq!(c.first_length, 4 + 64, "short Register");
        assert_eq!((c.device_type, c.load.as_deref()), (7, None));
        assert_eq!(c.station_ip, "127.21.0.1");
        assert_eq!(
            c.peer,
            Some("127.21.0.1".parse().unwrap()),
            "bound to its own IP"
        );
        assert!(c.alarms.is_empty());
    }
    assert_eq!(
        (p7960[0].protocol_version, p7960[1].protocol_version),
        (5, 11)
    );
    assert!(p7960[0].reset_sent && !p7960[1].reset_sent);
    assert_eq!(p7960[0].closed, Some(CloseReason::PeerClosed));

    let p7941 = cm.of("SEP001E4A000001");
    assert_eq!(p7941.len(), 2, "{p7941:?}");
    for c in &p7941 {
        assert_eq!(c.first_length, 4 + 124, "long Register");
        assert_eq!((c.device_type, c.protocol_version), (115, 17));
        assert_eq!(c.peer, Some("127.21.0.2".parse().unwrap()));
    }
    assert_eq!(p7941[0].load.as_deref(), Some("SCCP41.8-3-1S"));
    assert_eq!(p7941[1].load.as_deref(), Some("SCCP41.8-5-2S"));
    assert_eq!(
        p7941[0].alarms,
        [(
            2,
            "Name=SEP001E4A000001 Load= SCCP41.8-3-1S Last=Reset-Reset".to_owned()
        )]
    );
    assert!(p7941[0].reset_sent);
}

/// A call manager that closes the connection makes the phone connect again
/// after its backoff (1 s), not read its config again.
#[tokio::test]
async fn a_dropped_connection_is_retried_without_reading_the_config_again() {
    let cm = FakeCallManager::dropping_first(1).await;
    let cm_addr = cm.addr;
    let resolve = server_for(&[], move |_, name, _| {
        (name == "SEP001E4A000000.cnf.xml").then(|| sccp_config("P00308000900", cm_addr))
    });
    let server = TestServer::start(resolve).await;
    let cfg = config(
        parse_mix("7960:P00308000900:1:P00308000900").unwrap(),
        server.addr,
        "127.24.0.0/16",
    );
    let started = Instant::now();
    let report = phonesim::run(cfg).await.unwrap();
    let p = one(&report);
    assert_eq!(p.state, State::Settled, "{}", report.to_text());
    assert_eq!((p.boots, p.sccp_registrations), (1, 1));
    assert!(p.registered);
    assert_eq!(server.requests_from("127.24.0.1").len(), p.requests.len());
    assert_eq!(
        p.requests
            .iter()
            .filter(|r| r.file == "SEP001E4A000000.cnf.xml")
            .count(),
        1
    );
    let conns = cm.all();
    assert_eq!(conns.len(), 2, "{conns:?}");
    assert_eq!(conns[1].device_name, "SEP001E4A000000");
    assert!(
        started.elapsed() >= phonesim::sccp_client::FIRST_BACKOFF,
        "reconnected after the backoff"
    );
}

/// A NOTIFY sender: `sipnotify::Notify` driven over UDP with short timers
/// (retransmissions also cover the instant before the phone listens).
struct Sender {
    sock: UdpSocket,
    phone: SocketAddr,
    cseq: u32,
    /// The last NOTIFY sent, for [`Sender::resend`].
    last: Vec<u8>,
}

impl Sender {
    async fn new(phone: SocketAddr) -> Sender {
        Sender {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            phone,
            cseq: 0,
            last: Vec::new(),
        }
    }

    fn request(&mut self, kind: Kind, user: &str) -> NotifyRequest {
        self.cseq += 1;
        NotifyRequest {
            kind,
            phone: self.phone,
            local: self.sock.local_addr().unwrap(),
            line_user: user.into(),
            call_id: "sim-test@127.0.0.1".into(),
            from_tag: "f1".into(),
            branch: format!("z9hG4bKsim{}", self.cseq),
            cseq: self.cseq,
        }
    }

    /// Sends one NOTIFY until answered; the status.
    async fn send(&mut self, kind: Kind, user: &str) -> u16 {
        let retransmit = Retransmit {
            t1: Duration::from_millis(100),
            t2: Duration::from_millis(400),
            max_tries: 30,
        };
        let mut n = Notify::new(Instant::now(), self.request(kind, user), retransmit).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_535];
        loop {
            while n.poll_transmit(&mut out) {
                self.sock.send_to(&out, n.destination()).await.unwrap();
                self.last.clone_from(&out);
            }
            match n.poll_event() {
                Some(sipnotify::Event::Answered { status, .. }) => return status,
                Some(other) => panic!("the phone did not answer: {other:?}"),
                None => {}
            }
            let deadline = n.poll_timeout().unwrap();
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => {
                    let (len, _) = r.unwrap();
                    n.handle_datagram(Instant::now(), &buf[..len]);
                }
                () = tokio::time::sleep_until(deadline.into()) => n.handle_timeout(Instant::now()),
            }
        }
    }

    /// Sends the last NOTIFY again, as a sender that lost the answer does;
    /// the answer.
    async fn resend(&mut self) -> Vec<u8> {
        self.sock.send_to(&self.last, self.phone).await.unwrap();
        let mut buf = vec![0u8; 65_535];
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), self.sock.recv_from(&mut buf))
            .await
            .expect("the phone answered the retransmission")
            .unwrap();
        buf[..len].to_vec()
    }

    /// Sends a NOTIFY and, before the answer is read, the same datagram again
    /// (a retransmission); the two answers.
    async fn send_twice(&mut self, kind: Kind, user: &str) -> [Vec<u8>; 2] {
        let mut n = Notify::new(
            Instant::now(),
            self.request(kind, user),
            Retransmit::default(),
        )
        .unwrap();
        let mut datagram = Vec::new();
        assert!(n.poll_transmit(&mut datagram));
        for _ in 0..2 {
            self.sock.send_to(&datagram, self.phone).await.unwrap();
        }
        let mut answers = [Vec::new(), Vec::new()];
        let mut buf = vec![0u8; 65_535];
        for a in &mut answers {
            let (len, _) =
                tokio::time::timeout(Duration::from_secs(5), self.sock.recv_from(&mut buf))
                    .await
                    .expect("the phone answered the retransmission")
                    .unwrap();
            *a = buf[..len].to_vec();
        }
        answers
    }
}

fn status(datagram: &[u8]) -> Option<u16> {
    sipnotify::Message::parse(datagram).ok()?.status()
}

fn one(report: &Report) -> &PhoneReport {
    assert_eq!(report.phones.len(), 1);
    &report.phones[0]
}

/// A 7940 on SIP: check-sync with its own SYNC does nothing (200, also when
/// retransmitted), a NOTIFY for another line is 404, check-sync with a new
/// SYNC (sent twice, as a retransmission) is answered twice the same way
/// and reboots it once into the load its config now names.
#[tokio::test]
async fn check_sync_reboots_a_79x0_sip_phone_only_when_the_sync_changed() {
    let ip: IpAddr = "127.22.0.1".parse().unwrap();
    let resolve = server_for(&["P0S3-8-12-00"], move |from, name, log| {
        let syncs = asked(log, from, "syncinfo.xml");
        match name {
            "syncinfo.xml" => Some(format!(
                "<SYNCINFO><IMAGE VERSION=\"P0S3-8-11-00\" SYNC=\"{}\"/></SYNCINFO>",
                // The first check-sync finds the phone's own value.
                if syncs == 1 { "1" } else { "2" }
            )),
            "SIPDefault.cnf" => Some("proxy1_address: \"127.0.0.1\"\n".into()),
            "SIP001E4A000000.cnf" => Some(if syncs < 2 {
                "line1_name: \"100\"\nimage_version: \"P0S3-8-11-00\"\nsync: 1\n".into()
            } else {
                "line1_name: \"100\"\nimage_version: \"P0S3-8-12-00\"\nsync: 2\n".into()
            }),
            _ => None,
        }
    });
    let server = TestServer::start(resolve).await;
    let mut cfg = config(
        parse_mix("7940:P0S3-8-11-00:1:P0S3-8-12-00").unwrap(),
        server.addr,
        "127.22.0.0/16",
    );
    cfg.sip_port = 25071;
    let run = tokio::spawn(phonesim::run(cfg));

    // Its last request before it listens.
    server.wait_for("127.22.0.1", "dialplan.xml", 1).await;
    let mut sender = Sender::new(SocketAddr::new(ip, 25071)).await;
    assert_eq!(sender.send(Kind::CheckSync, "100").await, 200);
    // Retransmitted: a second syncinfo.xml read would find SYNC 2 and reboot.
    assert_eq!(status(&sender.resend().await), Some(200));
    assert_eq!(sender.send(Kind::CheckSync, "101").await, 404);
    // A new SYNC, retransmitted before the phone acts: one reboot.
    let [a, b] = sender.send_twice(Kind::CheckSync, "100").await;
    assert_eq!(status(&a), Some(200));
    assert_eq!(a, b, "a retransmission gets the same answer");

    let report = run.await.unwrap().unwrap();
    let p = one(&report);
    assert_eq!(p.state, State::Settled, "{}", report.to_text());
    assert_eq!(p.final_load, "P0S3-8-12-00");
    assert_eq!(p.boots, 3, "{}", report.to_text());
    assert_eq!(p.notify_reboots, 1);
    assert!(p.notify_repeats >= 2, "{}", p.notify_repeats);
    assert_eq!(p.notifies - p.notify_repeats, 3);
    assert!(p.registered, "listening at the end");
    let boot1 = boot_files(p, 1);
    assert_eq!(
        boot1.iter().filter(|f| **f == "syncinfo.xml").count(),
        2,
        "{boot1:?}"
    );
    assert_eq!(boot1.last(), Some(&"syncinfo.xml"));
    assert_eq!(
        boot_files(p, 2)[..4],
        [
            "CTLSEP001E4A000000.tlv",
            "SEP001E4A000000.cnf.xml",
            "SIPDefault.cnf",
            "SIP001E4A000000.cnf"
        ]
    );
}

/// A 7965 on SIP 8.5(2): check-sync is answered and ignored (sipcc), a
/// reset for another line is 404 and ignored, a reset for line 1 reboots
/// it into the load its config now names.
#[tokio::test]
async fn service_control_reset_reboots_a_java_sip_phone() {
    let ip: IpAddr = "127.23.0.1".parse().unwrap();
    let resolve = server_for(&["SIP45.9-4-2SR3-1S"], move |from, name, log| {
        if name != "SEP001E4A000000.cnf.xml" {
            return None;
        }
        let load = if asked(log, from, name) == 1 {
            "SIP45.8-5-2S"
        } else {
            "SIP45.9-4-2SR3-1S"
        };
        Some(format!(
            "<device><deviceProtocol>SIP</deviceProtocol><sipProfile><sipLines>\
             <line button=\"1\"><featureID>9</featureID><name>1001</name></line>\
             <line button=\"2\"><featureID>9</featureID><name>1002</name></line>\
             </sipLines></sipProfile><loadInformation>{load}</loadInformation></device>"
        ))
    });
    let server = TestServer::start(resolve).await;
    let mut cfg = config(
        parse_mix("7965:SIP45.8-5-2S:1:SIP45.9-4-2SR3-1S").unwrap(),
        server.addr,
        "127.23.0.0/16",
    );
    cfg.sip_port = 25072;
    let run = tokio::spawn(phonesim::run(cfg));

    server.wait_for("127.23.0.1", "dialplan.xml", 1).await;
    let reset = || Kind::ServiceControl {
        action: Action::Reset,
        register_call_id: None,
    };
    let mut sender = Sender::new(SocketAddr::new(ip, 25072)).await;
    assert_eq!(sender.send(Kind::CheckSync, "1001").await, 200);
    assert_eq!(
        sender.send(reset(), "1002").await,
        404,
        "line 2 is not line 1"
    );
    assert_eq!(sender.send(reset(), "1001").await, 200);

    let report = run.await.unwrap().unwrap();
    let p = one(&report);
    assert_eq!(p.state, State::Settled, "{}", report.to_text());
    assert_eq!(p.final_load, "SIP45.9-4-2SR3-1S");
    assert_eq!(p.boots, 3, "{}", report.to_text());
    assert_eq!(p.notify_reboots, 1);
    assert_eq!(p.notifies - p.notify_repeats, 3);
    assert!(
        !boot_files(p, 1).contains(&"syncinfo.xml"),
        "sipcc does nothing on check-sync"
    );
    assert!(boot_files(p, 2).contains(&"SEP001E4A000000.cnf.xml"));
}
