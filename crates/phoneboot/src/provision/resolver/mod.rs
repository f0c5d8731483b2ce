//! Turns a sanitised request path into file contents.
//!
//! Sources, with `[provision] root_files = "serve"` (the default): the TFTP
//! root ([`RootSource`]) as it is, then generated configs (a
//! [`GeneratedSource`], the engine), then the firmware library
//! ([`LibrarySource`], flat names only). With `"generated"`: generated
//! configs, the library, then the root.
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
//! - the engine hears of every request before anything is resolved, and of
//!   every file the root answers, so it can watch phones that follow the
//!   operator's own configs;
//! - a per-phone config (`SEP<MAC>.cnf.xml`, `SIP<MAC>.cnf`) is never
//!   generated for a phone the desired state does not name by MAC when the
//!   root holds the operator's default of that kind: the phone falls back
//!   to it, as it would with tftpd32.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

use ::library::folder::FolderLoad;
use cisco::{AvailableLoad, RequestedFile};

mod library;
mod notes;
mod root;

pub use library::{LibrarySource, LibrarySummary};
pub use notes::{root_notes, RootNote};
pub use root::{FileCache, RootSource};

use crate::provision::served::{GeneratedSource, ResolveError, Resolved, RootFiles};

/// Every lookup goes through here: with `[provision] root_files = "serve"`
/// (the default) the root first, then generated configs, then the library;
/// with `"generated"`, generated configs, the library (flat names), then
/// the root.
#[derive(Debug)]
pub struct Resolver {
    root: RootSource,
    library: Option<LibrarySource>,
    generated: Option<Arc<dyn GeneratedSource>>,
    root_files: RootFiles,
    /// Loads lying at the top of the root, with the folder stamp they were
    /// found at (`None`: not scanned yet).
    root_loads: RwLock<(Option<u64>, Vec<FolderLoad>)>,
}

impl Resolver {
    pub fn new(root: RootSource) -> Resolver {
        Resolver {
            root,
            library: None,
            generated: None,
            root_files: RootFiles::default(),
            root_loads: RwLock::new((None, Vec::new())),
        }
    }

    /// Who wins where the root and phoneboot both have a name.
    pub fn with_root_files(mut self, mode: RootFiles) -> Resolver {
        self.root_files = mode;
        self
    }

    /// Serve the firmware library (in front of the root when root files do
    /// not win).
    pub fn with_library(mut self, library: LibrarySource) -> Resolver {
        self.library = Some(library);
        self
    }

    /// Generated configs and per-phone term files. The source gets the
    /// catalog (library and root loads) at once.
    pub fn with_generated(mut self, generated: Arc<dyn GeneratedSource>) -> Resolver {
        self.rescan_root();
        generated.catalog_changed(self.catalog());
        self.generated = Some(generated);
        self
    }

    pub fn root(&self) -> &Path {
        self.root.root()
    }

    pub fn root_files(&self) -> RootFiles {
        self.root_files
    }

    pub fn library(&self) -> Option<&LibrarySource> {
        self.library.as_ref()
    }

    /// What `client` gets for `rel`. The engine hears of every request
    /// first, and of every config the root answers.
    pub fn resolve(&self, client: IpAddr, rel: &str) -> Result<Resolved, ResolveError> {
        if let Some(lib) = &self.library {
            if lib.refresh() {
                if let Some(g) = &self.generated {
                    g.catalog_changed(self.catalog());
                }
            }
        }
        if let Some(g) = &self.generated {
            g.observe_request(client, rel);
        }
        if self.root_files == RootFiles::Serve {
            match self.root.resolve(rel) {
                Ok(found) => {
                    if let Some(g) = &self.generated {
                        g.observe_root_file(client, rel, &found.content);
                    }
                    return Ok(found);
                }
                Err(ResolveError::NotFound) => {}
                Err(e) => return Err(e),
            }
            if self.operator_default_covers(rel) {
                // Falls back to the operator's default, as with tftpd32.
                return Err(ResolveError::NotFound);
            }
        }
        if let Some(g) = &self.generated {
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
        match self.root_files {
            RootFiles::Serve => Err(ResolveError::NotFound),
            RootFiles::Generated => self.root.resolve(rel),
        }
    }

    /// A per-phone config whose default the operator keeps in the root, for
    /// a phone the desired state does not name by MAC.
    fn operator_default_covers(&self, rel: &str) -> bool {
        if rel.contains('/') {
            return false;
        }
        let (mac, default) = match RequestedFile::parse(rel) {
            RequestedFile::SepCnfXml(mac) => (mac, "XMLDefault.cnf.xml"),
            RequestedFile::SipMacCnf(mac) => (mac, "SIPDefault.cnf"),
            _ => return false,
        };
        let named = self.generated.as_ref().is_some_and(|g| g.names_phone(mac));
        !named && self.root.has_file(default)
    }

    /// Look at the root's top level again if it changed (a cheap stamp of
    /// names, sizes and mtimes): loads unzipped into it or removed reach
    /// the planner. Returns whether the catalog changed. Call it off the
    /// transfer path (`serve` runs it on a timer).
    pub fn rescan_root(&self) -> bool {
        let stamp = ::library::folder::stamp(self.root.root()).ok();
        if self
            .root_loads
            .read()
            .is_ok_and(|r| r.0 == stamp && stamp.is_some())
        {
            return false;
        }
        let found = match ::library::folder::scan(self.root.root()) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    "cannot scan the TFTP root {} for firmware: {e}",
                    self.root().display()
                );
                Vec::new()
            }
        };
        let changed = match self.root_loads.write() {
            Ok(mut r) => {
                let changed = r.1 != found;
                *r = (stamp, found);
                changed
            }
            Err(_) => false,
        };
        if changed {
            let loads = self.root_loads();
            if !loads.is_empty() {
                tracing::info!(
                    "TFTP root {}: {} complete loads offered to the planner, {} incomplete",
                    self.root().display(),
                    loads.iter().filter(|l| l.load.complete).count(),
                    loads.iter().filter(|l| !l.load.complete).count()
                );
            }
            if let Some(g) = &self.generated {
                g.catalog_changed(self.catalog());
            }
        }
        changed
    }

    /// Loads found at the top of the root, as last scanned.
    pub fn root_loads(&self) -> Vec<FolderLoad> {
        self.root_loads
            .read()
            .map(|r| r.1.clone())
            .unwrap_or_default()
    }

    /// What the planner may use: the library's loads, and complete loads
    /// in the root that the library lacks (or holds incomplete).
    pub fn catalog(&self) -> Vec<AvailableLoad> {
        let mut out = self
            .library
            .as_ref()
            .map(LibrarySource::catalog)
            .unwrap_or_default();
        for found in self.root_loads() {
            match out.iter_mut().find(|l| l.name == found.load.name) {
                Some(l) if l.complete => {}
                Some(l) if found.load.complete => *l = found.load,
                Some(_) => {}
                None => out.push(found.load),
            }
        }
        out
    }

    /// Each root file that takes the place of something phoneboot would
    /// serve, and what that means (for the start-up summary, `doctor` and
    /// the dashboard).
    pub fn root_notes(&self) -> Vec<RootNote> {
        let shadowed = |names: &[String]| -> Vec<(String, String)> {
            self.library
                .as_ref()
                .map(|l| l.shadowed(names))
                .unwrap_or_default()
        };
        let generates = |name: &str| self.generated.as_ref().is_some_and(|g| g.generates(name));
        root_notes(self.root.root(), self.root_files, &generates, &shadowed)
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
            .with_root_files(RootFiles::Generated)
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
            .with_root_files(RootFiles::Generated)
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

    /// A generated source that makes `SEP<MAC>.cnf.xml` and
    /// `XMLDefault.cnf.xml` for anyone and records what it hears.
    #[derive(Debug, Default)]
    struct Recorder {
        named: Vec<cisco::Mac>,
        heard: std::sync::Mutex<Vec<String>>,
        catalogs: std::sync::Mutex<Vec<Vec<String>>>,
    }

    impl GeneratedSource for Recorder {
        fn observe_request(&self, _: IpAddr, name: &str) {
            self.heard.lock().unwrap().push(format!("request {name}"));
        }
        fn render(&self, _: IpAddr, name: &str) -> Option<Result<Resolved, ResolveError>> {
            self.generates(name).then(|| {
                Ok(Resolved {
                    content: bytes::Bytes::from_static(b"generated"),
                    source: "generated".into(),
                })
            })
        }
        fn generates(&self, name: &str) -> bool {
            cisco::GeneratedFile::parse(name).is_some()
        }
        fn observe_root_file(&self, _: IpAddr, name: &str, content: &[u8]) {
            self.heard
                .lock()
                .unwrap()
                .push(format!("root {name} {}", String::from_utf8_lossy(content)));
        }
        fn names_phone(&self, mac: cisco::Mac) -> bool {
            self.named.contains(&mac)
        }
        fn protocol_for(&self, _: IpAddr) -> Protocol {
            Protocol::Sip
        }
        fn catalog_changed(&self, catalog: Vec<cisco::AvailableLoad>) {
            let names = catalog.iter().map(|l| l.name.to_string()).collect();
            self.catalogs.lock().unwrap().push(names);
        }
    }

    #[test]
    fn the_operators_root_files_win_and_stand_for_unnamed_phones() {
        let d = scratch("serve");
        let root = d.join("root");
        let (dir, _) = library(&d);
        fs::write(root.join("xmldefault.CNF.xml"), b"mine").unwrap();
        fs::write(root.join("SEP001E4A000002.cnf.xml"), b"sep 2").unwrap();
        fs::write(root.join("SIP41.9-4-2SR3-1S.loads"), b"root copy").unwrap();
        let named = cisco::Mac([0, 0x1e, 0x4a, 0, 0, 3]);
        let rec = Arc::new(Recorder {
            named: vec![named],
            ..Recorder::default()
        });
        let r = Resolver::new(RootSource::new(&root).unwrap())
            .with_library(LibrarySource::open(&dir, Protocol::Sip).unwrap())
            .with_generated(rec.clone());
        let get = |name: &str| r.resolve(LOCAL, name).map(|f| f.content.to_vec());
        // Byte for byte, any letter case, over the generated file and the library.
        assert_eq!(get("XMLDefault.cnf.xml").unwrap(), b"mine");
        assert_eq!(get("sep001e4a000002.cnf.xml").unwrap(), b"sep 2");
        assert_eq!(get("SIP41.9-4-2SR3-1S.loads").unwrap(), b"root copy");
        // A phone the desired state does not name falls back to XMLDefault.
        assert!(matches!(
            get("SEP001E4A000001.cnf.xml"),
            Err(ResolveError::NotFound)
        ));
        // A phone it names gets its generated file.
        assert_eq!(get("SEP001E4A000003.cnf.xml").unwrap(), b"generated");
        // SIPDefault.cnf does the same for SIP<MAC>.cnf.
        assert_eq!(get("SIP001E4A000001.cnf").unwrap(), b"generated");
        fs::write(root.join("SIPDefault.cnf"), b"image_version: P0S3-8-12-00").unwrap();
        assert!(matches!(
            get("SIP001E4A000001.cnf"),
            Err(ResolveError::NotFound)
        ));
        assert_eq!(get("SIP001E4A000003.cnf").unwrap(), b"generated");
        // Names the root lacks: generated, then the library.
        assert_eq!(get("RINGLIST.DAT").unwrap(), b"generated");
        assert!(get("jar41sip.9-4-2ES26.sbn").is_ok());
        let heard = rec.heard.lock().unwrap().clone();
        assert_eq!(
            heard[..2],
            ["request XMLDefault.cnf.xml", "root XMLDefault.cnf.xml mine"]
        );
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn firmware_unzipped_into_the_root_reaches_the_catalog() {
        use ::library::fixtures::Bundle;
        let d = scratch("rootfw");
        let root = d.join("root");
        let rec = Arc::new(Recorder::default());
        let r = Resolver::new(RootSource::new(&root).unwrap()).with_generated(rec.clone());
        assert!(r.catalog().is_empty());
        assert!(!r.rescan_root(), "nothing changed");
        let p0s3 = Bundle::new("P0S3-8-12-00").unwrap();
        for (name, bytes) in p0s3.files() {
            fs::write(root.join(name), bytes).unwrap();
        }
        assert!(r.rescan_root());
        let catalog = r.catalog();
        assert_eq!(catalog.len(), 1);
        assert!(catalog[0].complete);
        assert_eq!(
            rec.catalogs.lock().unwrap().last().unwrap(),
            &["P0S3-8-12-00".to_owned()]
        );
        assert!(!r.rescan_root(), "no change, no rescan");
        fs::remove_file(root.join(&p0s3.listed_files()[0])).unwrap();
        assert!(r.rescan_root());
        assert!(!r.catalog()[0].complete);
        assert_eq!(
            r.root_loads()[0].load.missing,
            [p0s3.listed_files()[0].clone()]
        );
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
