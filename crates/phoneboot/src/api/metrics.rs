//! `/metrics` in the Prometheus text format, written by hand: a few counters
//! and two histograms do not need a metrics crate. Counters are fed from the
//! event stream (see `eventlog`); gauges (leases, live transfers, firmware)
//! are read when scraped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::events::Event;

/// Upper bounds (seconds) for DHCP decide→send latency.
const DHCP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Upper bounds (seconds) for whole transfers: configs take milliseconds,
/// firmware images seconds to minutes.
const TRANSFER_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, buckets: &[f64], v: f64) {
        if self.counts.len() != buckets.len() {
            self.counts = vec![0; buckets.len()];
        }
        for (c, b) in self.counts.iter_mut().zip(buckets) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Counters {
    /// (protocol, result) → transfers finished.
    transfers: BTreeMap<(&'static str, String), u64>,
    /// protocol → bytes delivered.
    bytes: BTreeMap<&'static str, u64>,
    /// kind → count.
    errors: BTreeMap<String, u64>,
    /// DHCP decision kind → count.
    dhcp: BTreeMap<String, u64>,
    dhcp_latency: Histogram,
    /// protocol → duration of transfers that delivered the file.
    transfer_duration: BTreeMap<&'static str, Histogram>,
    /// (event, result) → SCCP registrations, resets and NOTIFYs.
    control: BTreeMap<(&'static str, &'static str), u64>,
}

/// Counters the event follower updates.
#[derive(Debug, Default)]
pub struct Metrics {
    c: Mutex<Counters>,
}

/// Values read at scrape time.
#[derive(Debug, Default)]
pub struct Gauges {
    pub uptime_seconds: f64,
    pub leases_active: u64,
    pub leases_expired: u64,
    pub transfers_active: BTreeMap<&'static str, usize>,
    pub loads_complete: usize,
    pub loads_incomplete: usize,
    /// Phones the provisioning engine knows, by stage.
    pub phones_by_stage: BTreeMap<&'static str, usize>,
    /// Phones registered with phoneboot over SCCP.
    pub sccp_sessions: usize,
}

impl Metrics {
    pub fn observe(&self, ev: &Event) {
        let Ok(mut c) = self.c.lock() else { return };
        if let Some(t) = ev.finished_transfer() {
            *c.transfers
                .entry((t.protocol.word(), t.result.word().to_owned()))
                .or_default() += 1;
            *c.bytes.entry(t.protocol.word()).or_default() += t.bytes;
            if t.delivered {
                c.transfer_duration
                    .entry(t.protocol.word())
                    .or_default()
                    .observe(TRANSFER_BUCKETS, t.duration_ms / 1000.0);
            } else {
                *c.errors
                    .entry(format!("{}_{}", t.protocol, t.result))
                    .or_default() += 1;
            }
            return;
        }
        match ev {
            Event::TftpRefused(_) => *c.errors.entry("tftp_refused".into()).or_default() += 1,
            Event::SccpRegister(r) => {
                let result = if r.accepted { "accepted" } else { "refused" };
                *c.control.entry(("sccp_register", result)).or_default() += 1;
            }
            Event::SccpReset(r) => {
                *c.control
                    .entry(("sccp_reset", r.result.word()))
                    .or_default() += 1
            }
            Event::SipNotify(n) => {
                *c.control
                    .entry(("sip_notify", n.answer.word()))
                    .or_default() += 1
            }
            Event::Dhcp(d) => {
                let kind = crate::events::dhcp_kind_word(&d.kind);
                if matches!(
                    d.kind,
                    dhcp::EventKind::Nak
                        | dhcp::EventKind::Conflict
                        | dhcp::EventKind::ForeignServer
                        | dhcp::EventKind::Declined
                        | dhcp::EventKind::Dropped
                ) {
                    *c.errors.entry(format!("dhcp_{kind}")).or_default() += 1;
                }
                *c.dhcp.entry(kind).or_default() += 1;
                if let Some(ms) = d.reply_ms {
                    c.dhcp_latency.observe(DHCP_BUCKETS, ms / 1000.0);
                }
            }
            _ => {}
        }
    }

    /// Transfers finished and errors seen, for `/api/status`.
    pub fn totals(&self) -> (u64, BTreeMap<String, u64>) {
        let Ok(c) = self.c.lock() else {
            return Default::default();
        };
        (c.transfers.values().sum(), c.errors.clone())
    }

    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        let Ok(c) = self.c.lock() else { return out };
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "phoneboot_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        let _ = writeln!(out, "phoneboot_uptime_seconds {:.3}", g.uptime_seconds);
        head(
            &mut out,
            "phoneboot_leases",
            "gauge",
            "DHCP leases in the store, by state.",
        );
        let _ = writeln!(
            out,
            "phoneboot_leases{{state=\"active\"}} {}",
            g.leases_active
        );
        let _ = writeln!(
            out,
            "phoneboot_leases{{state=\"expired\"}} {}",
            g.leases_expired
        );
        head(
            &mut out,
            "phoneboot_transfers_active",
            "gauge",
            "Downloads running now.",
        );
        for (p, n) in &g.transfers_active {
            let _ = writeln!(out, "phoneboot_transfers_active{{protocol=\"{p}\"}} {n}");
        }
        head(
            &mut out,
            "phoneboot_phones",
            "gauge",
            "Phones the provisioning engine knows, by stage.",
        );
        for (stage, n) in &g.phones_by_stage {
            let _ = writeln!(out, "phoneboot_phones{{stage=\"{stage}\"}} {n}");
        }
        head(
            &mut out,
            "phoneboot_sccp_sessions",
            "gauge",
            "Phones registered with phoneboot over SCCP.",
        );
        let _ = writeln!(out, "phoneboot_sccp_sessions {}", g.sccp_sessions);
        head(
            &mut out,
            "phoneboot_phone_control_total",
            "counter",
            "SCCP registrations, SCCP resets and SIP NOTIFYs, by event and result.",
        );
        for ((e, r), n) in &c.control {
            let _ = writeln!(
                out,
                "phoneboot_phone_control_total{{event=\"{e}\",result=\"{r}\"}} {n}"
            );
        }
        head(
            &mut out,
            "phoneboot_transfers_total",
            "counter",
            "Downloads finished, by protocol and result.",
        );
        for ((p, r), n) in &c.transfers {
            let _ = writeln!(
                out,
                "phoneboot_transfers_total{{protocol=\"{p}\",result=\"{r}\"}} {n}"
            );
        }
        head(
            &mut out,
            "phoneboot_bytes_served_total",
            "counter",
            "Bytes delivered to phones, by protocol.",
        );
        for p in ["http", "tftp"] {
            let n = c.bytes.get(p).copied().unwrap_or(0);
            let _ = writeln!(out, "phoneboot_bytes_served_total{{protocol=\"{p}\"}} {n}");
        }
        head(
            &mut out,
            "phoneboot_errors_total",
            "counter",
            "Failed transfers, refusals and DHCP trouble, by kind.",
        );
        for (k, n) in &c.errors {
            let _ = writeln!(out, "phoneboot_errors_total{{kind=\"{k}\"}} {n}");
        }
        head(
            &mut out,
            "phoneboot_dhcp_decisions_total",
            "counter",
            "DHCP decisions, by kind.",
        );
        for (k, n) in &c.dhcp {
            let _ = writeln!(out, "phoneboot_dhcp_decisions_total{{kind=\"{k}\"}} {n}");
        }
        head(
            &mut out,
            "phoneboot_firmware_loads",
            "gauge",
            "Loads in the firmware library; only complete ones are served.",
        );
        let _ = writeln!(
            out,
            "phoneboot_firmware_loads{{complete=\"true\"}} {}",
            g.loads_complete
        );
        let _ = writeln!(
            out,
            "phoneboot_firmware_loads{{complete=\"false\"}} {}",
            g.loads_incomplete
        );
        head(
            &mut out,
            "phoneboot_dhcp_reply_seconds",
            "histogram",
            "DHCP latency from decision to reply sent (lease commit included).",
        );
        histogram(
            &mut out,
            "phoneboot_dhcp_reply_seconds",
            "",
            DHCP_BUCKETS,
            &c.dhcp_latency,
        );
        head(
            &mut out,
            "phoneboot_transfer_duration_seconds",
            "histogram",
            "Duration of delivered downloads, by protocol.",
        );
        for p in ["http", "tftp"] {
            let h = c.transfer_duration.get(p).cloned().unwrap_or_default();
            histogram(
                &mut out,
                "phoneboot_transfer_duration_seconds",
                &format!("protocol=\"{p}\","),
                TRANSFER_BUCKETS,
                &h,
            );
        }
        out
    }
}

fn histogram(out: &mut String, name: &str, labels: &str, buckets: &[f64], h: &Histogram) {
    for (i, b) in buckets.iter().enumerate() {
        let n = h.counts.get(i).copied().unwrap_or(0);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{b}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", h.count);
    let plain = labels.trim_end_matches(',');
    let braces = if plain.is_empty() {
        String::new()
    } else {
        format!("{{{plain}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", h.sum);
    let _ = writeln!(out, "{name}_count{braces} {}", h.count);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{HttpTransfer, TransferResult};

    #[test]
    fn transfers_move_counters_and_histograms() {
        let m = Metrics::default();
        let ev = |result, bytes, ms| {
            Event::HttpTransfer(HttpTransfer {
                client: "127.0.0.1:1".parse().unwrap(),
                file: "a".into(),
                source: None,
                status: 200,
                size: 10,
                bytes,
                duration_ms: ms,
                result,
                error: None,
            })
        };
        m.observe(&ev(TransferResult::Ok, 10, 20.0));
        m.observe(&ev(TransferResult::Ok, 10, 2000.0));
        m.observe(&ev(TransferResult::NotFound, 0, 1.0));
        let text = m.render(&Gauges::default());
        assert!(
            text.contains("phoneboot_transfers_total{protocol=\"http\",result=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("phoneboot_bytes_served_total{protocol=\"http\"} 20\n"),
            "{text}"
        );
        assert!(
            text.contains("phoneboot_errors_total{kind=\"http_not_found\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "phoneboot_transfer_duration_seconds_bucket{protocol=\"http\",le=\"0.05\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "phoneboot_transfer_duration_seconds_bucket{protocol=\"http\",le=\"5\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("phoneboot_transfer_duration_seconds_count{protocol=\"http\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("phoneboot_dhcp_reply_seconds_count 0\n"),
            "{text}"
        );
    }
}
