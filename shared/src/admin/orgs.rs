//! Orgs and their credentials: `/admin/v1/orgs/{orgId}` and its `tokens` and `access-keys`.

use super::body::{Fields, parse_object};
use super::{AdminError, Answer, Response, to_json, valid_id};
use crate::auth;
use crate::keys;
use crate::records::Store;
use crate::routing::Params;
use crate::store::StoreError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// An org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The partner orgs (MSPs) that prepare images for this org: Add Version and image
    /// creation with `assetDetails.data.mspOrgId` accept only one of these.
    #[serde(default)]
    pub partners: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Reads an org.
pub fn org(st: &Store<'_>, id: &str) -> Result<Option<Org>, StoreError> {
    Ok(st.get::<Org>(&keys::org(id))?.map(|s| s.value))
}

/// The path's org must exist: 404 otherwise.
pub(super) fn require(st: &Store<'_>, org_id: &str) -> Result<(), AdminError> {
    match org(st, org_id)? {
        Some(_) => Ok(()),
        None => Err(AdminError::OrgNotFound(org_id.to_owned())),
    }
}

/// `GET /admin/v1/orgs/{orgId}`.
pub(super) fn get(st: &Store<'_>, p: &Params<'_>, _: &[u8], _: &super::Config<'_>) -> Answer {
    let org_id = p.get("orgId");
    match org(st, org_id)? {
        Some(o) => Ok(Response::json(200, &to_json(&o))),
        None => Err(AdminError::OrgNotFound(org_id.to_owned())),
    }
}

/// `PUT /admin/v1/orgs/{orgId}`: `name`, `partners` (absent keeps them, `[]` clears them).
pub(super) fn put(st: &Store<'_>, p: &Params<'_>, body: &[u8], _: &super::Config<'_>) -> Answer {
    let org_id = p.get("orgId");
    let obj = parse_object(body)?;
    let name = Fields(&obj).string("name")?;
    let partners = match Fields(&obj).get("partners") {
        None => None,
        Some(_) => Some(Fields(&obj).string_list("partners")?),
    };
    if let Some(bad) = partners.iter().flatten().find(|p| !valid_id(p)) {
        return Err(AdminError::invalid(
            "partners",
            "INVALID_ID",
            format!("{bad:?} is not a valid org id"),
        ));
    }
    let now = Timestamp(st.now_ms());
    let existing = org(st, org_id)?;
    // Absent `partners` keeps the org's partners (re-seeding an org keeps them); `[]` clears.
    let partners = partners
        .or_else(|| existing.as_ref().map(|o| o.partners.clone()))
        .unwrap_or_default();
    let created = existing.is_none();
    let record = Org {
        id: org_id.to_owned(),
        name,
        partners,
        created_at: existing.map(|o| o.created_at).unwrap_or(now),
        updated_at: now,
    };
    st.put_new(&keys::org(org_id), &record)?;
    Ok(Response::json(
        if created { 201 } else { 200 },
        &to_json(&record),
    ))
}

/// `POST /admin/v1/orgs/{orgId}/tokens`: a bearer token, shown once.
pub(super) fn mint_token(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    _: &super::Config<'_>,
) -> Answer {
    let org_id = p.get("orgId");
    require(st, org_id)?;
    let token = auth::mint_token(st, org_id)?;
    Ok(Response::json(
        201,
        &json!({ "token": token, "orgId": org_id }),
    ))
}

/// `POST /admin/v1/orgs/{orgId}/access-keys`: an AccessKey pair, the secret shown once.
pub(super) fn mint_access_key(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    _: &super::Config<'_>,
) -> Answer {
    let org_id = p.get("orgId");
    require(st, org_id)?;
    let ak = auth::mint_access_key(st, org_id)?;
    Ok(Response::json(
        201,
        &json!({
            "accessKeyId": ak.access_key_id,
            "accessKeySecret": ak.access_key_secret,
            "orgId": org_id,
        }),
    ))
}
