//! Watching the API: one reflector per resource kind and namespace, a change counter that
//! ticks when any of them changes, and snapshots of everything for the translation.
//!
//! Reflectors list, then watch from the list's resource version; kube's watcher re-lists on
//! `410 Gone` and resumes a dropped watch from the last resource version or bookmark, with
//! backoff on errors. A store only replaces its content once a whole list has arrived, so a
//! re-list never shows a half-empty cluster to the translation.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, reflector::store::Writer};
use kube::{Client, Resource};
use portcullis_config::{KubernetesProvider, SecretResolver};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::resources;
use crate::secrets::SecretSource;
use crate::translate::Snapshot;

/// Why the provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("kubernetesCRD: {0}")]
    Config(String),
    #[error("kubernetesCRD: cannot create the API client: {0}")]
    Client(#[from] kube::Error),
}

/// Creates the API client the settings ask for: `endpoint` (with `token` and
/// `certAuthFilePath`), else `kubeconfig`, else the in-cluster service account or the default
/// kubeconfig.
pub async fn connect(
    settings: &KubernetesProvider,
    secrets: &dyn SecretResolver,
) -> Result<Client, KubeError> {
    let config = match (&settings.endpoint, &settings.kubeconfig) {
        (Some(endpoint), _) => {
            let uri = endpoint
                .parse::<http::Uri>()
                .map_err(|e| KubeError::Config(format!("endpoint {endpoint:?}: {e}")))?;
            let mut config = kube::Config::new(uri);
            if let Some(token) = &settings.token {
                let token = secrets
                    .resolve(token, None)
                    .map_err(|e| KubeError::Config(format!("token: {e}")))?;
                let mut value =
                    http::HeaderValue::from_str(&format!("Bearer {}", token.expose().trim()))
                        .map_err(|_| KubeError::Config("token: not a valid header value".into()))?;
                value.set_sensitive(true);
                config.headers.push((http::header::AUTHORIZATION, value));
            }
            config.root_cert_file = settings.cert_auth_file_path.clone();
            config
        }
        (None, Some(path)) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                KubeError::Config(format!("kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| KubeError::Config(format!("kubeconfig {}: {e}", path.display())))?
        }
        (None, None) => kube::Config::infer().await.map_err(|e| {
            KubeError::Config(format!(
                "no endpoint or kubeconfig set, and neither an in-cluster service account nor a default kubeconfig was found: {e}"
            ))
        })?,
    };
    Ok(Client::try_from(config)?)
}

/// The running reflectors.
pub struct KubeProvider {
    ingress_routes: Vec<Store<DynamicObject>>,
    middlewares: Vec<Store<DynamicObject>>,
    traefik_services: Vec<Store<DynamicObject>>,
    servers_transports: Vec<Store<DynamicObject>>,
    tls_options: Vec<Store<DynamicObject>>,
    services: Vec<Store<Service>>,
    endpoint_slices: Vec<Store<EndpointSlice>>,
    secrets: Arc<Vec<Store<Secret>>>,
    changes: watch::Receiver<u64>,
    client: Client,
    tasks: Vec<JoinHandle<()>>,
}

impl KubeProvider {
    /// Starts watching with `client`.
    pub fn start(client: Client, settings: &KubernetesProvider) -> Self {
        let (notify, changes) = watch::channel(0u64);
        let mut tasks = Vec::new();
        let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
            vec![None]
        } else {
            settings.namespaces.iter().cloned().map(Some).collect()
        };
        let selected = match &settings.label_selector {
            Some(selector) => watcher::Config::default().labels(selector),
            None => watcher::Config::default(),
        };
        let mut watch_crd = |resource: ApiResource| -> Vec<Store<DynamicObject>> {
            scopes
                .iter()
                .map(|scope| {
                    let api = match scope {
                        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                        None => Api::all_with(client.clone(), &resource),
                    };
                    let writer = Writer::new(resource.clone());
                    let store = writer.as_reader();
                    tasks.push(spawn_reflector(
                        api,
                        selected.clone(),
                        writer,
                        notify.clone(),
                        resource.kind.clone(),
                    ));
                    store
                })
                .collect()
        };
        let ingress_routes = watch_crd(resources::ingress_route());
        let middlewares = watch_crd(resources::middleware());
        let traefik_services = watch_crd(resources::traefik_service());
        let servers_transports = watch_crd(resources::servers_transport());
        let tls_options = watch_crd(resources::tls_option());
        let services = watch_typed::<Service>(&client, &scopes, &notify, &mut tasks);
        let endpoint_slices = watch_typed::<EndpointSlice>(&client, &scopes, &notify, &mut tasks);
        let secrets = watch_typed::<Secret>(&client, &scopes, &notify, &mut tasks);
        Self {
            ingress_routes,
            middlewares,
            traefik_services,
            servers_transports,
            tls_options,
            services,
            endpoint_slices,
            secrets: Arc::new(secrets),
            changes,
            client,
            tasks,
        }
    }

    /// Returns once every reflector has received its first complete list.
    pub async fn wait_synced(&self) {
        for store in self
            .ingress_routes
            .iter()
            .chain(&self.middlewares)
            .chain(&self.traefik_services)
            .chain(&self.servers_transports)
            .chain(&self.tls_options)
        {
            let _ = store.wait_until_ready().await;
        }
        for store in &self.services {
            let _ = store.wait_until_ready().await;
        }
        for store in &self.endpoint_slices {
            let _ = store.wait_until_ready().await;
        }
        for store in self.secrets.iter() {
            let _ = store.wait_until_ready().await;
        }
    }

    /// Everything the translation reads, as it is now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            ingress_routes: self.ingress_routes.iter().flat_map(Store::state).collect(),
            middlewares: self.middlewares.iter().flat_map(Store::state).collect(),
            traefik_services: self
                .traefik_services
                .iter()
                .flat_map(Store::state)
                .collect(),
            services: self.services.iter().flat_map(Store::state).collect(),
            endpoint_slices: self.endpoint_slices.iter().flat_map(Store::state).collect(),
            servers_transports: self
                .servers_transports
                .iter()
                .flat_map(Store::state)
                .collect(),
            tls_options: self.tls_options.iter().flat_map(Store::state).collect(),
            secrets: self.secrets.iter().flat_map(Store::state).collect(),
        }
    }

    /// The watched Secrets, for the secret resolver.
    pub fn secrets(&self) -> Arc<dyn SecretSource> {
        self.secrets.clone()
    }

    /// Ticks whenever a watched resource changes (or a re-list completes).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }
}

impl Drop for KubeProvider {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn watch_typed<K>(
    client: &Client,
    scopes: &[Option<String>],
    notify: &watch::Sender<u64>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Vec<Store<K>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    scopes
        .iter()
        .map(|scope| {
            let api: Api<K> = match scope {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let writer = Writer::default();
            let store = writer.as_reader();
            let kind = K::kind(&K::DynamicType::default()).into_owned();
            tasks.push(spawn_reflector(
                api,
                watcher::Config::default(),
                writer,
                notify.clone(),
                kind,
            ));
            store
        })
        .collect()
}

fn spawn_reflector<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: Writer<K>,
    notify: watch::Sender<u64>,
    kind: String,
) -> JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    tokio::spawn(async move {
        let mut events = std::pin::pin!(
            reflector::reflector(writer, watcher::watcher(api, config)).default_backoff()
        );
        while let Some(event) = events.next().await {
            match event {
                // Changes inside a (re-)list are applied all at once when it completes.
                Ok(Event::Init | Event::InitApply(_)) => {}
                Ok(Event::Apply(_) | Event::Delete(_) | Event::InitDone) => {
                    notify.send_modify(|n| *n = n.wrapping_add(1));
                }
                Err(error) => {
                    tracing::warn!(%kind, %error, "Kubernetes watch failed; retrying");
                }
            }
        }
    })
}
