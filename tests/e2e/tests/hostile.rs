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

/// Set in the process [`huge_bodies_are_refused_unread_in_bounded_memory`] runs alone in.
const ALONE: &str = "CATALOG_E2E_MEASURED_ALONE";

/// Measures the memory of the process our host runs in, so it runs in a process of its
/// own: this test binary again, with only this test (the others start apps of their own,
/// whose compilation alone would swamp the measure).
#[test]
fn huge_bodies_are_refused_unread_in_bounded_memory() {
    if std::env::var_os(ALONE).is_some() {
        hostile::huge_bodies_are_refused_unread_in_bounded_memory(&Harness::start(
            Backend::Sqlite,
            true,
        ));
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let status = std::process::Command::new(exe)
        .args([
            "huge_bodies_are_refused_unread_in_bounded_memory",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ALONE, "1")
        .status()
        .expect("running the test alone");
    assert!(status.success(), "measured alone: {status}");
}
