//! The cron component: every tick advances the background operations that are due, by
//! one transition each, and leaves a heartbeat and its cumulative work (transitions and
//! purges, counted only when a tick did some) that `GET /healthz` shows.
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
        catalog_model::health::record_tick(&st, metadata.timestamp)
            .map_err(|e| Error::Other(e.to_string()))?;
        let report = catalog_model::advancer::tick(&st, &settings, settings.tick_cap);
        // What the tick did is counted even when it stopped early.
        let counted = catalog_model::health::record_work(&st, &report);
        match (report.error, counted) {
            // The failed entry stays due: the next tick retries it.
            (Some(e), _) => Err(Error::Other(format!("tick stopped early: {e}"))),
            (None, Err(e)) => Err(Error::Other(format!("counting the tick's work: {e}"))),
            (None, Ok(())) => Ok(()),
        }
    }
}

export!(Advancer);
