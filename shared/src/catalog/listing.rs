//! Reads both doors list from: an org's images through its index slots (never a key scan)
//! and an image's versions.

use super::{Image, Version};
use crate::keys;
use crate::records::Store;
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
/// doors list from here. A slot whose image is gone, or repeated, is skipped.
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
