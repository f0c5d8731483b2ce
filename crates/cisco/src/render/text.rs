//! 79x0 text files: `SIPDefault.cnf`, `SIP<MAC>.cnf`, `OS79XX.TXT`, `RINGLIST.DAT`.
//!
//! Lines end in CRLF, as in Cisco's own files (the 8.12 zip's `OS79XX.TXT`
//! is `P003-8-12-00 \r\n`), so a parser expecting either ending reads them.

use super::{char_ok, tz};
use crate::{LoadName, Model, PhoneSettings, Site};

/// What unused lines are set to, as Cisco's sample configs do, so a line a
/// previous owner left in flash stops registering.
const UNPROVISIONED: &str = "UNPROVISIONED";

/// `SIPDefault.cnf`: what every 79x0 SIP phone shares.
///
/// `image_version` must be the SIP load the phones should run: a phone whose
/// load differs fetches it, and one told an older load "upgrades" back to it.
/// Also: the registrar as `proxy1`, time (`sntp_*`, `time_zone` and `dst_*`,
/// see below), `syslog_server` when the site has one, and `dial_template:
/// "dialplan"` (→ `dialplan.xml`).
///
/// UNCONFIRMED: `syslog_server` is the name the issue gives for the 8.x
/// admin guide's key; no sample config at hand carries it. A load that does
/// not know a key ignores it, so the worst case is no syslog from the phone.
///
/// `time_zone` is the 79x0 abbreviation for the site's Olson zone (`GMT` for
/// Europe/London, `EST` for America/New_York, `CET`, `EET`, `CST`, `MST`,
/// `PST`, `AKST`, `AST`, `JST`); zones with daylight saving also get
/// `dst_auto_adjust: "1"` and the rule as `dst_start_*`/`dst_stop_*`
/// (week `8` = last week of the month). Unknown zones fall back to `GMT`
/// without daylight saving (see [`time_zone_known`](super::time_zone_known)).
pub fn sip_default_cnf(site: &Site, image_version: &LoadName) -> String {
    let mut cnf = Cnf::new("SIPDefault.cnf");
    cnf.site(site, image_version);
    cnf.out
}

/// `SIP<MAC>.cnf`: one 79x0 phone's lines. It overrides `SIPDefault.cnf`,
/// so it repeats the shared keys too: a phone that missed the default file
/// still registers.
///
/// Lines 1..=[`Model::max_sip_lines`] (7940: 2, 7960: 6): configured lines
/// get `lineN_name` (extension), `lineN_shortname` (label, else extension),
/// `lineN_displayname`, `lineN_authname`, `lineN_password` and
/// `proxyN_address`/`proxyN_port`; the rest are set to `UNPROVISIONED`.
/// Lines past the model's count are left out.
///
/// Speed dials go to the buttons the lines leave free, as
/// `speed_lineN`/`speed_labelN` (N from 1; the names Cisco Unified CME
/// writes into the `SIP<MAC>.cnf` of 7940/7960 SIP loads). Slots
/// 1..buttons−1 are always written, the unused ones empty, so a speed dial
/// a previous owner left in flash is cleared; speed dials beyond the free
/// buttons are left out. UNCONFIRMED: that the phone places them on the
/// buttons after its lines (CME's sample, a 7960 with one line, writes
/// five).
///
/// The last key is `sync`: a stamp of everything above it
/// ([`sync_stamp`]). After a NOTIFY `check-sync` the phone compares it with
/// the SYNC in `syncinfo.xml` ([`syncinfo_xml`]) and reboots when they
/// differ, so a phone whose config changed reboots and one whose config did
/// not stays up.
pub fn sip_mac_cnf(
    site: &Site,
    phone: &PhoneSettings,
    model: Model,
    image_version: &LoadName,
) -> String {
    let mut cnf = Cnf::new(&format!("SIP{}.cnf", phone.mac.file_form()));
    cnf.site(site, image_version);
    if let Some(label) = &phone.label {
        cnf.kv("phone_label", label);
    }
    let port = site.sip_port.to_string();
    for n in 1..=model.max_sip_lines() {
        let line = phone.lines.get(usize::from(n).saturating_sub(1));
        let key = |what: &str| format!("line{n}_{what}");
        match line {
            Some(line) => {
                if n > 1 {
                    cnf.kv(&format!("proxy{n}_address"), &site.sip_server);
                    cnf.kv(&format!("proxy{n}_port"), &port);
                }
                cnf.kv(&key("name"), &line.extension);
                cnf.kv(
                    &key("shortname"),
                    line.label.as_deref().unwrap_or(&line.extension),
                );
                cnf.kv(&key("displayname"), &line.display);
                cnf.kv(&key("authname"), &line.auth);
                cnf.kv(&key("password"), &line.password);
            }
            None => {
                cnf.kv(&key("name"), "");
                cnf.kv(&key("shortname"), "");
                cnf.kv(&key("displayname"), "");
                cnf.kv(&key("authname"), UNPROVISIONED);
                cnf.kv(&key("password"), UNPROVISIONED);
            }
        }
    }
    let buttons = usize::from(model.max_sip_lines());
    // At least one button is a line, even on a phone with none configured.
    let free = buttons.saturating_sub(phone.lines.len().max(1));
    for n in 1..buttons {
        let dial = phone
            .speed_dials
            .get(n.saturating_sub(1))
            .filter(|_| n <= free);
        cnf.kv(
            &format!("speed_line{n}"),
            dial.map_or("", |d| d.number.as_str()),
        );
        cnf.kv(
            &format!("speed_label{n}"),
            dial.map_or("", |d| d.label.as_str()),
        );
    }
    let stamp = sync_stamp(&cnf.out);
    cnf.kv("sync", &stamp);
    cnf.out
}

/// The `sync` value of a `SIP<MAC>.cnf`: 16 hex digits of a 64-bit FNV-1a
/// hash of the text before the `sync` key (within the 32 characters the
/// 79x0 takes). It changes whenever the config does.
pub fn sync_stamp(config_text: &str) -> String {
    let body = config_text
        .rfind("\r\nsync: ")
        .and_then(|at| config_text.get(..at.saturating_add(2)))
        .unwrap_or(config_text);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The `sync` value written in a `SIP<MAC>.cnf`, if any.
pub fn sync_of(config_text: &str) -> Option<&str> {
    const KEY: &str = "\r\nsync: \"";
    let at = config_text.rfind(KEY)?;
    let rest = config_text.get(at.saturating_add(KEY.len())..)?;
    rest.split('"').next()
}

/// `syncinfo.xml` for one phone: any image (`VERSION="*"`), and the SYNC of
/// the config it would get now.
pub fn syncinfo_xml(stamp: &str) -> String {
    let stamp: String = stamp.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("<SYNCINFO>\r\n<IMAGE VERSION=\"*\" SYNC=\"{stamp}\"/>\r\n</SYNCINFO>\r\n")
}

/// `OS79XX.TXT`: the load name, no extension, then CRLF. No trailing space:
/// Cisco bug CSCdv19260 makes old loads ask for a file named with the space.
pub fn os79xx_txt(load: &LoadName) -> String {
    format!("{}\r\n", load.as_str())
}

/// `RINGLIST.DAT`: display name, TAB, `.raw` file, one ring per line. Lists
/// the ring files that ship with Cisco's 79x0 loads; put the `.raw` files in
/// the TFTP root for them to play (a missing one only fails that ring).
pub fn ringlist_dat() -> String {
    [
        ("Analog Synth 1", "Analog1.raw"),
        ("Analog Synth 2", "Analog2.raw"),
        ("Chirp 1", "Chirp1.raw"),
        ("Chirp 2", "Chirp2.raw"),
    ]
    .iter()
    .map(|(name, file)| format!("{name}\t{file}\r\n"))
    .collect()
}

/// A `name: "value"` file being written.
struct Cnf {
    out: String,
}

impl Cnf {
    fn new(name: &str) -> Cnf {
        Cnf {
            out: format!("# {name}, generated by phoneboot: edits here are overwritten.\r\n"),
        }
    }

    /// One key. The value is quoted; a `"` in it becomes `'` and any other
    /// character [`text_value_ok`](super::text_value_ok) rejects becomes `?`,
    /// so a value can never end early or start a new line.
    fn kv(&mut self, key: &str, value: &str) {
        self.out.push_str(key);
        self.out.push_str(": \"");
        self.out.extend(value.chars().map(|c| match c {
            '"' => '\'',
            c if char_ok(c) => c,
            _ => '?',
        }));
        self.out.push_str("\"\r\n");
    }

    fn site(&mut self, site: &Site, image_version: &LoadName) {
        self.kv("image_version", image_version.as_str());
        self.kv("proxy1_address", &site.sip_server);
        self.kv("proxy1_port", &site.sip_port.to_string());
        self.kv("proxy_register", "1");
        if let Some(ntp) = &site.ntp_server {
            self.kv("sntp_mode", "unicast");
            self.kv("sntp_server", ntp);
        }
        if let Some(syslog) = &site.syslog_server {
            self.kv("syslog_server", syslog);
        }
        let zone = tz::cisco_zone(&site.time_zone);
        self.kv("time_zone", zone.abbreviation);
        match zone.dst {
            Some(rule) => {
                self.kv("dst_auto_adjust", "1");
                self.kv("dst_offset", "1");
                for (prefix, month, week, time) in [
                    (
                        "dst_start",
                        rule.start_month,
                        rule.start_week,
                        rule.start_time,
                    ),
                    ("dst_stop", rule.stop_month, rule.stop_week, rule.stop_time),
                ] {
                    self.kv(&format!("{prefix}_month"), month);
                    self.kv(&format!("{prefix}_day"), "0");
                    self.kv(&format!("{prefix}_day_of_week"), "Sun");
                    self.kv(&format!("{prefix}_week_of_month"), week);
                    self.kv(&format!("{prefix}_time"), time);
                }
            }
            None => self.kv("dst_auto_adjust", "0"),
        }
        self.kv("dial_template", "dialplan");
    }
}
