//! An org's image index, and reading one page of it in O(page) (issue 12, item 3).
//!
//! ## Layout
//!
//! - [`keys::image_count`]: a counter electing slot numbers (`increment`, R1, R3); never
//!   reset, numbers never reused.
//! - [`keys::image_slot`] `n`: the id of the image that was elected slot `n` (a blind
//!   `put_new`: its writer is unique). Slot order is the order images entered the index.
//! - [`keys::image_index`]: one directory record per org ([`IndexDir`]), made of 64-bit
//!   masks keyed by chunk number (slot `n` is bit `(n-1) % 64` of chunk `(n-1) / 64`):
//!   `holes` (slots that hold no listed image: its image was deleted, or the slot was
//!   elected by a create that never wrote it) and `deleting` (slots whose image is being
//!   deleted: `ListImage` does not show those). Only chunks with a bit set are stored.
//! - the image's own `index-slot` counter remembers its slot number, so a deletion finds
//!   its slot in O(1) ([`slot_counter`]).
//!
//! ## Reading a page
//!
//! The listed images are slots `1..=count` minus the `holes` (minus `deleting` for the RPC
//! door), so from the counter and the directory alone (two reads) the reader knows the
//! total (`count` minus the bits set) and which slot numbers hold ranks `a..b`: it walks the
//! chunks in memory (no store call) and reads just those slots and their images. A page of
//! `s` costs `2 + 2s` store calls whatever the org holds or ever held. (The walk is CPU over
//! `count / 64` chunks; the directory holds one entry per chunk with a hole, so it grows by
//! at most 8 bytes of mask per 64 images ever created.)
//!
//! ## Writes
//!
//! Every change of the directory is a compare-and-swap ([`Store::update`]); the record is
//! created once, by the caller elected with [`keys::image_index_claim`] (R1). Creating an
//! image elects a slot and fills it (no directory write: appends are free of contention);
//! the end of a deletion ([`unindex_image`]) sets the slot's hole bit *then* deletes the
//! slot, so a reader never counts a deleted image; the start of a deletion sets its
//! `deleting` bit ([`mark_deleting`]), best effort.
//!
//! ## Gaps, stale slots, and existing data
//!
//! A slot that is absent although its bit is not set is a create in flight (elected, not
//! yet written), or a gap a failed create left. A reader skips it (its page is one short)
//! and, when it sees one, records a watermark (the count and the time) in the directory; a
//! later reader that meets a gap elected before a watermark at least [`GAP_GRACE_MS`] old
//! marks it as a hole, re-reads the slot and clears the bit again if the slot has appeared.
//! The creator, after writing its slot, reads the directory and clears its bit if a reader
//! took it for a gap (both check after their own write, so one of them sees the other's).
//! A slot whose image is gone (written before deletions removed slots) is marked and
//! deleted by the reader that meets it. So data written by the earlier index (slots and the
//! counter, no directory) is listed as is and converges on read; no rebuild is needed.

use super::Image;
use crate::keys;
use crate::records::{Change, STORE_ATTEMPTS, STORE_BACKOFF_MS, Store, UpdateError};
use crate::store::StoreError;
use crate::vocab::ImageStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;

/// Slots per chunk: one mask of 64 bits.
const CHUNK: i64 = 64;
/// How long after a watermark an absent slot elected before it is taken for a dead gap.
pub const GAP_GRACE_MS: i64 = 60_000;

/// The directory record of an org's index (module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexDir {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub holes: BTreeMap<i64, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deleting: BTreeMap<i64, u64>,
    /// The slot count when a reader last met a gap, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Seen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub count: i64,
    pub at: i64,
}

fn chunk_bit(n: i64) -> (i64, u64) {
    ((n - 1).div_euclid(CHUNK), 1u64 << (n - 1).rem_euclid(CHUNK))
}

fn has(map: &BTreeMap<i64, u64>, n: i64) -> bool {
    let (k, b) = chunk_bit(n);
    map.get(&k).is_some_and(|m| m & b != 0)
}

/// Sets or clears bit `n`; returns whether it changed.
fn put_bit(map: &mut BTreeMap<i64, u64>, n: i64, on: bool) -> bool {
    let (k, b) = chunk_bit(n);
    let old = map.get(&k).copied().unwrap_or(0);
    let new = if on { old | b } else { old & !b };
    if new == 0 {
        map.remove(&k);
    } else {
        map.insert(k, new);
    }
    new != old
}

/// The bits of chunk `k` that name elected slots (`1..=count`).
fn valid(count: i64, k: i64) -> u64 {
    let filled = (count - k * CHUNK).clamp(0, CHUNK);
    if filled == CHUNK {
        u64::MAX
    } else {
        (1u64 << filled) - 1
    }
}

/// The image counter that remembers the number of image `id`'s index slot.
pub fn slot_counter(org: &str, id: &str) -> String {
    keys::image_counter(org, id, "index-slot")
}

/// One reader's view of an org's index: its count and directory (two store calls), the
/// total it lists, and reads of any range of ranks.
pub struct View {
    org: String,
    count: i64,
    dir: IndexDir,
    hide_deleting: bool,
    pub total: u64,
}

/// What reading some slots found: the images, and what the reader repairs.
struct Found {
    images: Vec<Image>,
    /// Absent slots whose bit is not set.
    gaps: Vec<i64>,
    /// Slots naming an image that is gone.
    stale: Vec<(i64, String)>,
}

impl View {
    /// With `hide_deleting`, images being deleted are left out (the RPC door's listing).
    pub fn open(st: &Store<'_>, org: &str, hide_deleting: bool) -> Result<View, StoreError> {
        let count = st.counter_read(&keys::image_count(org))?;
        let dir = if count > 0 {
            st.get::<IndexDir>(&keys::image_index(org))?
                .map(|s| s.value)
                .unwrap_or_default()
        } else {
            IndexDir::default()
        };
        let mut v = View {
            org: org.to_owned(),
            count,
            dir,
            hide_deleting,
            total: 0,
        };
        let mut chunks: Vec<i64> = v.dir.holes.keys().copied().collect();
        if hide_deleting {
            chunks.extend(v.dir.deleting.keys().copied());
        }
        chunks.sort_unstable();
        chunks.dedup();
        let unlisted: u64 = chunks
            .iter()
            .map(|k| u64::from((v.mask(*k) & valid(count, *k)).count_ones()))
            .sum();
        v.total = u64::try_from(count.max(0))
            .unwrap_or(0)
            .saturating_sub(unlisted);
        Ok(v)
    }

    fn mask(&self, k: i64) -> u64 {
        let holes = self.dir.holes.get(&k).copied().unwrap_or(0);
        let deleting = self.dir.deleting.get(&k).copied().unwrap_or(0);
        if self.hide_deleting {
            holes | deleting
        } else {
            holes
        }
    }

    /// The slot numbers of ranks `r` (0-based, index order), by a walk over the chunks in
    /// memory.
    fn slots(&self, r: Range<u64>) -> Vec<i64> {
        let mut out = Vec::new();
        let mut rank = 0u64;
        let chunks = (self.count + CHUNK - 1).div_euclid(CHUNK);
        for k in 0..chunks {
            if rank >= r.end {
                break;
            }
            let live = valid(self.count, k) & !self.mask(k);
            let n_live = u64::from(live.count_ones());
            if rank + n_live <= r.start {
                rank += n_live;
                continue;
            }
            for bit in 0..CHUNK {
                if live & (1u64 << bit) != 0 {
                    if r.contains(&rank) {
                        out.push(k * CHUNK + bit + 1);
                    }
                    rank += 1;
                }
            }
        }
        out
    }

    /// The images of ranks `r` in index order (fewer when a slot is in flight, or its image
    /// is gone or, hidden, being deleted).
    pub fn read(&self, st: &Store<'_>, r: Range<u64>) -> Result<Vec<Image>, StoreError> {
        let found = self.read_slots(st, &self.slots(r))?;
        // A listing answers even when its repair cannot be written; a later one repairs.
        let _ = self.repair(st, &found.gaps, &found.stale);
        Ok(found.images)
    }

    /// Every listed image, in index order, `CHUNK` slots at a time: reads every live slot
    /// and image, never a deleted one; holds one chunk of images at a time.
    pub fn for_each(&self, st: &Store<'_>, mut f: impl FnMut(Image)) -> Result<(), StoreError> {
        let all = self.slots(0..self.total);
        let (mut gaps, mut stale) = (Vec::new(), Vec::new());
        for chunk in all.chunks(64) {
            let found = self.read_slots(st, chunk)?;
            found.images.into_iter().for_each(&mut f);
            gaps.extend(found.gaps);
            stale.extend(found.stale);
        }
        let _ = self.repair(st, &gaps, &stale);
        Ok(())
    }

    fn read_slots(&self, st: &Store<'_>, slots: &[i64]) -> Result<Found, StoreError> {
        let keys: Vec<String> = slots
            .iter()
            .map(|n| keys::image_slot(&self.org, *n))
            .collect();
        let ids = st.get_many::<String>(&keys)?;
        let mut found = Found {
            images: Vec::new(),
            gaps: Vec::new(),
            stale: Vec::new(),
        };
        let mut present: Vec<(i64, String)> = Vec::new();
        for (n, id) in slots.iter().zip(ids) {
            match id {
                Some(id) => present.push((*n, id.value)),
                None => found.gaps.push(*n),
            }
        }
        let keys: Vec<String> = present
            .iter()
            .map(|(_, id)| keys::image(&self.org, id))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for ((n, id), img) in present.into_iter().zip(st.get_many::<Image>(&keys)?) {
            match img.map(|s| s.value) {
                Some(i) if i.org_id == self.org && i.id == id => {
                    let hidden = self.hide_deleting && i.status == ImageStatus::Deleting;
                    if !hidden && seen.insert(id) {
                        found.images.push(i);
                    }
                }
                _ => found.stale.push((n, id)),
            }
        }
        Ok(found)
    }

    /// Marks stale slots (and gaps past their grace) as holes, and records the watermark
    /// the next reader judges gaps by (module docs).
    fn repair(
        &self,
        st: &Store<'_>,
        gaps: &[i64],
        stale: &[(i64, String)],
    ) -> Result<(), StoreError> {
        if gaps.is_empty() && stale.is_empty() {
            return Ok(());
        }
        ensure_dir(st, &self.org)?;
        let now = st.now_ms();
        let count = self.count;
        let mut marked: Vec<i64> = Vec::new();
        let key = keys::image_index(&self.org);
        let r = st.update::<IndexDir, StoreError>(&key, |d| {
            let mut d = d.clone();
            marked.clear();
            let mut changed = false;
            for (n, _) in stale {
                changed |= put_bit(&mut d.holes, *n, true);
            }
            let old = d.seen.filter(|s| now - s.at >= GAP_GRACE_MS);
            for n in gaps {
                if old.is_some_and(|s| *n <= s.count) && put_bit(&mut d.holes, *n, true) {
                    marked.push(*n);
                    changed = true;
                }
            }
            if d.seen.is_none() || old.is_some() {
                d.seen = Some(Seen { count, at: now });
                changed = true;
            }
            if changed {
                Change::Write(d)
            } else {
                Change::Unchanged
            }
        });
        // Created just above: absent only if deleted meanwhile, which nothing does.
        if let Err(e) = r {
            return e.unless_missing().map_or(Ok(()), Err);
        }
        for (n, id) in stale {
            delete_slot_if(st, &self.org, *n, id)?;
        }
        // A gap that was a very slow create after all: give its image its place back.
        for n in marked {
            if st.get::<String>(&keys::image_slot(&self.org, n))?.is_some() {
                set_bit(st, &self.org, n, Bit::Hole, false)?;
            }
        }
        Ok(())
    }
}

/// Deletes slot `n` if it still names `id`.
fn delete_slot_if(st: &Store<'_>, org: &str, n: i64, id: &str) -> Result<(), StoreError> {
    let slot = keys::image_slot(org, n);
    if st.get::<String>(&slot)?.is_some_and(|s| s.value == id) {
        st.delete(&slot)?;
    }
    Ok(())
}

/// Makes sure the org's directory exists: its creator is elected with `increment` (R1).
fn ensure_dir(st: &Store<'_>, org: &str) -> Result<(), StoreError> {
    let key = keys::image_index(org);
    let present = || -> Result<bool, StoreError> { Ok(st.get::<IndexDir>(&key)?.is_some()) };
    if present()? || st.create_once(&keys::image_index_claim(org), &key, &IndexDir::default())? {
        return Ok(());
    }
    for _ in 0..3 {
        st.env().pause_ms(50);
        if present()? {
            return Ok(());
        }
    }
    // The elected creator died between its election and its write. Writing it here can
    // only lose bits if that creator wakes up later and overwrites: a lost hole's slot is
    // absent, so readers mark it again as a gap; a lost `deleting` bit only shows a page
    // one short while that image is being deleted.
    st.put_new(&key, &IndexDir::default())?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Bit {
    Hole,
    Deleting,
}

/// Sets or clears one bit of slot `n` by compare-and-swap (a hole also clears `deleting`:
/// the slot is gone for every listing).
fn set_bit(st: &Store<'_>, org: &str, n: i64, bit: Bit, on: bool) -> Result<(), StoreError> {
    let key = keys::image_index(org);
    let change = |d: &IndexDir| {
        let mut d = d.clone();
        let changed = match (bit, on) {
            (Bit::Hole, true) => {
                let a = put_bit(&mut d.holes, n, true);
                put_bit(&mut d.deleting, n, false) | a
            }
            (Bit::Hole, false) => put_bit(&mut d.holes, n, false),
            (Bit::Deleting, on) => put_bit(&mut d.deleting, n, on),
        };
        if changed {
            Change::Write(d)
        } else {
            Change::Unchanged
        }
    };
    // The directory usually exists, and its update reads it through the swap: no read
    // before it. Only a bit going on in an org without one creates it first.
    let r = match st.update::<IndexDir, StoreError>(&key, change) {
        Err(UpdateError::NotFound) if on => {
            ensure_dir(st, org)?;
            st.update::<IndexDir, StoreError>(&key, change)
        }
        r => r,
    };
    match r {
        Ok(_) => Ok(()),
        Err(e) => e.unless_missing().map_or(Ok(()), Err),
    }
}

/// Puts image `id` (already written) in the org's index: elects the next slot, fills it
/// with the id, and remembers the slot's number for [`unindex_image`]. Returns the number.
///
/// Only an error electing or filling the slot is returned; the rest is best effort: without
/// the number the image is listed all the same (its slot is marked when a listing finds its
/// image gone), and the directory check only matters after a stall of over a minute.
pub fn index_image(st: &Store<'_>, org: &str, id: &str) -> Result<i64, StoreError> {
    let n = st.counter_next(&keys::image_count(org))?;
    st.put_new(&keys::image_slot(org, n), &id)?;
    let _ = set_counter_once(st, &slot_counter(org, id), n);
    let _ = reclaim(st, org, n);
    Ok(n)
}

/// Run by the writer of slot `n` once it is written: a reader may have taken the slot for a
/// dead gap while its writer was stalled (module docs); its image gets its place back.
pub(crate) fn reclaim(st: &Store<'_>, org: &str, n: i64) -> Result<(), StoreError> {
    match st.get::<IndexDir>(&keys::image_index(org))? {
        Some(d) if has(&d.value.holes, n) => set_bit(st, org, n, Bit::Hole, false),
        _ => Ok(()),
    }
}

/// Sets a counter that nobody else touches (a fresh image's) from 0 to `value` with one
/// `increment` (R3). A transient failure may have counted all the same, so the counter is
/// read back before counting again: it ends at `value`, never at twice `value`.
fn set_counter_once(st: &Store<'_>, key: &str, value: i64) -> Result<(), StoreError> {
    let mut pause = STORE_BACKOFF_MS;
    let mut attempt = 1;
    loop {
        match st.kv().increment(key, value) {
            Ok(_) => return Ok(()),
            Err(StoreError::Transient(e)) => {
                if st.counter_read(key)? != 0 {
                    return Ok(());
                }
                if attempt >= STORE_ATTEMPTS {
                    return Err(StoreError::Transient(e));
                }
                st.env().pause_ms(pause);
                pause *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Takes image `id` out of the org's index when its deletion ends: marks its slot a hole,
/// then deletes the slot (so no reader counts it once it is gone), and deletes the counter
/// that remembered the slot's number. A slot that names another image is left alone. O(1)
/// store calls; safe to repeat (a later call finds nothing to do).
pub fn unindex_image(st: &Store<'_>, org: &str, id: &str) -> Result<(), StoreError> {
    let counter = slot_counter(org, id);
    let n = st.counter_read(&counter)?;
    if n > 0 {
        let slot = keys::image_slot(org, n);
        let names = st.get::<String>(&slot)?.map(|s| s.value);
        if names.as_deref().is_none_or(|s| s == id) {
            set_bit(st, org, n, Bit::Hole, true)?;
        }
        if names.as_deref() == Some(id) {
            st.delete(&slot)?;
        }
    }
    // Deleted whatever it held: the image's number is never needed again.
    st.delete(&counter)
}

/// Marks (or, `on` false, unmarks) image `id` as being deleted, so `ListImage` neither
/// shows nor counts it. Best effort for the caller: a missing mark only leaves a page one
/// short while the image is deleted (the reader drops an image it finds `DELETING`).
pub fn mark_deleting(st: &Store<'_>, org: &str, id: &str, on: bool) -> Result<(), StoreError> {
    let n = st.counter_read(&slot_counter(org, id))?;
    if n > 0 {
        set_bit(st, org, n, Bit::Deleting, on)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_skip_set_bits_across_chunks() {
        let mut dir = IndexDir::default();
        for n in [1, 2, 64, 65, 130] {
            put_bit(&mut dir.holes, n, true);
        }
        put_bit(&mut dir.deleting, 3, true);
        let v = |hide| {
            let mut v = View {
                org: "o".into(),
                count: 131,
                dir: dir.clone(),
                hide_deleting: hide,
                total: 0,
            };
            v.total = (1..=131).filter(|n| !has(&v.dir.holes, *n)).count() as u64;
            v
        };
        assert_eq!(v(false).slots(0..3), vec![3, 4, 5]);
        assert_eq!(v(true).slots(0..3), vec![4, 5, 6]);
        // Rank 60: slots 3..=63 are ranks 0..=60, then 66.
        assert_eq!(v(false).slots(60..63), vec![63, 66, 67]);
        assert_eq!(v(false).slots(124..200), vec![129, 131]);
        assert!(v(false).slots(500..510).is_empty());
    }

    #[test]
    fn a_bit_clears_its_chunk_when_last() {
        let mut m = BTreeMap::new();
        assert!(put_bit(&mut m, 70, true));
        assert!(!put_bit(&mut m, 70, true));
        assert!(has(&m, 70) && !has(&m, 6));
        assert!(put_bit(&mut m, 70, false));
        assert!(m.is_empty());
        assert_eq!(valid(64, 0), u64::MAX);
        assert_eq!(valid(66, 1), 0b11);
        assert_eq!(valid(10, 3), 0);
    }
}
