//! Hostile input through the REST door (and the RPC door's cross-org checks), on our host
//! in spin-compat mode on SQLite. The scenarios are in `catalog_e2e::scenarios::hostile`.

use catalog_e2e::scenarios::hostile;
use catalog_e2e::{Backend, Harness};

#[test]
fn another_org_can_neither_see_nor_change_anything_through_rest() {
    hostile::another_org_can_neither_see_nor_change_anything_through_rest(&Harness::start(
        Backend::Sqlite,
        true,
    ));
}

#[test]
fn another_org_can_neither_see_nor_delete_a_capture_through_rpc() {
    hostile::another_org_can_neither_see_nor_delete_a_capture_through_rpc(&Harness::start(
        Backend::Sqlite,
        true,
    ));
}

#[test]
fn oversize_deep_and_non_json_bodies_are_refused() {
    hostile::oversize_deep_and_non_json_bodies_are_refused(&Harness::start(Backend::Sqlite, true));
}

#[test]
fn garbage_methods_paths_headers_and_bodies_never_get_a_5xx_or_an_empty_answer() {
    hostile::garbage_methods_paths_headers_and_bodies_never_get_a_5xx_or_an_empty_answer(
        &Harness::start(Backend::Sqlite, true),
    );
}

#[test]
fn signed_rpc_calls_with_garbage_parameters_never_get_a_5xx() {
    hostile::signed_rpc_calls_with_garbage_parameters_never_get_a_5xx(&Harness::start(
        Backend::Sqlite,
        true,
    ));
}
