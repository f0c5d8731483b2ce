//! The server side of one SCCP TCP connection, with no I/O.
//!
//! After creating a [`Session`] and after every `handle_*` call or command,
//! the driver drains [`Session::poll_transmit`] (writing every byte to the
//! socket), then drains [`Session::poll_event`] and acts on each event,
//! then sleeps until [`Session::poll_timeout`] to call
//! [`Session::handle_timeout`]. Once [`Session::is_closed`] is true and the
//! last bytes are written, the driver shuts the socket and drops the
//! session.
//!
//! Everything the driver has to act on arrives as an [`Event`]:
//! - [`Event::RegisterRequest`]: decide with [`Session::accept`] or
//!   [`Session::reject`]. Nothing is sent to the phone until then; a driver
//!   that never decides sees the session close on the idle timeout.
//! - [`Event::Registered`]: the phone is ours; [`Session::reset`] may now
//!   send it a Reset.
//! - [`Event::Alarm`]: a status line, often naming the running load.
//! - [`Event::Closed`]: exactly once, as the last event.
//!
//! Handled without the driver: KeepAlive is answered in every state (as
//! chan-sccp and chan_skinny do, even before registration), Unregister is
//! acknowledged and closes, CapabilitiesRes is counted, and the phone's
//! other registration requests (TimeDateReq, ButtonTemplateReq, ...) are
//! counted and left unanswered. Ids with no name, and server messages a
//! phone should never send, count towards `Config::max_unknown`.
//!
//! A second Register on the same connection is ignored and counted
//! (`Stats::repeated_registers`): a phone that restarts opens a new TCP
//! connection, and answering twice could hand one connection two device
//! names.

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::device::DeviceType;
use crate::protocol::ProtocolVersion;
use crate::wire::{
    Decoder, Direction, Frame, Message, Register, RegisterAck, ResetType, DATE_TEMPLATE_LEN,
};
use crate::{CommandError, ConfigError, FrameError};

/// Session settings. Plain data; [`Config::validate`] checks it and
/// [`Session::new`] refuses a config that fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// KeepAlive interval told to the phone in RegisterAck (whole seconds).
    pub keepalive: Duration,
    /// RegisterAck's secondary keepalive (whole seconds), used by phones
    /// towards a backup server.
    pub secondary_keepalive: Duration,
    /// Close when nothing arrives for this long; more than `keepalive`, so
    /// a phone that keeps its interval is never cut off.
    pub idle_timeout: Duration,
    /// RegisterAck's date format, e.g. `M/D/Y` or `D.M.Y` (at most 5 characters).
    pub date_template: String,
    /// The highest version to agree to.
    pub our_max_version: ProtocolVersion,
    /// Unnamed or misdirected messages tolerated before closing.
    pub max_unknown: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            keepalive: Duration::from_secs(30),
            secondary_keepalive: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            date_template: "M/D/Y".to_owned(),
            our_max_version: ProtocolVersion::V17,
            max_unknown: 32,
        }
    }
}

fn whole_seconds(field: &'static str, d: Duration) -> Result<u32, ConfigError> {
    match u32::try_from(d.as_secs()) {
        Ok(secs) if secs > 0 && d.subsec_nanos() == 0 => Ok(secs),
        _ => Err(ConfigError::NotWholeSeconds { field, value: d }),
    }
}

impl Config {
    /// Checks that RegisterAck can carry the intervals and the date
    /// template, and that the idle timeout outlasts a keepalive interval.
    pub fn validate(&self) -> Result<(), ConfigError> {
        whole_seconds("keepalive", self.keepalive)?;
        whole_seconds("secondary_keepalive", self.secondary_keepalive)?;
        if self.idle_timeout <= self.keepalive {
            return Err(ConfigError::IdleTimeoutTooShort {
                idle_timeout: self.idle_timeout,
                keepalive: self.keepalive,
            });
        }
        let t = &self.date_template;
        if t.is_empty()
            || t.len() >= DATE_TEMPLATE_LEN
            || !t.bytes().all(|b| (0x21..0x7f).contains(&b))
        {
            return Err(ConfigError::DateTemplate(t.clone()));
        }
        Ok(())
    }
}

/// Where the conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connected; no Register yet.
    AwaitingRegister,
    /// A Register was reported; the driver must accept or reject it.
    AwaitingDecision,
    /// Accepted: RegisterAck and CapabilitiesReq are sent.
    Registered,
    Closed,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AwaitingRegister => "awaiting register",
            State::AwaitingDecision => "awaiting the driver's decision",
            State::Registered => "registered",
            State::Closed => "closed",
        })
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    #[error("the phone unregistered")]
    Unregistered,
    #[error("nothing received within the idle timeout")]
    IdleTimeout,
    #[error("bad frame: {0}")]
    BadFrame(FrameError),
    #[error("{count} unknown or misdirected messages")]
    TooManyUnknown { count: u64 },
    #[error("the registration was rejected")]
    Rejected,
    #[error("the phone closed the connection")]
    PeerClosed,
    #[error("closed by the server")]
    Aborted,
}

/// Something the driver must act on or record. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Answer with [`Session::accept`] or [`Session::reject`].
    RegisterRequest {
        device_name: String,
        /// From a `SEP<MAC>` device name; `None` for any other name.
        mac: Option<[u8; 6]>,
        device_type: DeviceType,
        /// The highest version the phone speaks.
        protocol_version: u8,
        /// The running load, when the Register carries it (long form).
        load: Option<String>,
        /// The address the phone reports; compare with the socket's peer.
        station_ip: Ipv4Addr,
    },
    Registered {
        device_name: String,
        mac: Option<[u8; 6]>,
        device_type: DeviceType,
        protocol: ProtocolVersion,
        load: Option<String>,
    },
    Alarm {
        severity: u32,
        text: String,
        /// See [`crate::wire::load_from_alarm_text`].
        load: Option<String>,
    },
    /// Always the last event.
    Closed { why: CloseReason },
}

/// Counters for the session's log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub keepalives: u64,
    pub alarms: u64,
    pub capabilities: u64,
    /// Named phone messages the core does not answer (TimeDateReq, ...).
    pub ignored: u64,
    /// Unnamed ids and server messages received from the phone.
    pub unknown: u64,
    pub repeated_registers: u64,
    pub resets: u64,
    /// Messages not sent because the negotiated version lacks them; any
    /// value but 0 is a bug in this crate.
    pub suppressed: u64,
}

/// One phone connection, server side. See the module docs for the driving
/// order.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    decoder: Decoder,
    out: Vec<u8>,
    events: VecDeque<Event>,
    idle_deadline: Option<Instant>,
    /// The Register the driver is deciding on, then the registered one.
    register: Option<Register>,
    negotiated: Option<ProtocolVersion>,
    close_reason: Option<CloseReason>,
    stats: Stats,
}

impl Session {
    /// A session for a connection accepted at `now`.
    pub fn new(now: Instant, config: Config) -> Result<Session, ConfigError> {
        config.validate()?;
        Ok(Session {
            idle_deadline: Some(now + config.idle_timeout),
            config,
            state: State::AwaitingRegister,
            decoder: Decoder::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            register: None,
            negotiated: None,
            close_reason: None,
            stats: Stats::default(),
        })
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// The agreed version, once a Register is accepted.
    pub fn negotiated(&self) -> Option<ProtocolVersion> {
        self.negotiated
    }

    /// The device name of the Register being decided on or accepted.
    pub fn device_name(&self) -> Option<&str> {
        self.register.as_ref().map(|r| r.device_name.as_str())
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Feeds bytes read from the socket, in any chunking.
    pub fn handle_input(&mut self, now: Instant, mut bytes: &[u8]) {
        if self.is_closed() || bytes.is_empty() {
            return;
        }
        self.stats.bytes_in += bytes.len() as u64;
        self.idle_deadline = Some(now + self.config.idle_timeout);
        while !bytes.is_empty() && !self.is_closed() {
            match self.decoder.decode(&mut bytes) {
                Ok(Some(frame)) => self.on_frame(frame),
                Ok(None) => break,
                Err(e) => self.close(CloseReason::BadFrame(e)),
            }
        }
    }

    /// The phone closed its side (read returned 0).
    pub fn handle_eof(&mut self, _now: Instant) {
        if !self.is_closed() {
            self.close(CloseReason::PeerClosed);
        }
    }

    /// Runs the idle timer. Calling it early or twice does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if self.idle_deadline.is_some_and(|d| now >= d) {
            self.close(CloseReason::IdleTimeout);
        }
    }

    /// Accepts the Register reported by [`Event::RegisterRequest`]: sends
    /// RegisterAck and CapabilitiesReq, then reports [`Event::Registered`].
    pub fn accept(&mut self, now: Instant) -> Result<(), CommandError> {
        self.handle_timeout(now);
        self.expect(State::AwaitingDecision)?;
        let Some(register) = self.register.as_ref() else {
            return Err(CommandError::NotAwaitingDecision { state: self.state });
        };
        let version =
            ProtocolVersion::negotiate(register.protocol_version, self.config.our_max_version);
        let registered = Event::Registered {
            device_name: register.device_name.clone(),
            mac: register.mac(),
            device_type: register.device_type,
            protocol: version,
            load: register.load_info.clone(),
        };
        self.negotiated = Some(version);
        let ack = RegisterAck::new(
            secs(self.config.keepalive),
            &self.config.date_template,
            secs(self.config.secondary_keepalive),
            version,
        );
        self.send(Message::RegisterAck(ack));
        self.send(Message::CapabilitiesReq);
        self.state = State::Registered;
        self.events.push_back(registered);
        Ok(())
    }

    /// Refuses the Register: sends RegisterReject with `text` (shown on the
    /// phone; at most 31 ASCII characters) and closes. Phones answer a
    /// reject by resetting and trying again.
    pub fn reject(&mut self, now: Instant, text: &str) -> Result<(), CommandError> {
        self.handle_timeout(now);
        self.expect(State::AwaitingDecision)?;
        self.send(Message::RegisterReject {
            text: text.to_owned(),
        });
        self.close(CloseReason::Rejected);
        Ok(())
    }

    /// Sends Reset; only to a registered phone, which is the only state in
    /// which phones are known to act on it. [`ResetType::Reset`] is the
    /// full reboot that makes a phone fetch its config and load again.
    pub fn reset(&mut self, now: Instant, kind: ResetType) -> Result<(), CommandError> {
        self.handle_timeout(now);
        match self.state {
            State::Registered => {}
            State::Closed => return Err(CommandError::Closed),
            state => return Err(CommandError::NotRegistered { state }),
        }
        self.send(Message::Reset(kind));
        self.stats.resets += 1;
        Ok(())
    }

    /// Ends the session from the server side (shutdown). Sends nothing.
    pub fn close_now(&mut self, _now: Instant) {
        if !self.is_closed() {
            self.close(CloseReason::Aborted);
        }
    }

    /// Moves every pending byte into `out` (cleared first). Returns false
    /// when there is nothing to write.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.out.is_empty() {
            return false;
        }
        std::mem::swap(out, &mut self.out);
        self.stats.bytes_out += out.len() as u64;
        true
    }

    /// When [`Session::handle_timeout`] next needs to run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            None
        } else {
            self.idle_deadline
        }
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn expect(&self, want: State) -> Result<(), CommandError> {
        match self.state {
            s if s == want => Ok(()),
            State::Closed => Err(CommandError::Closed),
            state => Err(CommandError::NotAwaitingDecision { state }),
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        self.stats.frames_in += 1;
        match frame.message {
            Message::KeepAlive => {
                self.stats.keepalives += 1;
                self.send(Message::KeepAliveAck);
            }
            Message::Register(register) => self.on_register(register),
            Message::Alarm(alarm) => {
                self.stats.alarms += 1;
                let load = alarm.load();
                self.events.push_back(Event::Alarm {
                    severity: alarm.severity,
                    text: alarm.text,
                    load,
                });
            }
            Message::CapabilitiesRes(_) => self.stats.capabilities += 1,
            Message::Unregister => {
                self.send(Message::UnregisterAck { status: 0 });
                self.close(CloseReason::Unregistered);
            }
            Message::Unknown { id, .. } if id.direction() == Some(Direction::PhoneToServer) => {
                self.stats.ignored += 1;
            }
            // Unnamed ids, and server messages a phone has no business sending.
            Message::Unknown { .. }
            | Message::KeepAliveAck
            | Message::RegisterAck(_)
            | Message::CapabilitiesReq
            | Message::RegisterReject { .. }
            | Message::Reset(_)
            | Message::UnregisterAck { .. } => {
                self.stats.unknown += 1;
                if self.stats.unknown > u64::from(self.config.max_unknown) {
                    self.close(CloseReason::TooManyUnknown {
                        count: self.stats.unknown,
                    });
                }
            }
        }
    }

    fn on_register(&mut self, register: Register) {
        if self.state != State::AwaitingRegister {
            self.stats.repeated_registers += 1;
            return;
        }
        self.events.push_back(Event::RegisterRequest {
            device_name: register.device_name.clone(),
            mac: register.mac(),
            device_type: register.device_type,
            protocol_version: register.protocol_version,
            load: register.load_info.clone(),
            station_ip: register.station_ip,
        });
        self.register = Some(register);
        self.state = State::AwaitingDecision;
    }

    /// The one way out: refuses any message the phone's version lacks.
    fn send(&mut self, message: Message) {
        let id = message.id();
        let version = self.negotiated.unwrap_or(ProtocolVersion::LOWEST);
        if !version.knows(id) {
            self.stats.suppressed += 1;
            return;
        }
        // Before a version is agreed the phone may speak anything from 0
        // up, and 0 is what chan-sccp sends then.
        let header = self.negotiated.map_or(0, |v| v.header_version(id));
        match Frame::new(header, message).emit_vec(&mut self.out) {
            Ok(()) => self.stats.frames_out += 1,
            Err(_) => self.stats.suppressed += 1,
        }
    }

    fn close(&mut self, why: CloseReason) {
        self.state = State::Closed;
        self.close_reason = Some(why);
        self.idle_deadline = None;
        self.events.push_back(Event::Closed { why });
    }
}

/// Config::validate has checked the range.
fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
