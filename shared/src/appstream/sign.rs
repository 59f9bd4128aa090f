//! ACS3-HMAC-SHA256 request verification, as the official SDK signs (see `docs/contract/appstream-rpc.md`
//! "Authentication" and the captured SDK requests in `testdata/`).
//!
//! Order of checks (each failure is one [`AuthError`]):
//! 1. `Authorization` present and sent once, then well formed (scheme, `Credential`,
//!    `SignedHeaders` = lower-case names, sorted and unique, `Signature` = 64 hex digits),
//!    and the signed headers cover `host`, `x-acs-date`, `x-acs-signature-nonce`,
//!    `x-acs-content-sha256` and the `x-acs-action`/`x-acs-version` headers when sent
//!    (otherwise a captured request could be replayed with a new date/nonce or re-targeted at
//!    another action);
//! 2. no ambiguity in what is signed versus what is read: every signed header, and
//!    `content-type`, is sent at most once; when the body carries parameters
//!    ([`body_is_parameters`]), `content-type` is sent and signed (it decides whether the
//!    body is read at all);
//! 3. `x-acs-date` a real instant (`YYYY-MM-DDThh:mm:ssZ`, no February 30, no hour 24, no
//!    second 60) within 15 minutes of `now`; the nonce well formed;
//! 4. the AccessKey exists (lookup through [`AuthStore`]) and is not disabled;
//! 5. `x-acs-content-sha256` equals the body's SHA-256, and the signature matches (constant time);
//! 6. no parameter name occurs twice, in the query, the body or across both
//!    ([`Params::parse_checked`]): the value the door reads is the one value signed;
//! 7. only then, and only once the door admits the request ([`claim_nonce`]), the nonce
//!    is recorded: unauthenticated, throttled or malformed calls leave nothing behind.
//!
//! The client half (`sign_form_post`, `sign_hex`: signing a request as the SDK does) is in
//! `sign/client.rs`, compiled only for tests and with the `testing` feature (the end-to-end
//! tests and the benchmark sign with it); a component only verifies.

use crate::appstream::RpcError;
use crate::appstream::params::{ParamError, Params, body_is_parameters, form_decode};
use crate::env::Millis;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

#[cfg(any(test, feature = "testing"))]
mod client;
#[cfg(any(test, feature = "testing"))]
pub use client::{authorization, form_body, sdk_headers, sign_form_post, sign_hex, signed_names};

pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";
/// How far `x-acs-date` may be from the service's clock, either way.
pub const DATE_WINDOW_MS: Millis = 15 * 60 * 1000;
/// Headers that must be signed whenever the request is signed at all.
const ALWAYS_SIGNED: [&str; 4] = [
    "host",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];
/// Headers that must be signed when they are sent (they pick what the request does).
const SIGNED_WHEN_SENT: [&str; 2] = ["x-acs-action", "x-acs-version"];
const NONCE_MAX_LEN: usize = 128;
const NONCE_MIN_LEN: usize = 8;

/// One incoming request, as the component sees it.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `POST`, `GET`, … (compared as given: the SDK signs the upper-case method).
    pub method: &'a str,
    /// The authority of the request URI (`127.0.0.1:3000`): Spin strips the `host` header
    /// (runtime fact R7), so the signed `host` value comes from here. When empty, a `host`
    /// header is used instead.
    pub authority: &'a str,
    /// The raw query string, without the `?`, exactly as received (still percent-encoded).
    pub raw_query: &'a str,
    /// Every header as received; names in any case, repeated names allowed.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl<'a> SignedRequest<'a> {
    /// Every value of header `name` (case-insensitive), in arrival order.
    fn header_values<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        let headers: &'a [(&'a str, &'a str)] = self.headers;
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The first value of header `name`, trimmed.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.header_values(name).next().map(str::trim)
    }

    /// How many times header `name` is sent.
    fn header_count(&self, name: &str) -> usize {
        self.header_values(name).count()
    }
}

/// An AccessKey as the store keeps it: the secret and whatever the caller needs to know about
/// its owner (the org id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey<O> {
    pub secret: String,
    pub owner: O,
    /// Disabled by its org's admin: refused before its signature is checked.
    pub disabled: bool,
}

/// A storage failure (the message is for logs; the caller sees a 500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFailure(pub String);

/// What verification needs from storage; the storage engineer implements it over the
/// key-value port.
pub trait AuthStore {
    type Owner;
    /// The AccessKey with this id, if any.
    fn access_key(
        &self,
        access_key_id: &str,
    ) -> Result<Option<AccessKey<Self::Owner>>, StoreFailure>;
    /// Records `nonce` for `access_key_id` unless already recorded, atomically
    /// (insert-if-absent). `Ok(true)`: first use; `Ok(false)`: seen before. The record must
    /// live at least until `keep_until_ms` (after that the date check refuses a replay).
    fn record_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        keep_until_ms: Millis,
    ) -> Result<bool, StoreFailure>;
}

/// Why a request was refused. [`AuthError::to_rpc_error`] gives the status, code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    MissingAuthorization,
    /// Malformed `Authorization`, or a required header not signed / missing nonce.
    IncompleteSignature(String),
    InvalidAccessKeyId,
    /// The AccessKey exists but is disabled.
    AccessKeyInactive,
    /// The signature does not match.
    SignatureDoesNotMatch,
    /// `x-acs-content-sha256` is missing or is not the SHA-256 of the body.
    BodyHashMismatch,
    /// `x-acs-date` missing, malformed or outside the window.
    InvalidTimeStamp(String),
    SignatureNonceUsed,
    /// A parameter-level refusal found while verifying (a name given twice):
    /// `InvalidParameter`/`MissingParameter` as the parameters answer it.
    Parameter(ParamError),
    Store(StoreFailure),
}

impl AuthError {
    pub fn status(&self) -> u16 {
        match self {
            AuthError::InvalidAccessKeyId => 404,
            AuthError::Parameter(p) => p.to_rpc_error().status,
            // Not the caller's fault and worth a retry: the door's store failure answer.
            AuthError::Store(_) => 503,
            _ => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthorization => "MissingAuthorization",
            AuthError::IncompleteSignature(_) => "IncompleteSignature",
            AuthError::InvalidAccessKeyId => "InvalidAccessKeyId.NotFound",
            AuthError::AccessKeyInactive => "InvalidAccessKeyId.Inactive",
            AuthError::SignatureDoesNotMatch | AuthError::BodyHashMismatch => {
                "SignatureDoesNotMatch"
            }
            AuthError::InvalidTimeStamp(_) => "InvalidTimeStamp.Expired",
            AuthError::SignatureNonceUsed => "SignatureNonceUsed",
            AuthError::Parameter(ParamError::Missing(_)) => "MissingParameter",
            AuthError::Parameter(ParamError::Invalid { .. }) => "InvalidParameter",
            AuthError::Parameter(ParamError::UnknownAction(_)) => "InvalidAction.NotFound",
            AuthError::Parameter(ParamError::UnknownVersion(_)) => "InvalidVersion",
            AuthError::Store(_) => "ServiceUnavailable",
        }
    }

    pub fn message(&self) -> String {
        match self {
            AuthError::MissingAuthorization => "The Authorization header is required.".into(),
            AuthError::IncompleteSignature(why) => {
                format!("The request signature does not conform to the ACS3 standard: {why}")
            }
            AuthError::InvalidAccessKeyId => "Specified access key is not found.".into(),
            AuthError::AccessKeyInactive => "Specified access key is disabled.".into(),
            AuthError::SignatureDoesNotMatch => {
                "The request signature we calculated does not match the signature you provided."
                    .into()
            }
            AuthError::BodyHashMismatch => {
                "The x-acs-content-sha256 header does not match the SHA-256 of the request body."
                    .into()
            }
            AuthError::InvalidTimeStamp(why) => format!(
                "Specified time stamp or date value is expired or invalid: {why} (x-acs-date must be YYYY-MM-DDThh:mm:ssZ within 15 minutes of the server time)."
            ),
            AuthError::SignatureNonceUsed => "The request signature nonce has been used.".into(),
            AuthError::Parameter(p) => p.to_rpc_error().message,
            AuthError::Store(_) => "The request could not be authenticated; try again.".into(),
        }
    }

    pub fn to_rpc_error(&self) -> RpcError {
        RpcError::new(self.status(), self.code(), self.message())
    }
}

impl From<AuthError> for RpcError {
    fn from(e: AuthError) -> Self {
        e.to_rpc_error()
    }
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// Lower-case header names, sorted and unique (anything else is refused).
    pub signed_headers: Vec<String>,
    /// The signature's 32 bytes.
    pub signature: Vec<u8>,
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<O> {
    pub access_key_id: String,
    pub owner: O,
    pub date_ms: Millis,
    pub nonce: String,
    /// The request's parameters, read strictly ([`Params::parse_checked`]) once, here: the
    /// door reads the same values that were signed.
    pub params: Params,
}

fn incomplete(why: &str) -> AuthError {
    AuthError::IncompleteSignature(why.to_string())
}

/// Parses `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b>,Signature=<hex>`.
/// `SignedHeaders` must be lower-case names in strictly ascending byte order (sorted, no name
/// twice), as the SDK sends them: one request has one canonical form.
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthError> {
    let value = value.trim();
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| incomplete("the algorithm must be ACS3-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| incomplete("expected Credential=…,SignedHeaders=…,Signature=…"))?;
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(incomplete("unknown Authorization field")),
        };
        if slot.replace(v.trim()).is_some() {
            return Err(incomplete("repeated Authorization field"));
        }
    }
    let access_key_id = credential
        .filter(|c| !c.is_empty())
        .ok_or_else(|| incomplete("Credential is missing"))?;
    let signed = signed
        .filter(|s| !s.is_empty())
        .ok_or_else(|| incomplete("SignedHeaders is missing"))?;
    let signature = signature
        .filter(|s| s.len() == 64)
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| incomplete("Signature must be 64 hex digits"))?;
    let mut signed_headers = Vec::new();
    for name in signed.split(';') {
        if name.is_empty()
            || name
                .bytes()
                .any(|b| !b.is_ascii_graphic() || b.is_ascii_uppercase())
        {
            return Err(incomplete(
                "SignedHeaders must be lower-case names joined by ';'",
            ));
        }
        if signed_headers
            .last()
            .is_some_and(|prev: &String| prev.as_str() >= name)
        {
            return Err(incomplete(&format!(
                "SignedHeaders must be sorted and unique ({name} is out of order or repeated)"
            )));
        }
        signed_headers.push(name.to_string());
    }
    Ok(Authorization {
        access_key_id: access_key_id.to_string(),
        signed_headers,
        signature,
    })
}

/// Parses `x-acs-date` (exactly `YYYY-MM-DDThh:mm:ssZ`, a real UTC instant: the day exists in
/// its month, hours 00–23, minutes and seconds 00–59) and checks it lies within
/// [`DATE_WINDOW_MS`] of `now_ms`. Returns the date in milliseconds.
pub fn check_date(value: Option<&str>, now_ms: Millis) -> Result<Millis, AuthError> {
    let value = value.ok_or_else(|| AuthError::InvalidTimeStamp("x-acs-date is missing".into()))?;
    let date = crate::time::parse_iso8601_s(value).ok_or_else(|| {
        AuthError::InvalidTimeStamp(format!(
            "{value:?} is not a real UTC time of the form YYYY-MM-DDThh:mm:ssZ"
        ))
    })?;
    // `checked_sub`: `now_ms` comes from the caller and may be anything; no overflow panics.
    let off = date.checked_sub(now_ms).map(i64::unsigned_abs);
    if off.is_none_or(|off| off > DATE_WINDOW_MS.unsigned_abs()) {
        return Err(AuthError::InvalidTimeStamp(format!(
            "{value} is more than 15 minutes away from the server time"
        )));
    }
    Ok(date)
}

/// `x-acs-signature-nonce`: 8–128 characters from `A-Z a-z 0-9 - _ . ~` (the SDK sends 32
/// hex digits). Anything else is refused before it reaches the nonce store.
pub fn check_nonce(value: Option<&str>) -> Result<&str, AuthError> {
    let nonce = value
        .filter(|n| !n.is_empty())
        .ok_or_else(|| incomplete("x-acs-signature-nonce is missing"))?;
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nonce.len()) || !nonce.bytes().all(ok_char) {
        return Err(incomplete(
            "x-acs-signature-nonce must be 8 to 128 characters of A-Z a-z 0-9 - _ . ~",
        ));
    }
    Ok(nonce)
}

/// RFC 3986 encoding: unreserved characters kept, everything else `%XX` (space is `%20`).
pub fn rfc3986_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string from the raw query: each `name=value` decoded (`+` is a space,
/// as the SDK's form encoding sends it), re-encoded per RFC 3986, sorted by name.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect();
    // Names sort by bytes (= code points, as the SDK's Python sort); equal names by value so
    // the result does not depend on arrival order.
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", rfc3986_encode(k), rfc3986_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical headers block (`name:value\n` per signed header, in the order given) for
/// `signed`. Repeated headers are trimmed, sorted and joined with `,` (as the SDK does; the
/// door refuses a repeated signed header before this, see [`verify`]). `host` comes from the
/// URI authority (R7).
pub fn canonical_headers(req: &SignedRequest<'_>, signed: &[String]) -> String {
    let mut out = String::new();
    for name in signed {
        let mut values: Vec<&str> = if name == "host" && !req.authority.is_empty() {
            vec![req.authority]
        } else {
            req.header_values(name).map(str::trim).collect()
        };
        values.sort_unstable();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// The canonical request for `req` under `auth`'s signed headers, with `hashed_payload`.
pub fn canonical_request(
    req: &SignedRequest<'_>,
    signed: &[String],
    hashed_payload: &str,
) -> String {
    format!(
        "{}\n/\n{}\n{}\n{}\n{}",
        req.method,
        canonical_query(req.raw_query),
        canonical_headers(req, signed),
        signed.join(";"),
        hashed_payload
    )
}

/// `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// HMAC-SHA256 keyed by `secret` over `string_to_sign`. HMAC takes keys of any length, so
/// this is `None` only if the crate ever changed that; callers treat `None` as a mismatch.
fn mac(secret: &str, string_to_sign: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(string_to_sign.as_bytes());
    Some(mac)
}

/// Every signed header (and `content-type`, which decides how the body is read) is sent at
/// most once; when the body carries parameters, `content-type` is sent and signed.
fn check_unambiguous(req: &SignedRequest<'_>, auth: &Authorization) -> Result<(), AuthError> {
    let signed = |name: &str| auth.signed_headers.iter().any(|h| h == name);
    for name in auth
        .signed_headers
        .iter()
        .map(String::as_str)
        .chain(std::iter::once("content-type"))
    {
        // With a URI authority the `host` header is not read (R7).
        if name == "host" && !req.authority.is_empty() {
            continue;
        }
        if req.header_count(name) > 1 {
            return Err(incomplete(&format!(
                "the {name} header is sent more than once"
            )));
        }
    }
    let content_type = req.header("content-type");
    if body_is_parameters(req.body, content_type)
        && (content_type.is_none() || !signed("content-type"))
    {
        return Err(incomplete(
            "the content-type header must be sent and signed when the body carries parameters",
        ));
    }
    Ok(())
}

/// Verifies `req` at time `now_ms` against `store` (see the module docs for the order):
/// [`authenticate`], then [`claim_nonce`].
pub fn verify<S: AuthStore>(
    req: &SignedRequest<'_>,
    now_ms: Millis,
    store: &S,
) -> Result<Verified<S::Owner>, AuthError> {
    let verified = authenticate(req, now_ms, store)?;
    claim_nonce(store, &verified)?;
    Ok(verified)
}

/// Checks 1 to 6 (see the module docs): who signed `req`, and its parameters. Reads the
/// AccessKey, writes nothing: the door decides whether to admit the request (its rate
/// limit, its parameters) before [`claim_nonce`] records anything.
pub fn authenticate<S: AuthStore>(
    req: &SignedRequest<'_>,
    now_ms: Millis,
    store: &S,
) -> Result<Verified<S::Owner>, AuthError> {
    let auth_value = req
        .header("authorization")
        .filter(|v| !v.is_empty())
        .ok_or(AuthError::MissingAuthorization)?;
    if req.header_count("authorization") > 1 {
        return Err(incomplete(
            "the Authorization header is sent more than once",
        ));
    }
    let auth = parse_authorization(auth_value)?;
    for required in ALWAYS_SIGNED {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(incomplete(&format!("the {required} header must be signed")));
        }
    }
    for picked in SIGNED_WHEN_SENT {
        if req.header(picked).is_some() && !auth.signed_headers.iter().any(|h| h == picked) {
            return Err(incomplete(&format!("the {picked} header must be signed")));
        }
    }
    check_unambiguous(req, &auth)?;
    let date_ms = check_date(req.header("x-acs-date"), now_ms)?;
    let nonce = check_nonce(req.header("x-acs-signature-nonce"))?;

    let key = store
        .access_key(&auth.access_key_id)
        .map_err(AuthError::Store)?
        .ok_or(AuthError::InvalidAccessKeyId)?;
    if key.disabled {
        return Err(AuthError::AccessKeyInactive);
    }

    let body_hash = hex::encode(Sha256::digest(req.body));
    let claimed = req.header("x-acs-content-sha256").unwrap_or("");
    if !claimed.eq_ignore_ascii_case(&body_hash) {
        return Err(AuthError::BodyHashMismatch);
    }
    // The client signed its own spelling of the hash; sign exactly what it sent.
    let to_sign = string_to_sign(&canonical_request(req, &auth.signed_headers, claimed));
    mac(&key.secret, &to_sign)
        .ok_or(AuthError::SignatureDoesNotMatch)?
        .verify_slice(&auth.signature)
        .map_err(|_| AuthError::SignatureDoesNotMatch)?;
    let params = Params::parse_checked(req.raw_query, req.body, req.header("content-type"))
        .map_err(AuthError::Parameter)?;

    Ok(Verified {
        access_key_id: auth.access_key_id,
        owner: key.owner,
        date_ms,
        nonce: nonce.to_string(),
        params,
    })
}

/// Check 7: records the nonce of an authenticated request, or refuses it as a replay. A
/// request refused before this (throttled, bad parameters) never took effect, so its nonce
/// stays unused: sent again within the date window it is answered as if it came first.
pub fn claim_nonce<S: AuthStore>(
    store: &S,
    verified: &Verified<S::Owner>,
) -> Result<(), AuthError> {
    let fresh = store
        .record_nonce(
            &verified.access_key_id,
            &verified.nonce,
            verified.date_ms.saturating_add(DATE_WINDOW_MS),
        )
        .map_err(AuthError::Store)?;
    if fresh {
        Ok(())
    } else {
        Err(AuthError::SignatureNonceUsed)
    }
}

#[cfg(test)]
mod tests;
