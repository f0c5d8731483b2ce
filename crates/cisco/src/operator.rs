//! What an operator's own config file tells a phone.
//!
//! People who come from tftpd32 keep a folder of hand-edited configs
//! (`XMLDefault.cnf.xml` with one `loadInformationNNN` per model, a
//! `SEP<MAC>.cnf.xml` here and there, `SIPDefault.cnf`, `OS79XX.TXT`). The
//! server serves them byte for byte; this module reads them to learn which
//! load each one names for a given phone, so the fleet can watch the phone
//! walk there, and checks that XML files will parse on the phone.
//!
//! Nothing here fails on bad input: a file that names no load, or names it
//! in a way phones would not read, names nothing.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::load_name::LoadName;
use crate::model::Model;
use crate::request::RequestedFile;

/// Where an XML file stops parsing, as an editor counts: both from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlProblem {
    /// Line of the error.
    pub line: u64,
    /// Column (in characters) of the error.
    pub column: u64,
    /// The parser's words.
    pub message: String,
}

impl std::fmt::Display for XmlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Whether `file` is a config whose contents phones read as XML.
pub fn is_xml(file: &RequestedFile) -> bool {
    matches!(
        file,
        RequestedFile::XmlDefault | RequestedFile::SepCnfXml(_) | RequestedFile::DialplanXml
    )
}

/// Whether `file` is a config that can name the load a phone should run.
pub fn names_a_load(file: &RequestedFile) -> bool {
    matches!(
        file,
        RequestedFile::XmlDefault
            | RequestedFile::SepCnfXml(_)
            | RequestedFile::SipDefaultCnf
            | RequestedFile::SipMacCnf(_)
            | RequestedFile::Os79xxTxt
    )
}

/// Checks that `content` is well-formed XML with one root element, which is
/// what a phone's parser needs before it reads anything.
pub fn check_xml(content: &[u8]) -> Result<(), XmlProblem> {
    let mut reader = Reader::from_reader(content);
    let mut depth: u32 = 0;
    let mut roots: u32 = 0;
    let mut buf = Vec::new();
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event_into(&mut buf);
        if let Ok(Event::Start(e) | Event::Empty(e)) = &event {
            // Phones read attributes strictly (`priority="0"`); quotes
            // pasted from a web page are not quotes.
            for attr in e.attributes() {
                if let Err(err) = attr {
                    return Err(problem(content, at, &format!("bad attribute: {err}")));
                }
            }
        }
        match event {
            Ok(Event::Start(_)) => {
                if depth == 0 {
                    roots = roots.saturating_add(1);
                }
                depth = depth.saturating_add(1);
            }
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Empty(_)) if depth == 0 => roots = roots.saturating_add(1),
            Ok(Event::Text(t)) if depth == 0 => {
                if !t.trim().is_empty() {
                    return Err(problem(content, at, "text outside the root element"));
                }
            }
            Ok(Event::Eof) => {
                if depth > 0 {
                    return Err(problem(
                        content,
                        reader.buffer_position(),
                        "the file ends inside an element (a closing tag is missing)",
                    ));
                }
                return match roots {
                    0 => Err(problem(content, 0, "no root element")),
                    1 => Ok(()),
                    _ => Err(problem(
                        content,
                        0,
                        "more than one root element (phones read only the first)",
                    )),
                };
            }
            Ok(_) => {}
            Err(e) => {
                let pos = reader.error_position();
                return Err(problem(content, pos, &e.to_string()));
            }
        }
        buf.clear();
    }
}

fn problem(content: &[u8], pos: u64, message: &str) -> XmlProblem {
    let pos = usize::try_from(pos)
        .unwrap_or(usize::MAX)
        .min(content.len());
    let before = content.get(..pos).unwrap_or(content);
    let line = before.iter().filter(|b| **b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i.saturating_add(1));
    let column = String::from_utf8_lossy(before.get(line_start..).unwrap_or_default())
        .chars()
        .count();
    XmlProblem {
        line: (line as u64).saturating_add(1),
        column: (column as u64).saturating_add(1),
        message: message.to_owned(),
    }
}

/// The load `file` (with `content`) names for a phone of `model`, as the
/// phone reads it:
/// - `XMLDefault.cnf.xml`: `loadInformationNNN` with the model's id, else a
///   bare `loadInformation` (as in the tftpd32 guide) whose load fits it;
/// - `SEP<MAC>.cnf.xml`: its `loadInformation`;
/// - `SIPDefault.cnf`, `SIP<MAC>.cnf`: `image_version`;
/// - `OS79XX.TXT`: its first line.
///
/// `None` when the file names none, the name is not a load name, or the
/// load does not fit `model` (when known).
pub fn told_load(file: &RequestedFile, content: &[u8], model: Option<Model>) -> Option<LoadName> {
    let load = match file {
        RequestedFile::XmlDefault => xml_default_load(content, model?),
        RequestedFile::SepCnfXml(_) => xml_loads(content)
            .into_iter()
            .find(|(id, _)| id.is_none())
            .map(|(_, l)| l),
        RequestedFile::SipDefaultCnf | RequestedFile::SipMacCnf(_) => image_version(content),
        RequestedFile::Os79xxTxt => {
            let text = String::from_utf8_lossy(content);
            text.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .and_then(|l| LoadName::parse(l).ok())
        }
        _ => None,
    }?;
    match model {
        Some(m) if !load.fits(m) => None,
        _ => Some(load),
    }
}

fn xml_default_load(content: &[u8], model: Model) -> Option<LoadName> {
    let loads = xml_loads(content);
    let id = model.load_information_id();
    loads
        .iter()
        .find(|(n, _)| *n == Some(id))
        .or_else(|| loads.iter().find(|(n, l)| n.is_none() && l.fits(model)))
        .map(|(_, l)| l.clone())
}

/// Every `loadInformation[NNN]` element with a load name in it: the id
/// (`None` for the bare element) and the load. Stops at the first XML
/// error, keeping what came before, as a lenient phone parser might.
fn xml_loads(content: &[u8]) -> Vec<(Option<u32>, LoadName)> {
    let mut reader = Reader::from_reader(content);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut open: Option<Option<u32>> = None;
    let mut text = String::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                open = load_information_id(e.local_name().as_ref());
                text.clear();
            }
            Ok(Event::Text(t)) if open.is_some() => {
                text.push_str(&t);
            }
            Ok(Event::End(_)) => {
                if let Some(id) = open.take() {
                    if let Ok(load) = LoadName::parse(text.trim()) {
                        out.push((id, load));
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => return out,
            Ok(_) => {}
        }
        buf.clear();
    }
}

/// `Some(None)` for `loadInformation`, `Some(Some(n))` for
/// `loadInformationN`, `None` for any other element.
fn load_information_id(name: &str) -> Option<Option<u32>> {
    let digits = name.strip_prefix("loadInformation")?;
    if digits.is_empty() {
        return Some(None);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Some)
}

/// `image_version: P0S3-8-12-00` (quoted or not, `#` comments) in a 79x0
/// SIP text config; the last one wins, as later keys override earlier ones.
fn image_version(content: &[u8]) -> Option<LoadName> {
    let text = String::from_utf8_lossy(content);
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or_default();
            let (key, value) = line.split_once(':')?;
            if !key.trim().eq_ignore_ascii_case("image_version") {
                return None;
            }
            let value = value.trim().trim_matches('"').trim();
            LoadName::parse(value).ok()
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(s: &str) -> LoadName {
        LoadName::parse(s).unwrap()
    }

    /// The tftpd32 guide's file, with the ids a real XMLDefault carries.
    const SEED: &str = r#"<Default>
<callManagerGroup>
<members>
<member priority="0">
<callManager>
<ports>
<ethernetPhonePort>2000</ethernetPhonePort>
</ports>
<processNodeName></processNodeName>
</callManager>
</member>
</members>
</callManagerGroup>
<loadInformation8 model="IP Phone 7940">P00305000500</loadInformation8>
<loadInformation7 model="IP Phone 7960"> P00308000900 </loadInformation7>
<loadInformation>SCCP41.8-3-1S</loadInformation>
<authenticationURL></authenticationURL>
</Default>
"#;

    #[test]
    fn xml_default_names_a_load_per_model_and_a_bare_one_for_the_rest() {
        let f = RequestedFile::XmlDefault;
        let c = SEED.as_bytes();
        assert_eq!(
            told_load(&f, c, Some(Model::Cp7940)),
            Some(load("P00305000500"))
        );
        assert_eq!(
            told_load(&f, c, Some(Model::Cp7960)),
            Some(load("P00308000900"))
        );
        // The bare element, as the guide writes it, for the phones it fits.
        assert_eq!(
            told_load(&f, c, Some(Model::Cp7941)),
            Some(load("SCCP41.8-3-1S"))
        );
        assert_eq!(told_load(&f, c, Some(Model::Cp7965)), None);
        assert_eq!(told_load(&f, c, None), None, "no model, no answer");
        assert_eq!(check_xml(c), Ok(()));
    }

    #[test]
    fn per_phone_and_text_configs() {
        let mac = crate::Mac([0, 0x1e, 0x4a, 0, 0, 1]);
        let sep = b"<device><deviceProtocol>SIP</deviceProtocol>\
                    <loadInformation>SIP41.9-4-2SR3-1S</loadInformation></device>";
        assert_eq!(
            told_load(&RequestedFile::SepCnfXml(mac), sep, Some(Model::Cp7941)),
            Some(load("SIP41.9-4-2SR3-1S"))
        );
        assert_eq!(
            told_load(&RequestedFile::SepCnfXml(mac), sep, Some(Model::Cp7960)),
            None,
            "a load for other phones names nothing for this one"
        );
        let cnf = b"# image_version: P0S3-8-11-00\nproxy1_address: \"10.0.0.1\"\n\
                    image_version : \"P0S3-8-12-00\" # the new one\n";
        for f in [RequestedFile::SipDefaultCnf, RequestedFile::SipMacCnf(mac)] {
            assert_eq!(
                told_load(&f, cnf, Some(Model::Cp7960)),
                Some(load("P0S3-8-12-00"))
            );
        }
        assert_eq!(
            told_load(&RequestedFile::Os79xxTxt, b"\r\nP0S3-8-12-00\r\n", None),
            Some(load("P0S3-8-12-00"))
        );
        assert_eq!(
            told_load(&RequestedFile::Os79xxTxt, b"not a load", None),
            None
        );
        assert_eq!(
            told_load(&RequestedFile::RingListDat, cnf, None),
            None,
            "only configs name loads"
        );
    }

    #[test]
    fn broken_xml_is_placed_by_line_and_column() {
        let bad = "<Default>\n  <loadInformation8>P00305000500</loadInformation7>\n</Default>\n";
        let p = check_xml(bad.as_bytes()).unwrap_err();
        assert_eq!(p.line, 2, "{p}");
        assert!(p.column > 1, "{p}");
        let open = "<Default>\n<loadInformation8>P00305000500";
        let p = check_xml(open.as_bytes()).unwrap_err();
        assert!(p.message.contains("closing tag"), "{p}");
        assert_eq!(p.line, 2, "{p}");
        assert!(check_xml(b"").is_err());
        assert!(check_xml(b"<a/><b/>").is_err());
        assert!(check_xml(b"junk <a/>").is_err());
        // The guide's curly quotes (copied from a web page) break the attribute.
        let curly = "<Default>\n<member priority=\u{201d}0\u{2033}>\n</member>\n</Default>";
        let p = check_xml(curly.as_bytes()).unwrap_err();
        assert_eq!(p.line, 2, "{p}");
        // What comes before the error still names its load.
        assert_eq!(
            told_load(
                &RequestedFile::XmlDefault,
                bad.as_bytes(),
                Some(Model::Cp7940)
            ),
            None,
            "the element never closed properly, so it names nothing"
        );
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let inputs: [&[u8]; 6] = [
            b"\xff\xfe<\x00",
            b"<loadInformation99999999999999999999>P00305000500</loadInformation99999999999999999999>",
            b"<<<<>>>>",
            b"<a b='>",
            b"image_version\n:\n\"",
            b"<!DOCTYPE x [<!ENTITY a \"&a;\">]><x>&a;</x>",
        ];
        for i in inputs {
            let _ = check_xml(i);
            for f in [
                RequestedFile::XmlDefault,
                RequestedFile::SipDefaultCnf,
                RequestedFile::Os79xxTxt,
            ] {
                let _ = told_load(&f, i, Some(Model::Cp7960));
            }
        }
    }
}
