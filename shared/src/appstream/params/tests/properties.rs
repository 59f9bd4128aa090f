//! Property tests: no input panics the parsers, every refusal is a 4xx with a code, and a
//! repeated name is refused.

use super::*;

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Every refusal is a 4xx with a code and a message.
    fn assert_refusal(e: &ParamError) -> Result<(), TestCaseError> {
        let r = e.to_rpc_error();
        prop_assert!((400..500).contains(&r.status), "{r}");
        prop_assert!(!r.code.is_empty(), "{r}");
        prop_assert!(!r.message.is_empty(), "{r}");
        Ok(())
    }

    fn check_all(ps: &Params) -> Result<(), TestCaseError> {
        for a in Action::ALL {
            if let Err(e) = RpcRequest::parse(a, ps) {
                assert_refusal(&e)?;
            }
        }
        if let Err(e) = resolve_action(None, None, ps) {
            assert_refusal(&e)?;
        }
        if let Err(e) = ps.tags("TagList") {
            assert_refusal(&e)?;
        }
        if let Err(e) = ps.list("DestinationRegionList") {
            assert_refusal(&e)?;
        }
        Ok(())
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("TagList.1.Key".to_string()),
            "(TagList|DestinationRegionList)\\.[0-9x]{0,4}(\\.(Key|Value|[a-z]{0,3}))?",
            "(InstanceId|InstanceType|ImageName|DiskType|AutoCleanUserdata|SubInstanceId|PageSize|PageNumber|Status|ImageId|BizType|CopyProfile)",
            ".{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn parse_on_arbitrary_bytes(query in ".{0,120}", body in proptest::collection::vec(any::<u8>(), 0..120), ct in proptest::option::of(".{0,40}")) {
            let ps = Params::parse(&query, &body, ct.as_deref());
            check_all(&ps)?;
            match Params::parse_checked(&query, &body, ct.as_deref()) {
                // Without a repeated name both parsers read the same parameters.
                Ok(checked) => {
                    prop_assert_eq!(&checked, &ps);
                    check_all(&checked)?;
                }
                Err(e) => assert_refusal(&e)?,
            }
        }

        #[test]
        fn typed_parsers_on_arbitrary_pairs(pairs in proptest::collection::vec((name(), ".{0,12}"), 0..16)) {
            let ps = Params::from_pairs(pairs);
            check_all(&ps)?;
        }
    }
}

mod repeated_names {
    use super::*;
    use proptest::prelude::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn encode(pairs: &[(String, String)]) -> String {
        pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::appstream::sign::rfc3986_encode(k.as_bytes()),
                    crate::appstream::sign::rfc3986_encode(v.as_bytes())
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    proptest! {
        /// Distinct names spread over the query and the body parse; the same request with any
        /// one name given a second time (in the query, in the body, either way across) is
        /// refused with a 4xx `InvalidParameter` naming it.
        #[test]
        fn any_name_given_twice_is_refused(
            names in proptest::collection::btree_set("[A-Za-z][A-Za-z0-9.]{0,10}|.{1,6}", 1..8),
            values in proptest::collection::vec(".{0,10}", 8),
            split in any::<proptest::sample::Index>(),
            which in any::<proptest::sample::Index>(),
            again in ".{0,10}",
            place in 0usize..3,
        ) {
            let pairs: Vec<(String, String)> = names.iter().cloned().zip(values.iter().cloned()).collect();
            let cut = split.index(pairs.len() + 1);
            let (mut query, mut body) = (pairs[..cut].to_vec(), pairs[cut..].to_vec());
            let ps = Params::parse_checked(&encode(&query), encode(&body).as_bytes(), FORM);
            prop_assert!(ps.is_ok(), "{ps:?}");
            prop_assert_eq!(ps.map(|p| p.get(&pairs[0].0).map(str::to_string)), Ok(Some(pairs[0].1.clone())));

            let name = pairs[which.index(pairs.len())].0.clone();
            match place {
                0 => query.push((name.clone(), again)),
                1 => body.push((name.clone(), again)),
                // Put it in whichever side does not hold it yet.
                _ if query.iter().any(|(n, _)| *n == name) => body.insert(0, (name.clone(), again)),
                _ => query.push((name.clone(), again)),
            }
            let e = Params::parse_checked(&encode(&query), encode(&body).as_bytes(), FORM);
            prop_assert_eq!(invalid_name(e.clone()), name.clone());
            let r = e.err().map(|e| e.to_rpc_error());
            prop_assert_eq!(r.as_ref().map(|r| (r.status, r.code.as_str())), Some((400, "InvalidParameter")));
            prop_assert!(r.is_some_and(|r| r.message.contains(&name)));
        }
    }
}
