//! A lenient parser for syslog datagrams: RFC 5424, RFC 3164 (BSD) and the
//! free-form text embedded devices send after a `<PRI>`.
//!
//! [`parse`] never fails and never panics: whatever arrives becomes a
//! [`Message`], with the fields it could recognise filled in and the rest
//! left in [`Message::text`]. Non-UTF-8 bytes are replaced (lossy), every
//! field is capped in length ([`MAX_TEXT`] and the RFC 5424 field limits), a
//! missing or broken PRI means facility user, severity notice (RFC 3164
//! §4.3.3), and [`Message::pri_valid`] says so, so callers can count it.
//!
//! What it never does: open sockets, read the clock, or interpret
//! timestamps: they are kept as the sender wrote them.
//!
//! ```
//! use syslog_msg::{parse, Format, Severity};
//!
//! let m = parse(b"<134>1 2026-11-26T05:10:00Z SEP001B54000001 sipd 42 REG [x@1 a=\"b\"] registered");
//! assert_eq!(m.format, Format::Rfc5424);
//! assert_eq!(m.facility, 16); // local0
//! assert_eq!(m.severity, Severity::Info);
//! assert_eq!(m.app_name.as_deref(), Some("sipd"));
//! assert_eq!(m.text, "registered");
//!
//! let m = parse(b"<11>Nov 26 05:10:00 phone1 cfgmgr[7]: no config file");
//! assert_eq!((m.format, m.severity), (Format::Rfc3164, Severity::Error));
//! assert_eq!(m.proc_id.as_deref(), Some("7"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

use std::fmt;

/// UDP port of syslog (RFC 5426).
pub const PORT: u16 = 514;

/// Longest message text kept, in characters; the rest is cut and
/// [`Message::truncated`] set.
pub const MAX_TEXT: usize = 2048;

/// RFC 5424 §6 field limits (also applied to RFC 3164 input).
const MAX_HOSTNAME: usize = 255;
const MAX_APP_NAME: usize = 48;
const MAX_PROC_ID: usize = 128;
const MAX_MSG_ID: usize = 32;
/// Structured data kept raw, up to this many characters.
const MAX_SD: usize = 1024;

/// Which layout the datagram had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`.
    Rfc5424,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`.
    Rfc3164,
    /// Anything else: a PRI (or not) followed by text.
    Other,
}

/// Severity (RFC 5424 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// 0: system is unusable.
    Emergency,
    /// 1: action must be taken immediately.
    Alert,
    /// 2: critical conditions.
    Critical,
    /// 3: error conditions.
    Error,
    /// 4: warning conditions.
    Warning,
    /// 5: normal but significant.
    Notice,
    /// 6: informational.
    Info,
    /// 7: debug-level.
    Debug,
}

impl Severity {
    /// From the low three bits of PRI.
    pub fn from_code(code: u8) -> Severity {
        match code & 7 {
            0 => Severity::Emergency,
            1 => Severity::Alert,
            2 => Severity::Critical,
            3 => Severity::Error,
            4 => Severity::Warning,
            5 => Severity::Notice,
            6 => Severity::Info,
            _ => Severity::Debug,
        }
    }

    /// The keyword syslog.conf uses.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Emergency => "emerg",
            Severity::Alert => "alert",
            Severity::Critical => "crit",
            Severity::Error => "err",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The keyword for a facility code (0–23), as syslog.conf spells it.
pub fn facility_name(code: u8) -> &'static str {
    const NAMES: [&str; 24] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "security",
        "console",
        "solaris-cron",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ];
    NAMES.get(usize::from(code)).copied().unwrap_or("unknown")
}

/// One syslog message, as far as it could be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Layout recognised.
    pub format: Format,
    /// 0–23; 1 (user) when the PRI was missing or broken.
    pub facility: u8,
    /// Notice when the PRI was missing or broken.
    pub severity: Severity,
    /// False when the PRI was missing or invalid and the defaults apply.
    pub pri_valid: bool,
    /// The timestamp as written (either RFC format), if any.
    pub timestamp: Option<String>,
    /// HOSTNAME.
    pub hostname: Option<String>,
    /// APP-NAME (RFC 5424) or TAG (RFC 3164).
    pub app_name: Option<String>,
    /// PROCID, or the `[pid]` after an RFC 3164 tag.
    pub proc_id: Option<String>,
    /// MSGID (RFC 5424 only).
    pub msg_id: Option<String>,
    /// STRUCTURED-DATA kept raw (`[id k="v"]…`), RFC 5424 only.
    pub structured_data: Option<String>,
    /// The free text, trimmed of trailing newlines and NULs.
    pub text: String,
    /// The text was longer than [`MAX_TEXT`] and was cut.
    pub truncated: bool,
}

/// Parses one datagram. Never fails: see the crate doc.
pub fn parse(datagram: &[u8]) -> Message {
    let whole = String::from_utf8_lossy(datagram);
    let input = whole.trim_end_matches(['\n', '\r', '\0']);
    let (pri, rest) = match split_pri(input) {
        Some((pri, rest)) => (Some(pri), rest),
        None => (None, input),
    };
    // RFC 3164 §4.3.3: no valid PRI → priority 13 (user.notice).
    let code = pri.unwrap_or(13);
    let mut m = Message {
        format: Format::Other,
        facility: code >> 3,
        severity: Severity::from_code(code),
        pri_valid: pri.is_some(),
        timestamp: None,
        hostname: None,
        app_name: None,
        proc_id: None,
        msg_id: None,
        structured_data: None,
        text: String::new(),
        truncated: false,
    };
    let text = if pri.is_none() {
        rest
    } else if let Some(after) = rfc5424_version(rest) {
        m.format = Format::Rfc5424;
        parse_5424(after, &mut m)
    } else {
        parse_3164(rest, &mut m)
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    m.truncated = text.chars().count() > MAX_TEXT;
    m.text = cap(text, MAX_TEXT);
    m
}

/// `<N>` with 1–3 digits and N ≤ 191 (RFC 5424 §6.2.1).
fn split_pri(s: &str) -> Option<(u8, &str)> {
    let inner = s.strip_prefix('<')?;
    let close = inner.find('>')?;
    let digits = inner.get(..close)?;
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u8 = digits.parse().ok().filter(|v| *v <= 191)?;
    Some((value, inner.get(close.saturating_add(1)..)?))
}

/// `1 ` (a VERSION of 1–2 digits, then a space) starts RFC 5424.
fn rfc5424_version(s: &str) -> Option<&str> {
    let (word, rest) = s.split_once(' ')?;
    let ok = !word.is_empty()
        && word.len() <= 2
        && word.bytes().all(|b| b.is_ascii_digit())
        && !word.starts_with('0');
    ok.then_some(rest)
}

/// Splits off one space-separated word (empty input gives an empty word).
fn word(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((w, rest)) => (w, rest),
        None => (s, ""),
    }
}

/// `-` is RFC 5424's NILVALUE.
fn field(w: &str, max: usize) -> Option<String> {
    (!w.is_empty() && w != "-").then(|| cap(w, max))
}

fn cap(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn parse_5424<'a>(s: &'a str, m: &mut Message) -> &'a str {
    let (ts, s) = word(s);
    let (host, s) = word(s);
    let (app, s) = word(s);
    let (pid, s) = word(s);
    let (msgid, s) = word(s);
    m.timestamp = field(ts, 64);
    m.hostname = field(host, MAX_HOSTNAME);
    m.app_name = field(app, MAX_APP_NAME);
    m.proc_id = field(pid, MAX_PROC_ID);
    m.msg_id = field(msgid, MAX_MSG_ID);
    if let Some(rest) = s.strip_prefix('-') {
        return rest.strip_prefix(' ').unwrap_or(rest);
    }
    let end = structured_data_end(s);
    let (sd, rest) = s.split_at(end);
    if !sd.is_empty() {
        m.structured_data = Some(cap(sd, MAX_SD));
    }
    rest.strip_prefix(' ').unwrap_or(rest)
}

/// Byte length of the `[..][..]` run at the start of `s`, honouring quoted
/// values with `\"`, `\]` and `\\` escapes (RFC 5424 §6.3.3). An unclosed
/// element runs to the end.
fn structured_data_end(s: &str) -> usize {
    let mut in_element = false;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if !in_element {
            if c == '[' {
                in_element = true;
                continue;
            }
            return i;
        }
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_quotes = !in_quotes;
        } else if c == ']' && !in_quotes {
            in_element = false;
        }
    }
    s.len()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Length of an RFC 3164 timestamp (`Nov 26 05:10:00`, `Nov  6 05:10:00`,
/// tolerating a one-digit day without padding and fractions of seconds) or
/// an ISO 8601 one (`2026-11-26T05:10:00Z`) at the start of `s`.
fn timestamp_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let is_digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    if is_digit(0) && is_digit(1) && is_digit(2) && is_digit(3) && b.get(4) == Some(&b'-') {
        let (w, _) = word(s);
        return (w.contains('T') && w.len() <= 64).then_some(w.len());
    }
    let month = s.get(..3)?;
    if !MONTHS.contains(&month) || b.get(3) != Some(&b' ') {
        return None;
    }
    // Day: " 6", "06", or "6".
    let mut i = 4;
    if b.get(i) == Some(&b' ') {
        i = 5;
    }
    let day_start = i;
    while is_digit(i) && i < day_start.saturating_add(2) {
        i = i.saturating_add(1);
    }
    if i == day_start || b.get(i) != Some(&b' ') {
        return None;
    }
    i = i.saturating_add(1);
    // hh:mm:ss
    let t = s.get(i..i.saturating_add(8))?.as_bytes();
    let shape = t.iter().enumerate().all(|(k, c)| {
        if k == 2 || k == 5 {
            *c == b':'
        } else {
            c.is_ascii_digit()
        }
    });
    if !shape {
        return None;
    }
    i = i.saturating_add(8);
    // Optional fraction (.123) and year (some devices add " 2026").
    if b.get(i) == Some(&b'.') {
        i = i.saturating_add(1);
        while is_digit(i) {
            i = i.saturating_add(1);
        }
    }
    Some(i)
}

/// `name:` or `name[pid]:` as RFC 3164 §4.1.3 TAG (lenient on length and
/// characters, but no spaces, and a name is required).
fn split_tag(w: &str) -> Option<(&str, Option<&str>)> {
    let body = w.strip_suffix(':')?;
    let (name, pid) = match body.split_once('[') {
        Some((name, rest)) => (name, Some(rest.strip_suffix(']')?)),
        None => (body, None),
    };
    (!name.is_empty() && !name.contains(':')).then_some((name, pid))
}

fn parse_3164<'a>(s: &'a str, m: &mut Message) -> &'a str {
    let Some(len) = timestamp_len(s) else {
        // Free text after a PRI; pick up a leading `tag:` if there is one.
        let (w, rest) = word(s);
        if let Some((name, pid)) = split_tag(w) {
            m.app_name = Some(cap(name, MAX_APP_NAME));
            m.proc_id = pid.map(|p| cap(p, MAX_PROC_ID));
            return rest;
        }
        return s;
    };
    m.format = Format::Rfc3164;
    let (ts, rest) = s.split_at(len);
    m.timestamp = Some(ts.to_owned());
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let (first, after_first) = word(rest);
    // No HOSTNAME when the first word already is the tag.
    if let Some((name, pid)) = split_tag(first) {
        m.app_name = Some(cap(name, MAX_APP_NAME));
        m.proc_id = pid.map(|p| cap(p, MAX_PROC_ID));
        return after_first;
    }
    m.hostname = field(first, MAX_HOSTNAME);
    let (second, after_second) = word(after_first);
    if let Some((name, pid)) = split_tag(second) {
        m.app_name = Some(cap(name, MAX_APP_NAME));
        m.proc_id = pid.map(|p| cap(p, MAX_PROC_ID));
        return after_second;
    }
    after_first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logger_rfc5424() {
        let m = parse(b"<13>1 2026-11-26T05:10:00.123456+00:00 host1 root 4242 - [timeQuality tzKnown=\"1\" isSynced=\"0\"] hello world\n");
        assert_eq!(m.format, Format::Rfc5424);
        assert_eq!((m.facility, m.severity), (1, Severity::Notice));
        assert!(m.pri_valid);
        assert_eq!(
            m.timestamp.as_deref(),
            Some("2026-11-26T05:10:00.123456+00:00")
        );
        assert_eq!(m.hostname.as_deref(), Some("host1"));
        assert_eq!(m.app_name.as_deref(), Some("root"));
        assert_eq!(m.proc_id.as_deref(), Some("4242"));
        assert_eq!(m.msg_id, None);
        assert_eq!(
            m.structured_data.as_deref(),
            Some("[timeQuality tzKnown=\"1\" isSynced=\"0\"]")
        );
        assert_eq!(m.text, "hello world");
    }

    #[test]
    fn rfc5424_nil_fields_escapes_and_bom() {
        let m = parse("<165>1 - - - - ID47 [a b=\"x\\]y\"][c d=\"]\"] \u{feff}text".as_bytes());
        assert_eq!(m.facility, 20);
        assert_eq!(m.severity, Severity::Notice);
        assert_eq!(m.timestamp, None);
        assert_eq!(m.msg_id.as_deref(), Some("ID47"));
        assert_eq!(
            m.structured_data.as_deref(),
            Some("[a b=\"x\\]y\"][c d=\"]\"]")
        );
        assert_eq!(m.text, "text");
        let m = parse(b"<14>1 - - - - - -");
        assert_eq!((m.format, m.text.as_str()), (Format::Rfc5424, ""));
    }

    #[test]
    fn logger_rfc3164() {
        let m = parse(b"<13>Nov 26 05:10:00 host1 root: hello world");
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.timestamp.as_deref(), Some("Nov 26 05:10:00"));
        assert_eq!(m.hostname.as_deref(), Some("host1"));
        assert_eq!(m.app_name.as_deref(), Some("root"));
        assert_eq!(m.text, "hello world");
        let m = parse(b"<30>Nov  6 05:10:00 host1 dhcpd[123]: lease");
        assert_eq!(m.timestamp.as_deref(), Some("Nov  6 05:10:00"));
        assert_eq!(m.proc_id.as_deref(), Some("123"));
        assert_eq!(m.facility, 3);
        assert_eq!(m.severity, Severity::Info);
    }

    #[test]
    fn rfc3164_without_hostname_or_tag() {
        let m = parse(b"<13>Nov 26 05:10:00 tag: only a tag");
        assert_eq!(m.hostname, None);
        assert_eq!(m.app_name.as_deref(), Some("tag"));
        assert_eq!(m.text, "only a tag");
        let m = parse(b"<13>Nov 26 05:10:00 host some text");
        assert_eq!(m.hostname.as_deref(), Some("host"));
        assert_eq!(m.app_name, None);
        assert_eq!(m.text, "some text");
    }

    #[test]
    fn pri_then_free_text() {
        let m = parse(b"<190>CFG-Update: TFTP load failed");
        assert_eq!(m.format, Format::Other);
        assert_eq!((m.facility, m.severity), (23, Severity::Info));
        assert_eq!(m.app_name.as_deref(), Some("CFG-Update"));
        assert_eq!(m.text, "TFTP load failed");
    }

    #[test]
    fn missing_or_broken_pri_defaults_to_user_notice() {
        for raw in [
            &b"plain text"[..],
            b"<>x",
            b"<1000>x",
            b"<192>x",
            b"<12",
            b"<a>x",
        ] {
            let m = parse(raw);
            assert!(!m.pri_valid, "{raw:?}");
            assert_eq!((m.facility, m.severity), (1, Severity::Notice), "{raw:?}");
            assert_eq!(m.text, String::from_utf8_lossy(raw));
        }
        let m = parse(b"<0>x");
        assert!(m.pri_valid);
        assert_eq!((m.facility, m.severity), (0, Severity::Emergency));
    }

    #[test]
    fn invalid_utf8_is_lossy_and_long_text_is_cut() {
        let m = parse(b"<13>caf\xe9 \xff\xfe");
        assert!(m.text.contains('\u{fffd}'));
        let mut long = b"<13>".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_TEXT + 10));
        let m = parse(&long);
        assert!(m.truncated);
        assert_eq!(m.text.len(), MAX_TEXT);
        assert!(!parse(b"<13>short").truncated);
    }

    #[test]
    fn names() {
        assert_eq!(facility_name(16), "local0");
        assert_eq!(facility_name(24), "unknown");
        assert_eq!(Severity::from_code(3).to_string(), "err");
    }
}
