//! What a firmware file name says: which load, family and protocol it belongs to.
//!
//! The firmware importer uses this to sort the files of a bundle, and
//! [`RequestedFile`](crate::RequestedFile) for the firmware a phone asks for.

use std::fmt;

use crate::load_name::{LoadKind, LoadName};
use crate::model::{ImageSet, Model, Protocol};

/// A recognised firmware file name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FirmwareFile {
    /// `<load>.loads`: the signed list of a load's files.
    Loads(LoadName),
    /// `termNN.default.loads`: the recovery list a factory-reset phone asks for.
    TermDefault(TermFile),
    /// A 79x0 or 7912/7905 image named after its load (`P0030801SR02.sb2`,
    /// `P003-8-12-00.sbn`, `P00303010102.bin`, `CP7912080004SCCP080108A.sbin`).
    Image {
        /// The load in the name.
        load: LoadName,
        /// Its extension.
        ext: ImageExt,
    },
    /// A Java-phone component (`jar41sip.9-4-2ES26.sbn`).
    Component(Component),
}

impl FirmwareFile {
    /// Whether it is a loader, which a phone flashes before its application:
    /// a 79x0 `.sbn` or a Java phone's `jar….sbn`.
    pub fn is_loader(&self) -> bool {
        match self {
            FirmwareFile::Image { ext, .. } => *ext == ImageExt::Sbn,
            FirmwareFile::Component(c) => c.kind() == ComponentKind::Jar,
            _ => false,
        }
    }
}

/// Extensions of whole-image files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageExt {
    /// Signed image (79x0 loader, Java components).
    Sbn,
    /// Signed 79x0 application.
    Sb2,
    /// Unsigned 79x0 image, for phones below 5.0.
    Bin,
    /// Signed 7912/7905 image.
    Sbin,
    /// Unsigned 7905 image.
    Zup,
}

impl ImageExt {
    fn from_lower(ext: &str) -> Option<ImageExt> {
        Some(match ext {
            "sbn" => ImageExt::Sbn,
            "sb2" => ImageExt::Sb2,
            "bin" => ImageExt::Bin,
            "sbin" => ImageExt::Sbin,
            "zup" => ImageExt::Zup,
            _ => return None,
        })
    }
}

/// Kinds of Java-phone component files, in the order `.loads` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ComponentKind {
    /// `jarNN{sip,sccp}`: the protocol application.
    Jar,
    /// `cnuNN`: shared.
    Cnu,
    /// `appsNN`: shared.
    Apps,
    /// `dspNN`: shared DSP firmware.
    Dsp,
    /// `cvmNN{sip,sccp}`: the protocol's Java VM image.
    Cvm,
}

impl ComponentKind {
    /// All kinds in `.loads` order.
    pub const ALL: [ComponentKind; 5] = [
        ComponentKind::Jar,
        ComponentKind::Cnu,
        ComponentKind::Apps,
        ComponentKind::Dsp,
        ComponentKind::Cvm,
    ];

    /// The name prefix (`jar`).
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Jar => "jar",
            ComponentKind::Cnu => "cnu",
            ComponentKind::Apps => "apps",
            ComponentKind::Dsp => "dsp",
            ComponentKind::Cvm => "cvm",
        }
    }

    /// Whether the file differs between SIP and SCCP loads.
    pub fn is_protocol_specific(self) -> bool {
        matches!(self, ComponentKind::Jar | ComponentKind::Cvm)
    }
}

/// A Java-phone component file such as `cvm45sccp.9-4-2SR4-3.sbn`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Component {
    kind: ComponentKind,
    image_set: ImageSet,
    protocol: Option<Protocol>,
    tag: String,
}

impl Component {
    /// Which component.
    pub fn kind(&self) -> ComponentKind {
        self.kind
    }
    /// Which phones it is for.
    pub fn image_set(&self) -> ImageSet {
        self.image_set
    }
    /// SIP or SCCP for jar/cvm; `None` for shared components.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }
    /// The build tag (`9-4-2ES26`). It differs from the load's version text
    /// (`SIP41.9-4-2SR3-1S` ships `…9-4-2ES26.sbn`), so it is kept as text.
    pub fn tag(&self) -> &str {
        &self.tag
    }
    /// The file name, in Cisco's lower-case form.
    pub fn file_name(&self) -> String {
        let code = self.image_set.java_code().unwrap_or(0);
        let proto = match (self.kind.is_protocol_specific(), self.protocol) {
            (true, Some(Protocol::Sip)) => "sip",
            (true, Some(_)) => "sccp",
            _ => "",
        };
        format!("{}{code}{proto}.{}.sbn", self.kind.as_str(), self.tag)
    }

    /// Build a component name; `None` when the combination does not exist
    /// (protocol given for a shared part or missing for jar/cvm, non-Java
    /// image set, MGCP, or a tag with characters other than `[0-9A-Za-z-]`).
    pub fn new(
        kind: ComponentKind,
        image_set: ImageSet,
        protocol: Option<Protocol>,
        tag: &str,
    ) -> Option<Component> {
        image_set.java_code()?;
        let ok_proto = match protocol {
            None => !kind.is_protocol_specific(),
            Some(Protocol::Sip | Protocol::Sccp) => kind.is_protocol_specific(),
            Some(_) => false,
        };
        let ok_tag = !tag.is_empty()
            && tag.len() <= 40
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        (ok_proto && ok_tag).then(|| Component {
            kind,
            image_set,
            protocol,
            tag: tag.to_owned(),
        })
    }
}

/// A `termNN.default.loads` recovery file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TermFile {
    code: u8,
    image_set: ImageSet,
}

impl TermFile {
    /// Recognise `term61.default.loads` (any letter case; the `.loads`
    /// extension may be missing, as in some `loadInformation` values).
    pub fn parse(name: &str) -> Option<TermFile> {
        let lower = name.to_ascii_lowercase();
        let stem = lower.strip_suffix(".loads").unwrap_or(&lower);
        let digits = stem.strip_prefix("term")?.strip_suffix(".default")?;
        if digits.len() != 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let code: u8 = digits.parse().ok()?;
        let file = format!("term{digits}.default.loads");
        let model = Model::ALL
            .into_iter()
            .find(|m| m.term_file() == Some(file.as_str()))?;
        Some(TermFile {
            code,
            image_set: model.image_set(),
        })
    }

    /// The two digits (`61`).
    pub fn code(&self) -> u8 {
        self.code
    }

    /// Which loads it lists.
    pub fn image_set(&self) -> ImageSet {
        self.image_set
    }

    /// The models that ask for this exact file (`term61` → 7961, 7961G-GE).
    pub fn models(&self) -> Vec<Model> {
        let name = self.file_name();
        Model::ALL
            .into_iter()
            .filter(|m| m.term_file() == Some(name.as_str()))
            .collect()
    }

    /// `termNN.default.loads`, as Cisco ships it.
    pub fn file_name(&self) -> String {
        format!("term{:02}.default.loads", self.code)
    }
}

impl fmt::Display for TermFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file_name())
    }
}

/// The models that ask for a `termNN.default.loads` name (case-insensitive);
/// empty when the name is not one.
pub fn term_file_models(name: &str) -> Vec<Model> {
    TermFile::parse(name)
        .map(|t| t.models())
        .unwrap_or_default()
}

/// Recognise a firmware file name (no directories). `None` for anything else,
/// including configs and names that merely look close.
pub fn classify(name: &str) -> Option<FirmwareFile> {
    if !name.is_ascii() || name.len() > 255 {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let (stem_lower, ext) = lower.rsplit_once('.')?;
    let stem = name.get(..stem_lower.len())?;
    if ext == "loads" {
        if let Some(t) = TermFile::parse(name) {
            return Some(FirmwareFile::TermDefault(t));
        }
        return LoadName::parse(stem).ok().map(FirmwareFile::Loads);
    }
    let ext = ImageExt::from_lower(ext)?;
    if ext == ImageExt::Sbn {
        if let Some(c) = parse_component(stem) {
            return Some(FirmwareFile::Component(c));
        }
    }
    let load = LoadName::parse(stem).ok()?;
    let fits = match (load.image_set(), ext) {
        (ImageSet::P0x3, ImageExt::Sbn | ImageExt::Bin) => true,
        (ImageSet::P0x3, ImageExt::Sb2) => load.kind() == LoadKind::Application,
        (ImageSet::Cp7912 | ImageSet::Cp7905, ImageExt::Sbin) => true,
        (ImageSet::Cp7905, ImageExt::Zup) => true,
        _ => false,
    };
    fits.then_some(FirmwareFile::Image { load, ext })
}

/// `jar41sip.9-4-2ES26` (stem, no `.sbn`).
fn parse_component(stem: &str) -> Option<Component> {
    let (prefix, tag) = stem.split_once('.')?;
    let prefix = prefix.to_ascii_lowercase();
    let kind = ComponentKind::ALL
        .into_iter()
        .find(|k| prefix.starts_with(k.as_str()))?;
    let rest = prefix.get(kind.as_str().len()..)?;
    let code: u8 = rest
        .get(..2)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()?;
    let image_set = ImageSet::from_java_code(code)?;
    let protocol = match rest.get(2..)? {
        "" => None,
        "sip" => Some(Protocol::Sip),
        "sccp" => Some(Protocol::Sccp),
        _ => return None,
    };
    Component::new(kind, image_set, protocol, tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_files() {
        let t = TermFile::parse("term61.default.loads").expect("term61");
        assert_eq!(t.code(), 61);
        assert_eq!(t.image_set(), ImageSet::Java41);
        assert_eq!(t.models(), [Model::Cp7961, Model::Cp7961Ge]);
        assert_eq!(t.to_string(), "term61.default.loads");
        assert_eq!(
            term_file_models("TERM41.DEFAULT.LOADS"),
            [Model::Cp7941, Model::Cp7941Ge]
        );
        assert_eq!(term_file_models("term06.default.loads"), [Model::Cp7906]);
        assert_eq!(term_file_models("term71.default"), [Model::Cp7971]);
        assert_eq!(term_file_models("term75.default.loads"), [Model::Cp7975]);
        for m in Model::ALL {
            if let Some(name) = m.term_file() {
                assert!(term_file_models(name).contains(&m), "{m}");
            }
        }
        for bad in [
            "term40.default.loads",
            "term6.default.loads",
            "term611.default.loads",
            "term61.loads",
            "term61.default.loads.bak",
            "xterm61.default.loads",
            "",
        ] {
            assert_eq!(TermFile::parse(bad), None, "{bad}");
            assert!(term_file_models(bad).is_empty());
        }
    }

    #[test]
    fn classify_known_files() {
        let comp = |s: &str| match classify(s) {
            Some(FirmwareFile::Component(c)) => c,
            other => panic!("{s}: {other:?}"),
        };
        let c = comp("jar41sip.9-4-2ES26.sbn");
        assert_eq!(
            (c.kind(), c.image_set(), c.protocol(), c.tag()),
            (
                ComponentKind::Jar,
                ImageSet::Java41,
                Some(Protocol::Sip),
                "9-4-2ES26"
            )
        );
        assert_eq!(c.file_name(), "jar41sip.9-4-2ES26.sbn");
        let c = comp("cvm45sccp.9-4-2SR4-3.sbn");
        assert_eq!(
            (c.kind(), c.image_set(), c.protocol()),
            (ComponentKind::Cvm, ImageSet::Java45, Some(Protocol::Sccp))
        );
        let c = comp("APPS11.8-5-4TH1-6.SBN");
        assert_eq!(
            (c.kind(), c.image_set(), c.protocol()),
            (ComponentKind::Apps, ImageSet::Java11, None)
        );
        assert_eq!(comp("dsp70.9-3-1ES8.sbn").image_set(), ImageSet::Java70);
        assert_eq!(comp("cnu75.9-4-2ES26.sbn").image_set(), ImageSet::Java75);

        assert!(
            matches!(classify("SIP41.9-4-2SR3-1S.loads"), Some(FirmwareFile::Loads(l)) if l.as_str() == "SIP41.9-4-2SR3-1S")
        );
        assert!(matches!(
            classify("P0S3-8-12-00.loads"),
            Some(FirmwareFile::Loads(_))
        ));
        assert!(
            matches!(classify("term65.default.loads"), Some(FirmwareFile::TermDefault(t)) if t.code() == 65)
        );
        assert!(matches!(
            classify("P003-8-12-00.sbn"),
            Some(FirmwareFile::Image {
                ext: ImageExt::Sbn,
                ..
            })
        ));
        assert!(matches!(
            classify("P003-8-12-00.bin"),
            Some(FirmwareFile::Image {
                ext: ImageExt::Bin,
                ..
            })
        ));
        assert!(matches!(
            classify("P0S3-8-12-00.sb2"),
            Some(FirmwareFile::Image {
                ext: ImageExt::Sb2,
                ..
            })
        ));
        assert!(matches!(
            classify("P0030801SR02.sbn"),
            Some(FirmwareFile::Image { .. })
        ));
        assert!(matches!(
            classify("P00303010102.bin"),
            Some(FirmwareFile::Image { .. })
        ));
        assert!(matches!(
            classify("CP7912080004SCCP080108A.sbin"),
            Some(FirmwareFile::Image {
                ext: ImageExt::Sbin,
                ..
            })
        ));
        assert!(matches!(
            classify("CP7905080003SCCP070409A.zup"),
            Some(FirmwareFile::Image {
                ext: ImageExt::Zup,
                ..
            })
        ));
    }

    #[test]
    fn loaders() {
        for (name, loader) in [
            ("P003-8-12-00.sbn", true),
            ("P0030801SR02.sbn", true),
            ("jar41sip.9-4-2ES26.sbn", true),
            ("P0S3-8-12-00.sb2", false),
            ("P00303010102.bin", false),
            ("cvm45sccp.9-4-2SR4-3.sbn", false),
            ("CP7912080004SCCP080108A.sbin", false),
            ("SIP41.9-4-2SR3-1S.loads", false),
        ] {
            let file = classify(name).expect(name);
            assert_eq!(file.is_loader(), loader, "{name}");
        }
    }

    #[test]
    fn classify_rejects_the_rest() {
        for name in [
            "SEP001122334455.cnf.xml",
            "XMLDefault.cnf.xml",
            "OS79XX.TXT",
            "RINGLIST.DAT",
            "jar41sip.9-4-2ES26.bin",
            "jar40sip.9-4-2ES26.sbn",
            "jar41.9-4-2ES26.sbn",
            "apps41sip.9-4-2ES26.sbn",
            "jar41mgcp.9-4-2ES26.sbn",
            "jar41sip..sbn",
            "jar41sip.9/4.sbn",
            "P003-8-12-00.sb2",
            "SIP41.9-4-2SR3-1S.sbn",
            "CP7912080004SCCP080108A.zup",
            "foo.loads",
            "noext",
            "",
            ".loads",
            "SIP41.9-4-2SR3-1S.lo\u{e4}ds",
        ] {
            assert_eq!(classify(name), None, "{name}");
        }
    }
}
