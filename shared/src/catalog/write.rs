//! The one write path of a new image, shared by both doors (REST create-image, RPC
//! CreateImageByInstance): records are created under fresh ids (R1), in an order that never
//! lets a reader see a record naming a missing one.

use super::{Asset, Image, Version};
use crate::keys;
use crate::ops::{self, OpKind, Settings, Target};
use crate::records::Store;
use crate::store::StoreError;

/// A new image with its first version and the version's asset, built by a door.
pub struct NewImage<'a> {
    pub org: &'a str,
    pub image: &'a Image,
    pub version: &'a Version,
    pub asset: &'a Asset,
    /// The operation that provisions the version (its id is already on the records).
    pub op_id: &'a str,
    pub kind: OpKind,
    pub target: Target,
}

/// The major number of a new image's first version, elected through the image's major
/// counter that Add Version continues from (a fresh image id: 1).
pub fn first_major(st: &Store<'_>, org: &str, image_id: &str) -> Result<u64, StoreError> {
    let n = st.counter_next(&keys::image_counter(org, image_id, "major"))?;
    Ok(u64::try_from(n).unwrap_or(1))
}

/// Writes the asset, the version, the image, starts the operation, and indexes the image
/// last: a listed id always names a written image, and the advancer never meets an
/// operation whose records are missing.
pub fn write_new_image(
    st: &Store<'_>,
    settings: &Settings,
    n: NewImage<'_>,
) -> Result<(), StoreError> {
    st.put_new(&keys::asset(n.org, &n.asset.id), n.asset)?;
    st.put_new(&keys::version(n.org, &n.version.id), n.version)?;
    st.put_new(&keys::image(n.org, &n.image.id), n.image)?;
    ops::start(st, settings, n.op_id, n.org, n.kind, n.target)?;
    let slot = st.counter_next(&keys::image_count(n.org))?;
    st.put_new(&keys::image_slot(n.org, slot), &n.image.id)?;
    Ok(())
}
