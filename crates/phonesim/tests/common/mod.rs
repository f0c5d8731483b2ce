//! A tiny TFTP server for the tests: the `tftp` crate's own server core and
//! transfer state machine, driven on 127.0.0.1, serving whatever a closure
//! returns for (client IP, name). Every request is logged.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cisco::synth::{self, LoadsBuilder};
use cisco::{LoadName, Model};
use phonesim::{Addressing, PhoneSpec, SimConfig, TftpOptions};
use tftp::{Incoming, Limits, Policy, Server, Transfer};
use tokio::net::UdpSocket;

/// Resolves a request: `(client ip, requested name, log so far)` → content.
pub type Resolve = Arc<dyn Fn(IpAddr, &str, &[(IpAddr, String)]) -> Option<Bytes> + Send + Sync>;

pub struct TestServer {
    pub addr: SocketAddr,
    /// Every RRQ in arrival order.
    pub log: Arc<Mutex<Vec<(IpAddr, String)>>>,
    /// Woken on every RRQ, so tests wait for a phone's progress without
    /// sleeping.
    logged: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Serves a fixed map (names matched case-insensitively, like phoneboot).
    pub async fn with_files(files: HashMap<String, Vec<u8>>) -> TestServer {
        let files: HashMap<String, Bytes> = files
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), Bytes::from(v)))
            .collect();
        TestServer::start(Arc::new(move |_, name, _| {
            files.get(&name.to_ascii_lowercase()).cloned()
        }))
        .await
    }

    pub async fn start(resolve: Resolve) -> TestServer {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let logged = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn(serve(sock, resolve, log.clone(), logged.clone()));
        TestServer {
            addr,
            log,
            logged,
            task,
        }
    }

    /// Returns once `ip` has asked for `name` `n` times.
    pub async fn wait_for(&self, ip: &str, name: &str, n: usize) {
        loop {
            let woken = self.logged.notified();
            tokio::pin!(woken);
            // Registered before looking, so an RRQ in between still wakes us.
            woken.as_mut().enable();
            if self.requests_from(ip).iter().filter(|r| *r == name).count() >= n {
                return;
            }
            woken.await;
        }
    }

    /// Names requested by `ip`, in order.
    pub fn requests_from(&self, ip: &str) -> Vec<String> {
        let ip: IpAddr = ip.parse().unwrap();
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(i, _)| *i == ip)
            .map(|(_, n)| n.clone())
            .collect()
    }
}

/// Fast timers so loss costs milliseconds, not seconds.
fn policy() -> Policy {
    Policy {
        initial_rto: Duration::from_millis(60),
        min_rto: Duration::from_millis(20),
        max_rto: Duration::from_millis(300),
        ..Policy::default()
    }
}

async fn serve(
    sock: UdpSocket,
    resolve: Resolve,
    log: Arc<Mutex<Vec<(IpAddr, String)>>>,
    logged: Arc<tokio::sync::Notify>,
) {
    let core = Arc::new(Mutex::new(Server::new(Limits::default())));
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, peer) = sock.recv_from(&mut buf).await.unwrap();
        let incoming = core.lock().unwrap().handle_request(peer, &buf[..n]);
        let (request, slot) = match incoming {
            Incoming::Accept(r, slot) => (r, slot),
            Incoming::Reject { packet, .. } => {
                let _ = sock.send_to(&packet, peer).await;
                continue;
            }
            Incoming::Ignore(_) => continue,
        };
        let content = {
            let mut log = log.lock().unwrap();
            log.push((peer.ip(), request.original_name.clone()));
            resolve(peer.ip(), &request.original_name, &log)
        };
        logged.notify_waiters();
        let Some(content) = content else {
            let pkt = tftp::wire::error_packet(tftp::ErrorCode::FileNotFound, "file not found");
            let _ = sock.send_to(&pkt, peer).await;
            continue;
        };
        tokio::spawn(async move {
            let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            s.connect(peer).await.unwrap();
            let mut t = Transfer::new(Instant::now(), &request, content, &policy());
            let mut out = Vec::new();
            let mut rx = vec![0u8; 2048];
            while !t.is_finished() {
                while t.poll_transmit(&mut out) {
                    let _ = s.send(&out).await;
                    out.clear();
                }
                while t.poll_event().is_some() {}
                if t.is_finished() {
                    break;
                }
                let deadline = t
                    .poll_timeout()
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
                tokio::select! {
                    r = s.recv(&mut rx) => {
                        if let Ok(n) = r {
                            t.handle_datagram(Instant::now(), &rx[..n]);
                        }
                    }
                    () = tokio::time::sleep_until(deadline.into()) => t.handle_timeout(Instant::now()),
                }
            }
            drop(slot);
        });
    }
}

/// Small synthetic images so tests stay fast (several blocks each).
pub const IMAGE_LEN: usize = 9_000;

/// `<load>.loads` and every file it lists, or the single `.bin` below 5.x.
pub fn load_files(load: &str) -> Vec<(String, Vec<u8>)> {
    let load = LoadName::parse(load).unwrap();
    let mut out = Vec::new();
    if load.has_loads_file() {
        let b = LoadsBuilder::for_load(&load).unwrap();
        out.push((b.file_name().to_owned(), b.build()));
    }
    for f in synth::load_files(&load) {
        let img = synth::image(&f, IMAGE_LEN);
        out.push((f, img));
    }
    out
}

/// `XMLDefault.cnf.xml` naming one load per model.
pub fn xml_default(entries: &[(Model, &str)]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Default>\n  <callManagerGroup><members><member priority=\"0\"><callManager><ports><ethernetPhonePort>2000</ethernetPhonePort></ports><processNodeName>127.0.0.1</processNodeName></callManager></member></members></callManagerGroup>\n");
    for (m, load) in entries {
        s.push_str(&format!(
            "  <loadInformation{} model=\"{}\">{load}</loadInformation{}>\n",
            m.load_information_id(),
            m.xml_model(),
            m.load_information_id()
        ));
    }
    s.push_str("</Default>\n");
    s
}

/// A minimal `SEP<MAC>.cnf.xml` naming `load`.
pub fn sep_xml(load: &str) -> String {
    format!("<?xml version=\"1.0\"?>\n<device><deviceProtocol>SIP</deviceProtocol><loadInformation>{load}</loadInformation><vendorConfig/></device>\n")
}

/// A config for phones against `server`, with fast timers.
pub fn config(phones: Vec<PhoneSpec>, server: SocketAddr, net: &str) -> SimConfig {
    let mut cfg = SimConfig::new(
        phones,
        Addressing::Direct {
            server,
            source_net: phonesim::parse_net(net).unwrap(),
        },
    );
    cfg.reboot_delay = Duration::ZERO;
    cfg.timeout = Duration::from_secs(20);
    // Not 5060: the phones bind <their 127.x address>:<port>, and a SIP
    // program on this machine may hold 5060 on every address.
    cfg.sip_port = 25060;
    cfg.tftp = TftpOptions {
        retransmit: Duration::from_millis(150),
        retries: 8,
        ..TftpOptions::default()
    };
    cfg
}

pub fn files(entries: impl IntoIterator<Item = (String, Vec<u8>)>) -> HashMap<String, Vec<u8>> {
    entries.into_iter().collect()
}
