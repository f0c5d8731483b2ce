//! One phone's provisioning state: what it is believed to run and why, its
//! download, its timers, and the stage and view derived from them.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use super::vocab::{
    Channel, ConfigSource, Diagnosis, Intent, PendingReboot, PhoneRecord, PhoneView, Progress,
    Stage,
};
use crate::desired::Mac;
use crate::files::classify;
use crate::load_name::LoadName;
use crate::model::Model;
use crate::plan::{Plan, PlanError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    NoTftp = 0,
    Settle = 1,
    Stall = 2,
    Reboot = 3,
}

pub(super) const TIMERS: [Timer; 4] = [Timer::NoTftp, Timer::Settle, Timer::Stall, Timer::Reboot];

#[derive(Debug, Clone)]
pub(super) struct Download {
    pub(super) load: LoadName,
    pub(super) files: Vec<String>,
    pub(super) done: Vec<bool>,
    pub(super) bytes_done: u64,
    pub(super) bytes_total: u64,
    pub(super) complete: bool,
}

impl Download {
    pub(super) fn progress(&self) -> Progress {
        Progress {
            files_done: self.done.iter().filter(|d| **d).count(),
            files_total: self.files.len(),
            bytes_done: self.bytes_done,
            bytes_total: self.bytes_total,
        }
    }

    /// Whether a loader is among the files fetched.
    pub(super) fn loader_done(&self) -> bool {
        self.files
            .iter()
            .zip(&self.done)
            .any(|(f, done)| *done && classify(f).is_some_and(|f| f.is_loader()))
    }

    pub(super) fn missing(&self) -> Vec<String> {
        self.files
            .iter()
            .zip(&self.done)
            .filter(|(_, d)| !**d)
            .map(|(f, _)| f.clone())
            .collect()
    }
}

#[derive(Debug, Clone)]
pub(super) struct Told {
    pub(super) load: LoadName,
    pub(super) file: String,
}

#[derive(Debug, Clone)]
pub(super) struct Phone {
    pub(super) mac: Mac,
    pub(super) ip: Option<IpAddr>,
    pub(super) model: Option<Model>,
    pub(super) model_sure: bool,
    pub(super) model_evidence: String,
    pub(super) current: Option<LoadName>,
    pub(super) evidence: String,
    /// The operator's start load was contradicted by the phone.
    pub(super) start_refuted: bool,
    /// Fetched a config at least once.
    pub(super) configured: bool,
    pub(super) intent: Option<Intent>,
    pub(super) plan: Option<Result<Plan, PlanError>>,
    pub(super) hops_done: u32,
    pub(super) download: Option<Download>,
    /// The download finished and the phone has made a request since.
    pub(super) returned: bool,
    pub(super) told: Option<Told>,
    /// Boots that began after a config named this load, without the load
    /// being fetched in between.
    pub(super) quiet_boots: Option<(LoadName, u32)>,
    pub(super) attempts: u32,
    /// Downloads of the current hop restarted after part of it was fetched.
    pub(super) restarts: u32,
    pub(super) term_requests: VecDeque<Instant>,
    pub(super) stall: Option<Diagnosis>,
    pub(super) last_seen: Option<Instant>,
    pub(super) timers: [Option<Instant>; 4],
    pub(super) stage: Stage,
    /// Registered with phoneboot over SCCP now.
    pub(super) sccp: bool,
    /// A reboot sent that the phone has not come back from.
    pub(super) reboot: Option<PendingReboot>,
    /// Reboots sent towards this load (the hop its config names).
    pub(super) resets: Option<(LoadName, u32)>,
    /// Where its last config came from; the operator's word replaces the plan.
    pub(super) source: ConfigSource,
}

impl Phone {
    pub(super) fn new(mac: Mac) -> Phone {
        Phone {
            mac,
            ip: None,
            model: None,
            model_sure: false,
            model_evidence: String::new(),
            current: None,
            evidence: "nothing seen yet".to_owned(),
            start_refuted: false,
            configured: false,
            intent: None,
            plan: None,
            hops_done: 0,
            download: None,
            returned: false,
            told: None,
            quiet_boots: None,
            attempts: 0,
            restarts: 0,
            term_requests: VecDeque::new(),
            stall: None,
            last_seen: None,
            timers: [None; 4],
            stage: Stage::Discovered,
            sccp: false,
            reboot: None,
            resets: None,
            source: ConfigSource::Unknown,
        }
    }

    /// The load the plan starts from: what the phone showed, else what the operator said.
    pub(super) fn belief(&self) -> Option<&LoadName> {
        let fits = |l: &&LoadName| self.model.is_none_or(|m| l.fits(m));
        self.current.as_ref().filter(fits).or_else(|| {
            if self.start_refuted {
                None
            } else {
                self.intent
                    .as_ref()
                    .and_then(|i| i.start_load.as_ref())
                    .filter(fits)
            }
        })
    }

    pub(super) fn serving(&self) -> Option<LoadName> {
        let model = self.model?;
        if let ConfigSource::Operator { load, .. } = &self.source {
            // What the operator's file names is what the phone is told;
            // naming nothing leaves it on what it runs.
            let load = load.as_ref().or(self.belief())?;
            return load.fits(model).then(|| load.clone());
        }
        let load = match &self.plan {
            Some(Ok(p)) => p
                .next()
                .map(|h| h.load.clone())
                .or_else(|| self.belief().cloned()),
            // No safe plan: keep the phone where it is.
            _ => self.belief().cloned(),
        }?;
        load.fits(model).then_some(load)
    }

    pub(super) fn timer(&mut self, t: Timer) -> &mut Option<Instant> {
        let [no_tftp, settle, stall, reboot] = &mut self.timers;
        match t {
            Timer::NoTftp => no_tftp,
            Timer::Settle => settle,
            Timer::Stall => stall,
            Timer::Reboot => reboot,
        }
    }

    /// How phoneboot can reboot it now: its SCCP session with phoneboot,
    /// else NOTIFY when it is known to run a SIP load at a known address.
    pub(super) fn channel(&self) -> Option<Channel> {
        if self.sccp {
            return Some(Channel::Sccp);
        }
        let load = self.current.as_ref()?;
        self.ip?;
        if load.protocol() != Some(crate::model::Protocol::Sip) {
            return None;
        }
        let model = self.model?;
        Some(if model.family() == crate::model::Family::Series79x0 {
            Channel::SipCheckSync
        } else {
            Channel::SipServiceControl
        })
    }

    /// Heard from after a reboot was sent: the reboot is over.
    pub(super) fn came_back(&mut self) {
        if self.reboot.take().is_some() {
            *self.timer(Timer::Reboot) = None;
        }
        if matches!(self.stall, Some(Diagnosis::NoReturn { .. })) {
            self.stall = None;
        }
    }

    /// Reboots sent towards `load`.
    pub(super) fn resets_towards(&self, load: Option<&LoadName>) -> u32 {
        match (&self.resets, load) {
            (Some((l, n)), Some(load)) if l == load => *n,
            _ => 0,
        }
    }

    pub(super) fn hops_left(&self) -> u32 {
        if let ConfigSource::Operator { load, .. } = &self.source {
            return u32::from(load.is_some() && self.belief() != load.as_ref());
        }
        match &self.plan {
            Some(Ok(p)) => u32::try_from(p.hops.len()).unwrap_or(u32::MAX),
            _ => 0,
        }
    }

    pub(super) fn diagnosis(&self) -> Option<Diagnosis> {
        match &self.plan {
            Some(Err(e)) => Some(Diagnosis::Plan(e.clone())),
            _ => self.stall.clone().or_else(|| self.operator_skips()),
        }
    }

    /// The operator's file names a load the phone cannot reach from the one
    /// it is known to run without a stepping stone the file skips.
    pub(super) fn operator_skips(&self) -> Option<Diagnosis> {
        let ConfigSource::Operator {
            file,
            load: Some(load),
        } = &self.source
        else {
            return None;
        };
        let from = self.current.as_ref()?;
        let first = match &self.plan {
            Some(Ok(p)) if p.hops.len() > 1 => p.next()?.load.clone(),
            _ => return None,
        };
        Some(Diagnosis::OperatorSkips {
            file: file.clone(),
            load: load.clone(),
            from: from.clone(),
            first,
        })
    }

    pub(super) fn compute_stage(&self) -> Stage {
        if matches!(self.plan, Some(Err(_))) {
            return Stage::Failed;
        }
        if self.stall.is_some() || self.operator_skips().is_some() {
            return Stage::Stalled;
        }
        let hop = self.hops_done.saturating_add(1);
        let of = self.hops_done.saturating_add(self.hops_left());
        if let Some(d) = &self.download {
            return if !d.complete {
                Stage::Downloading {
                    hop,
                    of,
                    progress: d.progress(),
                }
            } else if self.returned {
                Stage::Verifying { hop, of }
            } else {
                Stage::Rebooting { hop, of }
            };
        }
        if self.model.is_none() {
            return Stage::Discovered;
        }
        if self.reboot.is_some() && self.hops_left() > 0 {
            return Stage::Resetting { hop, of };
        }
        if self.belief().is_some() && self.hops_left() == 0 {
            return Stage::Done;
        }
        if self.hops_done > 0 {
            return Stage::OnHop {
                hop: self.hops_done,
                of,
            };
        }
        if self.configured {
            return Stage::Configured;
        }
        Stage::Discovered
    }

    pub(super) fn record(&self) -> PhoneRecord {
        PhoneRecord {
            mac: self.mac,
            model: self.model,
            ip: self.ip,
            current: self.current.clone(),
            evidence: self.evidence.clone(),
            attempts: self.attempts,
        }
    }

    pub(super) fn view(&self) -> PhoneView {
        let hops = match &self.plan {
            Some(Ok(p)) => p.hops.clone(),
            _ => Vec::new(),
        };
        let target = match (&self.plan, &self.source) {
            (_, ConfigSource::Operator { load, .. }) => load.clone().or(self.belief().cloned()),
            (Some(Ok(p)), _) => p.target().cloned().or_else(|| self.belief().cloned()),
            _ => None,
        };
        PhoneView {
            mac: self.mac,
            ip: self.ip,
            model: self.model,
            model_evidence: self.model_evidence.clone(),
            current: self.belief().cloned(),
            evidence: if self.current.is_none() && self.belief().is_some() {
                "the operator's start load".to_owned()
            } else {
                self.evidence.clone()
            },
            next: self.serving(),
            target,
            hops,
            stage: self.stage,
            progress: self.download.as_ref().map(Download::progress),
            diagnosis: self.diagnosis(),
            attempts: self.attempts,
            last_seen: self.last_seen,
            channel: self.channel(),
            reboot: self.reboot.clone(),
            resets: self.resets_towards(self.serving().as_ref()),
            hops_done: self.hops_done,
            config_source: self.source.clone(),
        }
    }
}
