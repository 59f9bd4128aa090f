//! `DELETE /admin/v1/orgs/{orgId}` (issue 24, item 6): an org's credentials are refused at
//! once, and its data removed in bounded batches through the engine.
//!
//! Each call:
//! 1. marks the org `deleting` (no credential is minted for it any more) and deletes every
//!    credential it lists (at most 2 × `auth::MAX_CREDENTIALS` deletes): the next request
//!    with any of them is a 401 / `InvalidAccessKeyId.NotFound`;
//! 2. starts the deletion of at most [`IMAGES_PER_CALL`] of its images not yet being deleted
//!    (each an operation of the engine, which removes the image's versions and copies as a
//!    REST `DELETE` of the image does);
//! 3. answers `202 { imagesDeleting, imagesLeft, blocked }` while images remain (call again:
//!    an operator's loop, each call bounded), and `204` once the org's index lists no image:
//!    the org's record is then deleted.
//!
//! An image with a marker bound to desktop pools is not deleted (`blocked` counts it): its
//! pools must move first, as for a REST `DELETE`. What stays: the simulator inventory the
//! admin seeded under the org (its own `PUT`s, not tenant data) and the index's counter, a
//! few bytes that a new org of the same id continues from.

use super::orgs::{Org, found, update_org};
use super::{AdminError, Answer, Response};
use crate::auth;
use crate::catalog::deletion::{self, DeleteRefusal};
use crate::catalog::index::View;
use crate::keys;
use crate::records::{Change, Store};
use crate::routing::Params;
use serde_json::json;

/// Image deletions one call starts at most.
pub const IMAGES_PER_CALL: u64 = 32;

pub(super) fn delete_org(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    config: &super::Config<'_>,
) -> Answer {
    let org_id = p.get("orgId");
    let before = found(st, org_id)?;
    revoke_all(st, &before)?;
    let marked = update_org(st, org_id, |o| {
        if o.deleting && o.tokens.is_empty() && o.access_keys.is_empty() {
            return Change::Unchanged;
        }
        let mut o = o.clone();
        o.deleting = true;
        // Only what this call revoked: a credential listed meanwhile stays listed.
        o.tokens.retain(|t| !before.tokens.contains(t));
        o.access_keys.retain(|k| !before.access_keys.contains(k));
        Change::Write(o)
    })?;
    if !marked.tokens.is_empty() || !marked.access_keys.is_empty() {
        // Minted between the read and the swap: the next call revokes them.
        revoke_all(st, &marked)?;
    }
    let live = View::open(st, org_id, true)?;
    let (mut started, mut blocked) = (0u64, 0u64);
    for image in live.read(st, 0..IMAGES_PER_CALL.min(live.total))? {
        match deletion::start_image_deletion(st, config.settings, org_id, &image.id, None) {
            Ok(_) | Err(DeleteRefusal::AlreadyDeleting | DeleteRefusal::NotFound) => started += 1,
            Err(DeleteRefusal::MarkerInUse(_) | DeleteRefusal::PreconditionFailed) => blocked += 1,
            Err(DeleteRefusal::Store(e)) => return Err(e.into()),
        }
    }
    let listed = View::open(st, org_id, false)?.total;
    if listed == 0 {
        st.delete(&keys::org(org_id))?;
        return Ok(Response::no_content());
    }
    Ok(Response::json(
        202,
        &json!({
            "orgId": org_id,
            "imagesDeleting": started,
            "imagesLeft": listed,
            "blocked": blocked,
        }),
    ))
}

/// Deletes every credential `o` lists (tokens by hash, AccessKeys by id).
fn revoke_all(st: &Store<'_>, o: &Org) -> Result<(), AdminError> {
    for t in &o.tokens {
        auth::delete_token(st, t)?;
    }
    for k in &o.access_keys {
        auth::delete_access_key(st, &k.id)?;
    }
    Ok(())
}
