//! Reads both doors list from: an org's images through its index slots (never a key scan)
//! and an image's versions; and the index itself ([`index_image`], [`unindex_image`]).
//!
//! ## The index and deleted images
//!
//! An org's index is a counter ([`keys::image_count`]) that elects slot numbers with
//! `increment` (R1, R3) and one slot key per image ([`keys::image_slot`], holding its id).
//! A listing reads slots `1..=count`. When an image is deleted, its slot key is deleted too,
//! in O(1): [`index_image`] remembers the slot's number under the image's own `index-slot`
//! counter (one more `increment` per new image), and the end of the image's deletion
//! ([`crate::catalog::deletion::release_image`]) reads it, deletes the slot and the counter.
//! The store so shrinks back; a listing then meets an absent slot (one read that returns
//! nothing, instead of the slot's read plus the gone image's) and skips it. The counter is
//! never reset: a reset would elect again numbers whose slots still hold live images.
//! Listing in O(page) whatever the number of deleted images is a separate matter (slot
//! numbers are not reused). Slots written before the `index-slot` counter existed have no
//! number to find: they stay, and are skipped as before.

use super::{Image, Version};
use crate::keys;
use crate::records::{STORE_ATTEMPTS, STORE_BACKOFF_MS, Store};
use crate::store::StoreError;
use crate::time::Timestamp;

/// One request's view of one org's catalog: the ports, the door's settings `S` and the
/// caller's org. Each door adds its own reads (`impl Ctx<'_, ItsSettings>`).
pub struct Ctx<'a, S> {
    pub st: Store<'a>,
    pub settings: &'a S,
    pub org: String,
}

impl<S> Ctx<'_, S> {
    pub fn now(&self) -> Timestamp {
        self.st.now()
    }
}

/// The org's images, read through its index slots (`increment`-elected, never a key
/// scan), then the images the platform shares with every org (`crate::catalog::platform`); both
/// doors list from here. An absent slot (elected but never written, or removed with its
/// image by [`unindex_image`]), a slot whose image is gone, or a repeated one is skipped.
pub fn org_images(st: &Store<'_>, org: &str) -> Result<Vec<Image>, StoreError> {
    let mut out = indexed_images(st, org)?;
    if org != crate::catalog::platform::ORG {
        out.extend(indexed_images(st, crate::catalog::platform::ORG)?);
    }
    Ok(out)
}

fn indexed_images(st: &Store<'_>, org: &str) -> Result<Vec<Image>, StoreError> {
    let count = st.counter_read(&keys::image_count(org))?;
    let slots: Vec<String> = (1..=count).map(|n| keys::image_slot(org, n)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut ids: Vec<String> = Vec::new();
    for chunk in slots.chunks(100) {
        for id in st.get_many::<String>(chunk)?.into_iter().flatten() {
            if seen.insert(id.value.clone()) {
                ids.push(id.value);
            }
        }
    }
    let mut out = Vec::new();
    for chunk in ids.chunks(100) {
        let keys: Vec<String> = chunk.iter().map(|i| keys::image(org, i)).collect();
        out.extend(
            st.get_many::<Image>(&keys)?
                .into_iter()
                .flatten()
                .map(|s| s.value)
                .filter(|i| i.org_id == org),
        );
    }
    Ok(out)
}

/// The image counter that remembers the number of image `id`'s index slot.
pub fn slot_counter(org: &str, id: &str) -> String {
    keys::image_counter(org, id, "index-slot")
}

/// Puts image `id` (already written) in the org's index: elects the next slot, fills it
/// with the id, and remembers the slot's number for [`unindex_image`]. Returns the number.
///
/// Only an error electing or filling the slot is returned; the number's write is best
/// effort: without it the image is listed all the same, only its slot would stay after
/// its deletion (skipped, as any slot whose image is gone).
pub fn index_image(st: &Store<'_>, org: &str, id: &str) -> Result<i64, StoreError> {
    let n = st.counter_next(&keys::image_count(org))?;
    st.put_new(&keys::image_slot(org, n), &id)?;
    let _ = set_counter_once(st, &slot_counter(org, id), n);
    Ok(n)
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

/// Takes image `id` out of the org's index when it is deleted: deletes its slot (if the
/// slot still names it) and the counter that remembered the slot's number. O(1); safe to
/// repeat (a later call finds nothing to do).
pub fn unindex_image(st: &Store<'_>, org: &str, id: &str) -> Result<(), StoreError> {
    let counter = slot_counter(org, id);
    let n = st.counter_read(&counter)?;
    if n > 0 {
        let slot = keys::image_slot(org, n);
        if st.get::<String>(&slot)?.is_some_and(|s| s.value == id) {
            st.delete(&slot)?;
        }
    }
    // Read above with `increment(…, 0)`, which may have created it: deleted in any case.
    st.delete(&counter)
}

/// The versions of `img` that still exist, oldest first, in one batched read per hundred.
pub fn image_versions(st: &Store<'_>, org: &str, img: &Image) -> Result<Vec<Version>, StoreError> {
    let keys: Vec<String> = img
        .version_ids
        .iter()
        .map(|v| keys::version(org, v))
        .collect();
    let mut out = Vec::new();
    for chunk in keys.chunks(100) {
        out.extend(
            st.get_many::<Version>(chunk)?
                .into_iter()
                .flatten()
                .map(|s| s.value)
                .filter(|v| v.stream_id == img.id && v.org_id == org),
        );
    }
    Ok(out)
}
