//! Run-time edits of the desired state: `PUT`/`DELETE
//! /api/desired/phones/{mac}`, kept in `<data_dir>/desired-phones.json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use cisco::{Mac, Model};

use super::{intents_of, Engine};
use crate::provision::desired::{file, DesiredError, DesiredState, Sections};

impl Engine {
    /// Adds or replaces one phone's entry at run time, validated exactly as
    /// if it were in the config file, kept in `desired-phones.json`, and
    /// applied at once (every phone is replanned).
    pub fn set_phone(&self, mac: Mac, mut entry: file::Phone) -> Result<(), DesiredError> {
        entry.mac = mac.to_string();
        let mut edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = edits.clone();
        next.insert(mac, entry);
        self.commit_edits(&mut edits, next)
    }

    /// Drops a run-time entry (the config file's own entry, if any, applies
    /// again). False when there was none.
    pub fn remove_phone(&self, mac: Mac) -> Result<bool, DesiredError> {
        let mut edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = edits.clone();
        if next.remove(&mac).is_none() {
            return Ok(false);
        }
        self.commit_edits(&mut edits, next).map(|()| true)
    }

    /// An edit another server of the shared store made: applied like one
    /// made here. `None` drops the run-time entry. False when it changes
    /// nothing (the same entry, or our own edit coming back).
    pub fn apply_shared_edit(
        &self,
        mac: Mac,
        entry: Option<file::Phone>,
    ) -> Result<bool, DesiredError> {
        let mut edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let same = match (&entry, edits.get(&mac)) {
            (None, None) => true,
            (Some(new), Some(old)) => {
                let mut new = new.clone();
                new.mac = mac.to_string();
                serde_json::to_value(&new).ok() == serde_json::to_value(old).ok()
            }
            _ => false,
        };
        if same {
            return Ok(false);
        }
        let mut next = edits.clone();
        match entry {
            Some(mut e) => {
                e.mac = mac.to_string();
                next.insert(mac, e);
            }
            None => {
                next.remove(&mac);
            }
        }
        self.commit_edits(&mut edits, next).map(|()| true)
    }

    /// The phone's own `[[phone]]` entry as written: the run-time edit if
    /// there is one, else the config file's, with where it comes from.
    pub fn phone_entry(&self, mac: Mac) -> Option<(file::Phone, EntrySource)> {
        let edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = edits.get(&mac) {
            return Some((p.clone(), EntrySource::RunTime));
        }
        self.base
            .phones
            .iter()
            .flatten()
            .find(|p| p.mac.parse::<Mac>().is_ok_and(|m| m == mac))
            .map(|p| (p.clone(), EntrySource::ConfigFile))
    }

    fn commit_edits(
        &self,
        edits: &mut BTreeMap<Mac, file::Phone>,
        next: BTreeMap<Mac, file::Phone>,
    ) -> Result<(), DesiredError> {
        let desired = apply_edits(&self.base, &next)?;
        let text = serde_json::to_string_pretty(&next.values().collect::<Vec<_>>())
            .map_err(|e| internal(e.to_string()))?;
        crate::fsutil::write_atomically(&self.edits_file, &text)
            .map_err(|e| internal(format!("{e:#}")))?;
        *edits = next;
        let models: Vec<(Mac, Model)> = desired
            .phones
            .iter()
            .filter_map(|(m, p)| p.model.map(|model| (*m, model)))
            .collect();
        *self.desired.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(desired);
        let mut fleet = self.fleet();
        for (mac, model) in models {
            fleet.set_model(mac, model);
        }
        fleet.set_intents(intents_of(self.desired.clone(), self.fallback));
        self.drain(fleet);
        // SIP phones read their config only when they boot: tell them.
        self.notify_changed_configs();
        Ok(())
    }
}

/// Where a phone's entry was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntrySource {
    /// `PUT /api/desired/phones/{mac}` (`desired-phones.json`); `DELETE` drops it.
    RunTime,
    /// The config file; a `PUT` overrides it while serving.
    ConfigFile,
}

impl EntrySource {
    pub fn word(self) -> &'static str {
        match self {
            EntrySource::RunTime => "run_time",
            EntrySource::ConfigFile => "config_file",
        }
    }
}

pub(super) fn internal(problem: String) -> DesiredError {
    DesiredError {
        entry: "desired-phones.json".into(),
        key: "write".into(),
        problem,
    }
}

/// The config file's sections with run-time phone entries replacing (or
/// adding to) its `[[phone]]` entries, validated as one file.
pub(super) fn apply_edits(
    base: &Sections,
    edits: &BTreeMap<Mac, file::Phone>,
) -> Result<DesiredState, DesiredError> {
    let mut sections = base.clone();
    let mut phones: Vec<file::Phone> = sections
        .phones
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.mac
                .parse::<Mac>()
                .map_or(true, |m| !edits.contains_key(&m))
        })
        .collect();
    phones.extend(edits.values().cloned());
    sections.phones = Some(phones);
    DesiredState::from_sections(sections)
}

pub(super) fn load_edits(path: &Path) -> anyhow::Result<BTreeMap<Mac, file::Phone>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    let list: Vec<file::Phone> = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is damaged ({e}); move it away", path.display()))?;
    list.into_iter()
        .map(|p| {
            let mac = p
                .mac
                .parse::<Mac>()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok((mac, p))
        })
        .collect()
}
