//! `[http]`: the operator API and the phones' HTTP file serving.

use std::net::SocketAddr;

/// The operator API and the phones' HTTP file serving.
#[derive(Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// `None` when phone HTTP is off.
    pub phone_listen: Option<SocketAddr>,
    /// Required from API clients when set; required to be set when `listen`
    /// is not loopback.
    pub token: Option<String>,
}

impl std::fmt::Debug for HttpConfig {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("phone_listen", &self.phone_listen)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// `off` or an address:port, as `--phone-http-listen` and
/// `http.phone_listen` take it.
pub fn parse_phone_listen(text: &str) -> Result<Option<SocketAddr>, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        format!("{text:?} is not an address:port or \"off\" (example: \"0.0.0.0:6970\")")
    })
}
