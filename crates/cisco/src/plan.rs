//! Upgrade-path planning: which loads a phone must take, in order, to get
//! from what it runs to what the operator wants, without bricking it.
//!
//! [`plan`] is a pure function of the phone's model, its current load (if
//! known), the wanted protocol and target, and the library's catalog. Rules
//! (PHONES.md "Upgrade constraints", reference §4):
//!
//! - **79x0, below 5.x** → first a signed 5.x load ([`HopReason::SignedBase`]).
//!   The 5.x stone keeps the phone's protocol (SCCP when unknown).
//! - **79x0, SCCP below 8.0(9)** → 8.0(9) (`P00308000900`) before switching
//!   protocol or going past 8.0(9) ([`HopReason::ProtocolBridge`]).
//! - **Java phones (79x1, 79x2, 79x5, 797x, 791x; [`Family::is_java`]) below
//!   8.3(3)** → a load between 8.3(3) and 8.5(2) before anything past 8.5(2)
//!   ([`HopReason::JavaBridge`]); the stone keeps the phone's protocol when the
//!   library has it, else the other one.
//! - Switching protocol is just a load of the other protocol.
//!
//! Each stepping stone is the newest *complete* library load that satisfies
//! its rule; an incomplete or absent one is a [`PlanError`] that names what to
//! import, never a reason to skip the rule.
//!
//! **Unknown current load.** Nothing on the wire states what a phone runs, so
//! `None` plans from the oldest possible start: a 79x0 is assumed below 5.x on
//! SCCP, a Java phone below 8.3(3). That can mean an unneeded detour through
//! old loads (safe but slower); the fleet learns the real load from what the
//! phone fetches and replans, and operators can state a start load.

use std::fmt;

use crate::desired::TargetLoad;
use crate::load_name::{LoadKind, LoadName, Version};
use crate::model::{Family, ImageSet, Model, Protocol};

/// One load the library holds, as the planner and the fleet need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableLoad {
    /// The load.
    pub name: LoadName,
    /// Whether every file it needs is in the library (only complete loads are served).
    pub complete: bool,
    /// Files its `.loads` lists that the library lacks.
    pub missing: Vec<String>,
    /// Every file a phone fetches for it, in order, starting with the
    /// `.loads` (or the single `.bin`/`.sbin`).
    pub files: Vec<String>,
    /// Total size of `files` that are present, in bytes.
    pub bytes: u64,
}

/// Why a hop is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HopReason {
    /// 79x0 below 5.x: a signed 5.x load first.
    SignedBase,
    /// 79x0 SCCP below 8.0(9): 8.0(9) before switching protocol or going past it.
    ProtocolBridge,
    /// Java phone below 8.3(3): 8.5(2) before anything newer.
    JavaBridge,
    /// The load the operator wants.
    Target,
}

impl HopReason {
    /// Plain words for logs and the dashboard.
    pub fn as_str(self) -> &'static str {
        match self {
            HopReason::SignedBase => "signed 5.x base (79x0 below 5.x)",
            HopReason::ProtocolBridge => "8.0(9) bridge (79x0 SCCP below 8.0(9))",
            HopReason::JavaBridge => "8.5(2) bridge (below 8.3(3))",
            HopReason::Target => "target",
        }
    }
}

impl fmt::Display for HopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One load to serve, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The load the phone should fetch and boot.
    pub load: LoadName,
    /// Stepping stone or target.
    pub why: HopReason,
}

/// The loads to serve, in order; empty when the phone already runs its target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Hops in order; the last one is the target.
    pub hops: Vec<Hop>,
}

impl Plan {
    /// The load to serve next, if any.
    pub fn next(&self) -> Option<&Hop> {
        self.hops.first()
    }

    /// The load the plan ends on, if it has hops.
    pub fn target(&self) -> Option<&LoadName> {
        self.hops.last().map(|h| &h.load)
    }
}

/// A plan cannot be made. Each variant says what to import or change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The exact target is not in the library.
    #[error(
        "target load {load} for the {model} is not in the firmware library: import the bundle \
         that contains it with `phoneboot firmware import`, or choose another target"
    )]
    TargetNotInLibrary {
        /// The wanted load.
        load: LoadName,
        /// The phone's model.
        model: Model,
    },
    /// The target does not run on this model.
    #[error(
        "target load {load} is for other phones than the {model} (it fits the {fits}); \
         choose a load that starts with {prefix}"
    )]
    WrongModel {
        /// The wanted load.
        load: LoadName,
        /// The phone's model.
        model: Model,
        /// Models the load fits.
        fits: String,
        /// How loads for this model begin.
        prefix: String,
    },
    /// The exact target speaks another protocol than the one wanted.
    #[error(
        "target load {load} is a {found} load but the {model} should run {wanted}: \
         pick a {wanted} load or change the phone's protocol"
    )]
    WrongProtocol {
        /// The wanted load.
        load: LoadName,
        /// The phone's model.
        model: Model,
        /// The protocol asked for.
        wanted: Protocol,
        /// The load's protocol (`?` when the name states none).
        found: String,
    },
    /// No load at all for these phones and protocol.
    #[error(
        "no {protocol} load for the {model} in the firmware library: import a {protocol} \
         bundle for it (for example one containing {example}) with `phoneboot firmware import`"
    )]
    NoLoad {
        /// The phone's model.
        model: Model,
        /// The wanted protocol.
        protocol: Protocol,
        /// A load name that would do.
        example: String,
    },
    /// A needed load is in the library but lacks files.
    #[error(
        "load {load} ({why}) for the {model} is missing {} from the firmware library: import \
         the bundle that contains them with `phoneboot firmware import`",
        missing.join(", ")
    )]
    Incomplete {
        /// The load.
        load: LoadName,
        /// What it is for in the plan.
        why: HopReason,
        /// The phone's model.
        model: Model,
        /// The files it lacks.
        missing: Vec<String>,
    },
    /// A stepping stone the phone must take is not in the library.
    #[error(
        "the {model} must first take {need} ({why}), and the firmware library has none: \
         import the bundle that contains one, such as {example}, with `phoneboot firmware import`"
    )]
    NoSteppingStone {
        /// The phone's model.
        model: Model,
        /// What the rule asks for, in words.
        need: String,
        /// A real load that satisfies it.
        example: String,
        /// Which rule.
        why: HopReason,
    },
    /// The model has no loads of this protocol at all (Java phones have no MGCP).
    #[error("the {model} has no {protocol} firmware; choose SIP or SCCP")]
    NoSuchProtocol {
        /// The phone's model.
        model: Model,
        /// The protocol asked for.
        protocol: Protocol,
    },
}

const V5: (u16, u16, u16) = (5, 0, 0);
const V809: (u16, u16, u16) = (8, 0, 9);
const V833: (u16, u16, u16) = (8, 3, 3);
const V852: (u16, u16, u16) = (8, 5, 2);

/// `major.minor(maint)`, ignoring sub-release, SR and build, for the rule bounds.
fn mmm(v: Version) -> (u16, u16, u16) {
    (v.major(), v.minor(), v.maint())
}

/// Where a phone with an unknown load is assumed to start.
fn oldest_start(set: ImageSet) -> Start {
    if set == ImageSet::P0x3 {
        Start {
            protocol: Some(Protocol::Sccp),
            version: (3, 0, 0),
        }
    } else {
        Start {
            protocol: None,
            version: (0, 0, 0),
        }
    }
}

/// What the rules look at in a current load.
#[derive(Debug, Clone, Copy)]
struct Start {
    protocol: Option<Protocol>,
    version: (u16, u16, u16),
}

impl Start {
    fn of(load: &LoadName) -> Start {
        Start {
            protocol: load.protocol(),
            version: mmm(load.version()),
        }
    }
}

/// The stepping stone a phone at `from` needs before it may take `to`, if any.
fn stone_needed(set: ImageSet, from: Start, to: &LoadName) -> Option<HopReason> {
    let to_v = mmm(to.version());
    if set == ImageSet::P0x3 {
        if from.version < V5 && to_v >= V5 && to_v.0 != 5 {
            return Some(HopReason::SignedBase);
        }
        let old_sccp = from.protocol == Some(Protocol::Sccp) && from.version >= V5;
        if old_sccp && from.version < V809 && (to.protocol() != Some(Protocol::Sccp) || to_v > V809)
        {
            return Some(HopReason::ProtocolBridge);
        }
        None
    } else if set.family().is_java() && from.version < V833 && to_v > V852 {
        Some(HopReason::JavaBridge)
    } else {
        None
    }
}

/// Whether a phone believed to run `from` (`None`: unknown, assume the oldest
/// start) may be served `to` directly without breaking an upgrade rule.
/// The fleet checks every load it serves against this.
pub fn direct_hop_ok(from: Option<&LoadName>, to: &LoadName) -> bool {
    let set = to.image_set();
    if from.is_some_and(|f| f.image_set() != set) {
        return false;
    }
    let start = from.map_or_else(|| oldest_start(set), Start::of);
    if from.is_some_and(|f| f == to) {
        return true;
    }
    stone_needed(set, start, to).is_none()
}

/// Whether `load` satisfies the stepping-stone rule `why` (for a phone whose
/// protocol is `protocol`).
fn satisfies(why: HopReason, load: &LoadName, protocol: Option<Protocol>) -> bool {
    let v = mmm(load.version());
    let proto_ok = protocol.is_none_or(|p| load.protocol() == Some(p));
    match why {
        HopReason::SignedBase => v.0 == 5 && proto_ok,
        HopReason::ProtocolBridge => v == V809 && load.protocol() == Some(Protocol::Sccp),
        HopReason::JavaBridge => v >= V833 && v <= V852 && proto_ok,
        HopReason::Target => false,
    }
}

/// Application loads of `set` in the catalog.
fn loads_of(catalog: &[AvailableLoad], set: ImageSet) -> impl Iterator<Item = &AvailableLoad> {
    catalog
        .iter()
        .filter(move |a| a.name.image_set() == set && a.name.kind() == LoadKind::Application)
}

/// Newest complete load passing `pred`, else the newest incomplete one as an error.
fn pick(
    catalog: &[AvailableLoad],
    set: ImageSet,
    pred: impl Fn(&LoadName) -> bool,
) -> Result<&AvailableLoad, Option<&AvailableLoad>> {
    let mut best: Option<&AvailableLoad> = None;
    let mut best_incomplete: Option<&AvailableLoad> = None;
    for a in loads_of(catalog, set).filter(|a| pred(&a.name)) {
        let slot = if a.complete {
            &mut best
        } else {
            &mut best_incomplete
        };
        if slot.is_none_or(|b| a.name.version() > b.name.version()) {
            *slot = Some(a);
        }
    }
    best.ok_or(best_incomplete)
}

fn example_stone(why: HopReason, set: ImageSet, protocol: Protocol) -> (String, String) {
    let code = set.java_code().unwrap_or(41);
    let proto = if protocol == Protocol::Sip {
        "SIP"
    } else {
        "SCCP"
    };
    match why {
        HopReason::SignedBase => (
            format!("a signed 5.x {protocol} load for the 7940/7960"),
            if protocol == Protocol::Sip {
                "P0S3-05-0-00".to_owned()
            } else {
                "P00305000500".to_owned()
            },
        ),
        HopReason::ProtocolBridge => (
            "the 8.0(9) SCCP load for the 7940/7960".to_owned(),
            "P00308000900 (cmterm-7940-7960-sccp.8-0-9)".to_owned(),
        ),
        _ => (
            "an 8.3(3)–8.5(2) load".to_owned(),
            format!("{proto}{code}.8-5-2S"),
        ),
    }
}

fn stone(
    catalog: &[AvailableLoad],
    model: Model,
    why: HopReason,
    protocols: &[Option<Protocol>],
) -> Result<LoadName, PlanError> {
    let set = model.image_set();
    let mut incomplete: Option<&AvailableLoad> = None;
    for &p in protocols {
        match pick(catalog, set, |l| satisfies(why, l, p)) {
            Ok(a) => return Ok(a.name.clone()),
            Err(i) => incomplete = incomplete.or(i),
        }
    }
    if let Some(a) = incomplete {
        return Err(PlanError::Incomplete {
            load: a.name.clone(),
            why,
            model,
            missing: a.missing.clone(),
        });
    }
    let shown = protocols.iter().flatten().next().copied();
    let (need, example) = example_stone(why, set, shown.unwrap_or(Protocol::Sccp));
    Err(PlanError::NoSteppingStone {
        model,
        need,
        example,
        why,
    })
}

fn resolve_target(
    model: Model,
    protocol: Protocol,
    target: &TargetLoad,
    catalog: &[AvailableLoad],
) -> Result<LoadName, PlanError> {
    let set = model.image_set();
    match target {
        TargetLoad::Exact(load) => {
            if !load.fits(model) {
                let fits: Vec<&str> = load.image_set().models().map(Model::name).collect();
                return Err(PlanError::WrongModel {
                    load: load.clone(),
                    model,
                    fits: fits.join("/"),
                    prefix: model.load_prefix(protocol).unwrap_or("?").to_owned(),
                });
            }
            if load.protocol().is_some_and(|p| p != protocol) {
                return Err(PlanError::WrongProtocol {
                    load: load.clone(),
                    model,
                    wanted: protocol,
                    found: load.protocol().map_or("?", Protocol::as_str).to_owned(),
                });
            }
            match catalog.iter().find(|a| a.name == *load) {
                None => Err(PlanError::TargetNotInLibrary {
                    load: load.clone(),
                    model,
                }),
                Some(a) if !a.complete => Err(PlanError::Incomplete {
                    load: a.name.clone(),
                    why: HopReason::Target,
                    model,
                    missing: a.missing.clone(),
                }),
                Some(a) => Ok(a.name.clone()),
            }
        }
        TargetLoad::Newest => {
            // 7912/7905 names carry the protocol mid-name, so they have no prefix.
            let odd = matches!(model.family(), Family::Series7912 | Family::Series7905);
            if model.load_prefix(protocol).is_none() && !odd {
                return Err(PlanError::NoSuchProtocol { model, protocol });
            }
            pick(catalog, set, |l| l.protocol() == Some(protocol))
                .map(|a| a.name.clone())
                .map_err(|i| no_newest(model, protocol, i))
        }
    }
}

fn no_newest(model: Model, protocol: Protocol, incomplete: Option<&AvailableLoad>) -> PlanError {
    match incomplete {
        Some(a) => PlanError::Incomplete {
            load: a.name.clone(),
            why: HopReason::Target,
            model,
            missing: a.missing.clone(),
        },
        None => PlanError::NoLoad {
            model,
            protocol,
            example: LoadName::newest_known(model.image_set(), protocol)
                .map_or_else(|| "a load for it".to_owned(), |l| l.to_string()),
        },
    }
}

/// Plan the hops from `current` (`None`: unknown, see the module doc) to the
/// target, using only complete loads from `catalog`.
pub fn plan(
    model: Model,
    current: Option<&LoadName>,
    protocol: Protocol,
    target: &TargetLoad,
    catalog: &[AvailableLoad],
) -> Result<Plan, PlanError> {
    let target = resolve_target(model, protocol, target, catalog)?;
    let set = model.image_set();
    // A current load for other phones is a wrong belief: treat it as unknown.
    let current = current.filter(|c| c.fits(model));
    if current == Some(&target) {
        return Ok(Plan::default());
    }
    let mut start = current.map_or_else(|| oldest_start(set), Start::of);
    let mut hops = Vec::new();
    // Each rule fires at most once (a stone lifts the phone past its bound), so
    // three stones is the most any walk needs.
    for _ in 0..3 {
        let Some(why) = stone_needed(set, start, &target) else {
            break;
        };
        let protocols: Vec<Option<Protocol>> = match why {
            HopReason::SignedBase => vec![start.protocol.or(Some(Protocol::Sccp))],
            HopReason::ProtocolBridge => vec![Some(Protocol::Sccp)],
            _ => {
                let first = start.protocol.unwrap_or(protocol);
                let other = if first == Protocol::Sip {
                    Protocol::Sccp
                } else {
                    Protocol::Sip
                };
                vec![Some(first), Some(other)]
            }
        };
        let load = stone(catalog, model, why, &protocols)?;
        start = Start::of(&load);
        hops.push(Hop { load, why });
    }
    if stone_needed(set, start, &target).is_some() {
        // Unreachable with the rules above; refuse rather than serve an unsafe hop.
        let (need, example) = example_stone(HopReason::Target, set, protocol);
        return Err(PlanError::NoSteppingStone {
            model,
            need,
            example,
            why: HopReason::Target,
        });
    }
    hops.push(Hop {
        load: target,
        why: HopReason::Target,
    });
    Ok(Plan { hops })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(s: &str) -> LoadName {
        LoadName::parse(s).expect(s)
    }

    fn catalog(names: &[&str]) -> Vec<AvailableLoad> {
        names
            .iter()
            .map(|n| AvailableLoad::synthetic(&l(n)))
            .collect()
    }

    fn incomplete(name: &str, missing: &[&str]) -> AvailableLoad {
        AvailableLoad {
            complete: false,
            missing: missing.iter().map(|m| (*m).to_owned()).collect(),
            ..AvailableLoad::synthetic(&l(name))
        }
    }

    fn hops(p: &Plan) -> Vec<(String, HopReason)> {
        p.hops.iter().map(|h| (h.load.to_string(), h.why)).collect()
    }

    const P0X3: [&str; 7] = [
        "P00303010102",
        "P00305000300",
        "P00305000500",
        "P00306000200",
        "P00308000900",
        "P0030801SR02",
        "P0S3-8-12-00",
    ];

    #[test]
    fn factory_7960_walks_5x_then_8_0_9_then_sip() {
        let cat = catalog(&P0X3);
        let p = plan(
            Model::Cp7960,
            Some(&l("P00303010102")),
            Protocol::Sip,
            &TargetLoad::Newest,
            &cat,
        )
        .expect("plan");
        assert_eq!(
            hops(&p),
            [
                ("P00305000500".to_owned(), HopReason::SignedBase),
                ("P00308000900".to_owned(), HopReason::ProtocolBridge),
                ("P0S3-8-12-00".to_owned(), HopReason::Target),
            ]
        );
        // Unknown load: planned from the oldest start, so the same safe walk.
        let unknown = plan(
            Model::Cp7940,
            None,
            Protocol::Sip,
            &TargetLoad::Newest,
            &cat,
        );
        assert_eq!(unknown, Ok(p));
    }

    #[test]
    fn old_sccp_goes_through_8_0_9_only_when_needed() {
        let cat = catalog(&P0X3);
        let go = |from: &str, proto, target: TargetLoad| {
            hops(&plan(Model::Cp7960, Some(&l(from)), proto, &target, &cat).expect("plan"))
        };
        // Past 8.0(9) on SCCP.
        assert_eq!(
            go("P00306000200", Protocol::Sccp, TargetLoad::Newest),
            [
                ("P00308000900".to_owned(), HopReason::ProtocolBridge),
                ("P0030801SR02".to_owned(), HopReason::Target)
            ]
        );
        // Up to 8.0(9) itself, or below it, is direct.
        assert_eq!(
            go(
                "P00305000500",
                Protocol::Sccp,
                TargetLoad::Exact(l("P00308000900"))
            ),
            [("P00308000900".to_owned(), HopReason::Target)]
        );
        assert_eq!(
            go(
                "P00305000300",
                Protocol::Sccp,
                TargetLoad::Exact(l("P00306000200"))
            ),
            [("P00306000200".to_owned(), HopReason::Target)]
        );
        // From 8.0(9) or later, switching protocol is direct; so is SIP → SCCP.
        assert_eq!(
            go("P00308000900", Protocol::Sip, TargetLoad::Newest),
            [("P0S3-8-12-00".to_owned(), HopReason::Target)]
        );
        assert_eq!(
            go("P0S3-8-12-00", Protocol::Sccp, TargetLoad::Newest),
            [("P0030801SR02".to_owned(), HopReason::Target)]
        );
        // Below 5.x straight to a 5.x load needs no stone.
        assert_eq!(
            go(
                "P00303010102",
                Protocol::Sccp,
                TargetLoad::Exact(l("P00305000300"))
            ),
            [("P00305000300".to_owned(), HopReason::Target)]
        );
    }

    #[test]
    fn java_below_8_3_3_goes_through_8_5_2() {
        let mut cat = catalog(&[
            "SCCP41.8-3-1S",
            "SCCP41.8-5-2S",
            "SIP41.8-5-2S",
            "SIP41.9-4-2SR3-1S",
            "SCCP41.9-4-2SR3-1S",
        ]);
        let p = plan(
            Model::Cp7941,
            Some(&l("SCCP41.8-3-1S")),
            Protocol::Sip,
            &TargetLoad::Newest,
            &cat,
        )
        .expect("plan");
        assert_eq!(
            hops(&p),
            [
                ("SCCP41.8-5-2S".to_owned(), HopReason::JavaBridge),
                ("SIP41.9-4-2SR3-1S".to_owned(), HopReason::Target)
            ]
        );
        // From 8.3(3) on, direct.
        let direct = plan(
            Model::Cp7961Ge,
            Some(&l("SCCP41.8-3-3S")),
            Protocol::Sip,
            &TargetLoad::Newest,
            &cat,
        )
        .expect("plan");
        assert_eq!(
            hops(&direct),
            [("SIP41.9-4-2SR3-1S".to_owned(), HopReason::Target)]
        );
        // Unknown load: the stone in the wanted protocol.
        let unknown = plan(
            Model::Cp7941,
            None,
            Protocol::Sip,
            &TargetLoad::Newest,
            &cat,
        )
        .expect("plan");
        assert_eq!(unknown.hops[0].load.to_string(), "SIP41.8-5-2S");
        // The phone's own protocol missing: the other one's stone does.
        cat.retain(|a| a.name.as_str() != "SCCP41.8-5-2S");
        let p = plan(
            Model::Cp7941,
            Some(&l("SCCP41.8-3-1S")),
            Protocol::Sip,
            &TargetLoad::Newest,
            &cat,
        )
        .expect("plan");
        assert_eq!(p.hops[0].load.to_string(), "SIP41.8-5-2S");
        // The rule covers the 7911 too, but not the 7912.
        let cat11 = catalog(&["SCCP11.8-5-2S", "SIP11.9-4-2SR1-1S"]);
        let p = plan(
            Model::Cp7911,
            None,
            Protocol::Sip,
            &TargetLoad::Newest,
            &cat11,
        )
        .expect("plan");
        assert_eq!(p.hops.len(), 2);
        let cat12 = catalog(&["CP7912080004SCCP080108A"]);
        let p = plan(
            Model::Cp7912,
            None,
            Protocol::Sccp,
            &TargetLoad::Newest,
            &cat12,
        )
        .expect("plan");
        assert_eq!(p.hops.len(), 1);
    }

    #[test]
    fn protocol_switch_and_arrival() {
        let cat = catalog(&["SIP45.9-4-2SR3-1S", "SCCP45.9-4-2SR4-3S"]);
        let p = plan(
            Model::Cp7965,
            Some(&l("SIP45.9-4-2SR3-1S")),
            Protocol::Sccp,
            &TargetLoad::Newest,
            &cat,
        )
        .expect("plan");
        assert_eq!(
            hops(&p),
            [("SCCP45.9-4-2SR4-3S".to_owned(), HopReason::Target)]
        );
        let arrived = plan(
            Model::Cp7965,
            Some(&l("SCCP45.9-4-2SR4-3S")),
            Protocol::Sccp,
            &TargetLoad::Newest,
            &cat,
        )
        .expect("plan");
        assert!(arrived.hops.is_empty());
        assert_eq!(arrived.next(), None);
    }

    #[test]
    fn stones_are_the_newest_complete() {
        let mut cat = catalog(&P0X3);
        cat.push(incomplete("P00305000600", &["P00305000600.sb2"]));
        let p = plan(
            Model::Cp7960,
            None,
            Protocol::Sip,
            &TargetLoad::Newest,
            &cat,
        )
        .expect("plan");
        assert_eq!(p.hops[0].load.to_string(), "P00305000500");
        // An incomplete newer target is skipped for Newest.
        cat.push(incomplete("P0S3-8-13-00", &["P0S3-8-13-00.sb2"]));
        let p = plan(
            Model::Cp7960,
            None,
            Protocol::Sip,
            &TargetLoad::Newest,
            &cat,
        )
        .expect("plan");
        assert_eq!(
            p.target().map(ToString::to_string).as_deref(),
            Some("P0S3-8-12-00")
        );
    }

    #[test]
    fn errors_name_what_to_import() {
        let cat = catalog(&P0X3);
        let err = |m, cur: Option<&str>, proto, t: TargetLoad, cat: &[AvailableLoad]| {
            let cur = cur.map(l);
            plan(m, cur.as_ref(), proto, &t, cat).expect_err("should fail")
        };

        let e = err(
            Model::Cp7941,
            None,
            Protocol::Sip,
            TargetLoad::Exact(l("SIP41.9-3-1SR1-1S")),
            &cat,
        );
        assert!(matches!(e, PlanError::TargetNotInLibrary { .. }), "{e}");
        assert!(e.to_string().contains("phoneboot firmware import"), "{e}");

        let e = err(
            Model::Cp7941,
            None,
            Protocol::Sip,
            TargetLoad::Exact(l("SIP42.9-4-2SR3-1S")),
            &cat,
        );
        assert!(matches!(e, PlanError::WrongModel { .. }), "{e}");
        assert!(
            e.to_string().contains("7942") && e.to_string().contains("SIP41"),
            "{e}"
        );

        let e = err(
            Model::Cp7960,
            None,
            Protocol::Sip,
            TargetLoad::Exact(l("P0030801SR02")),
            &cat,
        );
        assert!(matches!(e, PlanError::WrongProtocol { .. }), "{e}");

        let e = err(Model::Cp7962, None, Protocol::Sip, TargetLoad::Newest, &cat);
        assert!(matches!(e, PlanError::NoLoad { .. }), "{e}");
        assert!(e.to_string().contains("SIP42.9-4-2SR3-1S"), "{e}");

        let e = err(
            Model::Cp7941,
            None,
            Protocol::Mgcp,
            TargetLoad::Newest,
            &cat,
        );
        assert!(matches!(e, PlanError::NoSuchProtocol { .. }), "{e}");

        // Target present but incomplete.
        let only = vec![incomplete("SIP45.9-4-2SR3-1S", &["dsp45.9-4-2ES26.sbn"])];
        let e = err(
            Model::Cp7945,
            Some("SIP45.9-4-2SR3-1S"),
            Protocol::Sip,
            TargetLoad::Newest,
            &only,
        );
        assert!(
            matches!(
                e,
                PlanError::Incomplete {
                    why: HopReason::Target,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("dsp45.9-4-2ES26.sbn"), "{e}");
        let e = err(
            Model::Cp7945,
            None,
            Protocol::Sip,
            TargetLoad::Exact(l("SIP45.9-4-2SR3-1S")),
            &only,
        );
        assert!(matches!(e, PlanError::Incomplete { .. }), "{e}");

        // A stone present but incomplete.
        let mut cat2: Vec<AvailableLoad> = cat
            .iter()
            .filter(|a| a.name.as_str() != "P00308000900")
            .cloned()
            .collect();
        cat2.push(incomplete("P00308000900", &["P00308000900.sb2"]));
        let e = err(
            Model::Cp7960,
            Some("P00305000500"),
            Protocol::Sip,
            TargetLoad::Newest,
            &cat2,
        );
        assert_eq!(
            e,
            PlanError::Incomplete {
                load: l("P00308000900"),
                why: HopReason::ProtocolBridge,
                model: Model::Cp7960,
                missing: vec!["P00308000900.sb2".to_owned()],
            }
        );
        assert!(e.to_string().contains("P00308000900.sb2"), "{e}");

        // No stone at all.
        let no5: Vec<AvailableLoad> = cat
            .iter()
            .filter(|a| a.name.version().major() != 5)
            .cloned()
            .collect();
        let e = err(Model::Cp7960, None, Protocol::Sip, TargetLoad::Newest, &no5);
        assert!(
            matches!(
                e,
                PlanError::NoSteppingStone {
                    why: HopReason::SignedBase,
                    ..
                }
            ),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.contains("signed 5.x SCCP load")
                && text.contains("P00305000500")
                && text.contains("phoneboot firmware import"),
            "{text}"
        );
        let no809: Vec<AvailableLoad> = cat
            .iter()
            .filter(|a| a.name.as_str() != "P00308000900")
            .cloned()
            .collect();
        let e = err(
            Model::Cp7960,
            Some("P00306000200"),
            Protocol::Sip,
            TargetLoad::Newest,
            &no809,
        );
        assert!(e.to_string().contains("P00308000900"), "{e}");
        let java = catalog(&["SIP42.9-4-2SR3-1S"]);
        let e = err(
            Model::Cp7962,
            None,
            Protocol::Sip,
            TargetLoad::Newest,
            &java,
        );
        assert!(e.to_string().contains("SIP42.8-5-2S"), "{e}");
    }

    #[test]
    fn direct_hops() {
        let ok = |from: Option<&str>, to: &str| direct_hop_ok(from.map(l).as_ref(), &l(to));
        assert!(!ok(Some("P00303010102"), "P0S3-8-12-00"));
        assert!(!ok(Some("P00303010102"), "P00308000900"));
        assert!(ok(Some("P00303010102"), "P00305000500"));
        assert!(ok(None, "P00305000500"));
        assert!(!ok(None, "P0030801SR02"));
        assert!(!ok(Some("P00305000500"), "P0S3-8-12-00"));
        assert!(ok(Some("P00308000900"), "P0S3-8-12-00"));
        assert!(ok(Some("P0S3-8-12-00"), "P0030801SR02"));
        assert!(!ok(None, "SIP41.9-4-2SR3-1S"));
        assert!(ok(None, "SIP41.8-5-2S"));
        assert!(!ok(Some("SCCP41.8-3-1S"), "SIP41.9-4-2SR3-1S"));
        assert!(ok(Some("SCCP41.8-5-2S"), "SIP41.9-4-2SR3-1S"));
        assert!(!ok(Some("SIP42.9-4-2SR3-1S"), "SIP41.9-4-2SR3-1S"));
        assert!(ok(None, "CP7912080004SCCP080108A"));
    }
}
