//! The desired state: what each phone should end up as, read from the
//! config file's `[sip]`, `[time]`, `[defaults]`, `[models.*]`,
//! `[families.*]`, `[groups.*]` and `[[phone]]`.
//!
//! Most specific wins: phone > group > model > family > defaults. The result
//! is what the renderers ([`cisco::render`]) and the planner take:
//! [`DesiredState::intent`] answers "where should this phone end up" for any
//! MAC, configured or not, once its model is known.
//!
//! Validation names the entry (`phone 00:21:55:55:00:aa: lines[1].password`)
//! so an operator with fifty phones in the file finds the one at fault.
//! Checks that need the firmware library (is the named load imported and
//! complete?) are in [`DesiredState::check_library`], run by `serve` and
//! `check-config` once the library is open.

use std::collections::BTreeMap;

use cisco::desired::limits;
use cisco::{Family, LoadName, Mac, Model, PhoneSettings, Protocol, SipLine, Site, SpeedDial};
use cisco::{TargetLoad, Transport};

pub use crate::provision::served::RootFiles;

pub mod file {
    //! The TOML as written.
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(Debug, Default, Deserialize, Serialize, Clone)]
    #[serde(deny_unknown_fields)]
    pub struct Sip {
        pub server: Option<String>,
        pub port: Option<u16>,
        pub transport: Option<String>,
        pub user_locale: Option<String>,
        pub network_locale: Option<String>,
        /// Asterisk dialplan context for the generated pjsip endpoints.
        pub context: Option<String>,
        /// Codecs for the generated pjsip endpoints, in preference order.
        pub codecs: Option<Vec<String>>,
        /// NOTIFY SIP phones when their config changes (on by default).
        pub notify: Option<bool>,
        /// The port phones take NOTIFY on (5060).
        pub phone_port: Option<u16>,
        /// Where NOTIFY is sent from ("0.0.0.0:0": any free port).
        pub notify_listen: Option<String>,
    }

    #[derive(Debug, Default, Deserialize, Serialize, Clone)]
    #[serde(deny_unknown_fields)]
    pub struct Time {
        pub zone: Option<String>,
        pub ntp: Option<String>,
    }

    /// `[defaults]`, `[models.X]`, `[families.X]`, `[groups.X]`: one layer.
    #[derive(Debug, Default, Deserialize, Serialize, Clone)]
    #[serde(deny_unknown_fields)]
    pub struct Layer {
        pub protocol: Option<String>,
        pub load: Option<String>,
        pub start_load: Option<String>,
        pub sccp_server: Option<String>,
    }

    #[derive(Debug, Default, Deserialize, Serialize, Clone)]
    #[serde(deny_unknown_fields)]
    pub struct Provision {
        /// Serve per-MAC files (which carry SIP passwords) only to the IP
        /// that holds that MAC's lease. On unless turned off.
        pub restrict_per_mac_files: Option<bool>,
        /// After its config, a phone that has not asked for the load it was
        /// told to run is taken to run it after this long.
        pub settle: Option<String>,
        /// A lease with no TFTP request after this long is diagnosed.
        pub no_tftp_after: Option<String>,
        /// An unfinished download with no request for this long is diagnosed.
        pub download_stall: Option<String>,
        /// Complete downloads of one hop before "keeps its old image".
        pub max_attempts: Option<u32>,
        /// "auto" (reboot each phone into its next hop) or "manual".
        pub reboot: Option<String>,
        /// A phone told to reboot and not heard from for this long is diagnosed.
        pub reboot_timeout: Option<String>,
        /// Reboots sent towards one hop before a diagnosis instead.
        pub max_resets: Option<u32>,
        /// "serve" (a file in the TFTP root is served as it is, in place of
        /// a generated one) or "generated" (phoneboot's configs win).
        pub root_files: Option<String>,
    }

    #[derive(Debug, Deserialize, Serialize, Clone)]
    #[serde(deny_unknown_fields)]
    pub struct Phone {
        pub mac: String,
        pub model: Option<String>,
        pub group: Option<String>,
        pub protocol: Option<String>,
        pub load: Option<String>,
        pub start_load: Option<String>,
        pub sccp_server: Option<String>,
        pub label: Option<String>,
        #[serde(default)]
        pub lines: Vec<Line>,
        #[serde(default)]
        pub speed_dials: Vec<SpeedDial>,
    }

    #[derive(Debug, Deserialize, Serialize, Clone)]
    #[serde(deny_unknown_fields)]
    pub struct Line {
        pub extension: String,
        pub display: Option<String>,
        pub auth: Option<String>,
        pub password: String,
        pub label: Option<String>,
    }

    #[derive(Debug, Deserialize, Serialize, Clone)]
    #[serde(deny_unknown_fields)]
    pub struct SpeedDial {
        pub number: String,
        pub label: String,
    }

    pub type Layers = BTreeMap<String, Layer>;
}

/// One level of the desired state, validated. `None` = not said here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    pub protocol: Option<Protocol>,
    pub load: Option<TargetLoad>,
    pub start_load: Option<LoadName>,
    pub sccp_server: Option<String>,
}

impl Layer {
    /// The protocol and target of a merged layer. An exact load of the other
    /// protocol said at a less specific level must not drag the phone back:
    /// the protocol said closer to the phone wins.
    fn goal(&self, fallback: Protocol) -> (Protocol, TargetLoad) {
        let protocol = self.protocol.unwrap_or(fallback);
        let target = match &self.load {
            Some(TargetLoad::Exact(l)) if l.protocol().is_some_and(|p| p != protocol) => {
                TargetLoad::Newest
            }
            Some(t) => t.clone(),
            None => TargetLoad::Newest,
        };
        (protocol, target)
    }

    /// `self` where it says something, else `below`.
    fn over(&self, below: &Layer) -> Layer {
        Layer {
            protocol: self.protocol.or(below.protocol),
            load: self.load.clone().or_else(|| below.load.clone()),
            start_load: self.start_load.clone().or_else(|| below.start_load.clone()),
            sccp_server: self
                .sccp_server
                .clone()
                .or_else(|| below.sccp_server.clone()),
        }
    }
}

/// A `[[phone]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneEntry {
    pub model: Option<Model>,
    pub group: Option<String>,
    pub layer: Layer,
    pub label: Option<String>,
    pub lines: Vec<SipLine>,
    pub speed_dials: Vec<SpeedDial>,
}

/// Where one phone should end up, all layers applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub protocol: Protocol,
    pub target: TargetLoad,
    /// What it runs today, when the operator knows.
    pub start_load: Option<LoadName>,
    pub settings: PhoneSettings,
}

impl From<&Intent> for cisco::Intent {
    fn from(i: &Intent) -> cisco::Intent {
        cisco::Intent {
            protocol: i.protocol,
            target: i.target.clone(),
            start_load: i.start_load.clone(),
        }
    }
}

/// Settings for the generated pjsip.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsteriskSettings {
    pub context: String,
    pub codecs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    pub site: Site,
    pub asterisk: AsteriskSettings,
    pub defaults: Layer,
    pub families: BTreeMap<Family, Layer>,
    pub models: BTreeMap<Model, Layer>,
    pub groups: BTreeMap<String, Layer>,
    pub phones: BTreeMap<Mac, PhoneEntry>,
    /// Serve per-MAC files only to the IP holding that MAC's lease.
    pub restrict_per_mac_files: bool,
    /// Whether the operator's files in the TFTP root win over generated ones.
    pub root_files: RootFiles,
    /// Timings of the per-phone state machine.
    pub policy: cisco::Policy,
    /// The time zone, and whether the operator named an NTP server (if not,
    /// phoneboot's own SNTP address is filled in by `serve`).
    pub ntp_configured: bool,
}

/// The raw sections `from_file` reads (kept, so run-time edits are
/// validated against the whole file again).
#[derive(Debug, Default, Clone)]
pub struct Sections {
    pub sip: Option<file::Sip>,
    pub time: Option<file::Time>,
    pub defaults: Option<file::Layer>,
    pub models: Option<file::Layers>,
    pub families: Option<file::Layers>,
    pub groups: Option<file::Layers>,
    pub phones: Option<Vec<file::Phone>>,
    pub provision: Option<file::Provision>,
}

/// A problem in the desired state: which entry, which key, what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {key}: {problem}")]
pub struct DesiredError {
    pub entry: String,
    pub key: String,
    pub problem: String,
}

pub const DEFAULT_SIP_PORT: u16 = 5060;
pub const DEFAULT_TIME_ZONE: &str = "UTC";
pub const DEFAULT_CONTEXT: &str = "phones";

fn err(entry: &str, key: &str, problem: impl Into<String>) -> DesiredError {
    DesiredError {
        entry: entry.to_owned(),
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// The renderers' own rule (quotes end a 79x0 `name: "value"` line,
/// control characters end lines anywhere), so validation and output agree.
fn text_ok(value: &str) -> bool {
    cisco::render::text_value_ok(value)
}

fn check_text(entry: &str, key: &str, value: &str, max: usize) -> Result<(), DesiredError> {
    // Errors reach logs, `check-config` and the API: a password is never quoted.
    let shown = if key.ends_with("password") {
        "the password".to_owned()
    } else {
        format!("{value:?}")
    };
    let chars = value.chars().count();
    if chars > max {
        return Err(err(
            entry,
            key,
            format!("{shown} is {chars} characters; the phones accept at most {max}"),
        ));
    }
    if !text_ok(value) {
        return Err(err(
            entry,
            key,
            format!("{shown} contains a double quote or a control character, which phone configs cannot carry"),
        ));
    }
    Ok(())
}

fn protocol(entry: &str, text: &str) -> Result<Protocol, DesiredError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "sip" => Ok(Protocol::Sip),
        "sccp" => Ok(Protocol::Sccp),
        _ => Err(err(
            entry,
            "protocol",
            format!("{text:?} is not \"sip\" or \"sccp\""),
        )),
    }
}

fn load_name(entry: &str, key: &str, text: &str) -> Result<LoadName, DesiredError> {
    LoadName::parse(text.trim()).map_err(|e| {
        err(
            entry,
            key,
            format!("{text:?} is not a Cisco load name ({e}); write it as the .loads file is named, without the extension, e.g. \"SIP41.9-4-2SR3-1S\" or \"P0S3-8-12-00\""),
        )
    })
}

fn server_name(entry: &str, key: &str, text: &str) -> Result<String, DesiredError> {
    let t = text.trim();
    if t.is_empty()
        || t.len() > 253
        || t.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '&')
    {
        return Err(err(
            entry,
            key,
            format!("{text:?} is not a host name or IP address"),
        ));
    }
    Ok(t.to_owned())
}

/// Checks a layer's own consistency: a load that fits only other models or
/// speaks another protocol than the layer asks for.
fn layer(
    entry: &str,
    raw: &file::Layer,
    fits: &dyn Fn(&LoadName) -> Result<(), String>,
) -> Result<Layer, DesiredError> {
    let protocol = raw
        .protocol
        .as_deref()
        .map(|p| protocol(entry, p))
        .transpose()?;
    let load = match raw.load.as_deref().map(str::trim) {
        None => None,
        Some(t) if t.eq_ignore_ascii_case("newest") => Some(TargetLoad::Newest),
        Some(t) => {
            let name = load_name(entry, "load", t)?;
            fits(&name).map_err(|p| err(entry, "load", p))?;
            if let (Some(want), Some(has)) = (protocol, name.protocol()) {
                if want != has {
                    return Err(err(
                        entry,
                        "load",
                        format!("{name} is a {has} load but protocol is {want}; name a {want} load or change protocol"),
                    ));
                }
            }
            Some(TargetLoad::Exact(name))
        }
    };
    let start_load = match raw.start_load.as_deref() {
        None => None,
        Some(t) => {
            let name = load_name(entry, "start_load", t)?;
            fits(&name).map_err(|p| err(entry, "start_load", p))?;
            Some(name)
        }
    };
    let sccp_server = raw
        .sccp_server
        .as_deref()
        .map(|s| server_name(entry, "sccp_server", s))
        .transpose()?;
    Ok(Layer {
        protocol,
        load,
        start_load,
        sccp_server,
    })
}

fn fits_models(models: &[Model]) -> impl Fn(&LoadName) -> Result<(), String> + '_ {
    move |name: &LoadName| {
        if models.iter().any(|m| name.fits(*m)) {
            Ok(())
        } else {
            let names: Vec<&str> = models.iter().map(|m| m.name()).collect();
            Err(format!(
                "{name} is a load for other phones, not for {}",
                names.join("/")
            ))
        }
    }
}

fn known_models() -> String {
    let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
    names.join(", ")
}

impl DesiredState {
    pub fn from_sections(s: Sections) -> Result<DesiredState, DesiredError> {
        let sip = s.sip.unwrap_or_default();
        let time = s.time.unwrap_or_default();
        let transport = match sip
            .transport
            .as_deref()
            .map(|t| t.trim().to_ascii_lowercase())
        {
            None => Transport::Udp,
            Some(t) if t == "udp" => Transport::Udp,
            Some(t) if t == "tcp" => Transport::Tcp,
            Some(t) => {
                return Err(err(
                    "[sip]",
                    "transport",
                    format!("{t:?} is not \"udp\" or \"tcp\""),
                ))
            }
        };
        if sip.port == Some(0) {
            return Err(err(
                "[sip]",
                "port",
                "0 is not a port; the usual SIP port is 5060",
            ));
        }
        let zone = time.zone.unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
        check_text("[time]", "zone", &zone, 64)?;
        if !cisco::render::time_zone_known(&zone) {
            tracing::warn!("[time] zone {zone:?} is not one phoneboot can translate for the phones; they will show UTC. Use a zone such as \"Europe/London\" or \"America/New_York\"");
        }
        let locale = |key: &str, v: Option<String>| -> Result<Option<String>, DesiredError> {
            if let Some(text) = &v {
                check_text("[sip]", key, text, 64)?;
            }
            Ok(v)
        };
        let site = Site {
            // Empty = phoneboot's own address, filled in by `serve`.
            sip_server: sip
                .server
                .as_deref()
                .map(|s| server_name("[sip]", "server", s))
                .transpose()?
                .unwrap_or_default(),
            sip_port: sip.port.unwrap_or(DEFAULT_SIP_PORT),
            transport,
            sccp_server: None,
            time_zone: zone,
            ntp_server: time
                .ntp
                .as_deref()
                .map(|s| server_name("[time]", "ntp", s))
                .transpose()?,
            syslog_server: None,
            user_locale: locale("user_locale", sip.user_locale)?,
            network_locale: locale("network_locale", sip.network_locale)?,
        };
        let context = sip.context.unwrap_or_else(|| DEFAULT_CONTEXT.to_owned());
        if context.is_empty()
            || !context
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(err(
                "[sip]",
                "context",
                format!("{context:?} is not an Asterisk context name (letters, digits, - _ .)"),
            ));
        }
        let codecs = sip
            .codecs
            .unwrap_or_else(|| vec!["ulaw".into(), "alaw".into(), "g729".into()]);
        for c in &codecs {
            if c.is_empty() || !c.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(
                    "[sip]",
                    "codecs",
                    format!("{c:?} is not a codec name such as \"ulaw\""),
                ));
            }
        }
        let all: Vec<Model> = Model::ALL.to_vec();
        let defaults = layer(
            "[defaults]",
            &s.defaults.unwrap_or_default(),
            &fits_models(&all),
        )?;

        let mut families = BTreeMap::new();
        for (name, raw) in s.families.unwrap_or_default() {
            let entry = format!("[families.{name}]");
            let family = Family::ALL
                .into_iter()
                .find(|f| f.as_str().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    let known: Vec<&str> = Family::ALL.iter().map(|f| f.as_str()).collect();
                    err(
                        &entry,
                        "name",
                        format!(
                            "{name:?} is not a phone family; known: {}",
                            known.join(", ")
                        ),
                    )
                })?;
            let models: Vec<Model> = family.models().collect();
            families.insert(family, layer(&entry, &raw, &fits_models(&models))?);
        }
        let mut models = BTreeMap::new();
        for (name, raw) in s.models.unwrap_or_default() {
            let entry = format!("[models.{name}]");
            let model = Model::from_name(&name).ok_or_else(|| {
                err(
                    &entry,
                    "name",
                    format!(
                        "{name:?} is not a phone model phoneboot knows; known: {}",
                        known_models()
                    ),
                )
            })?;
            models.insert(model, layer(&entry, &raw, &fits_models(&[model]))?);
        }
        let mut groups = BTreeMap::new();
        for (name, raw) in s.groups.unwrap_or_default() {
            let entry = format!("[groups.{name}]");
            groups.insert(name, layer(&entry, &raw, &fits_models(&all))?);
        }

        let mut phones = BTreeMap::new();
        for (i, raw) in s.phones.unwrap_or_default().into_iter().enumerate() {
            let mac: Mac = raw
                .mac
                .parse()
                .map_err(|e: cisco::MacError| err(&format!("phone[{i}]"), "mac", e.to_string()))?;
            let entry = format!("phone {mac}");
            if phones.contains_key(&mac) {
                return Err(err(
                    &entry,
                    "mac",
                    "appears twice; merge the two [[phone]] entries",
                ));
            }
            let model = raw
                .model
                .as_deref()
                .map(|m| {
                    Model::from_name(m).ok_or_else(|| {
                        err(
                            &entry,
                            "model",
                            format!(
                                "{m:?} is not a phone model phoneboot knows; known: {}",
                                known_models()
                            ),
                        )
                    })
                })
                .transpose()?;
            if let Some(g) = &raw.group {
                if !groups.contains_key(g) {
                    return Err(err(
                        &entry,
                        "group",
                        format!("{g:?} is not defined; add a [groups.{g}] section"),
                    ));
                }
            }
            let fit_models: Vec<Model> = model.map(|m| vec![m]).unwrap_or_else(|| all.clone());
            let own = layer(
                &entry,
                &file::Layer {
                    protocol: raw.protocol,
                    load: raw.load,
                    start_load: raw.start_load,
                    sccp_server: raw.sccp_server,
                },
                &fits_models(&fit_models),
            )?;
            if let Some(label) = &raw.label {
                check_text(&entry, "label", label, limits::MAX_LABEL)?;
            }
            if let Some(m) = model {
                let max = usize::from(m.max_sip_lines());
                if raw.lines.len() > max {
                    return Err(err(
                        &entry,
                        "lines",
                        format!(
                            "{} lines configured; a {} has {max}",
                            raw.lines.len(),
                            m.name()
                        ),
                    ));
                }
            }
            let mut lines = Vec::new();
            for (n, l) in raw.lines.into_iter().enumerate() {
                let key = |k: &str| format!("lines[{n}].{k}");
                let line = SipLine {
                    display: l.display.unwrap_or_else(|| l.extension.clone()),
                    auth: l.auth.unwrap_or_else(|| l.extension.clone()),
                    extension: l.extension,
                    password: l.password,
                    label: l.label,
                };
                if line.extension.is_empty()
                    || !line
                        .extension
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+*#._-".contains(c))
                {
                    return Err(err(
                        &entry,
                        &key("extension"),
                        format!(
                            "{:?} is not a SIP user name (letters, digits, + * # . _ -)",
                            line.extension
                        ),
                    ));
                }
                check_text(
                    &entry,
                    &key("extension"),
                    &line.extension,
                    limits::MAX_SIP_VALUE,
                )?;
                check_text(
                    &entry,
                    &key("display"),
                    &line.display,
                    limits::MAX_SIP_VALUE,
                )?;
                check_text(&entry, &key("auth"), &line.auth, limits::MAX_SIP_VALUE)?;
                if line.password.is_empty() {
                    return Err(err(
                        &entry,
                        &key("password"),
                        "is empty; Asterisk and the phone need a password",
                    ));
                }
                check_text(
                    &entry,
                    &key("password"),
                    &line.password,
                    limits::MAX_SIP_VALUE,
                )?;
                if let Some(label) = &line.label {
                    check_text(&entry, &key("label"), label, limits::MAX_SIP_VALUE)?;
                }
                lines.push(line);
            }
            let mut speed_dials = Vec::new();
            for (n, d) in raw.speed_dials.into_iter().enumerate() {
                check_text(
                    &entry,
                    &format!("speed_dials[{n}].number"),
                    &d.number,
                    limits::MAX_SIP_VALUE,
                )?;
                check_text(
                    &entry,
                    &format!("speed_dials[{n}].label"),
                    &d.label,
                    limits::MAX_SIP_VALUE,
                )?;
                speed_dials.push(SpeedDial {
                    number: d.number,
                    label: d.label,
                });
            }
            phones.insert(
                mac,
                PhoneEntry {
                    model,
                    group: raw.group,
                    layer: own,
                    label: raw.label,
                    lines,
                    speed_dials,
                },
            );
        }
        // Extensions are SIP identities: two phones registering as 101
        // would fight over it in Asterisk.
        let mut seen: BTreeMap<&str, Mac> = BTreeMap::new();
        for (mac, p) in &phones {
            for l in &p.lines {
                if let Some(other) = seen.insert(&l.extension, *mac) {
                    return Err(err(
                        &format!("phone {mac}"),
                        "lines",
                        format!("extension {} is also configured on phone {other}; each SIP line needs its own extension", l.extension),
                    ));
                }
            }
        }
        let ntp_configured = site.ntp_server.is_some();
        let provision = s.provision.unwrap_or_default();
        let mut policy = cisco::Policy::default();
        for (key, value, slot) in [
            ("settle", &provision.settle, &mut policy.settle),
            (
                "no_tftp_after",
                &provision.no_tftp_after,
                &mut policy.no_tftp_after,
            ),
            (
                "download_stall",
                &provision.download_stall,
                &mut policy.download_stall,
            ),
            (
                "reboot_timeout",
                &provision.reboot_timeout,
                &mut policy.reboot_timeout,
            ),
        ] {
            if let Some(text) = value {
                *slot = humantime::parse_duration(text).map_err(|e| {
                    err(
                        "[provision]",
                        key,
                        format!("{text:?} is not a duration like \"90s\" or \"5m\": {e}"),
                    )
                })?;
                if slot.is_zero() {
                    return Err(err("[provision]", key, "must be longer than zero"));
                }
            }
        }
        if let Some(n) = provision.max_attempts {
            if n == 0 {
                return Err(err("[provision]", "max_attempts", "must be at least 1"));
            }
            policy.max_attempts = n;
        }
        if let Some(n) = provision.max_resets {
            if n == 0 {
                return Err(err(
                    "[provision]",
                    "max_resets",
                    "must be at least 1 (set reboot = \"manual\" to send none)",
                ));
            }
            policy.max_resets = n;
        }
        if let Some(mode) = &provision.reboot {
            policy.reboot = match mode.to_ascii_lowercase().as_str() {
                "auto" => cisco::RebootMode::Auto,
                "manual" => cisco::RebootMode::Manual,
                _ => {
                    return Err(err(
                        "[provision]",
                        "reboot",
                        format!("{mode:?}: write \"auto\" (phoneboot reboots each phone into its next hop) or \"manual\""),
                    ))
                }
            };
        }
        let root_files = match provision.root_files.as_deref().map(str::to_ascii_lowercase) {
            None => RootFiles::default(),
            Some(m) if m == "serve" => RootFiles::Serve,
            Some(m) if m == "generated" => RootFiles::Generated,
            Some(m) => {
                return Err(err(
                    "[provision]",
                    "root_files",
                    format!(
                        "{m:?}: write \"serve\" (files in the TFTP root are served as they are, \
                         the engine watches) or \"generated\" (phoneboot's configs win)"
                    ),
                ))
            }
        };
        Ok(DesiredState {
            site,
            asterisk: AsteriskSettings { context, codecs },
            defaults,
            families,
            models,
            groups,
            phones,
            restrict_per_mac_files: provision.restrict_per_mac_files.unwrap_or(true),
            root_files,
            policy,
            ntp_configured,
        })
    }

    /// All layers for one phone, most specific first applied last.
    fn layers_for(&self, mac: Option<Mac>, model: Option<Model>) -> (Layer, Option<&PhoneEntry>) {
        let entry = mac.and_then(|m| self.phones.get(&m));
        let model = entry.and_then(|e| e.model).or(model);
        let mut merged = self.defaults.clone();
        if let Some(m) = model {
            if let Some(l) = self.families.get(&m.family()) {
                merged = l.over(&merged);
            }
            if let Some(l) = self.models.get(&m) {
                merged = l.over(&merged);
            }
        }
        if let Some(e) = entry {
            if let Some(g) = e.group.as_ref().and_then(|g| self.groups.get(g)) {
                merged = g.over(&merged);
            }
            merged = e.layer.over(&merged);
        }
        (merged, entry)
    }

    /// Where a phone should end up. `model` is what phoneboot learned (DHCP
    /// option 60, requested files); a configured model wins.
    pub fn intent(&self, mac: Mac, model: Option<Model>, fallback_protocol: Protocol) -> Intent {
        let (merged, entry) = self.layers_for(Some(mac), model);
        let model = entry.and_then(|e| e.model).or(model);
        let (protocol, target) = merged.goal(fallback_protocol);
        let settings = PhoneSettings {
            mac,
            model,
            protocol,
            label: entry.and_then(|e| e.label.clone()),
            lines: entry.map(|e| e.lines.clone()).unwrap_or_default(),
            speed_dials: entry.map(|e| e.speed_dials.clone()).unwrap_or_default(),
            sccp_server: merged.sccp_server,
        };
        Intent {
            protocol,
            target,
            start_load: merged.start_load,
            settings,
        }
    }

    /// Where phones of `model` without their own entry should end up (what
    /// `XMLDefault.cnf.xml` names for them).
    pub fn model_intent(&self, model: Model, fallback_protocol: Protocol) -> cisco::Intent {
        let (merged, _) = self.layers_for(None, Some(model));
        let (protocol, target) = merged.goal(fallback_protocol);
        cisco::Intent {
            protocol,
            target,
            start_load: merged.start_load,
        }
    }

    /// Every exact load the desired state names, with the entry naming it,
    /// for checking against the firmware library.
    pub fn named_loads(&self) -> Vec<(String, &LoadName)> {
        let mut layers: Vec<(String, &Layer)> = vec![("[defaults]".into(), &self.defaults)];
        layers.extend(
            self.families
                .iter()
                .map(|(f, l)| (format!("[families.{f}]"), l)),
        );
        layers.extend(
            self.models
                .iter()
                .map(|(m, l)| (format!("[models.{}]", m.name()), l)),
        );
        layers.extend(
            self.groups
                .iter()
                .map(|(g, l)| (format!("[groups.{g}]"), l)),
        );
        layers.extend(
            self.phones
                .iter()
                .map(|(mac, p)| (format!("phone {mac}"), &p.layer)),
        );
        layers
            .into_iter()
            .filter_map(|(entry, l)| match &l.load {
                Some(TargetLoad::Exact(name)) => Some((entry, name)),
                _ => None,
            })
            .collect()
    }

    /// Loads the desired state names that the library does not hold
    /// complete, each with the fix.
    pub fn check_library(&self, complete: &dyn Fn(&LoadName) -> bool) -> Vec<DesiredError> {
        self.named_loads()
            .into_iter()
            .filter(|(_, l)| !complete(l))
            .map(|(entry, l)| {
                err(
                    &entry,
                    "load",
                    format!("{l} is not in the firmware library (or is incomplete); import the bundle that contains {l}.loads with `phoneboot firmware import FILE`"),
                )
            })
            .collect()
    }

    /// The SIP server phones register with: the configured one, else
    /// `own_address` (the bench laptop usually runs Asterisk itself).
    pub fn sip_server_or(&self, own_address: &str) -> String {
        if self.site.sip_server.is_empty() {
            own_address.to_owned()
        } else {
            self.site.sip_server.clone()
        }
    }
}

#[cfg(test)]
mod tests;
