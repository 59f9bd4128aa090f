//! The simulator's verdicts: deterministic draws, fixed failures, inventory checks.

use super::*;
use crate::env::FakeEnv;
use crate::store::MemoryKv;

#[test]
fn draws_are_deterministic_and_spread() {
    let a = draw(1, "tid-1", "replicating", 1, "");
    assert_eq!(a, draw(1, "tid-1", "replicating", 1, ""));
    assert_ne!(a, draw(2, "tid-1", "replicating", 1, ""));
    assert_ne!(a, draw(1, "tid-1", "replicating", 2, ""));
    let below = (0..1000)
        .filter(|i| draw(9, &format!("tid-{i}"), "s", 1, "") < 0.3)
        .count();
    assert!((200..400).contains(&below), "{below}");
}

fn op_at(kv: &MemoryKv, env: &FakeEnv, source: &str, step: usize, attempt: u32) -> Operation {
    let s = Settings::default();
    let st = &Store::new(kv, env);
    let target = ops::Target {
        image_id: "img-1".into(),
        version_id: Some("ver-1".into()),
        source_id: Some(source.into()),
        provider_instance_id: Some("pi-1".into()),
        ..ops::Target::default()
    };
    let id = ops::new_op_id(st);
    let mut op = ops::start(st, &s, &id, "o", OpKind::CopyFromGallery, target).unwrap();
    let def = ops::kind_def(OpKind::CopyFromGallery);
    op.step_index = step as u32;
    op.step = def.steps[step].name.into();
    op.attempt = attempt;
    op
}

#[test]
fn a_fixed_failing_step_hits_only_its_source_step_and_attempts() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
    let sim = Simulation {
        failing_steps: vec![FailRule {
            source_id: "gal-bad".into(),
            step: "validating".into(),
            attempts: Some(1),
            subject: None,
            code: Some("BROKEN".into()),
            stall: false,
        }],
        ..Simulation::default()
    };
    let p = Simulator {
        st: Store::new(&kv, &env),
        sim,
    };
    let bad = p.outcome(&op_at(&kv, &env, "gal-bad", 2, 1)).unwrap();
    assert!(matches!(bad, Outcome::Fail(ref e) if e.code == "BROKEN"));
    let second = p.outcome(&op_at(&kv, &env, "gal-bad", 2, 2)).unwrap();
    assert_eq!(second, Outcome::Done { failed: vec![] });
    let other_step = p.outcome(&op_at(&kv, &env, "gal-bad", 1, 1)).unwrap();
    assert_eq!(other_step, Outcome::Done { failed: vec![] });
    let other_source = p.outcome(&op_at(&kv, &env, "gal-ok", 2, 1)).unwrap();
    assert_eq!(other_source, Outcome::Done { failed: vec![] });
}

#[test]
fn a_copy_needs_the_gallery_image_and_a_grant() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
    let p = Simulator {
        st: Store::new(&kv, &env),
        sim: Simulation::default(),
    };
    let missing = p.outcome(&op_at(&kv, &env, "gal-1", 0, 1)).unwrap();
    assert!(matches!(missing, Outcome::Fail(ref e) if e.code == "SOURCE_IMAGE_NOT_FOUND"));
    let mut g = GalleryImage {
        id: "gal-1".into(),
        os_type: OsType::Windows,
        gpu_type: GpuType::None,
        granted_to: vec!["pi-2".into()],
        prepared_by: None,
        metadata: Default::default(),
        app_scan: Default::default(),
    };
    Store::new(&kv, &env)
        .put_new(&keys::gallery_image("o", "gal-1"), &g)
        .unwrap();
    let denied = p.outcome(&op_at(&kv, &env, "gal-1", 0, 1)).unwrap();
    assert!(matches!(denied, Outcome::Fail(ref e) if e.code == "SOURCE_IMAGE_ACCESS_DENIED"));
    g.granted_to.push("pi-1".into());
    Store::new(&kv, &env)
        .put_new(&keys::gallery_image("o", "gal-1"), &g)
        .unwrap();
    let ok = p.outcome(&op_at(&kv, &env, "gal-1", 0, 1)).unwrap();
    assert_eq!(ok, Outcome::Done { failed: vec![] });
}

#[test]
fn overrides_apply_to_the_settings() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
    let base = Settings::default();
    assert_eq!(
        Simulation::effective(&Store::new(&kv, &env), &base).unwrap(),
        base
    );
    let sim = Simulation {
        step_ms: Some(10),
        max_attempts: Some(0),
        ..Simulation::default()
    };
    Store::new(&kv, &env)
        .put_new(&keys::simulation(), &sim)
        .unwrap();
    let eff = Simulation::effective(&Store::new(&kv, &env), &base).unwrap();
    assert_eq!(eff.step_ms, 10);
    assert_eq!(eff.max_attempts, 1, "at least one attempt");
}
