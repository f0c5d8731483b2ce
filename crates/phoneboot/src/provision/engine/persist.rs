//! `<data_dir>/phones.json`: what each phone runs, across restarts.

use std::net::IpAddr;
use std::path::Path;

use cisco::{LoadName, Model, PhoneRecord};
use serde::{Deserialize, Serialize};

/// `phones.json`: what survives a restart.
#[derive(Debug, Serialize, Deserialize)]
struct StoredPhone {
    mac: String,
    model: Option<String>,
    ip: Option<IpAddr>,
    current: Option<String>,
    evidence: String,
    attempts: u32,
}

pub(super) fn load_records(path: &Path) -> anyhow::Result<Vec<PhoneRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    let stored: Vec<StoredPhone> = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is damaged ({e}); move it away to start with no remembered phone loads",
            path.display()
        )
    })?;
    Ok(stored.into_iter().filter_map(from_stored).collect())
}

/// One record as JSON, in `phones.json`'s shape (for a shared store).
pub fn record_json(r: &PhoneRecord) -> String {
    serde_json::to_string(&stored(r)).unwrap_or_default()
}

/// A record written by [`record_json`]; `None` when it is not one.
pub fn record_from_json(text: &str) -> Option<PhoneRecord> {
    let s: StoredPhone = serde_json::from_str(text).ok()?;
    from_stored(s)
}

fn stored(r: &PhoneRecord) -> StoredPhone {
    StoredPhone {
        mac: r.mac.to_string(),
        model: r.model.map(|m| m.name().to_owned()),
        ip: r.ip,
        current: r.current.as_ref().map(ToString::to_string),
        evidence: r.evidence.clone(),
        attempts: r.attempts,
    }
}

fn from_stored(s: StoredPhone) -> Option<PhoneRecord> {
    Some(PhoneRecord {
        mac: s.mac.parse().ok()?,
        model: s.model.as_deref().and_then(Model::from_name),
        ip: s.ip,
        current: s.current.as_deref().and_then(|l| LoadName::parse(l).ok()),
        evidence: s.evidence,
        attempts: s.attempts,
    })
}

pub(super) fn save_records(path: &Path, records: &[PhoneRecord]) -> anyhow::Result<()> {
    let stored: Vec<StoredPhone> = records.iter().map(stored).collect();
    let text = serde_json::to_string_pretty(&stored)?;
    crate::fsutil::write_atomically(path, &text)
}
