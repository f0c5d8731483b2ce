//! `phoneboot status` and `phoneboot events`: small HTTP/1.1 clients of the
//! operator API, on hyper's client (already built for axum), plain HTTP only.

use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::cli::ApiClientArgs;

struct Api {
    base: String,
    authority: String,
    prefix: String,
    token: Option<String>,
}

impl Api {
    fn new(args: &ApiClientArgs) -> anyhow::Result<Api> {
        let base = args.server.trim_end_matches('/').to_owned();
        let rest = base.strip_prefix("http://").ok_or_else(|| {
            anyhow::anyhow!(
                "--server {base:?} must start with http:// (the API speaks plain HTTP; put a TLS proxy in front if needed)"
            )
        })?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
            None => (rest.to_owned(), String::new()),
        };
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority
        } else {
            format!("{authority}:80")
        };
        Ok(Api {
            base,
            authority,
            prefix,
            token: args.token.clone().filter(|t| !t.is_empty()),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        self.request(hyper::Method::GET, path).await
    }

    async fn request(
        &self,
        method: hyper::Method,
        path: &str,
    ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    anyhow::anyhow!(
                        "no phoneboot server is running at {} (start one with `phoneboot serve`)",
                        self.base
                    )
                } else {
                    anyhow::anyhow!("cannot reach the phoneboot server at {}: {e}", self.base)
                }
            })?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("talking to {}", self.base))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(hyper::header::HOST, &self.authority);
        if let Some(t) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = send
            .send_request(req.body(Empty::<Bytes>::new())?)
            .await
            .with_context(|| format!("talking to {}", self.base))?;
        if resp.status() == hyper::StatusCode::UNAUTHORIZED {
            anyhow::bail!(
                "the server at {} needs a token: pass --token or set PHONEBOOT_HTTP_TOKEN",
                self.base
            );
        }
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            let msg = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            anyhow::bail!("the server answered {status}: {msg}");
        }
        Ok(resp)
    }

    async fn json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let body = self
            .get(path)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes();
        serde_json::from_slice(&body)
            .with_context(|| format!("{}{path} did not answer with JSON", self.base))
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `phoneboot status`.
pub fn status(args: &ApiClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let s = runtime()?.block_on(api.json("/api/status"))?;
    let svc = &s["services"];
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "off".to_owned(),
        serde_json::Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    println!(
        "phoneboot {} at {}, up {}",
        s["version"].as_str().unwrap_or("?"),
        api.base,
        humantime::format_duration(Duration::from_secs(
            s["uptime_seconds"].as_u64().unwrap_or(0)
        ))
    );
    println!("  tftp:        {}", show(&svc["tftp"]));
    println!("  phone http:  {}", show(&svc["phone_http"]));
    println!("  dhcp:        {}", show(&svc["dhcp"]));
    println!("  api:         {}", show(&svc["api"]));
    println!("  leases in:   {}", show(&s["store"]));
    if let Some(servers) = s["servers"].as_array() {
        let list: Vec<String> = servers
            .iter()
            .map(|p| {
                format!(
                    "{} ({}, beat {} ms ago)",
                    p["name"].as_str().unwrap_or("?"),
                    p["addr"].as_str().unwrap_or("?"),
                    p["heartbeat_age_ms"]
                )
            })
            .collect();
        println!("  servers:     {}", list.join(", "));
    }
    let c = &s["counts"];
    println!(
        "  leases {} active · transfers {} running, {} done · firmware {} complete, {} incomplete · {} events",
        c["leases_active"], c["transfers_active"], c["transfers_done"],
        c["firmware_loads_complete"], c["firmware_loads_incomplete"], c["events"]
    );
    if let Some(by) = c["phones"].as_object().filter(|m| !m.is_empty()) {
        let parts: Vec<String> = by.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!("  phones {}", parts.join(" · "));
    }
    let problems = s["problems"].as_array().cloned().unwrap_or_default();
    if problems.is_empty() {
        println!("no problems");
    } else {
        println!("problems:");
        for p in problems {
            println!("  - {}", p.as_str().unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `phoneboot phones`: one line per phone the engine knows.
pub fn phones(args: &ApiClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let list = runtime()?.block_on(api.json("/api/phones"))?;
    let list = list.as_array().cloned().unwrap_or_default();
    // Servers sharing a store: each phone with the server that saw it.
    let shared = list.iter().any(|p| p["server"].is_string());
    let server_col = |v: &serde_json::Value| {
        if shared {
            format!("{:<20}  ", v.as_str().unwrap_or("-"))
        } else {
            String::new()
        }
    };
    println!(
        "{:<17}  {:<15}  {:<8}  {:<20}  {:<20}  {:<24}  {}stage",
        "MAC",
        "IP",
        "model",
        "runs",
        "target",
        "config from",
        server_col(&serde_json::Value::String("server".into()))
    );
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    for p in &list {
        let source = match p["config_source"]["kind"].as_str() {
            Some("operator") => format!("root:{}", text(&p["config_source"]["file"])),
            Some("generated") => "generated".to_owned(),
            _ => "-".to_owned(),
        };
        println!(
            "{:<17}  {:<15}  {:<8}  {:<20}  {:<20}  {:<24}  {}{}",
            text(&p["mac"]),
            text(&p["ip"]),
            text(&p["model"]),
            text(&p["current_load"]),
            text(&p["target_load"]),
            source,
            server_col(&p["server"]),
            text(&p["stage_text"]),
        );
        if let Some(d) = p["diagnosis"].as_object() {
            println!(
                "    ! {}",
                d.get("message").and_then(|m| m.as_str()).unwrap_or("")
            );
            println!(
                "      fix: {}",
                d.get("fix").and_then(|m| m.as_str()).unwrap_or("")
            );
        }
    }
    println!("{} phones", list.len());
    Ok(ExitCode::SUCCESS)
}

/// `POST /api/phones/{mac}/{action}` for a MAC in any notation: the MAC
/// as the server writes it, and the JSON answer.
fn phone_action(
    args: &ApiClientArgs,
    mac: &str,
    action: &str,
) -> anyhow::Result<(cisco::Mac, serde_json::Value)> {
    let mac: cisco::Mac = mac
        .parse()
        .map_err(|e| anyhow::anyhow!("{mac:?} is not a MAC address: {e}"))?;
    let api = Api::new(args)?;
    let path = format!("/api/phones/{mac}/{action}");
    let answer = runtime()?.block_on(async {
        let body = api
            .request(hyper::Method::POST, &path)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes();
        serde_json::from_slice::<serde_json::Value>(&body)
            .with_context(|| format!("{}{path} did not answer with JSON", api.base))
    })?;
    Ok((mac, answer))
}

/// `phoneboot phones reboot MAC`: through the phone's SCCP session with
/// phoneboot, else a SIP NOTIFY.
pub fn reboot(args: &ApiClientArgs, mac: &str) -> anyhow::Result<ExitCode> {
    let (mac, answer) = phone_action(args, mac, "reboot")?;
    println!(
        "{mac}: {} sent; `phoneboot events --mac {mac} -f` shows it come back",
        answer["channel_text"].as_str().unwrap_or("reboot")
    );
    Ok(ExitCode::SUCCESS)
}

/// `phoneboot phones retry MAC`: clears the diagnosis that stops the
/// phone's walk so its current hop is tried again.
pub fn retry(args: &ApiClientArgs, mac: &str) -> anyhow::Result<ExitCode> {
    let (mac, answer) = phone_action(args, mac, "retry")?;
    println!(
        "{mac}: cleared \"{}\"; its current hop is tried again (`phoneboot events --mac {mac} -f` follows it)",
        answer["cleared"]["message"].as_str().unwrap_or("its diagnosis")
    );
    Ok(ExitCode::SUCCESS)
}

fn query(mac: Option<&str>, kind: Option<&str>, count: (&str, usize)) -> String {
    let mut q = format!("?{}={}", count.0, count.1);
    for (k, v) in [("mac", mac), ("type", kind)] {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", encode(v)));
        }
    }
    q
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b',') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One line per event: time, type, then the fields that have a value.
pub fn event_line(e: &serde_json::Value) -> String {
    let ms = e["time_unix_ms"].as_u64().unwrap_or(0);
    let time = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms));
    let mut line = format!("{time}  {}", e["type"].as_str().unwrap_or("?"));
    if let Some(obj) = e.as_object() {
        for (k, v) in obj {
            if matches!(k.as_str(), "type" | "seq" | "time_unix_ms") {
                continue;
            }
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::Array(a) if a.is_empty() => {}
                serde_json::Value::String(s) => line.push_str(&format!(" {k}={s}")),
                other => line.push_str(&format!(" {k}={other}")),
            }
        }
    }
    line
}

/// `phoneboot events`.
pub fn events(
    args: &ApiClientArgs,
    follow: bool,
    mac: Option<&str>,
    kind: Option<&str>,
    lines: usize,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let api = Api::new(args)?;
    runtime()?.block_on(async {
        if !follow {
            let v = api
                .json(&format!(
                    "/api/events{}",
                    query(mac, kind, ("limit", lines))
                ))
                .await?;
            for e in v["events"].as_array().into_iter().flatten() {
                println!("{}", event_line(e));
            }
            return Ok(ExitCode::SUCCESS);
        }
        let path = format!("/api/events/stream{}", query(mac, kind, ("backlog", lines)));
        let mut body = api.get(&path).await?.into_body();
        let mut buf: Vec<u8> = Vec::new();
        let mut out = std::io::stdout();
        while let Some(frame) = body.frame().await {
            let frame = frame.context("the server closed the event stream")?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = buf.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&block);
                let mut name = "";
                let mut payload = String::new();
                for l in text.lines() {
                    if let Some(v) = l.strip_prefix("event:") {
                        name = v.trim();
                    } else if let Some(v) = l.strip_prefix("data:") {
                        payload.push_str(v.trim_start());
                    }
                }
                if payload.is_empty() {
                    continue;
                }
                let line = match (name, serde_json::from_str::<serde_json::Value>(&payload)) {
                    ("lagged", Ok(v)) => {
                        format!("… {} events skipped (this reader fell behind)", v["missed"])
                    }
                    (_, Ok(v)) => event_line(&v),
                    (_, Err(_)) => payload,
                };
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    return Ok(ExitCode::SUCCESS); // stdout closed (| head)
                }
            }
        }
        eprintln!("phoneboot: the server ended the event stream (it stopped)");
        Ok(ExitCode::from(1))
    })
}
