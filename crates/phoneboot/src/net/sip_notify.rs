//! The NOTIFY sender: tells SIP phones to check their config (79x0
//! `check-sync`) or to reset (Java SIP loads, `service-control`). One UDP
//! socket, any number of `sipnotify::Notify` transactions; each ends in a
//! `sip_notify` event with the phone's answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sipnotify::{Action, Answer, Kind, Notify, NotifyRequest, Retransmit};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, EventBus, NotifyAnswer, SipNotify};
use crate::provision::{ControlError, NotifyKind, NotifyOrder};

/// Transactions in flight at most; more orders wait in the queue.
const MAX_IN_FLIGHT: usize = 256;

/// Where orders go in.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::Sender<NotifyOrder>,
    pub sent: Arc<AtomicU64>,
}

impl Notifier {
    /// Queues a NOTIFY.
    pub fn send(&self, order: NotifyOrder) -> Result<(), ControlError> {
        self.tx.try_send(order).map_err(|_| ControlError::Busy)
    }
}

/// Binds nothing itself: `socket` is bound by `serve`; `local` is the
/// address phones answer to (Via and Contact).
pub fn start(
    socket: UdpSocket,
    local: SocketAddr,
    events: EventBus,
    shutdown: CancellationToken,
) -> (Notifier, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let (tx, rx) = mpsc::channel(1024);
    let sent = Arc::new(AtomicU64::new(0));
    let notifier = Notifier {
        tx,
        sent: sent.clone(),
    };
    let task = tokio::spawn(run(socket, local, rx, events, sent, shutdown));
    (notifier, task)
}

struct InFlight {
    notify: Notify,
    order: NotifyOrder,
}

async fn run(
    socket: UdpSocket,
    local: SocketAddr,
    mut rx: mpsc::Receiver<NotifyOrder>,
    events: EventBus,
    sent: Arc<AtomicU64>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut flights: HashMap<String, InFlight> = HashMap::new();
    let mut seq: u64 = 0;
    let salt = salt();
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::new();
    loop {
        // Send what is due, report what ended.
        let now = Instant::now();
        let mut done = Vec::new();
        for (branch, f) in &mut flights {
            while f.notify.poll_transmit(&mut out) {
                if socket.send_to(&out, f.order.phone).await.is_err() {
                    f.notify.handle_transport_error(now);
                }
            }
            if let Some(ev) = f.notify.poll_event() {
                events.emit(Event::SipNotify(record(&f.order, &ev)));
                done.push(branch.clone());
            } else if f.notify.is_finished() {
                done.push(branch.clone());
            }
        }
        for b in done {
            flights.remove(&b);
        }
        let wake = flights
            .values()
            .filter_map(|f| f.notify.poll_timeout())
            .min();
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            order = rx.recv(), if flights.len() < MAX_IN_FLIGHT => {
                let Some(order) = order else { break };
                seq = seq.wrapping_add(1);
                let kind = match order.kind {
                    NotifyKind::CheckSync => Kind::CheckSync,
                    NotifyKind::ServiceControlReset => Kind::ServiceControl {
                        action: Action::Reset,
                        register_call_id: None,
                    },
                };
                let branch = format!("z9hG4bK{salt:x}{seq:x}");
                let request = NotifyRequest {
                    kind,
                    phone: order.phone,
                    local,
                    line_user: order.user.clone(),
                    call_id: format!("{salt:x}-{seq:x}@{}", local.ip()),
                    from_tag: format!("pb{seq:x}"),
                    branch: branch.clone(),
                    cseq: 1,
                };
                match Notify::new(Instant::now(), request, Retransmit::default()) {
                    Ok(notify) => {
                        sent.fetch_add(1, Ordering::Relaxed);
                        flights.insert(branch, InFlight { notify, order });
                    }
                    Err(e) => events.emit(Event::SipNotify(SipNotify {
                        mac: order.mac,
                        phone: order.phone,
                        event: order.kind.event(),
                        user: order.user.clone(),
                        status: None,
                        answer: NotifyAnswer::Error,
                        tries: 0,
                        cause: format!("{}; not sent: {e}", order.cause),
                    })),
                }
            }
            r = socket.recv_from(&mut buf) => {
                let Ok((n, _from)) = r else { continue };
                let datagram = &buf[..n];
                // Route by the branch of the top Via; anything else is dropped.
                let branch = sipnotify::Message::parse(datagram)
                    .ok()
                    .and_then(|m| m.top_via().and_then(|v| v.branch()).map(str::to_owned));
                if let Some(f) = branch.and_then(|b| flights.get_mut(&b)) {
                    f.notify.handle_datagram(Instant::now(), datagram);
                }
            }
            _ = sleep => {
                let now = Instant::now();
                for f in flights.values_mut() {
                    f.notify.handle_timeout(now);
                }
            }
        }
    }
    Ok(())
}

fn record(order: &NotifyOrder, ev: &sipnotify::Event) -> SipNotify {
    let answer = ev.answer();
    let tries = match ev {
        sipnotify::Event::Answered { tries, .. } | sipnotify::Event::NoAnswer { tries } => *tries,
    };
    SipNotify {
        mac: order.mac,
        phone: order.phone,
        event: order.kind.event(),
        user: order.user.clone(),
        status: answer.status(),
        answer: match answer {
            Answer::Ok200 => NotifyAnswer::Ok,
            Answer::NotFound404 => NotifyAnswer::NotFound,
            Answer::NoTransaction481 => NotifyAnswer::NoTransaction,
            Answer::Other(_) => NotifyAnswer::Other,
            Answer::None => NotifyAnswer::NoAnswer,
        },
        tries,
        cause: order.cause.clone(),
    }
}

/// Distinguishes this run's Call-IDs and branches from an earlier run's.
fn salt() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
}
