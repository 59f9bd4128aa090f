//! The platform's shared images: `/admin/v1/shared-images/{imageId}` (`crate::catalog::platform`).

use super::body::{Fields, enum_list, parse_object};
use super::{AdminError, Answer, Response, to_json};
use crate::records::Store;
use crate::routing::Params;
use crate::vocab::{GpuType, OsType};

/// `GET /admin/v1/shared-images/{imageId}`.
pub(super) fn get(st: &Store<'_>, p: &Params<'_>, _: &[u8], _: &super::Config<'_>) -> Answer {
    let id = p.get("imageId");
    match crate::catalog::platform::image(st, id)? {
        Some(i) => Ok(Response::json(200, &to_json(&i))),
        None => Err(AdminError::NotFound(format!("no shared image {id}"))),
    }
}

/// `PUT /admin/v1/shared-images/{imageId}`: an image the platform shares with every org:
/// `name` (required on creation, 1–128 characters), `description`, `osType`, `gpuType`
/// (Horizon's names, default `WINDOWS`, `NONE`).
pub(super) fn put(st: &Store<'_>, p: &Params<'_>, body: &[u8], _: &super::Config<'_>) -> Answer {
    let id = p.get("imageId");
    let obj = parse_object(body)?;
    let f = Fields(&obj);
    let name = f.string("name")?;
    let description = f.string("description")?;
    let os_type = f
        .parsed::<OsType>("osType", &enum_list(OsType::ALL))?
        .unwrap_or(OsType::Windows);
    let gpu_type = f
        .parsed::<GpuType>("gpuType", &enum_list(GpuType::ALL))?
        .unwrap_or(GpuType::None);
    let existing = crate::catalog::platform::image(st, id)?;
    let name = match name.or_else(|| existing.map(|i| i.name)) {
        Some(n) if !n.is_empty() && n.chars().count() <= 128 => n,
        _ => {
            return Err(AdminError::invalid(
                "name",
                "REQUIRED",
                "a shared image needs a name of 1-128 characters",
            ));
        }
    };
    let (img, created) = crate::catalog::platform::put(
        st,
        &crate::catalog::platform::SharedImage {
            id: id.to_owned(),
            name,
            description,
            os_type,
            gpu_type,
        },
    )?;
    Ok(Response::json(
        if created { 201 } else { 200 },
        &to_json(&img),
    ))
}
