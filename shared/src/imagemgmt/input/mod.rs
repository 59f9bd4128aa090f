//! Request bodies as types: every field is parsed once into a value that cannot be invalid
//! (parse, don't validate). Parsers collect every failing field, each named by its JSON path,
//! so a 400 lists them all. Unknown fields are ignored; a wrong type or an unknown enum value
//! fails its field.
//!
//! Map: [`values`] (names, descriptions, ids, version numbers), [`fields`] (the reader that
//! collects field errors, and the field-level checks every body shares), [`source`] (where a
//! new version's bits come from: `assetDetails` and the source rules), [`image`] (create and
//! patch an image), [`version`] (add and patch a version), [`actions`] (publish, republish,
//! clone). Everything is re-exported here: callers write `input::X`.

pub mod actions;
pub mod fields;
pub mod image;
pub mod source;
pub mod values;
pub mod version;

#[cfg(test)]
mod tests;

pub use actions::{CloneRequest, CloneTarget, PublishRequest, RepublishRequest};
pub use fields::Fields;
pub use image::{CreateAction, ImageCatalogRequest, ImagePatch};
pub use source::Source;
pub use values::{Description, Id, ImageName, MAX_DESCRIPTION, MAX_ID, MarkerName, VersionNumber};
pub use version::{Numbering, VersionCreateTO, VersionPatch};
