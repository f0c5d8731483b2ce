//! Fleet states and events as the API, the dashboard and the log show
//! them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use cisco::{Diagnosis, FleetEvent, Mac, PhoneView, Stage, TargetLoad};

use crate::events::PhoneEvent;

pub(super) fn fleet_mac(e: &FleetEvent) -> Option<Mac> {
    Some(match e {
        FleetEvent::Stage { mac, .. }
        | FleetEvent::HopDone { mac, .. }
        | FleetEvent::HopRetry { mac, .. }
        | FleetEvent::Belief { mac, .. }
        | FleetEvent::Reboot { mac, .. }
        | FleetEvent::Diagnosis { mac, .. } => *mac,
        _ => return None,
    })
}

/// The stage as one word, for the API and the dashboard.
pub fn stage_word(stage: &Stage) -> &'static str {
    match stage {
        Stage::Discovered => "discovered",
        Stage::Configured => "configured",
        Stage::Downloading { .. } => "downloading",
        Stage::Rebooting { .. } => "rebooting",
        Stage::Verifying { .. } => "verifying",
        Stage::Resetting { .. } => "resetting",
        Stage::OnHop { .. } => "on_hop",
        Stage::Done => "done",
        Stage::Stalled => "stalled",
        Stage::Failed => "failed",
        _ => "unknown",
    }
}

/// How many phones are at each stage, for `/metrics` and `/api/status`.
pub fn by_stage(phones: &[PhoneView]) -> BTreeMap<&'static str, usize> {
    let mut by = BTreeMap::new();
    for v in phones {
        *by.entry(stage_word(&v.stage)).or_default() += 1;
    }
    by
}

/// A short code per diagnosis.
pub fn diagnosis_code(d: &Diagnosis) -> &'static str {
    match d {
        Diagnosis::Plan(_) => "missing_load",
        Diagnosis::TermLoop { .. } => "term_loop",
        Diagnosis::ImageRefused { .. } => "image_refused",
        Diagnosis::OldTrustList { .. } => "old_trust_list",
        Diagnosis::LoaderOnly { .. } => "loader_only",
        Diagnosis::DownloadStalled { .. } => "download_stalled",
        Diagnosis::NoTftp { .. } => "no_tftp",
        Diagnosis::NoReturn { .. } => "no_return",
        Diagnosis::ResetsIgnored { .. } => "resets_ignored",
        Diagnosis::OperatorSkips { .. } => "operator_skips",
        _ => "other",
    }
}

/// The problem alone (`Display` of a diagnosis appends the fix).
pub fn diagnosis_problem(d: &Diagnosis) -> String {
    let full = d.to_string();
    let fix = d.fix();
    full.strip_suffix(&format!(": {fix}"))
        .map(str::to_owned)
        .unwrap_or(full)
}

/// `None` for fleet events about no phone.
pub(super) fn phone_event(e: &FleetEvent, ip: Option<IpAddr>) -> Option<PhoneEvent> {
    let mac = fleet_mac(e)?;
    let mut p = PhoneEvent {
        mac,
        ip,
        kind: "other",
        stage: None,
        load: None,
        message: String::new(),
        fix: None,
        code: None,
    };
    match e {
        FleetEvent::Stage { stage, .. } => {
            p.kind = "stage";
            p.stage = Some(stage_word(stage));
            p.message = stage.to_string();
        }
        FleetEvent::HopDone { load, attempts, .. } => {
            p.kind = "hop_done";
            p.load = Some(load.to_string());
            p.message = format!(
                "runs {load} now (verified: it came back and did not fetch it again; {attempts} download{})",
                if *attempts == 1 { "" } else { "s" }
            );
        }
        FleetEvent::HopRetry { load, attempts, .. } => {
            p.kind = "hop_retry";
            p.load = Some(load.to_string());
            p.message = format!("fetched {load} again after downloading all of it ({attempts} times): it did not take it");
        }
        FleetEvent::Belief {
            current, evidence, ..
        } => {
            p.kind = "belief";
            p.load = current.as_ref().map(ToString::to_string);
            p.message = match current {
                Some(l) => format!("runs {l} ({evidence})"),
                None => format!("running load unknown ({evidence})"),
            };
        }
        FleetEvent::Reboot {
            channel,
            cause,
            resets,
            ..
        } => {
            p.kind = "reboot";
            if let cisco::RebootCause::NextHop { next } = cause {
                p.load = Some(next.to_string());
            }
            p.message =
                format!("told to reboot with {channel}: {cause} (reboot {resets} for this hop)");
        }
        FleetEvent::Diagnosis { diagnosis, .. } => {
            p.kind = "diagnosis";
            p.code = Some(diagnosis_code(diagnosis));
            p.message = diagnosis_problem(diagnosis);
            p.fix = Some(diagnosis.fix());
        }
        _ => p.message = format!("{e:?}"),
    }
    Some(p)
}

/// The target as the fleet would resolve it, for display.
pub fn target_text(t: &TargetLoad) -> String {
    match t {
        TargetLoad::Newest => "newest".into(),
        TargetLoad::Exact(l) => l.to_string(),
    }
}
