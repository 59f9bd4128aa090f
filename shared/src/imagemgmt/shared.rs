//! The REST door on images the platform shares with every org (`crate::catalog::platform`). Reads
//! of one (GET image, versions, a version, its copies) are answered from the platform's
//! records, `clone-image` copies one into an image of the caller's org, and every other
//! write (PATCH/DELETE image or version, Add Version, publish, republish, `clone-version`)
//! is a 403 `SHARED_IMAGE_READ_ONLY`. An image id the org owns is always its own.

use crate::api::Problem;
use crate::catalog::{Image, Version};
use crate::imagemgmt::service::Ctx;
use crate::keys;
use crate::records::{Seen, decode, decode_seen};
use crate::store::StoreError;

/// The problem's stable code.
pub const READ_ONLY_CODE: &str = "SHARED_IMAGE_READ_ONLY";

/// How a request naming an image reaches it.
#[derive(Debug, PartialEq)]
pub enum Access {
    /// The org's own image, or no such image anywhere: the ordinary path (404 stays 404).
    Own,
    /// A platform-shared image the request may read (or copy from).
    Shared,
}

/// Decides for a request naming `image_id`: `writes` when it would change the image,
/// `copies` for `clone-image`. `version_id`: the version the operation reads next, read in
/// the same batch as the image and handed on with it (one call of the store for both).
pub fn access(
    ctx: &Ctx<'_>,
    image_id: &str,
    version_id: Option<&str>,
    writes: bool,
    copies: bool,
) -> Result<Access, Problem> {
    let key = keys::image(&ctx.org, image_id);
    let seen = match version_id {
        None => ctx.st.get_seen::<Image>(&key),
        Some(v) => read_with_version(ctx, &key, keys::version(&ctx.org, v)),
    }
    .map_err(|e| Problem::store(&e))?;
    if let Some(seen) = seen.filter(|s| s.stored.value.org_id == ctx.org) {
        // The operation works on this read rather than reading the image again.
        ctx.handed.hand(key, seen);
        return Ok(Access::Own);
    }
    match crate::catalog::platform::image(&ctx.st, image_id)
        .map_err(|e: StoreError| Problem::store(&e))?
    {
        None => Ok(Access::Own),
        Some(_) if !writes || copies => Ok(Access::Shared),
        Some(img) => Err(read_only(&img.id)),
    }
}

/// The image under `key` and the version under `version_key` in one batch read; the
/// version's read is handed on. A version record that does not decode is not handed on: the
/// operation reads it again and fails as its own read would, not the access check.
fn read_with_version(
    ctx: &Ctx<'_>,
    key: &str,
    version_key: String,
) -> Result<Option<Seen<Image>>, StoreError> {
    let mut raw = ctx
        .st
        .get_many_raw(&[key.to_owned(), version_key.clone()])?
        .into_iter();
    let (image, version) = (raw.next().flatten(), raw.next().flatten());
    match version.map(|bytes| decode::<Version>(&version_key, &bytes)) {
        None => ctx.handed.hand_version(version_key, None),
        Some(Ok(v)) => ctx.handed.hand_version(version_key, Some(v)),
        // Not handed on: the operation reads it again and reports it as its own read would.
        Some(Err(_)) => {}
    }
    image.map(|raw| decode_seen(key, raw)).transpose()
}

pub fn read_only(id: &str) -> Problem {
    Problem::new(
        403,
        READ_ONLY_CODE,
        format!(
            "image {id} is shared with every org by the platform: it can be read and copied (clone-image), never modified, deleted or published"
        ),
    )
}

/// The context that reads the platform's records.
pub fn platform_ctx<'a>(ctx: &Ctx<'a>) -> Ctx<'a> {
    Ctx {
        st: ctx.st,
        settings: ctx.settings,
        org: crate::catalog::platform::ORG.to_owned(),
        handed: Default::default(),
    }
}
