//! Synthetic firmware: real names and real `.loads` structure, made-up bytes.
//!
//! Cisco's firmware cannot ship with phoneboot, so tests, the bundle maker
//! and the phone simulator use these instead. Everything is deterministic:
//! the same inputs give the same bytes, with no clock and no randomness
//! beyond a generator seeded from the file name.
//!
//! The header follows the layout of Cisco's signed files (reference §3.3 and
//! `sgnfile` by Gareth Palmer): version 1.1, header length, signer and CA
//! names (the `CN=someSigner…` placeholders genuine files carry), serial,
//! digest and signature-algorithm records, a 256-byte "signature" of filler,
//! the file name, a timestamp and `0x0D` padding to a 4-byte boundary.
//! No phone would accept it; every parser should.

use crate::files::{classify, Component, ComponentKind, FirmwareFile, ImageExt};
use crate::load_name::{LoadKind, LoadName, Version};
use crate::model::{ImageSet, Model, Protocol};
use crate::plan::AvailableLoad;
use crate::rng::seed_from;
/// The seeded generator behind every synthetic fixture, for simulators and
/// seeded tests that must replay from a seed.
pub use crate::rng::XorShift64;

/// Signer name recorded in genuine Cisco headers (a literal placeholder).
pub const SIGNER_NAME: &str = "CN=someSigner;OU=someOrgUnit;O=someOrg";
/// CA name recorded in genuine Cisco headers.
pub const CA_NAME: &str = "CN=someCA;OU=someOrgUnit;O=someOrg";
/// Size of the fake RSA-2048 signature.
pub const SIGNATURE_LEN: u16 = 256;

/// A signed-looking TLV header for a file called `file_name`.
pub fn signed_header(file_name: &str) -> Vec<u8> {
    let seed = seed_from(file_name);
    let mut rng = XorShift64::new(seed);
    let mut h: Vec<u8> = Vec::with_capacity(420);
    let record = |h: &mut Vec<u8>, tag: u8, value: &[u8]| {
        h.push(tag);
        h.extend_from_slice(&len16(value.len()).to_be_bytes());
        h.extend_from_slice(value);
    };
    record(&mut h, 1, &[1, 1]);
    record(&mut h, 2, &[0, 0]); // patched below
    let signer = nul_terminated(SIGNER_NAME);
    let ca = nul_terminated(CA_NAME);
    let mut serial = [0u8; 8];
    rng.fill(&mut serial);
    // Tag 3 is a container: its length covers the signer, serial and CA records.
    const RECORD: usize = 3; // tag + length
    let signer_id = [RECORD, signer.len(), RECORD, serial.len(), RECORD, ca.len()]
        .iter()
        .fold(0usize, |a, n| a.saturating_add(*n));
    h.push(3);
    h.extend_from_slice(&len16(signer_id).to_be_bytes());
    record(&mut h, 4, &signer);
    record(&mut h, 5, &serial);
    record(&mut h, 6, &ca);
    // Tag 7 (signature info) and 9 (algorithm info) are containers too.
    h.extend_from_slice(&[7, 0, 15]);
    record(&mut h, 8, &[1]); // SHA-1
    h.extend_from_slice(&[9, 0, 8]);
    record(&mut h, 10, &[0]);
    record(&mut h, 11, &[2]); // 2 = 256-byte modulus
    let mut signature = vec![0u8; usize::from(SIGNATURE_LEN)];
    rng.fill(&mut signature);
    record(&mut h, 12, &signature);
    record(&mut h, 14, &nul_terminated(file_name));
    // 2010-ish, varied per file, never the clock.
    let timestamp = 1_262_304_000u32.wrapping_add(u32::try_from(seed % 31_536_000).unwrap_or(0));
    record(&mut h, 15, &timestamp.to_be_bytes());
    while !h.len().is_multiple_of(4) {
        h.push(13);
    }
    let total = len16(h.len()).to_be_bytes();
    if let Some(slot) = h.get_mut(8..10) {
        slot.copy_from_slice(&total);
    }
    h
}

fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn nul_terminated(s: &str) -> Vec<u8> {
    // Header names are short; a pathological name is cut so lengths stay u16.
    let mut v: Vec<u8> = s.bytes().take(1024).collect();
    v.push(0);
    v
}

/// A file of `len` bytes: a signed-looking header for `file_name`, then filler.
/// Sized like the real thing with [`typical_size`], or small for fast tests.
pub fn image(file_name: &str, len: usize) -> Vec<u8> {
    let mut out = signed_header(file_name);
    out.truncate(len);
    let mut rng = XorShift64::new(seed_from(file_name) ^ 0xf11e);
    let mut filler = vec![0u8; len.saturating_sub(out.len())];
    rng.fill(&mut filler);
    out.extend_from_slice(&filler);
    out
}

/// The size of the real file with this name, from Cisco bundle listings
/// (reference §3.2, INFO.txt listings); `None` for names not recognised.
pub fn typical_size(file_name: &str) -> Option<usize> {
    Some(match classify(file_name)? {
        FirmwareFile::Loads(_) | FirmwareFile::TermDefault(_) => 660,
        FirmwareFile::Image { ext, .. } => match ext {
            ImageExt::Sbn => 130_956,
            ImageExt::Sb2 => 756_524,
            ImageExt::Bin => 130_552,
            ImageExt::Sbin | ImageExt::Zup => 334_421,
        },
        FirmwareFile::Component(c) => match c.kind() {
            ComponentKind::Jar => 1_629_894,
            ComponentKind::Cnu => 499_863,
            ComponentKind::Apps => 2_933_341,
            ComponentKind::Dsp => 539_513,
            ComponentKind::Cvm => 2_490_633,
        },
    })
}

/// The build tag Cisco gave the component files of a Java load: it differs
/// from the load name (`SIP41.9-4-2SR3-1S` ships `…9-4-2ES26.sbn`). Known
/// releases come from real bundles; others reuse the load's version text.
pub fn component_tag(load: &LoadName) -> String {
    let known: [(Version, &str); 6] = [
        (Version::new(9, 4, 2).with_sr(3).with_build(1), "9-4-2ES26"),
        (Version::new(9, 4, 2).with_sr(4).with_build(3), "9-4-2SR4-3"),
        (Version::new(9, 3, 1).with_sr(1).with_build(1), "9-3-1ES8"),
        (Version::new(9, 4, 2).with_sub(1), "9-4-2TH1-1"),
        (Version::new(9, 2, 1), "9-2-1TH1-13"),
        (Version::new(8, 5, 4), "8-5-4TH1-6"),
    ];
    if let Some((_, tag)) = known.iter().find(|(v, _)| *v == load.version()) {
        return (*tag).to_owned();
    }
    let raw = load.as_str();
    let body = raw.split_once('.').map_or(raw, |(_, b)| b);
    body.strip_suffix(['S', 's']).unwrap_or(body).to_owned()
}

/// The files a load consists of, in the order its `.loads` lists them:
/// - 79x0 from 5.0: loader `.sbn` then application `.sb2` (SIP/MGCP loads use
///   the universal loader `P003-…`, SCCP loads their own name);
/// - 79x0 before 5.0: the single unsigned `.bin`;
/// - universal loader: its `.sbn`;
/// - Java phones: jar, cnu, apps, dsp, cvm `.sbn`;
/// - 7912/7905: the single `.sbin`.
///
/// The file list of 79x0 5.x–7.x loads is inferred from 8.x ones.
pub fn load_files(load: &LoadName) -> Vec<String> {
    let raw = load.as_str();
    match (load.image_set(), load.kind()) {
        (ImageSet::P0x3, LoadKind::UniversalLoader) => vec![format!("{raw}.sbn")],
        (ImageSet::P0x3, LoadKind::Application) if !load.has_loads_file() => {
            vec![format!("{raw}.bin")]
        }
        (ImageSet::P0x3, _) => {
            let loader = if load.protocol() == Some(Protocol::Sccp) {
                raw.to_owned()
            } else {
                format!("P003{}", raw.get(4..).unwrap_or(""))
            };
            vec![format!("{loader}.sbn"), format!("{raw}.sb2")]
        }
        (ImageSet::Cp7912 | ImageSet::Cp7905, _) => vec![format!("{raw}.sbin")],
        (set, _) => {
            let tag = component_tag(load);
            // TERM loads state no protocol; they predate SIP, so SCCP.
            let protocol = load.protocol().unwrap_or(Protocol::Sccp);
            ComponentKind::ALL
                .into_iter()
                .filter_map(|kind| {
                    let p = kind.is_protocol_specific().then_some(protocol);
                    Component::new(kind, set, p, &tag).map(|c| c.file_name())
                })
                .collect()
        }
    }
}

/// `#HARDWARE_COMP_1` values seen in real files (reference §3.3).
fn hardware_comp(load: &LoadName) -> Option<u32> {
    match (load.image_set(), load.protocol()) {
        (ImageSet::Java42, _) => Some(5),
        (ImageSet::Java45, _) => Some(15),
        (ImageSet::Java11, Some(Protocol::Sip)) => Some(1),
        _ => None,
    }
}

/// `LA_VERSION` values seen in real 79x0 files.
fn la_version(load: &LoadName) -> Option<&'static str> {
    match load.as_str().to_ascii_uppercase().as_str() {
        "P0030801SR02" => Some("PAS30831"),
        "P0S3-8-12-00" => Some("PAS30830"),
        _ => None,
    }
}

/// Builds the bytes of a `.loads` file.
///
/// ```
/// use cisco::{synth::LoadsBuilder, LoadName, LoadsFile};
/// let load = LoadName::parse("SIP41.9-4-2SR3-1S")?;
/// let bytes = LoadsBuilder::for_load(&load)?.build();
/// let parsed = LoadsFile::parse(&bytes)?;
/// assert_eq!(parsed.files()[0], "jar41sip.9-4-2ES26.sbn");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoadsBuilder {
    file_name: String,
    signed: bool,
    comments: Vec<String>,
    hardware_comp: Option<u32>,
    files: Vec<String>,
    properties: Vec<(String, String)>,
    crlf: bool,
    trailing_spaces: bool,
}

impl LoadsBuilder {
    /// An empty signed file to be stored as `file_name`.
    pub fn new(file_name: &str) -> Self {
        LoadsBuilder {
            file_name: file_name.to_owned(),
            signed: true,
            comments: Vec::new(),
            hardware_comp: None,
            files: Vec::new(),
            properties: Vec::new(),
            crlf: true,
            trailing_spaces: false,
        }
    }

    /// The `.loads` Cisco ships for `load`, with its real file list.
    pub fn for_load(load: &LoadName) -> Result<Self, SynthError> {
        if !load.has_loads_file() {
            return Err(SynthError::NoLoadsFile {
                load: load.to_string(),
                file: load.requested_file(),
            });
        }
        let mut b = LoadsBuilder::new(&load.requested_file());
        b.files = load_files(load);
        if load.image_set() == ImageSet::P0x3 {
            if let Some(la) = la_version(load) {
                b.properties.push(("LA_VERSION".into(), la.into()));
            }
        } else {
            b.comments.push(format!(
                "This file contains a list of archive image files that will be requested by the RELEASE load version {}",
                component_tag(load)
            ));
            b.hardware_comp = hardware_comp(load);
        }
        Ok(b)
    }

    /// `termNN.default.loads` for `model` listing `load`'s files. The protocol
    /// of `load` is the protocol a factory-reset phone comes back in.
    pub fn term_default(model: Model, load: &LoadName) -> Result<Self, SynthError> {
        let term = model.term_file().ok_or(SynthError::NoTermFile { model })?;
        if !load.fits(model) {
            return Err(SynthError::WrongModel {
                load: load.to_string(),
                model,
            });
        }
        let mut b = LoadsBuilder::for_load(load)?;
        b.file_name = term.to_owned();
        Ok(b)
    }

    /// Append a file name (not checked: tests use this to build bad files).
    #[must_use]
    pub fn file(mut self, name: &str) -> Self {
        self.files.push(name.to_owned());
        self
    }

    /// Append a `# comment` line.
    #[must_use]
    pub fn comment(mut self, text: &str) -> Self {
        self.comments.push(text.to_owned());
        self
    }

    /// Set `#HARDWARE_COMP_1`.
    #[must_use]
    pub fn hardware_comp(mut self, value: u32) -> Self {
        self.hardware_comp = Some(value);
        self
    }

    /// Append a `KEY=VALUE` line.
    #[must_use]
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Leave out the signed header (plain text, as some hand-made trees have).
    #[must_use]
    pub fn unsigned(mut self) -> Self {
        self.signed = false;
        self
    }

    /// End lines with LF instead of CRLF.
    #[must_use]
    pub fn lf(mut self) -> Self {
        self.crlf = false;
        self
    }

    /// Put a space after each file name, as some real files do.
    #[must_use]
    pub fn trailing_spaces(mut self) -> Self {
        self.trailing_spaces = true;
        self
    }

    /// The name the file is stored under (`SIP41.9-4-2SR3-1S.loads`, `term61.default.loads`).
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The listed files, in order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The text body alone.
    pub fn body(&self) -> String {
        let eol = if self.crlf { "\r\n" } else { "\n" };
        let space = if self.trailing_spaces { " " } else { "" };
        let mut s = String::new();
        for c in &self.comments {
            s.push_str(&format!("# {c}{eol}"));
        }
        if let Some(v) = self.hardware_comp {
            s.push_str(&format!("#HARDWARE_COMP_1 {v}{eol}"));
        }
        for f in &self.files {
            s.push_str(&format!("{f}{space}{eol}"));
        }
        for (k, v) in &self.properties {
            s.push_str(&format!("{k}={v}{eol}"));
        }
        s
    }

    /// The complete file.
    pub fn build(&self) -> Vec<u8> {
        let mut out = if self.signed {
            signed_header(&self.file_name)
        } else {
            Vec::new()
        };
        out.extend_from_slice(self.body().as_bytes());
        out
    }
}

/// A fixture that cannot exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// The load is a single image with no `.loads`.
    #[error("load {load:?} has no .loads file; phones fetch {file:?} directly, so build that image instead")]
    NoLoadsFile {
        /// The load.
        load: String,
        /// What the phone asks for instead.
        file: String,
    },
    /// The model has no recovery file.
    #[error("the {model} has no termNN.default.loads; only Java phones (79x1, 79x2, 79x5, 797x, 791x) use one")]
    NoTermFile {
        /// The model.
        model: Model,
    },
    /// Load and model do not match.
    #[error("load {load:?} does not run on the {model}; pick a load with the model's prefix")]
    WrongModel {
        /// The load.
        load: String,
        /// The model.
        model: Model,
    },
}

impl AvailableLoad {
    /// A complete catalog entry for `name` with the files and sizes of this
    /// module, for tests and simulators.
    pub fn synthetic(name: &LoadName) -> AvailableLoad {
        let mut files = Vec::new();
        if name.has_loads_file() {
            files.push(name.requested_file());
        }
        files.extend(load_files(name));
        let bytes = files
            .iter()
            .filter_map(|f| typical_size(f))
            .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
            .fold(0u64, u64::saturating_add);
        AvailableLoad {
            name: name.clone(),
            complete: true,
            missing: Vec::new(),
            files,
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loads::{Boundary, LoadsFile};

    fn load(s: &str) -> LoadName {
        LoadName::parse(s).expect(s)
    }

    #[test]
    fn realistic_file_lists() {
        assert_eq!(
            load_files(&load("P0S3-8-12-00")),
            ["P003-8-12-00.sbn", "P0S3-8-12-00.sb2"]
        );
        assert_eq!(
            load_files(&load("P0S3-08-12-00")),
            ["P003-08-12-00.sbn", "P0S3-08-12-00.sb2"]
        );
        assert_eq!(
            load_files(&load("P0030801SR02")),
            ["P0030801SR02.sbn", "P0030801SR02.sb2"]
        );
        assert_eq!(load_files(&load("P00303010102")), ["P00303010102.bin"]);
        assert_eq!(load_files(&load("P003-8-12-00")), ["P003-8-12-00.sbn"]);
        assert_eq!(
            load_files(&load("SIP41.9-4-2SR3-1S")),
            [
                "jar41sip.9-4-2ES26.sbn",
                "cnu41.9-4-2ES26.sbn",
                "apps41.9-4-2ES26.sbn",
                "dsp41.9-4-2ES26.sbn",
                "cvm41sip.9-4-2ES26.sbn"
            ]
        );
        assert_eq!(
            load_files(&load("SCCP45.9-4-2SR4-3S")),
            [
                "jar45sccp.9-4-2SR4-3.sbn",
                "cnu45.9-4-2SR4-3.sbn",
                "apps45.9-4-2SR4-3.sbn",
                "dsp45.9-4-2SR4-3.sbn",
                "cvm45sccp.9-4-2SR4-3.sbn"
            ]
        );
        assert_eq!(
            load_files(&load("SIP11.8-5-4S"))[0],
            "jar11sip.8-5-4TH1-6.sbn"
        );
        assert_eq!(load_files(&load("SCCP42.8-5-2S"))[0], "jar42sccp.8-5-2.sbn");
        assert_eq!(
            load_files(&load("TERM41.7-0-3-0S"))[0],
            "jar41sccp.7-0-3-0.sbn"
        );
        assert_eq!(
            load_files(&load("CP7912080004SCCP080108A")),
            ["CP7912080004SCCP080108A.sbin"]
        );
    }

    #[test]
    fn every_built_file_parses_back() {
        let mut loads: Vec<LoadName> = Vec::new();
        for set in ImageSet::ALL {
            for p in Protocol::ALL {
                loads.extend(LoadName::newest_known(set, p));
            }
        }
        loads.extend(
            [
                "P00305000500",
                "P0S3-07-5-00",
                "SCCP41.8-5-2S",
                "TERM41.7-0-3-0S",
            ]
            .map(load),
        );
        let mut built = 0;
        for l in &loads {
            let Ok(b) = LoadsBuilder::for_load(l) else {
                assert!(!l.has_loads_file(), "{l}");
                continue;
            };
            for variant in [
                b.clone(),
                b.clone().lf(),
                b.clone().unsigned(),
                b.clone().trailing_spaces().lf(),
            ] {
                let bytes = variant.build();
                let f = LoadsFile::parse(&bytes).unwrap_or_else(|e| panic!("{l}: {e}"));
                assert_eq!(f.files(), load_files(l), "{l}");
                assert_eq!(
                    f.hardware_comp().first().map(|h| h.value),
                    hardware_comp(l).filter(|_| l.image_set() != ImageSet::P0x3)
                );
                if variant.signed {
                    let h = f.header().expect("signed");
                    assert_eq!(h.boundary(), Boundary::LengthTag);
                    assert_eq!(h.file_name(), Some(l.requested_file().as_str()));
                    assert_eq!(h.version(), Some((1, 1)));
                    assert_eq!(h.length() % 4, 0);
                } else {
                    assert!(f.header().is_none());
                }
                built += 1;
            }
        }
        assert!(built >= 60, "{built}");
        let p0 = LoadsFile::parse(
            &LoadsBuilder::for_load(&load("P0030801SR02"))
                .expect("p0")
                .build(),
        )
        .expect("parses");
        assert_eq!(p0.la_version(), Some("PAS30831"));
    }

    #[test]
    fn header_looks_like_ciscos() {
        let h = signed_header("SIP41.8-5-4S.loads");
        assert_eq!(&h[..5], &[1, 0, 2, 1, 1]);
        assert_eq!(&h[5..8], &[2, 0, 2]);
        assert_eq!(usize::from(u16::from_be_bytes([h[8], h[9]])), h.len());
        assert!(
            (400..=420).contains(&h.len()),
            "about the 404 bytes of a real one: {}",
            h.len()
        );
        assert_eq!(h, signed_header("SIP41.8-5-4S.loads"), "deterministic");
        assert_ne!(h, signed_header("SIP41.8-5-4S.loadz"));
        let text = String::from_utf8_lossy(&h);
        assert!(
            text.contains(SIGNER_NAME)
                && text.contains(CA_NAME)
                && text.contains("SIP41.8-5-4S.loads")
        );
    }

    #[test]
    fn full_header_without_length_record_is_walked() {
        let b = LoadsBuilder::for_load(&load("SIP42.9-4-2SR3-1S")).expect("sip42");
        let full = b.build();
        let stripped: Vec<u8> = full[..5].iter().chain(&full[10..]).copied().collect();
        let f = LoadsFile::parse(&stripped).expect("parses");
        let h = f.header().expect("header");
        assert_eq!(h.boundary(), Boundary::RecordWalk);
        assert_eq!(h.file_name(), Some("SIP42.9-4-2SR3-1S.loads"));
        assert_eq!(f.files(), b.files());
        assert_eq!(f.hardware_comp().first().map(|h| h.value), Some(5));
    }

    #[test]
    fn term_default_per_protocol() {
        let sip =
            LoadsBuilder::term_default(Model::Cp7961, &load("SIP41.9-4-2SR3-1S")).expect("sip");
        let sccp =
            LoadsBuilder::term_default(Model::Cp7961, &load("SCCP41.9-4-2SR3-1S")).expect("sccp");
        assert_eq!(sip.file_name(), "term61.default.loads");
        let f = LoadsFile::parse(&sip.build()).expect("parses");
        assert_eq!(
            f.header().and_then(|h| h.file_name()),
            Some("term61.default.loads")
        );
        assert_eq!(f.files()[0], "jar41sip.9-4-2ES26.sbn");
        assert_eq!(
            LoadsFile::parse(&sccp.build()).expect("parses").files()[0],
            "jar41sccp.9-4-2ES26.sbn"
        );
        assert_eq!(
            LoadsBuilder::term_default(Model::Cp7960, &load("P0S3-8-12-00")).unwrap_err(),
            SynthError::NoTermFile {
                model: Model::Cp7960
            }
        );
        let err =
            LoadsBuilder::term_default(Model::Cp7942, &load("SIP41.9-4-2SR3-1S")).unwrap_err();
        assert!(
            err.to_string().contains("SIP41.9-4-2SR3-1S") && err.to_string().contains("7942"),
            "{err}"
        );
        let err = LoadsBuilder::for_load(&load("P00303010102")).unwrap_err();
        assert!(err.to_string().contains("P00303010102.bin"), "{err}");
    }

    #[test]
    fn images_and_sizes() {
        let img = image("jar41sip.9-4-2ES26.sbn", 5000);
        assert_eq!(img.len(), 5000);
        assert_eq!(img, image("jar41sip.9-4-2ES26.sbn", 5000));
        assert_eq!(image("x.sbn", 10).len(), 10);
        assert_eq!(typical_size("apps41.9-4-2ES26.sbn"), Some(2_933_341));
        assert_eq!(typical_size("P0S3-8-12-00.sb2"), Some(756_524));
        assert_eq!(typical_size("SEP001122334455.cnf.xml"), None);
    }

    #[test]
    fn synthetic_entries_list_what_phones_fetch() {
        let a = AvailableLoad::synthetic(&load("P0S3-8-12-00"));
        assert_eq!(
            a.files,
            ["P0S3-8-12-00.loads", "P003-8-12-00.sbn", "P0S3-8-12-00.sb2"]
        );
        assert_eq!(a.bytes, 660 + 130_956 + 756_524);
        assert_eq!(
            AvailableLoad::synthetic(&load("P00303010102")).files,
            ["P00303010102.bin"]
        );
        assert_eq!(
            AvailableLoad::synthetic(&load("SIP41.9-4-2SR3-1S"))
                .files
                .len(),
            6
        );
    }
}
