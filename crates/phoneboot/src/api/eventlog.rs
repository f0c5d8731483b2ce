//! The recent-events ring behind `/api/events` and its live stream.
//!
//! The log is the [`EventBus`]'s recorder: for each event, as it is
//! emitted, it stamps it with a sequence number and wall-clock time, works out which phone it concerns
//! (its own MAC; for transfers the MAC leased to the client's IP, or the MAC
//! in a `SEP<mac>` file name), feeds the metrics, keeps it in a bounded ring
//! and re-broadcasts it to SSE subscribers. Filters are applied per reader.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use super::metrics::Metrics;
use crate::events::{Event, EventBus};

/// How many events `/api/events` can look back over.
pub const CAPACITY: usize = 10_000;
/// How many events an SSE reader may fall behind before it is told it lagged.
const STREAM_BACKLOG: usize = 1024;

/// One event as readers see it. Held by value in the ring, so an event
/// costs one allocation (the bus's `Arc<Event>`), not two, and thousands
/// of retained entries do not pin allocator pages between short-lived
/// transfer allocations (issue #16: the ring was ~2 MB of the 200-client
/// peak).
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub time_unix_ms: i64,
    pub kind: &'static str,
    /// The phone the event concerns, when one is known.
    pub mac: Option<[u8; 6]>,
    event: Arc<Event>,
}

impl Entry {
    /// The event's JSON with `seq`, `time_unix_ms` and (when known) `mac`
    /// added. Built when a reader asks, not for every event: at thousands
    /// of DHCP exchanges a second, most entries are never read (issue #15).
    pub fn json(&self) -> serde_json::Value {
        let mut json = serde_json::to_value(&*self.event).unwrap_or_default();
        if let Some(obj) = json.as_object_mut() {
            obj.insert("seq".into(), self.seq.into());
            obj.insert("time_unix_ms".into(), self.time_unix_ms.into());
            if let Some(m) = &self.mac {
                obj.entry("mac")
                    .or_insert_with(|| cisco::Mac(*m).to_string().into());
            }
        }
        json
    }
}

#[derive(Debug)]
pub struct EventLog {
    ring: Mutex<VecDeque<Entry>>,
    /// The last sequence number and the addresses tied to phones, taken in
    /// emit order.
    follow: Mutex<(u64, HashMap<IpAddr, [u8; 6]>)>,
    live: broadcast::Sender<Entry>,
    pub metrics: Metrics,
}

/// Which events a reader wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub mac: Option<[u8; 6]>,
    pub types: Option<Vec<String>>,
    pub since_unix_ms: Option<i64>,
    pub until_unix_ms: Option<i64>,
}

impl Filter {
    pub fn matches(&self, e: &Entry) -> bool {
        self.mac.is_none_or(|m| e.mac == Some(m))
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.iter().any(|t| t == e.kind))
            && self.since_unix_ms.is_none_or(|s| e.time_unix_ms >= s)
            && self.until_unix_ms.is_none_or(|u| e.time_unix_ms <= u)
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The phone behind a download from `client`: the MAC in a per-phone file
/// name, which also ties the address to that phone for its other requests
/// (XMLDefault, firmware), as a lease does; else the address's phone.
fn transfer_mac(
    leased: &mut HashMap<IpAddr, [u8; 6]>,
    client: std::net::SocketAddr,
    file: &str,
) -> Option<[u8; 6]> {
    if let Some(m) = mac_in_file_name(file) {
        // Bounded: a flood of made-up names from many addresses must not
        // grow it without end.
        if leased.len() >= 65_536 {
            leased.clear();
        }
        leased.insert(client.ip(), m);
    }
    leased.get(&client.ip()).copied()
}

/// The MAC in a Cisco per-phone file name (`SEP001122334455.cnf.xml`,
/// `CTLSEP…tlv`, `SIP…cnf`), as the provisioning engine reads it.
pub fn mac_in_file_name(file: &str) -> Option<[u8; 6]> {
    cisco::RequestedFile::of_path(file).mac().map(|m| m.0)
}

impl EventLog {
    pub fn new() -> EventLog {
        EventLog {
            // Sized once: a ring that grows by doubling leaves its old buffers
            // behind in the allocator; untouched pages cost nothing.
            ring: Mutex::new(VecDeque::with_capacity(CAPACITY)),
            follow: Mutex::new((0, HashMap::new())),
            live: broadcast::channel(STREAM_BACKLOG).0,
            metrics: Metrics::default(),
        }
    }

    /// Records every event `bus` emits from now on, on the emitter's
    /// thread (the bus's recorder, not a task following the broadcast: a
    /// task was woken for each event, a thread wake-up per DHCP exchange;
    /// issue #15). Attach before drivers start, so nothing from start-up
    /// is missed.
    pub fn attach(self: &Arc<Self>, bus: &EventBus) {
        let log = self.clone();
        bus.record(Arc::new(move |ev: &Arc<Event>| {
            let mut follow = log.follow.lock().unwrap_or_else(|p| p.into_inner());
            let (seq, leased) = &mut *follow;
            *seq += 1;
            log.record(*seq, ev, leased);
        }));
    }

    fn record(&self, seq: u64, ev: &Arc<Event>, leased: &mut HashMap<IpAddr, [u8; 6]>) {
        let mac = match &**ev {
            Event::Dhcp(d) => {
                if let (Some(m), Some(ip), dhcp::EventKind::Ack) = (d.mac, d.ip, d.kind) {
                    leased.insert(IpAddr::V4(ip), m.0);
                }
                d.mac.map(|m| m.0)
            }
            Event::Phone(p) => Some(p.mac.0),
            Event::Syslog(m) => m.mac.map(|m| m.0),
            Event::SccpRegister(r) => r.mac.map(|m| m.0),
            Event::SccpSession(r) => r.mac.map(|m| m.0),
            Event::SccpReset(r) => Some(r.mac.0),
            Event::SipNotify(n) => Some(n.mac.0),
            Event::TftpTransfer(t) => transfer_mac(leased, t.client, &t.file),
            Event::HttpTransfer(h) => transfer_mac(leased, h.client, &h.file),
            Event::TransferStarted(t) => transfer_mac(leased, t.client, &t.file),
            Event::TftpRefused(r) => transfer_mac(leased, r.client, ""),
        };
        self.metrics.observe(ev);
        let time_unix_ms = unix_ms();
        let entry = Entry {
            seq,
            time_unix_ms,
            kind: ev.kind(),
            mac,
            event: ev.clone(),
        };
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() >= CAPACITY {
                ring.pop_front();
            }
            ring.push_back(entry.clone());
        }
        let _ = self.live.send(entry);
    }

    /// The newest `limit` entries that match, oldest first.
    pub fn query(&self, filter: &Filter, limit: usize) -> Vec<Entry> {
        let Ok(ring) = self.ring.lock() else {
            return Vec::new();
        };
        let mut out: Vec<_> = ring
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// Live entries from now on; take the subscription before reading a
    /// backlog with [`EventLog::query`] so nothing falls between the two.
    pub fn subscribe(&self) -> broadcast::Receiver<Entry> {
        self.live.subscribe()
    }

    pub fn len(&self) -> usize {
        self.ring.lock().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sep_file_names_name_a_phone() {
        assert_eq!(
            mac_in_file_name("SEP001122AABBCC.cnf.xml"),
            Some([0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc])
        );
        assert_eq!(
            mac_in_file_name("sep001122aabbcc.cnf.xml"),
            Some([0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc])
        );
        assert_eq!(mac_in_file_name("SEPDefault.cnf"), None);
        assert_eq!(mac_in_file_name("term71.default.loads"), None);
        assert_eq!(mac_in_file_name("SEP"), None);
        assert_eq!(mac_in_file_name("SEP00112233445é.cnf"), None);
    }
}
