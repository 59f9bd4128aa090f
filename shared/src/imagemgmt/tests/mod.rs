//! The door end to end over `MemoryKv` + `FakeEnv`: every request goes through [`handle`],
//! so these assert what a client sees (status, headers, body). One file a resource: the
//! edge ([`edge`]: authentication, tenancy, body guards, idempotency, robustness),
//! [`images`], [`versions`], background work and clones ([`publish`]), [`concurrency`],
//! the OpenAPI document ([`openapi`]), partner images and vendor values. This file holds
//! the fixture ([`World`]) and the helpers they share.

mod bounds;
mod concurrency;
mod costs;
mod cut_short;
mod edge;
mod images;
mod openapi;
mod pages;
mod partner_images;
mod publish;
mod running;
mod vendor_values;
mod versions;

use super::{BASE, handle, idem};
use crate::api::{ApiRequest, ApiResponse, Problem};
use crate::auth;
use crate::catalog::{Image, Version};
use crate::env::{Env, FakeEnv};
use crate::keys;
use crate::ops::Settings;
use crate::records;
use crate::records::Store;
use crate::sim::{GalleryImage, ProviderInstance, Vm};
use crate::store::MemoryKv;
use crate::vocab::{GpuType, OsType, ProviderLabel};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

/// The fixture's clock at the start.
const T0: i64 = 1_760_000_000_000;

/// One store, one clock, the default settings, and a token of org `o1` whose inventory
/// (provider instances, a gallery image prepared by the partner org, a VM) is in place.
struct World {
    kv: MemoryKv,
    env: FakeEnv,
    settings: Settings,
    token: String,
}

/// A `copy-existing-image` body for image `name`.
fn sig_image_body(name: &str) -> Value {
    json!({
        "streamName": name, "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
        "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}
    })
}

impl World {
    fn new() -> Self {
        Self::on(MemoryKv::new())
    }

    /// The world over `kv` (e.g. [`MemoryKv::with_redis_cas_quirk`]).
    fn on(kv: MemoryKv) -> Self {
        let env = FakeEnv::at(T0);
        let token = auth::mint_token(&Store::new(&kv, &env), "o1").unwrap();
        let w = World {
            kv,
            env,
            settings: Settings::default(),
            token,
        };
        w.inventory("o1");
        w
    }

    /// The storage handle over the world's store and clock.
    fn st(&self) -> Store<'_> {
        Store::new(&self.kv, &self.env)
    }

    /// Provider instances `pi-{n}` of `org`, for each `n` of `numbers`.
    fn provider_instances(&self, org: &str, numbers: std::ops::RangeInclusive<usize>) {
        for n in numbers {
            self.st()
                .put_new(
                    &keys::provider_instance(org, &format!("pi-{n}")),
                    &ProviderInstance {
                        id: format!("pi-{n}"),
                        provider_label: ProviderLabel::Azure,
                        region: Some("westeurope".into()),
                    },
                )
                .unwrap();
        }
    }

    fn inventory(&self, org: &str) {
        let st = self.st();
        self.provider_instances(org, 1..=3);
        st.put_new(
            &keys::gallery_image(org, "g-1"),
            &GalleryImage {
                // Prepared by the partner org `partner` (`sig_version` names it).
                prepared_by: Some("partner".into()),
                metadata: json!({"preparedFor": org}).as_object().cloned().unwrap(),
                app_scan: json!({"applications": ["Office"]})
                    .as_object()
                    .cloned()
                    .unwrap(),
                ..GalleryImage::granted("g-1", &["pi-1"])
            },
        )
        .unwrap();
        let record = crate::admin::Org::new(
            org,
            None,
            vec!["partner".into()],
            crate::time::Timestamp(T0),
        );
        st.put_new(&keys::org(org), &record).unwrap();
        st.put_new(
            &keys::vm(org, "vm-1"),
            &Vm {
                id: "vm-1".into(),
                provider_instance_id: Some("pi-1".into()),
                os_type: OsType::Windows,
                gpu_type: GpuType::None,
            },
        )
        .unwrap();
    }

    fn req(&self, method: &str, target: &str, body: Option<Value>) -> ApiRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        ApiRequest {
            method: method.into(),
            path: format!("{BASE}{path}"),
            query: query.into(),
            headers: vec![("authorization".into(), format!("Bearer {}", self.token))],
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        }
    }

    fn send(&self, req: &ApiRequest) -> ApiResponse {
        handle(&self.st(), &self.settings, req)
    }

    fn call(&self, method: &str, target: &str, body: Option<Value>) -> ApiResponse {
        self.send(&self.req(method, target, body))
    }

    fn sig_image(&self, name: &str) -> Value {
        let r = self.call(
            "POST",
            "/images?action=copy-existing-image",
            Some(sig_image_body(name)),
        );
        assert_eq!(r.status, 201, "{:?}", r.json_body());
        r.json_body()
    }

    fn vm_image(&self, name: &str) -> Value {
        let r = self.call(
            "POST",
            "/images?action=import-custom-vm",
            Some(json!({
                "streamName": name, "osType": "WINDOWS", "providerInstanceId": "pi-1",
                "assetDetails": {"data": {"vmId": "vm-1"}}
            })),
        );
        assert_eq!(r.status, 201, "{:?}", r.json_body());
        r.json_body()
    }

    fn add_version(&self, image: &str, body: Value) -> ApiResponse {
        self.call("POST", &format!("/images/{image}/versions"), Some(body))
    }

    /// Adds a MAJOR gallery version to `image`; its id.
    fn major_version(&self, image: &str) -> String {
        self.add_version(image, sig_version("MAJOR")).json_body()["versionId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn stored_image(&self, id: &str) -> Image {
        self.st()
            .get::<Image>(&keys::image("o1", id))
            .unwrap()
            .unwrap()
            .value
    }

    /// Page records stored for `image` (`catalog::pages`), named by its record or not.
    fn stored_pages(&self, image: &str) -> usize {
        let prefix = keys::version_page("o1", image, "");
        self.kv
            .keys()
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .count()
    }

    /// Changes a stored record behind the door's back.
    fn edit<T: Clone + Serialize + DeserializeOwned>(&self, key: &str, f: impl Fn(&mut T)) {
        self.st()
            .update::<T, ()>(key, |v| {
                let mut v = v.clone();
                f(&mut v);
                records::Change::Write(v)
            })
            .unwrap();
    }

    fn edit_version(&self, id: &str, f: impl Fn(&mut Version)) {
        self.edit(&keys::version("o1", id), f);
    }

    fn edit_image(&self, id: &str, f: impl Fn(&mut Image)) {
        self.edit(&keys::image("o1", id), f);
    }

    /// Moves time and ticks the advancer until `done` holds (at most `limit` ticks).
    fn run_until(&self, limit: usize, mut done: impl FnMut(&World) -> bool) -> bool {
        for _ in 0..limit {
            if done(self) {
                return true;
            }
            self.env.advance_ms(1_000);
            crate::advancer::tick(&self.st(), &self.settings, 100);
        }
        done(self)
    }

    /// Runs the advancer until `GET target` shows `status` (at most `limit` ticks).
    fn reaches(&self, limit: usize, target: &str, status: &str) -> bool {
        self.run_until(limit, |w| {
            w.call("GET", target, None).json_body()["status"] == status
        })
    }

    /// Runs the advancer until `GET target` is a 404 (at most `limit` ticks).
    fn gone(&self, limit: usize, target: &str) -> bool {
        self.run_until(limit, |w| w.call("GET", target, None).status == 404)
    }
}

fn sig_version(version_type: &str) -> Value {
    json!({
        "sourceType": "AZURE_SIG", "versionType": version_type, "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1", "mspOrgId": "partner"}}
    })
}

fn first_version(img: &Value) -> (String, String) {
    (
        img["id"].as_str().unwrap().to_owned(),
        img["versions"][0]["id"].as_str().unwrap().to_owned(),
    )
}

fn problem(r: &ApiResponse) -> (u16, String) {
    let v = r.json_body();
    assert_eq!(
        r.get_header("content-type"),
        Some("application/problem+json"),
        "{v}"
    );
    (r.status, v["code"].as_str().unwrap_or("").to_owned())
}

fn error_fields(r: &ApiResponse) -> Vec<String> {
    r.json_body()["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}
