//! The operator dashboard: one HTML page, a script and a style sheet,
//! embedded in the binary so it works with no network beyond phoneboot (no
//! CDN, no build step). The page reads the same `/api` endpoints as any
//! client and follows `/api/events/stream`.
//!
//! Browsers cannot put `Authorization` on page loads or `EventSource`, so
//! when a token is configured `/?token=…` is accepted once: the answer is a
//! redirect to `/` that sets an `HttpOnly; SameSite=Strict` cookie holding a
//! value *derived* from the token (the token itself never reaches the cookie
//! jar or the page). [`super::auth`] accepts that cookie like the header.

use std::collections::HashMap;

use axum::extract::{Query, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use super::Shared;

pub const INDEX_HTML: &str = include_str!("dashboard/index.html");
pub const APP_JS: &str = include_str!("dashboard/app.js");
pub const APP_CSS: &str = include_str!("dashboard/app.css");

/// The session cookie's name.
pub const COOKIE: &str = "phoneboot_session";
/// How long a browser keeps the session (a week); `/?token=…` renews it.
const COOKIE_MAX_AGE_S: u32 = 7 * 24 * 3600;

/// Everything the page loads may come only from phoneboot itself; the
/// browser enforces what the asset test checks.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    security_headers(h);
    r
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A new binary may bring a new page; the assets are small.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The cookie value for `token`: a domain-separated SHA-256, so a stolen
/// cookie does not reveal the token (which also works for the CLI) and
/// changing the token ends every browser session.
pub fn session_value(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"phoneboot dashboard session v1\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// The session cookie's value in the request, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// `Some(token)` when the request is a page load `/?token=…`.
pub fn login_token(req: &Request) -> Option<String> {
    if req.uri().path() != "/" {
        return None;
    }
    let q = Query::<HashMap<String, String>>::try_from_uri(req.uri()).ok()?;
    q.0.get("token").cloned()
}

/// `/?token=…` with the right token (or when none is needed): back to `/`,
/// so the token leaves the address bar, with the session cookie when one is
/// needed.
pub fn login_redirect(token: Option<&str>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(t) = token {
        let cookie = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_S}",
            session_value(t)
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    r
}

/// The page a browser gets at `/` without a valid session: how to log in,
/// never the token.
pub fn login_page(wrong_token: bool) -> Response {
    let first = if wrong_token {
        "<p class=\"bad\">That token is not this server's token.</p>"
    } else {
        ""
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>phoneboot: token needed</title></head><body>\
         <h1>phoneboot needs its API token</h1>{first}\
         <p>Open <code>/?token=YOUR-TOKEN</code> once (the token from <code>[http] token</code>, \
         <code>--http-token</code> or <code>PHONEBOOT_HTTP_TOKEN</code>). The browser then keeps \
         a session cookie for a week and the token leaves the address bar.</p></body></html>"
    );
    let mut r = (StatusCode::UNAUTHORIZED, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    security_headers(h);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `http://`/`https://` in the embedded assets: the page must work
    /// with no network beyond phoneboot.
    fn external_urls(text: &str) -> Vec<String> {
        let lower = text.to_ascii_lowercase();
        let mut found = Vec::new();
        for scheme in ["http://", "https://", "=\"//", "url(//"] {
            let mut from = 0;
            while let Some(i) = lower.get(from..).and_then(|s| s.find(scheme)) {
                let at = from + i;
                let end = lower
                    .get(at..)
                    .and_then(|s| s.find(|c: char| c.is_whitespace() || "\"'`)<>".contains(c)))
                    .map_or(lower.len(), |e| at + e);
                found.push(text.get(at..end).unwrap_or_default().to_owned());
                from = at + scheme.len();
            }
        }
        found.sort();
        found
    }

    #[test]
    fn assets_reference_nothing_outside_phoneboot() {
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("app.js", APP_JS),
            ("app.css", APP_CSS),
        ] {
            let urls = external_urls(text);
            assert!(urls.is_empty(), "{name} references {urls:?}");
            assert!(!text.contains("@import"), "{name} imports a style sheet");
        }
        // The check itself finds what it must.
        assert_eq!(
            external_urls("<script src=\"https://cdn.example/x.js\"></script> HTTP://A.B/c"),
            ["HTTP://A.B/c", "https://cdn.example/x.js"]
        );
        assert_eq!(external_urls("fetch('/api/status')"), Vec::<String>::new());
    }

    #[test]
    fn the_page_loads_only_its_own_assets() {
        assert!(INDEX_HTML.contains("src=\"/assets/app.js\""));
        assert!(INDEX_HTML.contains("href=\"/assets/app.css\""));
        assert!(
            !INDEX_HTML.contains("<script>"),
            "inline scripts break the CSP"
        );
    }

    #[test]
    fn session_value_hides_the_token_and_follows_it() {
        let a = session_value("token-1234567890");
        assert_eq!(a.len(), 64);
        assert!(!a.contains("token-1234567890"));
        assert_eq!(a, session_value("token-1234567890"));
        assert_ne!(a, session_value("token-1234567891"));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; phoneboot_session=abc ; b=2"),
        );
        assert_eq!(cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("x=1"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("phoneboot_session=def"),
        );
        assert_eq!(cookie(&h), Some("def"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("phoneboot_sessionx=1"),
        );
        assert_eq!(cookie(&h), None);
    }

    #[test]
    fn the_login_page_never_shows_a_token() {
        let r = login_page(true);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = login_redirect(Some("sekrit-token-123"));
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let set = r.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(!set.contains("sekrit-token-123"), "{set}");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert_eq!(r.headers()[header::LOCATION], "/");
    }
}
