//! One read transfer as a state machine with no I/O.
//!
//! After creating a [`Transfer`] and after every `handle_*` call, the driver
//! drains [`Transfer::poll_datagram`] (or [`Transfer::poll_transmit`], which
//! copies into a buffer) until it returns nothing, then reads
//! [`Transfer::poll_timeout`] to know when to call
//! [`Transfer::handle_timeout`], then drains [`Transfer::poll_event`]. The
//! transfer is over once [`Transfer::is_finished`] is true.
//!
//! Sending is go-back-N over RFC 7440 windows (window 1 is plain RFC 1350
//! lock-step). Blocks are counted internally as `u64` and put on the wire as
//! their low 16 bits, so block numbers roll over to 0 after 65535 and files of
//! any size work at any block size.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::netascii;
use crate::request::{Mode, Policy, Request};
use crate::wire::{self, ErrorCode, Repr};

/// What was agreed with the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub blksize: u16,
    pub windowsize: u16,
    /// The client's `timeout` option, when it sent one we accepted.
    pub timeout: Option<u8>,
    /// The size announced with `tsize`, when the client asked.
    pub tsize: Option<u64>,
    /// True when an OACK was sent (the client must ACK block 0 first).
    pub oack: bool,
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every block was acknowledged.
    Completed,
    /// Every block was sent at least once but the ACK of the last one never
    /// came. The client most likely has the file: RFC 1350 §6 notes that the
    /// final ACK may be lost, and a client that has the whole file stops
    /// listening.
    FinalAckLost,
    /// The client sent an ERROR; the transfer ended at once. Error 8 after an
    /// OACK is how clients end a tsize probe.
    ClientError { code: ErrorCode, message: String },
    /// No progress after the retry budget.
    TimedOut,
    /// The driver ended it (shutdown).
    Aborted,
}

impl Outcome {
    /// True when the client (very likely) received the whole file.
    pub fn delivered(&self) -> bool {
        matches!(self, Outcome::Completed | Outcome::FinalAckLost)
    }
}

/// Counters for the transfer's one log line and for benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// DATA packets put on the wire, retransmissions included.
    pub data_packets: u64,
    /// DATA packets that were retransmissions.
    pub retransmitted: u64,
    /// Duplicate or stale ACKs that were ignored (RFC 1123 §4.2.3.1).
    pub ignored_acks: u64,
    /// Datagrams that were not ACK or ERROR, or did not parse.
    pub ignored_datagrams: u64,
    /// Timeouts that fired.
    pub timeouts: u64,
}

/// Something the driver should report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Finished(Summary),
}

/// The end of a transfer, with everything its log line needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub outcome: Outcome,
    pub negotiated: Negotiated,
    /// Bytes of the file the client acknowledged.
    pub bytes_acked: u64,
    /// Size of the file as sent (after netascii conversion).
    pub size: u64,
    pub duration: Duration,
    pub stats: Stats,
}

/// One datagram to send: the DATA header and a slice of the file, kept apart
/// so a driver can hand both to the kernel (one `iovec` each) without
/// copying the block into a buffer first. An OACK is all payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    header: [u8; wire::DATA_HEADER_LEN],
    header_len: u8,
    payload: Bytes,
}

impl Datagram {
    /// The bytes before the payload (empty for an OACK).
    pub fn header(&self) -> &[u8] {
        &self.header[..usize::from(self.header_len)]
    }

    /// The rest of the datagram: a shared slice of the file for DATA.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Length on the wire.
    #[allow(clippy::len_without_is_empty)] // a datagram is never empty
    pub fn len(&self) -> usize {
        usize::from(self.header_len) + self.payload.len()
    }

    /// Appends the whole datagram to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.header());
        out.extend_from_slice(&self.payload);
    }
}

/// A read transfer. See the module docs for the driving order.
#[derive(Debug)]
pub struct Transfer {
    content: Bytes,
    negotiated: Negotiated,
    /// The OACK's options, when one is owed: only options the client sent
    /// are acknowledged (RFC 2347).
    oack_options: Vec<(&'static str, String)>,
    blksize: u64,
    window: u64,
    /// Index of the last DATA block (the first short block; possibly empty).
    last_block: u64,
    /// Lowest unacknowledged index. Index 0 is the OACK.
    base: u64,
    /// Next index `poll_transmit` sends.
    cursor: u64,
    /// One past the highest index ever sent: anything below is a retransmit.
    high_water: u64,
    rto: Duration,
    max_rto: Duration,
    min_rto: Duration,
    srtt: Option<Duration>,
    rttvar: Duration,
    /// (index, first send time) of one block in flight, for an RTT sample.
    /// Cleared on retransmission (Karn's algorithm).
    rtt_probe: Option<(u64, Instant)>,
    retries: u32,
    max_retries: u32,
    deadline: Option<Instant>,
    started: Instant,
    now: Instant,
    outcome: Option<Outcome>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Transfer {
    /// Starts a transfer of `content` for an accepted `request`. The first
    /// packet (OACK or DATA 1) is ready in `poll_transmit` at once.
    pub fn new(now: Instant, request: &Request, content: Bytes, policy: &Policy) -> Transfer {
        let content = match request.mode {
            Mode::Octet => content,
            Mode::Netascii => Bytes::from(netascii::encode(&content)),
        };
        let opts = &request.options;
        let blksize = opts
            .blksize
            .map(|b| b.min(policy.max_blksize).max(8))
            .unwrap_or(512);
        let window_by_bytes = (policy.max_window_bytes / usize::from(blksize)).max(1);
        let windowsize = opts
            .windowsize
            .map(|w| {
                w.min(policy.max_windowsize)
                    .min(u16::try_from(window_by_bytes).unwrap_or(u16::MAX))
                    .max(1)
            })
            .unwrap_or(1);
        let size = content.len() as u64;
        let mut oack_options = Vec::new();
        if opts.blksize.is_some() {
            oack_options.push(("blksize", blksize.to_string()));
        }
        if opts.tsize {
            oack_options.push(("tsize", size.to_string()));
        }
        if let Some(t) = opts.timeout {
            oack_options.push(("timeout", t.to_string()));
        }
        if opts.windowsize.is_some() {
            oack_options.push(("windowsize", windowsize.to_string()));
        }
        let negotiated = Negotiated {
            blksize,
            windowsize,
            timeout: opts.timeout,
            tsize: opts.tsize.then_some(size),
            oack: !oack_options.is_empty(),
        };
        let max_rto = match opts.timeout {
            Some(t) => policy.max_rto.min(Duration::from_secs(u64::from(t))),
            None => policy.max_rto,
        };
        let min_rto = policy.min_rto.min(max_rto);
        let base = if negotiated.oack { 0 } else { 1 };
        let mut t = Transfer {
            negotiated,
            oack_options,
            blksize: u64::from(blksize),
            window: u64::from(windowsize),
            last_block: size / u64::from(blksize) + 1,
            content,
            base,
            cursor: base,
            high_water: base,
            rto: policy.initial_rto.clamp(min_rto, max_rto),
            max_rto,
            min_rto,
            srtt: None,
            rttvar: Duration::ZERO,
            rtt_probe: None,
            retries: 0,
            max_retries: policy.max_retries,
            deadline: None,
            started: now,
            now,
            outcome: None,
            events: VecDeque::new(),
            stats: Stats::default(),
        };
        t.deadline = Some(now + t.rto);
        t
    }

    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Bytes acknowledged so far and the total, for progress displays.
    pub fn progress(&self) -> (u64, u64) {
        (self.bytes_acked(), self.content.len() as u64)
    }

    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Feeds one datagram from the client's transfer port.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.now = now;
        if self.outcome.is_some() {
            return;
        }
        match Repr::parse(datagram) {
            Ok(Repr::Ack { block }) => self.on_ack(now, block),
            Ok(Repr::Error { code, message }) => self.finish(Outcome::ClientError {
                code,
                message: message.to_owned(),
            }),
            // A retransmitted RRQ, stray DATA, garbage: the transfer goes on;
            // answering garbage could start an error ping-pong.
            _ => self.stats.ignored_datagrams += 1,
        }
    }

    /// Runs the retransmission timer. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.outcome.is_some() {
            return;
        }
        match self.deadline {
            Some(d) if now >= d => {}
            _ => return,
        }
        self.stats.timeouts += 1;
        if self.retries >= self.max_retries {
            let all_sent = self.high_water > self.last_block;
            self.finish(if all_sent {
                Outcome::FinalAckLost
            } else {
                Outcome::TimedOut
            });
            return;
        }
        self.retries += 1;
        self.rto = (self.rto * 2).min(self.max_rto);
        self.rtt_probe = None;
        // Go back to the first unacknowledged block and resend the window.
        self.cursor = self.base;
        self.deadline = Some(now + self.rto);
    }

    /// The client's port is closed (ICMP port unreachable). Once every block
    /// has been sent, that is how a client that got the whole file looks when
    /// its final ACK was lost, so it ends as [`Outcome::FinalAckLost`];
    /// before that the client gave up and the transfer is aborted. The driver
    /// should first feed any datagrams still queued: the final ACK may sit
    /// behind the error.
    pub fn handle_unreachable(&mut self, now: Instant) {
        self.now = now;
        if self.outcome.is_none() {
            let all_sent = self.high_water > self.last_block;
            self.finish(if all_sent {
                Outcome::FinalAckLost
            } else {
                Outcome::Aborted
            });
        }
    }

    /// Ends the transfer from the driver's side (shutdown).
    pub fn abort(&mut self, now: Instant) {
        self.now = now;
        if self.outcome.is_none() {
            self.finish(Outcome::Aborted);
        }
    }

    /// Writes the next packet to send into `out` (cleared first). Returns
    /// false when there is nothing to send now. Same as
    /// [`Transfer::poll_datagram`], with a copy.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        match self.poll_datagram() {
            Some(d) => {
                d.write_to(out);
                true
            }
            None => false,
        }
    }

    /// The next datagram to send, or `None` when there is nothing to send
    /// now.
    #[must_use]
    pub fn poll_datagram(&mut self) -> Option<Datagram> {
        if self.outcome.is_some() || self.cursor >= self.send_limit() {
            return None;
        }
        let index = self.cursor;
        self.cursor += 1;
        if index < self.high_water {
            if index > 0 {
                self.stats.retransmitted += 1;
            }
        } else {
            self.high_water = index + 1;
            if self.rtt_probe.is_none() {
                self.rtt_probe = Some((index, self.now));
            }
        }
        if index == 0 {
            let mut oack = Vec::new();
            self.emit_oack(&mut oack);
            return Some(Datagram {
                header: [0; wire::DATA_HEADER_LEN],
                header_len: 0,
                payload: Bytes::from(oack),
            });
        }
        self.stats.data_packets += 1;
        Some(Datagram {
            header: wire::data_header(index as u16),
            header_len: wire::DATA_HEADER_LEN as u8,
            payload: self.block(index),
        })
    }

    /// When `handle_timeout` next needs to run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            None
        } else {
            self.deadline
        }
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// One past the highest index that may be in flight.
    fn send_limit(&self) -> u64 {
        if self.base == 0 {
            // Nothing but the OACK until the client ACKs block 0.
            1
        } else {
            (self.base + self.window).min(self.last_block + 1)
        }
    }

    /// Block `index` as a shared slice of the content (no copy).
    fn block(&self, index: u64) -> Bytes {
        let len = self.content.len() as u64;
        let start = (index - 1).saturating_mul(self.blksize).min(len);
        let end = start.saturating_add(self.blksize).min(len);
        self.content.slice(start as usize..end as usize)
    }

    fn emit_oack(&self, out: &mut Vec<u8>) {
        let options = self
            .oack_options
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        Repr::Oack { options }.emit(out);
    }

    fn bytes_acked(&self) -> u64 {
        let acked_blocks = self.base.saturating_sub(1);
        acked_blocks
            .saturating_mul(self.blksize)
            .min(self.content.len() as u64)
    }

    fn on_ack(&mut self, now: Instant, block: u16) {
        // The ACK names an index in [base, high_water) by its low 16 bits.
        // Windows are far smaller than 2^15, so at most one index matches.
        let in_flight = self.base..self.high_water;
        let Some(index) = in_flight.clone().rev().find(|i| *i as u16 == block) else {
            // A duplicate of an ACK already counted, or stale: answering it
            // would double every later DATA packet (sorcerer's apprentice).
            self.stats.ignored_acks += 1;
            return;
        };
        if let Some((probe, sent)) = self.rtt_probe {
            if index >= probe {
                self.sample_rtt(now.saturating_duration_since(sent));
                self.rtt_probe = None;
            }
        }
        self.base = index + 1;
        self.retries = 0;
        // Progress shows the path works again: drop the back-off instead of
        // waiting for a clean sample (Karn), or one lost block would make
        // every loss after it cost seconds.
        self.rto = self.computed_rto().unwrap_or(self.rto);
        if self.base > self.last_block {
            self.finish(Outcome::Completed);
            return;
        }
        // An ACK short of what was sent means the client saw a gap (RFC 7440
        // §4): resend from the first block it lacks.
        if self.cursor < self.base || index + 1 < self.high_water {
            self.cursor = self.base;
        }
        self.deadline = Some(now + self.rto);
    }

    /// RFC 6298 estimator.
    fn sample_rtt(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        self.rto = self.computed_rto().unwrap_or(self.rto);
    }

    fn computed_rto(&self) -> Option<Duration> {
        let srtt = self.srtt?;
        Some((srtt + self.rttvar * 4).clamp(self.min_rto, self.max_rto))
    }

    fn finish(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome.clone());
        self.deadline = None;
        self.events.push_back(Event::Finished(Summary {
            outcome,
            negotiated: self.negotiated.clone(),
            bytes_acked: self.bytes_acked(),
            size: self.content.len() as u64,
            duration: self.now.saturating_duration_since(self.started),
            stats: self.stats.clone(),
        }));
    }
}
