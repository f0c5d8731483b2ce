//! RFC 1350 netascii: the sender turns LF into CR LF and a bare CR into CR NUL.

/// Encodes file bytes for a netascii transfer. Files already in CR LF form
/// keep their line ends (a CR before LF is not doubled).
pub fn encode(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 32);
    let mut iter = content.iter().peekable();
    while let Some(&b) = iter.next() {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' if iter.peek() == Some(&&b'\n') => {
                out.extend_from_slice(b"\r\n");
                iter.next();
            }
            b'\r' => out.extend_from_slice(b"\r\0"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn line_ends() {
        assert_eq!(encode(b"a\nb"), b"a\r\nb");
        assert_eq!(encode(b"a\r\nb"), b"a\r\nb");
        assert_eq!(encode(b"a\rb"), b"a\r\0b");
        assert_eq!(encode(b"\r"), b"\r\0");
        assert_eq!(encode(b""), b"");
    }
}
