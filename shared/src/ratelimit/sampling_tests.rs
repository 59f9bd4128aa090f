//! The sampled count (module docs, "Sampling" and "Flags"): an org past its limit is
//! refused within 10 % of it, a request is counted (one `increment`) once in
//! [`sample_unit`] on average, and once it is over, every credential of the org is refused
//! without a store call until the window ends, while another org is served.

use super::*;
use crate::env::FakeEnv;
use crate::store::MemoryKv;

/// 2026-11-01T00:00:00Z, the start of a 10-second window.
const T0: Millis = 1_793_491_200_000;

/// An org `org` as the admin API makes it: its record listing `tokens` fresh tokens.
fn org_with_tokens(st: &Store<'_>, org: &str, tokens: usize) -> Vec<String> {
    let mut listed = Vec::new();
    let mut secrets = Vec::new();
    for _ in 0..tokens {
        let (token, r) = crate::auth::new_token(st);
        crate::auth::store_token(st, org, &r).unwrap();
        listed.push(r);
        secrets.push(token);
    }
    let mut record = crate::admin::Org::new(org, None, vec![], crate::time::Timestamp(T0));
    record.tokens = listed;
    st.put_new(&keys::org(org), &record).unwrap();
    secrets
}

fn caller(st: &Store<'_>, token: &str) -> Caller {
    crate::auth::caller_for_token(st, token).unwrap().unwrap()
}

#[test]
fn the_default_limit_is_kept_within_ten_percent_with_an_increment_in_twenty_two() {
    let s = Settings::default();
    let limit = s.rest_rate_limit;
    let k = sample_unit(limit);
    assert_eq!(k, 22);
    for seed in 1..=8u64 {
        let (kv, env) = (MemoryKv::new(), FakeEnv::seeded(T0, seed));
        let st = Store::new(&kv, &env);
        let token = org_with_tokens(&st, "a", 1).remove(0);
        let before = kv.ops();
        let mut passed = 0u64;
        while check(&st, &s, Door::Rest, &caller(&st, &token)) == Verdict::Pass {
            passed += 1;
            assert!(passed <= limit * 2, "seed {seed}: never throttled");
        }
        let lo = limit - limit / 10;
        let hi = limit + limit / 10;
        assert!(
            (lo..=hi).contains(&passed),
            "seed {seed}: throttled after {passed} of a limit of {limit}"
        );
        // The token reads (one a request) aside, about one increment in k.
        let increments = kv.ops() - before - (passed + 1);
        let expected = passed / k;
        assert!(
            increments <= expected * 3 / 2 + 10,
            "seed {seed}: {increments} calls for {passed} requests"
        );
    }
}

#[test]
fn once_over_every_token_of_the_org_is_refused_without_a_store_call_until_the_window_ends() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0 + 4_000));
    let st = Store::new(&kv, &env);
    let s = Settings {
        rest_rate_limit: 3,
        ..Settings::default()
    };
    let tokens = org_with_tokens(&st, "a", 3);
    let other = org_with_tokens(&st, "b", 1).remove(0);
    for _ in 0..3 {
        assert_eq!(
            check(&st, &s, Door::Rest, &caller(&st, &tokens[0])),
            Verdict::Pass
        );
    }
    assert_eq!(
        check(&st, &s, Door::Rest, &caller(&st, &tokens[0])),
        Verdict::Throttled { retry_after_s: 6 }
    );
    // Every token of the org now says so: refused with no store call but its own read.
    for t in &tokens {
        let c = caller(&st, t);
        let before = kv.ops();
        assert_eq!(
            check(&st, &s, Door::Rest, &c),
            Verdict::Throttled { retry_after_s: 6 }
        );
        assert_eq!(
            kv.ops(),
            before,
            "a flagged caller costs the limiter nothing"
        );
    }
    // Another org is served; the RPC door's limit is its own.
    assert_eq!(
        check(&st, &s, Door::Rest, &caller(&st, &other)),
        Verdict::Pass
    );
    // The next window: the flag has lapsed and the org is served again.
    env.advance_ms(6_000);
    assert_eq!(
        check(&st, &s, Door::Rest, &caller(&st, &tokens[1])),
        Verdict::Pass
    );
}

#[test]
fn a_flag_never_brings_back_a_deleted_credential() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let s = Settings {
        rest_rate_limit: 1,
        ..Settings::default()
    };
    let tokens = org_with_tokens(&st, "a", 2);
    let first = caller(&st, &tokens[0]);
    let second = caller(&st, &tokens[1]);
    st.delete(&second.credential).unwrap();
    assert_eq!(check(&st, &s, Door::Rest, &first), Verdict::Pass);
    assert!(matches!(
        check(&st, &s, Door::Rest, &first),
        Verdict::Throttled { .. }
    ));
    assert!(
        crate::auth::caller_for_token(&st, &tokens[1])
            .unwrap()
            .is_none()
    );
}
