//! The phone side of SIP NOTIFY: a settled SIP load listens on its SIP
//! port, and a NOTIFY is the only way its server makes it reboot between
//! boots.
//!
//! [`Responder`] decides the answer to each datagram with no I/O, the way
//! the two Cisco SIP stacks do: 79x0 loads (`P0S3-…`) act on `check-sync`
//! (the phone then reads `syncinfo.xml`, see `Phone`), and the Java loads'
//! sipcc stack acts on `service-control` and only answers `check-sync`.
//! [`serve`] runs the responder on a bound socket.

use std::collections::VecDeque;
use std::net::SocketAddr;

use sipnotify::{Message, Method, StartLine};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Which SIP stack answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipStack {
    /// 79x0 SIP loads: `check-sync` only; anything else is 489.
    Cisco79x0,
    /// 79x1/79x2/79x5 SIP 9.x (sipcc): `service-control` acts, `check-sync`
    /// is answered 200 and does nothing (sipcc's
    /// SIPTaskProcessSIPNotifyCheckSync), anything else is 489.
    Sipcc,
}

/// What a NOTIFY asks of the phone once it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Nothing (an error answer, a no-op event, or a retransmission).
    Nothing,
    /// 79x0: read syncinfo.xml and reboot if the sync value changed.
    CheckSync,
    /// service-control `action=reset`: full reboot, DHCP included.
    Reset,
    /// service-control `action=restart`: reboot without DHCP.
    Restart,
}

/// One NOTIFY the phone received and how it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// The Event header's type, if any.
    pub event: Option<String>,
    pub status: u16,
    pub order: Order,
    /// Same Call-ID and CSeq as one answered before: the same answer went
    /// out again and `order` is [`Order::Nothing`].
    pub repeat: bool,
}

/// A datagram to send back, and what the phone heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub datagram: Vec<u8>,
    pub to: SocketAddr,
    pub heard: Heard,
}

/// Answers remembered for retransmissions; NOTIFY senders give up after
/// about 20 s, so a handful is plenty.
const REMEMBERED: usize = 16;

/// Answers NOTIFYs for one phone. No I/O.
#[derive(Debug)]
pub struct Responder {
    stack: SipStack,
    /// The line-1 name a NOTIFY must address; `None` accepts any user.
    line1: Option<String>,
    /// To tag of this phone's answers.
    tag: String,
    answered: VecDeque<((String, u32), Vec<u8>, u16)>,
}

impl Responder {
    pub fn new(stack: SipStack, line1: Option<String>, tag: String) -> Responder {
        Responder {
            stack,
            line1,
            tag,
            answered: VecDeque::new(),
        }
    }

    /// The answer to one datagram from `source`, or `None` for anything
    /// but a well-formed NOTIFY (garbage, responses, other methods), which
    /// the phone drops.
    pub fn handle_datagram(&mut self, source: SocketAddr, datagram: &[u8]) -> Option<Reply> {
        let mut request = Message::parse(datagram).ok()?;
        if !matches!(
            &request.start,
            StartLine::Request {
                method: Method::Notify,
                ..
            }
        ) {
            return None;
        }
        request.add_received(source);
        let to = request.response_destination(source);
        let event = request.event().map(str::to_owned);
        let key = (
            request.call_id().unwrap_or_default().to_owned(),
            request.cseq().map_or(0, |c| c.number),
        );
        if let Some((_, datagram, status)) = self.answered.iter().find(|(k, _, _)| *k == key) {
            return Some(Reply {
                datagram: datagram.clone(),
                to,
                heard: Heard {
                    event,
                    status: *status,
                    order: Order::Nothing,
                    repeat: true,
                },
            });
        }
        let (status, reason, order) = self.decide(&request);
        let datagram = request
            .response(status, reason, &self.tag)
            .to_bytes()
            .ok()?;
        if self.answered.len() == REMEMBERED {
            self.answered.pop_front();
        }
        self.answered.push_back((key, datagram.clone(), status));
        Some(Reply {
            datagram,
            to,
            heard: Heard {
                event,
                status,
                order,
                repeat: false,
            },
        })
    }

    /// sipcc's order of checks: an Event header (400), a line the
    /// Request-URI names (404), then the event itself.
    fn decide(&self, request: &Message) -> (u16, &'static str, Order) {
        let Some(event) = request.event() else {
            return (400, "Bad Request", Order::Nothing);
        };
        if let Some(line) = &self.line1 {
            if request.request_uri_user() != Some(line.as_str()) {
                return (404, "Not Found", Order::Nothing);
            }
        }
        let event = event.to_ascii_lowercase();
        match (self.stack, event.as_str()) {
            (SipStack::Cisco79x0, "check-sync") => (200, "OK", Order::CheckSync),
            (SipStack::Sipcc, "check-sync") => (200, "OK", Order::Nothing),
            (SipStack::Sipcc, "service-control") => (200, "OK", service_action(&request.body)),
            _ => (489, "Bad Event", Order::Nothing),
        }
    }
}

/// The `action=` line of a service-control body; sipcc answers 200 to any
/// body and acts only on the actions it knows.
fn service_action(body: &[u8]) -> Order {
    let text = String::from_utf8_lossy(body);
    let action = text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("action")
            .then(|| v.trim().to_ascii_lowercase())
    });
    match action.as_deref() {
        Some("reset") => Order::Reset,
        Some("restart") => Order::Restart,
        _ => Order::Nothing,
    }
}

/// Answers every datagram on `socket` with `responder`, sending what the
/// phone heard on `events`, until `events` is closed.
pub async fn serve(
    socket: UdpSocket,
    mut responder: Responder,
    events: mpsc::UnboundedSender<Heard>,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, source) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors from earlier sends surface here; keep going.
                Err(_) => continue,
            },
            () = events.closed() => return,
        };
        let Some(reply) = responder.handle_datagram(source, &buf[..n]) else {
            continue;
        };
        let _ = socket.send_to(&reply.datagram, reply.to).await;
        if events.send(reply.heard).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use sipnotify::{Action, Kind, Notify, NotifyRequest, Retransmit};

    const PHONE: &str = "10.0.0.5:5060";
    const SERVER: &str = "10.0.0.1:5070";

    fn notify(kind: Kind, user: &str, cseq: u32) -> Vec<u8> {
        let mut n = Notify::new(
            Instant::now(),
            NotifyRequest {
                kind,
                phone: PHONE.parse().unwrap(),
                local: SERVER.parse().unwrap(),
                line_user: user.into(),
                call_id: "c1@10.0.0.1".into(),
                from_tag: "f1".into(),
                branch: format!("z9hG4bK{cseq}"),
                cseq,
            },
            Retransmit::default(),
        )
        .unwrap();
        let mut out = Vec::new();
        assert!(n.poll_transmit(&mut out));
        out
    }

    fn reset(action: Action) -> Kind {
        Kind::ServiceControl {
            action,
            register_call_id: None,
        }
    }

    fn answer(r: &mut Responder, datagram: &[u8]) -> Reply {
        r.handle_datagram(SERVER.parse().unwrap(), datagram)
            .unwrap()
    }

    #[test]
    fn a_79x0_acts_on_check_sync_only() {
        let mut r = Responder::new(SipStack::Cisco79x0, Some("100".into()), "t".into());
        let ok = answer(&mut r, &notify(Kind::CheckSync, "100", 1));
        assert_eq!((ok.heard.status, ok.heard.order), (200, Order::CheckSync));
        assert_eq!(ok.to, SERVER.parse().unwrap(), "rport: back to the source");
        let m = Message::parse(&ok.datagram).unwrap();
        assert_eq!((m.status(), m.to_tag()), (Some(200), Some("t")));
        let bad = answer(&mut r, &notify(reset(Action::Reset), "100", 2));
        assert_eq!((bad.heard.status, bad.heard.order), (489, Order::Nothing));
        assert_eq!(bad.heard.event.as_deref(), Some("service-control"));
    }

    #[test]
    fn sipcc_resets_restarts_and_ignores_check_sync() {
        let mut r = Responder::new(SipStack::Sipcc, Some("1001".into()), "t".into());
        let h = |r: &mut Responder, k, n| answer(r, &notify(k, "1001", n)).heard;
        assert_eq!(h(&mut r, reset(Action::Reset), 1).order, Order::Reset);
        assert_eq!(h(&mut r, reset(Action::Restart), 2).order, Order::Restart);
        let cs = h(&mut r, Kind::CheckSync, 3);
        assert_eq!((cs.status, cs.order), (200, Order::Nothing));
        assert_eq!(service_action(b"action=check-version\r\n"), Order::Nothing);
        assert_eq!(
            service_action(b"RegisterCallId={x}\nAction = Reset\n"),
            Order::Reset
        );
    }

    #[test]
    fn the_request_uri_must_name_line_one_unless_there_is_none() {
        let mut r = Responder::new(SipStack::Sipcc, Some("1001".into()), "t".into());
        let wrong = answer(&mut r, &notify(reset(Action::Reset), "1002", 1));
        assert_eq!(
            (wrong.heard.status, wrong.heard.order),
            (404, Order::Nothing)
        );
        let mut any = Responder::new(SipStack::Sipcc, None, "t".into());
        assert_eq!(
            answer(&mut any, &notify(reset(Action::Reset), "whoever", 1))
                .heard
                .order,
            Order::Reset
        );
    }

    #[test]
    fn retransmissions_get_the_same_answer_and_no_second_order() {
        let mut r = Responder::new(SipStack::Cisco79x0, None, "t".into());
        let d = notify(Kind::CheckSync, "100", 7);
        let first = answer(&mut r, &d);
        let again = answer(&mut r, &d);
        assert_eq!(first.datagram, again.datagram);
        assert!(!first.heard.repeat && again.heard.repeat);
        assert_eq!(again.heard.order, Order::Nothing);
        // A new CSeq is a new request.
        assert_eq!(
            answer(&mut r, &notify(Kind::CheckSync, "100", 8))
                .heard
                .order,
            Order::CheckSync
        );
    }

    #[test]
    fn garbage_responses_and_other_methods_are_dropped_and_no_event_is_400() {
        let mut r = Responder::new(SipStack::Cisco79x0, None, "t".into());
        let src: SocketAddr = SERVER.parse().unwrap();
        assert!(r.handle_datagram(src, b"\x00\x01garbage").is_none());
        let req = Message::parse(&notify(Kind::CheckSync, "100", 1)).unwrap();
        let resp = req.response(200, "OK", "x").to_bytes().unwrap();
        assert!(r.handle_datagram(src, &resp).is_none());
        let options = String::from_utf8(notify(Kind::CheckSync, "100", 2))
            .unwrap()
            .replacen("NOTIFY sip:", "OPTIONS sip:", 1)
            .replace("2 NOTIFY", "2 OPTIONS");
        assert!(r.handle_datagram(src, options.as_bytes()).is_none());
        let no_event = String::from_utf8(notify(Kind::CheckSync, "100", 3))
            .unwrap()
            .replace("Event: check-sync\r\n", "");
        assert_eq!(answer(&mut r, no_event.as_bytes()).heard.status, 400);
    }
}
