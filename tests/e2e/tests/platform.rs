//! The app as a Spin app: health, the cron heartbeat, unknown routes, store failures. The
//! scenarios are in `catalog_e2e::scenarios::platform`.

use catalog_e2e::scenarios;
use catalog_e2e::scenarios::platform::*;

scenarios!(
    healthz_shows_the_app_and_the_last_tick,
    healthz_shows_a_newer_tick_after_a_tick,
    unknown_paths_get_a_json_404,
    a_failing_store_is_a_clean_503_and_recovers,
    admin_needs_the_admin_token
);
