//! Reading served configs the way a phone does: tolerant of layout, strict
//! about what it acts on. Deliberately independent of phoneboot's renderers,
//! so the simulator judges them rather than agreeing with them by construction.

use std::net::{Ipv4Addr, SocketAddrV4};

use cisco::Model;

/// What a phone acts on in an XML config (`SEP<MAC>.cnf.xml` or
/// `XMLDefault.cnf.xml`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlConfig {
    /// The load to run; see [`xml_load`].
    pub load: Option<String>,
    /// Where an SCCP load registers; see [`call_manager`].
    pub call_manager: Option<SocketAddrV4>,
    /// A Java SIP load's line-1 name, the user a NOTIFY must address.
    pub sip_line1: Option<String>,
}

/// Reads everything [`XmlConfig`] holds; `Err` when the text is not XML.
pub fn xml_config(xml: &str, model: Model) -> Result<XmlConfig, String> {
    let doc = parse(xml)?;
    Ok(XmlConfig {
        load: load_of(&doc, model),
        call_manager: call_manager_of(&doc),
        sip_line1: sip_line1_of(&doc),
    })
}

fn parse(xml: &str) -> Result<roxmltree::Document<'_>, String> {
    roxmltree::Document::parse(xml).map_err(|e| format!("not well-formed XML: {e}"))
}

/// The load an XML config tells `model` to run: `<loadInformationNNN>` for
/// the model's id (as in `XMLDefault.cnf.xml`), else a plain
/// `<loadInformation>` (as in `SEP<MAC>.cnf.xml`), anywhere in the document.
/// `Ok(None)` when the config names no load; `Err` when it is not XML.
pub fn xml_load(xml: &str, model: Model) -> Result<Option<String>, String> {
    Ok(load_of(&parse(xml)?, model))
}

fn load_of(doc: &roxmltree::Document<'_>, model: Model) -> Option<String> {
    let specific = format!("loadInformation{}", model.load_information_id());
    let text_of = |name: &str| {
        doc.descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == name)
            .filter_map(|n| n.text().map(str::trim).filter(|t| !t.is_empty()))
            .map(str::to_owned)
            .next()
    };
    text_of(&specific).or_else(|| text_of("loadInformation"))
}

/// The call manager an SCCP load registers with: of the `<callManager>`
/// elements anywhere in the document (renders put `callManagerGroup` under
/// `devicePool` or straight under `<Default>`), the one whose `<member
/// priority>` is lowest among those with an `ethernetPhonePort` and an IPv4
/// `processNodeName`; document order breaks ties, and a member without a
/// readable priority comes last. Phones take no host names here: they
/// would need DNS, which the simulator does not have.
pub fn call_manager(xml: &str) -> Result<Option<SocketAddrV4>, String> {
    Ok(call_manager_of(&parse(xml)?))
}

fn call_manager_of(doc: &roxmltree::Document<'_>) -> Option<SocketAddrV4> {
    let text_below = |n: roxmltree::Node<'_, '_>, name: &str| {
        n.descendants()
            .find(|d| d.is_element() && d.tag_name().name() == name)
            .and_then(|d| d.text())
            .map(str::trim)
            .map(str::to_owned)
    };
    doc.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "callManager")
        .filter_map(|cm| {
            let port: u16 = text_below(cm, "ethernetPhonePort")?.parse().ok()?;
            let ip: Ipv4Addr = text_below(cm, "processNodeName")?.parse().ok()?;
            let priority = cm
                .parent_element()
                .filter(|p| p.tag_name().name() == "member")
                .and_then(|p| p.attribute("priority"))
                .and_then(|p| p.trim().parse::<u32>().ok())
                .unwrap_or(u32::MAX);
            (port != 0).then_some((priority, SocketAddrV4::new(ip, port)))
        })
        // min_by_key keeps the first of equal keys: document order.
        .min_by_key(|(priority, _)| *priority)
        .map(|(_, addr)| addr)
}

/// The `<name>` of line 1 under `sipProfile/sipLines`: the `<line
/// button="1">`, else the first `<line>`.
fn sip_line1_of(doc: &roxmltree::Document<'_>) -> Option<String> {
    let is =
        |n: &roxmltree::Node<'_, '_>, name: &str| n.is_element() && n.tag_name().name() == name;
    let lines: Vec<_> = doc
        .descendants()
        .filter(|n| is(n, "line"))
        .filter(|n| {
            n.parent_element().is_some_and(|p| {
                is(&p, "sipLines") && p.parent_element().is_some_and(|g| is(&g, "sipProfile"))
            })
        })
        .collect();
    let line = lines
        .iter()
        .find(|l| l.attribute("button").map(str::trim) == Some("1"))
        .or(lines.first())?;
    line.children()
        .find(|c| is(c, "name"))
        .and_then(|c| c.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// The `SYNC` a 79x0 SIP phone running `load` takes from `syncinfo.xml`
/// (`<SYNCINFO><IMAGE VERSION="P0S3-8-12-00" SYNC="2"/></SYNCINFO>`): that
/// of the first `IMAGE` whose `VERSION` is the load (case ignored) or `*`.
/// Element and attribute names are matched case-insensitively, as the
/// file is hand-written on real sites. `Ok(None)` when no entry applies.
pub fn syncinfo_sync(xml: &str, load: &str) -> Result<Option<String>, String> {
    let doc = parse(xml)?;
    let attr = |n: &roxmltree::Node<'_, '_>, name: &str| {
        n.attributes()
            .find(|a| a.name().eq_ignore_ascii_case(name))
            .map(|a| a.value().trim().to_owned())
    };
    Ok(doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name().eq_ignore_ascii_case("IMAGE"))
        .find(|n| attr(n, "VERSION").is_some_and(|v| v == "*" || v.eq_ignore_ascii_case(load)))
        .and_then(|n| attr(&n, "SYNC")))
}

/// The value of `key` in a 79x0 SIP text config (`image_version: "P0S3-8-12-00";`).
/// Lines are `name: value` with optional quotes, a trailing `;` and `#` or `;`
/// comments; keys match case-insensitively and the last one wins.
pub fn text_value(text: &str, key: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case(key) {
            continue;
        }
        let value = value.trim();
        let value = if let Some(rest) = value.strip_prefix('"') {
            // Quoted: up to the closing quote, whatever follows.
            rest.split('"').next().unwrap_or_default()
        } else {
            // Unquoted: up to a `;` or `#` comment.
            value.split([';', '#']).next().unwrap_or_default().trim()
        };
        found = Some(value.to_owned());
    }
    found.filter(|v| !v.is_empty())
}

/// The load named by `OS79XX.TXT`: its first word. Phones tolerate the
/// trailing space and CRLF Cisco's own file has.
pub fn os79xx_load(text: &str) -> Option<String> {
    text.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_default_picks_the_models_own_entry() {
        let xml = r#"<?xml version="1.0"?>
<Default>
  <callManagerGroup><members><member priority="0"><callManager><ports><ethernetPhonePort>2000</ethernetPhonePort></ports><processNodeName>10.0.0.1</processNodeName></callManager></member></members></callManagerGroup>
  <loadInformation8 model="IP Phone 7940">P0S3-8-12-00</loadInformation8>
  <loadInformation7 model="IP Phone 7960">  P00305000500 </loadInformation7>
  <loadInformation436 model="IP Phone 7965">SIP45.9-4-2SR3-1S</loadInformation436>
</Default>"#;
        assert_eq!(
            xml_load(xml, Model::Cp7960).unwrap().as_deref(),
            Some("P00305000500")
        );
        assert_eq!(
            xml_load(xml, Model::Cp7940).unwrap().as_deref(),
            Some("P0S3-8-12-00")
        );
        assert_eq!(
            xml_load(xml, Model::Cp7965).unwrap().as_deref(),
            Some("SIP45.9-4-2SR3-1S")
        );
        assert_eq!(xml_load(xml, Model::Cp7941).unwrap(), None);
    }

    #[test]
    fn sep_file_load_and_broken_xml() {
        let xml = "<device><deviceProtocol>SIP</deviceProtocol><loadInformation>SIP41.9-4-2SR3-1S</loadInformation><loadInformation/></device>";
        assert_eq!(
            xml_load(xml, Model::Cp7941).unwrap().as_deref(),
            Some("SIP41.9-4-2SR3-1S")
        );
        assert_eq!(
            xml_load(
                "<device><loadInformation></loadInformation></device>",
                Model::Cp7941
            )
            .unwrap(),
            None
        );
        assert!(xml_load("<device><loadInformation>x</device>", Model::Cp7941).is_err());
    }

    #[test]
    fn the_lowest_priority_member_with_a_phone_port_is_the_call_manager() {
        // devicePool form: priority 0 lacks the SCCP port, 2 is a host name.
        let xml = r#"<device><devicePool><callManagerGroup><members>
  <member priority="2"><callManager><ports><ethernetPhonePort>2000</ethernetPhonePort></ports><processNodeName>cm.example</processNodeName></callManager></member>
  <member priority="0"><callManager><ports><sipPort>5060</sipPort></ports><processNodeName>10.0.0.9</processNodeName></callManager></member>
  <member priority="3"><callManager><ports><ethernetPhonePort>2002</ethernetPhonePort></ports><processNodeName>10.0.0.3</processNodeName></callManager></member>
  <member priority="1"><callManager><ports><ethernetPhonePort> 2001 </ethernetPhonePort></ports><processNodeName>10.0.0.1</processNodeName></callManager></member>
</members></callManagerGroup></devicePool></device>"#;
        assert_eq!(
            call_manager(xml).unwrap(),
            Some("10.0.0.1:2001".parse().unwrap())
        );
        // Older renders: callManagerGroup straight under <Default>.
        let old = r#"<Default><callManagerGroup><members><member priority="0"><callManager><ports><ethernetPhonePort>2000</ethernetPhonePort></ports><processNodeName>127.0.0.1</processNodeName></callManager></member></members></callManagerGroup></Default>"#;
        assert_eq!(
            call_manager(old).unwrap(),
            Some("127.0.0.1:2000".parse().unwrap())
        );
        assert_eq!(call_manager("<device/>").unwrap(), None);
        assert!(call_manager("<device>").is_err());
        let cfg = xml_config(old, Model::Cp7960).unwrap();
        assert_eq!(cfg.call_manager, Some("127.0.0.1:2000".parse().unwrap()));
        assert_eq!((cfg.load, cfg.sip_line1), (None, None));
    }

    #[test]
    fn java_sip_line_one_is_button_one_else_the_first_line() {
        let xml = r#"<device><sipProfile><sipLines>
  <line button="2"><name>1002</name></line>
  <line button="1"><featureLabel>x</featureLabel><name> 1001 </name></line>
</sipLines></sipProfile><loadInformation>SIP45.9-4-2SR3-1S</loadInformation></device>"#;
        let cfg = xml_config(xml, Model::Cp7965).unwrap();
        assert_eq!(cfg.sip_line1.as_deref(), Some("1001"));
        assert_eq!(cfg.load.as_deref(), Some("SIP45.9-4-2SR3-1S"));
        let first = "<device><sipProfile><sipLines><line><name>7</name></line><line><name>8</name></line></sipLines></sipProfile></device>";
        assert_eq!(
            xml_config(first, Model::Cp7965)
                .unwrap()
                .sip_line1
                .as_deref(),
            Some("7")
        );
        // A line elsewhere (not under sipProfile/sipLines) is not a SIP line.
        let stray = "<device><lines><line button=\"1\"><name>9</name></line></lines></device>";
        assert_eq!(xml_config(stray, Model::Cp7965).unwrap().sip_line1, None);
    }

    #[test]
    fn syncinfo_matches_the_load_or_a_star() {
        let xml = r#"<SYNCINFO>
  <IMAGE VERSION="P0S3-8-11-00" SYNC="old"/>
  <image version="p0s3-8-12-00" sync="abc123"/>
  <IMAGE VERSION="*" SYNC="any"/>
</SYNCINFO>"#;
        assert_eq!(
            syncinfo_sync(xml, "P0S3-8-12-00").unwrap().as_deref(),
            Some("abc123")
        );
        assert_eq!(
            syncinfo_sync(xml, "P0S3-8-9-00").unwrap().as_deref(),
            Some("any")
        );
        let only = r#"<SYNCINFO><IMAGE VERSION="P0S3-8-11-00" SYNC="2"/></SYNCINFO>"#;
        assert_eq!(syncinfo_sync(only, "P0S3-8-12-00").unwrap(), None);
        assert!(syncinfo_sync("<SYNCINFO>", "P0S3-8-12-00").is_err());
    }

    #[test]
    fn text_config_quotes_comments_and_overrides() {
        let text = "# SIPDefault\nimage_version: \"P0S3-8-11-00\" ; old\nproxy1_address: 10.0.0.1;\nIMAGE_VERSION:P0S3-8-12-00;\nphone_label: \"a:b\"\n";
        assert_eq!(
            text_value(text, "image_version").as_deref(),
            Some("P0S3-8-12-00")
        );
        assert_eq!(
            text_value(text, "proxy1_address").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(text_value(text, "phone_label").as_deref(), Some("a:b"));
        assert_eq!(text_value(text, "line1_name"), None);
        assert_eq!(text_value("image_version: \"\"", "image_version"), None);
        assert_eq!(
            os79xx_load("P003-8-12-00 \r\n").as_deref(),
            Some("P003-8-12-00")
        );
        assert_eq!(os79xx_load("\r\n"), None);
    }
}
