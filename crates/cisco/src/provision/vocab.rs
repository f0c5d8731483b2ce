//! The words the rest of the program uses for provisioning: what the
//! operator wants ([`Intent`], [`Policy`]), where a phone is ([`Stage`],
//! [`Progress`]), what is wrong ([`Diagnosis`]), what happened
//! ([`FleetEvent`]) and what is believed about a phone ([`PhoneView`],
//! [`PhoneRecord`]).

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::desired::{Mac, TargetLoad};
use crate::load_name::LoadName;
use crate::model::{Model, Protocol};
use crate::plan::{Hop, PlanError};

/// What the operator wants for one phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The protocol it should end on.
    pub protocol: Protocol,
    /// The load it should end on.
    pub target: TargetLoad,
    /// What the operator says it runs now, used until the phone shows otherwise.
    pub start_load: Option<LoadName>,
}

/// Where the fleet gets each phone's [`Intent`]. The binary resolves
/// phone > model > family > defaults itself; `mac` is `None` for the
/// model-wide default (`XMLDefault.cnf.xml`).
pub trait Intents {
    /// The intent for this phone (or, with `mac` `None`, for phones of `model`
    /// without their own entry).
    fn intent(&self, mac: Option<Mac>, model: Model) -> Intent;
}

impl<F: Fn(Option<Mac>, Model) -> Intent> Intents for F {
    fn intent(&self, mac: Option<Mac>, model: Model) -> Intent {
        self(mac, model)
    }
}

/// Timing and thresholds. Plain data; the defaults suit real phones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How long after a config a phone that has not asked for the named load
    /// is taken to run it.
    pub settle: Duration,
    /// A lease with no TFTP request after this long is diagnosed.
    pub no_tftp_after: Duration,
    /// An unfinished download with no request for this long is diagnosed.
    pub download_stall: Duration,
    /// This many `termNN.default.loads` requests within `term_loop_window` is a loop.
    pub term_loop_count: usize,
    /// See `term_loop_count`.
    pub term_loop_window: Duration,
    /// Complete downloads of one hop before "keeps its old image" is diagnosed.
    pub max_attempts: u32,
    /// Whether phoneboot reboots a phone into its next hop by itself.
    pub reboot: RebootMode,
    /// A phone told to reboot that makes no DHCP or file request within
    /// this long is diagnosed.
    pub reboot_timeout: Duration,
    /// Reboots sent towards one hop before the phone is diagnosed instead.
    pub max_resets: u32,
}

/// Whether phoneboot sends the reboots that move a phone to its next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RebootMode {
    /// As soon as a hop is verified and the next one is ready.
    #[default]
    Auto,
    /// Only when the operator asks.
    Manual,
}

/// How phoneboot can make a phone reboot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The phone is registered with phoneboot over SCCP: `Reset` type 1.
    Sccp,
    /// A 79x0 SIP load: NOTIFY `check-sync`; it reboots when the SYNC of
    /// its `syncinfo.xml` differs from the one in its config.
    SipCheckSync,
    /// A Java SIP load: NOTIFY `service-control` with `action=reset`.
    SipServiceControl,
}

impl Channel {
    /// A short word for logs and the API.
    pub fn word(self) -> &'static str {
        match self {
            Channel::Sccp => "sccp_reset",
            Channel::SipCheckSync => "sip_check_sync",
            Channel::SipServiceControl => "sip_service_control",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Sccp => "SCCP Reset",
            Channel::SipCheckSync => "SIP NOTIFY check-sync",
            Channel::SipServiceControl => "SIP NOTIFY service-control reset",
        })
    }
}

/// Why a reboot was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebootCause {
    /// Its hop is verified and `next` is ready.
    NextHop {
        /// The load its config names now.
        next: LoadName,
    },
    /// The operator asked.
    Operator,
}

impl fmt::Display for RebootCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RebootCause::NextHop { next } => write!(f, "next hop {next} is ready"),
            RebootCause::Operator => f.write_str("the operator asked"),
        }
    }
}

/// A reboot that was asked for and whose phone has not come back yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReboot {
    /// How it was sent.
    pub channel: Channel,
    /// Why.
    pub cause: RebootCause,
    /// When.
    pub at: Instant,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            settle: Duration::from_secs(90),
            no_tftp_after: Duration::from_secs(120),
            download_stall: Duration::from_secs(300),
            term_loop_count: 3,
            term_loop_window: Duration::from_secs(30 * 60),
            max_attempts: 3,
            reboot: RebootMode::Auto,
            reboot_timeout: Duration::from_secs(300),
            max_resets: 3,
        }
    }
}

/// How far a download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Files fetched completely.
    pub files_done: usize,
    /// Files in the load (`.loads` included).
    pub files_total: usize,
    /// Bytes of the fetched files.
    pub bytes_done: u64,
    /// Bytes of the whole load.
    pub bytes_total: u64,
}

/// Where a phone is in its walk. `hop` counts from 1; `of` is the hops done
/// plus the hops still planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Seen (DHCP or a request), no config fetched yet.
    Discovered,
    /// Fetched its config; nothing to download yet, or not started.
    Configured,
    /// Fetching the files of hop `hop`.
    Downloading {
        /// Which hop.
        hop: u32,
        /// Of how many.
        of: u32,
        /// Files and bytes so far.
        progress: Progress,
    },
    /// Fetched every file of hop `hop`; expected to reboot into it.
    Rebooting {
        /// Which hop.
        hop: u32,
        /// Of how many.
        of: u32,
    },
    /// Back after a download; checking that it does not fetch the load again.
    Verifying {
        /// Which hop.
        hop: u32,
        /// Of how many.
        of: u32,
    },
    /// Runs the hop before `hop` and was told to reboot into `hop`; not back yet.
    Resetting {
        /// Which hop it reboots for.
        hop: u32,
        /// Of how many.
        of: u32,
    },
    /// Runs hop `hop`; takes the next one when it next reads its config.
    OnHop {
        /// Which hop.
        hop: u32,
        /// Of how many.
        of: u32,
    },
    /// Runs its target.
    Done,
    /// Something is wrong on the phone or the network; see the diagnosis.
    Stalled,
    /// No safe plan; see the diagnosis (usually: import a load).
    Failed,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Discovered => f.write_str("discovered"),
            Stage::Configured => f.write_str("configured"),
            Stage::Downloading { hop, of, progress } => write!(
                f,
                "downloading hop {hop}/{of} ({}/{} files, {}/{} bytes)",
                progress.files_done,
                progress.files_total,
                progress.bytes_done,
                progress.bytes_total
            ),
            Stage::Rebooting { hop, of } => write!(f, "rebooting into hop {hop}/{of}"),
            Stage::Verifying { hop, of } => write!(f, "verifying hop {hop}/{of}"),
            Stage::Resetting { hop, of } => write!(f, "told to reboot for hop {hop}/{of}"),
            Stage::OnHop { hop, of } => write!(f, "on hop {hop}/{of}"),
            Stage::Done => f.write_str("done"),
            Stage::Stalled => f.write_str("stalled"),
            Stage::Failed => f.write_str("failed"),
        }
    }
}

/// Something the operator should know, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnosis {
    /// No safe plan.
    Plan(PlanError),
    /// `termNN.default.loads` asked for again and again.
    TermLoop {
        /// The file.
        file: String,
        /// Requests within the window.
        count: usize,
    },
    /// The whole load fetched again and again, but the phone keeps its old image.
    ImageRefused {
        /// The load.
        load: LoadName,
        /// Complete downloads so far.
        attempts: u32,
    },
    /// The phone asks for signed configs: it holds an old trust list.
    OldTrustList {
        /// The `.sgn` name asked for.
        file: String,
    },
    /// Loader fetched, application never.
    LoaderOnly {
        /// The load.
        load: LoadName,
        /// Files it never fetched.
        missing: Vec<String>,
    },
    /// A download stopped part-way.
    DownloadStalled {
        /// The load.
        load: LoadName,
        /// Files it never fetched.
        missing: Vec<String>,
    },
    /// Told to reboot, and not heard from since.
    NoReturn {
        /// How it was told.
        channel: Channel,
        /// How long it has been.
        waited: Duration,
    },
    /// Rebooted towards `load` again and again without taking it.
    ResetsIgnored {
        /// The hop it was sent to.
        load: LoadName,
        /// Reboots sent.
        resets: u32,
    },
    /// The operator's own config names a load this phone cannot reach in
    /// one hop from the one it runs.
    OperatorSkips {
        /// The operator's file.
        file: String,
        /// The load it names.
        load: LoadName,
        /// What the phone runs.
        from: LoadName,
        /// The load it needs first.
        first: LoadName,
    },
    /// A lease but no TFTP request.
    NoTftp {
        /// The leased address.
        ip: Option<IpAddr>,
        /// How long it has been.
        waited: Duration,
    },
}

impl Diagnosis {
    /// What to do about it.
    pub fn fix(&self) -> String {
        match self {
            Diagnosis::Plan(e) => e.to_string(),
            Diagnosis::TermLoop { .. } => "serve this phone a complete load of the protocol it \
                should recover into (import the bundle whose term file lists it), power it from a \
                brick rather than PoE, and if it still loops do a factory reset"
                .to_owned(),
            Diagnosis::ImageRefused { load, .. } => format!(
                "check that {load} fits the phone (hardware revision), give the phone's real load \
                 as its start load, or factory-reset it and let it walk again"
            ),
            Diagnosis::OldTrustList { .. } => "erase the trust list on the phone: Settings > \
                Security > Trust List (unlock with **#), or factory-reset it"
                .to_owned(),
            Diagnosis::LoaderOnly { .. } => "the phone flashed the loader but never fetched the \
                application (\"Protocol Application Invalid\"): make sure DHCP option 150/66 \
                reaches it, that the application files are in the library, then power-cycle it"
                .to_owned(),
            Diagnosis::DownloadStalled { .. } => "check the network path and the TFTP log for \
                errors on these files, then power-cycle the phone"
                .to_owned(),
            Diagnosis::NoReturn { .. } => "the phone was told to reboot and has not asked for \
                anything since: check its power and cable, and that DHCP and TFTP reach it; if it \
                is stuck on a boot screen, power-cycle it"
                .to_owned(),
            Diagnosis::ResetsIgnored { load, .. } => format!(
                "check that the phone's config names {load} (the dashboard shows where its config \
                 comes from), that {load} is complete in the library, and the phone's own status \
                 screen; reboot it by hand once, or set [provision] reboot = \"manual\""
            ),
            Diagnosis::OperatorSkips { file, first, .. } => format!(
                "name {first} in {file} first (the phone may refuse the jump or brick), or set \
                 [provision] root_files = \"generated\" and let phoneboot walk it"
            ),
            Diagnosis::NoTftp { .. } => "check that DHCP options 150 and 66 reach the phone \
                (another DHCP server, or a relay dropping them?) and that UDP 69 is reachable; if \
                the phone is up and working, ignore this"
                .to_owned(),
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnosis::Plan(e) => return write!(f, "{e}"),
            Diagnosis::TermLoop { file, count } => write!(
                f,
                "asked for {file} {count} times: it keeps failing to recover (the term.defaults loop)"
            )?,
            Diagnosis::ImageRefused { load, attempts } => write!(
                f,
                "fetched all of {load} {attempts} times but keeps booting its old image"
            )?,
            Diagnosis::OldTrustList { file } => write!(
                f,
                "asked for {file}: it holds an old trust list (ITL) and rejects unsigned configs"
            )?,
            Diagnosis::LoaderOnly { load, missing } => write!(
                f,
                "fetched the loader of {load} but never {}",
                missing.join(", ")
            )?,
            Diagnosis::DownloadStalled { load, missing } => write!(
                f,
                "stopped downloading {load}; never fetched {}",
                missing.join(", ")
            )?,
            Diagnosis::NoReturn { channel, waited } => write!(
                f,
                "sent {channel} and heard nothing from it in {}s",
                waited.as_secs()
            )?,
            Diagnosis::ResetsIgnored { load, resets } => write!(
                f,
                "rebooted {resets} times towards {load} and still does not take it"
            )?,
            Diagnosis::OperatorSkips {
                file,
                load,
                from,
                first,
            } => write!(
                f,
                "{file} names {load}, but it runs {from} and needs {first} on the way"
            )?,
            Diagnosis::NoTftp { ip, waited } => {
                let ip = ip.map_or_else(|| "its address".to_owned(), |i| i.to_string());
                write!(
                    f,
                    "got a DHCP lease ({ip}) but made no TFTP request in {}s",
                    waited.as_secs()
                )?
            }
        }
        write!(f, ": {}", self.fix())
    }
}

/// Something that happened, for logs, the dashboard and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetEvent {
    /// A phone moved to another stage.
    Stage {
        /// The phone.
        mac: Mac,
        /// The new stage.
        stage: Stage,
    },
    /// A hop was verified: the phone runs `load`.
    HopDone {
        /// The phone.
        mac: Mac,
        /// The load it now runs.
        load: LoadName,
        /// Complete downloads it took.
        attempts: u32,
    },
    /// The phone fetched a hop again after fetching all of it: it did not take it.
    HopRetry {
        /// The phone.
        mac: Mac,
        /// The load.
        load: LoadName,
        /// Complete downloads so far.
        attempts: u32,
    },
    /// The belief about the running load changed for a reason other than a hop.
    Belief {
        /// The phone.
        mac: Mac,
        /// What it is now believed to run.
        current: Option<LoadName>,
        /// Why.
        evidence: String,
    },
    /// Make the phone reboot now, through `channel`. The fleet counts it as
    /// sent; report a failure with [`Fleet::reboot_failed`](super::Fleet::reboot_failed).
    Reboot {
        /// The phone.
        mac: Mac,
        /// How.
        channel: Channel,
        /// Why.
        cause: RebootCause,
        /// Reboots sent towards this hop, this one included.
        resets: u32,
    },
    /// Something needs the operator.
    Diagnosis {
        /// The phone.
        mac: Mac,
        /// What and what to do.
        diagnosis: Diagnosis,
    },
}

/// What survives a restart. Plain data; the binary stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRecord {
    /// The phone.
    pub mac: Mac,
    /// Its model, when known.
    pub model: Option<Model>,
    /// Its last address.
    pub ip: Option<IpAddr>,
    /// The load it is believed to run.
    pub current: Option<LoadName>,
    /// Why, in words.
    pub evidence: String,
    /// Complete downloads of the hop being served.
    pub attempts: u32,
}

/// A read-only view of one phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneView {
    /// The phone.
    pub mac: Mac,
    /// Its last address.
    pub ip: Option<IpAddr>,
    /// Its model, when known.
    pub model: Option<Model>,
    /// How the model is known.
    pub model_evidence: String,
    /// The load it is believed to run (what it showed, else the operator's start load).
    pub current: Option<LoadName>,
    /// Why.
    pub evidence: String,
    /// What its config names now.
    pub next: Option<LoadName>,
    /// Where it should end.
    pub target: Option<LoadName>,
    /// The remaining hops.
    pub hops: Vec<Hop>,
    /// Its stage.
    pub stage: Stage,
    /// Download progress, when downloading.
    pub progress: Option<Progress>,
    /// What is wrong, if anything.
    pub diagnosis: Option<Diagnosis>,
    /// Complete downloads of the hop being served.
    pub attempts: u32,
    /// Its last DHCP or file request, or SCCP registration.
    pub last_seen: Option<Instant>,
    /// How phoneboot can reboot it now, if it can.
    pub channel: Option<Channel>,
    /// A reboot asked for that it has not come back from.
    pub reboot: Option<PendingReboot>,
    /// Reboots sent towards the hop its config names.
    pub resets: u32,
    /// Hops verified since phoneboot first saw it (this run and before).
    pub hops_done: u32,
    /// Where its last config came from.
    pub config_source: ConfigSource,
}

/// Where a phone's config came from, so the operator can tell whose word it
/// follows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConfigSource {
    /// No config served yet.
    #[default]
    Unknown,
    /// Rendered by phoneboot from the desired state.
    Generated,
    /// The operator's own file in the TFTP root, served as it is; the fleet
    /// watches the phone walk to the load it names.
    Operator {
        /// The file's name as asked for.
        file: String,
        /// The load it names for this phone, if any.
        load: Option<LoadName>,
    },
}

impl ConfigSource {
    /// The load the operator's file names, when it is the operator's word.
    pub fn operator_load(&self) -> Option<&LoadName> {
        match self {
            ConfigSource::Operator { load, .. } => load.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Unknown => f.write_str("none yet"),
            ConfigSource::Generated => f.write_str("generated"),
            ConfigSource::Operator { file, .. } => write!(f, "the operator's {file}"),
        }
    }
}
