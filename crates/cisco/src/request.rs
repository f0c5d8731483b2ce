//! What a requested file name is: the one parse of the names phones ask for.
//!
//! Phones ask over TFTP and HTTP by bare name, in whatever letter case their
//! load uses (phones and docs disagree on it, reference §1.4). Every part of
//! phoneboot that reads such a name maps from [`RequestedFile::parse`]: the
//! fleet (where a phone is in its boot), the renderers ([`GeneratedFile`]),
//! the event log ([`RequestedFile::mac`]) and the firmware library (its
//! firmware part, [`classify`]).
//!
//! ```
//! use cisco::{GeneratedFile, Model, RequestedFile};
//!
//! let mac = "00:1e:4a:12:34:56".parse()?;
//! assert_eq!(RequestedFile::parse("sep001e4a123456.CNF.XML"), RequestedFile::SepCnfXml(mac));
//! assert_eq!(RequestedFile::parse("SIP001E4A123456.cnf").implied_model(), Some(Model::Cp7960));
//! assert_eq!(RequestedFile::parse("OS79XX.TXT").generated(), Some(GeneratedFile::Os79xxTxt));
//! // Folders are ignored when asking whose file it is.
//! assert_eq!(RequestedFile::of_path("/certs/CTLSEP001E4A123456.tlv").mac(), Some(mac));
//! assert!(matches!(RequestedFile::parse("SIP41.9-4-2SR3-1S.loads"), RequestedFile::Firmware(_)));
//! # Ok::<(), cisco::MacError>(())
//! ```

use crate::desired::Mac;
use crate::files::{classify, FirmwareFile};
use crate::model::Model;
use crate::render::GeneratedFile;

/// A requested file name, as phoneboot understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestedFile {
    /// `XMLDefault.cnf.xml`: the config of phones without a per-MAC file.
    XmlDefault,
    /// `SEP<MAC>.cnf.xml`.
    SepCnfXml(Mac),
    /// `SIPDefault.cnf` (79x0 SIP).
    SipDefaultCnf,
    /// `SIP<MAC>.cnf` (79x0 SIP).
    SipMacCnf(Mac),
    /// `gk<MAC>.cfg` (7912) or `ld<MAC>.cfg` (7905); the `.cfg` may be missing.
    MacCfg {
        /// The phone.
        mac: Mac,
        /// The model the prefix names.
        model: Model,
    },
    /// Another config read before the load decision: `gkdefault.cfg`,
    /// `lddefault.cfg`, or any other `*.cnf.xml` or `*.cnf` name.
    OtherConfig,
    /// A signed or encrypted config (`SEP<MAC>.cnf.xml.sgn`, `….enc.sgn`,
    /// any `.sgn` of a `.cnf` name): the phone holds a trust list. The MAC
    /// is known for the `SEP<MAC>` forms.
    SignedConfig(Option<Mac>),
    /// A trust list (`CTLSEP<MAC>.tlv`, `ITLSEP<MAC>.tlv`, any `.tlv`): the
    /// start of a boot. The MAC is known for the `CTLSEP`/`ITLSEP` forms.
    TrustList(Option<Mac>),
    /// `OS79XX.TXT`: the first file an old 79x0 load asks for.
    Os79xxTxt,
    /// `RINGLIST.DAT` (79x0 SIP): asked for after the load decision.
    RingListDat,
    /// `dialplan.xml` (SIP dial template): asked for after the load decision.
    DialplanXml,
    /// `syncinfo.xml`: a 79x0 SIP load asks for it after a NOTIFY
    /// `check-sync`, to decide whether to reboot.
    SyncinfoXml,
    /// A firmware file: a load's `.loads` or images, a Java component, or
    /// `termNN.default.loads`.
    Firmware(FirmwareFile),
    /// Anything else: locales, backgrounds, ring tones, names in no known form.
    Other,
}

impl RequestedFile {
    /// Parse a bare file name (no folders), ignoring letter case. Never
    /// fails: a name in no known form is [`RequestedFile::Other`].
    pub fn parse(name: &str) -> RequestedFile {
        let lower = name.to_ascii_lowercase();
        let mac_then = |prefix: &str, rests: &[&str]| -> Option<Mac> {
            let rest = lower.strip_prefix(prefix)?;
            let mac = mac_at_start(rest)?;
            rests.contains(&rest.get(12..)?).then_some(mac)
        };
        // Signed configs first: `SEP<MAC>.cnf.xml.sgn` is not the generated file.
        if lower.ends_with(".sgn") && lower.contains(".cnf") {
            let mac = mac_then("sep", &[".cnf.xml.sgn", ".cnf.xml.enc.sgn"]);
            return RequestedFile::SignedConfig(mac);
        }
        if lower.ends_with(".tlv") {
            let mac = mac_then("ctlsep", &[".tlv"]).or_else(|| mac_then("itlsep", &[".tlv"]));
            return RequestedFile::TrustList(mac);
        }
        match lower.as_str() {
            "xmldefault.cnf.xml" => return RequestedFile::XmlDefault,
            "sipdefault.cnf" => return RequestedFile::SipDefaultCnf,
            "os79xx.txt" => return RequestedFile::Os79xxTxt,
            "ringlist.dat" => return RequestedFile::RingListDat,
            "dialplan.xml" => return RequestedFile::DialplanXml,
            "syncinfo.xml" => return RequestedFile::SyncinfoXml,
            _ => {}
        }
        if let Some(mac) = mac_then("sep", &[".cnf.xml"]) {
            return RequestedFile::SepCnfXml(mac);
        }
        if let Some(mac) = mac_then("sip", &[".cnf"]) {
            return RequestedFile::SipMacCnf(mac);
        }
        for (prefix, model) in [("gk", Model::Cp7912), ("ld", Model::Cp7905)] {
            if let Some(mac) = mac_then(prefix, &["", ".cfg"]) {
                return RequestedFile::MacCfg { mac, model };
            }
        }
        let other_config = lower.ends_with(".cnf.xml")
            || lower.ends_with(".cnf")
            || lower == "gkdefault.cfg"
            || lower == "lddefault.cfg"
            || ["gk", "ld"]
                .iter()
                .any(|p| lower.strip_prefix(p).and_then(mac_at_start).is_some());
        if other_config {
            return RequestedFile::OtherConfig;
        }
        classify(name).map_or(RequestedFile::Other, RequestedFile::Firmware)
    }

    /// Parse the last component of a request path: folders (`/` or `\`)
    /// and trailing NULs are dropped, as phones and TFTP clients send them.
    pub fn of_path(path: &str) -> RequestedFile {
        RequestedFile::parse(base_name(path))
    }

    /// The phone the name is for, when it carries a MAC.
    pub fn mac(&self) -> Option<Mac> {
        match self {
            RequestedFile::SepCnfXml(mac)
            | RequestedFile::SipMacCnf(mac)
            | RequestedFile::MacCfg { mac, .. } => Some(*mac),
            RequestedFile::SignedConfig(mac) | RequestedFile::TrustList(mac) => *mac,
            _ => None,
        }
    }

    /// The model the name alone suggests; a guess, since other models share
    /// the files: `SIP<MAC>.cnf` a 7960, `gk<MAC>.cfg` a 7912, `ld<MAC>.cfg`
    /// a 7905, a firmware file the first model of its image set, a term file
    /// the first model that asks for it.
    pub fn implied_model(&self) -> Option<Model> {
        let set = match self {
            RequestedFile::SipMacCnf(_) => return Some(Model::Cp7960),
            RequestedFile::MacCfg { model, .. } => return Some(*model),
            RequestedFile::Firmware(FirmwareFile::TermDefault(t)) => {
                return t.models().first().copied()
            }
            RequestedFile::Firmware(FirmwareFile::Loads(l)) => l.image_set(),
            RequestedFile::Firmware(FirmwareFile::Image { load, .. }) => load.image_set(),
            RequestedFile::Firmware(FirmwareFile::Component(c)) => c.image_set(),
            _ => return None,
        };
        set.models().next()
    }

    /// The config phoneboot generates for this name, if it generates one.
    pub fn generated(&self) -> Option<GeneratedFile> {
        Some(match *self {
            RequestedFile::XmlDefault => GeneratedFile::XmlDefault,
            RequestedFile::SepCnfXml(mac) => GeneratedFile::SepCnfXml(mac),
            RequestedFile::SipDefaultCnf => GeneratedFile::SipDefaultCnf,
            RequestedFile::SipMacCnf(mac) => GeneratedFile::SipMacCnf(mac),
            RequestedFile::Os79xxTxt => GeneratedFile::Os79xxTxt,
            RequestedFile::RingListDat => GeneratedFile::RingListDat,
            RequestedFile::DialplanXml => GeneratedFile::DialplanXml,
            RequestedFile::SyncinfoXml => GeneratedFile::SyncinfoXml,
            _ => return None,
        })
    }
}

/// The last component of a request path, without trailing NULs.
pub fn base_name(path: &str) -> &str {
    let path = path.trim_end_matches('\0');
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Twelve hex digits at the start of `s`.
fn mac_at_start(s: &str) -> Option<Mac> {
    let hex = s.get(..12)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    hex.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{ComponentKind, ImageExt};
    use crate::model::ImageSet;
    use RequestedFile as R;

    /// What a name should parse to, in a form a table can state.
    #[derive(Debug, PartialEq)]
    enum Want {
        Is(RequestedFile),
        Loads(&'static str),
        Term(u8),
        Image(ImageExt),
        Component(ComponentKind, ImageSet),
    }

    fn got(name: &str) -> Want {
        match R::parse(name) {
            R::Firmware(FirmwareFile::Loads(l)) => Want::Loads(leak(l.as_str())),
            R::Firmware(FirmwareFile::TermDefault(t)) => Want::Term(t.code()),
            R::Firmware(FirmwareFile::Image { ext, .. }) => Want::Image(ext),
            R::Firmware(FirmwareFile::Component(c)) => Want::Component(c.kind(), c.image_set()),
            other => Want::Is(other),
        }
    }

    fn leak(s: &str) -> &'static str {
        Box::leak(s.to_owned().into_boxed_str())
    }

    #[test]
    fn every_name_phones_ask_for() {
        let mac: Mac = "00:1e:4a:12:34:56".parse().unwrap();
        let other: Mac = "00:11:22:33:44:55".parse().unwrap();
        let cases: Vec<(&str, Want)> = vec![
            // Generated configs, any case, as phones and docs spell them.
            ("XMLDefault.cnf.xml", Want::Is(R::XmlDefault)),
            ("xmldefault.cnf.xml", Want::Is(R::XmlDefault)),
            ("XmlDefault.CNF.xml", Want::Is(R::XmlDefault)),
            ("SEP001E4A123456.cnf.xml", Want::Is(R::SepCnfXml(mac))),
            ("SEP001e4a123456.cnf.xml", Want::Is(R::SepCnfXml(mac))),
            ("sep001E4a123456.CNF.XML", Want::Is(R::SepCnfXml(mac))),
            ("SIPDefault.cnf", Want::Is(R::SipDefaultCnf)),
            ("sipdefault.CNF", Want::Is(R::SipDefaultCnf)),
            ("SIP001E4A123456.cnf", Want::Is(R::SipMacCnf(mac))),
            ("sip001e4a123456.cnf", Want::Is(R::SipMacCnf(mac))),
            ("OS79XX.TXT", Want::Is(R::Os79xxTxt)),
            ("os79xx.txt", Want::Is(R::Os79xxTxt)),
            ("RINGLIST.DAT", Want::Is(R::RingListDat)),
            ("RingList.dat", Want::Is(R::RingListDat)),
            ("dialplan.xml", Want::Is(R::DialplanXml)),
            ("DIALPLAN.XML", Want::Is(R::DialplanXml)),
            // 7912/7905 configs.
            (
                "gk001E4A123456.cfg",
                Want::Is(R::MacCfg {
                    mac,
                    model: Model::Cp7912,
                }),
            ),
            (
                "gk001e4a123456",
                Want::Is(R::MacCfg {
                    mac,
                    model: Model::Cp7912,
                }),
            ),
            (
                "LD001E4A123456.cfg",
                Want::Is(R::MacCfg {
                    mac,
                    model: Model::Cp7905,
                }),
            ),
            ("gkdefault.cfg", Want::Is(R::OtherConfig)),
            ("LDDEFAULT.CFG", Want::Is(R::OtherConfig)),
            ("gk001E4A123456.txt", Want::Is(R::OtherConfig)),
            // Configs in forms phoneboot does not generate.
            ("SEP001E4A123456.cnf", Want::Is(R::OtherConfig)),
            ("SIP001E4A123456.cnf.xml", Want::Is(R::OtherConfig)),
            ("SEPDefault.cnf.xml", Want::Is(R::OtherConfig)),
            ("SEP.cnf.xml", Want::Is(R::OtherConfig)),
            ("SEP001E4A12345.cnf.xml", Want::Is(R::OtherConfig)),
            ("SEP001E4A1234567.cnf.xml", Want::Is(R::OtherConfig)),
            ("SEP001E4A12345G.cnf.xml", Want::Is(R::OtherConfig)),
            ("SEP00:1E:4A:12:34:56.cnf.xml", Want::Is(R::OtherConfig)),
            ("SEP001E.4A12.3456.cnf.xml", Want::Is(R::OtherConfig)),
            ("SEPÉ01E4A123456.cnf.xml", Want::Is(R::OtherConfig)),
            (" SIPDefault.cnf", Want::Is(R::OtherConfig)),
            // Signed configs and trust lists.
            (
                "SEP001E4A123456.cnf.xml.sgn",
                Want::Is(R::SignedConfig(Some(mac))),
            ),
            (
                "SEP001E4A123456.cnf.xml.enc.sgn",
                Want::Is(R::SignedConfig(Some(mac))),
            ),
            (
                "SEP001122334455.cnf.xml.sgn",
                Want::Is(R::SignedConfig(Some(other))),
            ),
            ("XMLDefault.cnf.xml.sgn", Want::Is(R::SignedConfig(None))),
            ("CTLSEP001E4A123456.tlv", Want::Is(R::TrustList(Some(mac)))),
            ("itlsep001e4a123456.TLV", Want::Is(R::TrustList(Some(mac)))),
            ("CTLFile.tlv", Want::Is(R::TrustList(None))),
            ("ITLFile.tlv", Want::Is(R::TrustList(None))),
            // Firmware: what `files::classify` knows.
            ("SIP41.9-4-2SR3-1S.loads", Want::Loads("SIP41.9-4-2SR3-1S")),
            ("P0S3-8-12-00.loads", Want::Loads("P0S3-8-12-00")),
            ("term65.default.loads", Want::Term(65)),
            ("TERM41.DEFAULT.LOADS", Want::Term(41)),
            ("term06.default.loads", Want::Term(6)),
            ("P003-8-12-00.sbn", Want::Image(ImageExt::Sbn)),
            ("P003-8-12-00.bin", Want::Image(ImageExt::Bin)),
            ("P0S3-8-12-00.sb2", Want::Image(ImageExt::Sb2)),
            ("P0030801SR02.sbn", Want::Image(ImageExt::Sbn)),
            ("P00303010102.bin", Want::Image(ImageExt::Bin)),
            ("CP7912080004SCCP080108A.sbin", Want::Image(ImageExt::Sbin)),
            ("CP7905080003SCCP070409A.zup", Want::Image(ImageExt::Zup)),
            (
                "jar41sip.9-4-2ES26.sbn",
                Want::Component(ComponentKind::Jar, ImageSet::Java41),
            ),
            (
                "cvm45sccp.9-4-2SR4-3.sbn",
                Want::Component(ComponentKind::Cvm, ImageSet::Java45),
            ),
            (
                "APPS11.8-5-4TH1-6.SBN",
                Want::Component(ComponentKind::Apps, ImageSet::Java11),
            ),
            (
                "dsp70.9-3-1ES8.sbn",
                Want::Component(ComponentKind::Dsp, ImageSet::Java70),
            ),
            (
                "cnu75.9-4-2ES26.sbn",
                Want::Component(ComponentKind::Cnu, ImageSet::Java75),
            ),
            // Everything else.
            ("Desktops/320x212x16/List.xml", Want::Is(R::Other)),
            ("List.xml", Want::Is(R::Other)),
            ("Ringlist.xml", Want::Is(R::Other)),
            ("OS79XX.TXT.bak", Want::Is(R::Other)),
            ("RINGLIST.DAT\0", Want::Is(R::Other)),
            ("SIP001E4A123456.cnf ", Want::Is(R::Other)),
            ("term40.default.loads", Want::Is(R::Other)),
            ("term61.loads", Want::Is(R::Other)),
            ("jar41sip.9-4-2ES26.bin", Want::Is(R::Other)),
            ("jar40sip.9-4-2ES26.sbn", Want::Is(R::Other)),
            ("jar41mgcp.9-4-2ES26.sbn", Want::Is(R::Other)),
            ("P003-8-12-00.sb2", Want::Is(R::Other)),
            ("SIP41.9-4-2SR3-1S.sbn", Want::Is(R::Other)),
            ("CP7912080004SCCP080108A.zup", Want::Is(R::Other)),
            ("foo.loads", Want::Is(R::Other)),
            (".loads", Want::Is(R::Other)),
            ("SIP41.9-4-2SR3-1S.lo\u{e4}ds", Want::Is(R::Other)),
            ("noext", Want::Is(R::Other)),
            ("", Want::Is(R::Other)),
        ];
        for (name, want) in &cases {
            assert_eq!(got(name), *want, "{name:?}");
        }
    }

    #[test]
    fn macs_models_and_generated_files() {
        let mac: Mac = "00:1e:4a:12:34:56".parse().unwrap();
        let has_mac = [
            "SEP001E4A123456.cnf.xml",
            "SEP001E4A123456.cnf.xml.sgn",
            "SEP001E4A123456.cnf.xml.enc.sgn",
            "CTLSEP001E4A123456.tlv",
            "ITLSEP001E4A123456.tlv",
            "SIP001E4A123456.cnf",
            "gk001e4a123456.cfg",
            "ld001e4a123456",
        ];
        for name in has_mac {
            assert_eq!(R::parse(name).mac(), Some(mac), "{name}");
        }
        for name in [
            "XMLDefault.cnf.xml",
            "gkdefault.cfg",
            "CTLFile.tlv",
            "SEP001E4A123456.cnf",
        ] {
            assert_eq!(R::parse(name).mac(), None, "{name}");
        }
        let models = [
            ("SIP001E4A123456.cnf", Some(Model::Cp7960)),
            ("gk001e4a123456.cfg", Some(Model::Cp7912)),
            ("ld001e4a123456.cfg", Some(Model::Cp7905)),
            ("term61.default.loads", Some(Model::Cp7961)),
            ("SIP41.9-4-2SR3-1S.loads", Some(Model::Cp7941)),
            ("P0S3-8-12-00.sb2", Some(Model::Cp7940)),
            ("cvm45sccp.9-4-2SR4-3.sbn", Some(Model::Cp7945)),
            ("SEP001E4A123456.cnf.xml", None),
            ("gkdefault.cfg", None),
            ("RINGLIST.DAT", None),
        ];
        for (name, model) in models {
            assert_eq!(R::parse(name).implied_model(), model, "{name}");
        }
        assert_eq!(
            R::parse("sep001e4a123456.cnf.xml").generated(),
            Some(GeneratedFile::SepCnfXml(mac))
        );
        for name in [
            "SEP001E4A123456.cnf.xml.sgn",
            "gk001e4a123456.cfg",
            "term61.default.loads",
        ] {
            assert_eq!(R::parse(name).generated(), None, "{name}");
        }
    }

    #[test]
    fn paths_drop_folders_and_nuls() {
        let mac: Mac = "00:1e:4a:12:34:56".parse().unwrap();
        assert_eq!(
            base_name("a/b\\SEP001E4A123456.cnf.xml\0\0"),
            "SEP001E4A123456.cnf.xml"
        );
        assert_eq!(base_name("/"), "");
        assert_eq!(
            R::of_path("configs/SEP001E4A123456.cnf.xml"),
            R::SepCnfXml(mac)
        );
        assert_eq!(R::of_path("RINGLIST.DAT\0"), R::RingListDat);
        assert_eq!(R::of_path(""), R::Other);
    }
}
