//! What a run reports: per phone and in total, as text or one JSON document.

use std::fmt::Write as _;

use serde::Serialize;

/// How a phone ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Its run ended well: booted a load it was not told to leave, fetched
    /// its post-boot files, and (with an expected load) registered on that
    /// load; then no reboot order came during the hold.
    Settled,
    /// The server made it take a hop the real phone does not survive.
    Bricked,
    /// Gave up: a load it cannot run, no server, or a boot loop.
    Failed,
    /// Its run had not ended when `--timeout` ran out (still booting, or
    /// settled and waiting for the order that takes it to its expected load).
    TimedOut,
}

/// One upgrade the phone took (booted the new load afterwards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub from: String,
    pub to: String,
}

/// How one request ended, in the order the phone sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Which boot (1-based) sent it.
    pub boot: u32,
    pub file: String,
    /// `ok`, `not_found`, `aborted` or `failed`.
    pub result: &'static str,
    pub bytes: u64,
    /// FNV-1a 64 of a complete file, in hex: lets tests check contents
    /// byte for byte without keeping them.
    pub fnv64: Option<String>,
}

/// FNV-1a 64 of `data` as 16 hex digits.
pub fn fnv64(data: &[u8]) -> String {
    let h = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// SCCP Resets received, by type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Resets {
    /// Type 1: full reboot (DHCP again).
    pub reset: u32,
    /// Type 2: reboot without DHCP.
    pub restart: u32,
    /// Apply-config (3) and unknown types, which the phone ignores.
    pub other: u32,
}

impl Resets {
    pub fn count(&mut self, kind: sccp::ResetType) {
        let n = match kind {
            sccp::ResetType::Reset => &mut self.reset,
            sccp::ResetType::Restart => &mut self.restart,
            sccp::ResetType::ApplyConfig | sccp::ResetType::Unknown(_) => &mut self.other,
        };
        *n += 1;
    }

    pub fn total(&self) -> u32 {
        self.reset + self.restart + self.other
    }
}

/// One phone's story.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhoneReport {
    pub index: usize,
    pub model: String,
    pub mac: String,
    /// The source address it used (leased or assigned).
    pub ip: Option<String>,
    pub start_load: String,
    pub final_load: String,
    pub state: State,
    /// Why it bricked, failed or timed out.
    pub reason: Option<String>,
    /// At the end: SCCP loads registered with their call manager (RegisterAck
    /// on a live connection), SIP loads settled and listening for NOTIFY.
    pub registered: bool,
    /// RegisterAcks received (every boot and reconnect counts).
    pub sccp_registrations: u32,
    pub register_rejects: u32,
    /// The text of the last RegisterReject.
    pub last_reject: Option<String>,
    pub resets: Resets,
    /// NOTIFY requests received, retransmissions included.
    pub notifies: u32,
    /// Of those, retransmissions answered again without acting.
    pub notify_repeats: u32,
    /// Reboots NOTIFYs caused (service-control, or check-sync with a new SYNC).
    pub notify_reboots: u32,
    pub hops: Vec<Hop>,
    pub boots: u32,
    pub files_fetched: u64,
    pub files_not_found: u64,
    pub bytes: u64,
    /// Image downloads that stopped on a missing or failed file: the phone
    /// kept its old load and tried again on the next boot.
    pub failed_downloads: u32,
    /// Downloads cut half way by `--reboot-mid-download`.
    pub aborted_downloads: u32,
    /// Complete downloads after which the old image booted (`--keep-old-image`).
    pub kept_old_image: u32,
    pub timeouts: u64,
    pub dropped_data: u64,
    pub elapsed_ms: u64,
    pub requests: Vec<RequestRecord>,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Every phone settled.
    pub ok: bool,
    pub phones_total: usize,
    pub settled: usize,
    pub bricked: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub elapsed_ms: u64,
    pub phones: Vec<PhoneReport>,
}

impl Report {
    /// Totals over `phones`.
    pub fn new(phones: Vec<PhoneReport>, elapsed_ms: u64) -> Report {
        let count = |s: State| phones.iter().filter(|p| p.state == s).count();
        Report {
            ok: phones.iter().all(|p| p.state == State::Settled),
            phones_total: phones.len(),
            settled: count(State::Settled),
            bricked: count(State::Bricked),
            failed: count(State::Failed),
            timed_out: count(State::TimedOut),
            elapsed_ms,
            phones,
        }
    }

    /// One JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// One line per phone and a summary line.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for p in &self.phones {
            let hops = if p.hops.is_empty() {
                "no hops".to_owned()
            } else {
                let mut path = p.start_load.clone();
                for h in &p.hops {
                    path.push_str(" -> ");
                    path.push_str(&h.to);
                }
                path
            };
            let _ = write!(
                s,
                "phone {:>3} {:<8} {} {:<15} {:<9} {:<22} {} | {} boots, {} files, {} bytes, {:.1}s",
                p.index,
                p.model,
                p.mac,
                p.ip.as_deref().unwrap_or("-"),
                format!("{:?}", p.state).to_lowercase(),
                p.final_load,
                hops,
                p.boots,
                p.files_fetched,
                p.bytes,
                p.elapsed_ms as f64 / 1000.0
            );
            if p.registered {
                s.push_str(", registered");
            }
            if p.sccp_registrations > 0 {
                let _ = write!(s, ", {} SCCP registrations", p.sccp_registrations);
            }
            if p.resets.total() > 0 {
                let _ = write!(
                    s,
                    ", {} resets ({} reset, {} restart)",
                    p.resets.total(),
                    p.resets.reset,
                    p.resets.restart
                );
            }
            if p.notifies > 0 {
                let _ = write!(
                    s,
                    ", {} notifies ({} reboots)",
                    p.notifies, p.notify_reboots
                );
            }
            if p.register_rejects > 0 {
                let _ = write!(
                    s,
                    ", {} rejects (last {:?})",
                    p.register_rejects,
                    p.last_reject.as_deref().unwrap_or_default()
                );
            }
            if let Some(r) = &p.reason {
                let _ = write!(s, " ({r})");
            }
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "{} phones: {} settled, {} bricked, {} failed, {} timed out in {:.1}s",
            self.phones_total,
            self.settled,
            self.bricked,
            self.failed,
            self.timed_out,
            self.elapsed_ms as f64 / 1000.0
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone() -> PhoneReport {
        PhoneReport {
            index: 0,
            model: "7941".into(),
            mac: "00:1e:4a:00:00:00".into(),
            ip: Some("127.1.0.1".into()),
            start_load: "SCCP41.8-3-1S".into(),
            final_load: "SCCP41.8-5-2S".into(),
            state: State::Settled,
            reason: None,
            registered: true,
            sccp_registrations: 2,
            register_rejects: 1,
            last_reject: Some("unknown device".into()),
            resets: Resets {
                reset: 1,
                restart: 0,
                other: 0,
            },
            notifies: 0,
            notify_repeats: 0,
            notify_reboots: 0,
            hops: vec![Hop {
                from: "SCCP41.8-3-1S".into(),
                to: "SCCP41.8-5-2S".into(),
            }],
            boots: 3,
            files_fetched: 9,
            files_not_found: 4,
            bytes: 1000,
            failed_downloads: 0,
            aborted_downloads: 0,
            kept_old_image: 0,
            timeouts: 0,
            dropped_data: 0,
            elapsed_ms: 1500,
            requests: Vec::new(),
        }
    }

    #[test]
    fn text_names_registrations_resets_and_rejects_briefly() {
        let text = Report::new(vec![phone()], 1500).to_text();
        assert!(
            text.contains(
                ", registered, 2 SCCP registrations, 1 resets (1 reset, 0 restart), 1 rejects (last \"unknown device\")"
            ),
            "{text}"
        );
        assert!(!text.contains("notifies"), "{text}");
        let mut sip = phone();
        (sip.sccp_registrations, sip.register_rejects, sip.resets) = (0, 0, Resets::default());
        (sip.notifies, sip.notify_reboots) = (3, 1);
        let text = Report::new(vec![sip], 1500).to_text();
        assert!(
            text.contains(", registered, 3 notifies (1 reboots)"),
            "{text}"
        );
    }

    #[test]
    fn json_keeps_the_old_fields_and_adds_the_new_ones() {
        let json: serde_json::Value =
            serde_json::from_str(&Report::new(vec![phone()], 1500).to_json()).unwrap();
        let p = &json["phones"][0];
        for old in [
            "state",
            "final_load",
            "hops",
            "boots",
            "registered",
            "requests",
        ] {
            assert!(!p[old].is_null(), "{old}");
        }
        assert_eq!(p["sccp_registrations"], 2);
        assert_eq!(p["register_rejects"], 1);
        assert_eq!(p["last_reject"], "unknown device");
        assert_eq!(p["resets"]["reset"], 1);
        assert_eq!(p["resets"]["restart"], 0);
        assert_eq!(
            (p["notifies"].as_u64(), p["notify_reboots"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(json["settled"], 1);
    }
}
