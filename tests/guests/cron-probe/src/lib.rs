//! Cron probe for the local host: each tick counts itself in the `default` store
//! (`cron.ticks`, via `increment`) and records the metadata timestamp (`cron.last`).
//! A tick fails with `Err(other)` when the key `cron.fail` exists and traps when
//! `cron.trap` exists, so tests can prove neither stops the host.
use spin_sdk::key_value::Store;
use spin_sdk::wit::wasi::keyvalue::{atomics, store};

wit_bindgen::generate!({
    world: "spin-cron",
    path: "../../../wit/spin-cron.wit",
});

struct Cron;

impl Guest for Cron {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let other = |e: String| Error::Other(e);
        let kv = Store::open_default().map_err(|e| other(format!("{e:?}")))?;
        if kv.exists("cron.trap").unwrap_or(false) {
            panic!("cron probe asked to trap");
        }
        if kv.exists("cron.fail").unwrap_or(false) {
            return Err(other("cron probe asked to fail".into()));
        }
        let bucket = store::open("default").map_err(|e| other(format!("{e:?}")))?;
        atomics::increment(&bucket, "cron.ticks", 1).map_err(|e| other(format!("{e:?}")))?;
        kv.set("cron.last", metadata.timestamp.to_string().as_bytes())
            .map_err(|e| other(format!("{e:?}")))?;
        println!("tick at {}", metadata.timestamp);
        Ok(())
    }
}

export!(Cron);
