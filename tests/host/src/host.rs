//! The per-instance host state and the Spin host interfaces: key-value (Spin's and
//! wasi:keyvalue draft2) and variables, on top of wasmtime-wasi and wasi:http.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use spin_local_kv::{BackendConfig, CasBase, Faults, KvError, KvStore, StoreOptions, SwapError};
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod bindings {
    wasmtime::component::bindgen!({
        world: "host",
        path: "wit",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": super::KvHandle,
            "wasi:keyvalue/store.bucket": super::KvHandle,
            "wasi:keyvalue/atomics.cas": super::CasHandle,
        },
    });
}

use bindings::fermyon::spin::{key_value as spin_kv, variables as spin_vars};
use bindings::wasi::keyvalue::{atomics, batch, store as wasi_store};

/// An open store, as a guest resource (both WITs).
pub struct KvHandle {
    store: Arc<dyn KvStore>,
}

/// A compare-and-swap in progress (`wasi:keyvalue/atomics.cas`).
pub struct CasHandle {
    store: Arc<dyn KvStore>,
    key: String,
    base: CasBase,
}

/// The key-value stores of one app: which labels exist, their backends, and the
/// stores opened so far (opened once, shared by every instance).
pub(crate) struct KvRegistry {
    configs: HashMap<String, BackendConfig>,
    options: StoreOptions,
    faults: Faults,
    opened: Mutex<HashMap<String, Arc<dyn KvStore>>>,
}

pub(crate) enum OpenError {
    NoSuchStore,
    AccessDenied,
    Other(String),
}

impl KvRegistry {
    pub(crate) fn new(
        configs: HashMap<String, BackendConfig>,
        options: StoreOptions,
        faults: Faults,
    ) -> Self {
        KvRegistry {
            configs,
            options,
            faults,
            opened: Mutex::default(),
        }
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Opens (or reuses) the store `label`. Blocking.
    pub(crate) fn open(&self, label: &str) -> Result<Arc<dyn KvStore>, OpenError> {
        let config = self.configs.get(label).ok_or(OpenError::NoSuchStore)?;
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = opened.get(label) {
            return Ok(store.clone());
        }
        if let BackendConfig::Sqlite { path } = config
            && let Some(dir) = path.parent()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| OpenError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        let store = spin_local_kv::open_labeled(config, label, &self.options, &self.faults)
            .map_err(|e| OpenError::Other(e.0))?;
        opened.insert(label.to_string(), store.clone());
        Ok(store)
    }
}

/// What one component may do.
pub(crate) struct ComponentPolicy {
    pub id: String,
    pub allowed_stores: HashSet<String>,
    /// Component variables, already resolved.
    pub variables: HashMap<String, String>,
}

/// The data of one wasmtime `Store`: one request or one cron tick.
pub(crate) struct HostState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub kv: Arc<KvRegistry>,
    pub policy: Arc<ComponentPolicy>,
    /// Set once the guest opens a key-value store: on Spin that is what makes it lose the
    /// head-before-body race (R5, `head_first`).
    pub opened_store: Arc<std::sync::atomic::AtomicBool>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// Adds WASI, wasi:http and the Spin interfaces to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    bindings::Host_::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// Runs a blocking store call off the async worker threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> wasmtime::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| wasmtime::Error::msg(format!("key-value call failed: {e}")))
}

impl HostState {
    /// Opens `label` for this component: unlisted → access-denied (checked first,
    /// like Spin), listed but not configured → no-such-store.
    fn open_store(
        &self,
        label: String,
    ) -> impl Future<Output = wasmtime::Result<Result<Arc<dyn KvStore>, OpenError>>> + Send + 'static
    {
        let allowed = self.policy.allowed_stores.contains(&label);
        self.opened_store
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let kv = self.kv.clone();
        async move {
            if !allowed {
                return Ok(Err(OpenError::AccessDenied));
            }
            blocking(move || kv.open(&label)).await
        }
    }

    fn handle(&self, r: &Resource<KvHandle>) -> wasmtime::Result<Arc<dyn KvStore>> {
        Ok(self.table.get(r)?.store.clone())
    }
}

/// Hands a store call's result to the guest: a host-panic error (spin-compat R3 and
/// R8, [`KvError::is_host_panic`]) traps the instance, as the real runtime's panic ends
/// its invocation (an empty 500 for a request, a failed cron tick); any other error
/// becomes the guest's error value (`to_guest`).
fn answer<T, E>(
    result: Result<T, KvError>,
    to_guest: impl FnOnce(KvError) -> E,
) -> wasmtime::Result<Result<T, E>> {
    match result {
        Err(e) if e.is_host_panic() => Err(wasmtime::Error::msg(e.0)),
        result => Ok(result.map_err(to_guest)),
    }
}

fn spin_err(e: KvError) -> spin_kv::Error {
    spin_kv::Error::Other(e.0)
}

fn wasi_err(e: KvError) -> wasi_store::Error {
    wasi_store::Error::Other(e.0)
}

// ---------------------------------------------------------------- fermyon:spin/key-value

impl spin_kv::Host for HostState {}

impl spin_kv::HostStore for HostState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvHandle>, spin_kv::Error>> {
        Ok(match self.open_store(label).await? {
            Ok(store) => Ok(self.table.push(KvHandle { store })?),
            Err(OpenError::AccessDenied) => Err(spin_kv::Error::AccessDenied),
            Err(OpenError::NoSuchStore) => Err(spin_kv::Error::NoSuchStore),
            Err(OpenError::Other(m)) => Err(spin_kv::Error::Other(m)),
        })
    }

    async fn get(
        &mut self,
        s: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        let store = self.handle(&s)?;
        answer(blocking(move || store.get(&key)).await?, spin_err)
    }

    async fn set(
        &mut self,
        s: Resource<KvHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let store = self.handle(&s)?;
        answer(blocking(move || store.set(&key, &value)).await?, spin_err)
    }

    async fn delete(
        &mut self,
        s: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let store = self.handle(&s)?;
        answer(blocking(move || store.delete(&key)).await?, spin_err)
    }

    async fn exists(
        &mut self,
        s: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let store = self.handle(&s)?;
        answer(blocking(move || store.exists(&key)).await?, spin_err)
    }

    async fn get_keys(
        &mut self,
        s: Resource<KvHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let store = self.handle(&s)?;
        answer(blocking(move || store.get_keys()).await?, spin_err)
    }

    async fn drop(&mut self, s: Resource<KvHandle>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

// ---------------------------------------------------------------- fermyon:spin/variables

impl spin_vars::Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_vars::Error>> {
        if crate::manifest::check_variable_name(&name).is_err() {
            return Ok(Err(spin_vars::Error::InvalidName(name)));
        }
        Ok(match self.policy.variables.get(&name) {
            Some(v) => Ok(v.clone()),
            None => Err(spin_vars::Error::Undefined(format!(
                "no variable for {:?}.{name:?}",
                self.policy.id
            ))),
        })
    }
}

// ---------------------------------------------------------------- wasi:keyvalue/store

impl wasi_store::Host for HostState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<KvHandle>, wasi_store::Error>> {
        Ok(match self.open_store(identifier).await? {
            Ok(store) => Ok(self.table.push(KvHandle { store })?),
            Err(OpenError::AccessDenied) => Err(wasi_store::Error::AccessDenied),
            Err(OpenError::NoSuchStore) => Err(wasi_store::Error::NoSuchStore),
            Err(OpenError::Other(m)) => Err(wasi_store::Error::Other(m)),
        })
    }
}

impl wasi_store::HostBucket for HostState {
    async fn get(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let store = self.handle(&b)?;
        answer(blocking(move || store.get(&key)).await?, wasi_err)
    }

    async fn set(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.handle(&b)?;
        answer(blocking(move || store.set(&key, &value)).await?, wasi_err)
    }

    async fn delete(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.handle(&b)?;
        answer(blocking(move || store.delete(&key)).await?, wasi_err)
    }

    async fn exists(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        let store = self.handle(&b)?;
        answer(blocking(move || store.exists(&key)).await?, wasi_err)
    }

    async fn list_keys(
        &mut self,
        b: Resource<KvHandle>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        // Every key comes in the first page (Spin does the same); a cursor means
        // "after the last page".
        if cursor.is_some() {
            return Ok(Ok(wasi_store::KeyResponse {
                keys: Vec::new(),
                cursor: None,
            }));
        }
        let store = self.handle(&b)?;
        let keys = answer(blocking(move || store.get_keys()).await?, wasi_err)?;
        Ok(keys.map(|keys| wasi_store::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, b: Resource<KvHandle>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

// ---------------------------------------------------------------- wasi:keyvalue/atomics

impl atomics::Host for HostState {
    async fn increment(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_store::Error>> {
        let store = self.handle(&b)?;
        answer(
            blocking(move || store.increment(&key, delta)).await?,
            wasi_err,
        )
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let CasHandle { store, key, base } = self.table.delete(cas)?;
        let (store2, key2, base2) = (store.clone(), key.clone(), base.clone());
        let result = blocking(move || store2.swap(&key2, &base2, &value)).await?;
        Ok(match result {
            Ok(()) => Ok(()),
            // The guest gets a fresh cas to retry with, as the WIT asks.
            Err(SwapError::CasFailed) => {
                let again = self.table.push(CasHandle { store, key, base })?;
                Err(atomics::CasError::CasFailed(again))
            }
            Err(SwapError::Store(e)) => {
                answer(Err(e), |e| atomics::CasError::StoreError(wasi_err(e)))?
            }
        })
    }
}

impl atomics::HostCas for HostState {
    async fn new(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_store::Error>> {
        let store = self.handle(&b)?;
        Ok(Ok(self.table.push(CasHandle {
            store,
            key,
            base: CasBase::NotRead,
        })?))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let (store, key) = {
            let c = self.table.get(&cas)?;
            (c.store.clone(), c.key.clone())
        };
        let result = answer(blocking(move || store.cas_current(&key)).await?, wasi_err)?;
        if let Ok(value) = &result {
            self.table.get_mut(&cas)?.base = match value {
                Some(v) => CasBase::Value(v.clone()),
                None => CasBase::Absent,
            };
        }
        Ok(result)
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

// ---------------------------------------------------------------- wasi:keyvalue/batch

impl batch::Host for HostState {
    async fn get_many(
        &mut self,
        b: Resource<KvHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_store::Error>> {
        let store = self.handle(&b)?;
        // spin-compat R8 (one key on Redis) is a host panic: `answer` traps.
        answer(blocking(move || store.get_many(&keys)).await?, wasi_err)
    }

    async fn set_many(
        &mut self,
        b: Resource<KvHandle>,
        entries: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.handle(&b)?;
        answer(blocking(move || store.set_many(&entries)).await?, wasi_err)
    }

    async fn delete_many(
        &mut self,
        b: Resource<KvHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.handle(&b)?;
        answer(blocking(move || store.delete_many(&keys)).await?, wasi_err)
    }
}

pub(crate) mod cron_bindings {
    wasmtime::component::bindgen!({
        world: "spin-cron",
        path: "../../wit/spin-cron.wit",
        exports: { default: async },
    });
}
