//! The cost of ACS3-HMAC-SHA256 verification alone, natively: the same `verify` the RPC
//! component runs, over requests signed like the SDK signs them, against a baseline of
//! the request parsing every RPC call does anyway (`Params::parse` of the same body).

use std::time::{Duration, Instant};

use catalog_model::appstream::params::Params;
use catalog_model::appstream::sign::{
    AccessKey, AuthStore, SignedRequest, StoreFailure, sign_form_post, verify,
};
use catalog_model::env::Millis;

struct OneKey;

/// A request as [`sign_form_post`] makes it: headers and body.
type Signed = (Vec<(String, String)>, Vec<u8>);

impl AuthStore for OneKey {
    type Owner = ();
    fn access_key(&self, id: &str) -> Result<Option<AccessKey<()>>, StoreFailure> {
        Ok((id == "LTAIbench").then(|| AccessKey {
            secret: "bench-secret-0123456789".into(),
            owner: (),
            disabled: false,
        }))
    }
    // Nonce bookkeeping is a store call, counted in the KV figures, not here.
    fn record_nonce(&self, _: &str, _: &str, _: Millis) -> Result<bool, StoreFailure> {
        Ok(true)
    }
}

/// `(verify per request, parse per request)`, medians of 5 rounds of `n` requests.
pub fn cost(n: usize) -> anyhow::Result<(Duration, Duration)> {
    let date = "2026-11-01T00:00:00Z";
    let now = catalog_model::time::parse_iso8601(date).unwrap_or_default();
    let signed: Vec<Signed> = (0..n)
        .map(|i| {
            sign_form_post(
                "127.0.0.1:3000",
                "LTAIbench",
                "bench-secret-0123456789",
                "ListImage",
                &[
                    ("PageNumber", "1"),
                    ("PageSize", "10"),
                    ("ImageName", "win 11"),
                ],
                date,
                &format!("bench-nonce-{i:08}"),
            )
        })
        .collect();
    let mut verify_rounds = Vec::new();
    let mut parse_rounds = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        for (headers, body) in &signed {
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let req = SignedRequest {
                method: "POST",
                authority: "127.0.0.1:3000",
                raw_query: "",
                headers: &pairs,
                body,
            };
            anyhow::ensure!(
                verify(&req, now, &OneKey).is_ok(),
                "a signed request was refused"
            );
        }
        verify_rounds.push(t0.elapsed() / n as u32);
        let t0 = Instant::now();
        for (_, body) in &signed {
            std::hint::black_box(Params::parse(
                "",
                body,
                Some("application/x-www-form-urlencoded"),
            ));
        }
        parse_rounds.push(t0.elapsed() / n as u32);
    }
    verify_rounds.sort();
    parse_rounds.sort();
    Ok((verify_rounds[2], parse_rounds[2]))
}
