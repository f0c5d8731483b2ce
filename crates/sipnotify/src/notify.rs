//! One NOTIFY sent to a phone, as an RFC 3261 §17.1.2 non-INVITE client
//! transaction over UDP, with no I/O.
//!
//! After [`Notify::new`] and after every `handle_*` call, the driver drains
//! [`Notify::poll_transmit`] (sending each datagram to
//! [`Notify::destination`]), then reads [`Notify::poll_timeout`] to know when
//! to call [`Notify::handle_timeout`], then drains [`Notify::poll_event`].
//! Exactly one event comes out, and then [`Notify::is_finished`] is true.
//!
//! Timer E starts at T1 and doubles up to T2 between retransmissions; after
//! a provisional response it stays at T2. The transaction gives up at
//! Timer F (64·T1) or one interval after the `max_tries`-th send, whichever
//! comes first. Timer K (absorbing copies of the final response) is not
//! kept: a finished `Notify` ignores everything, and counts it.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{is_token, Header, Message, Method, StartLine, WriteError};

/// What the NOTIFY asks the phone to do; which one a phone honours depends
/// on its SIP stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// 79x0 SIP loads (P0S3-…): `Event: check-sync`, no body. The phone
    /// fetches syncinfo.xml and reboots when its sync value changed.
    CheckSync,
    /// 79x1/79x2/79x5 SIP 9.x loads: `Event: service-control` with a
    /// text/plain body naming the action. `register_call_id` is the Call-ID
    /// of the phone's REGISTER, when phoneboot saw one; the phone may ignore
    /// a body that quotes another.
    ServiceControl {
        action: Action,
        register_call_id: Option<String>,
    },
}

/// The service-control action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Full reboot: DHCP, TFTP, and the load named in the config. What a
    /// firmware hop needs.
    Reset,
    /// Quick restart: re-reads the config and re-registers.
    Restart,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reset => "reset",
            Action::Restart => "restart",
        }
    }
}

/// Everything the NOTIFY says. The random parts (tag, branch, Call-ID) come
/// from the caller so runs are reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRequest {
    pub kind: Kind,
    /// The phone's SIP address: its leased IP, port 5060.
    pub phone: SocketAddr,
    /// The address and port phoneboot sends from and hears responses on;
    /// it goes into Via and Contact, so it must be reachable by the phone.
    pub local: SocketAddr,
    /// Request-URI and To user: the phone's line-1 name. Phones answer 404
    /// when it names none of their lines.
    pub line_user: String,
    pub call_id: String,
    pub from_tag: String,
    /// Transaction id; RFC 3261 §8.1.1.7 requires the `z9hG4bK` prefix.
    pub branch: String,
    pub cseq: u32,
}

/// Retransmission timers (RFC 3261 §17.1.2.2) and a cap on sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    pub t1: Duration,
    pub t2: Duration,
    /// Datagrams sent at most, the first one included.
    pub max_tries: u32,
}

impl Default for Retransmit {
    /// RFC 3261's T1 = 500 ms and T2 = 4 s; 7 tries span 15.5 s, so a
    /// phone that is down is given up on after 19.5 s, well before Timer F.
    fn default() -> Retransmit {
        Retransmit {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            max_tries: 7,
        }
    }
}

/// Why a NOTIFY could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    #[error("branch {0:?} must be a token starting with z9hG4bK (RFC 3261 §8.1.1.7)")]
    Branch(String),
    #[error(
        "line user {0:?} is not a SIP URI user part (1-128 characters, no '@', ':' or spaces)"
    )]
    LineUser(String),
    #[error("Call-ID {0:?} is not a word[@word] of 1-256 characters")]
    CallId(String),
    #[error("From tag {0:?} is not a token of 1-128 characters")]
    FromTag(String),
    #[error("RegisterCallId {0:?} is not a Call-ID without braces")]
    RegisterCallId(String),
    #[error("CSeq {0} is not below 2^31")]
    CSeq(u32),
    #[error("retransmit timers need 0 < t1 <= t2, t1 * 64 representable, and max_tries >= 1")]
    Timers,
    #[error("the NOTIFY would not be valid SIP: {0}")]
    Write(#[from] WriteError),
}

/// How a phone answered, in the terms the operator API records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    Ok200,
    /// The Request-URI user is none of the phone's lines.
    NotFound404,
    /// Call/Transaction Does Not Exist: the phone refused an unsolicited
    /// NOTIFY.
    NoTransaction481,
    Other(u16),
    /// No final response.
    None,
}

impl Answer {
    pub fn from_status(status: u16) -> Answer {
        match status {
            200 => Answer::Ok200,
            404 => Answer::NotFound404,
            481 => Answer::NoTransaction481,
            other => Answer::Other(other),
        }
    }

    pub fn status(self) -> Option<u16> {
        match self {
            Answer::Ok200 => Some(200),
            Answer::NotFound404 => Some(404),
            Answer::NoTransaction481 => Some(481),
            Answer::Other(s) => Some(s),
            Answer::None => None,
        }
    }
}

impl fmt::Display for Answer {
    /// `200`, `404`, `481`, any other code, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status() {
            Some(s) => write!(f, "{s}"),
            None => f.write_str("none"),
        }
    }
}

/// The one outcome of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A final (2xx-6xx) response matched.
    Answered {
        status: u16,
        reason: String,
        tries: u32,
    },
    /// No final response before the retry budget, Timer F or a transport
    /// error ended it.
    NoAnswer { tries: u32 },
}

impl Event {
    pub fn answer(&self) -> Answer {
        match self {
            Event::Answered { status, .. } => Answer::from_status(*status),
            Event::NoAnswer { .. } => Answer::None,
        }
    }
}

/// Counters for the transaction's log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed out by `poll_transmit`, the first included.
    pub tries: u32,
    /// Matching 1xx responses.
    pub provisional: u32,
    /// Well-formed datagrams that were not a response to this NOTIFY.
    pub ignored: u32,
    /// Datagrams that did not parse.
    pub malformed: u32,
    /// Datagrams that arrived after the transaction ended.
    pub late: u32,
    /// The driver reported a transport error (ICMP unreachable).
    pub transport_error: bool,
}

/// One NOTIFY transaction. See the module docs for the driving order.
#[derive(Debug)]
pub struct Notify {
    destination: SocketAddr,
    request: Message,
    /// The request as sent; retransmissions repeat it byte for byte.
    datagram: Vec<u8>,
    branch: String,
    retransmit: Retransmit,
    /// Timer E's current interval.
    interval: Duration,
    /// Timer E: when the next retransmission is due.
    next_send: Option<Instant>,
    /// Timer F.
    give_up: Instant,
    send_now: bool,
    /// A provisional response was seen (Proceeding state).
    proceeding: bool,
    started: Instant,
    ended: Option<Instant>,
    answer: Option<Answer>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Notify {
    /// Builds the NOTIFY and starts the transaction; the first datagram is
    /// ready in `poll_transmit` at once.
    pub fn new(
        now: Instant,
        request: NotifyRequest,
        retransmit: Retransmit,
    ) -> Result<Notify, RequestError> {
        if retransmit.t1.is_zero() || retransmit.t2 < retransmit.t1 || retransmit.max_tries == 0 {
            return Err(RequestError::Timers);
        }
        let give_up = retransmit
            .t1
            .checked_mul(64)
            .and_then(|f| now.checked_add(f))
            .ok_or(RequestError::Timers)?;
        let message = build(&request)?;
        let datagram = message.to_bytes()?;
        Ok(Notify {
            destination: request.phone,
            request: message,
            datagram,
            branch: request.branch,
            retransmit,
            interval: retransmit.t1,
            next_send: now.checked_add(retransmit.t1),
            give_up,
            send_now: true,
            proceeding: false,
            started: now,
            ended: None,
            answer: None,
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    /// Where every datagram of this transaction goes.
    pub fn destination(&self) -> SocketAddr {
        self.destination
    }

    /// The NOTIFY as built, for logs and tests.
    pub fn request(&self) -> &Message {
        &self.request
    }

    pub fn is_finished(&self) -> bool {
        self.answer.is_some()
    }

    /// The outcome, once finished.
    pub fn answer(&self) -> Option<Answer> {
        self.answer
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Time from `new` to the final response or giving up.
    pub fn duration(&self) -> Option<Duration> {
        Some(self.ended?.saturating_duration_since(self.started))
    }

    /// Feeds one datagram received on the local socket. Only a response
    /// whose top Via carries our branch and whose CSeq method is NOTIFY
    /// counts (RFC 3261 §17.1.3).
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if self.is_finished() {
            self.stats.late = self.stats.late.saturating_add(1);
            return;
        }
        let Ok(message) = Message::parse(datagram) else {
            self.stats.malformed = self.stats.malformed.saturating_add(1);
            return;
        };
        let ours = message.top_via().and_then(|v| v.branch()) == Some(self.branch.as_str())
            && message.cseq().is_some_and(|c| c.method == Method::Notify);
        let (status, reason) = match &message.start {
            StartLine::Response { status, reason } if ours => (*status, reason),
            _ => {
                self.stats.ignored = self.stats.ignored.saturating_add(1);
                return;
            }
        };
        if status < 200 {
            // Proceeding: keep retransmitting, but at T2 (§17.1.2.2).
            self.proceeding = true;
            self.stats.provisional = self.stats.provisional.saturating_add(1);
            return;
        }
        let event = Event::Answered {
            status,
            reason: reason.clone(),
            tries: self.stats.tries,
        };
        self.finish(now, event);
    }

    /// Runs Timers E and F. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_finished() {
            return;
        }
        if now >= self.give_up {
            self.give_up_now(now);
            return;
        }
        match self.next_send {
            Some(due) if now >= due => {}
            _ => return,
        }
        if self.stats.tries >= self.retransmit.max_tries {
            self.give_up_now(now);
            return;
        }
        self.send_now = true;
        self.interval = if self.proceeding {
            self.retransmit.t2
        } else {
            self.interval
                .checked_mul(2)
                .unwrap_or(self.retransmit.t2)
                .min(self.retransmit.t2)
        };
        self.next_send = now.checked_add(self.interval);
    }

    /// The driver could not send (ICMP port unreachable and the like): RFC
    /// 3261 §17.1.4 ends the transaction at once.
    pub fn handle_transport_error(&mut self, now: Instant) {
        if self.is_finished() {
            return;
        }
        self.stats.transport_error = true;
        self.give_up_now(now);
    }

    /// Writes the next datagram into `out` (cleared first). Returns false
    /// when there is nothing to send now.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.is_finished() || !self.send_now {
            return false;
        }
        self.send_now = false;
        self.stats.tries = self.stats.tries.saturating_add(1);
        out.extend_from_slice(&self.datagram);
        true
    }

    /// When `handle_timeout` next needs to run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_finished() {
            return None;
        }
        Some(match self.next_send {
            Some(e) => e.min(self.give_up),
            None => self.give_up,
        })
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn give_up_now(&mut self, now: Instant) {
        let tries = self.stats.tries;
        self.finish(now, Event::NoAnswer { tries });
    }

    fn finish(&mut self, now: Instant, event: Event) {
        self.answer = Some(event.answer());
        self.ended = Some(now);
        self.send_now = false;
        self.next_send = None;
        self.events.push_back(event);
    }
}

/// The zero stamps tell the phone that none of its cached config, dial plan
/// or softkey files is current.
const ZERO_STAMP: &str = "{00000000-0000-0000-0000-000000000000}";

fn build(r: &NotifyRequest) -> Result<Message, RequestError> {
    let branch_ok = r.branch.len() > 7
        && r.branch.len() <= 128
        && r.branch.starts_with("z9hG4bK")
        && is_token(&r.branch);
    if !branch_ok {
        return Err(RequestError::Branch(r.branch.clone()));
    }
    if !is_uri_user(&r.line_user) {
        return Err(RequestError::LineUser(r.line_user.clone()));
    }
    if !is_call_id(&r.call_id) {
        return Err(RequestError::CallId(r.call_id.clone()));
    }
    if r.from_tag.len() > 128 || !is_token(&r.from_tag) {
        return Err(RequestError::FromTag(r.from_tag.clone()));
    }
    if r.cseq >= 1 << 31 {
        return Err(RequestError::CSeq(r.cseq));
    }
    let phone = host(r.phone);
    let local = host(r.local);
    let user = &r.line_user;
    let mut headers = vec![
        Header::new(
            "Via",
            format!(
                "SIP/2.0/UDP {local}:{};branch={};rport",
                r.local.port(),
                r.branch
            ),
        ),
        Header::new("Max-Forwards", "70"),
        Header::new(
            "From",
            format!("<sip:phoneboot@{local}>;tag={}", r.from_tag),
        ),
        Header::new("To", format!("<sip:{user}@{phone}>")),
        Header::new("Call-ID", r.call_id.clone()),
        Header::new("CSeq", format!("{} NOTIFY", r.cseq)),
        Header::new(
            "Contact",
            format!("<sip:phoneboot@{local}:{}>", r.local.port()),
        ),
    ];
    let body = match &r.kind {
        Kind::CheckSync => {
            headers.push(Header::new("Event", "check-sync"));
            // RFC 6665 §8.2.1 wants it on every NOTIFY; Asterisk sends the
            // same for its cisco-check-cfg.
            headers.push(Header::new("Subscription-State", "terminated"));
            String::new()
        }
        Kind::ServiceControl {
            action,
            register_call_id,
        } => {
            let call_id = register_call_id.as_deref().unwrap_or_default();
            if !call_id.is_empty() && (!is_call_id(call_id) || call_id.contains(['{', '}'])) {
                return Err(RequestError::RegisterCallId(call_id.to_owned()));
            }
            headers.push(Header::new("Event", "service-control"));
            headers.push(Header::new("Subscription-State", "active"));
            headers.push(Header::new("Content-Type", "text/plain"));
            format!(
                "action={}\r\nRegisterCallId={{{call_id}}}\r\nConfigVersionStamp={ZERO_STAMP}\r\n\
                 DialplanVersionStamp={ZERO_STAMP}\r\nSoftkeyVersionStamp={ZERO_STAMP}\r\n\
                 FeatureControlVersionStamp={ZERO_STAMP}\r\n",
                action.as_str()
            )
        }
    };
    headers.push(Header::new("User-Agent", "phoneboot"));
    headers.push(Header::new("Content-Length", body.len().to_string()));
    Ok(Message {
        start: StartLine::Request {
            method: Method::Notify,
            uri: format!("sip:{user}@{phone}:{}", r.phone.port()),
        },
        headers,
        body: body.into_bytes(),
    })
}

/// An address as a SIP host: IPv6 in brackets.
fn host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// RFC 3261 §25.1 `user`: unreserved, user-unreserved and %HH escapes.
fn is_uri_user(s: &str) -> bool {
    if s.is_empty() || s.len() > 128 {
        return false;
    }
    let bytes = s.as_bytes();
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |k: usize| bytes.get(k).is_some_and(|h| h.is_ascii_hexdigit());
            if !hex(i.saturating_add(1)) || !hex(i.saturating_add(2)) {
                return false;
            }
            i = i.saturating_add(3);
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b)) {
            return false;
        }
        i = i.saturating_add(1);
    }
    true
}

/// RFC 3261 §25.1 `callid`: word ["@" word].
fn is_call_id(s: &str) -> bool {
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~()<>:\\\"/[]?{}".contains(&b))
    };
    if s.len() > 256 {
        return false;
    }
    match s.split_once('@') {
        Some((a, b)) => word(a) && word(b),
        None => word(s),
    }
}

#[cfg(test)]
// A base instant only; the code under test never reads the clock.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn request(kind: Kind) -> NotifyRequest {
        NotifyRequest {
            kind,
            phone: "10.0.0.5:5060".parse().unwrap(),
            local: "10.0.0.1:5060".parse().unwrap(),
            line_user: "1001".into(),
            call_id: "c0ffee@10.0.0.1".into(),
            from_tag: "f00d".into(),
            branch: "z9hG4bKbeef".into(),
            cseq: 1300,
        }
    }

    fn start(kind: Kind, retransmit: Retransmit) -> (Instant, Notify) {
        let now = Instant::now();
        (now, Notify::new(now, request(kind), retransmit).unwrap())
    }

    /// The phone's side: parse what was sent and answer it.
    fn reply(n: &Notify, status: u16, reason: &str) -> Vec<u8> {
        let sent = n.request().to_bytes().unwrap();
        Message::parse(&sent)
            .unwrap()
            .response(status, reason, "ph1")
            .to_bytes()
            .unwrap()
    }

    /// Runs the timers to the end without answers; returns the send times
    /// (as offsets from `t0`) and the final event with its time.
    fn run_silent(t0: Instant, n: &mut Notify) -> (Vec<Duration>, Event, Duration) {
        let mut sends = Vec::new();
        let mut out = Vec::new();
        let mut now = t0;
        for _ in 0..100 {
            while n.poll_transmit(&mut out) {
                sends.push(now - t0);
            }
            if let Some(e) = n.poll_event() {
                return (sends, e, now - t0);
            }
            now = n.poll_timeout().expect("a running transaction has a timer");
            n.handle_timeout(now);
        }
        panic!("never finished");
    }

    fn secs(v: &[f64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs_f64(*s)).collect()
    }

    #[test]
    fn check_sync_bytes() {
        let (_, n) = start(Kind::CheckSync, Retransmit::default());
        assert_eq!(n.destination(), "10.0.0.5:5060".parse().unwrap());
        assert_eq!(
            String::from_utf8(n.request().to_bytes().unwrap()).unwrap(),
            "NOTIFY sip:1001@10.0.0.5:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbeef;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:phoneboot@10.0.0.1>;tag=f00d\r\n\
To: <sip:1001@10.0.0.5>\r\n\
Call-ID: c0ffee@10.0.0.1\r\n\
CSeq: 1300 NOTIFY\r\n\
Contact: <sip:phoneboot@10.0.0.1:5060>\r\n\
Event: check-sync\r\n\
Subscription-State: terminated\r\n\
User-Agent: phoneboot\r\n\
Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn service_control_bytes() {
        let kind = Kind::ServiceControl {
            action: Action::Reset,
            register_call_id: Some("00112233-44550002@10.0.0.5".into()),
        };
        let (_, n) = start(kind, Retransmit::default());
        let text = String::from_utf8(n.request().to_bytes().unwrap()).unwrap();
        let body = "action=reset\r\n\
RegisterCallId={00112233-44550002@10.0.0.5}\r\n\
ConfigVersionStamp={00000000-0000-0000-0000-000000000000}\r\n\
DialplanVersionStamp={00000000-0000-0000-0000-000000000000}\r\n\
SoftkeyVersionStamp={00000000-0000-0000-0000-000000000000}\r\n\
FeatureControlVersionStamp={00000000-0000-0000-0000-000000000000}\r\n";
        let expected = format!(
            "NOTIFY sip:1001@10.0.0.5:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbeef;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:phoneboot@10.0.0.1>;tag=f00d\r\n\
To: <sip:1001@10.0.0.5>\r\n\
Call-ID: c0ffee@10.0.0.1\r\n\
CSeq: 1300 NOTIFY\r\n\
Contact: <sip:phoneboot@10.0.0.1:5060>\r\n\
Event: service-control\r\n\
Subscription-State: active\r\n\
Content-Type: text/plain\r\n\
User-Agent: phoneboot\r\n\
Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(text, expected);

        let restart = Kind::ServiceControl {
            action: Action::Restart,
            register_call_id: None,
        };
        let (_, n) = start(restart, Retransmit::default());
        let body = String::from_utf8(n.request().body.clone()).unwrap();
        assert!(
            body.starts_with("action=restart\r\nRegisterCallId={}\r\n"),
            "{body}"
        );
    }

    #[test]
    fn ipv6_addresses_are_bracketed() {
        let mut r = request(Kind::CheckSync);
        r.phone = "[2001:db8::5]:5060".parse().unwrap();
        r.local = "[2001:db8::1]:5062".parse().unwrap();
        let n = Notify::new(Instant::now(), r, Retransmit::default()).unwrap();
        let m = n.request();
        assert_eq!(m.request_uri(), Some("sip:1001@[2001:db8::5]:5060"));
        assert_eq!(m.top_via().unwrap().host, "2001:db8::1");
        assert_eq!(m.top_via().unwrap().port, Some(5062));
    }

    #[test]
    fn retransmits_double_up_to_t2_then_give_up_after_max_tries() {
        let (t0, mut n) = start(Kind::CheckSync, Retransmit::default());
        let (sends, event, at) = run_silent(t0, &mut n);
        // Gaps 0.5, 1, 2, 4, 4, 4 s; then one more interval to wait for an answer.
        assert_eq!(sends, secs(&[0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5]));
        assert_eq!(event, Event::NoAnswer { tries: 7 });
        assert_eq!(at, Duration::from_secs_f64(19.5));
        assert_eq!(n.answer(), Some(Answer::None));
        assert_eq!(n.answer().unwrap().to_string(), "none");
        assert_eq!(n.duration(), Some(at));
        assert!(n.is_finished());
        assert_eq!(n.poll_timeout(), None);
        assert!(n.poll_event().is_none(), "exactly one event");
    }

    #[test]
    fn timer_f_ends_it_when_max_tries_is_large() {
        let retransmit = Retransmit {
            max_tries: 100,
            ..Retransmit::default()
        };
        let (t0, mut n) = start(Kind::CheckSync, retransmit);
        let (sends, event, at) = run_silent(t0, &mut n);
        assert_eq!(
            sends,
            secs(&[0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
        );
        assert_eq!(event, Event::NoAnswer { tries: 11 });
        assert_eq!(at, Duration::from_secs(32));
    }

    #[test]
    fn final_answers_end_it() {
        for (status, reason, answer, text) in [
            (200, "OK", Answer::Ok200, "200"),
            (404, "Not Found", Answer::NotFound404, "404"),
            (
                481,
                "Call/Transaction Does Not Exist",
                Answer::NoTransaction481,
                "481",
            ),
            (503, "Service Unavailable", Answer::Other(503), "503"),
        ] {
            let (t0, mut n) = start(Kind::CheckSync, Retransmit::default());
            let mut out = Vec::new();
            assert!(n.poll_transmit(&mut out));
            assert!(!n.poll_transmit(&mut out), "one datagram per send");
            n.handle_timeout(t0 + Duration::from_millis(500));
            assert!(n.poll_transmit(&mut out));
            n.handle_datagram(t0 + Duration::from_millis(600), &reply(&n, status, reason));
            assert_eq!(
                n.poll_event(),
                Some(Event::Answered {
                    status,
                    reason: reason.into(),
                    tries: 2
                })
            );
            assert_eq!(n.answer(), Some(answer));
            assert_eq!(answer.to_string(), text);
            assert_eq!(n.duration(), Some(Duration::from_millis(600)));
            assert!(n.is_finished());
            assert!(!n.poll_transmit(&mut out));
            assert_eq!(n.poll_timeout(), None);
            // A retransmitted answer is counted, not reported again.
            n.handle_datagram(t0 + Duration::from_millis(700), &reply(&n, status, reason));
            assert_eq!(n.poll_event(), None);
            assert_eq!(n.stats().late, 1);
        }
    }

    #[test]
    fn provisional_keeps_it_open_and_retransmits_at_t2() {
        let (t0, mut n) = start(Kind::CheckSync, Retransmit::default());
        let mut out = Vec::new();
        let mut sends = Vec::new();
        let mut now = t0;
        while n.poll_transmit(&mut out) {
            sends.push(now - t0);
        }
        n.handle_datagram(t0 + Duration::from_millis(200), &reply(&n, 100, "Trying"));
        assert!(!n.is_finished());
        assert_eq!(n.poll_event(), None);
        assert_eq!(n.stats().provisional, 1);
        while sends.len() < 4 {
            now = n.poll_timeout().unwrap();
            n.handle_timeout(now);
            while n.poll_transmit(&mut out) {
                sends.push(now - t0);
            }
        }
        // The timer already running fires at 0.5 s; after that, T2.
        assert_eq!(sends, secs(&[0.0, 0.5, 4.5, 8.5]));
        n.handle_datagram(now, &reply(&n, 200, "OK"));
        assert_eq!(n.poll_event().unwrap().answer(), Answer::Ok200);
    }

    #[test]
    fn strays_are_counted_and_ignored() {
        let (t0, mut n) = start(Kind::CheckSync, Retransmit::default());
        let mut out = Vec::new();
        assert!(n.poll_transmit(&mut out));
        let ok = String::from_utf8(reply(&n, 200, "OK")).unwrap();
        let other_branch = ok.replace("z9hG4bKbeef", "z9hG4bKother");
        let other_method = ok.replace("1300 NOTIFY", "1300 OPTIONS");
        let a_request = String::from_utf8(out.clone()).unwrap();
        for stray in [&other_branch, &other_method, &a_request] {
            n.handle_datagram(t0, stray.as_bytes());
        }
        n.handle_datagram(t0, b"\x00\x01garbage");
        n.handle_datagram(t0, b"");
        assert_eq!(n.stats().ignored, 3);
        assert_eq!(n.stats().malformed, 2);
        assert!(!n.is_finished());
        assert_eq!(n.poll_event(), None);
        n.handle_datagram(t0, ok.as_bytes());
        assert_eq!(n.poll_event().unwrap().answer(), Answer::Ok200);
    }

    #[test]
    fn early_or_repeated_timeouts_do_nothing() {
        let (t0, mut n) = start(Kind::CheckSync, Retransmit::default());
        let mut out = Vec::new();
        assert!(n.poll_transmit(&mut out));
        let due = n.poll_timeout().unwrap();
        assert_eq!(due, t0 + Duration::from_millis(500));
        n.handle_timeout(t0 + Duration::from_millis(499));
        assert!(!n.poll_transmit(&mut out));
        assert_eq!(n.poll_timeout(), Some(due));
        n.handle_timeout(due);
        n.handle_timeout(due);
        assert!(n.poll_transmit(&mut out));
        assert!(!n.poll_transmit(&mut out));
        assert_eq!(n.stats().tries, 2);
    }

    #[test]
    fn transport_error_ends_it() {
        let (t0, mut n) = start(Kind::CheckSync, Retransmit::default());
        assert!(n.poll_transmit(&mut Vec::new()));
        n.handle_transport_error(t0);
        assert_eq!(n.poll_event(), Some(Event::NoAnswer { tries: 1 }));
        assert!(n.stats().transport_error);
        n.handle_transport_error(t0);
        assert_eq!(n.poll_event(), None);
    }

    #[test]
    fn bad_requests_are_refused() {
        let now = Instant::now();
        let build = |f: &dyn Fn(&mut NotifyRequest)| {
            let mut r = request(Kind::CheckSync);
            f(&mut r);
            Notify::new(now, r, Retransmit::default()).unwrap_err()
        };
        assert_eq!(
            build(&|r| r.branch = "abc".into()),
            RequestError::Branch("abc".into())
        );
        assert_eq!(
            build(&|r| r.branch = "z9hG4bK".into()),
            RequestError::Branch("z9hG4bK".into())
        );
        for user in ["", "a@b", "a b", "a:b", "50%", "x\r\n"] {
            assert_eq!(
                build(&|r| r.line_user = user.into()),
                RequestError::LineUser(user.into())
            );
        }
        assert_eq!(
            build(&|r| r.call_id = "a b".into()),
            RequestError::CallId("a b".into())
        );
        assert_eq!(
            build(&|r| r.from_tag = "t;x".into()),
            RequestError::FromTag("t;x".into())
        );
        assert_eq!(build(&|r| r.cseq = 1 << 31), RequestError::CSeq(1 << 31));
        assert_eq!(
            build(&|r| {
                r.kind = Kind::ServiceControl {
                    action: Action::Reset,
                    register_call_id: Some("a}b".into()),
                }
            }),
            RequestError::RegisterCallId("a}b".into())
        );
        for retransmit in [
            Retransmit {
                t1: Duration::ZERO,
                ..Retransmit::default()
            },
            Retransmit {
                t2: Duration::from_millis(100),
                ..Retransmit::default()
            },
            Retransmit {
                max_tries: 0,
                ..Retransmit::default()
            },
        ] {
            assert_eq!(
                Notify::new(now, request(Kind::CheckSync), retransmit).unwrap_err(),
                RequestError::Timers
            );
        }
        // Escapes and user-unreserved characters are fine.
        let mut r = request(Kind::CheckSync);
        r.line_user = "line%201;x=y".into();
        assert!(Notify::new(now, r, Retransmit::default()).is_ok());
    }
}
