//! The client half of ACS3-HMAC-SHA256, as the official SDK signs: for tests and the
//! benchmark only (the `testing` feature), never in a component.

use super::{ALGORITHM, SignedRequest, canonical_request, mac, rfc3986_encode, string_to_sign};
use hmac::Mac;
use sha2::{Digest, Sha256};

/// Hex HMAC-SHA256 of `string_to_sign` under `secret` (what a client puts in `Signature=`).
pub fn sign_hex(secret: &str, string_to_sign: &str) -> Option<String> {
    Some(hex::encode(
        mac(secret, string_to_sign)?.finalize().into_bytes(),
    ))
}

/// The headers the SDK sends with a form POST of `action` to `authority` carrying `body`,
/// `authorization` aside: lower-case names, in sorted order, `host` included.
pub fn sdk_headers(
    authority: &str,
    action: &str,
    body: &[u8],
    date: &str,
    nonce: &str,
) -> Vec<(String, String)> {
    vec![
        ("accept".into(), "application/json".into()),
        (
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
        ("host".into(), authority.into()),
        ("x-acs-action".into(), action.into()),
        (
            "x-acs-content-sha256".into(),
            hex::encode(Sha256::digest(body)),
        ),
        ("x-acs-date".into(), date.into()),
        ("x-acs-signature-nonce".into(), nonce.into()),
        ("x-acs-version".into(), crate::appstream::API_VERSION.into()),
    ]
}

/// The `Authorization` value signing `req` under `access_key_id`/`secret` with `signed` as
/// `SignedHeaders`, exactly in the order given (tests pass a bad order or a repeated name on
/// purpose: the signature is then right for that list, and only the list itself is wrong).
/// The hashed payload is the request's `x-acs-content-sha256` header, else the body's hash.
pub fn authorization(
    access_key_id: &str,
    secret: &str,
    req: &SignedRequest<'_>,
    signed: &[String],
) -> String {
    let hash = req
        .header("x-acs-content-sha256")
        .map_or_else(|| hex::encode(Sha256::digest(req.body)), str::to_string);
    let canonical = canonical_request(req, signed, &hash);
    let signature = sign_hex(secret, &string_to_sign(&canonical)).unwrap_or_default();
    format!(
        "{ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={signature}",
        signed.join(";")
    )
}

/// What the SDK signs: the name of every header in `headers`, plus `host` (which the HTTP
/// client writes itself), lower-case, sorted, unique.
pub fn signed_names(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .chain(std::iter::once("host".to_owned()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A form body (or query) `k=v&…` of `params`, RFC 3986-encoded as the SDK encodes it.
pub fn form_body<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                rfc3986_encode(k.as_ref().as_bytes()),
                rfc3986_encode(v.as_ref().as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The client half, as the official SDK does it: signs a form POST of `action` to
/// `authority` and returns the headers to send (every one signed, `host` included) and the
/// body. For native tests and the benchmark; `date` is `YYYY-MM-DDThh:mm:ssZ`.
pub fn sign_form_post(
    authority: &str,
    access_key_id: &str,
    secret: &str,
    action: &str,
    form: &[(&str, &str)],
    date: &str,
    nonce: &str,
) -> (Vec<(String, String)>, Vec<u8>) {
    let body = form_body(form).into_bytes();
    let mut headers = sdk_headers(authority, action, &body, date, nonce);
    let names: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let view = SignedRequest {
        method: "POST",
        authority,
        raw_query: "",
        headers: &pairs,
        body: &body,
    };
    let auth = authorization(access_key_id, secret, &view, &names);
    headers.push(("authorization".into(), auth));
    (headers, body)
}
