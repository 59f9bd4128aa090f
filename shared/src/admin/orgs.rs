//! Orgs and their credentials: `/admin/v1/orgs/{orgId}` and its `tokens` and `access-keys`.
//!
//! An org's record lists its credentials (`crate::auth`, at most `MAX_CREDENTIALS` of each
//! kind), and every change of the record is a compare-and-swap, so a PUT of the org and a
//! mint or a revocation at once lose nothing. A mint lists the credential first and stores
//! it second: a failure between leaves a listed id that nothing authenticates with, which a
//! DELETE clears, never a working credential no admin can find. A revocation deletes the
//! credential first, then unlists it.

use super::body::{Fields, parse_object};
use super::{AdminError, Answer, Response, valid_id};
use crate::auth::{self, AccessKeyRecord, AccessKeyRef, MAX_CREDENTIALS, TokenRef};
use crate::keys;
use crate::records::{Change, Store, UpdateError};
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
    /// Its REST tokens (ids and hashes, never the tokens).
    #[serde(default)]
    pub tokens: Vec<TokenRef>,
    /// Its AccessKeys.
    #[serde(default)]
    pub access_keys: Vec<AccessKeyRef>,
    /// Being deleted (`DELETE /admin/v1/orgs/{orgId}`): no credential is minted for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
}

impl Org {
    /// A new org with no credentials.
    pub fn new(id: &str, name: Option<String>, partners: Vec<String>, now: Timestamp) -> Org {
        Org {
            id: id.to_owned(),
            name,
            partners,
            created_at: now,
            updated_at: now,
            tokens: Vec::new(),
            access_keys: Vec::new(),
            deleting: false,
        }
    }
}

/// The org as the admin API shows it: its credentials by id (no hashes).
fn org_json(o: &Org) -> serde_json::Value {
    json!({
        "id": o.id,
        "name": o.name,
        "partners": o.partners,
        "deleting": o.deleting,
        "createdAt": o.created_at,
        "updatedAt": o.updated_at,
        "tokens": o.tokens.iter().map(token_json).collect::<Vec<_>>(),
        "accessKeys": o.access_keys.iter().map(|k| json!({"accessKeyId": k.id, "createdAt": k.created_at})).collect::<Vec<_>>(),
    })
}

fn token_json(t: &TokenRef) -> serde_json::Value {
    json!({"id": t.id, "createdAt": t.created_at})
}

/// Reads an org.
pub fn org(st: &Store<'_>, id: &str) -> Result<Option<Org>, StoreError> {
    Ok(st.get::<Org>(&keys::org(id))?.map(|s| s.value))
}

/// The path's org: 404 when it does not exist.
pub(super) fn found(st: &Store<'_>, org_id: &str) -> Result<Org, AdminError> {
    org(st, org_id)?.ok_or_else(|| AdminError::OrgNotFound(org_id.to_owned()))
}

/// The path's org must exist: 404 otherwise.
pub(super) fn require(st: &Store<'_>, org_id: &str) -> Result<(), AdminError> {
    found(st, org_id).map(|_| ())
}

/// `GET /admin/v1/orgs/{orgId}`.
pub(super) fn get(st: &Store<'_>, p: &Params<'_>, _: &[u8], _: &super::Config<'_>) -> Answer {
    let o = found(st, p.get("orgId"))?;
    Ok(Response::json(200, &org_json(&o)))
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
    // Absent `partners` keeps the org's partners (re-seeding an org keeps them); `[]` clears.
    let updated = update_org(st, org_id, |o| {
        let mut o = o.clone();
        o.name = name.clone();
        if let Some(p) = &partners {
            o.partners = p.clone();
        }
        o.updated_at = now;
        Change::Write(o)
    });
    match updated {
        Ok(record) => Ok(Response::json(200, &org_json(&record))),
        Err(AdminError::OrgNotFound(_)) => {
            // A new org: the admin is its only writer, so a blind set (two PUTs at once:
            // the last one wins, as PUT means).
            let record = Org::new(org_id, name, partners.unwrap_or_default(), now);
            st.put_new(&keys::org(org_id), &record)?;
            Ok(Response::json(201, &org_json(&record)))
        }
        Err(e) => Err(e),
    }
}

/// Swaps the org's record (`f` decides from what it reads); 404 when it is gone.
pub(super) fn update_org(
    st: &Store<'_>,
    org_id: &str,
    f: impl FnMut(&Org) -> Change<Org, AdminError>,
) -> Result<Org, AdminError> {
    st.update::<Org, AdminError>(&keys::org(org_id), f)
        .map(|s| s.value)
        .map_err(|e: UpdateError<AdminError>| e.lift(|| AdminError::OrgNotFound(org_id.to_owned())))
}

/// Lists a new credential on the org (`add` pushes it onto its list) unless the org is
/// being deleted or `full` says its list is (409 either way).
fn enlist(
    st: &Store<'_>,
    org_id: &str,
    kind: &str,
    full: impl Fn(&Org) -> bool,
    add: impl Fn(&mut Org),
) -> Result<(), AdminError> {
    update_org(st, org_id, |o| {
        if o.deleting {
            return Change::Abort(org_deleting(org_id));
        }
        if full(o) {
            return Change::Abort(credential_limit(kind));
        }
        let mut o = o.clone();
        add(&mut o);
        Change::Write(o)
    })
    .map(|_| ())
}

/// Takes a credential off the org's list (`listed` finds it, `remove` takes it off).
fn unlist(
    st: &Store<'_>,
    org_id: &str,
    listed: impl Fn(&Org) -> bool,
    remove: impl Fn(&mut Org),
) -> Result<(), AdminError> {
    update_org(st, org_id, |o| {
        if !listed(o) {
            return Change::Unchanged;
        }
        let mut o = o.clone();
        remove(&mut o);
        Change::Write(o)
    })
    .map(|_| ())
}

fn org_deleting(org_id: &str) -> AdminError {
    AdminError::Conflict {
        code: "ORG_DELETING",
        message: format!("org {org_id} is being deleted"),
    }
}

fn credential_limit(kind: &str) -> AdminError {
    AdminError::Conflict {
        code: "CREDENTIAL_LIMIT_REACHED",
        message: format!("an org holds at most {MAX_CREDENTIALS} {kind}; delete one first"),
    }
}

/// `POST /admin/v1/orgs/{orgId}/tokens`: a bearer token, shown once.
pub(super) fn mint_token(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    _: &super::Config<'_>,
) -> Answer {
    let org_id = p.get("orgId");
    let (token, reference) = auth::new_token(st);
    enlist(
        st,
        org_id,
        "tokens",
        |o| o.tokens.len() >= MAX_CREDENTIALS,
        |o| o.tokens.push(reference.clone()),
    )?;
    auth::store_token(st, org_id, &reference)?;
    Ok(Response::json(
        201,
        &json!({ "token": token, "id": reference.id, "orgId": org_id }),
    ))
}

/// `GET /admin/v1/orgs/{orgId}/tokens`: the org's tokens by id (the tokens are never shown
/// again).
pub(super) fn list_tokens(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    _: &super::Config<'_>,
) -> Answer {
    let org_id = p.get("orgId");
    let o = found(st, org_id)?;
    let tokens: Vec<_> = o.tokens.iter().map(token_json).collect();
    Ok(Response::json(
        200,
        &json!({ "orgId": org_id, "tokens": tokens }),
    ))
}

/// `DELETE /admin/v1/orgs/{orgId}/tokens/{tokenId}`: the token is refused from the next
/// request on (204).
pub(super) fn delete_token(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    _: &super::Config<'_>,
) -> Answer {
    let (org_id, id) = (p.get("orgId"), p.get("tokenId"));
    let o = found(st, org_id)?;
    let Some(reference) = o.tokens.iter().find(|t| t.id == id) else {
        return Err(AdminError::NotFound(format!(
            "org {org_id} has no token {id}"
        )));
    };
    auth::delete_token(st, reference)?;
    unlist(
        st,
        org_id,
        |o| o.tokens.iter().any(|t| t.id == id),
        |o| o.tokens.retain(|t| t.id != id),
    )?;
    Ok(Response::no_content())
}

/// `POST /admin/v1/orgs/{orgId}/access-keys`: an AccessKey pair, the secret shown once.
pub(super) fn mint_access_key(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    config: &super::Config<'_>,
) -> Answer {
    let org_id = p.get("orgId");
    let (record, ak) =
        auth::new_access_key(st, org_id, config.secrets).map_err(AdminError::Secret)?;
    let reference = AccessKeyRef {
        id: record.access_key_id.clone(),
        created_at: record.created_at,
    };
    enlist(
        st,
        org_id,
        "AccessKeys",
        |o| o.access_keys.len() >= MAX_CREDENTIALS,
        |o| o.access_keys.push(reference.clone()),
    )?;
    auth::store_access_key(st, &record)?;
    Ok(Response::json(
        201,
        &json!({
            "accessKeyId": ak.access_key_id,
            "accessKeySecret": ak.access_key_secret,
            "orgId": org_id,
        }),
    ))
}

/// 404 unless the org lists AccessKey `id` (its own: only its mint lists it).
fn require_listed_access_key(st: &Store<'_>, org_id: &str, id: &str) -> Result<(), AdminError> {
    if found(st, org_id)?.access_keys.iter().any(|k| k.id == id) {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!(
            "org {org_id} has no AccessKey {id}"
        )))
    }
}

fn access_key_json(k: &AccessKeyRecord) -> serde_json::Value {
    json!({
        "accessKeyId": k.access_key_id,
        "createdAt": k.created_at,
        "status": if k.disabled { "DISABLED" } else { "ENABLED" },
    })
}

/// `GET /admin/v1/orgs/{orgId}/access-keys`: the org's AccessKeys with their status (one
/// batch read of at most `MAX_CREDENTIALS`; secrets are never shown again).
pub(super) fn list_access_keys(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    _: &super::Config<'_>,
) -> Answer {
    let org_id = p.get("orgId");
    let o = found(st, org_id)?;
    let keys: Vec<String> = o
        .access_keys
        .iter()
        .map(|k| keys::access_key(&k.id))
        .collect();
    let found: Vec<_> = st
        .get_many::<AccessKeyRecord>(&keys)?
        .into_iter()
        .flatten()
        .map(|s| access_key_json(&s.value))
        .collect();
    Ok(Response::json(
        200,
        &json!({ "orgId": org_id, "accessKeys": found }),
    ))
}

/// `PATCH /admin/v1/orgs/{orgId}/access-keys/{accessKeyId}`: `{"status": "ENABLED" |
/// "DISABLED"}`; a disabled key is refused from the next request on.
pub(super) fn patch_access_key(
    st: &Store<'_>,
    p: &Params<'_>,
    body: &[u8],
    _: &super::Config<'_>,
) -> Answer {
    let (org_id, id) = (p.get("orgId"), p.get("accessKeyId"));
    let obj = parse_object(body)?;
    let disabled = match Fields(&obj).string("status")?.as_deref() {
        Some("ENABLED") => false,
        Some("DISABLED") => true,
        _ => {
            return Err(AdminError::invalid(
                "status",
                "INVALID_VALUE",
                "must be ENABLED or DISABLED",
            ));
        }
    };
    require_listed_access_key(st, org_id, id)?;
    let key = st
        .update::<AccessKeyRecord, AdminError>(&keys::access_key(id), |k| {
            if k.disabled == disabled {
                return Change::Unchanged;
            }
            let mut k = k.clone();
            k.disabled = disabled;
            Change::Write(k)
        })
        .map_err(|e| e.lift(|| AdminError::NotFound(format!("AccessKey {id} is gone"))))?;
    Ok(Response::json(200, &access_key_json(&key.value)))
}

/// `DELETE /admin/v1/orgs/{orgId}/access-keys/{accessKeyId}`: gone from the next request
/// on (204).
pub(super) fn delete_access_key(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    _: &super::Config<'_>,
) -> Answer {
    let (org_id, id) = (p.get("orgId"), p.get("accessKeyId"));
    require_listed_access_key(st, org_id, id)?;
    auth::delete_access_key(st, id)?;
    unlist(
        st,
        org_id,
        |o| o.access_keys.iter().any(|k| k.id == id),
        |o| o.access_keys.retain(|k| k.id != id),
    )?;
    Ok(Response::no_content())
}

/// `POST /admin/v1/orgs/{orgId}/reseal-access-keys`: seals each of the org's AccessKey
/// secrets under the current `secrets_key` (after a rotation, or a record from before
/// secrets were sealed): at most `MAX_CREDENTIALS` records, each swapped on its own.
/// `200 { "resealed": n, "current": m }`.
pub(super) fn reseal_access_keys(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    config: &super::Config<'_>,
) -> Answer {
    let org_id = p.get("orgId");
    let o = found(st, org_id)?;
    let (mut resealed, mut current) = (0, 0);
    for k in &o.access_keys {
        let mut changed = false;
        let r = st.update::<AccessKeyRecord, AdminError>(&keys::access_key(&k.id), |rec| {
            match auth::resealed(st.env(), rec, config.secrets) {
                Ok(Some(next)) => {
                    changed = true;
                    Change::Write(next)
                }
                Ok(None) => {
                    changed = false;
                    Change::Unchanged
                }
                Err(e) => Change::Abort(AdminError::Secret(e)),
            }
        });
        match r.map_err(|e| e.unless_missing()) {
            Ok(_) if changed => resealed += 1,
            Ok(_) => current += 1,
            Err(None) => {}
            Err(Some(e)) => return Err(e),
        }
    }
    Ok(Response::json(
        200,
        &json!({ "orgId": org_id, "resealed": resealed, "current": current }),
    ))
}

/// `GET /admin/v1/orgs/{orgId}/usage`: what the org holds against its quotas (four reads:
/// the org, its image index's counter and directory, its register of running operations).
/// Versions are counted on each image (`versionCount`), replicas on each version (its
/// copies). Running operations are those the register lists: one that ended without its
/// release still shows until a claim needs its room (`ops::running`).
pub(super) fn usage(
    st: &Store<'_>,
    p: &Params<'_>,
    _: &[u8],
    config: &super::Config<'_>,
) -> Answer {
    let org_id = p.get("orgId");
    let o = found(st, org_id)?;
    let quotas = config.settings.quotas;
    let images = crate::catalog::quota::images_used(st, org_id)?;
    let running = crate::ops::running::listed(st, org_id)?;
    Ok(Response::json(
        200,
        &json!({
            "orgId": org_id,
            "images": {"used": images, "quota": quotas.images},
            "versionsPerImage": {"quota": quotas.versions},
            "replicasPerVersion": {"quota": quotas.replicas},
            "runningOperations": {"used": running, "quota": quotas.operations},
            "tokens": {"used": o.tokens.len(), "quota": MAX_CREDENTIALS},
            "accessKeys": {"used": o.access_keys.len(), "quota": MAX_CREDENTIALS},
        }),
    ))
}
