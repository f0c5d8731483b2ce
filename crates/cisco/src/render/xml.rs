//! XML configs: `XMLDefault.cnf.xml`, `SEP<MAC>.cnf.xml`, `dialplan.xml`.
//!
//! Element names and nesting follow reference §2.1–§2.3 (usecallmanager's
//! SEPMAC template, wazo's and chan-sccp's SCCP templates). Where sources
//! differ we write the smaller, more common form and say so below.

use std::io;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use super::{tz, xml_clean};
use crate::{Family, LoadName, Model, PhoneSettings, Protocol, Site, Transport};

type W = Writer<Vec<u8>>;

/// SCCP's TCP port, unless the server is written `host:port`.
pub const SCCP_PORT: u16 = 2000;

/// An SCCP server as configured: `host` (port 2000) or `host:port`.
fn sccp_member(server: &str) -> (&str, u16) {
    match server.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, port),
            Err(_) => (server, SCCP_PORT),
        },
        _ => (server, SCCP_PORT),
    }
}

/// One call manager member: host, SCCP port, SIP port (`None` for SCCP-only).
type Member<'a> = (&'a str, u16, Option<u16>);

/// `XMLDefault.cnf.xml`: what a phone without a per-MAC file gets.
///
/// `callManagerGroup` sits directly under `<Default>` (the seed's, CUCM's and
/// chan-sccp's form; provision_sccp wraps it in `devicePool`). When the site
/// has an SCCP server other than the SIP server it is member 0, so SCCP
/// phones register there first; the SIP server (`ethernetPhonePort` 2000 and
/// `sipPort`) follows.
/// One `loadInformationNNN` per model, in catalog order; a model listed
/// twice keeps its first load, and a load that does not fit its model is left
/// out (the phone would refuse it).
pub fn xml_default(site: &Site, loads: &[(Model, LoadName)]) -> String {
    let mut entries: Vec<&(Model, LoadName)> = Vec::new();
    for entry in loads {
        if entry.1.fits(entry.0) && !entries.iter().any(|e| e.0 == entry.0) {
            entries.push(entry);
        }
    }
    entries.sort_by_key(|e| e.0);
    document(|w| {
        parent(w, "Default", |w| {
            let mut servers: Vec<Member> = Vec::new();
            if let Some(sccp) = site.sccp_server.as_deref() {
                let (host, port) = sccp_member(sccp);
                if host != site.sip_server || port != SCCP_PORT {
                    servers.push((host, port, None));
                }
            }
            servers.push((site.sip_server.as_str(), SCCP_PORT, Some(site.sip_port)));
            call_manager_group(w, &servers)?;
            for (model, load) in entries {
                let name = format!("loadInformation{}", model.load_information_id());
                let model_text = model.xml_model();
                w.create_element(name.as_str())
                    .with_attribute(("model", model_text.as_str()))
                    .write_text_content(BytesText::new(&xml_clean(load.as_str())))?;
            }
            Ok(())
        })
    })
}

/// `SEP<MAC>.cnf.xml` for one phone.
///
/// The protocol rendered is the load's when `load` states one (a phone
/// walking an SCCP stepping stone on its way to SIP needs an SCCP config
/// until it gets there), else `phone.protocol`.
///
/// - SIP on a Java phone: `deviceProtocol`, `devicePool` (time, Asterisk as
///   the call manager with `sipPort`), `sipProfile` with one `featureID` 9
///   line per [`SipLine`](crate::SipLine) (`proxy` `USECALLMANAGER`, which
///   points the line at the call manager group) and one `featureID` 21 button
///   per speed dial after them, `loadInformation`, `vendorConfig`, locales
///   and `transportLayerProtocol` (1 TCP, 2 UDP).
/// - SIP on a 79x0: the same without `sipProfile`. Those loads read their
///   lines from `SIP<MAC>.cnf` and only need `loadInformation` here, so the
///   passwords stay in one file (reference §2.3, Provisioner issue 154).
/// - SCCP (and MGCP): `devicePool` pointing at the SCCP server on port 2000
///   (the phone's own `sccp_server`, else the site's, each `host` or
///   `host:port`; no call manager group when neither is set), `loadInformation`, `vendorConfig`, locales. Lines
///   live on the SCCP server.
///
/// `load` `None` leaves `loadInformation` out: the phone keeps what it runs.
/// Values are escaped, never truncated; validation enforces
/// [`limits`](crate::desired::limits).
pub fn sep_cnf_xml(
    site: &Site,
    phone: &PhoneSettings,
    model: Model,
    load: Option<&LoadName>,
) -> String {
    let protocol = match load.and_then(LoadName::protocol) {
        Some(p @ (Protocol::Sip | Protocol::Sccp)) => p,
        _ => phone.protocol,
    };
    let sip = protocol == Protocol::Sip;
    let with_profile = sip && model.family() != Family::Series79x0;
    document(|w| {
        parent(w, "device", |w| {
            text(w, "fullConfig", "true")?;
            if sip {
                text(w, "deviceProtocol", "SIP")?;
            }
            parent(w, "devicePool", |w| {
                date_time(w, site)?;
                if sip {
                    call_manager_group(
                        w,
                        &[(site.sip_server.as_str(), SCCP_PORT, Some(site.sip_port))],
                    )
                } else {
                    match phone.sccp_server.as_deref().or(site.sccp_server.as_deref()) {
                        Some(server) => {
                            let (host, port) = sccp_member(server);
                            call_manager_group(w, &[(host, port, None)])
                        }
                        None => Ok(()),
                    }
                }
            })?;
            if with_profile {
                sip_profile(w, site, phone)?;
            }
            if let Some(load) = load {
                text(w, "loadInformation", load.as_str())?;
            }
            vendor_config(w)?;
            locales(w, site)?;
            if sip {
                text(w, "deviceSecurityMode", "1")?;
                let transport = match site.transport {
                    Transport::Tcp => "1",
                    Transport::Udp => "2",
                };
                text(w, "transportLayerProtocol", transport)?;
            }
            Ok(())
        })
    })
}

/// `dialplan.xml`: dial whatever is typed after a 5 s pause (or at `#`/Dial).
///
/// Deliberately permissive: Asterisk's dialplan decides what a number means,
/// and a wrong match here would block numbers the site can reach.
pub fn dialplan_xml() -> String {
    document(|w| {
        parent(w, "DIALTEMPLATE", |w| {
            w.create_element("TEMPLATE")
                .with_attribute(("MATCH", "*"))
                .with_attribute(("Timeout", "5"))
                .write_empty()?;
            Ok(())
        })
    })
}

fn sip_profile(w: &mut W, site: &Site, phone: &PhoneSettings) -> io::Result<()> {
    let port = site.sip_port.to_string();
    parent(w, "sipProfile", |w| {
        parent(w, "sipProxies", |w| text(w, "registerWithProxy", "true"))?;
        if let Some(label) = &phone.label {
            text(w, "phoneLabel", label)?;
        }
        parent(w, "sipLines", |w| {
            let mut button: u32 = 0;
            for line in &phone.lines {
                button = button.saturating_add(1);
                let b = button.to_string();
                w.create_element("line")
                    .with_attribute(("button", b.as_str()))
                    .with_attribute(("lineIndex", b.as_str()))
                    .write_inner_content(|w| {
                        text(w, "featureID", "9")?;
                        text(
                            w,
                            "featureLabel",
                            line.label.as_deref().unwrap_or(&line.extension),
                        )?;
                        text(w, "proxy", "USECALLMANAGER")?;
                        text(w, "port", &port)?;
                        text(w, "name", &line.extension)?;
                        text(w, "displayName", &line.display)?;
                        text(w, "authName", &line.auth)?;
                        text(w, "authPassword", &line.password)
                    })?;
            }
            for dial in &phone.speed_dials {
                button = button.saturating_add(1);
                let b = button.to_string();
                w.create_element("line")
                    .with_attribute(("button", b.as_str()))
                    .write_inner_content(|w| {
                        text(w, "featureID", "21")?;
                        text(w, "featureLabel", &dial.label)?;
                        text(w, "speedDialNumber", &dial.number)
                    })?;
            }
            Ok(())
        })?;
        text(w, "voipControlPort", &port)?;
        text(w, "dialTemplate", "dialplan.xml")
    })
}

/// `dateTimeSetting` with the zone's Cisco name and, when set, the NTP server.
fn date_time(w: &mut W, site: &Site) -> io::Result<()> {
    parent(w, "dateTimeSetting", |w| {
        text(w, "timeZone", tz::cisco_zone(&site.time_zone).xml)?;
        if let Some(ntp) = &site.ntp_server {
            parent(w, "ntps", |w| {
                parent(w, "ntp", |w| {
                    text(w, "name", ntp)?;
                    text(w, "ntpMode", "Unicast")
                })
            })?;
        }
        Ok(())
    })
}

/// One `member` per server, priorities in order.
fn call_manager_group(w: &mut W, servers: &[Member]) -> io::Result<()> {
    parent(w, "callManagerGroup", |w| {
        parent(w, "members", |w| {
            for (priority, (host, sccp_port, sip_port)) in servers.iter().enumerate() {
                let priority = priority.to_string();
                w.create_element("member")
                    .with_attribute(("priority", priority.as_str()))
                    .write_inner_content(|w| {
                        parent(w, "callManager", |w| {
                            parent(w, "ports", |w| {
                                text(w, "ethernetPhonePort", &sccp_port.to_string())?;
                                if let Some(port) = sip_port {
                                    text(w, "sipPort", &port.to_string())?;
                                }
                                Ok(())
                            })?;
                            text(w, "processNodeName", host)
                        })
                    })?;
            }
            Ok(())
        })
    })
}

/// Settings a bench needs: the settings menu and the read-only web pages
/// stay reachable for diagnosis (`webAccess` 0 = enabled), SSH stays off.
fn vendor_config(w: &mut W) -> io::Result<()> {
    parent(w, "vendorConfig", |w| {
        text(w, "settingsAccess", "1")?;
        text(w, "webAccess", "0")?;
        text(w, "sshAccess", "1")
    })
}

fn locales(w: &mut W, site: &Site) -> io::Result<()> {
    if let Some(user) = &site.user_locale {
        parent(w, "userLocale", |w| {
            text(w, "name", user)?;
            text(w, "winCharSet", "utf-8")
        })?;
    }
    if let Some(network) = &site.network_locale {
        text(w, "networkLocale", network)?;
        parent(w, "networkLocaleInfo", |w| text(w, "name", network))?;
    }
    Ok(())
}

fn text(w: &mut W, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(&xml_clean(value)))?;
    Ok(())
}

fn parent(w: &mut W, name: &str, inner: impl FnOnce(&mut W) -> io::Result<()>) -> io::Result<()> {
    w.create_element(name).write_inner_content(inner)?;
    Ok(())
}

/// An XML declaration (UTF-8, which non-ASCII names need) and the body,
/// indented by two spaces, ending in a newline.
fn document(body: impl FnOnce(&mut W) -> io::Result<()>) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let written = w
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .and_then(|()| body(&mut w));
    // Writing to a Vec cannot fail; if it somehow did, what was written is
    // still the most useful thing to return.
    let _ = written;
    let mut out = String::from_utf8_lossy(&w.into_inner()).into_owned();
    out.push('\n');
    out
}
