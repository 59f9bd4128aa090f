//! Conformance probe for the local host: answers with what it received (method, URI,
//! headers) and the results of the operations named in its query string, as JSON.
//!
//! Each `op=NAME,ARG,...` query parameter runs in order; its result is one string of
//! `results`: `ok`, `ok:<value>` or `err:<error>`. Values: `none`, `utf8:<text>` or
//! `hex:<bytes>`. Errors use the WIT case names (`access-denied`, `no-such-store`,
//! `cas-failed`, `other:<message>`, ...). Ops:
//! `s.get|s.set|s.delete|s.exists|s.keys` (spin_sdk::key_value, first arg the label),
//! `w.get|w.set|w.delete|w.exists|w.keys|w.inc|w.getmany|w.setmany|w.delmany`
//! (wasi:keyvalue), `w.cas,L,K,V` (new + current + swap), `w.casread,L,K` /
//! `w.casnew,L,K` then `w.swap,V` (a CAS split around other ops; its bucket stays open
//! until the swap, as in the app: Spin answers a lost swap whose bucket was dropped with
//! `no-such-store` instead of `cas-failed`, docs/runtime-facts.md R12), `w.setn,L,K,N` (a
//! value of N bytes `x`), `w.getlen,L,K` (the length of a value), `var,NAME`, `now`,
//! `print,TEXT`, `trap`. Lists in batch ops are `;`-separated, pairs `k=v`.
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value as spin_kv;
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let query = req.query().to_string();
    let mut probe = Probe { pending: None };
    let mut results = Vec::new();
    for param in query.split('&') {
        if let Some(op) = param.strip_prefix("op=") {
            let args: Vec<String> = op.split(',').map(decode).collect();
            results.push(probe.run(&args));
        }
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .map(|(name, value)| (name.to_string(), value.as_str().unwrap_or("").to_string()))
        .collect();
    let body = serde_json::json!({
        "method": req.method().to_string(),
        "uri": req.uri(),
        "path_and_query": req.path_and_query(),
        "headers": headers,
        "results": results,
    });
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build())
}

/// Percent-decoding of one query argument (enough for test values).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn value(v: Option<Vec<u8>>) -> String {
    match v {
        None => "none".into(),
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(text) => format!("utf8:{text}"),
            Err(e) => format!(
                "hex:{}",
                e.as_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
        },
    }
}

fn spin_err(e: spin_kv::Error) -> String {
    match e {
        spin_kv::Error::StoreTableFull => "err:store-table-full".into(),
        spin_kv::Error::NoSuchStore => "err:no-such-store".into(),
        spin_kv::Error::AccessDenied => "err:access-denied".into(),
        spin_kv::Error::Other(m) => format!("err:other:{m}"),
    }
}

fn wasi_err(e: store::Error) -> String {
    match e {
        store::Error::NoSuchStore => "err:no-such-store".into(),
        store::Error::AccessDenied => "err:access-denied".into(),
        store::Error::Other(m) => format!("err:other:{m}"),
    }
}

fn ok_unit<E>(r: Result<(), E>, f: fn(E) -> String) -> String {
    r.map(|()| "ok".to_string()).unwrap_or_else(f)
}

struct Probe {
    /// A CAS begun by `w.casread`/`w.casnew` and finished by `w.swap`, with its bucket
    /// (dropped after the swap).
    pending: Option<(atomics::Cas, store::Bucket)>,
}

impl Probe {
    fn run(&mut self, args: &[String]) -> String {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        let name = arg(0);
        if let Some(op) = name.strip_prefix("s.") {
            let store = match spin_kv::Store::open(arg(1)) {
                Ok(s) => s,
                Err(e) => return spin_err(e),
            };
            return match op {
                "get" => store
                    .get(arg(2))
                    .map(|v| format!("ok:{}", value(v)))
                    .unwrap_or_else(spin_err),
                "set" => ok_unit(store.set(arg(2), arg(3).as_bytes()), spin_err),
                "delete" => ok_unit(store.delete(arg(2)), spin_err),
                "exists" => store
                    .exists(arg(2))
                    .map(|b| format!("ok:{b}"))
                    .unwrap_or_else(spin_err),
                "keys" => store
                    .get_keys()
                    .map(|mut k| {
                        k.sort();
                        format!("ok:{}", k.join(";"))
                    })
                    .unwrap_or_else(spin_err),
                _ => format!("err:unknown op {name}"),
            };
        }
        if name == "w.swap" {
            let Some((cas, bucket)) = self.pending.take() else {
                return "err:no pending cas".into();
            };
            let answer = swap(cas, arg(1));
            drop(bucket);
            return answer;
        }
        if let Some(op) = name.strip_prefix("w.") {
            let bucket = match store::open(arg(1)) {
                Ok(b) => b,
                Err(e) => return wasi_err(e),
            };
            let list = |i: usize| -> Vec<String> {
                arg(i)
                    .split(';')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            };
            return match op {
                "get" => bucket
                    .get(arg(2))
                    .map(|v| format!("ok:{}", value(v)))
                    .unwrap_or_else(wasi_err),
                "set" => ok_unit(bucket.set(arg(2), arg(3).as_bytes()), wasi_err),
                "setn" => {
                    let n = arg(3).parse().unwrap_or(0);
                    ok_unit(bucket.set(arg(2), &vec![b'x'; n]), wasi_err)
                }
                "getlen" => bucket
                    .get(arg(2))
                    .map(|v| match v {
                        Some(v) => format!("ok:{}", v.len()),
                        None => "ok:none".into(),
                    })
                    .unwrap_or_else(wasi_err),
                "delete" => ok_unit(bucket.delete(arg(2)), wasi_err),
                "exists" => bucket
                    .exists(arg(2))
                    .map(|b| format!("ok:{b}"))
                    .unwrap_or_else(wasi_err),
                "keys" => bucket
                    .list_keys(None)
                    .map(|r| {
                        let mut k = r.keys;
                        k.sort();
                        format!("ok:{}", k.join(";"))
                    })
                    .unwrap_or_else(wasi_err),
                "inc" => {
                    let delta = arg(3).parse().unwrap_or(0);
                    atomics::increment(&bucket, arg(2), delta)
                        .map(|n| format!("ok:{n}"))
                        .unwrap_or_else(wasi_err)
                }
                "cas" => match atomics::Cas::new(&bucket, arg(2)) {
                    Ok(cas) => match cas.current() {
                        Ok(_) => swap(cas, arg(3)),
                        Err(e) => wasi_err(e),
                    },
                    Err(e) => wasi_err(e),
                },
                "casread" | "casnew" => match atomics::Cas::new(&bucket, arg(2)) {
                    Ok(cas) => {
                        let seen = if op == "casread" {
                            match cas.current() {
                                Ok(v) => value(v),
                                Err(e) => return wasi_err(e),
                            }
                        } else {
                            "unread".into()
                        };
                        self.pending = Some((cas, bucket));
                        format!("ok:{seen}")
                    }
                    Err(e) => wasi_err(e),
                },
                "getmany" => batch::get_many(&bucket, &list(2))
                    .map(|kvs| {
                        let parts: Vec<String> = kvs
                            .into_iter()
                            .map(|(k, v)| format!("{k}={}", value(v)))
                            .collect();
                        format!("ok:{}", parts.join(";"))
                    })
                    .unwrap_or_else(wasi_err),
                "setmany" => {
                    let pairs: Vec<(String, Vec<u8>)> = list(2)
                        .into_iter()
                        .map(|p| match p.split_once('=') {
                            Some((k, v)) => (k.to_string(), v.as_bytes().to_vec()),
                            None => (p, Vec::new()),
                        })
                        .collect();
                    ok_unit(batch::set_many(&bucket, &pairs), wasi_err)
                }
                "delmany" => ok_unit(batch::delete_many(&bucket, &list(2)), wasi_err),
                _ => format!("err:unknown op {name}"),
            };
        }
        match name {
            "var" => match spin_sdk::variables::get(arg(1)) {
                Ok(v) => format!("ok:{v}"),
                Err(e) => format!("err:{e:?}"),
            },
            "now" => match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => format!("ok:{}", d.as_secs()),
                Err(_) => "err:before epoch".into(),
            },
            "print" => {
                println!("{}", arg(1));
                eprintln!("{}", arg(1));
                "ok".into()
            }
            "trap" => panic!("probe asked to trap"),
            _ => format!("err:unknown op {name}"),
        }
    }
}

fn swap(cas: atomics::Cas, new: &str) -> String {
    match atomics::swap(cas, new.as_bytes()) {
        Ok(()) => "ok".into(),
        Err(atomics::CasError::CasFailed(_)) => "err:cas-failed".into(),
        Err(atomics::CasError::StoreError(e)) => wasi_err(e),
    }
}
