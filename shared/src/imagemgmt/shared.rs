//! The REST door on images the platform shares with every org (`crate::catalog::platform`). Reads
//! of one (GET image, versions, a version, its copies) are answered from the platform's
//! records, `clone-image` copies one into an image of the caller's org, and every other
//! write (PATCH/DELETE image or version, Add Version, publish, republish, `clone-version`)
//! is a 403 `SHARED_IMAGE_READ_ONLY`. An image id the org owns is always its own.

use crate::api::Problem;
use crate::catalog::Image;
use crate::imagemgmt::service::Ctx;
use crate::keys;
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
/// `copies` for `clone-image`.
pub fn access(
    ctx: &Ctx<'_>,
    image_id: &str,
    writes: bool,
    copies: bool,
) -> Result<Access, Problem> {
    let key = keys::image(&ctx.org, image_id);
    let seen = ctx
        .st
        .get_seen::<Image>(&key)
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
