//! Serving HTTP: accepting connections and handing each request to its component.
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::{Inner, new_store};
use crate::logs::Stream;

pub(super) async fn serve(
    listener: TcpListener,
    inner: Arc<Inner>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    inner.logs.line(Stream::Stderr, format!("accept failed: {e}"));
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        // No TCP_NODELAY: the real Spin does not set it (runtime fact R5).
        let inner = inner.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let inner = inner.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(inner, req, client).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn empty(status: u16) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

async fn handle(
    inner: Arc<Inner>,
    req: hyper::Request<hyper::body::Incoming>,
    client: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    // Spin refuses a header value that is not UTF-8 with an empty 500 before routing (R9).
    if req
        .headers()
        .values()
        .any(|v| std::str::from_utf8(v.as_bytes()).is_err())
    {
        inner.logs.line(
            Stream::Stderr,
            "Error processing request: invalid utf-8 sequence in a header value".into(),
        );
        return empty(500);
    }
    let path = req.uri().path().to_string();
    let Some(m) = inner.router.route(&path) else {
        return empty(404);
    };
    let Some(rt) = inner.components.get(&m.component) else {
        return empty(500);
    };
    let Some(proxy) = rt.proxy.clone() else {
        return empty(500);
    };
    let (mut parts, body) = req.into_parts();
    let local = inner.local_addr.to_string();
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or(&local)
        .to_string();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    // The guest gets the authority in the URI and no `host` header (runtime fact R7).
    parts.uri = match hyper::Uri::builder()
        .scheme("http")
        .authority(host.as_str())
        .path_and_query(pq.as_str())
        .build()
    {
        Ok(uri) => uri,
        Err(_) => return empty(400),
    };
    parts.headers.remove(hyper::header::HOST);
    for (name, value) in m.spin_headers("http", &host, &pq, client) {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            parts.headers.insert(n, v);
        }
    }
    let req = hyper::Request::from_parts(parts, body);

    let id = rt.policy.id.clone();
    let mut store = new_store(&inner, rt);
    let (sender, receiver) = oneshot::channel();
    let spin_compat = inner.spin_compat;
    let prepared = (|| {
        let req = wasmtime_wasi_http::WasiHttpView::http(store.data_mut())
            .new_incoming_request(Scheme::Http, req)?;
        let opened_store = store.data().opened_store.clone();
        let mut http = wasmtime_wasi_http::WasiHttpView::http(store.data_mut());
        let out = if spin_compat {
            // Judged at `set`, while the guest waits: was its body complete by then (R5)?
            http.new_response_outparam_from_callback(move |resp| {
                let opened = opened_store.load(std::sync::atomic::Ordering::Relaxed);
                let _ = sender.send(resp.map(|r| crate::head_first::like_spin(r, opened)));
            })?
        } else {
            http.new_response_outparam(sender)?
        };
        Ok::<_, wasmtime::Error>((req, out))
    })();
    let (req, out) = match prepared {
        Ok(p) => p,
        Err(e) => {
            inner.logs.error(&id, &format!("{e:#}"));
            return empty(500);
        }
    };
    let logs = inner.logs.clone();
    let task_id = id.clone();
    let task = tokio::spawn(async move {
        let result = async {
            let proxy = proxy.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        }
        .await;
        if let Err(e) = &result {
            logs.error(&task_id, &format!("{e:?}"));
        }
        result.is_ok()
    });
    match receiver.await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            inner
                .logs
                .error(&id, &format!("guest answered with error code {e:?}"));
            empty(500)
        }
        // The guest ended (or trapped) without setting a response.
        Err(_) => {
            if let Ok(true) = task.await {
                inner
                    .logs
                    .error(&id, "guest returned without setting a response");
            }
            empty(500)
        }
    }
}
