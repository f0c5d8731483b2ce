//! Turns a sanitised request path into file contents, from the sources in
//! order: generated configs (a [`GeneratedSource`], the engine), the
//! firmware library ([`LibrarySource`], flat names only), then the TFTP root
//! ([`RootSource`]).
//!
//! What it keeps true:
//! - nothing outside the root is read: the final path is canonicalised and
//!   must stay under the canonical root, so symlinks cannot lead out;
//! - only regular files are served (no directories, devices or FIFOs);
//! - an exact name wins; otherwise a unique case-insensitive match is served
//!   (phones disagree on MAC case), and an ambiguous one is refused and logged;
//! - contents are read once and shared (`Bytes`) by every transfer of the
//!   same file; a file whose size or mtime changed is read again;
//! - only files of complete library loads are served from the library, and
//!   each library file's SHA-256 is checked when it is read into the cache,
//!   so a damaged blob is refused rather than sent to a phone;
//! - for a flat name both the library and the root hold, the library wins: a
//!   half-copied root file must not shadow a verified load. Such names are
//!   logged when the library is opened and each time it is reloaded.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

mod library;
mod root;

pub use library::{LibrarySource, LibrarySummary};
pub use root::{FileCache, RootSource};

use crate::provision::served::{GeneratedSource, ResolveError, Resolved};

/// Every lookup goes through here: generated configs, the firmware library
/// (if any) for flat names, then the root.
#[derive(Debug)]
pub struct Resolver {
    root: RootSource,
    library: Option<LibrarySource>,
    generated: Option<Arc<dyn GeneratedSource>>,
}

impl Resolver {
    pub fn new(root: RootSource) -> Resolver {
        Resolver {
            root,
            library: None,
            generated: None,
        }
    }

    /// Serve the firmware library in front of the root. Logs root files it
    /// shadows.
    pub fn with_library(mut self, library: LibrarySource) -> Resolver {
        self.library = Some(library);
        self.warn_shadowed();
        self
    }

    /// Generated configs in front of everything, and per-phone term files.
    pub fn with_generated(mut self, generated: Arc<dyn GeneratedSource>) -> Resolver {
        if let Some(lib) = &self.library {
            generated.catalog_changed(lib.catalog());
        }
        for name in self.root.top_level_files() {
            if generated.generates(&name) {
                tracing::warn!(
                    "{name} in the TFTP root {} is not served: phoneboot generates it from the desired state \
                     (remove the root copy to silence this)",
                    self.root.root().display()
                );
            }
        }
        self.generated = Some(generated);
        self
    }

    pub fn root(&self) -> &Path {
        self.root.root()
    }

    pub fn library(&self) -> Option<&LibrarySource> {
        self.library.as_ref()
    }

    /// What `client` gets for `rel`: a generated config, a library file (term
    /// files for the protocol this client should recover into), or a root
    /// file. The engine hears of every request first.
    pub fn resolve(&self, client: IpAddr, rel: &str) -> Result<Resolved, ResolveError> {
        if let Some(lib) = &self.library {
            if lib.refresh() {
                self.warn_shadowed();
                if let Some(g) = &self.generated {
                    g.catalog_changed(lib.catalog());
                }
            }
        }
        if let Some(g) = &self.generated {
            g.observe_request(client, rel);
            if let Some(generated) = g.render(client, rel) {
                return generated;
            }
        }
        if let Some(lib) = &self.library {
            let protocol = match &self.generated {
                Some(g) if cisco::TermFile::parse(rel).is_some() => g.protocol_for(client),
                _ => lib.protocol,
            };
            if let Some(found) = lib.resolve(rel, protocol, &self.root.cache) {
                return found;
            }
        }
        self.root.resolve(rel)
    }

    fn warn_shadowed(&self) {
        let Some(lib) = &self.library else { return };
        for (name, load) in lib.shadowed(&self.root.top_level_files()) {
            tracing::warn!(
                "{name} in the TFTP root {} is not served: the firmware library serves {name} of {load} instead \
                 (remove the root copy to silence this)",
                self.root.root().display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    use ::library::Library;
    use cisco::Protocol;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("phoneboot-resolver-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("root/Desktops/320x212x16")).unwrap();
        d
    }

    #[test]
    fn exact_then_case_insensitive_then_ambiguous() {
        let d = scratch("case");
        let root = d.join("root");
        fs::write(root.join("SEP001122334455.cnf.xml"), b"upper").unwrap();
        fs::write(root.join("Desktops/320x212x16/List.xml"), b"list").unwrap();
        fs::write(root.join("ring.raw"), b"a").unwrap();
        fs::write(root.join("RING.RAW"), b"b").unwrap();
        let r = RootSource::new(&root).unwrap();
        assert_eq!(
            &r.resolve("SEP001122334455.cnf.xml").unwrap().content[..],
            b"upper"
        );
        assert_eq!(
            &r.resolve("sep001122334455.CNF.xml").unwrap().content[..],
            b"upper"
        );
        assert_eq!(
            &r.resolve("desktops/320X212X16/list.XML").unwrap().content[..],
            b"list"
        );
        assert_eq!(
            &r.resolve("ring.raw").unwrap().content[..],
            b"a",
            "exact match wins"
        );
        assert!(matches!(r.resolve("Ring.Raw"), Err(ResolveError::Ambiguous(v)) if v.len() == 2));
        assert!(matches!(r.resolve("missing"), Err(ResolveError::NotFound)));
        assert!(matches!(
            r.resolve("ring.raw/x"),
            Err(ResolveError::NotFound | ResolveError::Io(_))
        ));
        assert!(matches!(r.resolve("Desktops"), Err(ResolveError::NotAFile)));
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let d = scratch("symlink");
        let root = d.join("root");
        fs::write(d.join("secret"), b"secret").unwrap();
        fs::write(root.join("inside"), b"ok").unwrap();
        std::os::unix::fs::symlink(d.join("secret"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink("inside", root.join("alias")).unwrap();
        std::os::unix::fs::symlink(&d, root.join("up")).unwrap();
        let r = RootSource::new(&root).unwrap();
        assert!(matches!(
            r.resolve("escape"),
            Err(ResolveError::OutsideRoot)
        ));
        assert!(matches!(
            r.resolve("ESCAPE"),
            Err(ResolveError::OutsideRoot)
        ));
        assert!(matches!(
            r.resolve("up/secret"),
            Err(ResolveError::OutsideRoot)
        ));
        assert_eq!(&r.resolve("alias").unwrap().content[..], b"ok");
        fs::remove_dir_all(d).unwrap();
    }

    /// A library with the complete SIP41 load and an incomplete SIP42 one.
    fn library(d: &Path) -> (PathBuf, ::library::fixtures::Bundle) {
        use ::library::{fixtures::Bundle, Format, ImportOptions};
        let dir = d.join("firmware");
        let mut lib = Library::open(&dir).unwrap();
        let sip41 = Bundle::new("SIP41.9-4-2SR3-1S").unwrap();
        let zip = sip41.write(d, Format::Zip).unwrap();
        lib.import(&zip, &ImportOptions::default()).unwrap();
        let sip42 = Bundle::new("SIP42.9-4-2SR3-1S").unwrap();
        let gone = sip42.listed_files()[0].clone();
        let zip = sip42.without(&gone).write(d, Format::Zip).unwrap();
        lib.import(&zip, &ImportOptions::default().allow_incomplete(true))
            .unwrap();
        (dir, sip41)
    }

    fn bytes(b: &::library::fixtures::Bundle, name: &str) -> Vec<u8> {
        b.files().into_iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn library_first_for_flat_names_then_the_root() {
        let d = scratch("library");
        let root = d.join("root");
        let (dir, sip41) = library(&d);
        fs::write(root.join("SIP41.9-4-2SR3-1S.loads"), b"half-copied").unwrap();
        fs::write(root.join("XMLDefault.cnf.xml"), b"cfg").unwrap();
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/jar41sip.9-4-2ES26.sbn"), b"root copy").unwrap();
        let r = Resolver::new(RootSource::new(&root).unwrap())
            .with_library(LibrarySource::open(&dir, Protocol::Sip).unwrap());

        let loads = bytes(&sip41, "SIP41.9-4-2SR3-1S.loads");
        for name in ["SIP41.9-4-2SR3-1S.loads", "sip41.9-4-2sr3-1s.LOADS"] {
            let got = r.resolve(LOCAL, name).unwrap();
            assert_eq!(&got.content[..], &loads[..], "{name}: the library wins");
            assert_eq!(got.source, "library:SIP41.9-4-2SR3-1S");
        }
        let a = r.resolve(LOCAL, "JAR41SIP.9-4-2ES26.SBN").unwrap().content;
        let b = r.resolve(LOCAL, "jar41sip.9-4-2ES26.sbn").unwrap().content;
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "library blobs are cached and shared"
        );
        // Sub-paths are the root's; so is whatever the library lacks.
        assert_eq!(
            &r.resolve(LOCAL, "sub/jar41sip.9-4-2ES26.sbn")
                .unwrap()
                .content[..],
            b"root copy"
        );
        assert_eq!(
            &r.resolve(LOCAL, "xmldefault.cnf.xml").unwrap().content[..],
            b"cfg"
        );
        // The incomplete load is never served; nor is its term file.
        assert!(matches!(
            r.resolve(LOCAL, "SIP42.9-4-2SR3-1S.loads"),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            r.resolve(LOCAL, "term42.default.loads"),
            Err(ResolveError::NotFound)
        ));
        // Term files for the configured protocol only.
        let term = r.resolve(LOCAL, "Term41.Default.Loads").unwrap();
        assert_eq!(
            &term.content[..],
            &bytes(&sip41, "term41.default.loads")[..]
        );
        let sccp = Resolver::new(RootSource::new(&root).unwrap())
            .with_library(LibrarySource::open(&dir, Protocol::Sccp).unwrap());
        assert!(matches!(
            sccp.resolve(LOCAL, "term41.default.loads"),
            Err(ResolveError::NotFound)
        ));
        assert_eq!(
            r.library().unwrap().summary(),
            LibrarySummary {
                complete: 1,
                incomplete: 1,
                terms: vec!["term41.default.loads".into(), "term61.default.loads".into()],
            }
        );
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn library_changes_on_disk_are_seen_and_damage_is_refused() {
        use ::library::{fixtures::Bundle, Format, ImportOptions};
        let d = scratch("libreload");
        let root = d.join("root");
        let (dir, sip41) = library(&d);
        let r = Resolver::new(RootSource::new(&root).unwrap())
            .with_library(LibrarySource::open(&dir, Protocol::Sip).unwrap());
        assert!(matches!(
            r.resolve(LOCAL, "P0S3-8-12-00.sb2"),
            Err(ResolveError::NotFound)
        ));
        // Another process (here, another handle) imports.
        let mut other = Library::open(&dir).unwrap();
        let p0s3 = Bundle::new("P0S3-8-12-00").unwrap();
        other
            .import(
                p0s3.write(&d, Format::Tar).unwrap(),
                &ImportOptions::default(),
            )
            .unwrap();
        assert_eq!(
            &r.resolve(LOCAL, "P0S3-8-12-00.sb2").unwrap().content[..],
            &bytes(&p0s3, "P0S3-8-12-00.sb2")[..]
        );
        other.remove("P0S3-8-12-00", |_| None).unwrap();
        assert!(matches!(
            r.resolve(LOCAL, "P0S3-8-12-00.sb2"),
            Err(ResolveError::NotFound)
        ));

        // A flipped byte (same size) in a blob: refused, never sent.
        let name = "cnu41.9-4-2ES26.sbn";
        let blob = other.lookup(name).unwrap().path.clone();
        let mut data = bytes(&sip41, name);
        data[7] ^= 1;
        fs::write(&blob, &data).unwrap();
        assert!(matches!(
            r.resolve(LOCAL, name),
            Err(ResolveError::Damaged { .. })
        ));
        fs::write(&blob, b"short").unwrap();
        assert!(matches!(
            r.resolve(LOCAL, name),
            Err(ResolveError::Damaged { .. })
        ));
        fs::remove_file(&blob).unwrap();
        let err = r.resolve(LOCAL, name).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        assert_eq!(err.tftp_code(), tftp::ErrorCode::NotDefined);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn contents_are_shared_and_changes_are_seen() {
        let d = scratch("cache");
        let root = d.join("root");
        fs::write(root.join("f"), b"one").unwrap();
        let r = RootSource::new(&root).unwrap();
        let a = r.resolve("f").unwrap().content;
        let b = r.resolve("f").unwrap().content;
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "second lookup shares the first read"
        );
        fs::write(root.join("f"), b"second").unwrap();
        assert_eq!(&r.resolve("f").unwrap().content[..], b"second");
        fs::remove_dir_all(d).unwrap();
    }
}
