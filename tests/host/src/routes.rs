//! Spin's HTTP routing (as in Spin's `routes` crate, on the same `routefinder` crate):
//! an exact route beats a wildcard, the longest prefix wins, `/x/...` matches `/x`,
//! `/x/` and `/x/y`, `:name` segments capture. Also computes the `spin-*` headers.
use std::net::SocketAddr;

use anyhow::{Result, anyhow};

/// Routes of the HTTP trigger.
pub struct Router {
    inner: routefinder::Router<Handler>,
}

#[derive(Debug, Clone)]
struct Handler {
    component: String,
    /// The route with the (always `/`) base applied: `"/x/..."`, `""` for `/`.
    based_route: String,
    /// The route as written in the manifest.
    raw_route: String,
}

/// A matched route with what the guest is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    pub based_route: String,
    pub raw_route: String,
    /// `spin-path-info`: the part matched by a trailing wildcard.
    pub path_info: String,
    /// `:name` captures, in route order.
    pub named: Vec<(String, String)>,
}

impl Router {
    /// Builds the router from `(route, component)` pairs in manifest order; a later
    /// duplicate of a route replaces the earlier one (Spin warns and does the same).
    pub fn build<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Router> {
        // Dedupe by the route as written, the last one winning (Spin does the same).
        let mut unique: Vec<(&str, &str)> = Vec::new();
        for (raw, component) in routes {
            match unique.iter_mut().find(|(r, _)| *r == raw) {
                Some(entry) => entry.1 = component,
                None => unique.push((raw, component)),
            }
        }
        let mut inner = routefinder::Router::new();
        for (raw, component) in unique {
            let based = sanitize(&absolutize(raw));
            let spec = match based.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => based.clone(),
            };
            inner
                .add(
                    spec,
                    Handler {
                        component: component.to_string(),
                        based_route: based.clone(),
                        raw_route: raw.to_string(),
                    },
                )
                .map_err(|e| anyhow!("invalid route {raw:?} of component {component:?}: {e}"))?;
        }
        Ok(Router { inner })
    }

    /// The best route for `path`, if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let m = self.inner.best_match(path)?;
        let handler = m.handler();
        let captures = m.captures();
        let path_info = match captures.wildcard() {
            None => String::new(),
            // Spin keeps the trailing slash routefinder drops.
            Some(w) => match (w.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".into(),
                (false, false) => format!("/{w}"),
                (false, true) => format!("/{w}/"),
            },
        };
        let named = captures
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(RouteMatch {
            component: handler.component.clone(),
            based_route: handler.based_route.clone(),
            raw_route: handler.raw_route.clone(),
            path_info,
            named,
        })
    }

    /// `(route as printed, component)` for the start-up banner.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.inner
            .iter()
            .map(|(_, h)| {
                let shown = if h.based_route.is_empty() {
                    "/".to_string()
                } else {
                    h.based_route.clone()
                };
                (shown, h.component.clone())
            })
            .collect()
    }
}

fn absolutize(s: &str) -> String {
    if s.starts_with('/') {
        s.to_string()
    } else {
        format!("/{s}")
    }
}

/// Strips one trailing slash, like Spin.
fn sanitize(s: &str) -> String {
    s.strip_suffix('/').unwrap_or(s).to_string()
}

impl RouteMatch {
    /// The `spin-*` headers Spin adds to the request, lower-case.
    pub fn spin_headers(
        &self,
        scheme: &str,
        host: &str,
        path_and_query: &str,
        client: SocketAddr,
    ) -> Vec<(String, String)> {
        let component_route = self
            .raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
            .to_string();
        let mut headers = vec![
            ("spin-path-info".to_string(), self.path_info.clone()),
            (
                "spin-full-url".to_string(),
                format!("{scheme}://{host}{path_and_query}"),
            ),
            ("spin-matched-route".to_string(), self.based_route.clone()),
            ("spin-base-path".to_string(), "/".to_string()),
            (
                "spin-raw-component-route".to_string(),
                self.raw_route.clone(),
            ),
            ("spin-component-route".to_string(), component_route),
            ("spin-client-addr".to_string(), client.to_string()),
        ];
        for (name, value) in &self.named {
            headers.push((
                format!(
                    "spin-path-match-{}",
                    name.to_ascii_lowercase().replace('_', "-")
                ),
                value.clone(),
            ));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().copied()).unwrap()
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&[
            ("/...", "root"),
            ("/api/...", "api"),
            ("/api/items/...", "items"),
            ("/api/items", "items-exact"),
        ]);
        assert_eq!(component(&r, "/api/items").as_deref(), Some("items-exact"));
        assert_eq!(component(&r, "/api/items/3").as_deref(), Some("items"));
        assert_eq!(component(&r, "/api/other").as_deref(), Some("api"));
        assert_eq!(component(&r, "/elsewhere").as_deref(), Some("root"));
        assert_eq!(component(&r, "/").as_deref(), Some("root"));
    }

    #[test]
    fn wildcard_matches_prefix_with_and_without_slash() {
        let r = router(&[("/x/...", "x")]);
        for (path, info) in [
            ("/x", ""),
            ("/x/", "/"),
            ("/x/y", "/y"),
            ("/x/y/", "/y/"),
            ("/x/y/z", "/y/z"),
        ] {
            let m = r.route(path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(m.path_info, info, "{path}");
        }
        assert!(r.route("/xy").is_none());
        assert!(r.route("/").is_none());
    }

    #[test]
    fn exact_route_matches_only_itself() {
        let r = router(&[("/healthz", "h")]);
        assert!(r.route("/healthz").is_some());
        assert!(r.route("/healthz/more").is_none());
        assert!(r.route("/").is_none());
    }

    #[test]
    fn named_segments_capture() {
        let r = router(&[("/users/:user_id/...", "u"), ("/users/me", "me")]);
        let m = r.route("/users/42/posts").unwrap();
        assert_eq!(m.component, "u");
        assert_eq!(m.named, vec![("user_id".to_string(), "42".to_string())]);
        assert_eq!(m.path_info, "/posts");
        assert_eq!(component(&r, "/users/me").as_deref(), Some("me"));
    }

    #[test]
    fn spin_headers_match_spin() {
        let r = router(&[("/foo/:userid/...", "c")]);
        let m = r.route("/foo/42/bar").unwrap();
        let h: std::collections::HashMap<_, _> = m
            .spin_headers(
                "http",
                "example.test:3000",
                "/foo/42/bar?a=1",
                "127.0.0.1:8777".parse().unwrap(),
            )
            .into_iter()
            .collect();
        assert_eq!(
            h["spin-full-url"],
            "http://example.test:3000/foo/42/bar?a=1"
        );
        assert_eq!(h["spin-path-info"], "/bar");
        assert_eq!(h["spin-matched-route"], "/foo/:userid/...");
        assert_eq!(h["spin-raw-component-route"], "/foo/:userid/...");
        assert_eq!(h["spin-component-route"], "/foo/:userid");
        assert_eq!(h["spin-base-path"], "/");
        assert_eq!(h["spin-client-addr"], "127.0.0.1:8777");
        assert_eq!(h["spin-path-match-userid"], "42");
    }

    #[test]
    fn root_route_has_empty_matched_route_like_spin() {
        let r = router(&[("/", "root")]);
        let m = r.route("/").unwrap();
        assert_eq!(m.based_route, "");
        assert_eq!(m.raw_route, "/");
        assert_eq!(r.describe(), vec![("/".to_string(), "root".to_string())]);
    }

    #[test]
    fn later_duplicate_replaces_earlier() {
        let r = router(&[("/a", "first"), ("/a", "second")]);
        assert_eq!(component(&r, "/a").as_deref(), Some("second"));
    }
}
