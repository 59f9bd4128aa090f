//! Reads both doors list from: an org's images (with the platform's shared ones), a page of
//! them in O(page) in the default order, or every one of them for other orders and filters;
//! and an image's versions. The index itself is [`super::index`] (its design is there).
//!
//! ## Orders and costs
//!
//! The default order ([`Order::Index`]) is the platform's shared images first, then the
//! org's own in the order they entered the org's index, which is creation order: an image
//! created after another's creation was answered is listed after it (two creations that
//! overlap are listed in the order they were indexed, whatever their `createdAt`). The
//! newest-first order ([`Order::Reverse`]) is its exact reverse. A page in either order
//! ([`page`]) costs `2 + 2s` record reads for `s` of the org's images, plus `2 + 2P` for
//! the `P` shared images (read whole: there are few, and none is ever deleted), and its
//! total is exact without reading any record: it does not grow with the org's images, live
//! or deleted. The slots and the images are each one batch read, so with batch reads on
//! (`store_batch_reads`, off on Redis: R8) that is 4 + 4 store calls whatever the page size.
//!
//! Any other order or filter reads every listed image of the org ([`Listed::for_each`]: one
//! slot and one image read per live image, never a deleted one) and keeps in memory only
//! the images up to the page's end ([`Window`]), so a request holds `offset + size`
//! rendered items at most, not the whole org. Such a scan is charged to the org's scan
//! budget before it reads ([`Listed::records`], `crate::ratelimit`, "Scans").

use super::index::View;
pub use super::index::{index_image, mark_deleting, slot_counter, unindex_image};
use super::{Image, Version};
use crate::keys;
use crate::records::{Seen, Store, Stored};
use crate::store::StoreError;
use crate::time::Timestamp;

/// One request's view of one org's catalog: the ports, the door's settings `S` and the
/// caller's org. Each door adds its own reads (`impl Ctx<'_, ItsSettings>`).
pub struct Ctx<'a, S> {
    pub st: Store<'a>,
    pub settings: &'a S,
    pub org: String,
    /// An image this request already read, for the door's next read of it.
    pub handed: Handed,
}

/// Records read once and handed on: the REST door's access check reads the image its
/// operation then works on (and, for a route naming a version, that version in the same
/// batch read), so the operation takes those reads instead of repeating them
/// (`crate::imagemgmt::shared::access`). Each is taken once: any later read of the request
/// reads the store, as before.
#[derive(Default)]
pub struct Handed {
    image: std::cell::RefCell<Option<(String, Seen<Image>)>>,
    version: std::cell::RefCell<Option<(String, Option<Stored<Version>>)>>,
}

/// Takes what `slot` holds if it was read under `key`.
fn take_from<T>(slot: &std::cell::RefCell<Option<(String, T)>>, key: &str) -> Option<T> {
    let mut slot = slot.borrow_mut();
    match slot.take() {
        Some((k, v)) if k == key => Some(v),
        other => {
            *slot = other;
            None
        }
    }
}

impl Handed {
    /// Hands on `seen`, read under `key`.
    pub fn hand(&self, key: String, seen: Seen<Image>) {
        *self.image.borrow_mut() = Some((key, seen));
    }

    /// The image read under `key`, if one was handed on (and not taken yet).
    pub fn take(&self, key: &str) -> Option<Seen<Image>> {
        take_from(&self.image, key)
    }

    /// Hands on what was read under the version key `key` (`None`: no record).
    pub fn hand_version(&self, key: String, read: Option<Stored<Version>>) {
        *self.version.borrow_mut() = Some((key, read));
    }

    /// What was read under the version key `key`, if handed on: `Some(None)` is a read
    /// that found no record.
    pub fn take_version(&self, key: &str) -> Option<Option<Stored<Version>>> {
        take_from(&self.version, key)
    }
}

impl<S> Ctx<'_, S> {
    pub fn now(&self) -> Timestamp {
        self.st.now()
    }
}

/// The org's images then the platform's shared ones, every one read (tests, the admin
/// inventory, small listings). A slot whose image is gone, or repeated, is skipped.
pub fn org_images(st: &Store<'_>, org: &str) -> Result<Vec<Image>, StoreError> {
    let mut out = Vec::new();
    View::open(st, org, false)?.for_each(st, |i| out.push(i))?;
    if org != crate::catalog::platform::ORG {
        View::open(st, crate::catalog::platform::ORG, false)?.for_each(st, |i| out.push(i))?;
    }
    Ok(out)
}

/// The default order of a listing and its reverse (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Shared images first, then the org's own in index (creation) order.
    Index,
    /// The exact reverse: the org's newest first, the shared ones last.
    Reverse,
}

/// Which images a listing shows, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The org's own images.
    pub own: bool,
    /// The platform's shared images.
    pub shared: bool,
    /// Leave out images being deleted (the RPC door's listing).
    pub hide_deleting: bool,
}

/// A page of images and the count of every image the listing shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub images: Vec<Image>,
    pub total: u64,
}

/// The platform's shared images the scope shows (read whole), and an org's index view.
fn open(st: &Store<'_>, org: &str, scope: Scope) -> Result<(Vec<Image>, Option<View>), StoreError> {
    let platform = crate::catalog::platform::ORG;
    let mut shared = Vec::new();
    if scope.shared && org != platform {
        View::open(st, platform, scope.hide_deleting)?.for_each(st, |i| shared.push(i))?;
    }
    let own = if scope.own {
        Some(View::open(st, org, scope.hide_deleting)?)
    } else {
        None
    };
    Ok((shared, own))
}

/// Images `offset..offset + limit` of the listing in `order` (module docs for the cost).
/// Fewer than `limit` only at the end, or where a slot is in flight or an image was being
/// deleted unseen by the index.
pub fn page(
    st: &Store<'_>,
    org: &str,
    scope: Scope,
    order: Order,
    offset: u64,
    limit: usize,
) -> Result<Page, StoreError> {
    let (shared, own) = open(st, org, scope)?;
    let p = u64::try_from(shared.len()).unwrap_or(u64::MAX);
    let total = p.saturating_add(own.as_ref().map_or(0, |v| v.total));
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    // The window in index order: the shared images are ranks 0..p, the org's follow.
    let (a, b) = match order {
        Order::Index => (offset.min(total), offset.saturating_add(limit).min(total)),
        Order::Reverse => (
            total.saturating_sub(offset.saturating_add(limit)),
            total.saturating_sub(offset),
        ),
    };
    let mut images: Vec<Image> = shared
        .into_iter()
        .skip(usize::try_from(a).unwrap_or(usize::MAX))
        .take(usize::try_from(b.min(p).saturating_sub(a)).unwrap_or(0))
        .collect();
    if let Some(v) = own
        && b > p
    {
        images.extend(v.read(st, a.saturating_sub(p)..b - p)?);
    }
    if order == Order::Reverse {
        images.reverse();
    }
    Ok(Page { images, total })
}

/// Every image a scope shows, opened but not yet read: what a scan is about to read
/// ([`Listed::records`]) is known before it reads them, so a door can charge its budget
/// first (`crate::ratelimit::charge_scan`).
pub struct Listed {
    shared: Vec<Image>,
    own: Option<View>,
}

/// Opens the scope's listing: the shared images (read whole) and the org's index view.
pub fn listed(st: &Store<'_>, org: &str, scope: Scope) -> Result<Listed, StoreError> {
    let (shared, own) = open(st, org, scope)?;
    Ok(Listed { shared, own })
}

impl Listed {
    /// The image records reading the org's images costs (the shared ones are read already).
    pub fn records(&self) -> u64 {
        self.own.as_ref().map_or(0, |v| v.total)
    }

    /// Calls `f` with every image the scope shows (shared ones first), one chunk of the
    /// org's images in memory at a time: one slot and one image read per live image.
    pub fn for_each(self, st: &Store<'_>, mut f: impl FnMut(Image)) -> Result<(), StoreError> {
        self.shared.into_iter().for_each(&mut f);
        match self.own {
            Some(v) => v.for_each(st, f),
            None => Ok(()),
        }
    }
}

/// The first `offset + limit` items by an order, out of a stream of any length, in bounded
/// memory (at most twice that many, plus one), and the count of every item pushed.
pub struct Window<T, F> {
    offset: usize,
    limit: usize,
    keep: usize,
    items: Vec<T>,
    total: u64,
    cmp: F,
}

impl<T, F: FnMut(&T, &T) -> std::cmp::Ordering> Window<T, F> {
    pub fn new(offset: usize, limit: usize, cmp: F) -> Self {
        Window {
            offset,
            limit,
            keep: offset.saturating_add(limit),
            items: Vec::new(),
            total: 0,
            cmp,
        }
    }

    pub fn push(&mut self, item: T) {
        self.total += 1;
        self.items.push(item);
        if self.items.len() > self.keep.saturating_mul(2).max(64) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        let cmp = &mut self.cmp;
        self.items.sort_by(|a, b| cmp(a, b));
        self.items.truncate(self.keep);
    }

    /// Items `offset..offset + limit` in order, and the count of every item pushed.
    pub fn finish(mut self) -> (Vec<T>, u64) {
        self.trim();
        let items = self
            .items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect();
        (items, self.total)
    }
}

/// The versions of `img` that still exist, oldest first, in one batched read per hundred
/// (after one read of its pages).
pub fn image_versions(st: &Store<'_>, org: &str, img: &Image) -> Result<Vec<Version>, StoreError> {
    let keys: Vec<String> = super::pages::all_ids(st, org, img)?
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
