//! The phone side of SCCP: a settled SCCP load registers with the call
//! manager its config named, keeps the registration alive, and reboots
//! when the server sends Reset. This is the only way such a phone comes
//! back to TFTP between boots, so the server's Reset is what carries it to
//! its next firmware hop.
//!
//! [`SccpClient`] decides everything and does no I/O; time is passed in.
//! After [`SccpClient::new`] and after every `handle_*` call, drain
//! [`SccpClient::poll_action`] (connect or drop the socket, then report
//! the outcome with `handle_connected`/`handle_connect_failed`),
//! [`SccpClient::poll_transmit`] (write the bytes), and
//! [`SccpClient::poll_event`]; then sleep until [`SccpClient::poll_timeout`]
//! and call [`SccpClient::handle_timeout`]. [`drive`] does that over TCP.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use cisco::{LoadName, Mac, Model};
use sccp::wire::{Alarm, CapabilitiesRes, Capability, Register};
use sccp::{Decoder, DeviceType, Frame, Message, ResetType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// First wait after a refused or dropped connection; it doubles up to
/// [`MAX_BACKOFF`], and a successful registration starts it over.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(16);
/// Wait after a RegisterReject before trying again.
pub const REJECT_RETRY: Duration = Duration::from_secs(5);
/// A connect that takes longer counts as refused (a real phone's TCP
/// gives up after a few SYNs).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a load says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `SEP<MAC>`, MAC in upper-case hex.
    pub device_name: String,
    pub station_ip: Ipv4Addr,
    pub device_type: DeviceType,
    /// The highest protocol version the load speaks.
    pub protocol_version: u8,
    /// The running load, sent in the long Register form; `None` sends the
    /// short form.
    pub load_info: Option<String>,
    /// Alarm text sent right after RegisterAck, when the load sends one.
    pub alarm: Option<String>,
    /// The frame header's version word.
    pub header_version: u32,
}

impl Registration {
    /// What `load` on `model` sends. 79x0 loads send the short Register
    /// (no load name; chan-sccp's dumps of 8.1.x), version 11 from 8.x and
    /// 5 before, and no Alarm. Java loads send the long form naming their
    /// load, version 17 (also in the header word, as a 7941 on 8.5.3
    /// does), and an informational Alarm with `Load=` after the ack.
    pub fn for_phone(model: Model, mac: Mac, ip: Ipv4Addr, load: &LoadName) -> Registration {
        let device_name = format!("SEP{}", mac.file_form());
        // Model names are the ones sccp's table spells; the numbers match
        // the loadInformation ids either way.
        let device_type =
            DeviceType::for_model(model.name()).unwrap_or(DeviceType(model.load_information_id()));
        if model.family().is_java() {
            Registration {
                alarm: Some(format!(
                    "Name={device_name} Load= {} Last=Reset-Reset",
                    load.as_str()
                )),
                device_name,
                station_ip: ip,
                device_type,
                protocol_version: 17,
                load_info: Some(load.as_str().to_owned()),
                header_version: 17,
            }
        } else {
            Registration {
                device_name,
                station_ip: ip,
                device_type,
                protocol_version: if load.version().major() >= 8 { 11 } else { 5 },
                load_info: None,
                alarm: None,
                header_version: 0,
            }
        }
    }

    fn register(&self) -> Message {
        Message::Register(Register {
            device_name: self.device_name.clone(),
            instance: 1,
            station_ip: self.station_ip,
            device_type: self.device_type,
            max_streams: 5,
            protocol_version: self.protocol_version,
            load_info: self.load_info.clone(),
            ..Register::default()
        })
    }
}

/// What the driver must do with the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open a connection to the call manager; report the outcome.
    Connect,
    /// Close the connection; nothing more is read from it.
    Disconnect,
}

/// What the phone hears on its SCCP link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// RegisterAck: registered, keeping alive at this interval.
    Registered { keepalive: Duration },
    /// RegisterReject with its text; the client tries again later.
    Rejected { text: String },
    /// A Reset of any type. Reset and Restart end the client (the phone
    /// reboots); other types are ignored by the client.
    Reset(ResetType),
    /// A registration ended without a Reset: the server closed the
    /// connection or sent garbage. The client reconnects.
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not connected; connect at the instant.
    Waiting(Instant),
    Connecting,
    /// Register sent, no ack yet.
    Registering,
    /// Ack received; next KeepAlive at the instant.
    Registered {
        every: Duration,
        next: Instant,
    },
    /// Reset or Restart received: the phone is rebooting.
    Done,
}

/// One phone's SCCP client. See the module docs for the driving order.
#[derive(Debug)]
pub struct SccpClient {
    reg: Registration,
    phase: Phase,
    backoff: Duration,
    decoder: Decoder,
    out: Vec<u8>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
}

impl SccpClient {
    /// A client that connects at once.
    pub fn new(reg: Registration) -> SccpClient {
        SccpClient {
            reg,
            phase: Phase::Connecting,
            backoff: FIRST_BACKOFF,
            decoder: Decoder::new(),
            out: Vec::new(),
            actions: VecDeque::from([Action::Connect]),
            events: VecDeque::new(),
        }
    }

    /// Registered (RegisterAck received on the current connection).
    pub fn is_registered(&self) -> bool {
        matches!(self.phase, Phase::Registered { .. })
    }

    /// A Reset or Restart arrived; the client does nothing more.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The connection the last [`Action::Connect`] asked for is up: send
    /// Register on it.
    pub fn handle_connected(&mut self, _now: Instant) {
        if self.phase != Phase::Connecting {
            return;
        }
        self.decoder = Decoder::new();
        self.out.clear();
        self.phase = Phase::Registering;
        let register = self.reg.register();
        self.send(register);
    }

    /// The connection could not be made: try again after the backoff.
    pub fn handle_connect_failed(&mut self, now: Instant) {
        if self.phase == Phase::Connecting {
            self.retry_later(now);
        }
    }

    /// Bytes read from the connection, in any chunking.
    pub fn handle_input(&mut self, now: Instant, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.is_connected() {
            match self.decoder.decode(&mut bytes) {
                Ok(Some(frame)) => self.on_message(now, frame.message),
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(phone = %self.reg.device_name, error = %e, "bad SCCP stream");
                    self.drop_connection(now);
                }
            }
        }
    }

    /// The server closed the connection, or reading or writing failed.
    pub fn handle_eof(&mut self, now: Instant) {
        if self.is_connected() {
            self.drop_connection(now);
        }
    }

    /// Runs the reconnect and keepalive timers; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Waiting(at) if now >= at => {
                self.phase = Phase::Connecting;
                self.actions.push_back(Action::Connect);
            }
            Phase::Registered { every, next } if now >= next => {
                self.phase = Phase::Registered {
                    every,
                    next: now + every,
                };
                self.send(Message::KeepAlive);
            }
            _ => {}
        }
    }

    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Moves the bytes to write into `out` (cleared first); false when
    /// there are none.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.out.is_empty() {
            return false;
        }
        std::mem::swap(out, &mut self.out);
        true
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting(at) => Some(at),
            Phase::Registered { next, .. } => Some(next),
            Phase::Connecting | Phase::Registering | Phase::Done => None,
        }
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Registering | Phase::Registered { .. })
    }

    fn on_message(&mut self, now: Instant, message: Message) {
        match message {
            Message::RegisterAck(ack) if self.phase == Phase::Registering => {
                // Honour the server's interval, but never spin faster than 1 s.
                let every = Duration::from_secs(u64::from(ack.keepalive_secs.max(1)));
                self.phase = Phase::Registered {
                    every,
                    next: now + every,
                };
                self.backoff = FIRST_BACKOFF;
                self.events
                    .push_back(Event::Registered { keepalive: every });
                if let Some(text) = self.reg.alarm.clone() {
                    self.send(Message::Alarm(Alarm {
                        severity: 2,
                        text,
                        parm1: 0,
                        parm2: 0,
                    }));
                }
            }
            Message::CapabilitiesReq => {
                let caps = [4u32, 2, 11].map(|payload| Capability {
                    payload,
                    max_frames_per_packet: 40,
                    params: [0; 8],
                });
                self.send(Message::CapabilitiesRes(CapabilitiesRes::new(
                    caps.to_vec(),
                )));
            }
            Message::RegisterReject { text } => {
                self.events.push_back(Event::Rejected { text });
                self.actions.push_back(Action::Disconnect);
                self.backoff = FIRST_BACKOFF;
                self.phase = Phase::Waiting(now + REJECT_RETRY);
            }
            Message::Reset(kind) => {
                self.events.push_back(Event::Reset(kind));
                if matches!(kind, ResetType::Reset | ResetType::Restart) {
                    self.actions.push_back(Action::Disconnect);
                    self.phase = Phase::Done;
                }
            }
            // KeepAliveAck, a second RegisterAck, and everything the
            // simulated phone has no use for.
            _ => {}
        }
    }

    fn drop_connection(&mut self, now: Instant) {
        if self.is_registered() {
            self.events.push_back(Event::Lost);
        }
        self.actions.push_back(Action::Disconnect);
        self.retry_later(now);
    }

    fn retry_later(&mut self, now: Instant) {
        self.phase = Phase::Waiting(now + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn send(&mut self, message: Message) {
        let frame = Frame::new(self.reg.header_version, message);
        if let Err(e) = frame.emit_vec(&mut self.out) {
            // Only a bug in this module could make a registration message
            // too long; the phone then just sends nothing.
            tracing::warn!(phone = %self.reg.device_name, error = %e, "cannot encode SCCP frame");
        }
    }
}

/// Runs `client` over TCP from `bind` to `call_manager`, sending its events
/// on `events`, until it is done (after a Reset) or `events` is closed.
/// Uses tokio's clock, so paused test time drives it.
pub async fn drive(
    mut client: SccpClient,
    bind: Ipv4Addr,
    call_manager: SocketAddrV4,
    events: mpsc::UnboundedSender<Event>,
) {
    let now = || tokio::time::Instant::now().into_std();
    let mut stream: Option<TcpStream> = None;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        while let Some(action) = client.poll_action() {
            match action {
                Action::Connect => match connect(bind, call_manager).await {
                    Ok(s) => {
                        stream = Some(s);
                        client.handle_connected(now());
                    }
                    Err(e) => {
                        tracing::debug!(%call_manager, error = %e, "SCCP connect failed");
                        client.handle_connect_failed(now());
                    }
                },
                Action::Disconnect => stream = None,
            }
        }
        if client.poll_transmit(&mut out) {
            let written = match stream.as_mut() {
                Some(s) => s.write_all(&out).await.is_ok(),
                None => true,
            };
            if !written {
                stream = None;
                client.handle_eof(now());
            }
        }
        while let Some(e) = client.poll_event() {
            if events.send(e).is_err() {
                return;
            }
        }
        if client.is_done() {
            return;
        }
        let deadline = client.poll_timeout();
        tokio::select! {
            r = read(stream.as_mut(), &mut buf) => match r {
                Ok(n) if n > 0 => client.handle_input(now(), &buf[..n]),
                _ => {
                    stream = None;
                    client.handle_eof(now());
                }
            },
            () = sleep_until(deadline) => client.handle_timeout(now()),
            () = events.closed() => return,
        }
    }
}

async fn read(stream: Option<&mut TcpStream>, buf: &mut [u8]) -> std::io::Result<usize> {
    match stream {
        Some(s) => s.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// A connection from the phone's own address, as the server checks the
/// Register's station IP against its DHCP leases by the peer address.
async fn connect(bind: Ipv4Addr, to: SocketAddrV4) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(bind.into(), 0))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(to.into())).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sccp::wire::RegisterAck;
    use sccp::ProtocolVersion;

    fn frames(bytes: &[u8]) -> Vec<Frame> {
        let mut d = Decoder::new();
        let mut input = bytes;
        let mut out = Vec::new();
        while let Ok(Some(f)) = d.decode(&mut input) {
            out.push(f);
        }
        out
    }

    fn sent(c: &mut SccpClient) -> Vec<Message> {
        let mut out = Vec::new();
        if !c.poll_transmit(&mut out) {
            return Vec::new();
        }
        frames(&out).into_iter().map(|f| f.message).collect()
    }

    fn server(m: Message) -> Vec<u8> {
        Frame::new(0, m).to_bytes().unwrap()
    }

    fn ack(keepalive_secs: u32) -> Vec<u8> {
        server(Message::RegisterAck(RegisterAck::new(
            keepalive_secs,
            "M/D/Y",
            keepalive_secs,
            ProtocolVersion::V11,
        )))
    }

    fn java() -> Registration {
        Registration::for_phone(
            Model::Cp7941,
            Mac([0, 0x1e, 0x4a, 0xab, 0, 1]),
            Ipv4Addr::new(10, 0, 0, 5),
            &LoadName::parse("SCCP41.8-5-2S").unwrap(),
        )
    }

    fn connected(reg: Registration, now: Instant) -> SccpClient {
        let mut c = SccpClient::new(reg);
        assert_eq!(c.poll_action(), Some(Action::Connect));
        c.handle_connected(now);
        c
    }

    #[test]
    fn loads_register_like_their_firmware() {
        let mac = Mac([0, 0x1e, 0x4a, 0xab, 0, 1]);
        let ip = Ipv4Addr::new(10, 0, 0, 5);
        let old = Registration::for_phone(
            Model::Cp7960,
            mac,
            ip,
            &LoadName::parse("P00305000500").unwrap(),
        );
        let new = Registration::for_phone(
            Model::Cp7940,
            mac,
            ip,
            &LoadName::parse("P00308000900").unwrap(),
        );
        assert_eq!(old.device_name, "SEP001E4AAB0001");
        assert_eq!((old.protocol_version, new.protocol_version), (5, 11));
        assert_eq!(
            (old.device_type, new.device_type),
            (DeviceType::CP7960, DeviceType::CP7940)
        );
        assert_eq!((old.load_info, old.alarm), (None, None));
        let j = java();
        assert_eq!(j.protocol_version, 17);
        assert_eq!(j.device_type, DeviceType::CP7941);
        assert_eq!(j.load_info.as_deref(), Some("SCCP41.8-5-2S"));
        assert_eq!(
            j.alarm.as_deref(),
            Some("Name=SEP001E4AAB0001 Load= SCCP41.8-5-2S Last=Reset-Reset")
        );
        // On the wire: 64-byte short body vs the long one with the load.
        let len = |r: &Registration| Frame::new(0, r.register()).to_bytes().unwrap().len();
        assert_eq!(len(&new), 12 + sccp::wire::REGISTER_SHORT_LEN);
        assert_eq!(len(&j), 12 + sccp::wire::REGISTER_LONG_LEN);
    }

    #[test]
    fn register_ack_alarm_keepalives_and_capabilities() {
        let t0 = Instant::now();
        let mut c = connected(java(), t0);
        let [Message::Register(r)] = &sent(&mut c)[..] else {
            panic!("no Register")
        };
        assert_eq!(r.station_ip, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(c.poll_timeout(), None, "waits for the ack, no timer");
        let mut bytes = ack(3);
        bytes.extend(server(Message::CapabilitiesReq));
        // Any chunking.
        for chunk in bytes.chunks(7) {
            c.handle_input(t0, chunk);
        }
        assert_eq!(
            c.poll_event(),
            Some(Event::Registered {
                keepalive: Duration::from_secs(3)
            })
        );
        let msgs = sent(&mut c);
        assert!(
            matches!(&msgs[0], Message::Alarm(a) if a.severity == 2 && a.load().as_deref() == Some("SCCP41.8-5-2S") && a.parm1 == 0 && a.parm2 == 0)
        );
        assert!(matches!(&msgs[1], Message::CapabilitiesRes(r) if r.count == 3));
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(3)));
        c.handle_timeout(t0 + Duration::from_secs(2));
        assert!(sent(&mut c).is_empty(), "early timeout does nothing");
        c.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(sent(&mut c), [Message::KeepAlive]);
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(6)));
        // Unknown messages and KeepAliveAck change nothing.
        c.handle_input(
            t0,
            &server(Message::Unknown {
                id: sccp::MessageId::Unknown(0x0199),
                body: vec![1, 2, 3, 4],
            }),
        );
        c.handle_input(t0, &server(Message::KeepAliveAck));
        assert!(c.is_registered() && c.poll_event().is_none() && sent(&mut c).is_empty());
    }

    #[test]
    fn a_zero_keepalive_is_clamped_to_one_second_and_79x0_sends_no_alarm() {
        let t0 = Instant::now();
        let reg = Registration::for_phone(
            Model::Cp7960,
            Mac([0, 0x1e, 0x4a, 0, 0, 1]),
            Ipv4Addr::new(10, 0, 0, 6),
            &LoadName::parse("P00308000900").unwrap(),
        );
        let mut c = connected(reg, t0);
        let _ = sent(&mut c);
        c.handle_input(t0, &ack(0));
        assert_eq!(
            c.poll_event(),
            Some(Event::Registered {
                keepalive: Duration::from_secs(1)
            })
        );
        assert!(sent(&mut c).is_empty(), "79x0 loads send no Alarm");
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn refused_connections_back_off_to_sixteen_seconds() {
        let mut now = Instant::now();
        let mut c = SccpClient::new(java());
        let mut waits = Vec::new();
        for _ in 0..7 {
            assert_eq!(c.poll_action(), Some(Action::Connect));
            c.handle_connect_failed(now);
            let at = c.poll_timeout().unwrap();
            waits.push((at - now).as_secs());
            c.handle_timeout(at - Duration::from_millis(1));
            assert_eq!(c.poll_action(), None, "not before the backoff");
            now = at;
            c.handle_timeout(now);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 16, 16]);
        // A registration starts the backoff over; losing it reconnects after 1 s.
        assert_eq!(c.poll_action(), Some(Action::Connect));
        c.handle_connected(now);
        c.handle_input(now, &ack(30));
        assert!(c.is_registered());
        c.handle_eof(now);
        assert_eq!(
            c.poll_event(),
            Some(Event::Registered {
                keepalive: Duration::from_secs(30)
            })
        );
        assert_eq!(c.poll_event(), Some(Event::Lost));
        assert_eq!(c.poll_action(), Some(Action::Disconnect));
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(1)));
    }

    #[test]
    fn a_reject_disconnects_and_retries_after_five_seconds() {
        let t0 = Instant::now();
        let mut c = connected(java(), t0);
        let _ = sent(&mut c);
        let mut bytes = server(Message::RegisterReject {
            text: "unknown device".into(),
        });
        // Anything after the reject on that connection is not read.
        bytes.extend(server(Message::Reset(ResetType::Reset)));
        c.handle_input(t0, &bytes);
        assert_eq!(
            c.poll_event(),
            Some(Event::Rejected {
                text: "unknown device".into()
            })
        );
        assert_eq!(c.poll_event(), None);
        assert_eq!(c.poll_action(), Some(Action::Disconnect));
        assert_eq!(c.poll_timeout(), Some(t0 + REJECT_RETRY));
        c.handle_timeout(t0 + REJECT_RETRY);
        assert_eq!(c.poll_action(), Some(Action::Connect));
        c.handle_connected(t0 + REJECT_RETRY);
        assert!(matches!(&sent(&mut c)[..], [Message::Register(_)]));
    }

    #[test]
    fn reset_and_restart_end_the_client_apply_config_does_not() {
        for (kind, ends) in [
            (ResetType::Reset, true),
            (ResetType::Restart, true),
            (ResetType::ApplyConfig, false),
            (ResetType::Unknown(9), false),
        ] {
            let t0 = Instant::now();
            let mut c = connected(java(), t0);
            c.handle_input(t0, &ack(30));
            let _ = c.poll_event();
            c.handle_input(t0, &server(Message::Reset(kind)));
            assert_eq!(c.poll_event(), Some(Event::Reset(kind)));
            assert_eq!(c.is_done(), ends, "{kind:?}");
            assert_eq!(c.poll_action() == Some(Action::Disconnect), ends);
            if ends {
                assert_eq!(c.poll_timeout(), None);
                c.handle_eof(t0);
                assert_eq!(c.poll_event(), None, "nothing after the reset");
            } else {
                assert!(c.is_registered());
            }
        }
    }

    #[test]
    fn garbage_from_the_server_drops_the_connection() {
        let t0 = Instant::now();
        let mut c = connected(java(), t0);
        let _ = sent(&mut c);
        c.handle_input(t0, &[0xff; 12]);
        assert_eq!(c.poll_action(), Some(Action::Disconnect));
        assert_eq!(c.poll_timeout(), Some(t0 + FIRST_BACKOFF));
        assert_eq!(c.poll_event(), None, "was not registered: nothing lost");
    }
}
