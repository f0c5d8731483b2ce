//! Load names: the value of `<loadInformation>`, `image_version` and `OS79XX.TXT`.
//!
//! A load name says which phones it is for, which protocol it speaks and which
//! version it is. phoneboot plans upgrade hops by comparing these versions, so
//! a name it cannot read is an error, never a guess.
//!
//! Shapes (reference §3.1):
//! - 79x0 SCCP `P003xxyyzzww` (`P00308000900` = 8.0(9)) and the service-release
//!   form `P003xxyySRnn` (`P0030801SR02` = 8.1(2)SR2);
//! - 79x0 SIP/MGCP `P0S3-xx-y-zz` / `P0M3-…` (`P0S3-8-12-00` = 8.12(0), padding optional);
//! - the 79x0 universal loader `P003-8-12-00` (protocol-independent);
//! - Java phones `SCCPnn.x-y-z[-w][SRn[-b]]S`, `SIPnn.…S`, older `TERMnn.…S`;
//! - 7912/7905 `CP7912080004SCCP080108A` (version digits inferred).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::model::{Family, ImageSet, Model, Protocol};

/// Longest name accepted; real ones are under 30 bytes.
const MAX_LEN: usize = 64;

/// A firmware version in Cisco's `major.minor(maint)SRn` scheme.
///
/// Ordered field by field: major, minor, maint, sub, service release, build.
/// So 8.0(9) < 8.1(2) < 8.1(2)SR2 and 9.4(2)SR3 < 9.4(2)SR4. Comparing
/// versions of different image sets or protocols is allowed but meaningless
/// (79x0 SIP 8.12 is not newer than SCCP 8.1(2)SR2 in any useful sense).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    major: u16,
    minor: u16,
    maint: u16,
    sub: u16,
    sr: u16,
    build: u32,
}

impl Version {
    /// `major.minor(maint)`.
    pub const fn new(major: u16, minor: u16, maint: u16) -> Self {
        Self {
            major,
            minor,
            maint,
            sub: 0,
            sr: 0,
            build: 0,
        }
    }

    /// The same version with service release `sr` (0 = none).
    #[must_use]
    pub const fn with_sr(self, sr: u16) -> Self {
        Self { sr, ..self }
    }

    /// The same version with a sub-release (`3.1(1.2)`, `9.4(2.1)`).
    #[must_use]
    pub const fn with_sub(self, sub: u16) -> Self {
        Self { sub, ..self }
    }

    /// The same version with a build/respin number (the `-1` in `9-4-2SR3-1S`).
    #[must_use]
    pub const fn with_build(self, build: u32) -> Self {
        Self { build, ..self }
    }

    /// Major number (8 in 8.1(2)).
    pub fn major(&self) -> u16 {
        self.major
    }
    /// Minor number (1 in 8.1(2); 12 in 79x0 SIP 8.12).
    pub fn minor(&self) -> u16 {
        self.minor
    }
    /// Maintenance release (2 in 8.1(2)).
    pub fn maint(&self) -> u16 {
        self.maint
    }
    /// Sub-release inside the parentheses (2 in 3.1(1.2)); 0 when absent.
    pub fn sub(&self) -> u16 {
        self.sub
    }
    /// Service release (3 in 9.4(2)SR3); 0 when absent.
    pub fn service_release(&self) -> u16 {
        self.sr
    }
    /// Build or respin number (the `-1` in `SIP41.9-4-2SR3-1S`, the date of a
    /// 7912 image). Cisco's notation does not show it, so neither does `Display`.
    pub fn build(&self) -> u32 {
        self.build
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}({}", self.major, self.minor, self.maint)?;
        if self.sub != 0 {
            write!(f, ".{}", self.sub)?;
        }
        f.write_str(")")?;
        if self.sr != 0 {
            write!(f, "SR{}", self.sr)?;
        }
        Ok(())
    }
}

impl FromStr for Version {
    type Err = VersionError;

    /// Parses Cisco's notation: `8.0(9)`, `9.4(2)SR3`, `3.1(1.2)`, `8.12(00)`.
    /// The build number is not part of the notation and comes back as 0.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError::Invalid { text: s.to_owned() };
        let (major, rest) = s.split_once('.').ok_or_else(bad)?;
        let (minor, rest) = rest.split_once('(').ok_or_else(bad)?;
        let (inner, tail) = rest.split_once(')').ok_or_else(bad)?;
        let (maint, sub) = match inner.split_once('.') {
            Some((m, s)) => (m, Some(s)),
            None => (inner, None),
        };
        let num = |t: &str| number(t, 1, 4).ok_or_else(bad);
        let mut v = Version::new(num(major)?, num(minor)?, num(maint)?);
        if let Some(sub) = sub {
            v.sub = num(sub)?;
        }
        if !tail.is_empty() {
            let sr = tail
                .strip_prefix("SR")
                .or_else(|| tail.strip_prefix("sr"))
                .ok_or_else(bad)?;
            v.sr = num(sr)?;
            if v.sr == 0 {
                return Err(bad());
            }
        }
        Ok(v)
    }
}

/// A version string in Cisco's notation could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// Not `major.minor(maint)[SRn]`.
    #[error("unreadable version {text:?}: write it as Cisco does, e.g. 8.0(9) or 9.4(2)SR3")]
    Invalid {
        /// The text as given.
        text: String,
    },
}

/// What a load is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LoadKind {
    /// A load a phone runs (`SIP41…`, `P0S3-8-12-00`, `P00308000900`).
    Application,
    /// The 79x0 universal application loader `P003-x-y-zz` (`.sbn`/`.bin`),
    /// which both SCCP and SIP `.loads` list; it states no protocol.
    UniversalLoader,
}

/// A parsed Cisco load name.
///
/// Equality, hashing and ordering ignore ASCII case (phones and the library
/// match names case-insensitively); `Display` gives the name back as written.
#[derive(Debug, Clone)]
pub struct LoadName {
    raw: String,
    image_set: ImageSet,
    protocol: Option<Protocol>,
    kind: LoadKind,
    version: Version,
}

impl LoadName {
    /// The newest load for these phones and protocol that the reference names
    /// (§0), for messages that tell the operator what to import. Entries
    /// marked unverified there are inferred from the 41/42 pattern.
    pub fn newest_known(image_set: ImageSet, protocol: Protocol) -> Option<LoadName> {
        use {ImageSet as I, Protocol as P};
        let name = match (image_set, protocol) {
            (I::P0x3, P::Sccp) => "P0030801SR02",
            (I::P0x3, P::Sip) => "P0S3-8-12-00",
            (I::Java41, P::Sccp) => "SCCP41.9-4-2SR3-1S",
            (I::Java41, P::Sip) => "SIP41.9-4-2SR3-1S",
            (I::Java42, P::Sccp) => "SCCP42.9-4-2SR3-1S",
            (I::Java42, P::Sip) => "SIP42.9-4-2SR3-1S",
            (I::Java45, P::Sccp) => "SCCP45.9-4-2SR4-3S",
            (I::Java45, P::Sip) => "SIP45.9-4-2SR3-1S",
            (I::Java70, P::Sccp) => "SCCP70.9-4-2SR3-1S",
            (I::Java70, P::Sip) => "SIP70.9-4-2SR3-1S",
            (I::Java75, P::Sccp) => "SCCP75.9-4-2SR4-3S",
            (I::Java75, P::Sip) => "SIP75.9-4-2SR3-1S",
            (I::Java11, P::Sccp) => "SCCP11.9-4-2SR3-1S",
            (I::Java11, P::Sip) => "SIP11.9-4-2SR1-1S",
            (I::Cp7912, P::Sccp) => "CP7912080004SCCP080108A",
            (I::Cp7912, P::Sip) => "CP7912080000SIP060111A",
            (I::Cp7905, P::Sccp) => "CP7905080003SCCP070409A",
            _ => return None,
        };
        LoadName::parse(name).ok()
    }

    /// Parse a load name (no extension, no surrounding whitespace).
    pub fn parse(name: &str) -> Result<LoadName, LoadNameError> {
        if name.is_empty() {
            return Err(LoadNameError::Empty);
        }
        if name.len() > MAX_LEN {
            return Err(LoadNameError::TooLong {
                name: truncate(name),
                len: name.len(),
            });
        }
        let owned = || name.to_owned();
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(LoadNameError::Whitespace { name: owned() });
        }
        if !name.is_ascii() {
            return Err(LoadNameError::Unrecognised {
                name: owned(),
                hint: "load names are plain ASCII",
            });
        }
        let upper = name.to_ascii_uppercase();
        for ext in [".LOADS", ".BIN", ".SBN", ".SB2", ".SBIN", ".ZUP"] {
            if upper.ends_with(ext) {
                return Err(LoadNameError::FileName {
                    name: owned(),
                    ext: ext.to_ascii_lowercase(),
                });
            }
        }
        let parsed = if upper.starts_with("P0") {
            parse_79x0(&upper)
        } else if upper.starts_with("CP79") {
            parse_cp79(&upper)
        } else if upper.starts_with("SCCP") || upper.starts_with("SIP") || upper.starts_with("TERM")
        {
            parse_java(&upper)
        } else {
            Err(Fail::Unrecognised(
                "expected a Cisco load such as P00308000900, P0S3-8-12-00 or SIP41.9-4-2SR3-1S",
            ))
        };
        let (image_set, protocol, kind, version) = parsed.map_err(|f| f.into_error(owned()))?;
        Ok(LoadName {
            raw: owned(),
            image_set,
            protocol,
            kind,
            version,
        })
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Which phones take this load.
    pub fn image_set(&self) -> ImageSet {
        self.image_set
    }

    /// The hardware family of those phones.
    pub fn family(&self) -> Family {
        self.image_set.family()
    }

    /// The protocol, or `None` when the name does not state one: the 79x0
    /// universal loader, and `TERMnn…` loads (which predate SIP on Java phones
    /// and are believed SCCP, but the name does not say so).
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    /// Application or universal loader.
    pub fn kind(&self) -> LoadKind {
        self.kind
    }

    /// The version encoded in the name.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether `model` can run this load (same image set).
    pub fn fits(&self, model: Model) -> bool {
        model.image_set() == self.image_set
    }

    /// Whether the load comes as a signed `<name>.loads` plus the files it
    /// lists. False for 79x0 loads before 5.0 (a single unsigned `.bin`), the
    /// universal loader (a `.sbn`/`.bin` named inside other loads) and 7912/7905
    /// images (a single `.sbin`).
    pub fn has_loads_file(&self) -> bool {
        match self.image_set {
            ImageSet::P0x3 => self.kind == LoadKind::Application && self.version.major >= 5,
            ImageSet::Cp7912 | ImageSet::Cp7905 => false,
            _ => true,
        }
    }

    /// The file a phone asks for when told to run this load: `<name>.loads`,
    /// `<name>.bin` (79x0 before 5.0), `<name>.sbn` (universal loader) or
    /// `<name>.sbin` (7912/7905).
    pub fn requested_file(&self) -> String {
        let ext = if self.has_loads_file() {
            "loads"
        } else {
            match (self.image_set, self.kind) {
                (ImageSet::Cp7912 | ImageSet::Cp7905, _) => "sbin",
                (_, LoadKind::UniversalLoader) => "sbn",
                _ => "bin",
            }
        };
        format!("{}.{ext}", self.raw)
    }

    fn key(&self) -> (ImageSet, Option<Protocol>, LoadKind, Version, String) {
        (
            self.image_set,
            self.protocol,
            self.kind,
            self.version,
            self.raw.to_ascii_uppercase(),
        )
    }
}

impl fmt::Display for LoadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for LoadName {
    type Err = LoadNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LoadName::parse(s)
    }
}

impl PartialEq for LoadName {
    fn eq(&self, other: &Self) -> bool {
        self.raw.eq_ignore_ascii_case(&other.raw)
    }
}
impl Eq for LoadName {}

impl Hash for LoadName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.raw.bytes() {
            state.write_u8(b.to_ascii_uppercase());
        }
    }
}

impl PartialOrd for LoadName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LoadName {
    /// By image set, protocol, kind, version, then name: loads of one line sort oldest first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// A load name could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadNameError {
    /// Nothing given.
    #[error("empty load name: give one such as P0S3-8-12-00 or SIP41.9-4-2SR3-1S")]
    Empty,
    /// Longer than any real load name.
    #[error(
        "load name {name:?} is {len} bytes long; real ones are under 30, so check what was pasted"
    )]
    TooLong {
        /// The first bytes of the name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Spaces or control characters.
    #[error(
        "load name {name:?} contains whitespace or control characters; remove them \
         (a trailing space makes phones ask for a file that does not exist)"
    )]
    Whitespace {
        /// The name as given.
        name: String,
    },
    /// A file name was given where a load name belongs.
    #[error("{name:?} is a file name, not a load name: drop the {ext:?} extension")]
    FileName {
        /// The name as given.
        name: String,
        /// The extension found.
        ext: String,
    },
    /// Not a shape phoneboot knows.
    #[error("unrecognised load name {name:?}: {hint}")]
    Unrecognised {
        /// The name as given.
        name: String,
        /// What was expected.
        hint: &'static str,
    },
    /// A Java-style name for phones outside the catalog (`SCCP31…` for the 7931).
    #[error(
        "load name {name:?} is for image family {code}, which phoneboot does not know \
         (it knows 41, 42, 45, 70, 75 and 11); check the name"
    )]
    UnknownImageFamily {
        /// The name as given.
        name: String,
        /// The family code found in it.
        code: String,
    },
    /// The version part does not follow Cisco's scheme.
    #[error("load name {name:?} has an unreadable version: {reason}")]
    BadVersion {
        /// The name as given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `P003xxyySRnn` for a release whose maintenance number is not known.
    #[error(
        "load name {name:?} uses the short service-release form, whose maintenance release \
         phoneboot knows only for 8.1 (8.1(2)); give the long form (P003xxyyzzww) or report this load"
    )]
    UnknownServiceRelease {
        /// The name as given.
        name: String,
    },
}

/// Internal failure before the name is attached.
enum Fail {
    Unrecognised(&'static str),
    UnknownImageFamily(String),
    BadVersion(&'static str),
    UnknownServiceRelease,
}

impl Fail {
    fn into_error(self, name: String) -> LoadNameError {
        match self {
            Fail::Unrecognised(hint) => LoadNameError::Unrecognised { name, hint },
            Fail::UnknownImageFamily(code) => LoadNameError::UnknownImageFamily { name, code },
            Fail::BadVersion(reason) => LoadNameError::BadVersion { name, reason },
            Fail::UnknownServiceRelease => LoadNameError::UnknownServiceRelease { name },
        }
    }
}

type Parsed = (ImageSet, Option<Protocol>, LoadKind, Version);

fn truncate(s: &str) -> String {
    s.chars().take(MAX_LEN).collect()
}

/// All ASCII digits, `min..=max` of them.
fn number(s: &str, min: usize, max: usize) -> Option<u16> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

// Maintenance release behind the short `P003xxyySRnn` form. Only 8.1(2) had
// service releases in this form (P0030801SR01/SR02; bundle
// cmterm-7940-7960-sccp.8-1-2SR2.zip, reference §3.1).
const SHORT_SR_MAINT: [((u16, u16), u16); 1] = [((8, 1), 2)];

fn parse_79x0(upper: &str) -> Result<Parsed, Fail> {
    const HINT: &str =
        "79x0 names look like P00308000900, P0030801SR02, P0S3-8-12-00 or P003-8-12-00";
    let protocol = match upper.get(..4) {
        Some("P003") => Protocol::Sccp,
        Some("P0S3") => Protocol::Sip,
        Some("P0M3") => Protocol::Mgcp,
        _ => return Err(Fail::Unrecognised(HINT)),
    };
    let rest = upper.get(4..).unwrap_or("");
    if let Some(dashed) = rest.strip_prefix('-') {
        let parts: Vec<&str> = dashed.split('-').collect();
        let [major, minor, maint] = parts.as_slice() else {
            return Err(Fail::Unrecognised(HINT));
        };
        let n = |t: &str| {
            number(t, 1, 2).ok_or(Fail::BadVersion(
                "expected -major-minor-maint with 1 or 2 digits each",
            ))
        };
        let version = Version::new(n(major)?, n(minor)?, n(maint)?);
        return Ok(if protocol == Protocol::Sccp {
            (ImageSet::P0x3, None, LoadKind::UniversalLoader, version)
        } else {
            (
                ImageSet::P0x3,
                Some(protocol),
                LoadKind::Application,
                version,
            )
        });
    }
    if protocol != Protocol::Sccp || rest.len() != 8 {
        return Err(Fail::Unrecognised(HINT));
    }
    let pair = |a: usize| {
        rest.get(a..a.saturating_add(2))
            .and_then(|t| number(t, 2, 2))
    };
    let (Some(major), Some(minor)) = (pair(0), pair(2)) else {
        return Err(Fail::Unrecognised(HINT));
    };
    let version = if rest.get(4..6) == Some("SR") {
        let sr = pair(6).ok_or(Fail::BadVersion("expected two digits after SR"))?;
        if sr == 0 {
            return Err(Fail::BadVersion("service release SR00 does not exist"));
        }
        let maint = SHORT_SR_MAINT
            .iter()
            .find(|(mm, _)| *mm == (major, minor))
            .map(|(_, maint)| *maint)
            .ok_or(Fail::UnknownServiceRelease)?;
        Version::new(major, minor, maint).with_sr(sr)
    } else {
        let (Some(maint), Some(sub)) = (pair(4), pair(6)) else {
            return Err(Fail::Unrecognised(HINT));
        };
        Version::new(major, minor, maint).with_sub(sub)
    };
    Ok((
        ImageSet::P0x3,
        Some(Protocol::Sccp),
        LoadKind::Application,
        version,
    ))
}

fn parse_java(upper: &str) -> Result<Parsed, Fail> {
    const HINT: &str =
        "Java-phone names look like SIP41.9-4-2SR3-1S, SCCP45.8-5-2S or TERM41.7-0-3-0S";
    let (protocol, after) = if let Some(r) = upper.strip_prefix("SCCP") {
        (Some(Protocol::Sccp), r)
    } else if let Some(r) = upper.strip_prefix("SIP") {
        (Some(Protocol::Sip), r)
    } else if let Some(r) = upper.strip_prefix("TERM") {
        (None, r)
    } else {
        return Err(Fail::Unrecognised(HINT));
    };
    let (code, body) = after.split_once('.').ok_or(Fail::Unrecognised(HINT))?;
    let code_num = number(code, 2, 2).ok_or(Fail::Unrecognised(HINT))?;
    let image_set = u8::try_from(code_num)
        .ok()
        .and_then(ImageSet::from_java_code)
        .ok_or_else(|| Fail::UnknownImageFamily(code.to_owned()))?;
    let body = body
        .strip_suffix('S')
        .ok_or(Fail::BadVersion("Java load names end in S (for signed)"))?;
    let version = java_version(body)?;
    Ok((image_set, protocol, LoadKind::Application, version))
}

/// `9-4-2SR3-1`, `8-5-4`, `7-0-3-0`, `9-4-2-1`, `9-4-2-1SR3-1`: a number after
/// the maintenance release is a sub-release; a number after `SRn` is a build.
fn java_version(body: &str) -> Result<Version, Fail> {
    const SHAPE: &str = "expected major-minor-maint[-sub][SRn[-build]], e.g. 9-4-2SR3-1";
    let parts: Vec<&str> = body.split('-').collect();
    let num = |t: &str| number(t, 1, 3).ok_or(Fail::BadVersion(SHAPE));
    let (Some(major), Some(minor), Some(third)) = (parts.first(), parts.get(1), parts.get(2))
    else {
        return Err(Fail::BadVersion(SHAPE));
    };
    let mut v = Version::new(num(major)?, num(minor)?, 0);
    let (maint, sr) = split_sr(third)?;
    v.maint = maint;
    let rest: &[&str] = parts.get(3..).unwrap_or(&[]);
    let build_part = match (sr, rest) {
        (Some(sr), [build]) => {
            v.sr = sr;
            Some(*build)
        }
        (Some(sr), []) => {
            v.sr = sr;
            None
        }
        (None, []) => None,
        (None, [fourth, tail @ ..]) => {
            let (sub, sr) = split_sr(fourth)?;
            v.sub = sub;
            match (sr, tail) {
                (Some(sr), [build]) => {
                    v.sr = sr;
                    Some(*build)
                }
                (Some(sr), []) => {
                    v.sr = sr;
                    None
                }
                (None, []) => None,
                _ => return Err(Fail::BadVersion(SHAPE)),
            }
        }
        _ => return Err(Fail::BadVersion(SHAPE)),
    };
    if let Some(b) = build_part {
        v.build = u32::from(num(b)?);
    }
    Ok(v)
}

/// `2SR3` → (2, Some(3)); `2` → (2, None).
fn split_sr(part: &str) -> Result<(u16, Option<u16>), Fail> {
    match part.split_once("SR") {
        Some((n, sr)) => {
            let n = number(n, 1, 3).ok_or(Fail::BadVersion("expected digits before SR"))?;
            let sr = number(sr, 1, 3).ok_or(Fail::BadVersion("expected digits after SR"))?;
            if sr == 0 {
                return Err(Fail::BadVersion("service release SR0 does not exist"));
            }
            Ok((n, Some(sr)))
        }
        None => {
            let n = number(part, 1, 3).ok_or(Fail::BadVersion(
                "expected digits; only SR service releases are known in load names (ES/TH tags belong to component files)",
            ))?;
            Ok((n, None))
        }
    }
}

/// `CP7912080004SCCP080108A`: model, version `xx.yy(zz)`, protocol, date
/// `yymmdd` (kept as the build), revision letter. The split of the version
/// digits is inferred from `CP7912080004` being called 8.0(4); unverified.
fn parse_cp79(upper: &str) -> Result<Parsed, Fail> {
    const HINT: &str = "7912/7905 names look like CP7912080004SCCP080108A";
    let model = upper.get(2..6).ok_or(Fail::Unrecognised(HINT))?;
    let image_set = match model {
        "7912" => ImageSet::Cp7912,
        "7905" => ImageSet::Cp7905,
        other if other.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(Fail::UnknownImageFamily(other.to_owned()))
        }
        _ => return Err(Fail::Unrecognised(HINT)),
    };
    let rest = upper.get(6..).ok_or(Fail::Unrecognised(HINT))?;
    let pair = |a: usize| {
        rest.get(a..a.saturating_add(2))
            .and_then(|t| number(t, 2, 2))
    };
    let (Some(major), Some(minor), Some(maint)) = (pair(0), pair(2), pair(4)) else {
        return Err(Fail::Unrecognised(HINT));
    };
    let tail = rest.get(6..).ok_or(Fail::Unrecognised(HINT))?;
    let (protocol, tail) = if let Some(t) = tail.strip_prefix("SCCP") {
        (Protocol::Sccp, t)
    } else if let Some(t) = tail.strip_prefix("SIP") {
        (Protocol::Sip, t)
    } else {
        return Err(Fail::Unrecognised(HINT));
    };
    let (date, rev) = (tail.get(..6), tail.get(6..));
    let date = date
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok())
        .ok_or(Fail::Unrecognised(HINT))?;
    match rev.map(str::as_bytes) {
        Some([letter]) if letter.is_ascii_uppercase() => {}
        _ => return Err(Fail::Unrecognised(HINT)),
    }
    let version = Version::new(major, minor, maint).with_build(date);
    Ok((image_set, Some(protocol), LoadKind::Application, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::XorShift64;

    fn p(s: &str) -> LoadName {
        LoadName::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn newest_known_loads_fit_their_phones() {
        assert_eq!(
            LoadName::newest_known(ImageSet::Java41, Protocol::Mgcp),
            None
        );
        for set in ImageSet::ALL {
            for p in Protocol::ALL {
                if let Some(l) = LoadName::newest_known(set, p) {
                    assert_eq!((l.image_set(), l.protocol()), (set, Some(p)));
                }
            }
        }
    }

    #[test]
    fn every_documented_name() {
        // (name, image set, protocol, kind, Cisco notation)
        let cases: &[(&str, ImageSet, Option<Protocol>, LoadKind, &str)] = &[
            (
                "P00308000900",
                ImageSet::P0x3,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "8.0(9)",
            ),
            (
                "P00308010200",
                ImageSet::P0x3,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "8.1(2)",
            ),
            (
                "P0030801SR02",
                ImageSet::P0x3,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "8.1(2)SR2",
            ),
            (
                "P00303010102",
                ImageSet::P0x3,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "3.1(1.2)",
            ),
            (
                "P00305000500",
                ImageSet::P0x3,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "5.0(5)",
            ),
            (
                "P0S3-8-12-00",
                ImageSet::P0x3,
                Some(Protocol::Sip),
                LoadKind::Application,
                "8.12(0)",
            ),
            (
                "P0S3-08-12-00",
                ImageSet::P0x3,
                Some(Protocol::Sip),
                LoadKind::Application,
                "8.12(0)",
            ),
            (
                "P0S3-07-5-00",
                ImageSet::P0x3,
                Some(Protocol::Sip),
                LoadKind::Application,
                "7.5(0)",
            ),
            (
                "P0S3-06-3-00",
                ImageSet::P0x3,
                Some(Protocol::Sip),
                LoadKind::Application,
                "6.3(0)",
            ),
            (
                "P0M3-08-11-00",
                ImageSet::P0x3,
                Some(Protocol::Mgcp),
                LoadKind::Application,
                "8.11(0)",
            ),
            (
                "P003-8-12-00",
                ImageSet::P0x3,
                None,
                LoadKind::UniversalLoader,
                "8.12(0)",
            ),
            (
                "SIP41.9-4-2SR3-1S",
                ImageSet::Java41,
                Some(Protocol::Sip),
                LoadKind::Application,
                "9.4(2)SR3",
            ),
            (
                "SCCP41.9-4-2SR3-1S",
                ImageSet::Java41,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "9.4(2)SR3",
            ),
            (
                "SCCP45.9-4-2SR4-3S",
                ImageSet::Java45,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "9.4(2)SR4",
            ),
            (
                "SIP11.8-5-4S",
                ImageSet::Java11,
                Some(Protocol::Sip),
                LoadKind::Application,
                "8.5(4)",
            ),
            (
                "SIP11.9-4-2SR1-1S",
                ImageSet::Java11,
                Some(Protocol::Sip),
                LoadKind::Application,
                "9.4(2)SR1",
            ),
            (
                "SCCP11.9-4-2-1S",
                ImageSet::Java11,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "9.4(2.1)",
            ),
            (
                "TERM41.7-0-3-0S",
                ImageSet::Java41,
                None,
                LoadKind::Application,
                "7.0(3)",
            ),
            (
                "SIP70.9-4-2SR3-1S",
                ImageSet::Java70,
                Some(Protocol::Sip),
                LoadKind::Application,
                "9.4(2)SR3",
            ),
            (
                "SCCP70.9-3-1SR1-1S",
                ImageSet::Java70,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "9.3(1)SR1",
            ),
            (
                "SCCP75.9-4-2SR4-3S",
                ImageSet::Java75,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "9.4(2)SR4",
            ),
            (
                "SIP42.8-5-4S",
                ImageSet::Java42,
                Some(Protocol::Sip),
                LoadKind::Application,
                "8.5(4)",
            ),
            (
                "SCCP42.8-5-2S",
                ImageSet::Java42,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "8.5(2)",
            ),
            (
                "SCCP11.8-4-2S",
                ImageSet::Java11,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "8.4(2)",
            ),
            (
                "CP7912080004SCCP080108A",
                ImageSet::Cp7912,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "8.0(4)",
            ),
            (
                "CP7912080000SIP060111A",
                ImageSet::Cp7912,
                Some(Protocol::Sip),
                LoadKind::Application,
                "8.0(0)",
            ),
            (
                "CP7905080003SCCP070409A",
                ImageSet::Cp7905,
                Some(Protocol::Sccp),
                LoadKind::Application,
                "8.0(3)",
            ),
        ];
        for &(name, set, proto, kind, notation) in cases {
            let l = p(name);
            assert_eq!(l.image_set(), set, "{name}");
            assert_eq!(l.family(), set.family(), "{name}");
            assert_eq!(l.protocol(), proto, "{name}");
            assert_eq!(l.kind(), kind, "{name}");
            assert_eq!(l.version().to_string(), notation, "{name}");
            assert_eq!(l.to_string(), name, "display gives the name back");
            let lower = name.to_ascii_lowercase();
            assert_eq!(p(&lower), l, "case-insensitive: {name}");
            assert_eq!(p(&lower).to_string(), lower);
        }
    }

    #[test]
    fn builds_and_subs() {
        assert_eq!(p("SIP41.9-4-2SR3-1S").version().build(), 1);
        assert_eq!(p("SCCP45.9-4-2SR4-3S").version().build(), 3);
        assert_eq!(p("SCCP11.9-4-2-1S").version().sub(), 1);
        assert_eq!(p("TERM41.7-0-3-0S").version().sub(), 0);
        let v = p("SCCP45.9-4-2-1SR3-1S").version();
        assert_eq!((v.sub(), v.service_release(), v.build()), (1, 3, 1));
        assert_eq!(p("CP7912080004SCCP080108A").version().build(), 80108);
    }

    #[test]
    fn documented_order() {
        let v = |s: &str| p(s).version();
        assert!(v("P00308000900") < v("P00308010200"));
        assert!(v("P00308010200") < v("P0030801SR02"));
        assert!(v("P0030801SR01") < v("P0030801SR02"));
        assert!(v("P00303010102") < v("P00305000500"));
        assert!(v("P00305000500") < v("P00308000900"));
        assert!(
            v("P0S3-8-5-00") < v("P0S3-8-12-00"),
            "8.12 is newer than 8.5"
        );
        assert_eq!(v("P0S3-08-12-00"), v("P0S3-8-12-00"));
        let chain = [
            "SCCP41.8-3-3S",
            "SCCP41.8-5-2S",
            "SCCP41.9-4-2SR3-1S",
            "SCCP41.9-4-2SR4-3S",
        ];
        for pair in chain.windows(2) {
            if let [a, b] = pair {
                assert!(v(a) < v(b), "{a} < {b}");
            }
        }
        let n = |s: &str| s.parse::<Version>().expect(s);
        assert!(n("8.0(9)") < n("8.1(2)"));
        assert!(n("8.1(2)") < n("8.1(2)SR2"));
        assert!(n("8.3(3)") < n("8.5(2)"));
        assert!(n("8.5(2)") < n("9.4(2)SR3"));
        assert!(n("9.4(2)SR3") < n("9.4(2)SR4"));
        assert!(n("9.4(2)") < n("9.4(2.1)"));
    }

    #[test]
    fn sorted_loads_group_by_line() {
        let mut names: Vec<LoadName> = [
            "SIP41.9-4-2SR3-1S",
            "SCCP41.8-5-2S",
            "SIP41.8-5-4S",
            "SCCP41.9-4-2SR3-1S",
        ]
        .into_iter()
        .map(p)
        .collect();
        names.sort();
        let got: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "SCCP41.8-5-2S",
                "SCCP41.9-4-2SR3-1S",
                "SIP41.8-5-4S",
                "SIP41.9-4-2SR3-1S"
            ]
        );
    }

    #[test]
    fn fits_and_files() {
        let sip41 = p("SIP41.9-4-2SR3-1S");
        assert!(sip41.fits(Model::Cp7961Ge));
        assert!(sip41.fits(Model::Cp7941));
        assert!(!sip41.fits(Model::Cp7942));
        assert!(!p("SCCP70.9-4-2SR3-1S").fits(Model::Cp7975));
        assert!(p("SCCP75.9-4-2SR4-3S").fits(Model::Cp7975));
        assert!(p("P0S3-8-12-00").fits(Model::Cp7940));
        assert_eq!(sip41.requested_file(), "SIP41.9-4-2SR3-1S.loads");
        assert_eq!(p("P0S3-8-12-00").requested_file(), "P0S3-8-12-00.loads");
        assert_eq!(p("P00305000500").requested_file(), "P00305000500.loads");
        assert_eq!(p("P00303010102").requested_file(), "P00303010102.bin");
        assert_eq!(p("P003-8-12-00").requested_file(), "P003-8-12-00.sbn");
        assert_eq!(
            p("CP7912080004SCCP080108A").requested_file(),
            "CP7912080004SCCP080108A.sbin"
        );
    }

    #[test]
    fn bad_names_are_errors_that_name_the_input() {
        let cases: &[(&str, &str)] = &[
            ("SCCP40.8-3-1S", "image family 40"),
            ("SCCP31.9-2-1S", "image family 31"),
            ("SIP41.9-4-2SR3-1S.loads", "drop the \".loads\""),
            ("P0S3-8-12-00.sb2", "extension"),
            ("P0S3-8-12-00 ", "whitespace"),
            ("P0030802SR01", "short service-release form"),
            ("P0030801SR00", "SR00"),
            ("SIP41.9-4-2ES26S", "ES/TH"),
            ("SIP41.9-4-2SR3-1", "end in S"),
            ("SIP41.9-4S", "major-minor-maint"),
            ("SIP41.9-4-2SR-1S", "digits after SR"),
            ("SIP41.9-4-2-1-1S", "major-minor-maint"),
            ("SIP41.9-4-2SR3-1-1S", "major-minor-maint"),
            ("SIP4.9-4-2S", "Java-phone names"),
            ("SIP69xx.9-4-1-3SR2", "Java-phone names"),
            ("P0S300080900", "79x0 names"),
            ("P0S3-8-12", "79x0 names"),
            ("P0S3-8-123-00", "1 or 2 digits"),
            ("P0030800090", "79x0 names"),
            ("P003080009XX", "79x0 names"),
            ("P0X3-8-12-00", "79x0 names"),
            ("CP7902080001SCCP080108A", "image family 7902"),
            ("CP7912080004H323080108A", "7912/7905"),
            ("CP7912080004SCCP080108", "7912/7905"),
            ("jar41sip.9-4-2ES26", "expected a Cisco load"),
            ("XMLDefault", "expected a Cisco load"),
            ("SÍP41.9-4-2S", "ASCII"),
        ];
        for &(name, needle) in cases {
            let err = LoadName::parse(name).expect_err(name).to_string();
            assert!(err.contains(needle), "{name}: {err}");
            assert!(
                err.contains(&format!("{name:?}")),
                "error names the input: {err}"
            );
        }
        assert_eq!(LoadName::parse(""), Err(LoadNameError::Empty));
        let long = "P".repeat(100);
        assert!(matches!(
            LoadName::parse(&long),
            Err(LoadNameError::TooLong { len: 100, .. })
        ));
    }

    #[test]
    fn version_notation_round_trips() {
        for s in [
            "8.0(9)",
            "8.1(2)SR2",
            "3.1(1.2)",
            "8.12(0)",
            "9.4(2)SR3",
            "9.4(2.1)SR3",
        ] {
            let v: Version = s.parse().expect(s);
            assert_eq!(v.to_string(), s);
        }
        assert_eq!(
            "8.12(00)".parse::<Version>().map(|v| v.to_string()),
            Ok("8.12(0)".into())
        );
        assert_eq!(
            "9.4(2)sr3".parse::<Version>().map(|v| v.to_string()),
            Ok("9.4(2)SR3".into())
        );
        for bad in [
            "",
            "8",
            "8.0",
            "8.0(9",
            "8.0(9)SR",
            "8.0(9)SR0",
            "8.0(9)ES1",
            "a.b(c)",
            "8.0(9)x",
            "8.0(-1)",
        ] {
            let err = bad.parse::<Version>().expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    /// Random well-formed names: parse → display is the identity, the parsed
    /// fields are the generated ones, and ordering is total and consistent.
    #[test]
    fn property_generated_names() {
        let seed = 0x5eed_0001;
        let mut rng = XorShift64::new(seed);
        let mut parsed = Vec::new();
        for i in 0..3000 {
            let (name, want) = generate(&mut rng);
            let l = LoadName::parse(&name)
                .unwrap_or_else(|e| panic!("seed {seed} case {i}: {name}: {e}"));
            assert_eq!(l.to_string(), name, "seed {seed} case {i}");
            assert_eq!(l.version(), want, "seed {seed} case {i}: {name}");
            assert_eq!(LoadName::parse(&l.to_string()).as_ref(), Ok(&l));
            if l.version().build() == 0 {
                assert_eq!(
                    l.version().to_string().parse::<Version>(),
                    Ok(l.version()),
                    "{name}"
                );
            }
            parsed.push(l);
        }
        for w in parsed.chunks(3) {
            if let [a, b, c] = w {
                assert_eq!(a.cmp(b), b.cmp(a).reverse());
                assert_eq!(a == b, a.cmp(b) == Ordering::Equal);
                if a <= b && b <= c {
                    assert!(a <= c);
                }
                let (va, vb) = (a.version(), b.version());
                let ta = (
                    va.major(),
                    va.minor(),
                    va.maint(),
                    va.sub(),
                    va.service_release(),
                    va.build(),
                );
                let tb = (
                    vb.major(),
                    vb.minor(),
                    vb.maint(),
                    vb.sub(),
                    vb.service_release(),
                    vb.build(),
                );
                assert_eq!(va.cmp(&vb), ta.cmp(&tb), "{a} vs {b}");
            }
        }
        let mut sorted = parsed.clone();
        sorted.sort();
        for pair in sorted.windows(2) {
            if let [a, b] = pair {
                assert!(a <= b);
            }
        }
    }

    fn generate(rng: &mut XorShift64) -> (String, Version) {
        let mut r = |n: u64| u16::try_from(rng.below(n)).unwrap_or(0);
        match r(4) {
            0 => {
                let (a, b, c, d) = (r(100), r(100), r(100), r(100));
                (
                    format!("P003{a:02}{b:02}{c:02}{d:02}"),
                    Version::new(a, b, c).with_sub(d),
                )
            }
            1 => {
                let (a, b, c) = (r(100), r(100), r(100));
                let proto = ["P0S3", "P0M3", "P003"][usize::from(r(3))];
                let name = if r(2) == 0 {
                    format!("{proto}-{a}-{b}-{c:02}")
                } else {
                    format!("{proto}-{a:02}-{b:02}-{c}")
                };
                (name, Version::new(a, b, c))
            }
            2 => {
                let sr = 1 + r(20);
                (
                    format!("P0030801SR{sr:02}"),
                    Version::new(8, 1, 2).with_sr(sr),
                )
            }
            _ => {
                let proto = ["SCCP", "SIP", "TERM"][usize::from(r(3))];
                let code = [41, 42, 45, 70, 75, 11][usize::from(r(6))];
                let (a, b, c) = (r(1000), r(1000), r(1000));
                let mut v = Version::new(a, b, c);
                let mut body = format!("{a}-{b}-{c}");
                if r(3) == 0 {
                    let sub = r(1000);
                    v = v.with_sub(sub);
                    body.push_str(&format!("-{sub}"));
                }
                if r(2) == 0 {
                    let sr = 1 + r(999);
                    v = v.with_sr(sr);
                    body.push_str(&format!("SR{sr}"));
                    if r(2) == 0 {
                        let build = r(1000);
                        v = v.with_build(u32::from(build));
                        body.push_str(&format!("-{build}"));
                    }
                }
                (format!("{proto}{code}.{body}S"), v)
            }
        }
    }
}
