//! Reaching phones between boots: the reboots the fleet asks for and the
//! operator's, NOTIFY for SIP phones whose config changed at run time, and
//! what the SCCP and NOTIFY drivers report back (as events).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use cisco::render::{self, GeneratedFile};
use cisco::{Channel, LoadName, Mac, Model, RebootCause};

use super::Engine;
use crate::events::{Event, NotifyAnswer, ResetResult, SccpReset, SccpSessionKind, SipNotify};
use crate::provision::control::{ControlError, NotifyKind, NotifyOrder};

/// What the engine knows about each phone's ways in.
#[derive(Debug, Default)]
pub(super) struct Reach {
    sessions: HashMap<Mac, SccpInfo>,
    notifies: HashMap<Mac, NotifyRecord>,
    /// Stamps of the configs each SIP phone last fetched from phoneboot.
    served: HashMap<Mac, Stamps>,
    /// The stamp each phone was last notified for, so an edit is sent once.
    notified: HashMap<Mac, String>,
}

#[derive(Debug, Default, Clone)]
struct Stamps {
    /// The `sync` of `SIP<MAC>.cnf` (79x0 SIP).
    cnf: Option<String>,
    /// A stamp of `SEP<MAC>.cnf.xml` (Java SIP).
    xml: Option<String>,
}

/// A phone's SCCP session with phoneboot, for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SccpInfo {
    pub peer: SocketAddr,
    pub device_name: String,
    pub device_type: u32,
    pub model: Option<Model>,
    pub protocol_version: Option<u8>,
    /// The load it reported (Register `loadInfo`, else an Alarm's `Load=`).
    pub load: Option<LoadName>,
    pub since_unix_ms: i64,
}

/// The last NOTIFY sent to a phone, for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRecord {
    pub event: &'static str,
    pub answer: NotifyAnswer,
    pub status: Option<u16>,
    pub tries: u32,
    pub cause: String,
    pub at_unix_ms: i64,
}

/// Why an operator's reboot cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebootRefused {
    #[error("phoneboot has not seen {0}")]
    Unknown(Mac),
    #[error(
        "{0} is not registered with phoneboot over SCCP and is not known to run a SIP load at a \
         known address, so nothing can reach it: power-cycle it (it will then register, if its \
         config names phoneboot's SCCP listener)"
    )]
    Unreachable(Mac),
}

impl Engine {
    /// Sends a reboot the fleet asked for. A failure comes back as an event.
    pub(super) fn send_reboot(&self, mac: Mac, channel: Channel, cause: &RebootCause, resets: u32) {
        let cause_text = match cause {
            RebootCause::Operator => cause.to_string(),
            RebootCause::NextHop { .. } => format!("{cause} (reboot {resets} for this hop)"),
        };
        let control = self.control();
        match channel {
            Channel::Sccp => {
                if let Err(e) = control.sccp_reset(mac, &cause_text) {
                    let peer = self.reach().sessions.get(&mac).map(|s| s.peer);
                    tracing::warn!("cannot reset {mac}: {e}");
                    self.bus.emit(Event::SccpReset(SccpReset {
                        mac,
                        peer,
                        reset_type: "reset",
                        result: match e {
                            ControlError::NoSession(_) => ResetResult::NoSession,
                            _ => ResetResult::Off,
                        },
                        cause: cause_text,
                    }));
                }
            }
            Channel::SipCheckSync | Channel::SipServiceControl => {
                let kind = if channel == Channel::SipCheckSync {
                    NotifyKind::CheckSync
                } else {
                    NotifyKind::ServiceControlReset
                };
                self.send_notify(mac, kind, cause_text);
            }
        }
    }

    fn send_notify(&self, mac: Mac, kind: NotifyKind, cause: String) {
        let Some(order) = self.notify_order(mac, kind, cause) else {
            self.fleet().reboot_failed(mac);
            return;
        };
        let control = self.control();
        if let Err(e) = control.sip_notify(order.clone()) {
            tracing::warn!("cannot notify {mac}: {e}");
            self.bus.emit(Event::SipNotify(SipNotify {
                mac,
                phone: order.phone,
                event: kind.event(),
                user: order.user,
                status: None,
                answer: NotifyAnswer::Error,
                tries: 0,
                cause: format!("{}; not sent: {e}", order.cause),
            }));
        }
    }

    fn notify_order(&self, mac: Mac, kind: NotifyKind, cause: String) -> Option<NotifyOrder> {
        let view = self.phone(mac)?;
        let ip = view.ip?;
        let intent = self.desired().intent(mac, view.model, self.fallback);
        // The Request-URI names the line the phone registered; a phone
        // without lines is addressed by its device name.
        let user = intent
            .settings
            .lines
            .first()
            .map(|l| l.extension.clone())
            .unwrap_or_else(|| format!("SEP{}", mac.file_form()));
        Some(NotifyOrder {
            mac,
            phone: SocketAddr::new(ip, self.sip_port),
            kind,
            user,
            cause,
        })
    }

    /// The operator's reboot: through the phone's SCCP session, else NOTIFY.
    pub fn reboot(&self, mac: Mac) -> Result<Channel, RebootRefused> {
        let mut fleet = self.fleet();
        if fleet.phone(mac).is_none() {
            return Err(RebootRefused::Unknown(mac));
        }
        let channel = fleet
            .request_reboot(Instant::now(), mac)
            .ok_or(RebootRefused::Unreachable(mac))?;
        self.drain(fleet);
        Ok(channel)
    }

    /// The phone's SCCP session with phoneboot, if it has one.
    pub fn sccp_session(&self, mac: Mac) -> Option<SccpInfo> {
        self.reach().sessions.get(&mac).cloned()
    }

    /// Phones registered with phoneboot over SCCP now.
    pub fn sccp_sessions(&self) -> usize {
        self.reach().sessions.len()
    }

    /// The last NOTIFY sent to the phone, and its answer.
    pub fn last_notify(&self, mac: Mac) -> Option<NotifyRecord> {
        self.reach().notifies.get(&mac).cloned()
    }

    fn reach(&self) -> std::sync::MutexGuard<'_, Reach> {
        self.reach.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows what the SCCP and NOTIFY drivers report.
    pub(super) fn observe_control(&self, event: &Event) {
        let now = Instant::now();
        match event {
            Event::SccpRegister(r) if r.accepted => {
                let Some(mac) = r.mac else { return };
                self.reach().sessions.insert(
                    mac,
                    SccpInfo {
                        peer: r.peer,
                        device_name: r.device_name.clone(),
                        device_type: r.device_type,
                        model: r.model,
                        protocol_version: r.protocol_version,
                        load: r.load.clone(),
                        since_unix_ms: self.unix_ms(now),
                    },
                );
                let mut fleet = self.fleet();
                fleet.on_sccp_registered(now, mac, r.peer.ip(), r.model, r.load.clone());
                self.drain(fleet);
            }
            Event::SccpSession(s) => {
                let Some(mac) = s.mac else { return };
                match s.kind {
                    SccpSessionKind::Alarm => {
                        let Some(load) = s.load.clone() else { return };
                        if let Some(info) = self.reach().sessions.get_mut(&mac) {
                            info.load = Some(load.clone());
                        }
                        let mut fleet = self.fleet();
                        fleet.on_reported_load(now, mac, load, "its SCCP Alarm says Load=");
                        self.drain(fleet);
                    }
                    SccpSessionKind::Closed => {
                        {
                            let mut reach = self.reach();
                            // A newer session of the same phone stays.
                            if reach.sessions.get(&mac).is_some_and(|i| i.peer != s.peer) {
                                return;
                            }
                            reach.sessions.remove(&mac);
                        }
                        let mut fleet = self.fleet();
                        fleet.on_sccp_closed(now, mac);
                        self.drain(fleet);
                    }
                }
            }
            Event::SccpReset(r) if r.result != ResetResult::Sent => {
                let mut fleet = self.fleet();
                fleet.reboot_failed(r.mac);
                self.drain(fleet);
            }
            Event::SipNotify(n) => {
                self.reach().notifies.insert(
                    n.mac,
                    NotifyRecord {
                        event: n.event,
                        answer: n.answer,
                        status: n.status,
                        tries: n.tries,
                        cause: n.cause.clone(),
                        at_unix_ms: self.unix_ms(now),
                    },
                );
                if n.answer != NotifyAnswer::Ok {
                    let mut fleet = self.fleet();
                    fleet.reboot_failed(n.mac);
                    self.drain(fleet);
                }
            }
            _ => {}
        }
    }

    /// A phone fetched one of its configs: remember its stamp.
    pub(super) fn served(&self, mac: Mac, file: &GeneratedFile, text: &str) {
        let mut reach = self.reach();
        let stamps = reach.served.entry(mac).or_default();
        match file {
            GeneratedFile::SipMacCnf(_) => stamps.cnf = render::sync_of(text).map(str::to_owned),
            GeneratedFile::SepCnfXml(_) => stamps.xml = Some(render::sync_stamp(text)),
            _ => {}
        }
    }

    /// After a run-time edit: NOTIFY every SIP phone whose config now
    /// differs from the one it last fetched (once per new config).
    pub(super) fn notify_changed_configs(&self) {
        let phones = self.phones();
        for view in phones {
            let kind = match view.channel {
                Some(Channel::SipCheckSync) => NotifyKind::CheckSync,
                Some(Channel::SipServiceControl) => NotifyKind::ServiceControlReset,
                _ => continue,
            };
            if view.reboot.is_some() || view.progress.is_some() {
                continue;
            }
            let Some(ip) = view.ip else { continue };
            let (file, served) = {
                let reach = self.reach();
                let Some(stamps) = reach.served.get(&view.mac) else {
                    continue;
                };
                match kind {
                    NotifyKind::CheckSync => {
                        (GeneratedFile::SipMacCnf(view.mac), stamps.cnf.clone())
                    }
                    NotifyKind::ServiceControlReset => {
                        (GeneratedFile::SepCnfXml(view.mac), stamps.xml.clone())
                    }
                }
            };
            let Some(served) = served else { continue };
            let Ok(text) = self.render_text(None, ip, &file) else {
                continue;
            };
            let now = match kind {
                NotifyKind::CheckSync => render::sync_of(&text).map(str::to_owned),
                NotifyKind::ServiceControlReset => Some(render::sync_stamp(&text)),
            };
            let Some(now) = now else { continue };
            if now == served {
                continue;
            }
            {
                let mut reach = self.reach();
                if reach.notified.get(&view.mac) == Some(&now) {
                    continue;
                }
                reach.notified.insert(view.mac, now);
            }
            self.send_notify(view.mac, kind, format!("its config changed ({file})"));
        }
    }

    /// The SYNC for `syncinfo.xml`: of the `SIP<MAC>.cnf` the phone at
    /// `client` would get now.
    pub(super) fn sync_for(&self, client: IpAddr) -> Option<String> {
        let mac = self.fleet().mac_for_ip(client)?;
        let text = self
            .render_text(None, client, &GeneratedFile::SipMacCnf(mac))
            .ok()?;
        render::sync_of(&text).map(str::to_owned)
    }
}
