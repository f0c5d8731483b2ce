//! The model catalog: which phones phoneboot knows, and what each one expects.
//!
//! Facts come from `shared/PHONES.md` and `shared/reference/cisco-phones.md`
//! (§0 table). Where the reference marks a fact as inferred or unverified, the
//! doc of the accessor says so; callers should log what the phone actually does.

use std::fmt;
use std::str::FromStr;

/// The call-control protocol a load speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Protocol {
    /// Skinny, the protocol of Cisco's own call managers (and chan-sccp).
    Sccp,
    /// SIP, what phoneboot ultimately provisions phones into (Asterisk).
    Sip,
    /// MGCP: only the 79x0 ever had MGCP loads (`P0M3…`).
    Mgcp,
}

impl Protocol {
    /// Every protocol, in a fixed order.
    pub const ALL: [Protocol; 3] = [Protocol::Sccp, Protocol::Sip, Protocol::Mgcp];

    /// Upper-case name as Cisco writes it (`SCCP`, `SIP`, `MGCP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Sccp => "SCCP",
            Protocol::Sip => "SIP",
            Protocol::Mgcp => "MGCP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ModelError::UnknownProtocol { name: s.to_owned() })
    }
}

/// A hardware family: phones that share boot behaviour and upgrade rules.
///
/// Loads are not interchangeable across a family (a 7975 does not take 7970
/// loads): use [`ImageSet`] for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Family {
    /// 7940, 7960: `P003…`/`P0S3…` loads, text SIP config.
    Series79x0,
    /// 7941, 7961 (and GE variants).
    Series79x1,
    /// 7942, 7962.
    Series79x2,
    /// 7945, 7965.
    Series79x5,
    /// 7970, 7971, 7975.
    Series797x,
    /// 7911, 7906.
    Series791x,
    /// 7912: single `.sbin` image, binary `gk<mac>` profile.
    Series7912,
    /// 7905: single `.sbin`/`.zup` image, binary `ld<mac>` profile.
    Series7905,
}

impl Family {
    /// Every family, in a fixed order.
    pub const ALL: [Family; 8] = [
        Family::Series79x0,
        Family::Series79x1,
        Family::Series79x2,
        Family::Series79x5,
        Family::Series797x,
        Family::Series791x,
        Family::Series7912,
        Family::Series7905,
    ];

    /// The family as operators write it (`79x0`, `797x`, `7912`).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Series79x0 => "79x0",
            Family::Series79x1 => "79x1",
            Family::Series79x2 => "79x2",
            Family::Series79x5 => "79x5",
            Family::Series797x => "797x",
            Family::Series791x => "791x",
            Family::Series7912 => "7912",
            Family::Series7905 => "7905",
        }
    }

    /// The models of this family, in catalog order.
    pub fn models(self) -> impl Iterator<Item = Model> {
        Model::ALL.into_iter().filter(move |m| m.family() == self)
    }

    /// Java-based "term" phones (79x1/79x2/79x5/797x/791x): XML config, `termNN.default.loads`,
    /// the 8.3(3) → 8.5(2) stepping-stone rule (reference §4.2).
    pub fn is_java(self) -> bool {
        matches!(
            self,
            Family::Series79x1
                | Family::Series79x2
                | Family::Series79x5
                | Family::Series797x
                | Family::Series791x
        )
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which firmware images a phone runs: two models with the same image set take
/// the same loads (7941 and 7961 both run `SIP41…`; 7970 and 7975 do not share).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ImageSet {
    /// 7940/7960: `P003…` (SCCP), `P0S3…` (SIP), `P0M3…` (MGCP).
    P0x3,
    /// 7941/7961 (+GE): `SCCP41…`/`SIP41…`.
    Java41,
    /// 7942/7962: `…42…`.
    Java42,
    /// 7945/7965: `…45…`.
    Java45,
    /// 7970/7971: `…70…`.
    Java70,
    /// 7975: `…75…`.
    Java75,
    /// 7911/7906: `…11…`.
    Java11,
    /// 7912: `CP7912…sbin`.
    Cp7912,
    /// 7905: `CP7905…sbin`.
    Cp7905,
}

impl ImageSet {
    /// Every image set, in a fixed order.
    pub const ALL: [ImageSet; 9] = [
        ImageSet::P0x3,
        ImageSet::Java41,
        ImageSet::Java42,
        ImageSet::Java45,
        ImageSet::Java70,
        ImageSet::Java75,
        ImageSet::Java11,
        ImageSet::Cp7912,
        ImageSet::Cp7905,
    ];

    /// The family whose phones run these images.
    pub fn family(self) -> Family {
        match self {
            ImageSet::P0x3 => Family::Series79x0,
            ImageSet::Java41 => Family::Series79x1,
            ImageSet::Java42 => Family::Series79x2,
            ImageSet::Java45 => Family::Series79x5,
            ImageSet::Java70 | ImageSet::Java75 => Family::Series797x,
            ImageSet::Java11 => Family::Series791x,
            ImageSet::Cp7912 => Family::Series7912,
            ImageSet::Cp7905 => Family::Series7905,
        }
    }

    /// The two-digit code in Java load and component names (`41` in `SIP41…`, `jar41sip…`).
    pub fn java_code(self) -> Option<u8> {
        match self {
            ImageSet::Java41 => Some(41),
            ImageSet::Java42 => Some(42),
            ImageSet::Java45 => Some(45),
            ImageSet::Java70 => Some(70),
            ImageSet::Java75 => Some(75),
            ImageSet::Java11 => Some(11),
            ImageSet::P0x3 | ImageSet::Cp7912 | ImageSet::Cp7905 => None,
        }
    }

    /// Inverse of [`ImageSet::java_code`]. Codes phoneboot does not know
    /// (31 for the 7931, 40, …) give `None`, never a guess.
    pub fn from_java_code(code: u8) -> Option<ImageSet> {
        ImageSet::ALL
            .into_iter()
            .find(|s| s.java_code() == Some(code))
    }

    /// How load names for `protocol` begin (`SIP41`, `P0S3`), or `None` when
    /// these phones have no such load (Java phones have no MGCP loads; the
    /// 7912/7905 embed the protocol in the middle of the name).
    pub fn load_prefix(self, protocol: Protocol) -> Option<&'static str> {
        use {ImageSet as I, Protocol as P};
        Some(match (self, protocol) {
            (I::P0x3, P::Sccp) => "P003",
            (I::P0x3, P::Sip) => "P0S3",
            (I::P0x3, P::Mgcp) => "P0M3",
            (I::Java41, P::Sccp) => "SCCP41",
            (I::Java41, P::Sip) => "SIP41",
            (I::Java42, P::Sccp) => "SCCP42",
            (I::Java42, P::Sip) => "SIP42",
            (I::Java45, P::Sccp) => "SCCP45",
            (I::Java45, P::Sip) => "SIP45",
            (I::Java70, P::Sccp) => "SCCP70",
            (I::Java70, P::Sip) => "SIP70",
            (I::Java75, P::Sccp) => "SCCP75",
            (I::Java75, P::Sip) => "SIP75",
            (I::Java11, P::Sccp) => "SCCP11",
            (I::Java11, P::Sip) => "SIP11",
            _ => return None,
        })
    }

    /// The models that run these images, in catalog order.
    pub fn models(self) -> impl Iterator<Item = Model> {
        Model::ALL
            .into_iter()
            .filter(move |m| m.image_set() == self)
    }
}

impl fmt::Display for ImageSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.java_code() {
            Some(code) => write!(f, "{code}"),
            None => f.write_str(match self {
                ImageSet::P0x3 => "P0x3",
                ImageSet::Cp7912 => "CP7912",
                _ => "CP7905",
            }),
        }
    }
}

/// Where a model's SIP configuration lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SipConfigFormat {
    /// 79x0: text `SIPDefault.cnf` + `SIP<MAC>.cnf` (`name: "value"` lines).
    Text79x0,
    /// Java phones: XML `SEP<MAC>.cnf.xml` with `<sipProfile>`.
    Xml,
    /// 7912/7905: binary `gk<mac>`/`ld<mac>` profile built by Cisco's `cfgfmt`;
    /// phoneboot cannot generate these yet.
    BinaryProfile,
}

/// Whether a model may try HTTP on port 6970 before TFTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpFirst {
    /// TFTP only (79x0 loads, 7912/7905).
    Never,
    /// Newer loads (believed 9.x) try `http://<tftp server>:6970/` first and
    /// fall back to TFTP. Which load started this is unverified (reference
    /// §1.2, §7 q6): serve the same tree on both.
    NewerLoads,
}

/// A phone model phoneboot knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Model {
    /// Cisco 7940(G).
    Cp7940,
    /// Cisco 7960(G).
    Cp7960,
    /// Cisco 7941G.
    Cp7941,
    /// Cisco 7941G-GE (gigabit).
    Cp7941Ge,
    /// Cisco 7961G.
    Cp7961,
    /// Cisco 7961G-GE (gigabit).
    Cp7961Ge,
    /// Cisco 7942G.
    Cp7942,
    /// Cisco 7962G.
    Cp7962,
    /// Cisco 7945G.
    Cp7945,
    /// Cisco 7965G.
    Cp7965,
    /// Cisco 7970G.
    Cp7970,
    /// Cisco 7971G-GE (only sold as GE).
    Cp7971,
    /// Cisco 7975G.
    Cp7975,
    /// Cisco 7911G.
    Cp7911,
    /// Cisco 7906G.
    Cp7906,
    /// Cisco 7912G (facts thinner than for the others; see [`Model::is_well_documented`]).
    Cp7912,
    /// Cisco 7905G (facts thinner than for the others).
    Cp7905,
}

/// One catalog row. Kept private so the table can grow without breaking callers.
struct Entry {
    model: Model,
    name: &'static str,
    number: u16,
    ge: bool,
    image_set: ImageSet,
    load_information_id: u32,
    vendor_class: &'static [u8],
    term_file: Option<&'static str>,
    max_sip_lines: u8,
}

#[allow(clippy::too_many_arguments)] // a table row, read positionally
const fn entry(
    model: Model,
    name: &'static str,
    number: u16,
    ge: bool,
    image_set: ImageSet,
    load_information_id: u32,
    vendor_class: &'static [u8],
    term_file: Option<&'static str>,
    max_sip_lines: u8,
) -> Entry {
    Entry {
        model,
        name,
        number,
        ge,
        image_set,
        load_information_id,
        vendor_class,
        term_file,
        max_sip_lines,
    }
}

// Reference §0. loadInformation ids are chan-sccp's SKINNY_DEVICETYPE_* values.
// Line counts: 7940 2 and 7960 6 are from PHONES.md; the others are the
// models' line-button counts (public spec sheets), not a tested SIP limit.
// GE term files (term41/term61) are inferred from the shared image set.
#[rustfmt::skip]
static CATALOG: [Entry; 17] = [
    entry(Model::Cp7940, "7940", 7940, false, ImageSet::P0x3, 8,
        b"Cisco Systems, Inc. IP Phone CP-7940G\0", None, 2),
    entry(Model::Cp7960, "7960", 7960, false, ImageSet::P0x3, 7,
        b"Cisco Systems, Inc. IP Phone CP-7960G\0", None, 6),
    entry(Model::Cp7941, "7941", 7941, false, ImageSet::Java41, 115,
        b"Cisco Systems, Inc. IP Phone CP-7941G\0", Some("term41.default.loads"), 2),
    entry(Model::Cp7941Ge, "7941G-GE", 7941, true, ImageSet::Java41, 309,
        b"Cisco Systems, Inc. IP Phone CP-7941G-GE\0", Some("term41.default.loads"), 2),
    entry(Model::Cp7961, "7961", 7961, false, ImageSet::Java41, 30018,
        b"Cisco Systems, Inc. IP Phone CP-7961G\0", Some("term61.default.loads"), 6),
    entry(Model::Cp7961Ge, "7961G-GE", 7961, true, ImageSet::Java41, 308,
        b"Cisco Systems, Inc. IP Phone CP-7961G-GE\0", Some("term61.default.loads"), 6),
    entry(Model::Cp7942, "7942", 7942, false, ImageSet::Java42, 434,
        b"Cisco Systems, Inc. IP Phone CP-7942G\0", Some("term42.default.loads"), 2),
    entry(Model::Cp7962, "7962", 7962, false, ImageSet::Java42, 404,
        b"Cisco Systems, Inc. IP Phone CP-7962G\0", Some("term62.default.loads"), 6),
    entry(Model::Cp7945, "7945", 7945, false, ImageSet::Java45, 435,
        b"Cisco Systems, Inc. IP Phone CP-7945G\0", Some("term45.default.loads"), 2),
    entry(Model::Cp7965, "7965", 7965, false, ImageSet::Java45, 436,
        b"Cisco Systems, Inc. IP Phone CP-7965G\0", Some("term65.default.loads"), 6),
    entry(Model::Cp7970, "7970", 7970, false, ImageSet::Java70, 30006,
        b"Cisco Systems, Inc. IP Phone CP-7970G\0", Some("term70.default.loads"), 8),
    entry(Model::Cp7971, "7971G-GE", 7971, true, ImageSet::Java70, 119,
        b"Cisco Systems, Inc. IP Phone CP-7971G-GE\0", Some("term71.default.loads"), 8),
    entry(Model::Cp7975, "7975", 7975, false, ImageSet::Java75, 437,
        b"Cisco Systems, Inc. IP Phone CP-7975G\0", Some("term75.default.loads"), 8),
    entry(Model::Cp7911, "7911", 7911, false, ImageSet::Java11, 307,
        b"Cisco Systems, Inc. IP Phone CP-7911G\0", Some("term11.default.loads"), 1),
    entry(Model::Cp7906, "7906", 7906, false, ImageSet::Java11, 369,
        b"Cisco Systems, Inc. IP Phone CP-7906G\0", Some("term06.default.loads"), 1),
    // 7912/7905 VCIs have no `CP-` and (per wazo's match) no trailing NUL.
    entry(Model::Cp7912, "7912", 7912, false, ImageSet::Cp7912, 30007,
        b"Cisco Systems, Inc. IP Phone 7912", None, 1),
    entry(Model::Cp7905, "7905", 7905, false, ImageSet::Cp7905, 20000,
        b"Cisco Systems, Inc. IP Phone 7905", None, 1),
];

impl Model {
    /// Every model, in catalog order.
    pub const ALL: [Model; 17] = [
        Model::Cp7940,
        Model::Cp7960,
        Model::Cp7941,
        Model::Cp7941Ge,
        Model::Cp7961,
        Model::Cp7961Ge,
        Model::Cp7942,
        Model::Cp7962,
        Model::Cp7945,
        Model::Cp7965,
        Model::Cp7970,
        Model::Cp7971,
        Model::Cp7975,
        Model::Cp7911,
        Model::Cp7906,
        Model::Cp7912,
        Model::Cp7905,
    ];

    fn entry(self) -> &'static Entry {
        // The table is in declaration order; `catalog_matches_enum` checks it.
        let found = CATALOG.iter().find(|e| e.model == self);
        match found {
            Some(e) => e,
            None => unreachable_entry(),
        }
    }

    /// Canonical name: `7960`, `7941G-GE`, `7971G-GE`.
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// The four-digit model number (`7961` for both 7961 and 7961G-GE).
    pub fn number(self) -> u16 {
        self.entry().number
    }

    /// Whether this is a gigabit (`-GE`) variant.
    pub fn is_ge(self) -> bool {
        self.entry().ge
    }

    /// The hardware family.
    pub fn family(self) -> Family {
        self.entry().image_set.family()
    }

    /// Which loads this model takes.
    pub fn image_set(self) -> ImageSet {
        self.entry().image_set
    }

    /// `NNN` in `<loadInformationNNN model="…">` (the SCCP device type). Phones
    /// key on this number; the `model=` text is believed cosmetic (reference §7 q10).
    pub fn load_information_id(self) -> u32 {
        self.entry().load_information_id
    }

    /// The `model="…"` text for `XMLDefault.cnf.xml` (`IP Phone 7960`).
    pub fn xml_model(self) -> String {
        format!("IP Phone {}", self.name())
    }

    /// The option-60 vendor class this model is documented to send, trailing
    /// NUL included where the phone sends one. Used by simulators and tests.
    pub fn vendor_class(self) -> &'static [u8] {
        self.entry().vendor_class
    }

    /// The recovery file asked for after a factory reset (`term61.default.loads`),
    /// or `None` for models that have none (79x0, 7912, 7905). GE variants are
    /// assumed to ask for the same file as the non-GE model (inferred, unverified).
    pub fn term_file(self) -> Option<&'static str> {
        self.entry().term_file
    }

    /// Where SIP configuration goes for this model.
    pub fn sip_config(self) -> SipConfigFormat {
        match self.family() {
            Family::Series79x0 => SipConfigFormat::Text79x0,
            Family::Series7912 | Family::Series7905 => SipConfigFormat::BinaryProfile,
            _ => SipConfigFormat::Xml,
        }
    }

    /// Most SIP lines worth configuring. 7940: 2 and 7960: 6 are documented;
    /// the rest are line-button counts (unverified as firmware limits).
    pub fn max_sip_lines(self) -> u8 {
        self.entry().max_sip_lines
    }

    /// Whether the phone may try HTTP on 6970 first (inferred for Java phones).
    pub fn http_first(self) -> HttpFirst {
        if self.family().is_java() {
            HttpFirst::NewerLoads
        } else {
            HttpFirst::Never
        }
    }

    /// How this model's load names for `protocol` begin (`P0S3`, `SIP41`).
    pub fn load_prefix(self, protocol: Protocol) -> Option<&'static str> {
        self.image_set().load_prefix(protocol)
    }

    /// False for the 7912/7905, whose facts come from one admin guide and one
    /// tftpboot tree; treat their behaviour as provisional.
    pub fn is_well_documented(self) -> bool {
        !matches!(self, Model::Cp7912 | Model::Cp7905)
    }

    /// Look a model up by the id in `loadInformationNNN`.
    pub fn from_load_information_id(id: u32) -> Option<Model> {
        CATALOG
            .iter()
            .find(|e| e.load_information_id == id)
            .map(|e| e.model)
    }

    /// Look a model up by a name as operators and configs write it:
    /// `7960`, `CP-7960G`, `7961G-GE`, `7961-GE`, `IP Phone 7941`, `Cisco 7975`.
    /// Case-insensitive. `None` for models phoneboot does not know.
    pub fn from_name(name: &str) -> Option<Model> {
        let upper = name.trim().to_ascii_uppercase();
        let mut rest = upper.as_str();
        for prefix in ["CISCO", "IP PHONE", "PHONE"] {
            if let Some(r) = rest.strip_prefix(prefix) {
                rest = r.trim_start();
            }
        }
        parse_model_token(rest)
    }

    /// Identify a phone from DHCP option 60.
    ///
    /// Phones send `Cisco Systems, Inc. IP Phone CP-7960G` plus a NUL; GE models
    /// end `CP-7961G-GE`; some omit the `G` or the `CP-` (`IP Phone 7912`).
    /// NULs, other control bytes and non-UTF-8 bytes are treated as spaces, and
    /// matching is case-insensitive. Like wazo's pattern in PHONES.md, the
    /// model is the word right after `Phone`; a missing model word or a Cisco
    /// phone outside the catalog (the 7921, 7937) gives `None`.
    pub fn from_vendor_class(vci: &[u8]) -> Option<Model> {
        // Map to upper-case ASCII words; everything else separates words.
        let text: String = vci
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() {
                    char::from(b.to_ascii_uppercase())
                } else {
                    ' '
                }
            })
            .collect();
        let mut words = text.split_whitespace();
        while let Some(word) = words.next() {
            if word == "PHONE" {
                return words.next().and_then(parse_model_token);
            }
        }
        None
    }
}

#[cold]
fn unreachable_entry() -> ! {
    // Every variant has a row (checked by a test); reaching this is a bug in this file.
    unreachable!("cisco::model::CATALOG is missing a row")
}

/// `CP-7961G-GE`, `7960`, `CP7940`, `7945G` → model. Upper-case input.
fn parse_model_token(token: &str) -> Option<Model> {
    let token = token.trim();
    let token = token
        .strip_prefix("CP-")
        .or_else(|| token.strip_prefix("CP"))
        .unwrap_or(token);
    let digits = token.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u16 = digits.parse().ok()?;
    let rest = token.get(4..)?;
    let rest = rest.strip_prefix('G').unwrap_or(rest);
    let ge = match rest {
        "" => false,
        "-GE" => true,
        _ => return None,
    };
    let mut candidates = CATALOG.iter().filter(|e| e.number == number);
    if ge {
        // A `-GE` suffix on a model with no GE variant is not a phone we know.
        candidates.find(|e| e.ge).map(|e| e.model)
    } else {
        // 7971 exists only as GE, so a bare `7971` still means it.
        let all: Vec<&Entry> = candidates.collect();
        all.iter()
            .find(|e| !e.ge)
            .or_else(|| all.first())
            .map(|e| e.model)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Model::from_name(s).ok_or_else(|| ModelError::UnknownModel { name: s.to_owned() })
    }
}

/// Errors from looking up catalog entries by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Not a model in the catalog.
    #[error(
        "unknown phone model {name:?}: phoneboot knows 7940, 7960, 7941, 7941G-GE, 7961, \
         7961G-GE, 7942, 7962, 7945, 7965, 7970, 7971G-GE, 7975, 7911, 7906, 7912 and 7905"
    )]
    UnknownModel {
        /// The text as given.
        name: String,
    },
    /// Not SCCP, SIP or MGCP.
    #[error("unknown protocol {name:?}: use SCCP or SIP (MGCP only exists for the 7940/7960)")]
    UnknownProtocol {
        /// The text as given.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_matches_enum() {
        assert_eq!(CATALOG.len(), Model::ALL.len());
        for (e, m) in CATALOG.iter().zip(Model::ALL) {
            assert_eq!(e.model, m);
        }
    }

    #[test]
    fn ids_and_names_are_unique() {
        for a in Model::ALL {
            for b in Model::ALL {
                if a != b {
                    assert_ne!(a.load_information_id(), b.load_information_id());
                    assert_ne!(a.name(), b.name());
                }
            }
        }
    }

    #[test]
    fn reference_table_facts() {
        let rows: [(Model, Family, u32, Option<&str>); 17] = [
            (Model::Cp7940, Family::Series79x0, 8, None),
            (Model::Cp7960, Family::Series79x0, 7, None),
            (
                Model::Cp7941,
                Family::Series79x1,
                115,
                Some("term41.default.loads"),
            ),
            (
                Model::Cp7941Ge,
                Family::Series79x1,
                309,
                Some("term41.default.loads"),
            ),
            (
                Model::Cp7961,
                Family::Series79x1,
                30018,
                Some("term61.default.loads"),
            ),
            (
                Model::Cp7961Ge,
                Family::Series79x1,
                308,
                Some("term61.default.loads"),
            ),
            (
                Model::Cp7942,
                Family::Series79x2,
                434,
                Some("term42.default.loads"),
            ),
            (
                Model::Cp7962,
                Family::Series79x2,
                404,
                Some("term62.default.loads"),
            ),
            (
                Model::Cp7945,
                Family::Series79x5,
                435,
                Some("term45.default.loads"),
            ),
            (
                Model::Cp7965,
                Family::Series79x5,
                436,
                Some("term65.default.loads"),
            ),
            (
                Model::Cp7970,
                Family::Series797x,
                30006,
                Some("term70.default.loads"),
            ),
            (
                Model::Cp7971,
                Family::Series797x,
                119,
                Some("term71.default.loads"),
            ),
            (
                Model::Cp7975,
                Family::Series797x,
                437,
                Some("term75.default.loads"),
            ),
            (
                Model::Cp7911,
                Family::Series791x,
                307,
                Some("term11.default.loads"),
            ),
            (
                Model::Cp7906,
                Family::Series791x,
                369,
                Some("term06.default.loads"),
            ),
            (Model::Cp7912, Family::Series7912, 30007, None),
            (Model::Cp7905, Family::Series7905, 20000, None),
        ];
        for (model, family, id, term) in rows {
            assert_eq!(model.family(), family, "{model}");
            assert_eq!(model.load_information_id(), id, "{model}");
            assert_eq!(Model::from_load_information_id(id), Some(model));
            assert_eq!(model.term_file(), term, "{model}");
        }
        assert_eq!(
            Model::from_load_information_id(5),
            None,
            "id 5 is a copy-paste error in the wild"
        );
        assert_eq!(Model::Cp7940.max_sip_lines(), 2);
        assert_eq!(Model::Cp7960.max_sip_lines(), 6);
        assert_eq!(Model::Cp7960.sip_config(), SipConfigFormat::Text79x0);
        assert_eq!(Model::Cp7961.sip_config(), SipConfigFormat::Xml);
        assert_eq!(Model::Cp7912.sip_config(), SipConfigFormat::BinaryProfile);
        assert_eq!(Model::Cp7960.http_first(), HttpFirst::Never);
        assert_eq!(Model::Cp7965.http_first(), HttpFirst::NewerLoads);
        assert_eq!(Model::Cp7960.xml_model(), "IP Phone 7960");
    }

    #[test]
    fn load_prefixes() {
        assert_eq!(Model::Cp7960.load_prefix(Protocol::Sccp), Some("P003"));
        assert_eq!(Model::Cp7940.load_prefix(Protocol::Sip), Some("P0S3"));
        assert_eq!(Model::Cp7940.load_prefix(Protocol::Mgcp), Some("P0M3"));
        assert_eq!(Model::Cp7961Ge.load_prefix(Protocol::Sip), Some("SIP41"));
        assert_eq!(Model::Cp7962.load_prefix(Protocol::Sccp), Some("SCCP42"));
        assert_eq!(Model::Cp7971.load_prefix(Protocol::Sip), Some("SIP70"));
        assert_eq!(Model::Cp7975.load_prefix(Protocol::Sccp), Some("SCCP75"));
        assert_eq!(Model::Cp7906.load_prefix(Protocol::Sip), Some("SIP11"));
        assert_eq!(Model::Cp7941.load_prefix(Protocol::Mgcp), None);
        assert_eq!(Model::Cp7912.load_prefix(Protocol::Sip), None);
    }

    #[test]
    fn image_sets_group_models() {
        let set: Vec<Model> = ImageSet::Java41.models().collect();
        assert_eq!(
            set,
            [
                Model::Cp7941,
                Model::Cp7941Ge,
                Model::Cp7961,
                Model::Cp7961Ge
            ]
        );
        let set: Vec<Model> = ImageSet::Java70.models().collect();
        assert_eq!(set, [Model::Cp7970, Model::Cp7971]);
        let fam: Vec<Model> = Family::Series797x.models().collect();
        assert_eq!(fam, [Model::Cp7970, Model::Cp7971, Model::Cp7975]);
        for code in [41, 42, 45, 70, 75, 11] {
            let set = ImageSet::from_java_code(code).expect("known code");
            assert_eq!(set.java_code(), Some(code));
        }
        assert_eq!(ImageSet::from_java_code(40), None);
        assert_eq!(ImageSet::from_java_code(31), None);
    }

    #[test]
    fn lookup_by_name() {
        let cases = [
            ("7960", Model::Cp7960),
            ("CP-7960G", Model::Cp7960),
            ("cp-7960g", Model::Cp7960),
            ("7961G-GE", Model::Cp7961Ge),
            ("CP-7961G-GE", Model::Cp7961Ge),
            ("7961-GE", Model::Cp7961Ge),
            ("7941G", Model::Cp7941),
            ("7971", Model::Cp7971),
            ("7971G-GE", Model::Cp7971),
            ("IP Phone 7975", Model::Cp7975),
            ("Cisco 7906", Model::Cp7906),
            (" 7912 ", Model::Cp7912),
        ];
        for (name, model) in cases {
            assert_eq!(Model::from_name(name), Some(model), "{name}");
            assert_eq!(name.parse::<Model>(), Ok(model), "{name}");
        }
        for bad in [
            "", "79", "7921", "7960-GE", "7960X", "79600", "CP-", "PHONE", "7940GG",
        ] {
            assert_eq!(Model::from_name(bad), None, "{bad:?}");
        }
        let err = "7921".parse::<Model>().unwrap_err().to_string();
        assert!(err.contains("\"7921\"") && err.contains("7960"), "{err}");
        for m in Model::ALL {
            assert_eq!(Model::from_name(m.name()), Some(m));
            assert_eq!(m.to_string().parse::<Model>(), Ok(m));
        }
    }

    #[test]
    fn vendor_class_matching() {
        let cases: [(&[u8], Option<Model>); 19] = [
            (
                b"Cisco Systems, Inc. IP Phone CP-7960G\0",
                Some(Model::Cp7960),
            ),
            (
                b"Cisco Systems, Inc. IP Phone CP-7940\0",
                Some(Model::Cp7940),
            ),
            (
                b"Cisco Systems, Inc. IP Phone CP-7961G-GE\0",
                Some(Model::Cp7961Ge),
            ),
            (
                b"Cisco Systems, Inc. IP Phone CP-7971G-GE\0",
                Some(Model::Cp7971),
            ),
            (b"Cisco Systems, Inc. IP Phone CP-7945", Some(Model::Cp7945)),
            (b"Cisco Systems, Inc. IP Phone 7912", Some(Model::Cp7912)),
            (b"Cisco Systems, Inc. IP Phone 7960", Some(Model::Cp7960)),
            (
                b"  cisco systems, inc. ip phone cp-7911g\0\0\0",
                Some(Model::Cp7911),
            ),
            (
                b"Cisco Systems, Inc.\0IP\xffPhone\0CP-7965G\0",
                Some(Model::Cp7965),
            ),
            (b"Cisco Systems, Inc. IP Phone\0", None),
            (b"Cisco Systems, Inc.", None),
            (b"Cisco Systems Inc. Wireless Phone 7921", None),
            (b"Cisco Systems, Inc. IP Phone CP-7937G", None),
            (b"Cisco Systems, Inc. IP Phone CP-7960G-GE\0", None),
            (b"IP Phone CP-7960G", Some(Model::Cp7960)),
            (b"Phone 7960", Some(Model::Cp7960)),
            (
                b"Cisco Systems, Inc. IP Phone CP-7960G extra\0",
                Some(Model::Cp7960),
            ),
            (b"Cisco Systems, Inc. IP Telephone CP-7960G", None),
            (b"", None),
        ];
        for (vci, want) in cases {
            assert_eq!(
                Model::from_vendor_class(vci),
                want,
                "{:?}",
                String::from_utf8_lossy(vci)
            );
        }
        for m in Model::ALL {
            assert_eq!(Model::from_vendor_class(m.vendor_class()), Some(m), "{m}");
        }
    }

    #[test]
    fn protocol_names() {
        for p in Protocol::ALL {
            assert_eq!(p.to_string().parse::<Protocol>(), Ok(p));
        }
        assert_eq!("sip".parse::<Protocol>(), Ok(Protocol::Sip));
        assert!("H323"
            .parse::<Protocol>()
            .unwrap_err()
            .to_string()
            .contains("\"H323\""));
    }
}
