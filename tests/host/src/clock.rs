//! The wall clock guests see (`wasi:clocks/wall-clock`) and cron metadata use.
//! Real time until a test calls [`Clock::set`] or [`Clock::advance`]; from then on it
//! is frozen and moves only when told, so a workflow of minutes takes milliseconds.
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    frozen: Mutex<Option<SystemTime>>,
    /// The time given to the latest `set` and a count of `set` calls: the cron
    /// scheduler restarts its schedule from there (a jump, unlike `advance`).
    anchor: Mutex<Option<(u64, SystemTime)>>,
    /// Bumped on every set/advance so the cron scheduler re-checks its deadlines.
    changed: watch::Sender<u64>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("now", &self.now())
            .field("frozen", &self.is_frozen())
            .finish()
    }
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            inner: Arc::new(Inner {
                frozen: Mutex::new(None),
                anchor: Mutex::new(None),
                changed: watch::channel(0).0,
            }),
        }
    }

    pub fn now(&self) -> SystemTime {
        self.lock().unwrap_or_else(SystemTime::now)
    }

    /// Seconds since the Unix epoch (0 before it).
    pub fn unix_seconds(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Freezes the clock at `t` (a jump: scheduled cron restarts from `t`).
    pub fn set(&self, t: SystemTime) {
        {
            let mut anchor = self
                .inner
                .anchor
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let n = anchor.map_or(1, |(n, _)| n.wrapping_add(1));
            *anchor = Some((n, t));
        }
        self.freeze(t);
    }

    fn freeze(&self, t: SystemTime) {
        *self
            .inner
            .frozen
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(t);
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn anchor(&self) -> Option<(u64, SystemTime)> {
        *self
            .inner
            .anchor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Freezes the clock at `secs` after the Unix epoch.
    pub fn set_unix(&self, secs: u64) {
        self.set(UNIX_EPOCH + Duration::from_secs(secs));
    }

    /// Moves the clock forward by `d` (freezing it first if it was real); scheduled
    /// cron fires every schedule point passed.
    pub fn advance(&self, d: Duration) {
        let now = self.now();
        self.freeze(now.checked_add(d).unwrap_or(now));
    }

    pub fn is_frozen(&self) -> bool {
        self.lock().is_some()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    fn lock(&self) -> Option<SystemTime> {
        *self
            .inner
            .frozen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The clock as a WASI wall clock.
pub(crate) struct WasiWallClock(pub Clock);

impl wasmtime_wasi::HostWallClock for WasiWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_until_set_then_frozen_and_advanced() {
        let c = Clock::new();
        assert!(!c.is_frozen());
        assert!(c.unix_seconds() > 1_600_000_000);
        c.set_unix(1_000);
        assert_eq!(c.unix_seconds(), 1_000);
        c.advance(Duration::from_secs(90));
        assert_eq!(c.unix_seconds(), 1_090);
        assert_eq!(c.clone().unix_seconds(), 1_090, "clones share the time");
    }

    #[test]
    fn changes_are_signalled() {
        let c = Clock::new();
        let rx = c.subscribe();
        c.advance(Duration::from_secs(1));
        assert!(rx.has_changed().unwrap());
    }
}
