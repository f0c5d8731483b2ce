//! Reading served configs the way a phone does: tolerant of layout, strict
//! about what it acts on. Deliberately independent of phoneboot's renderers,
//! so the simulator judges them rather than agreeing with them by construction.

use cisco::Model;

/// The load an XML config tells `model` to run: `<loadInformationNNN>` for
/// the model's id (as in `XMLDefault.cnf.xml`), else a plain
/// `<loadInformation>` (as in `SEP<MAC>.cnf.xml`), anywhere in the document.
/// `Ok(None)` when the config names no load; `Err` when it is not XML.
pub fn xml_load(xml: &str, model: Model) -> Result<Option<String>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not well-formed XML: {e}"))?;
    let specific = format!("loadInformation{}", model.load_information_id());
    let text_of = |name: &str| {
        doc.descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == name)
            .filter_map(|n| n.text().map(str::trim).filter(|t| !t.is_empty()))
            .map(str::to_owned)
            .next()
    };
    Ok(text_of(&specific).or_else(|| text_of("loadInformation")))
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
