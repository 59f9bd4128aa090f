//! What the engine holds right now, for operators (`GET /admin/v1/engine`): each shard's
//! ring position, the orgs waiting their turn and who holds its lease until when, and where
//! the cursor lanes stand. Costs `due_shards + 2` reads, bounded like the records it reads.

use super::shards::{self, ShardState};
use super::{Cursor, Lane};
use crate::env::Millis;
use crate::keys;
use crate::records::Store;
use crate::store::StoreError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineView {
    /// The store's clock when read (ms since the epoch): leases compare against it.
    pub now_ms: Millis,
    pub shards: Vec<ShardView>,
    pub lanes: Vec<LaneView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardView {
    pub shard: u32,
    /// `None`: no org of this shard ever had an operation.
    pub ring: Option<Cursor>,
    /// Orgs with readable work, in turn order from the next one to go.
    pub ready: Vec<ReadyView>,
    pub lease: Option<LeaseView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyView {
    pub org: String,
    /// The org's queue is read from this bucket…
    pub from_bucket: i64,
    /// …through this one.
    pub through_bucket: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseView {
    pub holder: String,
    pub until_ms: Millis,
    /// Past `until_ms`: its holder died or overran, and the next tick takes the shard.
    pub expired: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LaneView {
    pub lane: &'static str,
    pub cursor: Option<Cursor>,
}

/// Reads the engine's state: shards `0..due_shards`, then the cursor lanes.
pub fn view(st: &Store<'_>, due_shards: u32) -> Result<EngineView, StoreError> {
    let now = st.now_ms();
    let mut shards_out = Vec::new();
    for shard in 0..due_shards.max(1) {
        let state = shards::read_state(st, shard)?.map(|(s, _)| s);
        shards_out.push(shard_view(shard, state.as_ref(), now));
    }
    let mut lanes = Vec::new();
    for lane in Lane::ALL {
        let cursor = st
            .get::<Cursor>(&keys::due_cursor(lane.prefix()))?
            .map(|c| c.value);
        let name = match lane {
            Lane::Operations => "operations (before the shards)",
            Lane::Housekeeping => "housekeeping",
        };
        lanes.push(LaneView { lane: name, cursor });
    }
    Ok(EngineView {
        now_ms: now,
        shards: shards_out,
        lanes,
    })
}

fn shard_view(shard: u32, state: Option<&ShardState>, now: Millis) -> ShardView {
    let Some(state) = state else {
        return ShardView {
            shard,
            ring: None,
            ready: vec![],
            lease: None,
        };
    };
    let n = state.ready.len();
    let ready = (0..n)
        .map(|i| &state.ready[(state.turn + i) % n])
        .map(|r| ReadyView {
            org: r.org.clone(),
            from_bucket: r.bucket,
            through_bucket: r.upto,
        })
        .collect();
    ShardView {
        shard,
        ring: Some(state.ring),
        ready,
        lease: state.lease.as_ref().map(|l| LeaseView {
            holder: l.holder.clone(),
            until_ms: l.until,
            expired: l.until <= now,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::due::{self, DueKind};
    use crate::env::FakeEnv;
    use crate::settings::Settings;
    use crate::store::MemoryKv;

    const T0: Millis = 1_800_000_000_000;

    #[test]
    fn an_untouched_engine_shows_every_shard_and_lane_empty() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
        let v = view(&Store::new(&kv, &env), 3).unwrap();
        assert_eq!(v.shards.len(), 3);
        assert!(
            v.shards
                .iter()
                .all(|s| s.ring.is_none() && s.lease.is_none())
        );
        assert_eq!(v.lanes.len(), 2);
        assert!(v.lanes.iter().all(|l| l.cursor.is_none()));
    }

    #[test]
    fn ready_orgs_are_listed_from_the_next_turn_and_leases_show_expiry() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
        let st = Store::new(&kv, &env);
        let s = Settings {
            due_shards: 1,
            ..Settings::default()
        };
        let op = |org: &str| DueKind::Operation {
            org: org.into(),
            id: "op-1".into(),
        };
        due::schedule(&st, &s, T0, &op("org-a")).unwrap();
        let (mut state, raw) = shards::read_state(&st, 0).unwrap().unwrap();
        state.signalled("org-a", 5);
        state.signalled("org-b", 6);
        state.turn = 1;
        state.lease = Some(shards::Lease {
            holder: "tick-1".into(),
            until: T0 + 1_000,
        });
        shards::swap_state(&st, 0, &raw, &state).unwrap().unwrap();

        let v = view(&st, 1).unwrap();
        let orgs: Vec<&str> = v.shards[0].ready.iter().map(|r| r.org.as_str()).collect();
        assert_eq!(orgs, ["org-b", "org-a"]);
        assert_eq!(v.shards[0].ready[0].from_bucket, 6);
        assert_eq!(v.shards[0].lease.as_ref().map(|l| l.expired), Some(false));
        env.advance_ms(1_000);
        let v = view(&st, 1).unwrap();
        assert_eq!(v.shards[0].lease.as_ref().map(|l| l.expired), Some(true));
    }
}
