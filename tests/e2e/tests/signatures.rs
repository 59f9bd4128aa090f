//! The RPC door's strictness (one request, one reading) over HTTP, on our host in
//! spin-compat mode on SQLite. The scenario is in `catalog_e2e::scenarios::signatures`.

use catalog_e2e::scenarios::signatures;
use catalog_e2e::{Backend, Harness};

#[test]
fn ambiguous_rpc_requests_are_refused_with_their_codes() {
    signatures::ambiguous_rpc_requests_are_refused_with_their_codes(&Harness::start(
        Backend::Sqlite,
        true,
    ));
}
