//! Property tests: no input panics the verifier, any tampering is refused, and what the
//! client signer signs verifies.

use super::*;

/// A refusal as the door answers it: a 4xx with a code and a message.
pub(super) fn assert_refusal(e: &AuthError) -> Result<(), proptest::test_runner::TestCaseError> {
    let r = e.to_rpc_error();
    proptest::prop_assert!((400..500).contains(&r.status), "{r}");
    proptest::prop_assert!(!r.code.is_empty(), "{r}");
    proptest::prop_assert!(!r.message.is_empty(), "{r}");
    Ok(())
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn verify_on_arbitrary_input(
            method in ".{0,8}",
            authority in ".{0,20}",
            query in ".{0,80}",
            headers in proptest::collection::vec((".{0,24}", ".{0,120}"), 0..8),
            auth in prop_oneof![
                Just(String::new()),
                ".{0,200}",
                // Often the known key, so verification reaches the signature itself.
                "ACS3-HMAC-SHA256 Credential=(abc|[a-z]{0,5}),SignedHeaders=[a-z;\\-]{0,40},Signature=[0-9a-fA-F]{0,70}",
            ],
            body in proptest::collection::vec(any::<u8>(), 0..64),
            // Half the cases inside the date window, so the nonce and signature are checked.
            now in prop_oneof![
                any::<i64>(),
                Just(crate::time::parse_iso8601("2026-11-24T14:00:16Z").unwrap_or_default()),
            ],
        ) {
            let mut pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            pairs.push(("authorization", auth.as_str()));
            pairs.push(("x-acs-date", "2026-11-24T14:00:16Z"));
            pairs.push(("x-acs-signature-nonce", "0123456789abcdef"));
            let req = SignedRequest { method: &method, authority: &authority, raw_query: &query, headers: &pairs, body: &body };
            let mut store = MemStore::default();
            store.keys.insert("abc".into(), AccessKey { secret: "s".into(), owner: "o".into(), disabled: false });
            if let Err(e) = verify(&req, now, &store) {
                assert_refusal(&e)?;
            }
            let _ = canonical_query(&query);
            if let Err(e) = check_date(Some(&auth), now) {
                assert_refusal(&e)?;
            }
        }
    }
}

mod tampering {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever is appended to the body or the query, or wherever one byte of a signed
        /// header changes, the captured SDK request stops verifying.
        #[test]
        fn any_change_to_signed_material_is_refused(
            which in 0usize..4,
            extra in "[ -~]{1,16}",
            header in 0usize..8,
        ) {
            let mut c = create();
            match which {
                0 => c.body.extend_from_slice(extra.as_bytes()),
                1 => c.query = format!("{}&Z{}=1", c.query, extra.replace(['&', '=', '#', '%', '+', ' '], "x")),
                2 => c.authority.push_str(&extra),
                _ => {
                    let signed = ["accept", "content-type", "user-agent", "x-acs-action", "x-acs-credentials-provider", "x-acs-version", "user-agent", "accept"];
                    let name = signed[header % signed.len()];
                    let value = format!("{}{}", c.header(name), extra.trim());
                    prop_assume!(!extra.trim().is_empty());
                    c.set_header(name, &value);
                }
            }
            prop_assert!(c.verify(&MemStore::with(&c)).is_err());
        }
    }
}

mod client_round_trip {
    use super::*;
    use proptest::prelude::*;

    const DATE: &str = "2026-11-24T14:00:16Z";

    fn verify_form(
        headers: &[(String, String)],
        body: &[u8],
        secret: &str,
    ) -> Result<(), AuthError> {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let req = SignedRequest {
            method: "POST",
            authority: "catalog.test",
            raw_query: "",
            headers: &pairs,
            body,
        };
        let mut store = MemStore::default();
        store.keys.insert(
            "AKID".into(),
            AccessKey {
                secret: secret.into(),
                owner: "o".into(),
                disabled: false,
            },
        );
        let now = crate::time::parse_iso8601(DATE).unwrap_or_default();
        verify(&req, now, &store).map(|_| ())
    }

    proptest! {
        /// Whatever the parameters (any Unicode, any form-special character) and the secret,
        /// a request signed like the SDK signs it verifies; changing one parameter's value
        /// afterwards is refused, by the body hash, or by the signature when the attacker
        /// recomputes the (unkeyed) body hash.
        #[test]
        fn signed_parameters_verify_and_any_change_is_refused(
            params in proptest::collection::btree_map("[A-Za-z][A-Za-z0-9.]{0,12}", ".{0,40}", 1..6),
            secret in "[!-~]{1,40}",
            which in any::<proptest::sample::Index>(),
            extra in ".{1,8}",
        ) {
            let params: Vec<(String, String)> = params.into_iter().collect();
            let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let (headers, body) = sign_form_post("catalog.test", "AKID", &secret, "ListImage", &refs, DATE, "0123456789abcdef");
            prop_assert_eq!(verify_form(&headers, &body, &secret), Ok(()));

            let mut changed = params.clone();
            let i = which.index(changed.len());
            changed[i].1.push_str(&extra);
            let refs: Vec<(&str, &str)> = changed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let (_, tampered) = sign_form_post("catalog.test", "AKID", &secret, "ListImage", &refs, DATE, "0123456789abcdef");
            prop_assert_eq!(verify_form(&headers, &tampered, &secret), Err(AuthError::BodyHashMismatch));

            let rehashed: Vec<(String, String)> = headers.iter().map(|(n, v)| {
                let v = if n.eq_ignore_ascii_case("x-acs-content-sha256") { hex::encode(Sha256::digest(&tampered)) } else { v.clone() };
                (n.clone(), v)
            }).collect();
            prop_assert_eq!(verify_form(&rehashed, &tampered, &secret), Err(AuthError::SignatureDoesNotMatch));
        }
    }
}
