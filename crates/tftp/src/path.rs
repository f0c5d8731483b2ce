//! Request names → safe relative paths.
//!
//! Phones and old clients send Windows separators and odd prefixes; the
//! server must serve what they mean and never anything outside its root. This
//! module only judges the *name*; the driver still checks that symlinks do not
//! lead out of the root when it opens the file.

use crate::PathError;

/// The longest name accepted. POSIX `NAME_MAX` is 255 and no phone file comes
/// close; longer names are probes.
pub const MAX_NAME_LEN: usize = 255;

/// Turns a requested file name into a relative path with `/` separators, or
/// refuses it.
///
/// Backslashes become `/`; `.` and empty components are dropped (`a//b`,
/// `./a`). Refused: `..` anywhere, absolute paths, drive letters (`C:`),
/// control characters (NUL included), and names over [`MAX_NAME_LEN`] bytes.
pub fn sanitize(name: &str) -> Result<String, PathError> {
    if name.len() > MAX_NAME_LEN {
        return Err(PathError::TooLong(name.len()));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(PathError::ControlCharacter);
    }
    let name = name.replace('\\', "/");
    if name.starts_with('/') {
        return Err(PathError::Absolute);
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(PathError::DriveLetter);
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(PathError::ParentComponent),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(PathError::Empty);
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_nested_names() {
        assert_eq!(
            sanitize("SEP001122334455.cnf.xml").unwrap(),
            "SEP001122334455.cnf.xml"
        );
        assert_eq!(
            sanitize("Desktops\\320x212x16\\List.xml").unwrap(),
            "Desktops/320x212x16/List.xml"
        );
        assert_eq!(sanitize("./a//b/./c").unwrap(), "a/b/c");
        assert_eq!(sanitize("..foo").unwrap(), "..foo");
    }

    #[test]
    fn refuses_escapes() {
        let cases = [
            ("../etc/passwd", PathError::ParentComponent),
            ("a/../../b", PathError::ParentComponent),
            ("..\\..\\windows\\win.ini", PathError::ParentComponent),
            ("/etc/passwd", PathError::Absolute),
            ("\\\\server\\share", PathError::Absolute),
            ("C:\\boot.ini", PathError::DriveLetter),
            ("c:foo", PathError::DriveLetter),
            ("a\0b", PathError::ControlCharacter),
            ("a\nb", PathError::ControlCharacter),
            ("", PathError::Empty),
            ("./", PathError::Empty),
        ];
        for (name, want) in cases {
            assert_eq!(sanitize(name), Err(want), "{name:?}");
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert_eq!(sanitize(&long), Err(PathError::TooLong(MAX_NAME_LEN + 1)));
        assert!(sanitize(&"a".repeat(MAX_NAME_LEN)).is_ok());
    }
}
