//! The heartbeat the cron component leaves and `GET /healthz` shows.

use crate::keys;
use crate::records::Store;
use crate::store::{KeyValue, StoreError};
use serde::{Deserialize, Serialize};

pub const APP_NAME: &str = "image-catalog";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    /// The trigger's scheduled time (Unix seconds) from the cron metadata.
    pub timestamp: u64,
    /// When the tick ran, by the component's wall clock (Unix milliseconds).
    pub ran_at_ms: i64,
    /// The ordinal of this tick since the store was created.
    pub count: i64,
}

/// Records one tick: bumps the counter and stores the latest tick.
pub fn record_tick(st: &Store<'_>, timestamp: u64) -> Result<Tick, StoreError> {
    let count = st.kv().increment(keys::TICK_COUNT, 1)?;
    let tick = Tick {
        timestamp,
        ran_at_ms: st.now_ms(),
        count,
    };
    let json = serde_json::to_vec(&tick).map_err(|e| StoreError::Transient(e.to_string()))?;
    st.kv().set(keys::LAST_TICK, &json)?;
    Ok(tick)
}

/// The latest tick, if any (an unreadable value counts as none).
pub fn last_tick(kv: &dyn KeyValue) -> Result<Option<Tick>, StoreError> {
    Ok(kv
        .get(keys::LAST_TICK)?
        .and_then(|raw| serde_json::from_slice(&raw).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::FakeEnv;
    use crate::store::MemoryKv;

    #[test]
    fn ticks_are_counted_and_the_latest_is_kept() {
        let kv = MemoryKv::new();
        let env = FakeEnv::at(1_000);
        assert_eq!(last_tick(&kv).unwrap(), None);
        record_tick(&Store::new(&kv, &env), 1).unwrap();
        env.advance_ms(5_000);
        let second = record_tick(&Store::new(&kv, &env), 6).unwrap();
        assert_eq!(second.count, 2);
        assert_eq!(last_tick(&kv).unwrap(), Some(second));
    }

    #[test]
    fn a_failing_store_is_reported_not_hidden() {
        let kv = MemoryKv::new();
        kv.fail_next(1);
        assert!(record_tick(&Store::new(&kv, &FakeEnv::at(0)), 1).is_err());
        assert_eq!(last_tick(&kv).unwrap(), None);
    }
}
