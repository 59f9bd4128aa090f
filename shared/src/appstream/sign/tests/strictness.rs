//! Strictness: one request, one reading (repeated parameters and headers, unsigned
//! content-type, unsorted SignedHeaders, impossible dates).

use super::properties::assert_refusal;
use super::*;

/// A request signed here the way the SDK signs, every part chosen by the test: the
/// `SignedHeaders` list is signed exactly as given, so when it is refused only the list
/// itself can be the reason.
#[derive(Clone, Debug)]
struct Built {
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

const AUTHORITY: &str = "catalog.test";
const KEY_ID: &str = "AKID";
const SECRET: &str = "secret-0123";
const DATE: &str = "2026-11-24T14:00:16Z";

impl Built {
    /// A form POST of ListImage with `query` and `body`, SDK headers (no `host` header: R7).
    fn new(query: &str, body: &str) -> Built {
        let headers = sdk_headers(
            AUTHORITY,
            "ListImage",
            body.as_bytes(),
            DATE,
            "0123456789abcdef",
        )
        .into_iter()
        .filter(|(n, _)| n != "host")
        .collect();
        Built {
            query: query.into(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    /// The sorted, unique names of the headers present, plus `host`.
    fn all_names(&self) -> Vec<String> {
        signed_names(&self.headers)
    }

    /// Signs with `signed` as given (replacing any `authorization`).
    fn sign_with(mut self, signed: &[String]) -> Built {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        let pairs = self.pairs();
        let view = SignedRequest {
            method: "POST",
            authority: AUTHORITY,
            raw_query: &self.query,
            headers: &pairs,
            body: &self.body,
        };
        let auth = authorization(KEY_ID, SECRET, &view, signed);
        self.headers.push(("authorization".into(), auth));
        self
    }

    fn signed(self) -> Built {
        let names = self.all_names();
        self.sign_with(&names)
    }

    fn verify_at(&self, now: Millis) -> Result<Verified<String>, AuthError> {
        let pairs = self.pairs();
        let req = SignedRequest {
            method: "POST",
            authority: AUTHORITY,
            raw_query: &self.query,
            headers: &pairs,
            body: &self.body,
        };
        let mut store = MemStore::default();
        store.keys.insert(
            KEY_ID.into(),
            AccessKey {
                secret: SECRET.into(),
                owner: "o".into(),
                disabled: false,
            },
        );
        verify(&req, now, &store)
    }

    fn verify(&self) -> Result<Verified<String>, AuthError> {
        self.verify_at(parse_iso8601(DATE).unwrap_or_default())
    }
}

fn incomplete_signature(e: Result<Verified<String>, AuthError>) -> String {
    match e {
        Err(e @ AuthError::IncompleteSignature(_)) => {
            let r = e.to_rpc_error();
            assert_eq!((r.status, r.code.as_str()), (400, "IncompleteSignature"));
            r.message
        }
        other => panic!("not IncompleteSignature: {other:?}"),
    }
}

#[test]
fn a_strictly_signed_request_verifies() {
    assert!(
        Built::new("TagList.1.Key=k", "PageSize=5")
            .signed()
            .verify()
            .is_ok()
    );
    // A GET without a body needs no content-type.
    let mut get = Built::new("Action=ListImage&Version=2021-09-01", "");
    get.headers.retain(|(n, _)| n != "content-type");
    assert!(get.signed().verify().is_ok());
}

#[test]
fn a_parameter_given_twice_is_refused_even_when_signed() {
    for (query, body, name) in [
        ("PageSize=1&PageSize=2", "", "PageSize"),
        ("", "PageSize=1&PageSize=1", "PageSize"),
        ("PageSize=1", "PageSize=2", "PageSize"),
        ("TagList.1.Key=a", "TagList.1.Key=b", "TagList.1.Key"),
    ] {
        let b = Built::new(query, body).signed();
        let e = b.verify().err();
        assert_eq!(
            e,
            Some(AuthError::Parameter(crate::appstream::params::repeated(
                name
            ))),
            "{query} / {body}"
        );
        let r = e.map(|e| e.to_rpc_error());
        assert_eq!(
            r.as_ref().map(|r| (r.status, r.code.as_str())),
            Some((400, "InvalidParameter"))
        );
        assert!(r.is_some_and(|r| r.message.contains(name)));
    }
    // A JSON body is not parameters: its names do not collide with the query's.
    let mut json = Built::new("PageSize=1", "PageSize=2");
    for h in json.headers.iter_mut().filter(|(n, _)| n == "content-type") {
        h.1 = "application/json".into();
    }
    assert!(json.signed().verify().is_ok());
}

#[test]
fn a_signed_header_sent_twice_is_refused() {
    for name in ["x-acs-action", "x-acs-date", "accept", "content-type"] {
        let mut b = Built::new("", "PageSize=5");
        let value = b
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        // Even the same value twice: one name, one value.
        b.headers.push((name.to_ascii_uppercase(), value));
        let m = incomplete_signature(b.signed().verify());
        assert!(m.contains(name) && m.contains("more than once"), "{m}");
    }
    // An unsigned header may repeat; a second Authorization may not.
    let mut b = Built::new("", "PageSize=5").signed();
    b.headers.push(("x-extra".into(), "1".into()));
    b.headers.push(("x-extra".into(), "2".into()));
    assert!(b.verify().is_ok());
    let auth = b
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .cloned();
    b.headers.extend(auth);
    let m = incomplete_signature(b.verify());
    assert!(m.contains("Authorization"), "{m}");
}

#[test]
fn a_form_body_needs_content_type_sent_and_signed() {
    let b = Built::new("", "PageSize=5");
    let without: Vec<String> = b
        .all_names()
        .into_iter()
        .filter(|n| n != "content-type")
        .collect();
    let m = incomplete_signature(b.clone().sign_with(&without).verify());
    assert!(m.contains("content-type"), "{m}");
    // Not sent at all: the body would be read as a form all the same, so refused too.
    let mut absent = b.clone();
    absent.headers.retain(|(n, _)| n != "content-type");
    incomplete_signature(absent.clone().signed().verify());
    // Nor signed as an absent header (an empty value would then change how the body reads).
    let mut names = absent.all_names();
    names.push("content-type".into());
    names.sort();
    incomplete_signature(absent.sign_with(&names).verify());
    // An empty body carries nothing: content-type may go unsigned.
    let empty = Built::new("PageSize=5", "");
    let without: Vec<String> = empty
        .all_names()
        .into_iter()
        .filter(|n| n != "content-type")
        .collect();
    assert!(empty.sign_with(&without).verify().is_ok());
}

#[test]
fn signed_headers_must_be_sorted_and_unique() {
    let b = Built::new("", "PageSize=5");
    let names = b.all_names();
    let mut swapped = names.clone();
    swapped.swap(0, 1);
    let mut repeated = names.clone();
    repeated.insert(1, names[0].clone());
    let mut reversed = names.clone();
    reversed.reverse();
    for bad in [swapped, repeated, reversed] {
        let m = incomplete_signature(b.clone().sign_with(&bad).verify());
        assert!(m.contains("sorted and unique"), "{bad:?}: {m}");
    }
    assert!(b.sign_with(&names).verify().is_ok());
}

#[test]
fn an_impossible_date_is_refused_even_when_it_would_fall_in_the_window() {
    // 23:59:60 would count as the next midnight; 2026-02-29 as March 1st.
    for (date, now) in [
        ("2026-11-23T23:59:60Z", "2026-11-24T00:00:00Z"),
        ("2026-02-29T00:00:00Z", "2026-03-01T00:00:00Z"),
        ("2026-04-31T00:00:00Z", "2026-05-01T00:00:00Z"),
        ("2026-11-24T24:00:00Z", "2026-11-25T00:00:00Z"),
    ] {
        let now = parse_iso8601(now).unwrap_or_default();
        let e = check_date(Some(date), now);
        assert!(
            matches!(e, Err(AuthError::InvalidTimeStamp(_))),
            "{date}: {e:?}"
        );
        let mut b = Built::new("", "PageSize=5");
        for h in b.headers.iter_mut().filter(|(n, _)| n == "x-acs-date") {
            h.1 = date.into();
        }
        let e = b.signed().verify_at(now).err();
        assert_eq!(
            e.map(|e| (e.status(), e.code())),
            Some((400, "InvalidTimeStamp.Expired")),
            "{date}"
        );
    }
    let leap = parse_iso8601("2028-02-29T12:00:00Z").unwrap_or_default();
    assert_eq!(check_date(Some("2028-02-29T12:00:00Z"), leap), Ok(leap));
}

mod each_rule {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    /// Distinct parameter names (any printable name, or SDK-like ones) with values.
    fn params() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::btree_map("[A-Za-z][A-Za-z0-9.]{0,10}|[ -~]{1,6}", ".{0,12}", 1..8)
            .prop_map(|m| m.into_iter().collect())
    }

    fn encode(pairs: &[(String, String)]) -> String {
        form_body(pairs)
    }

    /// A valid instant's `YYYY-MM-DDThh:mm:ssZ`, between 1970 and 9999.
    fn valid_date() -> impl Strategy<Value = String> {
        (0i64..253_402_300_800).prop_map(|s| crate::time::iso8601_s(s * 1000))
    }

    proptest! {
        /// Any parameter name given a second time (in the query, in the body, or across
        /// both) in a correctly signed request is refused: 4xx `InvalidParameter` naming it.
        /// Without the repeat, the same request verifies.
        #[test]
        fn any_duplicated_parameter_is_refused(
            pairs in params(),
            split in any::<Index>(),
            which in any::<Index>(),
            again in ".{0,12}",
            place in 0usize..3,
        ) {
            let cut = split.index(pairs.len() + 1);
            let (mut query, mut body) = (pairs[..cut].to_vec(), pairs[cut..].to_vec());
            let ok = Built::new(&encode(&query), &encode(&body)).signed();
            prop_assert!(ok.verify().is_ok(), "{:?}", ok.verify());

            let name = pairs[which.index(pairs.len())].0.clone();
            match place {
                0 => query.push((name.clone(), again)),
                1 => body.insert(0, (name.clone(), again)),
                _ if query.iter().any(|(n, _)| *n == name) => body.push((name.clone(), again)),
                _ => query.push((name.clone(), again)),
            }
            let e = Built::new(&encode(&query), &encode(&body)).signed().verify().err();
            prop_assert_eq!(e.clone(), Some(AuthError::Parameter(crate::appstream::params::repeated(name.as_str()))));
            if let Some(e) = e {
                assert_refusal(&e)?;
                prop_assert_eq!(e.code(), "InvalidParameter");
                prop_assert!(e.message().contains(&name));
            }
        }

        /// Any header the signature covers, sent a second time (same value or not, any
        /// letter case), is refused, though the signature is computed over both values.
        #[test]
        fn any_duplicated_signed_header_is_refused(
            which in any::<Index>(),
            same in any::<bool>(),
            other in "[!-~]{1,12}",
            upper in any::<bool>(),
        ) {
            let mut b = Built::new("TagList.1.Key=k", "PageSize=5");
            let (name, value) = b.headers[which.index(b.headers.len())].clone();
            let name = if upper { name.to_ascii_uppercase() } else { name };
            b.headers.push((name.clone(), if same { value } else { other }));
            let e = b.signed().verify().err();
            prop_assert!(matches!(e, Some(AuthError::IncompleteSignature(_))), "{name}: {e:?}");
            if let Some(e) = e {
                assert_refusal(&e)?;
                prop_assert!(e.message().contains(&name.to_ascii_lowercase()));
            }
        }

        /// Any SignedHeaders list that is not strictly ascending (a permutation out of
        /// order, or a name repeated) is refused, though the signature matches that list.
        #[test]
        fn any_unsorted_or_repeated_signed_headers_list_is_refused(
            order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
            repeat in proptest::option::of(any::<Index>()),
        ) {
            let b = Built::new("", "PageSize=5");
            let names = b.all_names();
            let mut bad: Vec<String> = order.iter().filter_map(|&i| names.get(i).cloned()).collect();
            if let Some(r) = repeat {
                let i = r.index(bad.len());
                bad.insert(i, bad[i].clone());
            }
            prop_assume!(bad != names);
            let e = b.sign_with(&bad).verify().err();
            prop_assert!(matches!(e, Some(AuthError::IncompleteSignature(_))), "{bad:?}: {e:?}");
            if let Some(e) = e {
                assert_refusal(&e)?;
            }
        }

        /// Any valid instant is accepted (inside the window) and reads back as itself; any
        /// impossible one (a day past its month's end, a February 29 outside leap years, hour
        /// 24+, minute or second 60+) is refused with 4xx `InvalidTimeStamp.Expired`, however
        /// close to `now` its overflow would land.
        #[test]
        fn valid_dates_are_accepted_and_impossible_ones_refused(
            date in valid_date(),
            y in 1970i64..10_000,
            mo in 0i64..14,
            d in 0i64..33,
            h in 0i64..26,
            mi in 0i64..62,
            sec in 0i64..62,
        ) {
            let ms = parse_iso8601(&date).unwrap_or(-1);
            prop_assert_eq!(check_date(Some(&date), ms), Ok(ms));
            prop_assert_eq!(crate::time::iso8601_s(ms), date.clone());

            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}Z");
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let real = (1..=12).contains(&mo)
                && d >= 1
                && d <= month_days[usize::try_from(mo - 1).unwrap_or(0)]
                && h < 24 && mi < 60 && sec < 60;
            // `now` where a lenient parser would put the text (overflowing into the next
            // unit), so only validity decides.
            let lenient = crate::time::days_from_civil(y, mo.clamp(1, 12), d) * 86_400_000
                + h * 3_600_000 + mi * 60_000 + sec * 1000;
            match check_date(Some(&text), lenient) {
                Ok(got) => {
                    prop_assert!(real, "{text} accepted");
                    prop_assert_eq!(crate::time::iso8601_s(got), text);
                }
                Err(e) => {
                    prop_assert!(!real, "{text} refused: {e:?}");
                    prop_assert!(matches!(e, AuthError::InvalidTimeStamp(_)));
                    assert_refusal(&e)?;
                    prop_assert_eq!(e.code(), "InvalidTimeStamp.Expired");
                }
            }
        }

        /// A body that carries parameters, signed without content-type among the signed
        /// headers (sent or not), is refused; the same request with it signed verifies.
        #[test]
        fn a_form_body_without_content_type_signed_is_refused(
            pairs in params(),
            send_it in any::<bool>(),
            charset in any::<bool>(),
        ) {
            let mut b = Built::new("", &encode(&pairs));
            if charset {
                for h in b.headers.iter_mut().filter(|(n, _)| n == "content-type") {
                    h.1.push_str("; charset=UTF-8");
                }
            }
            prop_assert!(b.clone().signed().verify().is_ok());
            if !send_it {
                b.headers.retain(|(n, _)| n != "content-type");
            }
            let without: Vec<String> = b.all_names().into_iter().filter(|n| n != "content-type").collect();
            let e = b.sign_with(&without).verify().err();
            prop_assert!(matches!(e, Some(AuthError::IncompleteSignature(_))), "{e:?}");
            if let Some(e) = e {
                assert_refusal(&e)?;
                prop_assert!(e.message().contains("content-type"));
            }
        }
    }
}
