//! Signatures and the official SDK's own requests: captured requests replayed through the
//! door, replays refused and their nonces purged, every refusal with its code, and the host
//! taken from the URI authority (R7).

use super::*;

const VECTOR_CREATE: &str = include_str!("../../testdata/create_image_by_instance.json");
const VECTOR_LIST: &str = include_str!("../../testdata/hand_signed_list_image.json");
const VECTOR_DELETE: &str = include_str!("../../testdata/delete_image.json");
const VECTOR_DISTRIBUTE: &str = include_str!("../../testdata/start_task_for_distribute_image.json");

/// A captured SDK request, replayed through `handle` (no `host` header: R7).
struct Vector {
    req: ApiRequest,
    authority: String,
    ak: MintedAccessKey,
    date: Millis,
}

fn vector(text: &str) -> Vector {
    let v: Value = serde_json::from_str(text).unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    let target = s("target");
    let query = target.split_once('?').map(|(_, q)| q.to_owned());
    let headers: Vec<(String, String)> = v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_ascii_lowercase(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(n, _)| n != "host")
        .collect();
    let date = headers
        .iter()
        .find(|(n, _)| n == "x-acs-date")
        .and_then(|(_, d)| crate::time::parse_iso8601(d))
        .unwrap();
    Vector {
        req: ApiRequest {
            method: s("method"),
            path: "/".into(),
            query: query.unwrap_or_default(),
            headers,
            body: s("body").into_bytes(),
        },
        authority: s("authority"),
        ak: MintedAccessKey {
            access_key_id: s("access_key_id"),
            org_id: "o1".into(),
            access_key_secret: s("access_key_secret"),
        },
        date,
    }
}

/// A world whose clock is the vector's date and which knows the vector's AccessKey.
fn vector_world(v: &Vector) -> World {
    let w = World::new();
    w.env.advance_ms(v.date - T0);
    w.st()
        .put_new(
            &keys::access_key(&v.ak.access_key_id),
            &crate::auth::test_record(&v.ak),
        )
        .unwrap();
    w
}

fn replay(w: &World, v: &Vector) -> (u16, Value) {
    let r = handle(&w.st(), &w.settings, &v.req, &v.authority);
    assert_eq!(r.get_header("content-type"), Some(envelope::CONTENT_TYPE));
    answer(&r)
}

#[test]
fn the_sdks_create_request_captures_with_its_names_description_and_tags() {
    let v = vector(VECTOR_CREATE);
    let w = vector_world(&v);
    w.instance("o1", "ai-0123abcd", sim::InstanceType::CloudDesktop, |_| {});
    let (s, b) = replay(&w, &v);
    assert_eq!(s, 200, "{b}");
    assert_eq!((b["Success"].clone(), code(&b)), (json!(true), "200"));
    let id = b["Data"]["ImageId"].as_str().unwrap();
    let img = w.listed(id).unwrap();
    assert_eq!(img["ImageName"], json!("my image (v1)"));
    assert_eq!(img["Description"], json!("golden image & friends: 100% ok"));
    assert_eq!(img["ProductType"], json!("CloudDesktop"));
    assert_eq!(
        img["TagList"],
        json!([{"Key": "env", "Value": "prod"}, {"Key": "team name", "Value": "a/b+c"}])
    );
}

#[test]
fn the_sdks_other_requests_reach_their_actions() {
    let v = vector(VECTOR_LIST);
    let w = vector_world(&v);
    let (s, b) = replay(&w, &v);
    assert_eq!(
        (s, b["Count"].clone(), b["PageSize"].clone()),
        (200, json!(0), json!(3))
    );
    let v = vector(VECTOR_DELETE);
    assert_error(replay(&vector_world(&v), &v), 400, "Image.NotExist");
    let v = vector(VECTOR_DISTRIBUTE);
    assert_error(replay(&vector_world(&v), &v), 400, "Image.NotExist");
}

#[test]
fn a_replayed_sdk_request_is_refused_and_its_nonce_is_purged_after_the_window() {
    let v = vector(VECTOR_LIST);
    let w = vector_world(&v);
    assert_eq!(replay(&w, &v).0, 200);
    assert_error(replay(&w, &v), 400, "SignatureNonceUsed");
    let nonce_keys = |w: &World| {
        w.kv.inner
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("rpc/nonce/"))
            .count()
    };
    assert_eq!(nonce_keys(&w), 1);
    // Past date + 15 min (+ a bucket): the advancer deletes the nonce record.
    w.env.advance_ms(sign::DATE_WINDOW_MS + 10_000);
    // (A tick reads a bounded number of buckets: a few ticks catch up on 15 minutes.)
    for _ in 0..10 {
        crate::advancer::tick(&w.st(), &w.settings.ops, 1000);
    }
    assert_eq!(nonce_keys(&w), 0);
    // And the date check refuses the replay from now on.
    assert_error(replay(&w, &v), 400, "InvalidTimeStamp.Expired");
}

#[test]
fn authentication_refusals_carry_their_codes() {
    let w = World::new();
    let mut req = w.signed("ListImage", &[]);
    req.headers.retain(|(n, _)| n != "authorization");
    assert_error(answer(&w.send(&req)), 400, "MissingAuthorization");

    let stranger = MintedAccessKey {
        access_key_id: "LTAIstranger".into(),
        ..w.ak.clone()
    };
    assert_error(
        w.call_as(&stranger, "ListImage", &[]),
        404,
        "InvalidAccessKeyId.NotFound",
    );
    let wrong = MintedAccessKey {
        access_key_secret: "nope".into(),
        ..w.ak.clone()
    };
    assert_error(
        w.call_as(&wrong, "ListImage", &[]),
        400,
        "SignatureDoesNotMatch",
    );

    let stale = w.signed("ListImage", &[]);
    w.env.advance_ms(16 * 60 * 1000);
    assert_error(answer(&w.send(&stale)), 400, "InvalidTimeStamp.Expired");
}

#[test]
fn the_host_is_the_uri_authority() {
    let w = World::new();
    let req = w.signed("ListImage", &[]);
    let r = handle(&w.st(), &w.settings, &req, "other.example:80");
    assert_error(answer(&r), 400, "SignatureDoesNotMatch");
    assert_eq!(authority_of("http://127.0.0.1:3000/?a=b"), "127.0.0.1:3000");
    assert_eq!(authority_of("https://u:p@h.example/x"), "h.example");
    assert_eq!(authority_of("http://h:1"), "h:1");
    assert_eq!(authority_of("/?a=b"), "");
}

#[test]
fn a_get_with_action_and_version_in_the_query_works() {
    let w = World::new();
    let query = "Action=ListImage&Version=2021-09-01&PageSize=5";
    let mut headers: Vec<(String, String)> = vec![
        ("x-acs-date".into(), iso8601_s(w.env.now_ms())),
        ("x-acs-signature-nonce".into(), "get-nonce-0001".into()),
        (
            "x-acs-content-sha256".into(),
            hex::encode(Sha256::digest(b"")),
        ),
    ];
    sign_into(&mut headers, &w.ak, "GET", query, b"");
    let req = ApiRequest {
        method: "GET".into(),
        path: "/".into(),
        query: query.into(),
        headers,
        body: vec![],
    };
    let r = w.send(&req);
    assert_eq!(
        (r.status, r.json_body()["PageSize"].clone()),
        (200, json!(5))
    );
}
