//! What phoneboot knows about Cisco 79xx IP phones, as pure functions.
//!
//! - [`Model`]: the catalog (7940 … 7975, 7911/7906, and provisionally
//!   7912/7905): family, `loadInformationNNN` id, option-60 matching, term
//!   file, SIP config format, line count, HTTP behaviour, load-name prefixes.
//! - [`LoadName`]: parse and order load names (`P0030801SR02`,
//!   `SIP41.9-4-2SR3-1S`) by family, protocol and [`Version`].
//! - [`LoadsFile`]: read the file list out of a signed `.loads` file.
//! - [`RequestedFile`]: what a requested file name is (configs, trust lists,
//!   firmware, …), the one parse of the names phones ask for;
//!   [`files::classify`] is its firmware part.
//! - [`render`]: the generated configs (`XMLDefault.cnf.xml`, `SEP<MAC>.cnf.xml`,
//!   79x0 `SIPDefault.cnf`/`SIP<MAC>.cnf`, …) and [`GeneratedFile`] to tell them apart.
//! - `synth` (feature `synth`): synthetic `.loads` files and images with real
//!   names, because Cisco's firmware cannot ship with the project; for tests,
//!   fixtures and the phone simulator, never the server.
//! - [`operator`]: what an operator's own config (from the TFTP root) names
//!   for a phone, and whether its XML parses.
//! - [`plan`](mod@plan): the upgrade path from a phone's load to its target, stepping
//!   stones included, or a diagnosis naming what to import.
//! - [`provision`]: the per-phone state machine ([`Fleet`]) that walks phones
//!   along their plans and works out what each one runs.
//! - `fuzzing` (feature `fuzzing`): entry points for fuzz targets.
//!
//! The crate never opens files or sockets and never reads the clock: callers
//! hand it bytes and names, and it hands back values. Unknown input is an
//! error that names it, never a guess. Facts, and how sure they are, come
//! from `shared/PHONES.md` and `shared/reference/cisco-phones.md`.
//!
//! ```
//! use cisco::{LoadName, LoadsFile, Model, Protocol};
//!
//! // DHCP option 60, trailing NUL and all.
//! let model = Model::from_vendor_class(b"Cisco Systems, Inc. IP Phone CP-7961G-GE\0").unwrap();
//! assert_eq!(model.name(), "7961G-GE");
//! assert_eq!(model.load_information_id(), 308);
//! assert_eq!(model.term_file(), Some("term61.default.loads"));
//!
//! // Load names carry family, protocol and a comparable version.
//! let target = LoadName::parse("SIP41.9-4-2SR3-1S")?;
//! let stepping_stone = LoadName::parse("SCCP41.8-5-2S")?;
//! assert!(target.fits(model));
//! assert_eq!(target.protocol(), Some(Protocol::Sip));
//! assert_eq!(target.version().to_string(), "9.4(2)SR3");
//! assert!(stepping_stone.version() < target.version());
//!
//! // A .loads file lists what the phone will fetch next.
//! let bytes = cisco::synth::LoadsBuilder::for_load(&target)?.build();
//! let loads = LoadsFile::parse(&bytes)?;
//! assert_eq!(loads.files().len(), 5);
//! assert_eq!(loads.files()[0], "jar41sip.9-4-2ES26.sbn");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Parsers see hostile bytes: no panicking shortcuts outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod desired;
pub mod files;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod load_name;
mod loads;
mod model;
pub mod operator;
pub mod plan;
pub mod provision;
pub mod render;
pub mod request;
#[cfg(any(test, feature = "synth"))]
mod rng;
#[cfg(any(test, feature = "synth"))]
pub mod synth;

pub use desired::{Mac, MacError, PhoneSettings, SipLine, Site, SpeedDial, TargetLoad, Transport};
pub use files::{classify, term_file_models, FirmwareFile, TermFile};
pub use load_name::{LoadKind, LoadName, LoadNameError, Version, VersionError};
pub use loads::{Boundary, HardwareComp, LoadsError, LoadsFile, SignedHeader, MAX_FILE_NAME};
pub use model::{Family, HttpFirst, ImageSet, Model, ModelError, Protocol, SipConfigFormat};
pub use plan::{plan, AvailableLoad, Hop, HopReason, Plan, PlanError};
pub use provision::{
    Channel, ConfigSource, Diagnosis, Fleet, FleetEvent, Intent, Intents, PendingReboot,
    PhoneRecord, PhoneView, Policy, Progress, RebootCause, RebootMode, Stage,
};
pub use render::GeneratedFile;
pub use request::RequestedFile;
