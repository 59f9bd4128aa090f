//! Each vendor's own vocabulary for its own resources. Gallery images, VMs and provider
//! instances are Horizon (Azure) resources and take the Horizon names (`WINDOWS`, `LINUX`,
//! …); a WUYING instance also takes WUYING's own spelling of its OS type, `Windows` and
//! `Linux`, the casing the RPC door answers in (ListImage's `OsType`).

use crate::vocab::OsType;

/// What a WUYING instance's `osType` may be, for the 400 that names the field.
pub const INSTANCE_OS_TYPES: &str =
    "Windows, Linux (WUYING's spelling) or CLIENT, LINUX, SERVER, WINDOWS, WVD";

/// A WUYING instance's `osType`: WUYING's `Windows`/`Linux`, or a Horizon name (accepted
/// before WUYING's spelling was, and kept).
pub fn instance_os_type(s: &str) -> Option<OsType> {
    match s {
        "Windows" => Some(OsType::Windows),
        "Linux" => Some(OsType::Linux),
        other => other.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{body, call, setup};
    use super::*;
    use crate::appstream::service::rpc_os_type;
    use crate::records::Store;
    use serde_json::json;

    #[test]
    fn wuying_spellings_and_horizon_names_for_an_instance() {
        assert_eq!(instance_os_type("Windows"), Some(OsType::Windows));
        assert_eq!(instance_os_type("Linux"), Some(OsType::Linux));
        assert_eq!(instance_os_type("WINDOWS"), Some(OsType::Windows));
        assert_eq!(instance_os_type("SERVER"), Some(OsType::Server));
        assert_eq!(instance_os_type("windows"), None);
        assert_eq!(instance_os_type("Android"), None);
        // What the RPC door answers is accepted back.
        for os in OsType::ALL {
            assert!(instance_os_type(rpc_os_type(*os)).is_some(), "{os}");
        }
    }

    #[test]
    fn the_admin_api_takes_wuying_os_types_for_wuying_instances_only() {
        let (kv, env) = setup();
        for (given, stored) in [
            ("Windows", OsType::Windows),
            ("Linux", OsType::Linux),
            ("LINUX", OsType::Linux),
            ("WVD", OsType::Wvd),
        ] {
            let r = call(
                &Store::new(&kv, &env),
                "PUT",
                "/admin/v1/orgs/o1/instances/i-1",
                &format!(r#"{{"instanceType":"WuyingServer","osType":"{given}"}}"#),
            );
            assert_eq!(r.status, 200, "{given}");
            let i = crate::sim::instance(&Store::new(&kv, &env), "o1", "i-1")
                .unwrap()
                .unwrap();
            assert_eq!(i.os_type, stored, "{given}");
        }
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1/instances/i-1",
            r#"{"osType":"linux"}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(body(&r)["errors"][0]["field"], json!("osType"));
        // Horizon resources keep Horizon's names.
        for path in [
            "/admin/v1/orgs/o1/gallery-images/g-1",
            "/admin/v1/orgs/o1/vms/vm-1",
        ] {
            let r = call(
                &Store::new(&kv, &env),
                "PUT",
                path,
                r#"{"osType":"Windows"}"#,
            );
            assert_eq!(r.status, 400, "{path}");
        }
    }
}
