//! `.loads` files: which files a load consists of, in the order phones fetch them.
//!
//! A `.loads` file is a Cisco-signed binary TLV header followed by CRLF text
//! (reference §3.3). The header is a chain of records, tag 1 byte and length
//! 2 bytes big-endian; tag 1 is the header version, tag 2 the total header
//! length, and the body starts right after it. The body has `#` comments, an
//! optional `#HARDWARE_COMP_1 n`, `KEY=VALUE` lines (`LA_VERSION=PAS30831`)
//! and one file name per line.
//!
//! The parser only reads: phones check the signature, so phoneboot serves the
//! original bytes and never rewrites one. It is also the first check on names
//! that are later looked up in the firmware library, so it refuses names that
//! could leave a folder or confuse a lookup, and it never panics.

use std::fmt;

/// Longest file name accepted (a common file-system limit; real ones are ~25).
pub const MAX_FILE_NAME: usize = 255;

// Header tags (Gareth Palmer's TLV::Tags, reference §3.3).
const TAG_VERSION: u8 = 1;
const TAG_HEADER_LENGTH: u8 = 2;
const TAG_SIGNER_ID: u8 = 3;
const TAG_SIGNATURE_INFO: u8 = 7;
const TAG_SIGNATURE_ALGORITHM_INFO: u8 = 9;
const TAG_PADDING: u8 = 13;
const TAG_FILE_NAME: u8 = 14;
const TAG_LAST: u8 = 15;

/// A parsed `.loads` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadsFile {
    header: Option<SignedHeader>,
    comments: Vec<String>,
    hardware_comp: Vec<HardwareComp>,
    properties: Vec<(String, String)>,
    files: Vec<String>,
}

/// What was learnt from the signed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeader {
    boundary: Boundary,
    length: usize,
    version: Option<(u8, u8)>,
    file_name: Option<String>,
}

impl SignedHeader {
    /// How the end of the header was found.
    pub fn boundary(&self) -> Boundary {
        self.boundary
    }
    /// Header length in bytes: the offset of the text body.
    pub fn length(&self) -> usize {
        self.length
    }
    /// Header format version (tag 1), e.g. `(1, 1)`.
    pub fn version(&self) -> Option<(u8, u8)> {
        self.version
    }
    /// The file name recorded in the header (tag 14), e.g. `SIP41.8-5-4S.loads`.
    /// A mismatch with the name the file is stored under is worth a warning.
    pub fn file_name(&self) -> Option<&str> {
        self.file_name.as_deref()
    }
}

/// How the start of the text body was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Boundary {
    /// From the header-length record (tag 2), as Cisco's own tools do.
    LengthTag,
    /// No length record: walked the known records until text began.
    RecordWalk,
    /// Neither worked: took the longest run of text at the end of the file.
    /// The first name may carry header bytes; treat the result with suspicion.
    TextScan,
}

/// A `#HARDWARE_COMP_<index> <value>` line: a hardware-revision gate the phone checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HardwareComp {
    /// The `<index>` in the key (1 in every file seen).
    pub index: u8,
    /// The value (7942: 5, 7945: 15, 7911 SIP: 1).
    pub value: u32,
}

impl LoadsFile {
    /// Parse a `.loads` file: signed (header skipped by its length record,
    /// with safe fallbacks) or plain text, CRLF or LF.
    pub fn parse(bytes: &[u8]) -> Result<LoadsFile, LoadsError> {
        if bytes.is_empty() {
            return Err(LoadsError::Empty);
        }
        let (header, body) = split_header(bytes)?;
        let mut out = LoadsFile {
            header,
            comments: Vec::new(),
            hardware_comp: Vec::new(),
            properties: Vec::new(),
            files: Vec::new(),
        };
        // Tolerate NUL padding after the last line.
        let end = body
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i.saturating_add(1));
        let body = body.get(..end).unwrap_or(&[]);
        for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
            let line = index.saturating_add(1);
            let text = raw.trim_ascii();
            if text.is_empty() {
                continue;
            }
            out.take_line(line, text)?;
        }
        if out.files.is_empty() {
            return Err(LoadsError::NoFiles);
        }
        Ok(out)
    }

    fn take_line(&mut self, line: usize, text: &[u8]) -> Result<(), LoadsError> {
        if let Some(comment) = text.strip_prefix(b"#") {
            const KEY: &[u8] = b"HARDWARE_COMP_";
            let comment = comment.trim_ascii();
            let is_hw = comment
                .get(..KEY.len())
                .is_some_and(|k| k.eq_ignore_ascii_case(KEY));
            if is_hw {
                let rest = comment.get(KEY.len()..).unwrap_or(&[]);
                let hw = parse_hardware_comp(rest).ok_or_else(|| LoadsError::BadHardwareComp {
                    line,
                    text: shown(text),
                })?;
                self.hardware_comp.push(hw);
            } else {
                self.comments.push(sanitize(comment));
            }
            return Ok(());
        }
        if let Some(eq) = text.iter().position(|&b| b == b'=') {
            let (key, value) = (
                text.get(..eq).unwrap_or(&[]),
                text.get(eq.saturating_add(1)..).unwrap_or(&[]),
            );
            if !key.is_empty() && key.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
                self.properties
                    .push((sanitize(key), sanitize(value.trim_ascii())));
                return Ok(());
            }
        }
        check_file_name(text).map_err(|reason| LoadsError::BadFileName {
            line,
            name: shown(text),
            reason,
        })?;
        // check_file_name guarantees printable ASCII.
        self.files.push(String::from_utf8_lossy(text).into_owned());
        Ok(())
    }

    /// The files the phone fetches after the `.loads`, in order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The signed header, when there was one.
    pub fn header(&self) -> Option<&SignedHeader> {
        self.header.as_ref()
    }

    /// Comment lines, without `#` and trimmed.
    pub fn comments(&self) -> &[String] {
        &self.comments
    }

    /// `#HARDWARE_COMP_n` lines.
    pub fn hardware_comp(&self) -> &[HardwareComp] {
        &self.hardware_comp
    }

    /// `KEY=VALUE` lines, in order.
    pub fn properties(&self) -> &[(String, String)] {
        &self.properties
    }

    /// The first value of `key` (exact case).
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `LA_VERSION` (79x0 loads: `PAS30831`).
    pub fn la_version(&self) -> Option<&str> {
        self.property("LA_VERSION")
    }

    /// The text body in canonical form (CRLF; comments, hardware lines, files,
    /// then properties). Parsing it gives the same lists back. This is not the
    /// original file: phones need Cisco's signed bytes, so never serve this.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for LoadsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.comments {
            write!(f, "#{c}\r\n")?;
        }
        for hw in &self.hardware_comp {
            write!(f, "#HARDWARE_COMP_{} {}\r\n", hw.index, hw.value)?;
        }
        for name in &self.files {
            write!(f, "{name}\r\n")?;
        }
        for (k, v) in &self.properties {
            write!(f, "{k}={v}\r\n")?;
        }
        Ok(())
    }
}

/// `1 5` → index 1, value 5.
fn parse_hardware_comp(rest: &[u8]) -> Option<HardwareComp> {
    let text = std::str::from_utf8(rest).ok()?;
    let (index, value) = text.split_once([' ', '\t'])?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let value = value.trim();
    if !digits(index) || !digits(value) {
        return None;
    }
    Some(HardwareComp {
        index: index.parse().ok()?,
        value: value.parse().ok()?,
    })
}

/// Why a listed name is refused, or `Ok`.
pub(crate) fn check_file_name(name: &[u8]) -> Result<(), &'static str> {
    if name.len() > MAX_FILE_NAME {
        return Err("is longer than 255 bytes");
    }
    if name.contains(&0) {
        return Err("contains a NUL byte");
    }
    if name.iter().any(|b| b.is_ascii_control()) {
        return Err("contains a control character");
    }
    if !name.is_ascii() {
        return Err("contains non-ASCII bytes");
    }
    if name.iter().any(|&b| b == b'/' || b == b'\\') {
        return Err("contains a path separator");
    }
    if name.windows(2).any(|w| w == b"..") {
        return Err("contains \"..\"");
    }
    if name.starts_with(b".") {
        return Err("starts with \".\"");
    }
    if name.contains(&b':') {
        return Err("contains \":\"");
    }
    if name.contains(&b' ') {
        return Err("contains a space");
    }
    Ok(())
}

/// Printable text for messages and metadata: control bytes become `?`.
fn sanitize(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A bounded, printable copy of input for an error message.
fn shown(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let mut s: String = String::from_utf8_lossy(bytes).chars().take(MAX).collect();
    if bytes.len() > MAX {
        s.push('…');
    }
    s
}

fn is_text(b: u8) -> bool {
    matches!(b, 0x20..=0x7e | b'\t' | b'\r' | b'\n')
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let hi = *bytes.get(at)?;
    let lo = *bytes.get(at.checked_add(1)?)?;
    Some(u16::from_be_bytes([hi, lo]))
}

/// Header and body. See the module doc for the three ways the boundary is found.
fn split_header(bytes: &[u8]) -> Result<(Option<SignedHeader>, &[u8]), LoadsError> {
    let first = bytes.first().copied().unwrap_or(0);
    if is_text(first) {
        return Ok((None, bytes));
    }
    let tagged = first == TAG_VERSION
        && be_u16(bytes, 1) == Some(2)
        && bytes.get(5) == Some(&TAG_HEADER_LENGTH)
        && be_u16(bytes, 6) == Some(2);
    if tagged {
        let declared = be_u16(bytes, 8).ok_or(LoadsError::Truncated { size: bytes.len() })?;
        let length = usize::from(declared);
        if length < 10 || length > bytes.len() {
            return Err(LoadsError::HeaderLength {
                declared,
                size: bytes.len(),
            });
        }
        let head = bytes.get(..length).unwrap_or(&[]);
        let (_, version, file_name) = walk(head);
        let body = bytes.get(length..).unwrap_or(&[]);
        let header = SignedHeader {
            boundary: Boundary::LengthTag,
            length,
            version,
            file_name,
        };
        return Ok((Some(header), body));
    }
    let (end, version, file_name) = walk(bytes);
    let body = bytes.get(end..).unwrap_or(&[]);
    if end > 0 && body.first().copied().is_some_and(is_text) {
        let header = SignedHeader {
            boundary: Boundary::RecordWalk,
            length: end,
            version,
            file_name,
        };
        return Ok((Some(header), body));
    }
    // Last resort: the longest text run at the end, minus header padding (CR).
    let end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i.saturating_add(1));
    let start = bytes
        .get(..end)
        .unwrap_or(&[])
        .iter()
        .rposition(|&b| !is_text(b))
        .map_or(0, |i| i.saturating_add(1));
    let tail = bytes.get(start..end).unwrap_or(&[]);
    let skip = tail
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or(LoadsError::NoText)?;
    let length = start.saturating_add(skip);
    let header = SignedHeader {
        boundary: Boundary::TextScan,
        length,
        version: None,
        file_name: None,
    };
    Ok((Some(header), bytes.get(length..).unwrap_or(&[])))
}

/// Walk known header records from the start. Returns where the walk stopped
/// (the first byte that is not a whole known record), the version and the
/// file name. Tags 3, 7 and 9 are containers: their length covers the
/// records that follow, so the walk steps into them. Tag 13 is one padding byte.
fn walk(bytes: &[u8]) -> (usize, Option<(u8, u8)>, Option<String>) {
    let mut at = 0usize;
    let mut version = None;
    let mut file_name = None;
    while let Some(&tag) = bytes.get(at) {
        if !(1..=TAG_LAST).contains(&tag) {
            break;
        }
        if tag == TAG_PADDING {
            at = at.saturating_add(1);
            continue;
        }
        let Some(len) = be_u16(bytes, at.saturating_add(1)) else {
            break;
        };
        let value_at = at.saturating_add(3);
        if matches!(
            tag,
            TAG_SIGNER_ID | TAG_SIGNATURE_INFO | TAG_SIGNATURE_ALGORITHM_INFO
        ) {
            at = value_at;
            continue;
        }
        let end = value_at.saturating_add(usize::from(len));
        let Some(value) = bytes.get(value_at..end) else {
            break;
        };
        match (tag, value) {
            (TAG_VERSION, [major, minor]) => version = Some((*major, *minor)),
            (TAG_FILE_NAME, _) => {
                let name = value.split(|&b| b == 0).next().unwrap_or(&[]);
                file_name = Some(sanitize(name));
            }
            _ => {}
        }
        at = end;
    }
    (at, version, file_name)
}

/// A `.loads` file could not be read. Messages name the line; the caller adds the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadsError {
    /// Zero bytes.
    #[error("the .loads file is empty; the download or the archive entry was truncated: fetch the bundle again")]
    Empty,
    /// Too short to hold the header it starts.
    #[error("the .loads file ends inside its signed header ({size} bytes); it is truncated: fetch the bundle again")]
    Truncated {
        /// File size.
        size: usize,
    },
    /// The header-length record points outside the file.
    #[error(
        "the .loads header says it is {declared} bytes long but the file has {size}; \
         the file is truncated or damaged: fetch the bundle again"
    )]
    HeaderLength {
        /// The length recorded in tag 2.
        declared: u16,
        /// File size.
        size: usize,
    },
    /// Binary data with no text after it.
    #[error(
        "no text body found after the binary header; this is not a .loads file, or it is damaged"
    )]
    NoText,
    /// Text, but not one file name in it.
    #[error("the .loads file lists no files; a load needs at least one image, so the file is damaged or not a .loads")]
    NoFiles,
    /// A listed name that is unsafe or impossible.
    #[error(
        "line {line}: file name {name:?} {reason}; .loads files list plain file names, \
         so this one is damaged or not from Cisco: refuse it"
    )]
    BadFileName {
        /// 1-based line number in the text body.
        line: usize,
        /// The name (shortened, lossily decoded).
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `#HARDWARE_COMP_…` without `<index> <number>`.
    #[error("line {line}: {text:?} is not \"#HARDWARE_COMP_<n> <number>\"; the file is damaged")]
    BadHardwareComp {
        /// 1-based line number in the text body.
        line: usize,
        /// The line (shortened).
        text: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header laid out like Cisco's (see synth for the full builder).
    fn header(body_name: &str) -> Vec<u8> {
        let mut h = vec![1, 0, 2, 1, 1, 2, 0, 2, 0, 0];
        let mut name = body_name.as_bytes().to_vec();
        name.push(0);
        h.extend([3, 0, 0]);
        h.extend([12, 0, 4, 0xde, 0xad, 0xbe, 0xef]);
        h.push(14);
        h.extend(u16::try_from(name.len()).expect("short").to_be_bytes());
        h.extend(name);
        h.extend([15, 0, 4, 0x4b, 0x3e, 0x12, 0x34]);
        while h.len() % 4 != 0 {
            h.push(13);
        }
        let len = u16::try_from(h.len()).expect("short").to_be_bytes();
        h[8] = len[0];
        h[9] = len[1];
        h
    }

    const SIP41_BODY: &str = "# This file contains a list of archive image files that will be requested by the RELEASE load version 9-4-2ES26\r\n\
        jar41sip.9-4-2ES26.sbn\r\ncnu41.9-4-2ES26.sbn\r\napps41.9-4-2ES26.sbn\r\ndsp41.9-4-2ES26.sbn\r\ncvm41sip.9-4-2ES26.sbn\r\n";

    const SIP41_FILES: [&str; 5] = [
        "jar41sip.9-4-2ES26.sbn",
        "cnu41.9-4-2ES26.sbn",
        "apps41.9-4-2ES26.sbn",
        "dsp41.9-4-2ES26.sbn",
        "cvm41sip.9-4-2ES26.sbn",
    ];

    #[test]
    fn headered_java_load() {
        let mut bytes = header("SIP41.9-4-2SR3-1S.loads");
        let hlen = bytes.len();
        bytes.extend_from_slice(SIP41_BODY.as_bytes());
        let f = LoadsFile::parse(&bytes).expect("parses");
        assert_eq!(f.files(), SIP41_FILES);
        let h = f.header().expect("header");
        assert_eq!(h.boundary(), Boundary::LengthTag);
        assert_eq!(h.length(), hlen);
        assert_eq!(h.version(), Some((1, 1)));
        assert_eq!(h.file_name(), Some("SIP41.9-4-2SR3-1S.loads"));
        assert_eq!(f.comments().len(), 1);
        assert!(f.comments()[0].starts_with("This file contains"));
    }

    #[test]
    fn headerless_79x0_load_with_lf_and_trailing_space() {
        let body = b"P0030801SR02.sbn \nP0030801SR02.sb2\t\nLA_VERSION=PAS30831\n";
        let f = LoadsFile::parse(body).expect("parses");
        assert!(f.header().is_none());
        assert_eq!(f.files(), ["P0030801SR02.sbn", "P0030801SR02.sb2"]);
        assert_eq!(f.la_version(), Some("PAS30831"));
        assert_eq!(
            f.properties(),
            [("LA_VERSION".to_owned(), "PAS30831".to_owned())]
        );
    }

    #[test]
    fn hardware_comp_and_blank_lines() {
        let body =
            b"\r\n# comment\r\n#HARDWARE_COMP_1 5\r\n\r\n  jar42sip.8-5-4TH1-6.sbn  \r\n\r\n";
        let f = LoadsFile::parse(body).expect("parses");
        assert_eq!(f.hardware_comp(), [HardwareComp { index: 1, value: 5 }]);
        assert_eq!(f.comments(), ["comment"]);
        assert_eq!(f.files(), ["jar42sip.8-5-4TH1-6.sbn"]);
        let hw = LoadsFile::parse(b"#hardware_comp_2\t15\nx.sbn\n").expect("parses");
        assert_eq!(
            hw.hardware_comp(),
            [HardwareComp {
                index: 2,
                value: 15
            }]
        );
    }

    #[test]
    fn header_without_length_tag_is_walked() {
        let full = header("P0S3-8-12-00.loads");
        // Drop the 5-byte length record: the rest is a valid record chain.
        let mut bytes: Vec<u8> = full[..5].iter().chain(&full[10..]).copied().collect();
        bytes.extend_from_slice(b"P003-8-12-00.sbn\r\nP0S3-8-12-00.sb2\r\nLA_VERSION=PAS30830\r\n");
        let f = LoadsFile::parse(&bytes).expect("parses");
        assert_eq!(
            f.header().map(SignedHeader::boundary),
            Some(Boundary::RecordWalk)
        );
        assert_eq!(
            f.header().and_then(SignedHeader::file_name),
            Some("P0S3-8-12-00.loads")
        );
        assert_eq!(f.files(), ["P003-8-12-00.sbn", "P0S3-8-12-00.sb2"]);
    }

    #[test]
    fn unknown_binary_prefix_falls_back_to_text_scan() {
        let mut bytes = vec![0xff, 0x00, 0x17, 0x80, 0x0d, 0x0d];
        bytes.extend_from_slice(b"P003-8-12-00.sbn\r\nP0S3-8-12-00.sb2\r\n");
        let f = LoadsFile::parse(&bytes).expect("parses");
        assert_eq!(
            f.header().map(SignedHeader::boundary),
            Some(Boundary::TextScan)
        );
        assert_eq!(f.files(), ["P003-8-12-00.sbn", "P0S3-8-12-00.sb2"]);
    }

    #[test]
    fn trailing_nul_padding_is_tolerated() {
        let f = LoadsFile::parse(b"a.sbn\r\nb.sbn\r\n\0\0\0").expect("parses");
        assert_eq!(f.files(), ["a.sbn", "b.sbn"]);
    }

    #[test]
    fn header_length_out_of_range() {
        let mut bytes = header("x.loads");
        bytes.extend_from_slice(b"a.sbn\r\n");
        let too_big = u16::try_from(bytes.len() + 1).expect("short");
        bytes[8..10].copy_from_slice(&too_big.to_be_bytes());
        let err = LoadsFile::parse(&bytes).expect_err("too long");
        assert!(matches!(err, LoadsError::HeaderLength { .. }), "{err}");
        assert!(err.to_string().contains("truncated"));
        bytes[8..10].copy_from_slice(&3u16.to_be_bytes());
        assert!(matches!(
            LoadsFile::parse(&bytes),
            Err(LoadsError::HeaderLength { declared: 3, .. })
        ));
        assert_eq!(
            LoadsFile::parse(&[1, 0, 2, 1, 1, 2, 0, 2, 0]),
            Err(LoadsError::Truncated { size: 9 })
        );
    }

    #[test]
    fn bad_names_name_the_line() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"ok.sbn\r\n../etc/passwd\r\n", 2, "path separator"),
            (b"ok.sbn\r\n..\r\n", 2, "\"..\""),
            (b"a..b.sbn\r\n", 1, "\"..\""),
            (b"#c\r\nsub\\x.sbn\r\n", 2, "path separator"),
            (b"a\0b.sbn\r\n", 1, "NUL"),
            (b"a\x07b.sbn\r\n", 1, "control"),
            (b"a\rb.sbn\r\n", 1, "control"),
            (b"caf\xc3\xa9.sbn\r\n", 1, "non-ASCII"),
            (b"ok.sbn\r\na\xff\xfe.sbn\r\n", 2, "non-ASCII"),
            (b".hidden\r\n", 1, "starts with"),
            (b"C:x.sbn\r\n", 1, "\":\""),
            (b"two words.sbn\r\n", 1, "space"),
            (b"bad key=v\r\n", 1, "space"),
            (b"a/b=c\r\n", 1, "path separator"),
        ];
        for &(body, line, reason) in cases {
            let err = LoadsFile::parse(body).expect_err(&String::from_utf8_lossy(body));
            match &err {
                LoadsError::BadFileName { line: l, .. } => assert_eq!(*l, line, "{err}"),
                other => panic!("{other:?}"),
            }
            let msg = err.to_string();
            assert!(
                msg.contains(reason) && msg.contains(&format!("line {line}")),
                "{msg}"
            );
        }
        let long = format!("{}.sbn\r\n", "a".repeat(300));
        let err = LoadsFile::parse(long.as_bytes()).expect_err("long");
        assert!(err.to_string().contains("255"), "{err}");
        assert!(err.to_string().len() < 400, "message stays short: {err}");
        let ok = format!("{}.sbn\r\n", "a".repeat(251));
        assert!(
            LoadsFile::parse(ok.as_bytes()).is_ok(),
            "exactly 255 bytes is fine"
        );
    }

    #[test]
    fn other_bad_inputs() {
        assert_eq!(LoadsFile::parse(b""), Err(LoadsError::Empty));
        assert_eq!(
            LoadsFile::parse(b"# only a comment\r\n"),
            Err(LoadsError::NoFiles)
        );
        assert_eq!(
            LoadsFile::parse(b"LA_VERSION=x\r\n"),
            Err(LoadsError::NoFiles)
        );
        assert_eq!(LoadsFile::parse(b"\r\n\r\n"), Err(LoadsError::NoFiles));
        assert_eq!(
            LoadsFile::parse(&[0xff, 0x00, 0x80]),
            Err(LoadsError::NoText)
        );
        assert_eq!(
            LoadsFile::parse(&[0xff, 0x00, b' ', b'\r']),
            Err(LoadsError::NoText)
        );
        let err = LoadsFile::parse(b"#HARDWARE_COMP_1 five\r\nx.sbn\r\n").expect_err("bad hw");
        assert!(
            matches!(err, LoadsError::BadHardwareComp { line: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("HARDWARE_COMP_1 five"));
        assert!(LoadsFile::parse(b"#HARDWARE_COMP_1\r\nx.sbn\r\n").is_err());
        assert!(LoadsFile::parse(b"#HARDWARE_COMP_999 1\r\nx.sbn\r\n").is_err());
        assert!(LoadsFile::parse(b"#HARDWARE_COMP_1 99999999999\r\nx.sbn\r\n").is_err());
    }

    #[test]
    fn canonical_text_round_trips() {
        let mut bytes = header("SIP42.8-5-4S.loads");
        bytes.extend_from_slice(
            b"# c1\r\n#HARDWARE_COMP_1 5\r\nLA_VERSION=X\r\njar42sip.8-5-4TH1-6.sbn\r\n#\r\n",
        );
        let f = LoadsFile::parse(&bytes).expect("parses");
        let again = LoadsFile::parse(f.to_text().as_bytes()).expect("canonical parses");
        assert_eq!(again.files(), f.files());
        assert_eq!(again.comments(), f.comments());
        assert_eq!(again.hardware_comp(), f.hardware_comp());
        assert_eq!(again.properties(), f.properties());
        assert_eq!(again.comments(), ["c1", ""]);
    }
}
