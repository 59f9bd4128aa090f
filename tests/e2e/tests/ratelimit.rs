//! Per-org rate limits on our host, in spin-compat mode: an app of its own with low limits,
//! on SQLite and on a real Redis. One org is throttled (REST 429 with `Retry-After`, RPC
//! `Throttling.User`) while another is served in the same window. The scenarios are in
//! `catalog_e2e::scenarios::ratelimit`.

use catalog_e2e::Backend;
use catalog_e2e::scenarios::ratelimit::{self, Limited};

#[test]
fn one_org_is_throttled_while_another_is_served_on_sqlite() {
    ratelimit::one_org_is_throttled_while_another_is_served(&Limited::start(Backend::Sqlite));
}

#[test]
fn one_org_is_throttled_while_another_is_served_on_redis() {
    ratelimit::one_org_is_throttled_while_another_is_served(&Limited::start(Backend::Redis));
}
