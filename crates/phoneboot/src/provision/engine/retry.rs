//! The operator's "Retry hop": `POST /api/phones/{mac}/retry`, `phoneboot
//! phones retry MAC` and the dashboard's button, through
//! [`cisco::Fleet::retry_hop`], with a `retry` event in the phone's timeline.

use std::time::Instant;

use cisco::{Diagnosis, Mac};

use super::persist::save_records;
use super::words::{diagnosis_code, diagnosis_problem};
use super::Engine;
use crate::events::{Event, PhoneEvent};

/// Why a retry was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryRefused {
    #[error("phoneboot has not seen {0}")]
    Unknown(Mac),
    #[error("{0} has no diagnosis that stops its walk: there is nothing to retry")]
    Nothing(Mac),
    #[error("{mac}: {problem}; a retry cannot fix this: {fix}")]
    Library {
        mac: Mac,
        problem: String,
        fix: String,
    },
}

impl Engine {
    /// Clears the diagnosis that stops the phone's walk so its current hop
    /// is tried again; returns the diagnosis cleared.
    pub fn retry_hop(&self, mac: Mac) -> Result<Diagnosis, RetryRefused> {
        let mut fleet = self.fleet();
        let view = fleet.phone(mac).ok_or(RetryRefused::Unknown(mac))?;
        let cleared = view.diagnosis.clone();
        if !fleet.retry_hop(Instant::now(), mac) {
            return Err(match cleared {
                Some(d @ Diagnosis::Plan(_)) => RetryRefused::Library {
                    mac,
                    problem: diagnosis_problem(&d),
                    fix: d.fix(),
                },
                _ => RetryRefused::Nothing(mac),
            });
        }
        let cleared = cleared.ok_or(RetryRefused::Nothing(mac))?;
        // Attempt counters are part of what survives a restart.
        let records = fleet.snapshot();
        drop(fleet);
        // Before the stage change the retry causes, so the timeline reads
        // in order.
        self.bus.emit(Event::Phone(PhoneEvent {
            mac,
            ip: view.ip,
            kind: "retry",
            stage: None,
            load: view.next.as_ref().map(ToString::to_string),
            message: format!(
                "the operator cleared \"{}\": trying {} again",
                diagnosis_problem(&cleared),
                view.next
                    .as_ref()
                    .map_or_else(|| "its current hop".to_owned(), |l| l.to_string())
            ),
            fix: None,
            code: Some(diagnosis_code(&cleared)),
        }));
        self.drain(self.fleet());
        if let Err(e) = save_records(&self.state_file, &records) {
            tracing::warn!(
                "cannot save phone state to {}: {e:#}",
                self.state_file.display()
            );
        }
        Ok(cleared)
    }
}
