//! The web console's static files (issue 14), served at `/console/` by their own component:
//! which path is which file, its content type, caching, `ETag`/`If-None-Match`, and the
//! security headers every answer carries. The component passes the files' bytes in
//! ([`Console::new`]); the console itself is a single page that talks to the REST door
//! with the user's bearer token, so nothing here reads the store or a variable.
//!
//! Caching: the page (`/console/`) is `no-cache`, so a browser revalidates it on every
//! load (a cheap 304 while nothing changed). The page names every other file with its
//! content hash (`/console/app.js?v=<hash>`); such a versioned URL never changes meaning,
//! so it is cached for a year, `immutable`. A deployment changes the hash and the page's
//! own `ETag`, so a browser never runs a new page with an old script. The same file asked
//! for without (or with another) `v` is `no-cache` with its `ETag`: a stale or hand-typed
//! URL is always revalidated, never cached as if it were current.

#[cfg(test)]
mod tests;

use crate::api::{ApiRequest, ApiResponse, Problem};
use sha2::{Digest, Sha256};

/// Where the console lives.
pub const BASE: &str = "/console";

/// The policy the page runs under: scripts, styles and requests from this origin only, no
/// inline script or style, no plugins, no framing, no form posts anywhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// The methods every console path answers.
pub const ALLOW: &str = "GET, HEAD";

/// `Cache-Control` of the page and of unversioned files: store, but revalidate each use.
pub const REVALIDATE: &str = "no-cache";
/// `Cache-Control` of a file asked for by its current content hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The file the console's root serves.
pub const INDEX: &str = "index.html";

/// One file as served: its bytes, type, and content hash.
#[derive(Debug, Clone)]
struct Served {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    /// The first 16 hex digits of the body's SHA-256: the `ETag` and the `v` of its URL.
    hash: String,
}

impl Served {
    fn new(name: &'static str, body: Vec<u8>) -> Served {
        let hash = hex::encode(Sha256::digest(&body))[..16].to_owned();
        Served {
            name,
            content_type: content_type(name),
            body,
            hash,
        }
    }

    fn etag(&self) -> String {
        format!("\"{}\"", self.hash)
    }
}

/// The console's files, ready to serve.
#[derive(Debug, Clone)]
pub struct Console {
    index: Served,
    files: Vec<Served>,
}

impl Console {
    /// The console from its page and its other files (`(name, bytes)`, e.g.
    /// `("app.js", …)`). Every `"/console/<name>"` the page quotes becomes
    /// `"/console/<name>?v=<hash>"`, so the page always names the files it was served with.
    pub fn new(index_html: &str, files: &[(&'static str, &[u8])]) -> Console {
        let files: Vec<Served> = files
            .iter()
            .map(|(name, bytes)| Served::new(name, bytes.to_vec()))
            .collect();
        let mut page = index_html.to_owned();
        for f in &files {
            let plain = format!("\"{BASE}/{}\"", f.name);
            let versioned = format!("\"{BASE}/{}?v={}\"", f.name, f.hash);
            page = page.replace(&plain, &versioned);
        }
        Console {
            index: Served::new(INDEX, page.into_bytes()),
            files,
        }
    }

    /// The page as served (with versioned file URLs).
    pub fn index_html(&self) -> &[u8] {
        &self.index.body
    }

    /// The versioned URL of a file (`None` if there is no such file).
    pub fn url_of(&self, name: &str) -> Option<String> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| format!("{BASE}/{}?v={}", f.name, f.hash))
    }

    /// The answer to any request routed to the console. Never panics.
    pub fn answer(&self, req: &ApiRequest) -> ApiResponse {
        if req.path == BASE {
            // Relative references and the page's URL both want the trailing slash.
            return secured(ApiResponse {
                status: 308,
                headers: vec![
                    ("location".into(), format!("{BASE}/")),
                    ("cache-control".into(), REVALIDATE.into()),
                ],
                body: Vec::new(),
            });
        }
        let Some(file) = self.file_at(&req.path) else {
            let p = Problem::new(
                404,
                "ROUTE_NOT_FOUND",
                format!("no console file at {}", printable(&req.path)),
            );
            return secured(ApiResponse::from(p).header("cache-control", "no-store"));
        };
        if !matches!(req.method.to_ascii_uppercase().as_str(), "GET" | "HEAD") {
            let p = Problem::new(405, "METHOD_NOT_ALLOWED", format!("allowed: {ALLOW}"));
            return secured(ApiResponse::from(p).header("allow", ALLOW));
        }
        let cache = if file.name != INDEX && req.query_param("v").as_deref() == Some(&file.hash) {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        let resp = ApiResponse::with_body(200, file.content_type, file.body.clone())
            .header("etag", &file.etag())
            .header("cache-control", cache);
        let method = req.method.to_ascii_uppercase();
        secured(crate::conditional::not_modified(
            &method,
            req.header("if-none-match"),
            resp,
        ))
    }

    /// The file a path names: the page at `/console/` and `/console/index.html`, every
    /// other file at `/console/<name>`; nothing else (no directories, no `..`).
    fn file_at(&self, path: &str) -> Option<&Served> {
        let name = path.strip_prefix(BASE)?.strip_prefix('/')?;
        if name.is_empty() || name == INDEX {
            return Some(&self.index);
        }
        self.files.iter().find(|f| f.name == name)
    }
}

/// Adds the headers every console answer carries.
fn secured(resp: ApiResponse) -> ApiResponse {
    resp.header("content-security-policy", CSP)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
}

/// The content type of a file, from its extension (text types in UTF-8).
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// A path as it may appear in a problem's detail: at most 200 characters, controls dropped.
fn printable(path: &str) -> String {
    path.chars().filter(|c| !c.is_control()).take(200).collect()
}
