//! SIP/2.0 messages as carried in one UDP datagram (RFC 3261 §7, §18.3).
//!
//! [`Message::parse`] is strict and bounded: CRLF line ends only, at most
//! [`MAX_HEADERS`] header fields of at most [`MAX_LINE`] bytes, UTF-8 header
//! text without control characters, the headers every message needs (Via,
//! From, To, Call-ID, CSeq) present and well-formed, and a Content-Length
//! that fits the datagram. Everything it refuses gets a [`ParseError`] that
//! names the line. It never panics.
//!
//! [`Message::write`] runs the parser's own rules over the fields before it
//! writes, so whatever it emits parses back to the same [`Message`]; that is
//! what lets the fuzz entry check parse → write → parse.
//!
//! Header names keep their spelling from the wire (compact `v` stays `v`);
//! lookups compare them case-insensitively and treat compact forms as their
//! long names.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// UDP payloads are at most this long; anything longer is not one datagram.
pub const MAX_DATAGRAM: usize = 65_535;
/// More header fields than this is a flood, not a phone.
pub const MAX_HEADERS: usize = 64;
/// Longest start line or header field (after unfolding), in bytes.
pub const MAX_LINE: usize = 4096;

/// Why a datagram is not a SIP message this crate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("datagram is {0} bytes; one UDP datagram holds at most 65535")]
    TooLarge(usize),
    #[error("datagram is empty or only CRLF keep-alives")]
    Empty,
    #[error("no blank line (CRLF CRLF) ends the header section")]
    NoHeaderEnd,
    #[error("line {line} is longer than {MAX_LINE} bytes")]
    LineTooLong { line: usize },
    #[error("line {line} is not valid UTF-8")]
    NotUtf8 { line: usize },
    #[error("line {line} holds a control character or a bare CR or LF")]
    ControlCharacter { line: usize },
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    #[error("SIP version {0:?} is not spoken here; only SIP/2.0")]
    Version(String),
    #[error("status code {0:?} is not three digits from 100 to 699")]
    StatusCode(String),
    #[error("line {line} is not \"Name: value\" with a token for a name")]
    HeaderSyntax { line: usize },
    #[error("missing or empty {0} header")]
    MissingHeader(&'static str),
    #[error("{0} header appears more than once")]
    DuplicateHeader(&'static str),
    #[error("Content-Length {0:?} is not a decimal byte count")]
    ContentLength(String),
    #[error("Content-Length says {declared} bytes but only {available} follow the headers")]
    BodyTruncated { declared: u64, available: usize },
    #[error("CSeq {0:?} is not \"<number below 2^31> <method>\"")]
    CSeq(String),
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMethod { method: String, cseq: String },
    #[error("Call-ID {0:?} holds whitespace")]
    CallId(String),
    #[error("top Via {0:?} is not \"SIP/2.0/<transport> host[:port];params\"")]
    Via(String),
}

/// Why [`Message::write`] refused to emit a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The message breaks a rule of the parser; the error names the line as
    /// it would be written.
    #[error("the parser would refuse it: {0}")]
    Refused(#[from] ParseError),
    #[error("Content-Length says {declared} but the body is {body} bytes")]
    ContentLength { declared: u64, body: usize },
    #[error("a field would read back differently (line {line}): values must not start or end with whitespace and methods must use their named variant")]
    NotRoundTrip { line: usize },
}

/// A SIP method. Names are case-sensitive (RFC 3261 §7.1); `Other` never
/// holds one of the names listed here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Notify,
    Subscribe,
    Refer,
    Info,
    Update,
    Message,
    Prack,
    Publish,
    Other(String),
}

impl Method {
    const NAMED: [(Method, &'static str); 14] = [
        (Method::Invite, "INVITE"),
        (Method::Ack, "ACK"),
        (Method::Bye, "BYE"),
        (Method::Cancel, "CANCEL"),
        (Method::Register, "REGISTER"),
        (Method::Options, "OPTIONS"),
        (Method::Notify, "NOTIFY"),
        (Method::Subscribe, "SUBSCRIBE"),
        (Method::Refer, "REFER"),
        (Method::Info, "INFO"),
        (Method::Update, "UPDATE"),
        (Method::Message, "MESSAGE"),
        (Method::Prack, "PRACK"),
        (Method::Publish, "PUBLISH"),
    ];

    /// The method a token names; `None` when `token` is not a token.
    pub fn from_token(token: &str) -> Option<Method> {
        if !is_token(token) {
            return None;
        }
        Some(
            Self::NAMED
                .iter()
                .find(|(_, name)| *name == token)
                .map(|(m, _)| m.clone())
                .unwrap_or_else(|| Method::Other(token.to_owned())),
        )
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Other(s) => s,
            named => Self::NAMED
                .iter()
                .find(|(m, _)| m == named)
                .map(|(_, name)| *name)
                .unwrap_or_default(),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first line: a request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { status: u16, reason: String },
}

impl fmt::Display for StartLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartLine::Request { method, uri } => write!(f, "{method} {uri} SIP/2.0"),
            StartLine::Response { status, reason } => write!(f, "SIP/2.0 {status:03} {reason}"),
        }
    }
}

/// One header field, name as spelled on the wire, value trimmed and
/// unfolded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub number: u32,
    pub method: Method,
}

impl CSeq {
    /// RFC 3261 §8.1.1.5: the number is below 2^31.
    pub fn parse(value: &str) -> Option<CSeq> {
        let (number, method) = value.split_once([' ', '\t'])?;
        let method = method.trim_start_matches([' ', '\t']);
        if number.is_empty() || number.len() > 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number: u32 = number.parse().ok()?;
        if number >= 1 << 31 {
            return None;
        }
        Some(CSeq {
            number,
            method: Method::from_token(method)?,
        })
    }
}

/// The first element of the top Via header, borrowed from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// `UDP`, `TCP`, … as written.
    pub transport: &'a str,
    /// Host of sent-by; IPv6 without its brackets.
    pub host: &'a str,
    pub port: Option<u16>,
    /// Everything before the first `;`, as written.
    head: &'a str,
    /// Everything from the first `;`, as written.
    params: &'a str,
}

impl<'a> Via<'a> {
    /// Parses one via-parm (`SIP/2.0/UDP host:port;params`).
    pub fn parse(element: &'a str) -> Option<Via<'a>> {
        let element = element.trim_matches([' ', '\t']);
        let (head, params) = match element.find(';') {
            Some(i) => element.split_at(i),
            None => (element, ""),
        };
        let mut parts = head.splitn(3, '/');
        let name = parts.next()?.trim_matches([' ', '\t']);
        let version = parts.next()?.trim_matches([' ', '\t']);
        let rest = parts.next()?.trim_start_matches([' ', '\t']);
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return None;
        }
        let (transport, sent_by) = rest.split_once([' ', '\t'])?;
        if !is_token(transport) {
            return None;
        }
        let sent_by = sent_by.trim_matches([' ', '\t']);
        let (host, port) = if let Some(v6) = sent_by.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return None;
            }
            (host, after)
        } else {
            match sent_by.find(':') {
                Some(i) => sent_by.split_at(i),
                None => (sent_by, ""),
            }
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
        {
            return None;
        }
        let port = match port.strip_prefix(':') {
            Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().ok()?)
            }
            Some(_) => return None,
            None if port.is_empty() => None,
            None => return None,
        };
        for param in params.split(';').skip(1) {
            let name = param.split('=').next().unwrap_or_default();
            if !is_token(name.trim_matches([' ', '\t'])) {
                return None;
            }
        }
        Some(Via {
            transport,
            host,
            port,
            head,
            params,
        })
    }

    /// A parameter's value; `Some("")` for a flag such as a bare `rport`.
    /// Names compare case-insensitively.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.split(';').skip(1).find_map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            n.trim_matches([' ', '\t'])
                .eq_ignore_ascii_case(name)
                .then(|| v.trim_matches([' ', '\t']))
        })
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.param("branch")
    }
}

/// A parsed SIP message. Build one by hand, or take one from
/// [`Message::parse`]; [`Message::write`] checks it either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

impl Message {
    /// Parses one datagram. Leading CRLFs are skipped (RFC 3261 §7.5);
    /// without Content-Length the body is the rest of the datagram, and bytes
    /// after the declared body are dropped (RFC 3261 §18.3).
    pub fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(ParseError::TooLarge(datagram.len()));
        }
        let mut rest = datagram;
        while let Some(r) = rest.strip_prefix(b"\r\n") {
            rest = r;
        }
        if rest.is_empty() {
            return Err(ParseError::Empty);
        }
        let end = find(rest, b"\r\n\r\n").ok_or(ParseError::NoHeaderEnd)?;
        let (head, after) = rest.split_at(end);
        let body = after.get(4..).unwrap_or_default();

        let mut lines = crlf_lines(head).zip(1usize..);
        let (first, _) = lines.next().ok_or(ParseError::Empty)?;
        let start = parse_start(checked_line(1, first)?)?;
        let mut headers: Vec<Header> = Vec::new();
        for (raw, line) in lines {
            let text = checked_line(line, raw)?;
            if text.starts_with([' ', '\t']) {
                // Folded continuation (RFC 3261 §7.3.1): joins the previous
                // field with one space.
                let last = headers
                    .last_mut()
                    .ok_or(ParseError::HeaderSyntax { line })?;
                let more = text.trim_matches([' ', '\t']);
                if !more.is_empty() {
                    if !last.value.is_empty() {
                        last.value.push(' ');
                    }
                    last.value.push_str(more);
                }
                check_logical_len(line, &last.name, &last.value)?;
                continue;
            }
            if headers.len() >= MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            let (name, value) = parse_header_line(line, text)?;
            headers.push(Header::new(name, value));
        }
        let declared = check_semantics(&start, &headers)?;
        let body = match declared {
            None => body,
            Some(n) => usize::try_from(n).ok().and_then(|n| body.get(..n)).ok_or(
                ParseError::BodyTruncated {
                    declared: n,
                    available: body.len(),
                },
            )?,
        };
        Ok(Message {
            start,
            headers,
            body: body.to_vec(),
        })
    }

    /// Appends the message to `out`, or leaves `out` as it was and says
    /// which rule the message breaks.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
        let mark = out.len();
        let result = self.write_unchecked(out);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    /// The message as a new datagram.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WriteError> {
        let mut out = Vec::new();
        self.write(&mut out)?;
        Ok(out)
    }

    fn write_unchecked(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
        let begin = out.len();
        if self.headers.len() > MAX_HEADERS {
            return Err(ParseError::TooManyHeaders.into());
        }
        let start = self.start.to_string();
        checked_line(1, start.as_bytes())?;
        if parse_start(&start)? != self.start {
            return Err(WriteError::NotRoundTrip { line: 1 });
        }
        out.extend_from_slice(start.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (h, line) in self.headers.iter().zip(2usize..) {
            let text = if h.value.is_empty() {
                format!("{}:", h.name)
            } else {
                format!("{}: {}", h.name, h.value)
            };
            checked_line(line, text.as_bytes())?;
            let (name, value) = parse_header_line(line, &text)?;
            if name != h.name || value != h.value {
                return Err(WriteError::NotRoundTrip { line });
            }
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(declared) = check_semantics(&self.start, &self.headers)? {
            if usize::try_from(declared).ok() != Some(self.body.len()) {
                return Err(WriteError::ContentLength {
                    declared,
                    body: self.body.len(),
                });
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        let total = out.len().saturating_sub(begin);
        if total > MAX_DATAGRAM {
            return Err(ParseError::TooLarge(total).into());
        }
        Ok(())
    }

    /// The value of the first header called `name` (compact forms count as
    /// their long names, case ignored).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| same_name(&h.name, name))
            .map(|h| h.value.as_str())
    }

    /// Every header called `name`, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| same_name(&h.name, name))
            .map(|h| h.value.as_str())
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The user part of the Request-URI (`line1` in `sip:line1@10.0.0.5`).
    pub fn request_uri_user(&self) -> Option<&str> {
        uri_user(self.request_uri()?)
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    pub fn cseq(&self) -> Option<CSeq> {
        CSeq::parse(self.header("CSeq")?)
    }

    /// The first element of the first Via header.
    pub fn top_via(&self) -> Option<Via<'_>> {
        Via::parse(first_element(self.header("Via")?))
    }

    /// The event type of the Event header, without its parameters.
    pub fn event(&self) -> Option<&str> {
        let value = self.header("Event")?;
        Some(value.split(';').next().unwrap_or_default().trim_end())
    }

    pub fn from_tag(&self) -> Option<&str> {
        header_param(self.header("From")?, "tag")
    }

    pub fn to_tag(&self) -> Option<&str> {
        header_param(self.header("To")?, "tag")
    }

    /// The user part of the To URI; sipcc answers 400 when it is empty.
    pub fn to_user(&self) -> Option<&str> {
        uri_user(addr_uri(self.header("To")?))
    }

    /// A response to this request (RFC 3261 §8.2.6): Via (all of them, in
    /// order), From, To, Call-ID and CSeq copied, `to_tag` added to To when
    /// it has none and the status is above 100, and `Content-Length: 0`.
    pub fn response(&self, status: u16, reason: &str, to_tag: &str) -> Message {
        let mut headers = Vec::new();
        for h in &self.headers {
            let copy = ["Via", "From", "To", "Call-ID", "CSeq"]
                .iter()
                .any(|n| same_name(&h.name, n));
            if !copy {
                continue;
            }
            let mut h = h.clone();
            if same_name(&h.name, "To")
                && status > 100
                && !to_tag.is_empty()
                && header_param(&h.value, "tag").is_none()
            {
                h.value.push_str(";tag=");
                h.value.push_str(to_tag);
            }
            headers.push(h);
        }
        headers.push(Header::new("Content-Length", "0"));
        Message {
            start: StartLine::Response {
                status,
                reason: reason.to_owned(),
            },
            headers,
            body: Vec::new(),
        }
    }

    /// Records where a request came from in its top Via, as a server must
    /// before answering: `received=` (RFC 3261 §18.2.1) and, when the sender
    /// asked with a bare `rport`, `rport=<port>` (RFC 3581 §4).
    pub fn add_received(&mut self, source: SocketAddr) {
        let Some(header) = self.headers.iter_mut().find(|h| same_name(&h.name, "Via")) else {
            return;
        };
        let element = first_element(&header.value);
        let rest = header.value.get(element.len()..).unwrap_or_default();
        let Some(via) = Via::parse(element) else {
            return;
        };
        let wants_rport = via.param("rport").is_some();
        let mut rebuilt = via.head.trim_matches([' ', '\t']).to_owned();
        for p in via.params.split(';').skip(1) {
            let name = p
                .split('=')
                .next()
                .unwrap_or_default()
                .trim_matches([' ', '\t']);
            if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("rport") {
                continue;
            }
            rebuilt.push(';');
            rebuilt.push_str(p.trim_matches([' ', '\t']));
        }
        if wants_rport {
            rebuilt.push_str(&format!(";rport={}", source.port()));
        }
        rebuilt.push_str(&format!(";received={}", source.ip()));
        rebuilt.push_str(rest);
        header.value = rebuilt;
    }

    /// Where a response to this request goes (RFC 3581 §4, RFC 3261
    /// §18.2.2 for unicast UDP): back to `source` when the top Via has
    /// `rport`, else to `received` or the sent-by address at the sent-by
    /// port (5060 by default). A sent-by host name falls back to the
    /// source address, as this crate resolves no names.
    pub fn response_destination(&self, source: SocketAddr) -> SocketAddr {
        let Some(via) = self.top_via() else {
            return source;
        };
        if via.param("rport").is_some_and(|p| p.is_empty()) {
            return source;
        }
        if let Some(port) = via.param("rport").and_then(|p| p.parse::<u16>().ok()) {
            return SocketAddr::new(source.ip(), port);
        }
        let ip = via
            .param("received")
            .and_then(|r| r.parse::<IpAddr>().ok())
            .or_else(|| via.host.parse::<IpAddr>().ok())
            .unwrap_or(source.ip());
        SocketAddr::new(ip, via.port.unwrap_or(5060))
    }
}

/// The long name of a compact form (RFC 3261 §7.3.3 and the event, refer
/// and session-timer extensions); other names unchanged.
pub fn long_name(name: &str) -> &str {
    let compact = [
        ("c", "Content-Type"),
        ("e", "Content-Encoding"),
        ("f", "From"),
        ("i", "Call-ID"),
        ("k", "Supported"),
        ("l", "Content-Length"),
        ("m", "Contact"),
        ("s", "Subject"),
        ("t", "To"),
        ("v", "Via"),
        ("o", "Event"),
        ("u", "Allow-Events"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("x", "Session-Expires"),
    ];
    compact
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(name))
        .map(|(_, long)| *long)
        .unwrap_or(name)
}

fn same_name(a: &str, b: &str) -> bool {
    long_name(a).eq_ignore_ascii_case(long_name(b))
}

/// RFC 3261 §25.1 `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// The user part of a SIP URI, password stripped; `None` without one.
pub fn uri_user(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return None;
    }
    let (userinfo, _) = rest.split_once('@')?;
    Some(userinfo.split(':').next().unwrap_or_default())
}

/// The URI of a name-addr or addr-spec header value (From, To, Contact).
fn addr_uri(value: &str) -> &str {
    match value.split_once('<') {
        Some((_, inner)) => inner.split('>').next().unwrap_or_default(),
        None => value.split(';').next().unwrap_or_default().trim(),
    }
}

/// A header parameter (after the URI) of a From/To style value.
fn header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = match value.split_once('<') {
        Some((_, inner)) => inner.split_once('>').map(|(_, p)| p).unwrap_or_default(),
        None => value.split_once(';').map(|(_, p)| p).unwrap_or_default(),
    };
    params.split(';').find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The part of a comma-separated header value before the first comma that
/// is not inside quotes.
fn first_element(value: &str) -> &str {
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => return value.get(..i).unwrap_or(value),
            _ => {}
        }
    }
    value
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn crlf_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(head);
    std::iter::from_fn(move || {
        let r = rest?;
        match find(r, b"\r\n") {
            Some(i) => {
                let (line, after) = r.split_at(i);
                rest = after.get(2..);
                Some(line)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Length, UTF-8 and control-character checks shared by parse and write.
fn checked_line(line: usize, raw: &[u8]) -> Result<&str, ParseError> {
    if raw.len() > MAX_LINE {
        return Err(ParseError::LineTooLong { line });
    }
    let text = std::str::from_utf8(raw).map_err(|_| ParseError::NotUtf8 { line })?;
    if text
        .chars()
        .any(|c| (c < ' ' && c != '\t') || c == '\u{7f}')
    {
        return Err(ParseError::ControlCharacter { line });
    }
    Ok(text)
}

fn check_logical_len(line: usize, name: &str, value: &str) -> Result<(), ParseError> {
    if name.len().saturating_add(2).saturating_add(value.len()) > MAX_LINE {
        return Err(ParseError::LineTooLong { line });
    }
    Ok(())
}

fn check_version(version: &str) -> Result<(), ParseError> {
    if version.eq_ignore_ascii_case("SIP/2.0") {
        Ok(())
    } else {
        Err(ParseError::Version(version.to_owned()))
    }
}

fn parse_start(text: &str) -> Result<StartLine, ParseError> {
    let looks_like_status = text
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"));
    if looks_like_status {
        let (version, rest) = text
            .split_once(' ')
            .ok_or(ParseError::StartLine("status line has no status code"))?;
        check_version(version)?;
        let (code, reason) = rest.split_once(' ').ok_or(ParseError::StartLine(
            "status line needs a space after the code",
        ))?;
        let status = (code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
            .then(|| code.parse::<u16>().ok())
            .flatten()
            .filter(|s| (100..=699).contains(s))
            .ok_or_else(|| ParseError::StatusCode(code.to_owned()))?;
        return Ok(StartLine::Response {
            status,
            reason: reason.to_owned(),
        });
    }
    let mut parts = text.splitn(3, ' ');
    let method = parts.next().unwrap_or_default();
    let uri = parts
        .next()
        .ok_or(ParseError::StartLine("request line has no Request-URI"))?;
    let version = parts
        .next()
        .ok_or(ParseError::StartLine("request line has no SIP version"))?;
    if uri.is_empty() || version.contains(' ') {
        return Err(ParseError::StartLine(
            "request line must be method, Request-URI and version with single spaces between",
        ));
    }
    // The version before the rest: an HTTP request is best told apart by it.
    check_version(version)?;
    let method =
        Method::from_token(method).ok_or(ParseError::StartLine("method is not a token"))?;
    if uri.is_empty() || !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ParseError::StartLine(
            "Request-URI must be one run of visible ASCII",
        ));
    }
    if !uri.contains(':') {
        return Err(ParseError::StartLine("Request-URI has no scheme"));
    }
    Ok(StartLine::Request {
        method,
        uri: uri.to_owned(),
    })
}

fn parse_header_line(line: usize, text: &str) -> Result<(String, String), ParseError> {
    let (name, value) = text
        .split_once(':')
        .ok_or(ParseError::HeaderSyntax { line })?;
    let name = name.trim_end_matches([' ', '\t']);
    if !is_token(name) {
        return Err(ParseError::HeaderSyntax { line });
    }
    let value = value.trim_matches([' ', '\t']);
    check_logical_len(line, name, value)?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Header rules that hold for the message as a whole; returns the declared
/// Content-Length, if any.
fn check_semantics(start: &StartLine, headers: &[Header]) -> Result<Option<u64>, ParseError> {
    let named = |name: &'static str| headers.iter().filter(move |h| same_name(&h.name, name));
    for name in [
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Content-Length",
        "Max-Forwards",
    ] {
        if named(name).nth(1).is_some() {
            return Err(ParseError::DuplicateHeader(name));
        }
    }
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if named(name).next().is_none_or(|h| h.value.is_empty()) {
            return Err(ParseError::MissingHeader(name));
        }
    }
    let one = |name: &'static str| {
        named(name)
            .next()
            .map(|h| h.value.as_str())
            .unwrap_or_default()
    };
    let call_id = one("Call-ID");
    if call_id.contains([' ', '\t']) {
        return Err(ParseError::CallId(call_id.to_owned()));
    }
    let cseq_text = one("CSeq");
    let cseq = CSeq::parse(cseq_text).ok_or_else(|| ParseError::CSeq(cseq_text.to_owned()))?;
    if let StartLine::Request { method, .. } = start {
        if *method != cseq.method {
            return Err(ParseError::CSeqMethod {
                method: method.to_string(),
                cseq: cseq.method.to_string(),
            });
        }
    }
    let via = one("Via");
    if Via::parse(first_element(via)).is_none() {
        return Err(ParseError::Via(via.to_owned()));
    }
    match named("Content-Length").next() {
        None => Ok(None),
        Some(h) => {
            let v = &h.value;
            let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
            digits
                .then(|| v.parse::<u64>().ok())
                .flatten()
                .map(Some)
                .ok_or_else(|| ParseError::ContentLength(v.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 79x0 admin guide's check-sync sample, with our addresses.
    const CHECK_SYNC: &[u8] = b"NOTIFY sip:1001@10.0.0.5:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776;rport\r\n\
From: <sip:webadmin@10.0.0.1>;tag=f1\r\n\
To: <sip:1001@10.0.0.5>\r\n\
Event: check-sync\r\n\
Date: Mon, 10 Jul 2000 16:28:53 GMT\r\n\
Call-ID: 1349882@10.0.0.1\r\n\
CSeq: 1300 NOTIFY\r\n\
Contact: <sip:webadmin@10.0.0.1>\r\n\
Content-Length: 0\r\n\r\n";

    const COMPACT_OK: &[u8] = b"SIP/2.0 200 OK\r\n\
v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776;rport=5060;received=10.0.0.1\r\n\
f: <sip:webadmin@10.0.0.1>;tag=f1\r\n\
t: <sip:1001@10.0.0.5>;tag=p9\r\n\
i: 1349882@10.0.0.1\r\n\
CSeq: 1300 NOTIFY\r\n\
o: check-sync\r\n\
c: text/plain\r\n\
l: 2\r\n\r\nhi";

    fn parse_err(data: &[u8]) -> ParseError {
        Message::parse(data).expect_err("must be refused")
    }

    /// `CHECK_SYNC` with one line replaced.
    fn with_line(prefix: &str, line: &str) -> Vec<u8> {
        let text = std::str::from_utf8(CHECK_SYNC).unwrap();
        let out: Vec<String> = text
            .split("\r\n")
            .map(|l| {
                if l.starts_with(prefix) {
                    line.to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect();
        out.join("\r\n").into_bytes()
    }

    #[test]
    fn parses_the_check_sync_sample() {
        let m = Message::parse(CHECK_SYNC).unwrap();
        assert_eq!(m.method(), Some(&Method::Notify));
        assert_eq!(m.request_uri(), Some("sip:1001@10.0.0.5:5060"));
        assert_eq!(m.request_uri_user(), Some("1001"));
        assert_eq!(m.event(), Some("check-sync"));
        assert_eq!(m.call_id(), Some("1349882@10.0.0.1"));
        assert_eq!(
            m.cseq(),
            Some(CSeq {
                number: 1300,
                method: Method::Notify
            })
        );
        let via = m.top_via().unwrap();
        assert_eq!(
            (via.transport, via.host, via.port),
            ("UDP", "10.0.0.1", Some(5060))
        );
        assert_eq!(via.branch(), Some("z9hG4bK776"));
        assert_eq!(via.param("RPORT"), Some(""));
        assert_eq!(m.from_tag(), Some("f1"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.to_user(), Some("1001"));
        assert_eq!(m.header("date"), Some("Mon, 10 Jul 2000 16:28:53 GMT"));
        assert!(m.body.is_empty());
    }

    #[test]
    fn compact_names_read_as_long_ones() {
        let m = Message::parse(COMPACT_OK).unwrap();
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.reason(), Some("OK"));
        assert_eq!(m.header("Via"), m.header("v"));
        assert_eq!(m.header("CALL-ID"), Some("1349882@10.0.0.1"));
        assert_eq!(m.header("Content-Type"), Some("text/plain"));
        assert_eq!(m.header("content-length"), Some("2"));
        assert_eq!(m.event(), Some("check-sync"));
        assert_eq!(m.to_tag(), Some("p9"));
        assert_eq!(m.top_via().unwrap().param("received"), Some("10.0.0.1"));
        assert_eq!(m.body, b"hi");
        // Names keep their wire spelling, so the message writes back as it came.
        assert_eq!(m.to_bytes().unwrap(), COMPACT_OK);
    }

    #[test]
    fn writes_exact_bytes_and_appends() {
        let m = Message {
            start: StartLine::Response {
                status: 481,
                reason: "Call/Transaction Does Not Exist".into(),
            },
            headers: vec![
                Header::new("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx"),
                Header::new("From", "<sip:a@b>;tag=1"),
                Header::new("To", "<sip:c@d>;tag=2"),
                Header::new("Call-ID", "x"),
                Header::new("CSeq", "5 NOTIFY"),
                Header::new("Subject", ""),
                Header::new("Content-Length", "0"),
            ],
            body: vec![],
        };
        let mut out = vec![0xa5; 3];
        m.write(&mut out).unwrap();
        assert_eq!(&out[..3], &[0xa5; 3]);
        assert_eq!(
            &out[3..],
            b"SIP/2.0 481 Call/Transaction Does Not Exist\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\n\
From: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>;tag=2\r\n\
Call-ID: x\r\n\
CSeq: 5 NOTIFY\r\n\
Subject:\r\n\
Content-Length: 0\r\n\r\n"
        );
        assert_eq!(Message::parse(&out[3..]).unwrap(), m);
    }

    #[test]
    fn unfolds_and_takes_the_body_by_content_length() {
        let mut data = with_line("Date:", "Subject: first\r\n \t second");
        data.truncate(data.len() - 4);
        let data = [&data[..], b"\r\nContent-Length: 3\r\n\r\nabcdef"].concat();
        let text = String::from_utf8_lossy(&data).replace("Content-Length: 0\r\n", "");
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(m.header("Subject"), Some("first second"));
        // RFC 3261 §18.3: bytes after the declared body are dropped.
        assert_eq!(m.body, b"abc");
    }

    #[test]
    fn without_content_length_the_body_is_the_rest() {
        let data = with_line("Content-Length", "Max-Forwards: 70");
        let data = [&data[..], b"xyz"].concat();
        assert_eq!(Message::parse(&data).unwrap().body, b"xyz");
    }

    #[test]
    fn leading_crlf_is_skipped_and_keepalives_are_empty() {
        let data = [b"\r\n\r\n", CHECK_SYNC].concat();
        assert!(Message::parse(&data).is_ok());
        assert_eq!(parse_err(b"\r\n\r\n"), ParseError::Empty);
        assert_eq!(parse_err(b""), ParseError::Empty);
    }

    #[test]
    fn hostile_inputs_get_clear_errors() {
        assert_eq!(
            parse_err(&CHECK_SYNC[..CHECK_SYNC.len() - 2]),
            ParseError::NoHeaderEnd
        );
        assert_eq!(
            parse_err(&with_line("Content-Length", "Content-Length: 50")),
            ParseError::BodyTruncated {
                declared: 50,
                available: 0
            }
        );
        for bad in ["-1", "+5", "1e3", "99999999999999999999999", " "] {
            let line = format!("Content-Length: {bad}");
            let err = parse_err(&with_line("Content-Length", &line));
            assert!(
                matches!(err, ParseError::ContentLength(_)),
                "{bad:?}: {err:?}"
            );
        }
        for bad in [
            "-1 NOTIFY",
            "4294967296 NOTIFY",
            "2147483648 NOTIFY",
            "1",
            "x NOTIFY",
        ] {
            let line = format!("CSeq: {bad}");
            assert_eq!(
                parse_err(&with_line("CSeq", &line)),
                ParseError::CSeq(bad.into())
            );
        }
        assert_eq!(
            parse_err(&with_line("CSeq", "CSeq: 1 INVITE")),
            ParseError::CSeqMethod {
                method: "NOTIFY".into(),
                cseq: "INVITE".into()
            }
        );
        let many: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        let flood = with_line("Date", &many);
        assert_eq!(parse_err(&flood), ParseError::TooManyHeaders);
        let mut latin1 = CHECK_SYNC.to_vec();
        latin1[60] = 0xe9;
        assert_eq!(parse_err(&latin1), ParseError::NotUtf8 { line: 2 });
        assert_eq!(
            parse_err(&with_line("Date", "Date: a\nb")),
            ParseError::ControlCharacter { line: 6 }
        );
        assert_eq!(
            parse_err(&with_line("Date", "Date: a\0b")),
            ParseError::ControlCharacter { line: 6 }
        );
        let long = format!("Date: {}", "x".repeat(MAX_LINE));
        assert_eq!(
            parse_err(&with_line("Date", &long)),
            ParseError::LineTooLong { line: 6 }
        );
        assert_eq!(
            parse_err(&vec![b'a'; MAX_DATAGRAM + 1]),
            ParseError::TooLarge(MAX_DATAGRAM + 1)
        );
        assert_eq!(
            parse_err(&with_line("Call-ID", "X-Call: 1")),
            ParseError::MissingHeader("Call-ID")
        );
        assert_eq!(
            parse_err(&with_line("Call-ID", "Call-ID:")),
            ParseError::MissingHeader("Call-ID")
        );
        assert_eq!(
            parse_err(&with_line("Date", "l: 0")),
            ParseError::DuplicateHeader("Content-Length")
        );
        assert_eq!(
            parse_err(&with_line("Via", "Via: SIP/2.0/UDP")),
            ParseError::Via("SIP/2.0/UDP".into())
        );
        assert_eq!(
            parse_err(&with_line("Via", "Via: SIP/2.0/UDP 10.0.0.1:99999")),
            ParseError::Via("SIP/2.0/UDP 10.0.0.1:99999".into())
        );
        assert_eq!(
            parse_err(&with_line("Date", "Date")),
            ParseError::HeaderSyntax { line: 6 }
        );
        assert_eq!(
            parse_err(&with_line("Date", "Bad Name: x")),
            ParseError::HeaderSyntax { line: 6 }
        );
        assert_eq!(
            parse_err(&with_line("NOTIFY", "NOTIFY sip:1001@10.0.0.5 SIP/3.0")),
            ParseError::Version("SIP/3.0".into())
        );
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            ParseError::Version("HTTP/1.1".into())
        );
        assert_eq!(
            parse_err(&with_line("NOTIFY", "NOTIFY  sip:1001@10.0.0.5 SIP/2.0")),
            ParseError::StartLine(
                "request line must be method, Request-URI and version with single spaces between"
            )
        );
        assert_eq!(
            parse_err(&with_line("NOTIFY", "NOTIFY sip:1001@10.0.0.5\t SIP/2.0")),
            ParseError::StartLine("Request-URI must be one run of visible ASCII")
        );
        assert_eq!(
            parse_err(&with_line("NOTIFY", "NOTIFY 1001 SIP/2.0")),
            ParseError::StartLine("Request-URI has no scheme")
        );
        assert_eq!(
            parse_err(b"NOTIFY\r\n\r\n"),
            ParseError::StartLine("request line has no Request-URI")
        );
        assert_eq!(
            parse_err(b"NOT{IFY sip:a@b SIP/2.0\r\n\r\n"),
            ParseError::StartLine("method is not a token")
        );
        let ok = String::from_utf8(COMPACT_OK.to_vec()).unwrap();
        for bad in ["99", "700", "2000", "2OO", "-20"] {
            let data = ok.replacen("200", bad, 1);
            assert_eq!(
                parse_err(data.as_bytes()),
                ParseError::StatusCode(bad.into())
            );
        }
        assert_eq!(
            parse_err(ok.replacen("200 OK", "200", 1).as_bytes()),
            ParseError::StartLine("status line needs a space after the code")
        );
        // A continuation line before any header.
        assert_eq!(
            parse_err(b"SIP/2.0 200 OK\r\n folded\r\n\r\n"),
            ParseError::HeaderSyntax { line: 2 }
        );
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            ParseError::BodyTruncated {
                declared: 50,
                available: 0
            }
            .to_string(),
            "Content-Length says 50 bytes but only 0 follow the headers"
        );
        assert_eq!(
            ParseError::ControlCharacter { line: 6 }.to_string(),
            "line 6 holds a control character or a bare CR or LF"
        );
    }

    #[test]
    fn write_refuses_what_parse_would_refuse() {
        let good = Message::parse(CHECK_SYNC).unwrap();
        let refuse = |m: &Message| {
            let mut out = b"keep".to_vec();
            let err = m.write(&mut out).expect_err("must refuse");
            assert_eq!(out, b"keep", "a refused write must leave the buffer alone");
            err
        };
        let mut m = good.clone();
        m.headers[5].value = "a\r\nInjected: yes".into();
        assert_eq!(
            refuse(&m),
            WriteError::Refused(ParseError::ControlCharacter { line: 7 })
        );
        let mut m = good.clone();
        m.body = b"x".to_vec();
        assert_eq!(
            refuse(&m),
            WriteError::ContentLength {
                declared: 0,
                body: 1
            }
        );
        let mut m = good.clone();
        m.headers[5].value = " padded".into();
        assert_eq!(refuse(&m), WriteError::NotRoundTrip { line: 7 });
        let mut m = good.clone();
        m.start = StartLine::Request {
            method: Method::Other("NOTIFY".into()),
            uri: "sip:a@b".into(),
        };
        assert_eq!(refuse(&m), WriteError::NotRoundTrip { line: 1 });
        let mut m = good.clone();
        m.headers.retain(|h| h.name != "Call-ID");
        assert_eq!(
            refuse(&m),
            WriteError::Refused(ParseError::MissingHeader("Call-ID"))
        );
        let mut m = good;
        m.start = StartLine::Response {
            status: 42,
            reason: "x".into(),
        };
        assert_eq!(
            refuse(&m),
            WriteError::Refused(ParseError::StatusCode("042".into()))
        );
    }

    #[test]
    fn response_copies_the_transaction_headers() {
        let data = with_line(
            "Via",
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776;rport\r\nv: SIP/2.0/UDP 10.9.9.9",
        );
        let request = Message::parse(&data).unwrap();
        let ok = request.response(200, "OK", "p9");
        let bytes = ok.to_bytes().unwrap();
        assert_eq!(
            bytes,
            b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776;rport\r\n\
v: SIP/2.0/UDP 10.9.9.9\r\n\
From: <sip:webadmin@10.0.0.1>;tag=f1\r\n\
To: <sip:1001@10.0.0.5>;tag=p9\r\n\
Call-ID: 1349882@10.0.0.1\r\n\
CSeq: 1300 NOTIFY\r\n\
Content-Length: 0\r\n\r\n"
        );
        // A To tag already there stays; 100 Trying gets none.
        let tagged = Message::parse(&bytes).unwrap();
        assert_eq!(tagged.response(404, "Not Found", "zz").to_tag(), Some("p9"));
        assert_eq!(request.response(100, "Trying", "zz").to_tag(), None);
    }

    #[test]
    fn received_and_rport_steer_the_response() {
        let source: SocketAddr = "192.0.2.9:40000".parse().unwrap();
        let mut request = Message::parse(CHECK_SYNC).unwrap();
        assert_eq!(request.response_destination(source), source);
        request.add_received(source);
        assert_eq!(
            request.header("Via"),
            Some("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776;rport=40000;received=192.0.2.9")
        );
        assert_eq!(request.response_destination(source), source);

        let plain = with_line("Via", "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1");
        let plain = Message::parse(&plain).unwrap();
        assert_eq!(
            plain.response_destination(source),
            "10.0.0.1:5070".parse().unwrap()
        );
        let named = with_line("Via", "Via: SIP/2.0/UDP phoneboot.lan;branch=z9hG4bK1");
        let named = Message::parse(&named).unwrap();
        assert_eq!(
            named.response_destination(source),
            "192.0.2.9:5060".parse().unwrap()
        );
        let v6 = with_line("Via", "Via: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bK1");
        let v6 = Message::parse(&v6).unwrap();
        assert_eq!(v6.top_via().unwrap().host, "2001:db8::1");
        assert_eq!(
            v6.response_destination(source),
            "[2001:db8::1]:5062".parse().unwrap()
        );
    }
}
