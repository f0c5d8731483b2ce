use super::*;
use crate::config::Config;

fn parse(text: &str) -> Result<DesiredState, String> {
    Config::parse_str(text, "t.toml")
        .map(|c| c.desired)
        .map_err(|e| e.to_string())
}

fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

const BENCH: &str = r#"
[sip]
server = "10.0.0.10"
[defaults]
protocol = "sip"
load = "newest"
[families.79x1]
load = "SIP41.9-4-2SR3-1S"
start_load = "SCCP41.8-3-1S"
[models.7960]
start_load = "P00303010102"
[groups.lobby]
protocol = "sccp"
sccp_server = "10.0.0.11"
[[phone]]
mac = "00:21:55:55:00:aa"
model = "7960"
label = "Reception"
lines = [ { extension = "101", display = "Reception", password = "pw-101" } ]
speed_dials = [ { number = "200", label = "Sales" } ]
[[phone]]
mac = "00-1E-4A-12-34-56"
group = "lobby"
[[phone]]
mac = "001e4a000001"
model = "7941"
load = "SIP41.9-3-1SR1-1S"
"#;

#[test]
fn most_specific_layer_wins() {
    let d = parse(BENCH).unwrap();
    // Configured phone: model from its entry, start load from [models.7960].
    let i = d.intent(mac("00:21:55:55:00:aa"), None, Protocol::Sip);
    assert_eq!(i.settings.model, Some(Model::from_name("7960").unwrap()));
    assert_eq!(
        i.start_load.as_ref().map(|l| l.as_str()),
        Some("P00303010102")
    );
    assert_eq!(i.target, TargetLoad::Newest);
    assert_eq!(
        i.settings.lines[0].auth, "101",
        "auth defaults to the extension"
    );
    assert_eq!(i.settings.label.as_deref(), Some("Reception"));
    // Group over defaults.
    let i = d.intent(
        mac("00:1e:4a:12:34:56"),
        Some(Model::from_name("7965").unwrap()),
        Protocol::Sip,
    );
    assert_eq!(i.protocol, Protocol::Sccp);
    assert_eq!(i.settings.sccp_server.as_deref(), Some("10.0.0.11"));
    // Phone over family.
    let i = d.intent(mac("00:1e:4a:00:00:01"), None, Protocol::Sip);
    assert_eq!(
        i.target,
        TargetLoad::Exact(LoadName::parse("SIP41.9-3-1SR1-1S").unwrap())
    );
    assert_eq!(
        i.start_load.as_ref().map(|l| l.as_str()),
        Some("SCCP41.8-3-1S")
    );
    // Unconfigured phone of a configured family, model learned at run time.
    let i = d.intent(
        mac("00:00:00:00:00:09"),
        Some(Model::from_name("7961").unwrap()),
        Protocol::Sip,
    );
    assert_eq!(
        i.target,
        TargetLoad::Exact(LoadName::parse("SIP41.9-4-2SR3-1S").unwrap())
    );
    assert!(i.settings.lines.is_empty());
    // Unknown model: defaults only.
    let i = d.intent(mac("00:00:00:00:00:0a"), None, Protocol::Sip);
    assert_eq!(
        (i.protocol, i.target, i.start_load),
        (Protocol::Sip, TargetLoad::Newest, None)
    );
}

#[test]
fn a_closer_protocol_drops_a_farther_exact_load_of_the_other_protocol() {
    let d = parse(
        "[families.79x1]\nload = \"SIP41.9-4-2SR3-1S\"\n[[phone]]\nmac = \"001e4a000002\"\nprotocol = \"sccp\"\n",
    )
    .unwrap();
    let i = d.intent(
        mac("00:1e:4a:00:00:02"),
        Some(Model::from_name("7941").unwrap()),
        Protocol::Sip,
    );
    assert_eq!((i.protocol, i.target), (Protocol::Sccp, TargetLoad::Newest));
}

#[test]
fn errors_name_the_entry_and_the_fix() {
    let long = "x".repeat(31);
    let cases: Vec<(String, &str)> = vec![
        ("[models.7999]\n".into(), "t.toml: [models.7999]: name: \"7999\" is not a phone model"),
        ("[families.80xx]\n".into(), "t.toml: [families.80xx]: name: \"80xx\" is not a phone family"),
        ("[[phone]]\nmac = \"zz\"\n".into(), "t.toml: phone[0]: mac: \"zz\" is not a MAC address"),
        ("[[phone]]\nmac = \"001e4a000001\"\nmodel = \"7999\"\n".into(), "t.toml: phone 00:1e:4a:00:00:01: model: \"7999\""),
        ("[[phone]]\nmac = \"001e4a000001\"\nlabel = \"Reception desk\"\n".into(), "t.toml: phone 00:1e:4a:00:00:01: label: \"Reception desk\" is 14 characters; the phones accept at most 12"),
        (format!("[[phone]]\nmac = \"001e4a000001\"\nlines = [{{ extension = \"1\", password = \"{long}\" }}]\n"), "t.toml: phone 00:1e:4a:00:00:01: lines[0].password: the password is 31 characters; the phones accept at most 30"),
        ("[[phone]]\nmac = \"001e4a000001\"\nlines = [{ extension = \"1\", display = \"a\\\"b\", password = \"p\" }]\n".into(), "t.toml: phone 00:1e:4a:00:00:01: lines[0].display: \"a\\\"b\" contains a double quote"),
        ("[[phone]]\nmac = \"001e4a000001\"\nmodel = \"7940\"\nlines = [{ extension = \"1\", password = \"p\" }, { extension = \"2\", password = \"p\" }, { extension = \"3\", password = \"p\" }]\n".into(), "t.toml: phone 00:1e:4a:00:00:01: lines: 3 lines configured; a 7940 has 2"),
        ("[[phone]]\nmac = \"001e4a000001\"\nmodel = \"7941\"\nload = \"P0S3-8-12-00\"\n".into(), "t.toml: phone 00:1e:4a:00:00:01: load: P0S3-8-12-00 is a load for other phones, not for 7941"),
        ("[models.7960]\nprotocol = \"sccp\"\nload = \"P0S3-8-12-00\"\n".into(), "t.toml: [models.7960]: load: P0S3-8-12-00 is a SIP load but protocol is SCCP"),
        ("[defaults]\nload = \"banana\"\n".into(), "t.toml: [defaults]: load: \"banana\" is not a Cisco load name"),
        ("[[phone]]\nmac = \"001e4a000001\"\n[[phone]]\nmac = \"00:1E:4A:00:00:01\"\n".into(), "t.toml: phone 00:1e:4a:00:00:01: mac: appears twice"),
        ("[[phone]]\nmac = \"001e4a000001\"\ngroup = \"nope\"\n".into(), "t.toml: phone 00:1e:4a:00:00:01: group: \"nope\" is not defined"),
        ("[[phone]]\nmac = \"001e4a000001\"\nlines = [{ extension = \"7\", password = \"p\" }]\n[[phone]]\nmac = \"001e4a000002\"\nlines = [{ extension = \"7\", password = \"q\" }]\n".into(), "t.toml: phone 00:1e:4a:00:00:02: lines: extension 7 is also configured on phone 00:1e:4a:00:00:01"),
        ("[sip]\ntransport = \"sctp\"\n".into(), "t.toml: [sip]: transport: \"sctp\" is not"),
        ("[sip]\nserver = \"bad host\"\n".into(), "t.toml: [sip]: server: \"bad host\" is not a host name"),
        ("[[phone]]\nmac = \"001e4a000001\"\nlines = [{ extension = \"1\", password = \"\" }]\n".into(), "t.toml: phone 00:1e:4a:00:00:01: lines[0].password: is empty"),
    ];
    for (text, want) in cases {
        let got = parse(&text).unwrap_err();
        assert!(got.starts_with(want), "{text:?}\n got: {got}\nwant: {want}");
        assert!(!got.contains(&long), "a password quoted: {got}");
    }
}

#[test]
fn exactly_thirty_characters_is_accepted() {
    let thirty = "é".repeat(30);
    let d = parse(&format!(
        "[[phone]]\nmac = \"001e4a000001\"\nlabel = \"twelve chars\"\nlines = [{{ extension = \"1\", display = \"{thirty}\", password = \"{thirty}\" }}]\n"
    ))
    .unwrap();
    assert_eq!(d.phones.values().next().unwrap().lines[0].password, thirty);
}

#[test]
fn library_check_names_each_missing_load() {
    let d = parse(BENCH).unwrap();
    let missing = d.check_library(&|l: &LoadName| l.as_str() == "SIP41.9-4-2SR3-1S");
    let text: Vec<String> = missing.iter().map(|e| e.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].starts_with(
            "phone 00:1e:4a:00:00:01: load: SIP41.9-3-1SR1-1S is not in the firmware library"
        ),
        "{}",
        text[0]
    );
    assert!(text[0].contains("phoneboot firmware import"));
    assert!(d.check_library(&|_: &LoadName| true).is_empty());
}

#[test]
fn sip_server_defaults_to_our_own_address() {
    let d = parse("").unwrap();
    assert_eq!(d.sip_server_or("10.0.0.1"), "10.0.0.1");
    assert!(d.restrict_per_mac_files);
    let d = parse("[sip]\nserver = \"pbx.example\"\n[provision]\nrestrict_per_mac_files = false\n")
        .unwrap();
    assert_eq!(d.sip_server_or("10.0.0.1"), "pbx.example");
    assert!(!d.restrict_per_mac_files);
}
