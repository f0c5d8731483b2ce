//! The operator API (JSON under `/api`, an SSE event stream, `/metrics`)
//! and the dashboard. See `docs/api.md`. Phones' HTTP file serving is a
//! driver in `net::phone_http`.
//!
//! Design:
//! - one [`ApiState`] shared by every handler; [`routes`] lists every
//!   route, the phone and desired-state ones from `phones`;
//! - when a token is configured every operator request needs
//!   `Authorization: Bearer <token>` (or the [`dashboard`]'s session
//!   cookie), compared in constant time; a listener off loopback without a
//!   token refuses to start (see `lib.rs`);
//! - every error, including unknown paths, wrong methods and bad queries, is
//!   JSON `{"error": "…"}` with a 4xx/5xx status; nothing here panics on
//!   input;
//! - nothing reads the config's secrets: the API has no route to the config.

pub mod dashboard;
pub mod eventlog;
pub mod metrics;
pub mod phones;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::net::transfers::TransferRegistry;
use crate::provision::{Engine, Resolver};
use eventlog::{EventLog, Filter};

/// The services `serve` started, as `/api/status` reports them.
#[derive(Debug, Clone, Serialize)]
pub struct Services {
    pub tftp: SocketAddr,
    pub api: SocketAddr,
    pub phone_http: Option<SocketAddr>,
    /// The DHCP interface summary, when DHCP runs.
    pub dhcp: Option<String>,
}

/// What the handlers share.
pub struct ApiState {
    pub started: Instant,
    pub started_unix_ms: i64,
    pub services: Services,
    pub resolver: Arc<Resolver>,
    pub engine: Arc<Engine>,
    pub data_dir: PathBuf,
    /// Where leases live (its password never leaves the process).
    pub store: crate::config::StoreLocation,
    /// The servers sharing the store, as the last heartbeat saw them.
    pub peers: Option<crate::net::dhcp::ha::Peers>,
    /// Run-time desired-state edits go to the other servers of the store.
    pub store_sync: Option<Arc<crate::sync::StoreSync>>,
    pub log: Arc<EventLog>,
    pub transfers: TransferRegistry,
    pub token: Option<String>,
    /// Ends SSE streams so shutdown is not held up by open readers.
    pub shutdown: CancellationToken,
    /// The SNTP server's and syslog receiver's counters, when they run.
    pub listeners: Vec<(&'static str, Arc<crate::net::listener::Counters>)>,
}

/// An error as every endpoint returns it: a status and `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad_request(format!("bad query string: {}", e.body_text()))
    }
}

type Shared = Arc<ApiState>;

/// The whole operator router, authentication included.
pub fn router(state: Shared) -> Router {
    routes()
        .merge(dashboard::routes())
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

/// The `/api` routes. The provisioning engine adds `/api/phones` and the
/// desired-state endpoints here.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/leases", get(leases))
        .route("/api/transfers", get(transfers))
        .route("/api/events", get(events))
        .route("/api/events/stream", get(event_stream))
        .route("/api/firmware", get(firmware))
        .route("/api/phones", get(phones::phones))
        .route("/api/phones/{mac}", get(phones::phone))
        .route(
            "/api/phones/{mac}/reboot",
            axum::routing::post(phones::reboot),
        )
        .route(
            "/api/phones/{mac}/retry",
            axum::routing::post(phones::retry),
        )
        .route("/api/desired", get(phones::desired))
        .route(
            "/api/desired/phones/{mac}",
            get(phones::get_phone)
                .put(phones::put_phone)
                .delete(phones::delete_phone),
        )
}

/// Constant time for equal lengths, so the token cannot be guessed byte by
/// byte from response times (its length can; make it long).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    diff == 0
}

/// The bearer header, or the dashboard's session cookie (see
/// [`dashboard`]); `/?token=…` turns a valid token into that cookie.
async fn auth(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let login = dashboard::login_token(&req);
    let Some(token) = &s.token else {
        if login.is_some() {
            // Nothing to log in to; drop the token from the address bar.
            return dashboard::login_redirect(None);
        }
        return next.run(req).await;
    };
    let ok = |given: &str| same_secret(given.as_bytes(), token.as_bytes());
    if let Some(given) = login {
        return if ok(given.trim()) {
            dashboard::login_redirect(Some(token))
        } else {
            dashboard::login_page(true)
        };
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let session = dashboard::cookie(req.headers())
        .is_some_and(|c| same_secret(c.as_bytes(), dashboard::session_value(token).as_bytes()));
    if bearer.is_some_and(ok) || session {
        return next.run(req).await;
    }
    if req.uri().path() == "/" {
        return dashboard::login_page(false);
    }
    let mut r = ApiError(
        StatusCode::UNAUTHORIZED,
        "this server needs a token: send `Authorization: Bearer <token>` \
         (the CLI takes --token or PHONEBOOT_HTTP_TOKEN; a browser opens /?token=<token> once)"
            .into(),
    )
    .into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn not_found(req: Request) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint {}; see docs/api.md for the list (/api/status, /api/leases, …)",
            req.uri().path()
        ),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}; see docs/api.md for the methods each endpoint takes",
            req.method(),
            req.uri().path()
        ),
    )
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Rejects query parameters an endpoint does not know, so a typo is not
/// silently ignored.
fn only(q: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) if known.is_empty() => Err(ApiError::bad_request(format!(
            "unknown query parameter {k:?}; this endpoint takes none"
        ))),
        Some(k) => Err(ApiError::bad_request(format!(
            "unknown query parameter {k:?}; use {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Lease rows from the store (DHCP's durable view; the store is written
/// before each reply, so it is current).
#[derive(Debug, Serialize)]
pub struct LeaseView {
    pub mac: String,
    pub ip: std::net::Ipv4Addr,
    pub model: Option<String>,
    pub hostname: Option<String>,
    pub expires_unix_ms: i64,
    /// `active` or `expired`.
    pub state: &'static str,
    /// The server that wrote it, when several share the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

async fn read_leases(
    store: crate::config::StoreLocation,
    data_dir: PathBuf,
) -> Result<Vec<LeaseView>, ApiError> {
    let now = unix_ms();
    let rows =
        tokio::task::spawn_blocking(move || crate::net::dhcp::leases::list(&store, &data_dir))
            .await
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| {
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot read the lease store: {e:#}"),
                )
            })?;
    Ok(rows
        .into_iter()
        .map(|(l, server)| LeaseView {
            mac: cisco::Mac(l.mac).to_string(),
            ip: l.ip,
            model: l.model,
            hostname: l.hostname,
            expires_unix_ms: l.expires_unix_ms,
            state: if l.expires_unix_ms > now {
                "active"
            } else {
                "expired"
            },
            server,
        })
        .collect())
}

async fn leases(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    only(&q?.0, &[])?;
    let leases = read_leases(s.store.clone(), s.data_dir.clone()).await?;
    Ok(Json(json!({ "leases": leases })))
}

async fn transfers(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    only(&q?.0, &[])?;
    Ok(Json(json!({
        "live": s.transfers.live(),
        "recent": s.transfers.recent(),
    })))
}

/// One library load as `/api/firmware` lists it.
#[derive(Debug, Serialize)]
pub struct LoadView {
    pub name: String,
    pub family: String,
    pub protocol: Option<String>,
    pub version: String,
    pub models: Vec<String>,
    pub files: usize,
    pub size: u64,
    pub complete: bool,
    pub missing: Vec<String>,
    /// `library`, or `root` for loads lying in the TFTP root.
    pub source: &'static str,
}

fn loads(resolver: &Resolver) -> Vec<LoadView> {
    let library = resolver
        .library()
        .map(|lib| lib.loads())
        .unwrap_or_default()
        .into_iter()
        .map(|l| (l, "library"));
    let root = resolver
        .root_loads()
        .into_iter()
        .map(|l| (l.info(), "root"));
    library
        .chain(root)
        .map(|(l, source)| LoadView {
            source,
            name: l.name.to_string(),
            family: l.family.to_string(),
            protocol: l.protocol.map(|p| p.to_string()),
            version: l.version.to_string(),
            models: l.models.iter().map(ToString::to_string).collect(),
            files: l.files,
            size: l.size,
            complete: l.complete,
            missing: l.missing,
        })
        .collect()
}

async fn firmware(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    only(&q?.0, &[])?;
    let resolver = s.resolver.clone();
    let list = tokio::task::spawn_blocking(move || {
        let terms = resolver
            .library()
            .map(|l| (l.protocol().to_string(), l.summary().terms));
        (loads(&resolver), terms)
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (loads, terms) = list;
    Ok(Json(json!({
        "loads": loads,
        "default_protocol": terms.as_ref().map(|t| t.0.clone()),
        "term_files": terms.map(|t| t.1).unwrap_or_default(),
    })))
}

async fn status(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    only(&q?.0, &[])?;
    let leases = read_leases(s.store.clone(), s.data_dir.clone()).await;
    let resolver = s.resolver.clone();
    let loads = tokio::task::spawn_blocking(move || loads(&resolver))
        .await
        .unwrap_or_default();
    let (done, errors) = s.log.metrics.totals();
    let mut problems = Vec::new();
    let active = match &leases {
        Ok(l) => l.iter().filter(|l| l.state == "active").count(),
        Err(e) => {
            problems.push(e.1.clone());
            0
        }
    };
    for l in loads.iter().filter(|l| !l.complete) {
        problems.push(match l.source {
            "root" => format!(
                "firmware load {} in the TFTP root is incomplete (missing {}) and is not offered to phones; \
                 unzip its whole bundle into the root",
                l.name,
                l.missing.join(", ")
            ),
            _ => format!(
                "firmware load {} is incomplete (missing {}) and is not served; import its full bundle",
                l.name,
                l.missing.join(", ")
            ),
        });
    }
    let root_notes = {
        let resolver = s.resolver.clone();
        tokio::task::spawn_blocking(move || resolver.root_notes())
            .await
            .unwrap_or_default()
    };
    for n in root_notes.iter().filter(|n| n.problem.is_some()) {
        problems.push(format!("TFTP root: {n}"));
    }
    if s.resolver.library().is_some() && !loads.iter().any(|l| l.complete) {
        problems.push(
            "the firmware library has no complete load; import one with `phoneboot firmware import`".into(),
        );
    }
    for (kind, n) in &errors {
        problems.push(format!(
            "{n} × {kind} since start (see `phoneboot events --type …`)"
        ));
    }
    let phones = s.engine.phones();
    let phones_by_stage = crate::provision::engine::words::by_stage(&phones);
    for v in &phones {
        if let Some(d) = &v.diagnosis {
            problems.push(format!("phone {}: {d}", v.mac));
        }
    }
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_unix_ms": s.started_unix_ms,
        "uptime_seconds": s.started.elapsed().as_secs(),
        "services": s.services,
        "counts": {
            "leases_active": active,
            "transfers_active": s.transfers.live().len(),
            "transfers_done": done,
            "firmware_loads_complete": loads.iter().filter(|l| l.complete).count(),
            "firmware_loads_incomplete": loads.iter().filter(|l| !l.complete).count(),
            "events": s.log.len(),
            "phones": phones_by_stage,
        },
        "errors": errors,
        "problems": problems,
        "root_files": {
            "mode": s.resolver.root_files().to_string(),
            "notes": root_notes,
        },
        "store": s.store.describe(&s.data_dir),
        "servers": s.peers.as_ref().map(|p| {
            p.lock()
                .map(|l| {
                    l.iter()
                        .map(|p| json!({"name": p.name, "addr": p.addr, "heartbeat_age_ms": p.age_ms}))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }),
    })))
}

/// A time given as Unix milliseconds, RFC 3339, or an age like `10m`.
fn parse_time(key: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return Ok(t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0));
    }
    if let Ok(age) = humantime::parse_duration(text) {
        return Ok(unix_ms().saturating_sub(age.as_millis().min(i64::MAX as u128) as i64));
    }
    Err(ApiError::bad_request(format!(
        "{key}={text:?} is not a time: give Unix milliseconds, RFC 3339 (2024-05-01T10:00:00Z) or an age (10m)"
    )))
}

/// The filter parameters shared by `/api/events` and the stream.
fn filter(q: &HashMap<String, String>) -> Result<Filter, ApiError> {
    let mut f = Filter::default();
    if let Some(m) = q.get("mac") {
        f.mac = Some(
            m.parse::<cisco::Mac>()
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "mac={m:?} is not a MAC address (00:1b:54:aa:bb:cc, 001B54AABBCC, …)"
                    ))
                })?
                .0,
        );
    }
    if let Some(t) = q.get("type") {
        let types: Vec<String> = t.split(',').map(|s| s.trim().to_owned()).collect();
        if types
            .iter()
            .any(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        {
            return Err(ApiError::bad_request(format!(
                "type={t:?} is not a comma-separated list of event types (tftp_transfer, http_transfer, transfer_started, tftp_refused, dhcp)"
            )));
        }
        f.types = Some(types);
    }
    if let Some(t) = q.get("since") {
        f.since_unix_ms = Some(parse_time("since", t)?);
    }
    if let Some(t) = q.get("until") {
        f.until_unix_ms = Some(parse_time("until", t)?);
    }
    Ok(f)
}

fn limit(q: &HashMap<String, String>, key: &str, default: usize) -> Result<usize, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if n <= eventlog::CAPACITY => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "{key}={t:?} must be a whole number from 0 to {}",
                eventlog::CAPACITY
            ))),
        },
    }
}

async fn events(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = q?.0;
    only(&q, &["mac", "type", "since", "until", "limit"])?;
    let f = filter(&q)?;
    let n = limit(&q, "limit", 100)?;
    let list: Vec<serde_json::Value> = s.log.query(&f, n).iter().map(|e| e.json()).collect();
    Ok(Json(json!({ "events": list })))
}

/// Live events as SSE (`event: <type>`, `id: <seq>`, `data: <json>`);
/// `backlog=N` first sends up to N past matching events. A reader that falls
/// behind gets `event: lagged` with how many it missed, then carries on.
async fn event_stream(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = q?.0;
    only(&q, &["mac", "type", "since", "until", "backlog"])?;
    let f = filter(&q)?;
    let backlog = limit(&q, "backlog", 0)?;
    let rx = s.log.subscribe();
    let past = if backlog > 0 {
        s.log.query(&f, backlog)
    } else {
        Vec::new()
    };
    let last = past.last().map(|e| e.seq).unwrap_or(0);
    let to_sse = |e: &eventlog::Entry| {
        sse::Event::default()
            .event(e.kind)
            .id(e.seq.to_string())
            .data(e.json().to_string())
    };
    let past = futures_util::stream::iter(
        past.iter()
            .map(|e| Ok::<_, Infallible>(to_sse(e)))
            .collect::<Vec<_>>(),
    );
    let live = futures_util::stream::unfold((rx, f), move |(mut rx, f)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if e.seq > last && f.matches(&e) => {
                    let ev = to_sse(&e);
                    return Some((Ok::<_, Infallible>(ev), (rx, f)));
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let ev = sse::Event::default()
                        .event("lagged")
                        .data(json!({ "missed": n }).to_string());
                    return Some((Ok(ev), (rx, f)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = past
        .chain(live)
        .take_until(s.shutdown.clone().cancelled_owned());
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

async fn metrics(State(s): State<Shared>) -> Result<Response, ApiError> {
    let leases = read_leases(s.store.clone(), s.data_dir.clone())
        .await
        .unwrap_or_default();
    let resolver = s.resolver.clone();
    let loads = tokio::task::spawn_blocking(move || loads(&resolver))
        .await
        .unwrap_or_default();
    let g = metrics::Gauges {
        uptime_seconds: s.started.elapsed().as_secs_f64(),
        leases_active: leases.iter().filter(|l| l.state == "active").count() as u64,
        leases_expired: leases.iter().filter(|l| l.state == "expired").count() as u64,
        transfers_active: s.transfers.live_counts(),
        loads_complete: loads.iter().filter(|l| l.complete).count(),
        loads_incomplete: loads.iter().filter(|l| !l.complete).count(),
        phones_by_stage: crate::provision::engine::words::by_stage(&s.engine.phones()),
        sccp_sessions: s.engine.sccp_sessions(),
    };
    let mut text = s.log.metrics.render(&g);
    listener_metrics(&mut text, &s.listeners);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `phoneboot_sntp_datagrams_total{result=…}` and the same for syslog.
fn listener_metrics(
    out: &mut String,
    listeners: &[(&'static str, Arc<crate::net::listener::Counters>)],
) {
    use std::fmt::Write as _;
    for (name, counters) in listeners {
        let c = counters.snapshot();
        let metric = format!("phoneboot_{name}_datagrams_total");
        let _ = writeln!(
            out,
            "# HELP {metric} Datagrams the {name} listener received, by what became of them.\n# TYPE {metric} counter"
        );
        for (result, n) in [
            ("received", c.received),
            ("answered", c.answered),
            ("malformed", c.malformed),
            ("rate_limited", c.rate_limited),
            ("error", c.errors),
        ] {
            let _ = writeln!(out, "{metric}{{result=\"{result}\"}} {n}");
        }
    }
}

/// Binds a TCP listener, on one interface only when `device` is given
/// (SO_BINDTODEVICE, as DHCP does), with an error that says what to do.
pub fn bind_tcp(
    addr: SocketAddr,
    device: Option<&str>,
    what: &str,
    flag: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bind = || -> std::io::Result<std::net::TcpListener> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        if let Some(d) = device {
            s.bind_device(Some(d.as_bytes()))?;
        }
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        s.listen(1024)?;
        Ok(s.into())
    };
    let std_listener = bind().map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied => format!(
                "ports below 1024 need root or CAP_NET_BIND_SERVICE; or pick another {flag}"
            ),
            std::io::ErrorKind::AddrInUse => format!(
                "another program (another phoneboot?) uses it: find it with `ss -tlpn 'sport = :{}'`, \
                 stop it, or choose another {flag}",
                addr.port()
            ),
            std::io::ErrorKind::AddrNotAvailable => {
                "that address is not on any interface of this machine: check `ip addr`".to_owned()
            }
            _ => format!("check {flag} and try again"),
        };
        anyhow::anyhow!("cannot listen for {what} on {addr}: {e}; {hint}")
    })?;
    Ok(tokio::net::TcpListener::from_std(std_listener)?)
}

/// Serves the operator API until shutdown.
pub async fn serve(listener: tokio::net::TcpListener, state: Shared) -> anyhow::Result<()> {
    let shutdown = state.shutdown.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn times_in_three_forms() {
        assert_eq!(
            parse_time("since", "1700000000000").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("since", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        let ago = parse_time("since", "10m").unwrap();
        assert!((unix_ms() - ago - 600_000).abs() < 5_000);
        assert!(parse_time("since", "yesterday-ish").is_err());
    }
}
