//! The cron component: every tick advances the background operations that are due, by
//! one transition each, and leaves a heartbeat and its cumulative work (transitions and
//! purges, counted only when a tick did some) that `GET /healthz` shows. The tick itself
//! is `catalog_model::health::tick`, the same one `POST /admin/v1/engine/tick` runs where
//! no cron trigger exists.
//!
//! It exports `handle-cron-event` of `fermyon:spin-cron@2.0.0` (bound here with
//! wit-bindgen: the plugin's SDK crate is not on crates.io) and uses spin-sdk for the
//! key-value store and variables.

use catalog_model::records::Store;
use catalog_platform::{SpinEnv, SpinKv, settings};

wit_bindgen::generate!({
    path: "../../wit/spin-cron.wit",
    world: "spin-cron",
});

struct Advancer;

impl Guest for Advancer {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let settings = settings().map_err(Error::Other)?;
        let kv = SpinKv::open_default().map_err(|e| Error::Other(e.to_string()))?;
        let st = Store::new(&kv, &SpinEnv);
        // The failed entry stays due: the next tick retries it.
        catalog_model::health::tick(&st, &settings, metadata.timestamp)
            .1
            .map_err(Error::Other)
    }
}

export!(Advancer);
