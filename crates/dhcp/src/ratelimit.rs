//! Token bucket per client MAC, with injected time and a bounded table.
//!
//! A phone sends a handful of messages per boot; a client sending far more
//! is broken or hostile, and is answered no faster than the refill rate.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::{Limits, Mac};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    /// This MAC's bucket is empty.
    Limited,
    /// The table is full of active clients; a new MAC cannot be tracked.
    TableFull,
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    burst: f64,
    per_sec: f64,
    max: usize,
    buckets: HashMap<Mac, Bucket>,
    /// Sweeps for idle buckets run at most once a second, so a flood of new
    /// MACs against a full table costs a lookup each, not a table scan.
    last_sweep: Option<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        RateLimiter {
            burst: f64::from(limits.rate_burst.max(1)),
            per_sec: f64::from(limits.rate_per_minute.max(1)) / 60.0,
            max: limits.max_tracked_clients.max(1),
            buckets: HashMap::new(),
            last_sweep: None,
        }
    }

    fn refill(&self, b: &Bucket, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(b.last).as_secs_f64();
        (b.tokens + dt * self.per_sec).min(self.burst)
    }

    pub(crate) fn check(&mut self, mac: Mac, now: Instant) -> Verdict {
        if let Some(b) = self.buckets.get(&mac) {
            let tokens = self.refill(b, now);
            let last = b.last.max(now);
            let (tokens, verdict) = if tokens >= 1.0 {
                (tokens - 1.0, Verdict::Allow)
            } else {
                (tokens, Verdict::Limited)
            };
            self.buckets.insert(mac, Bucket { tokens, last });
            return verdict;
        }
        if self.buckets.len() >= self.max {
            let due = self
                .last_sweep
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
            if due {
                self.last_sweep = Some(now);
                let (burst, per_sec) = (self.burst, self.per_sec);
                // A full bucket says nothing a fresh one wouldn't: forget it.
                self.buckets.retain(|_, b| {
                    let dt = now.saturating_duration_since(b.last).as_secs_f64();
                    b.tokens + dt * per_sec < burst
                });
            }
            if self.buckets.len() >= self.max {
                return Verdict::TableFull;
            }
        }
        self.buckets.insert(
            mac,
            Bucket {
                tokens: self.burst - 1.0,
                last: now,
            },
        );
        Verdict::Allow
    }
}
