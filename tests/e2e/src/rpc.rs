//! Signing for the RPC door: the form body and the ACS3-HMAC-SHA256 headers the
//! official SDK sends.

/// `k=v&…`, RFC 3986-encoded.
pub fn form(params: &[(&str, &str)]) -> String {
    catalog_model::appstream::sign::form_body(params)
}

/// The headers of a signed RPC POST to `/` of `base` (what the official SDK sends).
pub fn rpc_headers(
    base: &str,
    key_id: &str,
    secret: &str,
    action: &str,
    params: &[(&str, &str)],
    now_secs: u64,
) -> Vec<(String, String)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NONCE: AtomicU64 = AtomicU64::new(0);
    // At least 8 characters, as ACS3 asks, whatever the process id.
    let nonce = format!(
        "nonce-{:08}-{}",
        std::process::id(),
        NONCE.fetch_add(1, Ordering::SeqCst)
    );
    let date = catalog_model::time::iso8601_s(now_secs as i64 * 1000);
    let (headers, _body) = catalog_model::appstream::sign::sign_form_post(
        base.trim_start_matches("http://"),
        key_id,
        secret,
        action,
        params,
        &date,
        &nonce,
    );
    // The HTTP client writes `host` itself (signed with the same authority).
    let headers: Vec<(String, String)> = headers.into_iter().filter(|(k, _)| k != "host").collect();
    headers
}
