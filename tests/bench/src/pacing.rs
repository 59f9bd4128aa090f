//! Keeping each org under its request limit while a row runs with the default variables
//! (issue 25, item 3): one org sends every request of a row, faster than its limit allows
//! over a whole window, and a 429 fails the bench.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use catalog_model::settings::{
    DEFAULT_RATE_WINDOW_S, DEFAULT_REST_RATE_LIMIT, DEFAULT_RPC_RATE_LIMIT,
};

use crate::loadgen::Target;

/// Before a run the pacer waits for the next rate window if the run could take its org's
/// count in this one past 80 % of the limit (the limiter counts by sampling, within ±10 %).
/// A run is counted whole in the window it ends in, which over-counts a run that spans two.
#[derive(Default)]
pub struct Pacer {
    /// Whose requests (an org's door) → (window, requests counted in it).
    counted: HashMap<String, (u64, u64)>,
}

impl Pacer {
    /// Runs `run`, `n` requests of `target`'s kind, once they fit under its org's limit.
    pub fn run<T>(&mut self, target: &Target, n: u64, run: impl FnOnce() -> T) -> T {
        let Some((who, limit)) = whose(target) else {
            return run();
        };
        let (w, used) = self.counted.get(&who).copied().unwrap_or_default();
        if w == window() && used + n > limit * 8 / 10 {
            let wait = ((w + 1) * DEFAULT_RATE_WINDOW_S).saturating_sub(unix_now()) + 1;
            eprintln!("  (pacing: {wait} s to the next rate window)");
            std::thread::sleep(Duration::from_secs(wait));
        }
        let out = run();
        let now = window();
        let e = self.counted.entry(who).or_insert((now, 0));
        if e.0 != now {
            *e = (now, 0);
        }
        e.1 += n;
        out
    }
}

/// Whose limit a request counts against, and that limit: a signed RPC call (`POST /`) the
/// RPC door's of its org (the bench signs with one org's keys), a REST call its token's
/// org; anything else (the trivial route, `/healthz`, the OpenAPI document) no one's.
fn whose(t: &Target) -> Option<(String, u64)> {
    if t.method == "POST" && t.path == "/" {
        return Some(("rpc".into(), DEFAULT_RPC_RATE_LIMIT));
    }
    let token = t
        .headers
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case("authorization"))?;
    t.path
        .starts_with("/imagemgmt/")
        .then(|| (format!("rest {}", token.1), DEFAULT_REST_RATE_LIMIT))
}

fn window() -> u64 {
    unix_now() / DEFAULT_RATE_WINDOW_S
}

/// Seconds since the Unix epoch by this machine's clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_against_their_orgs_door() {
        let rest = |token: &str| Target {
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            ..Target::get("/imagemgmt/v1/images")
        };
        assert_eq!(whose(&rest("a")).unwrap().1, DEFAULT_REST_RATE_LIMIT);
        assert_ne!(whose(&rest("a")).unwrap().0, whose(&rest("b")).unwrap().0);
        assert_eq!(whose(&Target::get("/healthz")), None);
        let rpc = Target {
            method: "POST",
            ..Target::get("/")
        };
        assert_eq!(whose(&rpc).unwrap().1, DEFAULT_RPC_RATE_LIMIT);
    }
}
