//! The one place a phone's file request becomes file contents, for TFTP and
//! phone HTTP alike, so both serve the same files with the same refusals.
//! Per-client rules (generated per-phone configs, per-MAC rules) belong in
//! [`serve_file`], which already receives the client's address.

use std::net::SocketAddr;

use crate::resolver::{ResolveError, Resolved, Resolver};

/// Resolves `path` (already through `tftp::path::sanitize`, as the TFTP
/// server does for every RRQ) for `client`. Blocking: call it from
/// `spawn_blocking`.
pub fn serve_file(
    resolver: &Resolver,
    client: SocketAddr,
    path: &str,
) -> Result<Resolved, ResolveError> {
    resolver.resolve(client.ip(), path)
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
