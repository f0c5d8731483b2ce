use super::*;
use crate::{LoadName, Model, PhoneSettings, Protocol, SipLine, Site, SpeedDial, Transport};
use roxmltree::{Document, Node};

const JAVA: [Model; 11] = [
    Model::Cp7941,
    Model::Cp7961,
    Model::Cp7942,
    Model::Cp7962,
    Model::Cp7945,
    Model::Cp7965,
    Model::Cp7970,
    Model::Cp7971,
    Model::Cp7975,
    Model::Cp7911,
    Model::Cp7906,
];

fn site() -> Site {
    Site {
        sip_server: "192.168.1.10".into(),
        sip_port: 5062,
        transport: Transport::Udp,
        sccp_server: Some("192.168.1.11".into()),
        time_zone: "Europe/London".into(),
        ntp_server: Some("192.168.1.1".into()),
        syslog_server: Some("192.168.1.1".into()),
        user_locale: Some("English_United_States".into()),
        network_locale: Some("United_States".into()),
    }
}

fn line(n: usize) -> SipLine {
    SipLine {
        extension: format!("10{n}"),
        display: format!("Desk {n}"),
        auth: format!("auth{n}"),
        password: format!("pw-{n}-secret"),
        label: n.is_multiple_of(2).then(|| format!("L{n}")),
    }
}

fn phone(lines: usize) -> PhoneSettings {
    PhoneSettings {
        mac: "00:1e:4a:12:34:56".parse().unwrap(),
        model: None,
        protocol: Protocol::Sip,
        label: Some("Reception".into()),
        lines: (1..=lines).map(line).collect(),
        speed_dials: vec![
            SpeedDial {
                number: "200".into(),
                label: "Sales".into(),
            },
            SpeedDial {
                number: "*97".into(),
                label: "Voicemail".into(),
            },
        ],
        sccp_server: None,
    }
}

fn load(model: Model, protocol: Protocol) -> LoadName {
    LoadName::newest_known(model.image_set(), protocol).unwrap()
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Node<'a, 'i> {
    node.children()
        .find(|c| c.has_tag_name(name))
        .unwrap_or_else(|| panic!("no <{name}> in <{}>", node.tag_name().name()))
}

fn has_child(node: Node, name: &str) -> bool {
    node.children().any(|c| c.has_tag_name(name))
}

/// Text of the element at `path` under `node` (each step the first match).
fn at(node: Node, path: &str) -> String {
    let mut n = node;
    for step in path.split('/') {
        n = child(n, step);
    }
    n.text().unwrap_or("").to_owned()
}

fn elements<'a, 'i>(node: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| c.has_tag_name(name))
}

fn members(pool: Node) -> Vec<(String, String, Option<String>, String)> {
    elements(child(child(pool, "callManagerGroup"), "members"), "member")
        .map(|m| {
            let cm = child(m, "callManager");
            let ports = child(cm, "ports");
            (
                m.attribute("priority").unwrap().to_owned(),
                at(ports, "ethernetPhonePort"),
                has_child(ports, "sipPort").then(|| at(ports, "sipPort")),
                at(cm, "processNodeName"),
            )
        })
        .collect()
}

#[test]
fn xml_default_lists_one_load_per_model() {
    let site = site();
    let mut loads: Vec<(Model, LoadName)> = Model::ALL
        .iter()
        .rev()
        .filter_map(|&m| LoadName::newest_known(m.image_set(), Protocol::Sip).map(|l| (m, l)))
        .collect();
    // A duplicate and a load for the wrong phones are left out.
    loads.push((Model::Cp7941, load(Model::Cp7941, Protocol::Sccp)));
    loads.insert(0, (Model::Cp7942, load(Model::Cp7941, Protocol::Sip)));
    let xml = xml_default(&site, &loads);
    let doc = Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Default");
    assert_eq!(
        members(root),
        vec![
            // The SCCP server first, so SCCP phones register there.
            ("0".into(), "2000".into(), None, "192.168.1.11".into()),
            (
                "1".into(),
                "2000".into(),
                Some("5062".into()),
                "192.168.1.10".into()
            ),
        ]
    );
    let infos: Vec<(String, String, String)> = root
        .children()
        .filter(|c| c.tag_name().name().starts_with("loadInformation"))
        .map(|c| {
            (
                c.tag_name().name().to_owned(),
                c.attribute("model").unwrap().to_owned(),
                c.text().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected: Vec<(Model, LoadName)> = Model::ALL
        .iter()
        .filter_map(|&m| LoadName::newest_known(m.image_set(), Protocol::Sip).map(|l| (m, l)))
        .collect();
    expected.sort_by_key(|e| e.0);
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(m, l)| {
            (
                format!("loadInformation{}", m.load_information_id()),
                m.xml_model(),
                l.to_string(),
            )
        })
        .collect();
    assert_eq!(infos, expected);
    assert!(infos.contains(&(
        "loadInformation8".into(),
        "IP Phone 7940".into(),
        "P0S3-8-12-00".into()
    )));
    // Input order does not change the bytes.
    let mut dedup: Vec<(Model, LoadName)> = Vec::new();
    for e in loads.iter().filter(|(m, l)| l.fits(*m)) {
        if !dedup.iter().any(|d| d.0 == e.0) {
            dedup.push(e.clone());
        }
    }
    dedup.reverse();
    assert_eq!(xml_default(&site, &dedup), xml);
}

#[test]
fn xml_default_without_separate_sccp_server_has_one_member() {
    let mut site = site();
    site.sccp_server = Some(site.sip_server.clone());
    let xml = xml_default(&site, &[]);
    let doc = Document::parse(&xml).unwrap();
    assert_eq!(members(doc.root_element()).len(), 1);
}

/// Checks a Java SIP `SEP<MAC>.cnf.xml` field by field against its input.
fn check_java_sip(xml: &str, site: &Site, phone: &PhoneSettings, load: &LoadName) {
    let doc = Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let device = doc.root_element();
    assert_eq!(device.tag_name().name(), "device");
    assert_eq!(at(device, "deviceProtocol"), "SIP");
    let pool = child(device, "devicePool");
    assert_eq!(
        members(pool),
        vec![(
            "0".into(),
            "2000".into(),
            Some(site.sip_port.to_string()),
            site.sip_server.clone()
        )]
    );
    assert_eq!(
        at(pool, "dateTimeSetting/timeZone"),
        "GMT Standard/Daylight Time"
    );
    assert_eq!(
        at(pool, "dateTimeSetting/ntps/ntp/name"),
        site.ntp_server.clone().unwrap()
    );
    assert_eq!(at(device, "loadInformation"), load.as_str());
    let transport = match site.transport {
        Transport::Tcp => "1",
        Transport::Udp => "2",
    };
    assert_eq!(at(device, "transportLayerProtocol"), transport);
    assert_eq!(
        at(device, "userLocale/name"),
        site.user_locale.clone().unwrap()
    );
    assert_eq!(
        at(device, "networkLocale"),
        site.network_locale.clone().unwrap()
    );
    let profile = child(device, "sipProfile");
    assert_eq!(
        at(profile, "phoneLabel"),
        phone.label.clone().unwrap_or_default()
    );
    let buttons: Vec<Node> = elements(child(profile, "sipLines"), "line").collect();
    assert_eq!(buttons.len(), phone.lines.len() + phone.speed_dials.len());
    for (i, (node, line)) in buttons.iter().zip(&phone.lines).enumerate() {
        assert_eq!(node.attribute("button"), Some((i + 1).to_string().as_str()));
        assert_eq!(
            node.attribute("lineIndex"),
            Some((i + 1).to_string().as_str())
        );
        assert_eq!(at(*node, "featureID"), "9");
        assert_eq!(at(*node, "proxy"), "USECALLMANAGER");
        assert_eq!(at(*node, "port"), site.sip_port.to_string());
        assert_eq!(at(*node, "name"), line.extension);
        assert_eq!(at(*node, "displayName"), line.display);
        assert_eq!(at(*node, "authName"), line.auth);
        assert_eq!(at(*node, "authPassword"), line.password);
        assert_eq!(
            at(*node, "featureLabel"),
            line.label.clone().unwrap_or(line.extension.clone())
        );
    }
    for (i, (node, dial)) in buttons[phone.lines.len()..]
        .iter()
        .zip(&phone.speed_dials)
        .enumerate()
    {
        let button = phone.lines.len() + i + 1;
        assert_eq!(node.attribute("button"), Some(button.to_string().as_str()));
        assert_eq!(at(*node, "featureID"), "21");
        assert_eq!(at(*node, "speedDialNumber"), dial.number);
        assert_eq!(at(*node, "featureLabel"), dial.label);
        assert!(!has_child(*node, "authPassword"));
    }
}

#[test]
fn sep_sip_for_every_java_model() {
    for transport in [Transport::Udp, Transport::Tcp] {
        let site = Site {
            transport,
            ..site()
        };
        for model in JAVA {
            let phone = phone(model.max_sip_lines().into());
            let load = load(model, Protocol::Sip);
            let xml = sep_cnf_xml(&site, &phone, model, Some(&load));
            check_java_sip(&xml, &site, &phone, &load);
            assert_eq!(xml, sep_cnf_xml(&site, &phone, model, Some(&load)));
        }
    }
}

#[test]
fn sep_sccp_points_at_the_sccp_server() {
    let mut site = site();
    for model in JAVA.into_iter().chain([Model::Cp7940, Model::Cp7960]) {
        let mut phone = phone(2);
        phone.protocol = Protocol::Sccp;
        let load = load(model, Protocol::Sccp);
        for (own, expected) in [
            (None, "192.168.1.11"),
            (Some("10.9.9.9".to_owned()), "10.9.9.9"),
        ] {
            phone.sccp_server = own;
            let xml = sep_cnf_xml(&site, &phone, model, Some(&load));
            let doc = Document::parse(&xml).unwrap();
            let device = doc.root_element();
            assert!(!has_child(device, "deviceProtocol"), "{model:?}");
            assert!(!has_child(device, "sipProfile"), "{model:?}");
            assert!(!has_child(device, "transportLayerProtocol"), "{model:?}");
            assert!(!xml.contains("pw-1-secret"), "{model:?}");
            assert_eq!(at(device, "loadInformation"), load.as_str());
            assert_eq!(
                members(child(device, "devicePool")),
                vec![("0".into(), "2000".into(), None, expected.into())]
            );
        }
    }
    // No SCCP server anywhere: no call manager group rather than a wrong one.
    site.sccp_server = None;
    let mut phone = phone(1);
    phone.protocol = Protocol::Sccp;
    let xml = sep_cnf_xml(&site, &phone, Model::Cp7960, None);
    let doc = Document::parse(&xml).unwrap();
    let pool = child(doc.root_element(), "devicePool");
    assert!(!has_child(pool, "callManagerGroup"));
    assert!(!has_child(doc.root_element(), "loadInformation"));
}

#[test]
fn sep_for_79x0_sip_keeps_passwords_out() {
    let site = site();
    for model in [Model::Cp7940, Model::Cp7960] {
        let phone = phone(2);
        let load = load(model, Protocol::Sip);
        let xml = sep_cnf_xml(&site, &phone, model, Some(&load));
        let doc = Document::parse(&xml).unwrap();
        let device = doc.root_element();
        assert_eq!(at(device, "deviceProtocol"), "SIP");
        assert_eq!(at(device, "loadInformation"), "P0S3-8-12-00");
        assert!(!has_child(device, "sipProfile"));
        assert!(!xml.contains("pw-1-secret"));
        assert_eq!(
            members(child(device, "devicePool"))[0].3,
            site.sip_server.clone()
        );
    }
}

#[test]
fn a_stepping_stone_load_decides_the_protocol() {
    let site = site();
    let phone = phone(2); // wants SIP
    let stone = LoadName::parse("SCCP41.8-5-2S").unwrap();
    let xml = sep_cnf_xml(&site, &phone, Model::Cp7941, Some(&stone));
    let doc = Document::parse(&xml).unwrap();
    assert!(!has_child(doc.root_element(), "sipProfile"));
    assert_eq!(
        members(child(doc.root_element(), "devicePool"))[0].3,
        "192.168.1.11"
    );
    // And the other way: an SCCP phone given a SIP load gets a SIP config.
    let mut sccp = phone.clone();
    sccp.protocol = Protocol::Sccp;
    let sip_load = load(Model::Cp7941, Protocol::Sip);
    let xml = sep_cnf_xml(&site, &sccp, Model::Cp7941, Some(&sip_load));
    check_java_sip(&xml, &site, &sccp, &sip_load);
}

const HOSTILE: [&str; 9] = [
    "<",
    "a&b",
    "\"quoted\"",
    "]]>",
    "x</name><authPassword>evil",
    "Zoë 電話 🎉",
    "&amp; &#x41;",
    "'single'",
    "abcdefghijklmnopqrstuvwxyz0123", // 30 characters: the documented maximum
];

#[test]
fn hostile_values_round_trip_through_xml() {
    assert_eq!(
        HOSTILE[8].chars().count(),
        crate::desired::limits::MAX_SIP_VALUE
    );
    let mut site = site();
    for value in HOSTILE {
        site.sip_server = value.into();
        site.ntp_server = Some(value.into());
        site.user_locale = Some(value.into());
        site.network_locale = Some(value.into());
        let mut phone = phone(0);
        phone.label = Some(value.into());
        phone.lines = vec![SipLine {
            extension: value.into(),
            display: value.into(),
            auth: value.into(),
            password: value.into(),
            label: Some(value.into()),
        }];
        phone.speed_dials = vec![SpeedDial {
            number: value.into(),
            label: value.into(),
        }];
        let load = load(Model::Cp7962, Protocol::Sip);
        let xml = sep_cnf_xml(&site, &phone, Model::Cp7962, Some(&load));
        check_java_sip(&xml, &site, &phone, &load);
        let default = xml_default(&site, &[]);
        let doc = Document::parse(&default).unwrap();
        let sip_member = members(doc.root_element()).pop().unwrap();
        assert_eq!(sip_member.3, value);
    }
}

#[test]
fn control_characters_never_reach_xml() {
    let mut phone = phone(0);
    phone.lines = vec![SipLine {
        extension: "1\r\n2".into(),
        display: "a\u{0}b\u{1b}c".into(),
        auth: "x\u{2028}y".into(),
        password: "p\tq".into(),
        label: None,
    }];
    let load = load(Model::Cp7941, Protocol::Sip);
    let xml = sep_cnf_xml(&site(), &phone, Model::Cp7941, Some(&load));
    let doc = Document::parse(&xml).unwrap();
    let line = child(
        child(child(doc.root_element(), "sipProfile"), "sipLines"),
        "line",
    );
    assert_eq!(at(line, "name"), "1??2");
    assert_eq!(at(line, "displayName"), "a?b?c");
    assert_eq!(at(line, "authName"), "x?y");
    assert_eq!(at(line, "authPassword"), "p?q");
}

/// Reads a 79x0 text config strictly: every line is a `#` comment or
/// `key: "value"` with a lower-case key; returns the keys in order.
fn parse_cnf(text: &str) -> Vec<(String, String)> {
    assert!(text.ends_with("\r\n"), "{text:?}");
    let body = &text[..text.len() - 2];
    let mut out = Vec::new();
    for line in body.split("\r\n") {
        assert!(!line.contains(['\r', '\n']), "{line:?}");
        if line.starts_with('#') {
            continue;
        }
        let (key, rest) = line
            .split_once(": \"")
            .unwrap_or_else(|| panic!("{line:?}"));
        assert!(
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{key:?}"
        );
        let value = rest.strip_suffix('"').unwrap_or_else(|| panic!("{line:?}"));
        assert!(!value.contains('"'), "{line:?}");
        out.push((key.to_owned(), value.to_owned()));
    }
    out
}

fn get<'a>(keys: &'a [(String, String)], key: &str) -> Option<&'a str> {
    let mut found = keys.iter().filter(|(k, _)| k == key);
    let first = found.next().map(|(_, v)| v.as_str());
    assert!(found.next().is_none(), "{key} appears twice");
    first
}

#[test]
fn sip_mac_cnf_for_7940_and_7960() {
    let site = site();
    for (model, max) in [(Model::Cp7940, 2usize), (Model::Cp7960, 6)] {
        let image = load(model, Protocol::Sip);
        for configured in [0, 1, max, max + 2] {
            let phone = phone(configured);
            let keys = parse_cnf(&sip_mac_cnf(&site, &phone, model, &image));
            assert_eq!(get(&keys, "image_version"), Some("P0S3-8-12-00"));
            assert_eq!(get(&keys, "proxy1_address"), Some("192.168.1.10"));
            assert_eq!(get(&keys, "proxy1_port"), Some("5062"));
            assert_eq!(get(&keys, "phone_label"), Some("Reception"));
            assert_eq!(get(&keys, "sntp_server"), Some("192.168.1.1"));
            assert_eq!(get(&keys, "sntp_mode"), Some("unicast"));
            assert_eq!(get(&keys, "time_zone"), Some("GMT"));
            assert_eq!(get(&keys, "dial_template"), Some("dialplan"));
            for n in 1..=max {
                let k = |w: &str| format!("line{n}_{w}");
                match phone.lines.get(n - 1) {
                    Some(l) => {
                        assert_eq!(get(&keys, &k("name")), Some(l.extension.as_str()));
                        assert_eq!(get(&keys, &k("displayname")), Some(l.display.as_str()));
                        assert_eq!(get(&keys, &k("authname")), Some(l.auth.as_str()));
                        assert_eq!(get(&keys, &k("password")), Some(l.password.as_str()));
                        assert_eq!(
                            get(&keys, &k("shortname")),
                            Some(l.label.as_deref().unwrap_or(&l.extension))
                        );
                        assert_eq!(
                            get(&keys, &format!("proxy{n}_address")),
                            Some("192.168.1.10")
                        );
                    }
                    None => {
                        assert_eq!(get(&keys, &k("name")), Some(""));
                        assert_eq!(get(&keys, &k("authname")), Some("UNPROVISIONED"));
                        assert_eq!(get(&keys, &k("password")), Some("UNPROVISIONED"));
                    }
                }
            }
            let beyond = format!("line{}_name", max + 1);
            assert_eq!(get(&keys, &beyond), None, "{model:?} has {max} lines");
            assert!(!keys
                .iter()
                .any(|(_, v)| v == &format!("pw-{}-secret", max + 1)));
        }
    }
}

#[test]
fn sip_default_cnf_fields() {
    let mut site = site();
    let image = load(Model::Cp7960, Protocol::Sip);
    let keys = parse_cnf(&sip_default_cnf(&site, &image));
    assert_eq!(get(&keys, "image_version"), Some("P0S3-8-12-00"));
    assert_eq!(get(&keys, "proxy1_address"), Some("192.168.1.10"));
    assert_eq!(get(&keys, "proxy1_port"), Some("5062"));
    assert_eq!(get(&keys, "sntp_server"), Some("192.168.1.1"));
    assert_eq!(get(&keys, "dial_template"), Some("dialplan"));
    assert!(!keys.iter().any(|(k, _)| k.starts_with("line")));
    site.ntp_server = None;
    let keys = parse_cnf(&sip_default_cnf(&site, &image));
    assert_eq!(get(&keys, "sntp_server"), None);
    assert_eq!(get(&keys, "sntp_mode"), None);
}

#[test]
fn time_zones() {
    let image = load(Model::Cp7960, Protocol::Sip);
    let cases = [
        (
            "Europe/London",
            "GMT",
            "GMT Standard/Daylight Time",
            Some(("Mar", "8", "01:00", "Oct")),
        ),
        (
            "europe/paris",
            "CET",
            "Central Europe Standard/Daylight Time",
            Some(("Mar", "8", "02:00", "Oct")),
        ),
        (
            "Europe/Helsinki",
            "EET",
            "E. Europe Standard/Daylight Time",
            Some(("Mar", "8", "03:00", "Oct")),
        ),
        (
            "America/New_York",
            "EST",
            "Eastern Standard/Daylight Time",
            Some(("Mar", "2", "02:00", "Nov")),
        ),
        (
            "America/Los_Angeles",
            "PST",
            "Pacific Standard/Daylight Time",
            Some(("Mar", "2", "02:00", "Nov")),
        ),
        ("America/Phoenix", "MST", "US Mountain Standard Time", None),
        ("Asia/Tokyo", "JST", "Tokyo Standard Time", None),
        ("UTC", "GMT", "Greenwich Standard Time", None),
        ("Mars/Olympus_Mons", "GMT", "Greenwich Standard Time", None),
    ];
    for (olson, abbreviation, xml_name, dst) in cases {
        let site = Site {
            time_zone: olson.into(),
            ..site()
        };
        assert_eq!(time_zone_known(olson), !olson.starts_with("Mars"));
        let keys = parse_cnf(&sip_default_cnf(&site, &image));
        assert_eq!(get(&keys, "time_zone"), Some(abbreviation), "{olson}");
        match dst {
            Some((month, week, time, stop_month)) => {
                assert_eq!(get(&keys, "dst_auto_adjust"), Some("1"));
                assert_eq!(get(&keys, "dst_start_month"), Some(month));
                assert_eq!(get(&keys, "dst_start_week_of_month"), Some(week));
                assert_eq!(get(&keys, "dst_start_time"), Some(time));
                assert_eq!(get(&keys, "dst_stop_month"), Some(stop_month));
            }
            None => {
                assert_eq!(get(&keys, "dst_auto_adjust"), Some("0"), "{olson}");
                assert_eq!(get(&keys, "dst_start_month"), None);
            }
        }
        let xml = sep_cnf_xml(&site, &phone(1), Model::Cp7945, None);
        let doc = Document::parse(&xml).unwrap();
        assert_eq!(
            at(doc.root_element(), "devicePool/dateTimeSetting/timeZone"),
            xml_name
        );
    }
}

#[test]
fn text_values_never_break_a_line() {
    let site = site();
    let image = load(Model::Cp7960, Protocol::Sip);
    let benign = parse_cnf(&sip_mac_cnf(&site, &phone(2), Model::Cp7960, &image));
    let nasty = [
        "a\"b",
        "x\r\nline9_password: \"owned",
        "\n",
        "\r",
        "tab\there",
        "nul\0",
        "sep\u{2028}arator",
        "\u{85}next",
        "\"; evil",
    ];
    for value in nasty {
        assert!(!text_value_ok(value), "{value:?}");
        let mut phone = phone(2);
        phone.label = Some(value.into());
        for l in &mut phone.lines {
            l.extension = value.into();
            l.display = value.into();
            l.auth = value.into();
            l.password = value.into();
        }
        let mut site = site.clone();
        site.sip_server = value.into();
        site.ntp_server = Some(value.into());
        let text = sip_mac_cnf(&site, &phone, Model::Cp7960, &image);
        let keys = parse_cnf(&text);
        let names = |k: &[(String, String)]| k.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        assert_eq!(names(&keys), names(&benign), "{value:?}");
        assert_eq!(text.matches("\r\n").count(), text.lines().count());
        let password = get(&keys, "line1_password").unwrap();
        assert!(password
            .chars()
            .all(|c| c == '\'' || text_value_ok(&c.to_string())));
        assert_eq!(
            password.chars().count(),
            value.chars().count(),
            "each bad character is replaced, not dropped"
        );
    }
}

#[test]
fn text_value_ok_rule() {
    for ok in ["", "101", "Zoë 電話 🎉", "<&>]]>", "semi;colon #hash", "'"] {
        assert!(text_value_ok(ok), "{ok:?}");
    }
    for bad in [
        "\"", "a\nb", "a\rb", "\t", "\0", "\u{7f}", "\u{2029}", "\u{9b}",
    ] {
        assert!(!text_value_ok(bad), "{bad:?}");
    }
}

#[test]
fn os79xx_txt_is_one_line_without_trailing_space() {
    for name in ["P00308000900", "P0S3-8-12-00", "P003-8-12-00"] {
        let load = LoadName::parse(name).unwrap();
        assert_eq!(os79xx_txt(&load), format!("{name}\r\n"));
    }
}

#[test]
fn ringlist_dat_lines() {
    let text = ringlist_dat();
    assert!(text.ends_with("\r\n"));
    let lines: Vec<&str> = text.trim_end_matches("\r\n").split("\r\n").collect();
    assert!(!lines.is_empty());
    for line in lines {
        let (name, file) = line.split_once('\t').unwrap();
        assert!(!name.is_empty() && !name.contains('\t'));
        assert!(file.ends_with(".raw"), "{line:?}");
    }
}

#[test]
fn dialplan_xml_is_a_catch_all_template() {
    let xml = dialplan_xml();
    let doc = Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "DIALTEMPLATE");
    let templates: Vec<Node> = elements(root, "TEMPLATE").collect();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].attribute("MATCH"), Some("*"));
    assert_eq!(templates[0].attribute("Timeout"), Some("5"));
}

#[test]
fn generated_file_names() {
    let mac: crate::Mac = "00:1e:4a:12:34:56".parse().unwrap();
    let cases: &[(&str, Option<GeneratedFile>)] = &[
        ("XMLDefault.cnf.xml", Some(GeneratedFile::XmlDefault)),
        ("xmldefault.cnf.xml", Some(GeneratedFile::XmlDefault)),
        ("/XmlDefault.CNF.xml", Some(GeneratedFile::XmlDefault)),
        (
            "SEP001E4A123456.cnf.xml",
            Some(GeneratedFile::SepCnfXml(mac)),
        ),
        (
            "SEP001e4a123456.cnf.xml",
            Some(GeneratedFile::SepCnfXml(mac)),
        ),
        (
            "sep001E4a123456.CNF.XML",
            Some(GeneratedFile::SepCnfXml(mac)),
        ),
        (
            "/SEP001E4A123456.cnf.xml",
            Some(GeneratedFile::SepCnfXml(mac)),
        ),
        ("SIPDefault.cnf", Some(GeneratedFile::SipDefaultCnf)),
        ("sipdefault.CNF", Some(GeneratedFile::SipDefaultCnf)),
        ("SIP001E4A123456.cnf", Some(GeneratedFile::SipMacCnf(mac))),
        ("sip001e4a123456.cnf", Some(GeneratedFile::SipMacCnf(mac))),
        ("OS79XX.TXT", Some(GeneratedFile::Os79xxTxt)),
        ("os79xx.txt", Some(GeneratedFile::Os79xxTxt)),
        ("RINGLIST.DAT", Some(GeneratedFile::RingListDat)),
        ("RingList.dat", Some(GeneratedFile::RingListDat)),
        ("dialplan.xml", Some(GeneratedFile::DialplanXml)),
        ("/DIALPLAN.XML", Some(GeneratedFile::DialplanXml)),
        // Near misses.
        ("SEP001E4A123456.cnf.xml.sgn", None),
        ("SEP001E4A123456.cnf.xml.enc.sgn", None),
        ("CTLSEP001E4A123456.tlv", None),
        ("ITLSEP001E4A123456.tlv", None),
        ("SEP001E4A12345.cnf.xml", None),
        ("SEP001E4A1234567.cnf.xml", None),
        ("SEP001E4A12345G.cnf.xml", None),
        ("SEP00:1E:4A:12:34:56.cnf.xml", None),
        ("SEP001E.4A12.3456.cnf.xml", None),
        ("SEP001E4A123456.cnf", None),
        ("SIP001E4A123456.cnf.xml", None),
        ("SIP001E4A123456.cnf ", None),
        (" SIPDefault.cnf", None),
        ("SEPDefault.cnf.xml", None),
        ("SEP.cnf.xml", None),
        ("//XMLDefault.cnf.xml", None),
        ("configs/SEP001E4A123456.cnf.xml", None),
        ("Desktops/320x212x16/List.xml", None),
        ("English_United_States/dialplan.xml", None),
        ("RINGLIST.DAT\0", None),
        ("Ringlist.xml", None),
        ("OS79XX.TXT.bak", None),
        ("", None),
        ("/", None),
        ("SEPÉ01E4A123456.cnf.xml", None),
    ];
    for (name, expected) in cases {
        assert_eq!(GeneratedFile::parse(name), *expected, "{name:?}");
        if let Some(file) = expected {
            assert_eq!(GeneratedFile::parse(&file.file_name()), Some(*file));
            assert_eq!(file.to_string(), file.file_name());
        }
    }
    assert_eq!(
        GeneratedFile::SepCnfXml(mac).file_name(),
        "SEP001E4A123456.cnf.xml"
    );
    assert_eq!(
        GeneratedFile::SipMacCnf(mac).file_name(),
        "SIP001E4A123456.cnf"
    );
    let secret: Vec<bool> = cases
        .iter()
        .filter_map(|(_, f)| f.map(|f| f.carries_secrets()))
        .collect();
    assert!(secret.contains(&true) && secret.contains(&false));
    for (_, file) in cases {
        if let Some(file) = file {
            assert_eq!(
                file.carries_secrets(),
                matches!(
                    file,
                    GeneratedFile::SepCnfXml(_) | GeneratedFile::SipMacCnf(_)
                )
            );
            assert_eq!(file.carries_secrets(), file.mac() == Some(mac));
        }
    }
}

#[test]
fn an_sccp_server_with_a_port_and_the_sync_stamp() {
    let mut site = site();
    site.sccp_server = Some("10.0.0.1:2345".into());
    let xml = xml_default(&site, &[]);
    let doc = Document::parse(&xml).unwrap();
    assert_eq!(
        members(doc.root_element())[0],
        ("0".into(), "2345".into(), None, "10.0.0.1".into())
    );
    let sccp = PhoneSettings {
        protocol: Protocol::Sccp,
        ..phone(3)
    };
    let load = load(Model::Cp7941, Protocol::Sccp);
    let xml = sep_cnf_xml(&site, &sccp, Model::Cp7941, Some(&load));
    let doc = Document::parse(&xml).unwrap();
    let pool = child(doc.root_element(), "devicePool");
    assert_eq!(
        members(pool),
        vec![("0".into(), "2345".into(), None, "10.0.0.1".into())]
    );

    // 79x0 SIP: the sync key stamps the rest of the file, and changes with it.
    let image = LoadName::parse("P0S3-8-12-00").unwrap();
    let a = sip_mac_cnf(&site, &phone(3), Model::Cp7960, &image);
    let mut renamed = phone(3);
    renamed.lines[0].display = "Reception".into();
    let b = sip_mac_cnf(&site, &renamed, Model::Cp7960, &image);
    let (sa, sb) = (sync_of(&a).unwrap(), sync_of(&b).unwrap());
    assert_eq!(sa.len(), 16);
    assert_ne!(sa, sb);
    assert_eq!(sa, sync_stamp(&a));
    let keys = parse_cnf(&a);
    assert_eq!(keys.last(), Some(&("sync".to_owned(), sa.to_owned())));
    let info = syncinfo_xml(sa);
    let doc = Document::parse(&info).unwrap();
    let image_el = child(doc.root_element(), "IMAGE");
    assert_eq!(image_el.attribute("VERSION"), Some("*"));
    assert_eq!(image_el.attribute("SYNC"), Some(sa));
}

#[test]
fn speed_dials_fill_the_buttons_the_lines_leave_free() {
    let site = site();
    let dials = |n: usize| -> Vec<SpeedDial> {
        (1..=n)
            .map(|i| SpeedDial {
                number: format!("20{i}"),
                label: format!("Dial {i}"),
            })
            .collect()
    };
    // (model, lines, dials) → how many dials land on buttons.
    for (model, lines, wanted, shown) in [
        (Model::Cp7960, 1, 2, 2),
        (Model::Cp7960, 2, 7, 4),
        (Model::Cp7960, 0, 7, 5),
        (Model::Cp7960, 6, 2, 0),
        (Model::Cp7940, 1, 3, 1),
        (Model::Cp7940, 2, 1, 0),
    ] {
        let image = load(model, Protocol::Sip);
        let mut phone = phone(lines);
        phone.speed_dials = dials(wanted);
        let keys = parse_cnf(&sip_mac_cnf(&site, &phone, model, &image));
        let slots = usize::from(model.max_sip_lines()) - 1;
        for n in 1..=slots {
            let (number, label) = if n <= shown {
                (format!("20{n}"), format!("Dial {n}"))
            } else {
                (String::new(), String::new())
            };
            let case = format!("{model:?} with {lines} lines, {wanted} dials: slot {n}");
            assert_eq!(
                get(&keys, &format!("speed_line{n}")),
                Some(number.as_str()),
                "{case}"
            );
            assert_eq!(
                get(&keys, &format!("speed_label{n}")),
                Some(label.as_str()),
                "{case}"
            );
        }
        assert_eq!(get(&keys, &format!("speed_line{}", slots + 1)), None);
        // The stamp covers the speed dials too.
        assert_eq!(keys.last().map(|(k, _)| k.as_str()), Some("sync"));
    }
    let image = load(Model::Cp7960, Protocol::Sip);
    let a = sip_mac_cnf(&site, &phone(1), Model::Cp7960, &image);
    let mut relabelled = phone(1);
    relabelled.speed_dials[0].label = "Sales desk".into();
    let b = sip_mac_cnf(&site, &relabelled, Model::Cp7960, &image);
    assert_ne!(sync_of(&a), sync_of(&b), "a new speed dial label resyncs");
    assert_eq!(sync_of(&b), Some(sync_stamp(&b).as_str()));
}

#[test]
fn syslog_and_time_keys_in_both_79x0_files() {
    let mut site = site();
    site.time_zone = "America/New_York".into();
    let image = load(Model::Cp7960, Protocol::Sip);
    for text in [
        sip_default_cnf(&site, &image),
        sip_mac_cnf(&site, &phone(1), Model::Cp7960, &image),
    ] {
        let keys = parse_cnf(&text);
        assert_eq!(get(&keys, "syslog_server"), Some("192.168.1.1"));
        assert_eq!(get(&keys, "sntp_mode"), Some("unicast"));
        assert_eq!(get(&keys, "sntp_server"), Some("192.168.1.1"));
        assert_eq!(get(&keys, "time_zone"), Some("EST"));
        assert_eq!(get(&keys, "dst_auto_adjust"), Some("1"));
        assert_eq!(get(&keys, "dst_start_month"), Some("Mar"));
        assert_eq!(get(&keys, "dst_start_week_of_month"), Some("2"));
        assert_eq!(get(&keys, "dst_start_day_of_week"), Some("Sun"));
        assert_eq!(get(&keys, "dst_stop_month"), Some("Nov"));
        assert_eq!(get(&keys, "dst_stop_time"), Some("02:00"));
    }
    site.syslog_server = None;
    let keys = parse_cnf(&sip_default_cnf(&site, &image));
    assert_eq!(get(&keys, "syslog_server"), None);
}

/// Labels and numbers are the operator's text: whatever they hold, each
/// stays one quoted value on its own line, and no key can be smuggled in.
#[test]
fn speed_dial_and_syslog_values_cannot_start_a_key() {
    let site = site();
    let image = load(Model::Cp7960, Protocol::Sip);
    let benign = parse_cnf(&sip_mac_cnf(&site, &phone(1), Model::Cp7960, &image));
    let names = |k: &[(String, String)]| k.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    for (value, shown) in [
        // A colon inside quotes is plain text (Cisco's own "02:00").
        ("Sales: 2nd floor", "Sales: 2nd floor"),
        (
            "a\"\r\nline1_password: \"owned",
            "a'??line1_password: 'owned",
        ),
        ("x\nsync: \"0", "x?sync: '0"),
        ("tab\there", "tab?here"),
        ("ünïcödé ☎", "ünïcödé ☎"),
    ] {
        let mut phone = phone(1);
        phone.speed_dials[0].label = value.into();
        phone.speed_dials[1].number = value.into();
        let mut site = site.clone();
        site.syslog_server = Some(value.into());
        let text = sip_mac_cnf(&site, &phone, Model::Cp7960, &image);
        let keys = parse_cnf(&text);
        assert_eq!(names(&keys), names(&benign), "{value:?}");
        assert_eq!(get(&keys, "speed_label1"), Some(shown), "{value:?}");
        assert_eq!(get(&keys, "speed_line2"), Some(shown), "{value:?}");
        assert_eq!(get(&keys, "syslog_server"), Some(shown), "{value:?}");
        assert_eq!(get(&keys, "line1_password"), Some("pw-1-secret"));
        assert_eq!(sync_of(&text), Some(sync_stamp(&text).as_str()));
    }
}
