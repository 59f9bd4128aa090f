//! The cron component: every tick advances the background operations that are due.
//!
//! It exports `handle-cron-event` of `fermyon:spin-cron@2.0.0` (bound here with
//! wit-bindgen: the plugin's SDK crate is not on crates.io) and uses spin-sdk for the
//! key-value store.

use catalog_platform::{SpinEnv, SpinKv};

wit_bindgen::generate!({
    path: "../../wit/spin-cron.wit",
    world: "spin-cron",
});


struct Advancer;

impl Guest for Advancer {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let kv = SpinKv::open_default().map_err(|e| Error::Other(e.to_string()))?;
        catalog_model::health::record_tick(&kv, &SpinEnv, metadata.timestamp)
            .map_err(|e| Error::Other(e.to_string()))?;
        Ok(())
    }
}

export!(Advancer);
