use super::*;
use serde_json::Value;

fn from_vector(text: &str) -> Params {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let target = v["target"].as_str().unwrap_or_default();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let body = v["body"].as_str().unwrap_or_default();
    Params::parse(
        query,
        body.as_bytes(),
        Some("application/x-www-form-urlencoded"),
    )
}

fn p(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(pairs.iter().copied())
}

fn invalid_name(e: Result<impl std::fmt::Debug, ParamError>) -> String {
    match e {
        Err(ParamError::Invalid { name, .. }) => name,
        other => format!("not InvalidParameter: {other:?}"),
    }
}

fn missing_name(e: Result<impl std::fmt::Debug, ParamError>) -> String {
    match e {
        Err(ParamError::Missing(name)) => name,
        other => format!("not MissingParameter: {other:?}"),
    }
}

#[test]
fn query_and_form_body_merge_and_the_body_wins() {
    let ps = Params::parse(
        "A=q&B=from+query&C=%2F",
        b"B=from%20body&D=x+y",
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
    );
    assert_eq!(ps.get("A"), Some("q"));
    assert_eq!(ps.get("B"), Some("from body"));
    assert_eq!(ps.get("C"), Some("/"));
    assert_eq!(ps.get("D"), Some("x y"));
    // No content type: still a form (curl -d without -H).
    assert_eq!(Params::parse("", b"D=1", None).get("D"), Some("1"));
}

#[test]
fn parse_checked_refuses_a_name_given_twice_and_names_it() {
    let form = Some("application/x-www-form-urlencoded");
    let cases: [(&str, &[u8], &str); 6] = [
        ("A=1&A=2", b"", "A"),
        ("A=1&A=1", b"", "A"),
        ("", b"B=1&C=2&B=3", "B"),
        ("TagList.1.Key=k", b"TagList.1.Key=k", "TagList.1.Key"),
        // Decoded names compare: `%41` is `A`, `+` a space, a bare name is `name=`.
        ("A=1", b"%41=2", "A"),
        ("a+b&a%20b=", b"", "a b"),
    ];
    for (query, body, name) in cases {
        let e = Params::parse_checked(query, body, form);
        assert_eq!(invalid_name(e.clone()), name, "{query} / {body:?}");
        let r = e.err().map(|e| e.to_rpc_error());
        assert_eq!(
            r.as_ref().map(|r| (r.status, r.code.as_str())),
            Some((400, "InvalidParameter"))
        );
        assert!(
            r.is_some_and(|r| r.message.contains(name) && r.message.contains("more than once"))
        );
    }
    // Distinct names (names are case-sensitive), and a body that is not parameters, pass.
    let ok = Params::parse_checked("A=1&a=2", b"B=1", form);
    assert_eq!(
        ok.map(|p| p.get("B").map(str::to_string)),
        Ok(Some("1".into()))
    );
    let json = Params::parse_checked("A=1", b"A=2", Some("application/json"));
    assert_eq!(
        json.map(|p| p.get("A").map(str::to_string)),
        Ok(Some("1".into()))
    );
}

#[test]
fn the_body_is_parameters_only_when_non_empty_and_form() {
    assert!(body_is_parameters(b"A=1", None));
    assert!(body_is_parameters(
        b"A=1",
        Some(" Application/X-WWW-Form-Urlencoded ; charset=UTF-8")
    ));
    assert!(!body_is_parameters(b"", None));
    assert!(!body_is_parameters(b"A=1", Some("application/json")));
    assert!(!body_is_parameters(b"A=1", Some("")));
    assert!(!body_is_parameters(
        b"A=1",
        Some("text/plain; x=application/x-www-form-urlencoded")
    ));
}

#[test]
fn a_non_form_body_is_not_parameters() {
    let ps = Params::parse("A=1", br#"{"B":2}"#, Some("application/json"));
    assert_eq!(ps.get("A"), Some("1"));
    assert_eq!(ps.get("B"), None);
    assert_eq!(ps.get(r#"{"B":2}"#), None);
}

#[test]
fn names_are_case_sensitive_and_empty_counts_as_absent() {
    let ps = p(&[("ImageId", ""), ("imagename", "x")]);
    assert_eq!(ps.get("ImageId"), Some(""));
    assert_eq!(ps.optional("ImageId"), None);
    assert_eq!(missing_name(ps.required("ImageId")), "ImageId");
    assert_eq!(ps.optional("ImageName"), None);
}

#[test]
fn form_decode_is_lenient() {
    assert_eq!(form_decode("a+b%20c%2b"), b"a b c+".to_vec());
    assert_eq!(form_decode("%"), b"%".to_vec());
    assert_eq!(form_decode("%4"), b"%4".to_vec());
    assert_eq!(form_decode("%zz%41"), b"%zzA".to_vec());
    assert_eq!(form_decode("%C3%A9"), "é".as_bytes().to_vec());
}

#[test]
fn booleans_in_any_case() {
    for (v, want) in [
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("false", false),
        ("False", false),
    ] {
        assert_eq!(p(&[("B", v)]).bool("B"), Ok(Some(want)), "{v}");
    }
    assert_eq!(p(&[]).bool("B"), Ok(None));
    assert_eq!(invalid_name(p(&[("B", "yes")]).bool("B")), "B");
    assert_eq!(invalid_name(p(&[("B", "1")]).bool("B")), "B");
}

#[test]
fn integers_are_decimal_and_range_checked() {
    assert_eq!(p(&[("N", "42")]).int("N", 1, 100), Ok(Some(42)));
    assert_eq!(p(&[("N", "-3")]).int("N", -5, 5), Ok(Some(-3)));
    for bad in ["0", "101", "4.2", "0x10", "ten", "99999999999999999999"] {
        assert_eq!(
            invalid_name(p(&[("N", bad)]).int("N", 1, 100)),
            "N",
            "{bad}"
        );
    }
}

#[test]
fn flattened_lists_in_index_order() {
    let ps = p(&[
        ("DestinationRegionList.10", "c"),
        ("DestinationRegionList.2", "b"),
        ("DestinationRegionList.1", "a"),
        ("DestinationRegionListX", "ignored"),
    ]);
    assert_eq!(
        ps.list("DestinationRegionList"),
        Ok(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(p(&[]).list("L"), Ok(vec![]));
    assert_eq!(invalid_name(p(&[("L.0", "a")]).list("L")), "L.0");
    assert_eq!(invalid_name(p(&[("L.x", "a")]).list("L")), "L.x");
    assert_eq!(invalid_name(p(&[("L.101", "a")]).list("L")), "L.101");
    assert_eq!(invalid_name(p(&[("L.1.Key", "a")]).list("L")), "L.1.Key");
}

#[test]
fn tag_lists() {
    let ps = p(&[
        ("TagList.2.Key", "team"),
        ("TagList.1.Value", "prod"),
        ("TagList.1.Key", "env"),
    ]);
    assert_eq!(
        ps.tags("TagList"),
        Ok(vec![
            Tag {
                key: "env".into(),
                value: "prod".into()
            },
            Tag {
                key: "team".into(),
                value: String::new()
            },
        ])
    );
    // The vendor marks Key and Value optional: an absent one is empty; an entry with
    // neither is dropped.
    assert_eq!(
        p(&[("TagList.1.Value", "v"), ("TagList.2.Key", "")]).tags("TagList"),
        Ok(vec![Tag {
            key: String::new(),
            value: "v".into()
        }])
    );
    assert_eq!(
        invalid_name(p(&[("TagList.1.Name", "v")]).tags("TagList")),
        "TagList.1.Name"
    );
}

#[test]
fn action_and_version_from_headers_or_parameters() {
    let empty = p(&[]);
    assert_eq!(
        resolve_action(Some("ListImage"), Some("2021-09-01"), &empty),
        Ok(Action::ListImage)
    );
    let q = p(&[("Action", "DeleteImage"), ("Version", "2021-09-01")]);
    assert_eq!(resolve_action(None, None, &q), Ok(Action::DeleteImage));
    // The header wins over the parameter.
    assert_eq!(
        resolve_action(Some("ListImage"), None, &q),
        Ok(Action::ListImage)
    );
    for a in Action::ALL {
        assert_eq!(Action::from_name(a.name()), Some(a));
    }
}

#[test]
fn unknown_action_is_404_and_unknown_version_400() {
    let e = resolve_action(Some("DescribeImages"), Some("2021-09-01"), &p(&[]))
        .map_err(|e| e.to_rpc_error());
    assert_eq!(
        e.map_err(|e| (e.status, e.code)),
        Err((404, "InvalidAction.NotFound".into()))
    );
    let e = resolve_action(Some("listimage"), Some("2021-09-01"), &p(&[]));
    assert_eq!(e, Err(ParamError::UnknownAction("listimage".into())));
    let e = resolve_action(Some("ListImage"), Some("2020-01-01"), &p(&[]))
        .map_err(|e| e.to_rpc_error());
    assert_eq!(
        e.map_err(|e| (e.status, e.code)),
        Err((400, "InvalidVersion".into()))
    );
    assert_eq!(
        missing_name(resolve_action(None, Some("2021-09-01"), &p(&[]))),
        "Action"
    );
    assert_eq!(
        missing_name(resolve_action(Some("ListImage"), None, &p(&[]))),
        "Version"
    );
}

#[test]
fn error_messages_name_the_parameter() {
    let m = ParamError::Missing("ImageId".into()).to_rpc_error();
    assert_eq!((m.status, m.code.as_str()), (400, "MissingParameter"));
    assert!(m.message.contains("ImageId"), "{}", m.message);
    let i = ParamError::Invalid {
        name: "PageSize".into(),
        reason: "too big".into(),
    }
    .to_rpc_error();
    assert_eq!((i.status, i.code.as_str()), (400, "InvalidParameter"));
    assert!(
        i.message.contains("PageSize") && i.message.contains("too big"),
        "{}",
        i.message
    );
}

#[test]
fn create_image_by_instance_from_the_sdk_capture() {
    let ps = from_vector(include_str!("../../testdata/create_image_by_instance.json"));
    let r = CreateImageByInstance::parse(&ps);
    assert_eq!(
        r,
        Ok(CreateImageByInstance {
            instance_id: "ai-0123abcd".into(),
            instance_type: Some(InstanceType::CloudDesktop),
            sub_instance_id: None,
            image_name: Some("my image (v1)".into()),
            description: Some("golden image & friends: 100% ok".into()),
            auto_clean_userdata: false,
            disk_type: DiskType::All,
            tags: vec![
                Tag {
                    key: "env".into(),
                    value: "prod".into()
                },
                Tag {
                    key: "team name".into(),
                    value: "a/b+c".into()
                },
            ],
            biz_type: None,
            product_type: Some("CloudDesktop".into()),
            copy_profile: None,
        })
    );
}

fn desktop(extra: &[(&str, &str)]) -> Params {
    let mut pairs = vec![
        ("InstanceId", "ai-1"),
        ("InstanceType", "CloudDesktop"),
        ("ImageName", "n"),
    ];
    pairs.extend_from_slice(extra);
    p(&pairs)
}

fn server(extra: &[(&str, &str)]) -> Params {
    let mut pairs = vec![
        ("InstanceId", "ws-1"),
        ("InstanceType", "WuyingServer"),
        ("ImageName", "n"),
    ];
    pairs.extend_from_slice(extra);
    p(&pairs)
}

#[test]
fn create_image_by_instance_rules() {
    // Only InstanceId is needed; everything else has a default (capture::resolve).
    assert_eq!(
        missing_name(CreateImageByInstance::parse(&p(&[
            ("InstanceType", "CloudDesktop"),
            ("ImageName", "n"),
        ]))),
        "InstanceId"
    );
    assert_eq!(
        CreateImageByInstance::parse(&p(&[("InstanceId", "ai-1")])),
        Ok(CreateImageByInstance {
            instance_id: "ai-1".into(),
            instance_type: None,
            sub_instance_id: None,
            image_name: None,
            description: None,
            auto_clean_userdata: false,
            disk_type: DiskType::All,
            tags: vec![],
            biz_type: None,
            product_type: None,
            copy_profile: None,
        })
    );
    // Without a type, the type-bound parameters wait for the instance.
    let untyped = CreateImageByInstance::parse(&p(&[
        ("InstanceId", "ai-1"),
        ("SubInstanceId", "s-1"),
        ("AutoCleanUserdata", "true"),
    ]));
    assert!(untyped.is_ok(), "{untyped:?}");
    let bad_type = p(&[
        ("InstanceId", "ai-1"),
        ("InstanceType", "Ecs"),
        ("ImageName", "n"),
    ]);
    assert_eq!(
        invalid_name(CreateImageByInstance::parse(&bad_type)),
        "InstanceType"
    );
    assert_eq!(
        invalid_name(CreateImageByInstance::parse(&desktop(&[(
            "SubInstanceId",
            "s-1"
        )]))),
        "SubInstanceId"
    );
    assert_eq!(
        invalid_name(CreateImageByInstance::parse(&server(&[(
            "AutoCleanUserdata",
            "true"
        )]))),
        "AutoCleanUserdata"
    );
    assert_eq!(
        invalid_name(CreateImageByInstance::parse(&desktop(&[(
            "DiskType", "DATA"
        )]))),
        "DiskType"
    );
    assert_eq!(
        invalid_name(CreateImageByInstance::parse(&desktop(&[(
            "DiskType", "system"
        )]))),
        "DiskType"
    );
    assert_eq!(
        invalid_name(CreateImageByInstance::parse(&desktop(&[(
            "AutoCleanUserdata",
            "maybe"
        )]))),
        "AutoCleanUserdata"
    );
    assert_eq!(
        invalid_name(CreateImageByInstance::parse(&desktop(&[("BizType", "x")]))),
        "BizType"
    );

    let ws = CreateImageByInstance::parse(&server(&[
        ("SubInstanceId", "s-1"),
        ("AutoCleanUserdata", "False"),
        ("DiskType", "SYSTEM"),
    ]));
    assert_eq!(
        ws.as_ref()
            .map(|r| (r.instance_type, r.sub_instance_id.clone(), r.disk_type)),
        Ok((
            Some(InstanceType::WuyingServer),
            Some("s-1".into()),
            DiskType::System
        ))
    );
    let cd = CreateImageByInstance::parse(&desktop(&[
        ("AutoCleanUserdata", "TRUE"),
        ("BizType", "2"),
        ("CopyProfile", "true"),
    ]));
    assert_eq!(
        cd.as_ref().map(|r| (
            r.auto_clean_userdata,
            r.disk_type,
            r.biz_type,
            r.copy_profile
        )),
        Ok((true, DiskType::All, Some(2), Some(true)))
    );
}

#[test]
fn list_image_from_the_sdk_capture_and_defaults() {
    let ps = from_vector(include_str!("../../testdata/list_image.json"));
    let r = ListImage::parse(&ps);
    assert_eq!(
        r,
        Ok(ListImage {
            image_id: None,
            image_name: Some("gold".into()),
            status: Some("AVAILABLE".into()),
            image_type: Some("User".into()),
            os_type: None,
            product_type: None,
            tags: vec![Tag {
                key: "env".into(),
                value: "prod".into()
            }],
            page_number: 2,
            page_size: 20,
        })
    );
    assert_eq!(r.map(|r| r.offset()), Ok(20));
    let d = ListImage::parse(&p(&[]));
    assert_eq!(
        d.as_ref().map(|r| (r.page_number, r.page_size, r.offset())),
        Ok((1, 10, 0))
    );
}

#[test]
fn list_image_rules() {
    assert_eq!(
        ListImage::parse(&p(&[("PageSize", "100")])).map(|r| r.page_size),
        Ok(100)
    );
    assert_eq!(
        invalid_name(ListImage::parse(&p(&[("PageSize", "101")]))),
        "PageSize"
    );
    assert_eq!(
        invalid_name(ListImage::parse(&p(&[("PageSize", "0")]))),
        "PageSize"
    );
    assert_eq!(
        invalid_name(ListImage::parse(&p(&[("PageNumber", "0")]))),
        "PageNumber"
    );
    assert_eq!(
        invalid_name(ListImage::parse(&p(&[("Status", "DELETED")]))),
        "Status"
    );
    for s in IMAGE_STATUSES {
        assert_eq!(
            ListImage::parse(&p(&[("Status", s)])).map(|r| r.status),
            Ok(Some(s.to_string()))
        );
    }
    let big = ListImage::parse(&p(&[("PageNumber", "4294967295"), ("PageSize", "100")]));
    assert_eq!(big.map(|r| r.offset()), Ok(429_496_729_400));
}

#[test]
fn delete_image_needs_an_image_id() {
    let ps = from_vector(include_str!("../../testdata/delete_image.json"));
    assert_eq!(
        DeleteImage::parse(&ps),
        Ok(DeleteImage {
            image_id: "imgc-0123456789".into()
        })
    );
    assert_eq!(missing_name(DeleteImage::parse(&p(&[]))), "ImageId");
}

#[test]
fn distribute_from_the_sdk_capture_and_rules() {
    let ps = from_vector(include_str!(
        "../../testdata/start_task_for_distribute_image.json"
    ));
    assert_eq!(
        StartTaskForDistributeImage::parse(&ps),
        Ok(StartTaskForDistributeImage {
            image_id: "imgc-0123456789".into(),
            version_id: Some("iv-0123456789".into()),
            destination_regions: vec!["cn-shanghai".into(), "cn-beijing".into()],
            source_region: Some("cn-hangzhou".into()),
            product_type: Some("CloudApp".into()),
            retry_type: Some("ALL".into()),
        })
    );
    assert_eq!(
        missing_name(StartTaskForDistributeImage::parse(&p(&[(
            "DestinationRegionList.1",
            "a"
        )]))),
        "ImageId"
    );
    assert_eq!(
        missing_name(StartTaskForDistributeImage::parse(&p(&[("ImageId", "i")]))),
        "DestinationRegionList"
    );
    let dup = StartTaskForDistributeImage::parse(&p(&[
        ("ImageId", "i"),
        ("DestinationRegionList.1", "a"),
        ("DestinationRegionList.2", "b"),
        ("DestinationRegionList.3", "a"),
    ]));
    assert_eq!(
        dup.map(|r| (r.destination_regions, r.version_id)),
        Ok((vec!["a".into(), "b".into()], None))
    );
}

#[test]
fn rpc_request_dispatches_to_the_action_parser() {
    let ps = p(&[("ImageId", "imgc-1")]);
    assert_eq!(
        RpcRequest::parse(Action::DeleteImage, &ps),
        Ok(RpcRequest::DeleteImage(DeleteImage {
            image_id: "imgc-1".into()
        }))
    );
    assert!(matches!(
        RpcRequest::parse(Action::ListImage, &ps),
        Ok(RpcRequest::ListImage(_))
    ));
    assert_eq!(
        missing_name(RpcRequest::parse(Action::CreateImageByInstance, &ps)),
        "InstanceId"
    );
    assert_eq!(
        missing_name(RpcRequest::parse(Action::StartTaskForDistributeImage, &ps)),
        "DestinationRegionList"
    );
}

mod properties;
