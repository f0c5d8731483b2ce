//! The one wall clock: cores take monotonic `Instant`s, stores and the API
//! speak Unix milliseconds, and this converts between them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Converts between the core's `Instant`s and wall-clock milliseconds,
/// anchored once at start-up.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    instant: Instant,
    unix_ms: i64,
}

impl WallClock {
    pub fn now() -> WallClock {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        WallClock {
            instant: Instant::now(),
            unix_ms,
        }
    }

    pub fn to_unix_ms(&self, t: Instant) -> i64 {
        if t >= self.instant {
            self.unix_ms
                .saturating_add(t.duration_since(self.instant).as_millis() as i64)
        } else {
            self.unix_ms
                .saturating_sub(self.instant.duration_since(t).as_millis() as i64)
        }
    }

    pub fn to_instant(&self, unix_ms: i64) -> Instant {
        let delta = unix_ms.saturating_sub(self.unix_ms);
        let d = Duration::from_millis(delta.unsigned_abs());
        if delta >= 0 {
            self.instant.checked_add(d).unwrap_or(self.instant)
        } else {
            self.instant.checked_sub(d).unwrap_or(self.instant)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_round_trips() {
        let c = WallClock::now();
        let later = c.instant + Duration::from_secs(3600);
        assert_eq!(c.to_unix_ms(later), c.unix_ms + 3_600_000);
        assert_eq!(c.to_instant(c.unix_ms + 3_600_000), later);
        assert_eq!(
            c.to_unix_ms(c.to_instant(c.unix_ms - 5000)),
            c.unix_ms - 5000
        );
    }
}
