//! Bounded version lists (issue 12, item 4): an image record lists only its newest versions
//! (the *tail*, at most [`PAGE`]), with their statuses; older versions live in sealed
//! *pages* of their own records. The image keeps one small [`PageRef`] per page (its key,
//! its count, the span of its versions' creation times) and one [`Summary`] of every paged
//! version's status (`Image::paged_summary`). Summaries compose, so the image status is
//! derived from that summary and the tail, and a transition rewrites a small, bounded
//! record however many versions the image has (about 100 bytes a page: the per-page
//! summaries stay in the pages, where only the rare change of a paged version reads them).
//!
//! - Add Version seals a full tail into a page (written under a key named after the version
//!   being added, so only that request ever writes it before the image names it) and swaps
//!   the image to name the page; an image with [`MAX_PAGES`] pages and a full tail refuses
//!   new versions ([`Sealing::Full`]): a bound of 4 096 to 4 160 versions an image. A page whose
//!   versions are all deleted is dropped, and frees its place.
//! - A transition of a version in a page swaps the page, then, inside the image's swap,
//!   reads every page afresh and recomputes the page counts and `paged_summary`: a page
//!   written before an image swap that lands is always counted (whoever writes a page swaps
//!   the image after), so concurrent changes of pages converge.
//! - A version is found in the pages whose creation span holds its `createdAt` (usually
//!   one; spans of concurrent adds may overlap).

use super::Image;
use crate::keys;
use crate::records::{Change, Store, UpdateError};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::{VersionStatus, rpc_version_status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Versions in the tail, and in a page.
pub const PAGE: usize = 64;
/// Sealed pages an image may hold.
pub const MAX_PAGES: usize = 64;

/// What the image status needs to know of a run of versions (oldest first), composable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The oldest version's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<VersionStatus>,
    /// The newest status that is neither failed, disabled nor deleting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_usable: Option<VersionStatus>,
    /// The newest version whose RPC status is `AVAILABLE` (the RPC listing's `OnlineVersion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_online: Option<String>,
    /// Versions per status.
    #[serde(default)]
    pub counts: BTreeMap<VersionStatus, u32>,
}

impl Summary {
    /// Adds a version newer than every one counted so far.
    pub fn push(&mut self, id: &str, s: VersionStatus) {
        self.push_status(s);
        if rpc_version_status(s) == "AVAILABLE" {
            self.newest_online = Some(id.to_owned());
        }
    }

    /// [`Summary::push`] but for `newest_online`.
    fn push_status(&mut self, s: VersionStatus) {
        self.first.get_or_insert(s);
        if !super::version_is_failed(s)
            && !matches!(s, VersionStatus::Deleting | VersionStatus::Disabled)
        {
            self.newest_usable = Some(s);
        }
        *self.counts.entry(s).or_default() += 1;
    }

    /// The summary of the known statuses of `ids` (oldest first). On every refresh of an
    /// image (its tail), so the newest online id is found from the end, not cloned at each.
    pub fn of(ids: &[String], statuses: &BTreeMap<String, VersionStatus>) -> Summary {
        let online = |id: &&String| {
            statuses
                .get(*id)
                .is_some_and(|s| rpc_version_status(*s) == "AVAILABLE")
        };
        let mut s = Summary::default();
        for st in ids.iter().filter_map(|id| statuses.get(id)) {
            s.push_status(*st);
        }
        s.newest_online = ids.iter().rev().find(online).cloned();
        s
    }

    /// `self` followed by the newer run `later`.
    pub fn then(mut self, later: &Summary) -> Summary {
        self.first = self.first.or(later.first);
        if later.newest_usable.is_some() {
            self.newest_usable = later.newest_usable;
        }
        if later.newest_online.is_some() {
            self.newest_online.clone_from(&later.newest_online);
        }
        for (s, n) in &later.counts {
            *self.counts.entry(*s).or_default() += n;
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        *self == Summary::default()
    }

    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }

    /// Versions in any of `statuses`.
    pub fn count(&self, statuses: &[VersionStatus]) -> u32 {
        statuses
            .iter()
            .map(|s| self.counts.get(s).copied().unwrap_or(0))
            .sum()
    }
}

/// The image's reference to one sealed page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageRef {
    /// The page's key suffix: the id of the version whose addition sealed it.
    pub id: String,
    /// Versions in the page.
    pub count: u32,
    /// The oldest and newest `createdAt` of its versions (as sealed).
    pub span: [Timestamp; 2],
}

/// A sealed page of versions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionPage {
    pub ids: Vec<String>,
    #[serde(default)]
    pub statuses: BTreeMap<String, VersionStatus>,
}

/// The whole-image summary: the pages, then the tail's known statuses.
pub fn summary(img: &Image) -> Summary {
    img.paged_summary
        .clone()
        .then(&Summary::of(&img.version_ids, &img.version_statuses))
}

/// Versions the image lists, tail and pages.
pub fn count(img: &Image) -> u32 {
    let paged: u32 = img.version_pages.iter().map(|p| p.count).sum();
    paged.saturating_add(u32::try_from(img.version_ids.len()).unwrap_or(u32::MAX))
}

/// Every version id of `img`, oldest first (reads its pages: one call for up to [`MAX_PAGES`]).
pub fn all_ids(st: &Store<'_>, org: &str, img: &Image) -> Result<Vec<String>, StoreError> {
    let keys: Vec<String> = img
        .version_pages
        .iter()
        .map(|p| keys::version_page(org, &img.id, &p.id))
        .collect();
    let mut ids = Vec::new();
    for page in st.get_many::<VersionPage>(&keys)?.into_iter().flatten() {
        ids.extend(page.value.ids);
    }
    ids.extend(img.version_ids.iter().cloned());
    Ok(ids)
}

/// The newest version id of `img`, reading the newest page only when the tail is empty.
pub fn newest_id(st: &Store<'_>, org: &str, img: &Image) -> Result<Option<String>, StoreError> {
    if let Some(id) = img.version_ids.last() {
        return Ok(Some(id.clone()));
    }
    for p in img.version_pages.iter().rev() {
        let page = st.get::<VersionPage>(&keys::version_page(org, &img.id, &p.id))?;
        if let Some(id) = page.and_then(|p| p.value.ids.last().cloned()) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Whether `img` lists `id` in its tail, or named a page after it (it sealed one).
pub fn lists_recent(img: &Image, id: &str) -> bool {
    img.version_ids.iter().any(|v| v == id) || img.version_pages.iter().any(|p| p.id == id)
}

/// Makes room in the tail for the version `adding`: when the tail is full, writes it as a
/// page named after `adding` and returns the image naming it, to be swapped in by the
/// caller. Versions the tail has no status for yet are read first.
pub fn seal_if_full(st: &Store<'_>, img: &Image, adding: &str) -> Result<Option<Image>, Sealing> {
    if img.version_ids.len() < PAGE {
        return Ok(None);
    }
    if img.version_pages.len() >= MAX_PAGES {
        return Err(Sealing::Full);
    }
    let org = img.org_id.as_str();
    let missing: Vec<&String> = img
        .version_ids
        .iter()
        .filter(|id| !img.version_statuses.contains_key(*id))
        .collect();
    let mut statuses = img.version_statuses.clone();
    let keys: Vec<String> = missing.iter().map(|v| keys::version(org, v)).collect();
    let read = st
        .get_many::<super::Version>(&keys)
        .map_err(Sealing::Store)?;
    for (id, v) in missing.into_iter().zip(read) {
        if let Some(v) = v.filter(|v| v.value.stream_id == img.id) {
            statuses.insert(id.clone(), v.value.status);
        }
    }
    statuses.retain(|id, _| img.version_ids.contains(id));
    let page = VersionPage {
        ids: img.version_ids.clone(),
        statuses,
    };
    // Only this request writes this key until the image names it (the key is the new
    // version's fresh id), so a blind write is safe. A round that loses its swap rewrites
    // it, or drops it once another request sealed that tail (`attach_version`).
    st.put_new(&keys::version_page(org, &img.id, adding), &page)
        .map_err(Sealing::Store)?;
    let mut out = img.clone();
    out.version_pages.push(PageRef {
        id: adding.to_owned(),
        count: u32::try_from(page.ids.len()).unwrap_or(u32::MAX),
        span: img.tail_span.unwrap_or([Timestamp(0), Timestamp(i64::MAX)]),
    });
    out.paged_summary = img
        .paged_summary
        .clone()
        .then(&Summary::of(&page.ids, &page.statuses));
    out.version_ids.clear();
    out.version_statuses.clear();
    out.tail_span = None;
    Ok(Some(out))
}

/// Why sealing failed.
#[derive(Debug)]
pub enum Sealing {
    /// The image holds [`MAX_PAGES`] pages and a full tail: no version can be added.
    Full,
    Store(StoreError),
}

/// Widens the tail's creation span to take a version created at `at`.
pub fn widen_tail(img: &mut Image, at: Timestamp) {
    img.tail_span = Some(match img.tail_span {
        None => [at, at],
        Some([a, b]) => [a.min(at), b.max(at)],
    });
}

/// A version that left (or may have left) the tail, as the refresh knows it: its current
/// status (`None` once gone) and its creation time when known.
pub struct Moved<'a> {
    pub id: &'a str,
    pub status: Option<VersionStatus>,
    pub created_at: Option<Timestamp>,
}

/// Shows each of `moved` in the page holding it (status, or removal once gone), then reads
/// every page afresh to set `img`'s page counts and `paged_summary` (`img` is swapped in by
/// the caller): an earlier round that swapped a page but lost the image's swap is counted
/// too. Called inside the image's swap, after the page swaps. Returns the pages left empty
/// (or gone), which `img` no longer names: the caller drops their records once its swap
/// lands.
pub fn refresh(
    st: &Store<'_>,
    img: &mut Image,
    moved: &[Moved<'_>],
) -> Result<Vec<String>, StoreError> {
    let (org, image_id) = (img.org_id.clone(), img.id.clone());
    for m in moved {
        let candidates: Vec<String> = img
            .version_pages
            .iter()
            .rev()
            .filter(|p| {
                m.created_at
                    .is_none_or(|t| p.span[0] <= t && t <= p.span[1])
            })
            .map(|p| p.id.clone())
            .collect();
        for page_id in candidates {
            let key = keys::version_page(&org, &image_id, &page_id);
            let r = st.update::<VersionPage, ()>(&key, |page| {
                if !page.ids.iter().any(|v| v == m.id) {
                    return Change::Abort(());
                }
                let mut page = page.clone();
                match m.status {
                    Some(s) if page.statuses.get(m.id) == Some(&s) => return Change::Unchanged,
                    Some(s) => {
                        page.statuses.insert(m.id.to_owned(), s);
                    }
                    None => {
                        page.ids.retain(|v| v != m.id);
                        page.statuses.remove(m.id);
                    }
                }
                Change::Write(page)
            });
            match r {
                Ok(_) => break,
                // Not in this page (or the page is gone): try the next candidate.
                Err(UpdateError::Aborted(()) | UpdateError::NotFound) => {}
                Err(UpdateError::Store(e)) => return Err(e),
                Err(UpdateError::Contended) => return Err(StoreError::contended()),
            }
        }
    }
    let keys: Vec<String> = img
        .version_pages
        .iter()
        .map(|p| keys::version_page(&org, &image_id, &p.id))
        .collect();
    let read = st.get_many::<VersionPage>(&keys)?;
    let mut whole = Summary::default();
    for (p, page) in img.version_pages.iter_mut().zip(&read) {
        let page = page.as_ref().map(|s| &s.value);
        p.count = page.map_or(0, |g| u32::try_from(g.ids.len()).unwrap_or(u32::MAX));
        if let Some(g) = page {
            whole = whole.then(&Summary::of(&g.ids, &g.statuses));
        }
    }
    img.paged_summary = whole;
    let emptied: Vec<String> = img
        .version_pages
        .iter()
        .filter(|p| p.count == 0)
        .map(|p| p.id.clone())
        .collect();
    img.version_pages.retain(|p| p.count > 0);
    Ok(emptied)
}

/// Drops the records of pages no image names any more (best effort: a leftover page is an
/// unlisted record, never a listed version).
pub fn drop_pages(st: &Store<'_>, org: &str, image_id: &str, ids: &[String]) {
    for id in ids {
        let _ = st.delete(&keys::version_page(org, image_id, id));
    }
}

#[cfg(test)]
#[path = "pages_tests.rs"]
mod tests;
