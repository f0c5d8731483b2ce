//! `/api/phones`, `/api/phones/{mac}` and `/api/desired`: the provisioning
//! engine's view, for the dashboard and `phoneboot phones`. SIP passwords
//! never leave here: the desired state is returned with them replaced.

use std::collections::BTreeMap;
use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::eventlog::Filter;
use super::{only, ApiError, Shared};
use crate::provision::desired::{file, DesiredError};
use crate::provision::engine::{words, Engine, RetryRefused};

/// One phone as the API shows it (the shape `docs/api.md` documents).
pub fn phone_json(e: &Engine, v: &cisco::PhoneView) -> Value {
    let of = match v.stage {
        cisco::Stage::Downloading { of, .. }
        | cisco::Stage::Rebooting { of, .. }
        | cisco::Stage::Verifying { of, .. }
        | cisco::Stage::Resetting { of, .. }
        | cisco::Stage::OnHop { of, .. } => Some(of),
        _ => None,
    };
    let hops_left = v.hops.len() as u32;
    let hops_done = v.hops_done;
    let protocol = v
        .target
        .as_ref()
        .and_then(|t| t.protocol())
        .map(|p| p.to_string());
    json!({
        "mac": v.mac.to_string(),
        "ip": v.ip,
        "model": v.model.map(|m| m.name()),
        "model_evidence": v.model_evidence,
        "protocol": protocol,
        "stage": words::stage_word(&v.stage),
        "stage_text": v.stage.to_string(),
        "current_load": v.current.as_ref().map(ToString::to_string),
        "evidence": v.evidence,
        "next_load": v.next.as_ref().map(ToString::to_string),
        "config_source": config_source_json(&v.config_source),
        "target_load": v.target.as_ref().map(ToString::to_string),
        "hops_done": hops_done,
        "hops_total": of.unwrap_or(hops_done + hops_left),
        "hops": v.hops.iter().map(|h| json!({"load": h.load.to_string(), "why": h.why.as_str()})).collect::<Vec<_>>(),
        "attempts": v.attempts,
        "progress": v.progress.map(|p| json!({
            "files_done": p.files_done,
            "files_total": p.files_total,
            "bytes_done": p.bytes_done,
            "bytes_total": p.bytes_total,
        })),
        "diagnosis": v.diagnosis.as_ref().map(|d| json!({
            "code": words::diagnosis_code(d),
            "message": words::diagnosis_problem(d),
            "fix": d.fix(),
        })),
        "last_seen_unix_ms": v.last_seen.map(|t| e.unix_ms(t)),
        "reboot_channel": v.channel.map(|c| c.word()),
        "reboot_channel_text": v.channel.map(|c| c.to_string()),
        "reboot_pending": v.reboot.as_ref().map(|r| json!({
            "channel": r.channel.word(),
            "cause": r.cause.to_string(),
            "since_unix_ms": e.unix_ms(r.at),
        })),
        "resets_this_hop": v.resets,
        "sccp": e.sccp_session(v.mac).map(|s| json!({
            "peer": s.peer.to_string(),
            "device_name": s.device_name,
            "device_type": s.device_type,
            "model": s.model.map(|m| m.name()),
            "protocol_version": s.protocol_version,
            "reported_load": s.load.as_ref().map(ToString::to_string),
            "since_unix_ms": s.since_unix_ms,
        })),
        "last_notify": e.last_notify(v.mac).map(|n| json!({
            "event": n.event,
            "answer": n.answer.word(),
            "status": n.status,
            "tries": n.tries,
            "cause": n.cause,
            "at_unix_ms": n.at_unix_ms,
        })),
    })
}

/// Where the phone's last config came from: `generated`, `operator` (a file
/// in the TFTP root, with the load it names) or `none`.
fn config_source_json(c: &cisco::ConfigSource) -> Value {
    match c {
        cisco::ConfigSource::Operator { file, load } => json!({
            "kind": "operator",
            "file": file,
            "load": load.as_ref().map(ToString::to_string),
            "text": c.to_string(),
        }),
        cisco::ConfigSource::Generated => json!({"kind": "generated", "text": c.to_string()}),
        _ => json!({"kind": "none", "text": c.to_string()}),
    }
}

/// A MAC from the path, in any notation; 400 otherwise.
fn mac_path(text: &str) -> Result<cisco::Mac, ApiError> {
    text.parse()
        .map_err(|err: cisco::MacError| ApiError::bad_request(err.to_string()))
}

/// Runs `f` on the engine off the async threads (it takes the fleet's
/// lock and may write files).
async fn on_engine<T: Send + 'static>(
    s: &Shared,
    f: impl FnOnce(&Engine) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let e = s.engine.clone();
    tokio::task::spawn_blocking(move || f(&e))
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

/// `POST /api/phones/{mac}/reboot`: the operator's reboot, through the
/// phone's SCCP session with phoneboot or a NOTIFY. 409 when nothing can
/// reach the phone.
pub async fn reboot(
    State(s): State<Shared>,
    Path(mac): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mac = mac_path(&mac)?;
    match on_engine(&s, move |e| e.reboot(mac)).await? {
        Ok(channel) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "mac": mac.to_string(),
                "channel": channel.word(),
                "channel_text": channel.to_string(),
            })),
        )),
        Err(err @ crate::provision::engine::RebootRefused::Unknown(_)) => {
            Err(ApiError(StatusCode::NOT_FOUND, err.to_string()))
        }
        Err(err) => Err(ApiError(StatusCode::CONFLICT, err.to_string())),
    }
}

/// `POST /api/phones/{mac}/retry`: the operator's "Retry hop". Clears the
/// diagnosis that stops the phone's walk so its current hop is tried again.
/// 409 when nothing stops it, or only the library can (a missing load).
pub async fn retry(
    State(s): State<Shared>,
    Path(mac): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mac = mac_path(&mac)?;
    match on_engine(&s, move |e| e.retry_hop(mac)).await? {
        Ok(cleared) => Ok(Json(json!({
            "mac": mac.to_string(),
            "cleared": {
                "code": words::diagnosis_code(&cleared),
                "message": words::diagnosis_problem(&cleared),
            },
        }))),
        Err(err @ RetryRefused::Unknown(_)) => {
            Err(ApiError(StatusCode::NOT_FOUND, err.to_string()))
        }
        Err(err) => Err(ApiError(StatusCode::CONFLICT, err.to_string())),
    }
}

pub async fn phones(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    only(&q?.0, &[])?;
    let e = &s.engine;
    let mut list: Vec<Value> = e.phones().iter().map(|v| phone_json(e, v)).collect();
    // Servers sharing a store: this server's phones, then those only the
    // others saw, each with the server that saw it.
    if let Some(sync) = &s.store_sync {
        // A phone only learned from the others (never seen here), or one
        // another server holds the lease of, is theirs.
        list.retain(|p| {
            let theirs = p["mac"]
                .as_str()
                .and_then(|m| m.parse::<cisco::Mac>().ok())
                .is_some_and(|m| e.owned_elsewhere(m));
            !p["last_seen_unix_ms"].is_null() && !theirs
        });
        let mine: std::collections::HashSet<String> = list
            .iter()
            .filter_map(|p| p["mac"].as_str().map(str::to_owned))
            .collect();
        for p in &mut list {
            p["server"] = Value::String(sync.me().to_owned());
        }
        for (mac, server, mut view) in sync.others() {
            if mine.contains(&mac) {
                continue;
            }
            view["server"] = Value::String(server);
            list.push(view);
        }
    }
    Ok(Json(Value::Array(list)))
}

pub async fn phone(
    State(s): State<Shared>,
    Path(mac): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = &s.engine;
    let parsed: cisco::Mac = mac
        .parse()
        .map_err(|err: cisco::MacError| ApiError::bad_request(err.to_string()))?;
    let view = e.phone(parsed).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("phoneboot has not seen phone {parsed}"),
        )
    })?;
    let mut out = phone_json(e, &view);
    let filter = Filter {
        mac: Some(parsed.0),
        ..Filter::default()
    };
    let events: Vec<Value> = s.log.query(&filter, 500).iter().map(|e| e.json()).collect();
    out["events"] = Value::Array(events);
    Ok(Json(out))
}

/// `GET /api/desired/phones/{mac}`: the phone's own entry as written (the
/// keys `PUT` takes), for the dashboard's form. Passwords stay here: each
/// line says only `password_set`.
pub async fn get_phone(
    State(s): State<Shared>,
    Path(mac): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mac = mac_path(&mac)?;
    let (entry, source) = s.engine.phone_entry(mac).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("{mac} has no [[phone]] entry; PUT one to this address"),
        )
    })?;
    let mut out = serde_json::to_value(&entry)
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    out["mac"] = json!(mac.to_string());
    out["source"] = json!(source.word());
    if let Some(lines) = out["lines"].as_array_mut() {
        for line in lines.iter_mut().filter_map(Value::as_object_mut) {
            let set = line
                .remove("password")
                .is_some_and(|p| p.as_str().is_some_and(|p| !p.is_empty()));
            line.insert("password_set".into(), json!(set));
        }
    }
    Ok(Json(out))
}

/// A `PUT` the config file would refuse: 422 with the message and, apart,
/// the entry and key it names (`lines[0].password`), so a form can put the
/// message beside its field.
fn rejected(err: &DesiredError) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "error": err.to_string(),
            "entry": err.entry,
            "key": err.key,
            "problem": err.problem,
        })),
    )
        .into_response()
}

/// A line sent without `password` keeps the one its extension has now, so
/// the dashboard (which never receives passwords) can edit the rest; a new
/// extension without one is refused by validation like an empty password.
fn keep_passwords(body: &mut serde_json::Map<String, Value>, current: Option<&file::Phone>) {
    let Some(lines) = body.get_mut("lines").and_then(Value::as_array_mut) else {
        return;
    };
    for line in lines.iter_mut().filter_map(Value::as_object_mut) {
        if line.get("password").is_some_and(|p| !p.is_null()) {
            continue;
        }
        let extension = line.get("extension").and_then(Value::as_str);
        let kept = current
            .into_iter()
            .flat_map(|c| &c.lines)
            .find(|l| Some(l.extension.as_str()) == extension)
            .map(|l| l.password.clone())
            .unwrap_or_default();
        line.insert("password".into(), Value::String(kept));
    }
}

/// `PUT /api/desired/phones/{mac}`: add or replace one phone's entry, the
/// same keys as a `[[phone]]` table (JSON), validated as if it were in the
/// config file; kept across restarts; applied at once.
pub async fn put_phone(
    State(s): State<Shared>,
    Path(mac): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, Response> {
    let e = s.engine.clone();
    let mac = mac_path(&mac).map_err(IntoResponse::into_response)?;
    let Json(mut body) = body.map_err(|r| {
        ApiError::bad_request(format!("the body must be a JSON object: {r}")).into_response()
    })?;
    let Some(obj) = body.as_object_mut() else {
        return Err(
            ApiError::bad_request("the body must be a JSON object with [[phone]] keys")
                .into_response(),
        );
    };
    obj.insert("mac".into(), Value::String(mac.to_string()));
    keep_passwords(obj, e.phone_entry(mac).map(|(p, _)| p).as_ref());
    let entry: file::Phone = serde_json::from_value(body).map_err(|err| {
        ApiError::bad_request(format!("not a phone entry: {err}")).into_response()
    })?;
    let sync = s.store_sync.clone();
    let shared = tokio::task::spawn_blocking(move || {
        e.set_phone(mac, entry.clone())?;
        Ok(share_edit(sync.as_deref(), mac, Some(&entry)))
    })
    .await
    .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response())?
    .map_err(|err| rejected(&err))?;
    Ok(Json(
        json!({ "mac": mac.to_string(), "applied": true, "shared": shared }),
    ))
}

/// Hands a run-time edit to the other servers of a shared store: `None`
/// without one, else whether it reached the store.
fn share_edit(
    sync: Option<&crate::sync::StoreSync>,
    mac: cisco::Mac,
    entry: Option<&file::Phone>,
) -> Option<bool> {
    let sync = sync?;
    match sync.publish(mac, entry) {
        Ok(()) => Some(true),
        Err(err) => {
            tracing::warn!(
                "the edit of {mac} is in force here but did not reach the other servers: {err:#}"
            );
            Some(false)
        }
    }
}

/// `DELETE /api/desired/phones/{mac}`: drop a run-time entry.
pub async fn delete_phone(
    State(s): State<Shared>,
    Path(mac): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = s.engine.clone();
    let mac: cisco::Mac = mac
        .parse()
        .map_err(|err: cisco::MacError| ApiError::bad_request(err.to_string()))?;
    let sync = s.store_sync.clone();
    let (removed, shared) = tokio::task::spawn_blocking(move || {
        let removed = e.remove_phone(mac)?;
        let shared = removed
            .then(|| share_edit(sync.as_deref(), mac, None))
            .flatten();
        Ok::<_, crate::provision::desired::DesiredError>((removed, shared))
    })
    .await
    .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
    .map_err(|err| ApiError(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()))?;
    if !removed {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no run-time entry for {mac} (entries from the config file are changed there)"),
        ));
    }
    Ok(Json(
        json!({ "mac": mac.to_string(), "removed": true, "shared": shared }),
    ))
}

/// The desired state, with every SIP password replaced by `***`.
pub async fn desired(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    only(&q?.0, &[])?;
    let e = &s.engine;
    let d = e.desired();
    let site = e.site();
    let layer = |l: &crate::provision::desired::Layer| {
        json!({
            "protocol": l.protocol.map(|p| p.to_string()),
            "load": l.load.as_ref().map(words::target_text),
            "start_load": l.start_load.as_ref().map(ToString::to_string),
            "sccp_server": l.sccp_server,
        })
    };
    let named = |m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect());
    let phones: Vec<Value> = d
        .phones
        .iter()
        .map(|(mac, p)| {
            json!({
                "mac": mac.to_string(),
                "model": p.model.map(|m| m.name()),
                "group": p.group,
                "layer": layer(&p.layer),
                "label": p.label,
                "lines": p.lines.iter().map(|l| json!({
                    "extension": l.extension,
                    "display": l.display,
                    "auth": l.auth,
                    "password": "***",
                    "label": l.label,
                })).collect::<Vec<_>>(),
                "speed_dials": p.speed_dials.iter().map(|s| json!({"number": s.number, "label": s.label})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "sip": {
            "server": site.sip_server,
            "port": site.sip_port,
            "transport": site.transport.as_str(),
        },
        "time": { "zone": site.time_zone, "ntp": site.ntp_server },
        "syslog": site.syslog_server,
        "defaults": layer(&d.defaults),
        "families": named(d.families.iter().map(|(f, l)| (f.to_string(), layer(l))).collect()),
        "models": named(d.models.iter().map(|(m, l)| (m.name().to_owned(), layer(l))).collect()),
        "groups": named(d.groups.iter().map(|(g, l)| (g.clone(), layer(l))).collect()),
        "phones": phones,
        "restrict_per_mac_files": d.restrict_per_mac_files,
        "root_files": d.root_files.to_string(),
        "known_models": cisco::Model::ALL.iter().map(|m| json!({
            "name": m.name(),
            "lines": m.max_sip_lines(),
        })).collect::<Vec<_>>(),
    })))
}
