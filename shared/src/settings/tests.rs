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
