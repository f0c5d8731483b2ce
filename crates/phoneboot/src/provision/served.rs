//! What a phone's file request gets, for TFTP and phone HTTP alike: the
//! file, or one refusal with its word, TFTP error and HTTP status. The
//! resolver and the engine both sit above this module.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use bytes::Bytes;
use cisco::{AvailableLoad, Mac, Protocol};

use crate::events::TransferResult;

/// Why a path could not be served. Each maps to a TFTP error for the client
/// and a log line for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    #[error("file not found")]
    NotFound,
    #[error("names {0:?} differ only in case; rename one so the phone's request is unambiguous")]
    Ambiguous(Vec<String>),
    #[error("path leads outside the TFTP root (symlink?)")]
    OutsideRoot,
    #[error("not a regular file")]
    NotAFile,
    #[error("firmware library file {path:?} is damaged ({problem}); run `phoneboot firmware verify`, then remove the load and import its bundle again")]
    Damaged { path: PathBuf, problem: String },
    #[error("per-MAC config with SIP passwords asked for by an address that does not hold that MAC's lease")]
    NotLeaseHolder,
    #[error("cannot read file: {0}")]
    Io(#[from] io::Error),
}

impl ResolveError {
    pub fn tftp_code(&self) -> tftp::ErrorCode {
        match self {
            ResolveError::NotFound | ResolveError::Ambiguous(_) | ResolveError::NotLeaseHolder => {
                tftp::ErrorCode::FileNotFound
            }
            ResolveError::OutsideRoot | ResolveError::NotAFile => tftp::ErrorCode::AccessViolation,
            ResolveError::Io(_) | ResolveError::Damaged { .. } => tftp::ErrorCode::NotDefined,
        }
    }

    /// The result word both TFTP and phone HTTP log for this refusal.
    pub fn result(&self) -> TransferResult {
        match self {
            ResolveError::NotFound => TransferResult::NotFound,
            ResolveError::Ambiguous(_) => TransferResult::Ambiguous,
            ResolveError::NotLeaseHolder => TransferResult::NotLeaseHolder,
            ResolveError::OutsideRoot | ResolveError::NotAFile => TransferResult::Refused,
            ResolveError::Damaged { .. } => TransferResult::Damaged,
            ResolveError::Io(_) => TransferResult::Error,
        }
    }

    /// The text the client sees: short, and never a server path.
    pub fn client_message(&self) -> &'static str {
        match self {
            // Someone probing for passwords learns nothing, not even that
            // the file exists.
            ResolveError::NotFound | ResolveError::Ambiguous(_) | ResolveError::NotLeaseHolder => {
                "file not found"
            }
            ResolveError::OutsideRoot | ResolveError::NotAFile => "access violation",
            ResolveError::Io(_) | ResolveError::Damaged { .. } => "read error",
        }
    }
}

/// A resolved file.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub content: Bytes,
    /// Where it came from, for the transfer's log line.
    pub source: String,
}

/// Who answers a name that both the TFTP root and phoneboot could answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootFiles {
    /// The operator's file, byte for byte (as tftpd32 would); generated
    /// files fill only the names the root lacks. A default config in the
    /// root (`XMLDefault.cnf.xml`, `SIPDefault.cnf`) also stands for every
    /// phone the desired state does not name by MAC.
    #[default]
    Serve,
    /// Generated configs, then the library, then the root.
    Generated,
}

impl std::fmt::Display for RootFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RootFiles::Serve => "serve",
            RootFiles::Generated => "generated",
        })
    }
}

/// Configs made for the asking phone, asked before the library and the root.
/// The provisioning engine is one; the resolver knows only this face of it.
pub trait GeneratedSource: Send + Sync + std::fmt::Debug {
    /// Called for every request before anything is resolved, so a config
    /// rendered for it already reflects it.
    fn observe_request(&self, client: IpAddr, name: &str);
    /// The generated file for `name`, or `None` when it is not one this
    /// source makes.
    fn render(&self, client: IpAddr, name: &str) -> Option<Result<Resolved, ResolveError>>;
    /// True when `name` is a file this source makes.
    fn generates(&self, name: &str) -> bool;
    /// `client` was served `name` from the TFTP root, as it is (the
    /// operator's own file): the source learns what it tells the phone.
    fn observe_root_file(&self, client: IpAddr, name: &str, content: &[u8]);
    /// Whether the desired state names this phone by MAC (`[[phone]]` or a
    /// run-time edit). Only such phones get a per-phone file of a kind whose
    /// default the operator keeps in the root.
    fn names_phone(&self, mac: Mac) -> bool;
    /// The protocol `client` should recover into (which term file it gets).
    fn protocol_for(&self, client: IpAddr) -> Protocol;
    /// The firmware library changed (or was opened).
    fn catalog_changed(&self, catalog: Vec<AvailableLoad>);
}

/// The HTTP status that matches a TFTP error code, so a refusal reads the
/// same over both protocols.
pub fn http_status(code: tftp::ErrorCode) -> u16 {
    match code {
        tftp::ErrorCode::FileNotFound => 404,
        tftp::ErrorCode::AccessViolation => 403,
        tftp::ErrorCode::IllegalOperation => 400,
        _ => 500,
    }
}
