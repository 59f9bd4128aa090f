//! The cron component: every tick advances the background operations that are due, by
//! one transition each, and leaves a heartbeat that `GET /healthz` shows.
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
        catalog_model::health::record_tick(&Store::new(&kv, &SpinEnv), metadata.timestamp)
            .map_err(|e| Error::Other(e.to_string()))?;
        let report =
            catalog_model::advancer::tick(&Store::new(&kv, &SpinEnv), &settings, settings.tick_cap);
        match report.error {
            // The failed entry stays due: the next tick retries it.
            Some(e) => Err(Error::Other(format!("tick stopped early: {e}"))),
            None => Ok(()),
        }
    }
}

export!(Advancer);
