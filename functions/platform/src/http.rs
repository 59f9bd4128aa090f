//! The HTTP edge every component answers through, on the WASI HTTP types directly.
//!
//! Two things here are not what spin-sdk's `Request`/`Response` do, on purpose:
//!
//! - **The request body is read with a bound, as a stream.** A body whose `content-length`
//!   is over the limit is not read at all; any other body is read until
//!   [`BODY_READ_LIMIT`] bytes (one past the limit) and no further. Either way the door
//!   gets a body of [`BODY_READ_LIMIT`] bytes and answers its own 413 in its own shape;
//!   the rest is never read: the request is dropped, and the runtime closes the
//!   connection after the answer (neither our host nor Spin drains it). So no request
//!   makes a component, or the runtime, hold more than that (README, "Design choices").
//! - **The response body is complete before the head can leave** (runtime fact R5 in
//!   `docs/runtime-facts.md`). spin-sdk hands the response to the host and only then
//!   writes the body, so the head may be flushed alone; Spin does not set `TCP_NODELAY`,
//!   and on a keep-alive connection the body then waits ~40 ms for the client's delayed
//!   ACK. Here the body is written into its stream and finished *before*
//!   `response-outparam.set`: measured on Spin 4.0.2, 4 122 req/s at p50 0.42 ms instead of
//!   106 req/s at 24 ms. A body larger than the stream accepts before `set` (Spin grants
//!   1 MiB) is finished after `set`, in blocking writes of at most 4 KiB, which can never
//!   hang: the host drains the stream once the response is set.
//!
//! A component is one function of the request:
//!
//! ```ignore
//! #[spin_sdk::http_component]
//! fn handle(req: IncomingRequest, out: ResponseOutparam) {
//!     catalog_platform::http::serve(req, out, |req| answer(req));
//! }
//! ```

use catalog_model::api::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use catalog_model::conditional::framing;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::{OutputStream, StreamError};

/// The most a component reads of a request body: one byte past the model's limit, so the
/// model still sees that the body was too large and answers 413 in its door's shape.
pub const BODY_READ_LIMIT: usize = MAX_BODY_BYTES + 1;

// The admin door checks its own limit: one body of BODY_READ_LIMIT bytes must trip it too.
const _: () = assert!(catalog_model::admin::MAX_BODY < BODY_READ_LIMIT);

/// What a door gets in place of a body it was told is too large and that is never read:
/// NUL bytes, which no door's parser accepts (each door checks the length first anyway).
const UNREAD: u8 = 0;

/// The largest write `blocking-write-and-flush` accepts (WASI 0.2).
const BLOCKING_CHUNK: usize = 4096;

/// A received request: the model's [`ApiRequest`] plus the authority the client addressed.
pub struct Received {
    pub api: ApiRequest,
    /// `host[:port]`. Spin hands the guest no `host` header (R7); the authority arrives in
    /// the request URI, and in `spin-full-url` as a fallback.
    pub authority: String,
}

/// Reads `req` (body bounded), answers with what `answer` returns.
pub fn serve(
    req: IncomingRequest,
    out: ResponseOutparam,
    answer: impl FnOnce(&Received) -> ApiResponse,
) {
    let received = receive(req);
    let resp = answer(&received);
    respond(out, &received.api.method, resp);
}

/// The request as the model's framework-free value; the body is cut at [`BODY_READ_LIMIT`],
/// and not read at all when its declared `content-length` is over [`MAX_BODY_BYTES`].
pub fn receive(req: IncomingRequest) -> Received {
    let method = req.method().to_string().to_ascii_uppercase();
    let target = req.path_with_query().unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    let mut authority = req.authority().unwrap_or_default();
    if authority.is_empty()
        && let Some((_, url)) = headers.iter().find(|(n, _)| n == "spin-full-url")
    {
        authority = catalog_model::appstream::service::authority_of(url).to_owned();
    }
    let body = if declared_length(&headers).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        // Refused unread: not even a `100 Continue` goes out (the runtime sends one only
        // when the body is read), so a client that asked first never sends the body.
        vec![UNREAD; BODY_READ_LIMIT]
    } else {
        read_body(&req, BODY_READ_LIMIT)
    };
    // `req` (and with it the unread rest of the body) is dropped here, before the answer.
    Received {
        api: ApiRequest {
            method,
            path,
            query,
            headers,
            body,
        },
        authority,
    }
}

/// The request's `content-length`, if it has one that parses (the runtime has already
/// refused a malformed or conflicting one).
fn declared_length(headers: &[(String, String)]) -> Option<u64> {
    headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// Reads at most `limit` bytes of the body. A stream error ends the body where it broke:
/// the model then refuses what it got (a truncated JSON document is a 400).
fn read_body(req: &IncomingRequest, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let Ok(incoming) = req.consume() else {
        return body;
    };
    if let Ok(stream) = incoming.stream() {
        while body.len() < limit {
            let want = (limit - body.len()).min(64 * 1024) as u64;
            match stream.blocking_read(want) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(_) => break,
            }
        }
    }
    body
}

/// Sends `resp` to a request of `method`: head and complete body, finished before the host
/// may send the head. `HEAD`, 204 and 304 send no body (`catalog_model::conditional::framing`).
pub fn respond(out: ResponseOutparam, method: &str, mut resp: ApiResponse) {
    let (send_body, length) = framing(method, resp.status, resp.body.len());
    if !send_body {
        resp.body.clear();
    }
    let headers = Fields::new();
    for (name, value) in &resp.headers {
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        if let Err(e) = headers.append(name, &value.clone().into_bytes()) {
            eprintln!("dropping response header {name:?}: {e:?}");
        }
    }
    if let Some(n) = length {
        let _ = headers.append("content-length", &n.to_string().into_bytes());
    }
    let response = OutgoingResponse::new(headers);
    if response.set_status_code(resp.status).is_err() {
        let _ = response.set_status_code(500);
    }
    let Ok(body) = response.body() else {
        out.set(response);
        return;
    };
    let Ok(stream) = body.write() else {
        out.set(response);
        return;
    };
    let sent = write_granted(&stream, &resp.body);
    if sent == resp.body.len() {
        drop(stream);
        finish(body);
        out.set(response);
        return;
    }
    // More than the stream takes before `set`: the host drains it once the response is set.
    out.set(response);
    for chunk in resp.body[sent..].chunks(BLOCKING_CHUNK) {
        if let Err(e) = stream.blocking_write_and_flush(chunk) {
            eprintln!("response body cut short: {e:?}");
            break;
        }
    }
    drop(stream);
    finish(body);
}

/// Writes as much of `bytes` as the stream grants without blocking (no flush: a flush
/// before `set` waits for a reader that does not exist yet). Returns the bytes written.
fn write_granted(stream: &OutputStream, bytes: &[u8]) -> usize {
    let mut sent = 0;
    while sent < bytes.len() {
        let granted = match stream.check_write() {
            Ok(0) | Err(_) => break,
            Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let end = bytes.len().min(sent.saturating_add(granted));
        match stream.write(&bytes[sent..end]) {
            Ok(()) => sent = end,
            Err(StreamError::Closed) | Err(StreamError::LastOperationFailed(_)) => break,
        }
    }
    sent
}

fn finish(body: OutgoingBody) {
    if let Err(e) = OutgoingBody::finish(body, None) {
        eprintln!("finishing the response body failed: {e:?}");
    }
}
