//! Declared route tables for the REST doors, after axum's routing: a door lists its path
//! patterns, each with its method → handler pairs, in one table, and [`RouteTable::resolve`]
//! finds the handler for a request. A path the table has but not for the request's method is
//! a 405 whose `Allow` lists exactly the methods of that row, in table order: there is no
//! `Allow` string written anywhere else.
//!
//! A pattern is a path of literal segments and `{name}` parameters,
//! e.g. `/imagemgmt/v1/images/{imageId}/versions/{versionId}`. A request path is matched
//! segment by segment (trailing `/`s ignored, no percent-decoding); a parameter matches one
//! whole segment. The table's [`param`](RouteTable::param) check sees every parameter of the
//! matched row before the method is looked at, so a segment that cannot be what it names
//! is answered the door's way (404, 400) whatever the method. No row may match a path another
//! row matches ([`RouteTable::conflicts`]), so the order of rows only orders the table for
//! its reader. `HEAD` is derived from `GET` (RFC 9110 §9.3.2): a row with `GET` answers
//! `HEAD` with the same handler and lists it in `Allow`; the edge drops the body
//! (`crate::conditional::framing`).

use std::fmt;

/// A method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The method's name on the wire, upper case.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of a table: a path pattern and its methods with their handlers.
pub type Row<H> = (&'static str, &'static [(Method, H)]);

/// A door's routes. `H` is what a route yields (a handler fn, or a fn building the door's
/// endpoint value from the parameters); `E` is the door's answer to a refused parameter.
pub struct RouteTable<H: 'static, E: 'static = ()> {
    /// Checks one parameter (`name`, `value`) of the matched row.
    pub param: fn(&str, &str) -> Result<(), E>,
    pub routes: &'static [Row<H>],
}

/// Why a request has no route.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteMiss<E> {
    /// No pattern matches the path.
    NotFound,
    /// A pattern matches but the table's parameter check refused a segment.
    BadParam(E),
    /// A pattern matches, not with this method: `allow` lists the row's methods.
    MethodNotAllowed { allow: String },
}

/// The parameters of a matched pattern, by name, in path order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params<'p>(Vec<(&'static str, &'p str)>);

impl<'p> Params<'p> {
    /// The value of `{name}`. A name the pattern does not have is a bug of the table (its
    /// door's tests walk every row): it reads as empty, which names no record.
    pub fn get(&self, name: &str) -> &'p str {
        let v = self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        debug_assert!(v.is_some(), "the route has no parameter {{{name}}}");
        v.unwrap_or_default()
    }

    /// [`get`](Self::get), owned.
    pub fn own(&self, name: &str) -> String {
        self.get(name).to_owned()
    }

    /// Every `(name, value)`, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'p str)> + '_ {
        self.0.iter().copied()
    }
}

/// The segments of a path: `/a/b/` is `["a", "b"]`.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.trim_end_matches('/').split('/').skip(1)
}

/// The name of a `{name}` segment.
fn param_name(seg: &str) -> Option<&str> {
    seg.strip_prefix('{')?.strip_suffix('}')
}

/// Matches `path` against `pattern`: its parameters, or `None`.
fn matches<'p>(pattern: &'static str, path: &'p str) -> Option<Params<'p>> {
    let mut params = Vec::new();
    let mut want = segments(pattern);
    let mut got = segments(path);
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(Params(params)),
            (Some(w), Some(g)) => match param_name(w) {
                Some(name) => params.push((name, g)),
                None if w == g => {}
                None => return None,
            },
            _ => return None,
        }
    }
}

impl<H: Copy, E> RouteTable<H, E> {
    /// The route for `method` (compared exactly: a door upper-cases it first if it wants
    /// to) and `path` (no query), with the path's parameters.
    pub fn resolve<'p>(
        &self,
        method: &str,
        path: &'p str,
    ) -> Result<(H, Params<'p>), RouteMiss<E>> {
        let Some((methods, params)) = self
            .routes
            .iter()
            .find_map(|(pattern, methods)| matches(pattern, path).map(|p| (methods, p)))
        else {
            return Err(RouteMiss::NotFound);
        };
        for (name, value) in params.iter() {
            (self.param)(name, value).map_err(RouteMiss::BadParam)?;
        }
        // HEAD is GET without the body, which the edge drops.
        let wanted = if method == "HEAD" { "GET" } else { method };
        match methods.iter().find(|(m, _)| m.as_str() == wanted) {
            Some((_, h)) => Ok((*h, params)),
            None => Err(RouteMiss::MethodNotAllowed {
                allow: allow(methods),
            }),
        }
    }

    /// What is wrong with the table: malformed patterns, a method twice on a row, two rows
    /// matching one path. Empty for a sound table (each door's tests assert it).
    pub fn conflicts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (pattern, methods)) in self.routes.iter().enumerate() {
            if !pattern.starts_with('/') || pattern.len() > 1 && pattern.ends_with('/') {
                out.push(format!(
                    "{pattern}: a pattern starts with '/' and has no trailing '/'"
                ));
            }
            let segs: Vec<&str> = segments(pattern).collect();
            for (j, s) in segs.iter().enumerate() {
                match param_name(s) {
                    Some(n) if n.is_empty() || n.contains(['{', '}']) => {
                        out.push(format!("{pattern}: bad parameter {s}"));
                    }
                    Some(n) if segs[..j].iter().any(|t| param_name(t) == Some(n)) => {
                        out.push(format!("{pattern}: parameter {s} twice"));
                    }
                    None if s.is_empty() || s.contains(['{', '}']) => {
                        out.push(format!("{pattern}: bad segment {s:?}"));
                    }
                    _ => {}
                }
            }
            if methods.is_empty() {
                out.push(format!("{pattern}: no methods"));
            }
            for (k, (m, _)) in methods.iter().enumerate() {
                if methods[..k].iter().any(|(n, _)| n == m) {
                    out.push(format!("{pattern}: {m} twice"));
                }
            }
            for (other, _) in &self.routes[..i] {
                if overlap(other, pattern) {
                    out.push(format!("{pattern}: matches paths {other} matches"));
                }
            }
        }
        out
    }
}

/// The `Allow` value of a row: its methods in table order.
/// The `Allow` value of a row: its methods in table order.
pub fn allow<H>(methods: &[(Method, H)]) -> String {
    let mut names = Vec::with_capacity(methods.len() + 1);
    for (m, _) in methods {
        names.push(m.as_str());
        if *m == Method::Get {
            names.push("HEAD");
        }
    }
    names.join(", ")
}

/// Whether some path matches both patterns.
fn overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (segments(a).collect(), segments(b).collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || param_name(x).is_some() || param_name(y).is_some())
}

#[cfg(test)]
mod tests {
    use super::Method::*;
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Ep {
        List,
        Create,
        Get(String),
        Delete(String),
        Leaf(String, String),
    }

    type Make = fn(&Params<'_>) -> Ep;

    const TABLE: RouteTable<Make, String> = RouteTable {
        param: |name, value| {
            if value.bytes().all(|c| c.is_ascii_alphanumeric()) && !value.is_empty() {
                Ok(())
            } else {
                Err(format!("bad {name}"))
            }
        },
        routes: &[
            ("/v1/things", &[(Get, |_| Ep::List), (Post, |_| Ep::Create)]),
            (
                "/v1/things/{id}",
                &[
                    (Get, |p| Ep::Get(p.own("id"))),
                    (Delete, |p| Ep::Delete(p.own("id"))),
                ],
            ),
            (
                "/v1/things/{id}/leaves/{leaf}",
                &[(Put, |p| Ep::Leaf(p.own("id"), p.own("leaf")))],
            ),
        ],
    };

    fn resolve(method: &str, path: &str) -> Result<Ep, RouteMiss<String>> {
        TABLE.resolve(method, path).map(|(make, p)| make(&p))
    }

    #[test]
    fn methods_and_parameters_pick_the_route() {
        assert_eq!(resolve("GET", "/v1/things"), Ok(Ep::List));
        assert_eq!(resolve("POST", "/v1/things/"), Ok(Ep::Create));
        assert_eq!(resolve("GET", "/v1/things/a1"), Ok(Ep::Get("a1".into())));
        assert_eq!(
            resolve("DELETE", "/v1/things/a1//"),
            Ok(Ep::Delete("a1".into()))
        );
        assert_eq!(
            resolve("PUT", "/v1/things/a/leaves/b"),
            Ok(Ep::Leaf("a".into(), "b".into()))
        );
        let (_, p) = TABLE.resolve("PUT", "/v1/things/a/leaves/b").unwrap();
        assert_eq!(p.iter().collect::<Vec<_>>(), [("id", "a"), ("leaf", "b")]);
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in [
            "",
            "/",
            "/v1",
            "/v1/thing",
            "/v1/things/a/leaves",
            "/v1/things/a/leaves/b/c",
            "/v1/things/a/twigs/b",
            "v1/things",
            "//v1/things",
            "/v1//things",
        ] {
            assert_eq!(resolve("GET", path), Err(RouteMiss::NotFound), "{path}");
        }
    }

    #[test]
    fn a_known_path_with_another_method_lists_the_rows_methods_in_table_order() {
        let allow = |a: &str| Err(RouteMiss::MethodNotAllowed { allow: a.into() });
        assert_eq!(resolve("PUT", "/v1/things"), allow("GET, HEAD, POST"));
        assert_eq!(resolve("PATCH", "/v1/things/a"), allow("GET, HEAD, DELETE"));
        assert_eq!(resolve("GET", "/v1/things/a/leaves/b"), allow("PUT"));
        // Methods compare exactly.
        assert_eq!(resolve("get", "/v1/things"), allow("GET, HEAD, POST"));
        assert_eq!(resolve("", "/v1/things"), allow("GET, HEAD, POST"));
    }

    #[test]
    fn head_is_answered_by_the_get_of_its_row_and_nowhere_else() {
        assert_eq!(resolve("HEAD", "/v1/things"), Ok(Ep::List));
        assert_eq!(resolve("HEAD", "/v1/things/a1"), Ok(Ep::Get("a1".into())));
        assert_eq!(
            resolve("HEAD", "/v1/things/a/leaves/b"),
            Err(RouteMiss::MethodNotAllowed {
                allow: "PUT".into()
            })
        );
    }

    #[test]
    fn parameters_are_checked_before_the_method() {
        for method in ["GET", "PUT"] {
            assert_eq!(
                resolve(method, "/v1/things/a~b"),
                Err(RouteMiss::BadParam("bad id".into()))
            );
            assert_eq!(
                resolve(method, "/v1/things/a/leaves/%2F"),
                Err(RouteMiss::BadParam("bad leaf".into()))
            );
        }
        assert_eq!(
            resolve("GET", "/v1/things//leaves/b"),
            Err(RouteMiss::BadParam("bad id".into()))
        );
    }

    #[test]
    fn a_sound_table_has_no_conflicts_and_a_broken_one_says_why() {
        assert_eq!(TABLE.conflicts(), Vec::<String>::new());
        let broken: RouteTable<u8> = RouteTable {
            param: |_, _| Ok(()),
            routes: &[
                ("/a/{x}", &[(Get, 0), (Get, 1)]),
                ("/a/b", &[(Get, 2)]),
                ("b/", &[]),
                ("/c/{x}/{x}/{}", &[(Put, 3)]),
                ("/d//e", &[(Put, 4)]),
            ],
        };
        let c = broken.conflicts();
        for want in [
            "/a/{x}: GET twice",
            "/a/b: matches paths /a/{x} matches",
            "b/: a pattern starts with '/' and has no trailing '/'",
            "b/: no methods",
            "/c/{x}/{x}/{}: parameter {x} twice",
            "/c/{x}/{x}/{}: bad parameter {}",
            "/d//e: bad segment \"\"",
        ] {
            assert!(c.iter().any(|m| m == want), "{want} not in {c:?}");
        }
    }
}
