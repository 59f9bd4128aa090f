//! Lifetimes through the REST door (the `Idempotency-Key` replay window and its purge, a
//! deleted image's index slot), on our host in spin-compat mode on SQLite and on Redis: the
//! clock is moved past 24 hours. The scenarios are in `catalog_e2e::scenarios::lifetimes`.

use catalog_e2e::scenarios::lifetimes;
use catalog_e2e::{Backend, Harness};

#[test]
fn an_idempotency_key_replays_for_24_hours_then_runs_afresh() {
    lifetimes::an_idempotency_key_replays_for_24_hours_then_runs_afresh(&Harness::start(
        Backend::Sqlite,
        true,
    ));
}

#[test]
fn an_idempotency_key_replays_for_24_hours_then_runs_afresh_on_redis() {
    lifetimes::an_idempotency_key_replays_for_24_hours_then_runs_afresh(&Harness::start(
        Backend::Redis,
        true,
    ));
}

#[test]
fn expired_keys_and_deleted_images_leave_the_store() {
    lifetimes::expired_keys_and_deleted_images_leave_the_store(&Harness::start(
        Backend::Sqlite,
        true,
    ));
}

#[test]
fn expired_keys_and_deleted_images_leave_the_store_on_redis() {
    lifetimes::expired_keys_and_deleted_images_leave_the_store(&Harness::start(
        Backend::Redis,
        true,
    ));
}
