//! Listing parameters: `page` (0-based), `size` (default 20, at most 100), `sort=field,dir`,
//! `search=field $eq value`, and the page envelope.

use crate::api::{FieldError, Problem};
use crate::imagemgmt::input::VersionNumber;
use serde_json::{Value, json};
use std::cmp::Ordering;

pub const DEFAULT_SIZE: usize = 20;
pub const MAX_SIZE: usize = 100;
/// Largest `page` accepted (a bound, so the offset arithmetic cannot overflow).
pub const MAX_PAGE: usize = 1_000_000;

/// Parsed listing parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub page: usize,
    pub size: usize,
    pub sort: Option<(String, bool)>,
    /// `(field, value)` pairs that must all match.
    pub search: Vec<(String, String)>,
}

/// What a listing allows.
pub struct ListSpec {
    pub sort_fields: &'static [&'static str],
    pub search_fields: &'static [&'static str],
}

impl ListQuery {
    pub fn parse(pairs: &[(String, String)], spec: &ListSpec) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        let mut q = ListQuery {
            page: 0,
            size: DEFAULT_SIZE,
            sort: None,
            search: Vec::new(),
        };
        for (k, v) in pairs {
            match k.as_str() {
                "page" => match v.parse::<usize>() {
                    Ok(p) if p <= MAX_PAGE => q.page = p,
                    _ => errors.push(FieldError::new(
                        "page",
                        "INVALID_VALUE",
                        "must be a number from 0",
                    )),
                },
                "size" => match v.parse::<usize>() {
                    Ok(s) if (1..=MAX_SIZE).contains(&s) => q.size = s,
                    _ => errors.push(FieldError::new(
                        "size",
                        "INVALID_VALUE",
                        format!("must be a number from 1 to {MAX_SIZE}"),
                    )),
                },
                "sort" => {
                    let (field, dir) = v.split_once(',').unwrap_or((v.as_str(), "asc"));
                    let asc = match dir.trim().to_ascii_lowercase().as_str() {
                        "asc" => Some(true),
                        "desc" => Some(false),
                        _ => None,
                    };
                    let field = field.trim();
                    match asc {
                        Some(asc) if spec.sort_fields.contains(&field) => {
                            q.sort = Some((field.to_owned(), asc))
                        }
                        _ => errors.push(FieldError::new(
                            "sort",
                            "INVALID_VALUE",
                            format!(
                                "must be field,asc|desc with field one of {}",
                                spec.sort_fields.join(", ")
                            ),
                        )),
                    }
                }
                "search" => {
                    let mut parts = v.splitn(3, ' ');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(f), Some("$eq"), Some(val)) if spec.search_fields.contains(&f) => {
                            q.search.push((f.to_owned(), val.to_owned()))
                        }
                        _ => errors.push(FieldError::new(
                            "search",
                            "INVALID_VALUE",
                            format!(
                                "must be 'field $eq value' with field one of {}",
                                spec.search_fields.join(", ")
                            ),
                        )),
                    }
                }
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(Problem::validation(errors))
        }
    }

    /// Whether a rendered record passes every `search` term.
    pub fn matches(&self, it: &Value) -> bool {
        self.search.iter().all(|(f, want)| match it.get(f) {
            Some(Value::String(s)) => s == want,
            Some(Value::Bool(b)) => b.to_string() == *want,
            Some(Value::Number(n)) => n.to_string() == *want,
            _ => false,
        })
    }

    /// The order of two rendered records: the `sort` field (else `default_sort`), ties by id.
    pub fn order<'a>(&self, default_sort: &'a str) -> impl Fn(&Value, &Value) -> Ordering + 'a {
        let (field, asc) = self
            .sort
            .clone()
            .unwrap_or_else(|| (default_sort.to_owned(), true));
        move |a, b| {
            let o = compare(a.get(&field), b.get(&field))
                .then_with(|| compare(a.get("id"), b.get("id")));
            if asc { o } else { o.reverse() }
        }
    }

    /// The first item of the page.
    pub fn offset(&self) -> usize {
        self.page.saturating_mul(self.size)
    }

    /// Filters, sorts and cuts one page out of rendered records.
    pub fn apply(&self, mut items: Vec<Value>, default_sort: &str) -> Value {
        items.retain(|it| self.matches(it));
        items.sort_by(self.order(default_sort));
        page(items, self.page, self.size)
    }
}

/// Orders two field values: version numbers numerically, numbers as numbers, else as text.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => {
            match (x.parse::<VersionNumber>(), y.parse::<VersionNumber>()) {
                (Ok(p), Ok(q)) => p.cmp(&q),
                _ => x.cmp(y),
            }
        }
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None | Some(Value::Null), Some(v)) if !v.is_null() => Ordering::Less,
        (Some(v), None | Some(Value::Null)) if !v.is_null() => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// The page envelope, cut out of every item.
pub fn page(items: Vec<Value>, number: usize, size: usize) -> Value {
    let total = items.len();
    let size = size.max(1);
    let content: Vec<Value> = items
        .into_iter()
        .skip(number.saturating_mul(size))
        .take(size)
        .collect();
    envelope(
        content,
        number,
        size,
        u64::try_from(total).unwrap_or(u64::MAX),
    )
}

/// The page envelope around one page's `content`, with the count of every item.
pub fn envelope(content: Vec<Value>, number: usize, size: usize, total: u64) -> Value {
    let size = size.max(1);
    let total_pages = total.div_ceil(u64::try_from(size).unwrap_or(1));
    json!({
        "content": content,
        "number": number,
        "size": size,
        "numberOfElements": content.len(),
        "totalElements": total,
        "totalPages": total_pages,
        "first": number == 0,
        "last": u64::try_from(number).unwrap_or(u64::MAX).saturating_add(1) >= total_pages,
        "empty": content.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: ListSpec = ListSpec {
        sort_fields: &["name", "createdAt"],
        search_fields: &["name", "status"],
    };

    fn q(pairs: &[(&str, &str)]) -> Result<ListQuery, Problem> {
        let p: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        ListQuery::parse(&p, &SPEC)
    }

    #[test]
    fn defaults_and_limits() {
        let d = q(&[]).unwrap();
        assert_eq!((d.page, d.size), (0, 20));
        assert_eq!(q(&[("size", "100")]).unwrap().size, 100);
        for bad in [
            ("size", "101"),
            ("size", "0"),
            ("page", "-1"),
            ("page", "x"),
        ] {
            let e = q(&[bad]).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.errors[0].field, bad.0);
        }
        assert_eq!(
            q(&[("sort", "osType,asc")]).unwrap_err().errors[0].field,
            "sort"
        );
        assert_eq!(
            q(&[("sort", "name,up")]).unwrap_err().errors[0].field,
            "sort"
        );
        assert_eq!(
            q(&[("search", "name $ne x")]).unwrap_err().errors[0].field,
            "search"
        );
        assert_eq!(
            q(&[("search", "id $eq x")]).unwrap_err().errors[0].field,
            "search"
        );
    }

    #[test]
    fn envelope_counts_pages() {
        let items: Vec<Value> = (0..45).map(|i| json!({"id": format!("{i:03}")})).collect();
        let p = page(items.clone(), 2, 20);
        assert_eq!(p["numberOfElements"], 5);
        assert_eq!(p["totalElements"], 45);
        assert_eq!(p["totalPages"], 3);
        assert_eq!(
            (p["first"].clone(), p["last"].clone()),
            (json!(false), json!(true))
        );
        let p = page(items, 3, 20);
        assert_eq!(p["empty"], true);
        let p = page(vec![], 0, 20);
        assert_eq!(
            (p["first"].clone(), p["last"].clone(), p["empty"].clone()),
            (json!(true), json!(true), json!(true))
        );
    }

    mod refusals {
        use super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        const PARAMS: [&str; 4] = ["page", "size", "sort", "search"];

        /// Values near the rules' edges, so some queries pass and some fail one rule.
        const VALUES: &str = "0 1 20 100 101 1000000 1000001 -1 name name,asc createdAt,desc \
                              name,up osType,asc";
        const SEARCHES: [&str; 4] = [
            "name $eq a",
            "status $eq AVAILABLE",
            "id $eq x",
            "name $ne x",
        ];

        fn value() -> impl Strategy<Value = String> {
            let plain: Vec<&'static str> = VALUES.split_whitespace().chain([""]).collect();
            prop_oneof![
                select(plain).prop_map(str::to_owned),
                select(&SEARCHES[..]).prop_map(str::to_owned),
                "[0-9]{0,24}",
                "\\PC{0,40}",
            ]
        }

        fn pair() -> impl Strategy<Value = (String, String)> {
            (
                prop_oneof![
                    4 => select(&PARAMS[..]).prop_map(str::to_owned),
                    1 => "\\PC{0,8}",
                ],
                value(),
            )
        }

        proptest! {
            /// Any query: a refusal is a 400 with a code whose every field error names
            /// one of the listing's parameters and has a code.
            #[test]
            fn every_refusal_is_a_4xx_with_a_code(
                pairs in proptest::collection::vec(pair(), 0..8),
            ) {
                if let Err(p) = ListQuery::parse(&pairs, &SPEC) {
                    prop_assert!((400..500).contains(&p.status), "{p:?}");
                    prop_assert!(!p.code.is_empty(), "{p:?}");
                    prop_assert!(!p.errors.is_empty(), "{p:?}");
                    for e in &p.errors {
                        prop_assert!(!e.code.is_empty(), "{p:?}");
                        prop_assert!(PARAMS.contains(&e.field.as_str()), "{p:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn version_names_sort_numerically_and_search_matches_exactly() {
        let items = vec![
            json!({"id": "a", "name": "1.10.0", "status": "AVAILABLE"}),
            json!({"id": "b", "name": "1.2.0", "status": "PENDING"}),
            json!({"id": "c", "name": "2.0.0", "status": "AVAILABLE"}),
        ];
        let r = q(&[("sort", "name,desc")])
            .unwrap()
            .apply(items.clone(), "createdAt");
        let names: Vec<_> = r["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].clone())
            .collect();
        assert_eq!(names, vec![json!("2.0.0"), json!("1.10.0"), json!("1.2.0")]);
        let r = q(&[("search", "status $eq AVAILABLE")])
            .unwrap()
            .apply(items, "name");
        assert_eq!(r["totalElements"], 2);
    }
}
