//! Issue 24 over HTTP: credentials revoked through the admin API are refused on the next
//! request, on both doors; a request that would exceed a bound is refused and records
//! nothing; a credential sent twice is ambiguous, so refused.

use crate::apps::Door;
use crate::demo::Credentials;
use crate::{Harness, first_version};
use serde_json::{Value, json};

/// A signed `ListImage` by `door`'s AccessKey is refused with `code`.
fn assert_rpc_refused(door: &Door, now: u64, code: &str) {
    let refused = door.rpc("ListImage", &[], now);
    assert_eq!(refused.str("Code"), code, "{}", refused.body);
}

pub fn revoked_credentials_are_refused_on_the_next_request(h: &Harness) {
    let org = &h.org;
    let minted = h.admin("POST", &format!("/admin/v1/orgs/{org}/tokens"), json!({}));
    let (token, id) = (minted.str("token"), minted.str("id"));
    let ak = h.admin(
        "POST",
        &format!("/admin/v1/orgs/{org}/access-keys"),
        json!({}),
    );
    let door = Door::new(
        h.base_url(),
        Credentials {
            org: org.clone(),
            token: token.clone(),
            access_key_id: ak.str("accessKeyId"),
            access_key_secret: ak.str("accessKeySecret"),
        },
    );
    let now = h.now_secs();
    assert_eq!(door.rest("GET", "/images", None).status, 200);
    assert_eq!(door.rpc("ListImage", &[], now).status, 200);

    let listed = h.admin("GET", &format!("/admin/v1/orgs/{org}/tokens"), Value::Null);
    assert!(listed.body.to_string().contains(&id), "{}", listed.body);
    assert!(!listed.body.to_string().contains(&token));
    let gone = h.send(
        "DELETE",
        &format!("/admin/v1/orgs/{org}/tokens/{id}"),
        Some(crate::ADMIN_TOKEN),
        &[],
        None,
    );
    assert_eq!(gone.status, 204, "{}", gone.body);
    assert_eq!(door.rest("GET", "/images", None).status, 401);
    // The harness's own token of the same org still works.
    assert_eq!(h.rest("GET", "/images", None).status, 200);

    let key_path = format!(
        "/admin/v1/orgs/{org}/access-keys/{}",
        door.creds.access_key_id
    );
    h.admin("PATCH", &key_path, json!({"status": "DISABLED"}));
    assert_rpc_refused(&door, now, "InvalidAccessKeyId.Inactive");
    h.admin("PATCH", &key_path, json!({"status": "ENABLED"}));
    assert_eq!(door.rpc("ListImage", &[], now).status, 200);
    let deleted = h.send("DELETE", &key_path, Some(crate::ADMIN_TOKEN), &[], None);
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_rpc_refused(&door, now, "InvalidAccessKeyId.NotFound");
}

pub fn oversized_or_foreign_replicas_and_doubled_credentials_are_refused(h: &Harness) {
    let img = h.vm_image("bounded-vm");
    let (image, version) = first_version(&img);
    let path = format!("/images/{image}/versions/{version}");
    h.tick_until(&path, 40, |a| a.str("status") == "IMPORT_COMPLETE");
    // 2 000 made-up replicas (the 70 KB body): a 400 before anything is read.
    let flood: Vec<Value> = (0..2000)
        .map(|i| json!({"providerInstanceId": format!("made-up-{i}")}))
        .collect();
    let r = h.rest(
        "POST",
        &format!("{path}?action=publish"),
        Some(json!({"replicas": flood})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "replicas");
    let r = h.rest(
        "POST",
        &format!("{path}?action=publish"),
        Some(json!({"replicas": [{"providerInstanceId": "made-up"}]})),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.str("code"), "PROVIDER_INSTANCE_NOT_FOUND");
    let copies = h.rest("GET", &format!("{path}/copies"), None);
    assert_eq!(copies.body["totalElements"], 1, "{}", copies.body);
    assert_eq!(h.rest("GET", &path, None).str("status"), "IMPORT_COMPLETE");

    // Two Authorization headers: refused on REST and admin, whichever comes first.
    let mine = format!("Bearer {}", h.token);
    let theirs = format!("Bearer {}", h.other_token);
    let doubled = [
        ("authorization", mine.as_str()),
        ("authorization", theirs.as_str()),
    ];
    let r = h.send("GET", "/imagemgmt/v1/images", None, &doubled, None);
    assert_eq!(
        (r.status, r.str("code").as_str()),
        (400, "DUPLICATE_HEADER"),
        "{}",
        r.body
    );
    let admin = format!("Bearer {}", crate::ADMIN_TOKEN);
    let doubled = [
        ("authorization", admin.as_str()),
        ("authorization", admin.as_str()),
    ];
    let r = h.send("GET", "/admin/v1/engine", None, &doubled, None);
    assert_eq!(r.status, 400, "{}", r.body);
}

/// `DELETE /admin/v1/orgs/{orgId}`: the org's credentials are refused on the next request,
/// its images are deleted by the engine, and a later call deletes the org itself (204).
pub fn a_deleted_org_is_refused_at_once_and_emptied_by_the_engine(h: &Harness) {
    let org = format!("{}-doomed", h.org);
    let creds = crate::apps::seed_at(&h.http, &h.base_url(), &org);
    let door = Door::new(h.base_url(), creds);
    let body = json!({
        "streamName": "doomed", "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
        "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}
    });
    let created = door.rest("POST", "/images?action=copy-existing-image", Some(body));
    assert_eq!(created.status, 201, "{}", created.body);
    let now = h.now_secs();
    assert_eq!(door.rpc("ListImage", &[], now).status, 200);

    let path = format!("/admin/v1/orgs/{org}");
    let first = h.send("DELETE", &path, Some(crate::ADMIN_TOKEN), &[], None);
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.body["imagesDeleting"], 1, "{}", first.body);
    assert_eq!(door.rest("GET", "/images", None).status, 401);
    assert_rpc_refused(&door, now, "InvalidAccessKeyId.NotFound");
    let mut last = 0;
    let emptied = h.until(60, || {
        last = h
            .send("DELETE", &path, Some(crate::ADMIN_TOKEN), &[], None)
            .status;
        last == 204
    });
    assert!(emptied, "the org was not emptied (last answer {last})");
    let gone = h.send("GET", &path, Some(crate::ADMIN_TOKEN), &[], None);
    assert_eq!(gone.status, 404, "{}", gone.body);
}
