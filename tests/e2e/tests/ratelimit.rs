//! Per-org rate limits on our host, in spin-compat mode: an app of its own with low limits,
//! on SQLite and on a real Redis. One org is throttled (REST 429 with `Retry-After`, RPC
//! `Throttling.User`) while another is served in the same window; searches spend a budget
//! of their own. The scenarios are in
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

/// A fresh org of the limited app, seeded through the admin API (not limited).
fn fresh_org(l: &Limited, org: &str) -> catalog_e2e::Door {
    let base = l.app.base_url();
    let creds = catalog_e2e::seed_at(&catalog_e2e::http_client(), &base, org);
    catalog_e2e::Door::new(base, creds)
}

fn scans(backend: Backend) {
    let l = Limited::start(backend);
    let (searcher, other) = (
        fresh_org(&l, "org-searching"),
        fresh_org(&l, "org-browsing"),
    );
    let clock = l.app.clock();
    ratelimit::searches_spend_a_scan_budget_of_their_own(&searcher, &other, &|| {
        clock.unix_seconds()
    });
}

#[test]
fn searches_spend_a_scan_budget_of_their_own_on_sqlite() {
    scans(Backend::Sqlite);
}

#[test]
fn searches_spend_a_scan_budget_of_their_own_on_redis() {
    scans(Backend::Redis);
}

fn operations(backend: Backend) {
    let l = Limited::start(backend);
    ratelimit::operations_past_the_quota_are_refused(&fresh_org(&l, "org-busy"));
}

#[test]
fn operations_past_the_quota_are_refused_on_sqlite() {
    operations(Backend::Sqlite);
}

#[test]
fn operations_past_the_quota_are_refused_on_redis() {
    operations(Backend::Redis);
}

/// The sampled limit on our host, the clock frozen inside one window.
#[test]
fn a_sampled_limit_holds_within_ten_percent_on_sqlite() {
    let variables = ratelimit::sampled_variables();
    let variables: Vec<(&str, &str)> = variables.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let app =
        catalog_e2e::start_app_with(spin_local_host::KvSetup::TempSqlite, true, None, &variables);
    // Frozen at the start of a window: every request falls in it.
    let window = ratelimit::REAL_WINDOW_S;
    app.clock()
        .set_unix(catalog_e2e::T0_SECS - catalog_e2e::T0_SECS % window);
    let base = app.base_url();
    let http = catalog_e2e::http_client();
    let a = catalog_e2e::Door::new(
        base.clone(),
        catalog_e2e::seed_at(&http, &base, "org-sampled"),
    );
    let b = catalog_e2e::Door::new(
        base.clone(),
        catalog_e2e::seed_at(&http, &base, "org-spared"),
    );
    ratelimit::a_sampled_limit_holds_within_ten_percent(&a, &b, false);
}
