//! Settings from Spin variables, and the retry backoff.

use super::*;

#[test]
fn settings_read_spin_variables() {
    let s = Settings::from_vars(|n| match n {
        "step_ms" => Some("100".into()),
        "max_attempts" => Some("5".into()),
        "poll_ms" => Some("".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(s.step_ms, 100);
    assert_eq!(s.max_attempts, 5);
    assert_eq!(s.poll_ms, Settings::default().poll_ms);
    let e = Settings::from_vars(|n| (n == "backoff_ms").then(|| "-1".into())).unwrap_err();
    assert!(e.contains("backoff_ms"));
    assert_eq!(s.backoff_before(2), s.backoff_ms);
    assert_eq!(s.backoff_before(4), 4 * s.backoff_ms);
}

#[test]
fn rate_limits_read_spin_variables_and_zero_is_no_limit() {
    let d = Settings::default();
    assert_eq!(
        (d.rate_window_s, d.rest_rate_limit, d.rpc_rate_limit),
        (
            DEFAULT_RATE_WINDOW_S,
            DEFAULT_REST_RATE_LIMIT,
            DEFAULT_RPC_RATE_LIMIT
        )
    );
    let s = Settings::from_vars(|n| match n {
        "rate_window_s" => Some("2".into()),
        "rest_rate_limit" => Some("0".into()),
        "rpc_rate_limit" => Some(" 7 ".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(
        (s.rate_window_s, s.rest_rate_limit, s.rpc_rate_limit),
        (2, 0, 7)
    );
    let empty = Settings::from_vars(|n| (n == "rest_rate_limit").then(String::new)).unwrap();
    assert_eq!(empty.rest_rate_limit, DEFAULT_REST_RATE_LIMIT);
    // A window of 0 is no window; a limit must be a number.
    let e = Settings::from_vars(|n| (n == "rate_window_s").then(|| "0".into())).unwrap_err();
    assert!(e.contains("rate_window_s"), "{e}");
    for bad in ["-1", "x", "1.5"] {
        let e = Settings::from_vars(|n| (n == "rpc_rate_limit").then(|| bad.into())).unwrap_err();
        assert!(
            e.contains("rpc_rate_limit") && e.contains("0: no limit"),
            "{e}"
        );
    }
}
