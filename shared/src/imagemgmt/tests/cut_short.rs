//! Add Version cut short at each of its store calls (a crash, or a store that fails from
//! there on): whatever landed, every version the image lists has its operation and
//! settles, and nothing else becomes visible. A cut batch (`set_many`) is tried with each
//! prefix of its entries landed, since a batch is not atomic on every backend.

use super::*;
use crate::store::{CasOutcome, KeyValue, StoreError};
use std::cell::Cell;

/// Call `at` (1-based) applies (a batch: only its first `keep` entries) and fails; every
/// later call fails before it applies.
struct CutAt<'a> {
    inner: &'a MemoryKv,
    calls: Cell<usize>,
    at: usize,
    keep: usize,
}

impl CutAt<'_> {
    /// `Ok(true)`: apply and fail; `Ok(false)`: apply; `Err`: fail without applying.
    fn step(&self) -> Result<bool, StoreError> {
        let n = self.calls.get() + 1;
        self.calls.set(n);
        match n.cmp(&self.at) {
            std::cmp::Ordering::Less => Ok(false),
            std::cmp::Ordering::Equal => Ok(true),
            std::cmp::Ordering::Greater => Err(cut()),
        }
    }
}

fn cut() -> StoreError {
    StoreError::Transient("injected: cut short".into())
}

fn after<T>(fail: bool, r: Result<T, StoreError>) -> Result<T, StoreError> {
    let v = r?;
    if fail { Err(cut()) } else { Ok(v) }
}

impl KeyValue for CutAt<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if self.step()? {
            return Err(cut());
        }
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let fail = self.step()?;
        after(fail, self.inner.set(key, value))
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let fail = self.step()?;
        after(fail, self.inner.delete(key))
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let fail = self.step()?;
        after(fail, self.inner.increment(key, delta))
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<CasOutcome, StoreError> {
        let fail = self.step()?;
        after(fail, self.inner.compare_and_swap(key, expected, new))
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let fail = self.step()?;
        let landed = if fail {
            &entries[..self.keep.min(entries.len())]
        } else {
            entries
        };
        after(fail, self.inner.set_many(landed))
    }
}

#[test]
fn add_version_cut_short_anywhere_leaves_no_listed_version_without_its_operation() {
    let mut cuts = 0;
    for at in 1..=12 {
        for keep in 0..=4 {
            let w = World::new();
            let (image, _) = first_version(&w.sig_image("cut"));
            let kv = CutAt {
                inner: &w.kv,
                calls: Cell::new(0),
                at,
                keep,
            };
            let req = w.req(
                "POST",
                &format!("/images/{image}/versions"),
                Some(sig_version("MAJOR")),
            );
            let r = handle(&Store::new(&kv, &w.env), &w.settings, &req);
            if r.status == 201 {
                // The cut came after the last call.
                continue;
            }
            cuts += 1;
            let listed = w.stored_image(&image).version_ids;
            assert!(listed.len() <= 2, "cut at {at} keeping {keep}");
            for v in &listed {
                let target = format!("/images/{image}/versions/{v}");
                assert!(
                    w.reaches(40, &target, "AVAILABLE"),
                    "cut at {at} keeping {keep}: {v} {}",
                    w.call("GET", &target, None).json_body()
                );
            }
        }
    }
    assert!(cuts > 20, "{cuts}");
}
