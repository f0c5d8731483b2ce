//! HTTP file serving for phones (newer loads try HTTP on port 6970 before
//! TFTP). Every GET goes through the same steps as a TFTP read request:
//! the URL path, percent-decoded, is the TFTP file name; it passes
//! `tftp::path::sanitize` and then [`crate::provision::Resolver::resolve`], and a
//! refusal maps to the HTTP status matching the TFTP error code
//! ([`crate::provision::served::http_status`]). So both protocols serve the same
//! bytes and refuse the same names.
//!
//! HEAD answers with the headers only and records no transfer. Range
//! requests are not supported (`Accept-Ranges: none`): 79xx phones fetch
//! whole files, and a retry starts over, as with TFTP.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, EventBus, FileProtocol, HttpTransfer, TransferResult};
use crate::net::transfers::TransferRegistry;
use crate::provision::{ResolveError, Resolver};

/// Chunk size handed to the socket; progress is counted per chunk.
const CHUNK: usize = 64 * 1024;

pub struct PhoneHttp {
    pub resolver: Arc<Resolver>,
    pub events: EventBus,
    pub transfers: TransferRegistry,
}

/// Serves phones until shutdown (running downloads get a short grace).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<PhoneHttp>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = Router::new().fallback(handle).with_state(state);
    let graceful = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    };
    tokio::select! {
        r = graceful => r?,
        _ = grace => tracing::warn!("phone http: downloads still running after 3s; stopping anyway"),
    }
    Ok(())
}

/// Decodes `%XX` escapes; `None` for a broken escape.
fn percent_decode(path: &str) -> Option<Vec<u8>> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".xml") {
        "text/xml"
    } else if lower.ends_with(".txt") || lower.ends_with(".loads") || lower.ends_with(".cnf") {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

struct Refusal {
    status: u16,
    result: TransferResult,
    message: &'static str,
    detail: String,
}

fn refuse(
    code: tftp::ErrorCode,
    result: TransferResult,
    message: &'static str,
    detail: String,
) -> Refusal {
    let status = crate::provision::served::http_status(code);
    Refusal {
        status,
        result,
        message,
        detail,
    }
}

async fn handle(
    State(s): State<Arc<PhoneHttp>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = (StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n").into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let raw = req.uri().path();
    // The name exactly as TFTP would have received it.
    let name = percent_decode(raw.strip_prefix('/').unwrap_or(raw))
        .ok_or(())
        .and_then(|b| String::from_utf8(b).map_err(|_| ()));
    let outcome = match &name {
        Err(()) => Err(refuse(
            tftp::ErrorCode::IllegalOperation,
            TransferResult::BadRequest,
            "bad file name",
            "the path is not valid UTF-8 or has a broken %-escape".into(),
        )),
        Ok(name) => match tftp::path::sanitize(name) {
            Err(e) => Err(refuse(
                tftp::ErrorCode::AccessViolation,
                TransferResult::Refused,
                "access violation",
                e.to_string(),
            )),
            Ok(path) => {
                let resolver = s.resolver.clone();
                match tokio::task::spawn_blocking(move || resolver.resolve(client.ip(), &path))
                    .await
                {
                    Ok(Ok(found)) => Ok(found),
                    Ok(Err(e)) => Err(resolve_refusal(&e)),
                    Err(e) => Err(refuse(
                        tftp::ErrorCode::NotDefined,
                        TransferResult::Error,
                        "read error",
                        format!("lookup task failed: {e}"),
                    )),
                }
            }
        },
    };
    let file = match &name {
        Ok(n) => n.clone(),
        Err(()) => String::from_utf8_lossy(raw.as_bytes()).into_owned(),
    };
    let found = match outcome {
        Ok(f) => f,
        Err(r) => {
            if !head {
                s.events.emit(Event::HttpTransfer(HttpTransfer {
                    client,
                    file,
                    source: None,
                    status: r.status,
                    size: 0,
                    bytes: 0,
                    duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                    result: r.result,
                    error: Some(r.detail),
                }));
            }
            let status =
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, format!("{}\n", r.message)).into_response();
        }
    };
    let size = found.content.len() as u64;
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type(&file))
        .header(header::CONTENT_LENGTH, size)
        .header(header::ACCEPT_RANGES, "none");
    if head {
        return builder
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    let guard = s
        .transfers
        .start(client, &file, FileProtocol::Http, size, &found.source);
    // The record goes out when the body is done or dropped (client gone).
    let done = Finish {
        events: s.events.clone(),
        record: Some(HttpTransfer {
            client,
            file,
            source: Some(found.source),
            status: 200,
            size,
            bytes: 0,
            duration_ms: 0.0,
            result: TransferResult::Aborted,
            error: None,
        }),
        started,
        guard: Some(guard),
    };
    builder = builder.header(header::CACHE_CONTROL, "no-cache");
    if size == 0 {
        let mut done = done;
        done.complete(0);
        return builder
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    // hyper stops polling once Content-Length bytes are out, so the last
    // chunk handed over completes the download ("ok" = every byte was given
    // to the connection); a body dropped earlier is an aborted download.
    let body = futures_util::stream::unfold(
        (found.content, 0usize, done),
        |(content, offset, mut done)| async move {
            if offset >= content.len() {
                return None;
            }
            let end = (offset + CHUNK).min(content.len());
            let chunk: Bytes = content.slice(offset..end);
            if end == content.len() {
                done.complete(end as u64);
            } else {
                done.progress(end as u64);
            }
            Some((Ok::<_, Infallible>(chunk), (content, end, done)))
        },
    );
    builder
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn resolve_refusal(e: &ResolveError) -> Refusal {
    refuse(e.tftp_code(), e.result(), e.client_message(), e.to_string())
}

/// Emits the download's event once, finished or not.
struct Finish {
    events: EventBus,
    record: Option<HttpTransfer>,
    started: Instant,
    guard: Option<crate::net::transfers::TransferGuard>,
}

impl Finish {
    fn progress(&mut self, bytes: u64) {
        if let Some(g) = &self.guard {
            g.progress(bytes);
        }
        if let Some(r) = &mut self.record {
            r.bytes = bytes;
        }
    }

    fn complete(&mut self, bytes: u64) {
        self.progress(bytes);
        if let Some(r) = &mut self.record {
            r.result = TransferResult::Ok;
        }
        self.emit();
    }

    fn emit(&mut self) {
        let Some(mut r) = self.record.take() else {
            return;
        };
        r.duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        if r.result != TransferResult::Ok {
            r.error = Some("the client closed the connection before the end".into());
        }
        if let Some(g) = self.guard.take() {
            g.finish(r.result, r.bytes);
        }
        self.events.emit(Event::HttpTransfer(r));
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%2e%2E").unwrap(), b"a/b..");
        assert_eq!(percent_decode("%ff%FE").unwrap(), [0xff, 0xfe]);
        assert!(percent_decode("bad%2").is_none());
        assert!(percent_decode("bad%zz").is_none());
        assert!(percent_decode("%").is_none());
    }
}
