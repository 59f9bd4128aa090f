use super::*;
use crate::appstream::params::Params;
use crate::imagemgmt::input::ImageName;
use crate::vocab::OsType;

/// 2026-11-30T03:45:12Z.
const NOW: Millis = 1_796_010_312_000;

fn parse(pairs: &[(&str, &str)]) -> CreateImageByInstance {
    CreateImageByInstance::parse(&Params::from_pairs(pairs.iter().copied())).unwrap()
}

fn instance(t: sim::InstanceType) -> sim::Instance {
    sim::Instance {
        id: "ecd-1".into(),
        instance_type: t,
        os_type: OsType::Windows,
        centralized_image: true,
        physical_node: true,
        base_image_configured: true,
        sub_instances: vec!["ps-1".into()],
    }
}

fn code(e: Result<Resolved, RpcError>) -> String {
    match e {
        Ok(r) => format!("accepted: {r:?}"),
        Err(e) => e.code,
    }
}

#[test]
fn a_generated_name_names_the_instance_and_the_time_and_is_a_valid_rest_name() {
    assert_eq!(iso8601_s(NOW), "2026-11-30T03:45:12Z");
    assert_eq!(generated_name("ecd-1", NOW), "ecd-1-20261130034512");
    for id in ["ecd-1", "a.b:c", &"x".repeat(128), ":", "é"] {
        let name = generated_name(id, NOW);
        assert!(ImageName::parse(&name).is_ok(), "{id}: {name}");
        assert!(name.ends_with("-20261130034512"), "{name}");
    }
    assert_eq!(generated_name("a.b:c", NOW), "a-b-c-20261130034512");
    assert_eq!(generated_name("", NOW), "image-20261130034512");
}

#[test]
fn without_instance_type_or_name_the_instance_and_a_generated_name_decide() {
    let r = parse(&[("InstanceId", "ecd-1")]);
    let ws = resolve(&r, &instance(sim::InstanceType::WuyingServer), NOW);
    assert_eq!(
        ws,
        Ok(Resolved {
            instance_type: InstanceType::WuyingServer,
            image_name: "ecd-1-20261130034512".into(),
            product_type: "WuyingServer".into(),
        })
    );
    let cd = resolve(&r, &instance(sim::InstanceType::CloudDesktop), NOW);
    assert_eq!(
        cd.map(|r| (r.instance_type, r.product_type)),
        Ok((InstanceType::CloudDesktop, "CloudDesktop".into()))
    );
    // Given values win over the defaults.
    let r = parse(&[
        ("InstanceId", "ecd-1"),
        ("ImageName", "mine"),
        ("ProductType", "CloudApp"),
    ]);
    let got = resolve(&r, &instance(sim::InstanceType::CloudDesktop), NOW);
    assert_eq!(
        got.map(|r| (r.image_name, r.product_type)),
        Ok(("mine".into(), "CloudApp".into()))
    );
}

#[test]
fn not_found_is_desktop_instance_not_found_only_when_a_desktop_was_asked_for() {
    let bare = parse(&[("InstanceId", "nope")]);
    assert_eq!(instance_not_found(&bare, "").code, "Instance.NotFound");
    let cd = parse(&[("InstanceId", "nope"), ("InstanceType", "CloudDesktop")]);
    assert_eq!(instance_not_found(&cd, "").code, "DesktopInstance.NotFound");
    let ws = parse(&[("InstanceId", "nope"), ("InstanceType", "WuyingServer")]);
    assert_eq!(instance_not_found(&ws, "").code, "Instance.NotFound");
    // A given type that is not the instance's: not found as that type.
    assert_eq!(
        code(resolve(
            &cd,
            &instance(sim::InstanceType::WuyingServer),
            NOW
        )),
        "DesktopInstance.NotFound"
    );
    assert_eq!(
        code(resolve(
            &ws,
            &instance(sim::InstanceType::CloudDesktop),
            NOW
        )),
        "Instance.NotFound"
    );
}

#[test]
fn type_bound_parameters_are_checked_against_the_instances_own_type() {
    let desktop = instance(sim::InstanceType::CloudDesktop);
    let server = instance(sim::InstanceType::WuyingServer);
    let sub = parse(&[("InstanceId", "ecd-1"), ("SubInstanceId", "ps-1")]);
    assert_eq!(code(resolve(&sub, &desktop, NOW)), "InvalidParameter");
    assert!(resolve(&sub, &server, NOW).is_ok());
    let clean = parse(&[("InstanceId", "ecd-1"), ("AutoCleanUserdata", "true")]);
    assert_eq!(code(resolve(&clean, &server, NOW)), "InvalidParameter");
    assert!(resolve(&clean, &desktop, NOW).is_ok());
    let other_session = parse(&[("InstanceId", "ecd-1"), ("SubInstanceId", "ps-9")]);
    assert_eq!(
        code(resolve(&other_session, &server, NOW)),
        "Instance.NotFound"
    );
}

#[test]
fn the_instances_conditions_keep_their_codes_and_order() {
    let r = parse(&[("InstanceId", "ecd-1")]);
    let mut i = instance(sim::InstanceType::CloudDesktop);
    i.base_image_configured = false;
    assert_eq!(code(resolve(&r, &i, NOW)), "InvalidBaseImage.NotConfigured");
    i.physical_node = false;
    assert_eq!(code(resolve(&r, &i, NOW)), "Instance.PhysicalNodeNotExist");
    i.centralized_image = false;
    assert_eq!(code(resolve(&r, &i, NOW)), "Instance.ImageUnsupported");
}

#[test]
fn lengths_are_checked_only_for_given_texts() {
    assert!(check_lengths(&parse(&[("InstanceId", "ecd-1")])).is_ok());
    let long = "n".repeat(MAX_NAME_CHARS + 1);
    let e = check_lengths(&parse(&[("InstanceId", "ecd-1"), ("ImageName", &long)]));
    assert_eq!(e.map_err(|e| e.code), Err("InvalidParameter".to_owned()));
    let long = "d".repeat(MAX_DESCRIPTION_CHARS + 1);
    let e = check_lengths(&parse(&[("InstanceId", "ecd-1"), ("Description", &long)]));
    assert_eq!(e.map_err(|e| e.code), Err("InvalidParameter".to_owned()));
}
