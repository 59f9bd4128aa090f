//! The web console's files on our host. The scenario is in `catalog_e2e::scenarios::console`;
//! `tests/browser` drives the console itself in headless Chromium (`./dev test`); real Spin
//! runs the scenario too (`real_spin.rs`).

use catalog_e2e::scenarios;
use catalog_e2e::scenarios::console::*;

scenarios!(console_files_carry_their_headers_and_stay_on_the_origin);
