//! An in-process fake Kubernetes API server for tests: it serves list and watch for the
//! resources it holds, the way the real one does, and lets a test break the watch on purpose.
//!
//! - `GET /api/v1/...` and `/apis/GROUP/VERSION/...`, cluster-wide or in a namespace, with
//!   `labelSelector` (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated);
//! - lists carry the current `resourceVersion`; `watch=true` streams `ADDED`/`MODIFIED`/
//!   `DELETED` from the given resource version (objects leaving a label selector are `DELETED`,
//!   as the API server does), `BOOKMARK`s on request when `allowWatchBookmarks=true`, and an
//!   `ERROR` 410 for a resource version older than the last compaction;
//! - faults: [`FakeApiServer::drop_watches`] closes every open watch,
//!   [`FakeApiServer::expire_watches`] compacts the history and sends 410 Gone to every open
//!   watch, [`FakeApiServer::send_bookmarks`] sends a bookmark to every open watch;
//! - `POST`/`PATCH` of `events.k8s.io/v1` Events are recorded for [`FakeApiServer::events`].
//!
//! Objects are added from YAML manifests, with `stringData` merged into base64 `data` as the API
//! server does.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

/// `(apiVersion, kind)` → plural, for the kinds the fake server knows.
const KINDS: &[(&str, &str, &str)] = &[
    ("v1", "Secret", "secrets"),
    ("v1", "Service", "services"),
    ("v1", "Namespace", "namespaces"),
    ("v1", "ConfigMap", "configmaps"),
    ("apps/v1", "Deployment", "deployments"),
    ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
    ("traefik.io/v1alpha1", "IngressRoute", "ingressroutes"),
    ("traefik.io/v1alpha1", "Middleware", "middlewares"),
    ("traefik.io/v1alpha1", "TraefikService", "traefikservices"),
    (
        "traefik.io/v1alpha1",
        "ServersTransport",
        "serverstransports",
    ),
    ("traefik.io/v1alpha1", "TLSOption", "tlsoptions"),
    ("events.k8s.io/v1", "Event", "events"),
];

fn kind_of(plural: &str) -> Option<(&'static str, &'static str)> {
    KINDS
        .iter()
        .find(|(_, _, p)| *p == plural)
        .map(|(v, k, _)| (*v, *k))
}

fn plural_of(kind: &str) -> Option<&'static str> {
    KINDS
        .iter()
        .find(|(_, k, _)| *k == kind)
        .map(|(_, _, p)| *p)
}

/// One change, kept for watches that resume from an older resource version.
#[derive(Debug, Clone)]
struct Change {
    version: u64,
    plural: String,
    before: Option<Value>,
    after: Option<Value>,
}

#[derive(Debug, Clone)]
enum Signal {
    Change(Arc<Change>),
    Drop,
    Gone,
    Bookmark,
}

#[derive(Default)]
struct State {
    version: u64,
    /// plural → (namespace, name) → object.
    objects: BTreeMap<String, BTreeMap<(String, String), Value>>,
    history: Vec<Arc<Change>>,
    /// Watches from a version at or below this one get 410 Gone.
    compacted: u64,
    events: Vec<Value>,
    requests: Vec<String>,
    /// The `Authorization` header of each request ("" when absent).
    authorizations: Vec<String>,
    open_watches: usize,
    /// Off: changes are stored but no watch hears of them (they were compacted away before any
    /// watch saw them); only a new list shows them.
    silent: bool,
}

/// The running fake server; stops when dropped.
pub struct FakeApiServer {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    signals: broadcast::Sender<Signal>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    signals: broadcast::Sender<Signal>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FakeApiServer {
    /// Starts on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let (signals, _) = broadcast::channel(1024);
        let shared = Shared {
            state: state.clone(),
            signals: signals.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: axum::http::HeaderMap, body: Bytes| {
                let shared = shared.clone();
                let authorization = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                shared.lock().authorizations.push(authorization);
                async move { handle(shared, method, uri, body).await }
            },
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            state,
            signals,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn shared(&self) -> Shared {
        Shared {
            state: self.state.clone(),
            signals: self.signals.clone(),
        }
    }

    /// Creates or replaces every document of `yaml`; documents without a namespace go to
    /// `namespace` (what `kubectl apply -n` does).
    pub fn apply_yaml(&self, namespace: &str, yaml: &str) -> Result<(), String> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| e.to_string())?;
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            self.apply(namespace, doc)?;
        }
        Ok(())
    }

    /// Creates or replaces one object.
    pub fn apply(&self, namespace: &str, mut object: Value) -> Result<(), String> {
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .ok_or("object without kind")?
            .to_owned();
        let plural = plural_of(&kind).ok_or_else(|| format!("unknown kind {kind}"))?;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or("object without metadata.name")?
            .to_owned();
        let cluster_scoped = kind == "Namespace";
        let ns = if cluster_scoped {
            String::new()
        } else {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(namespace)
                .to_owned()
        };
        if kind == "Secret" {
            merge_string_data(&mut object)?;
        }
        let shared = self.shared();
        let mut state = shared.lock();
        let before = state
            .objects
            .get(plural)
            .and_then(|m| m.get(&(ns.clone(), name.clone())))
            .cloned();
        state.version += 1;
        let version = state.version;
        let metadata = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or("metadata is not an object")?;
        if !cluster_scoped {
            metadata.insert("namespace".into(), json!(ns));
        }
        metadata.insert("resourceVersion".into(), json!(version.to_string()));
        let uid = before
            .as_ref()
            .and_then(|b| b.pointer("/metadata/uid").cloned())
            .unwrap_or_else(|| json!(format!("uid-{plural}-{ns}-{name}-{version}")));
        metadata.insert("uid".into(), uid);
        state
            .objects
            .entry(plural.to_owned())
            .or_default()
            .insert((ns, name), object.clone());
        record(&shared, &mut state, plural, before, Some(object));
        Ok(())
    }

    /// Deletes an object; returns whether it existed.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) -> bool {
        let Some(plural) = plural_of(kind) else {
            return false;
        };
        let shared = self.shared();
        let mut state = shared.lock();
        let Some(mut removed) = state
            .objects
            .get_mut(plural)
            .and_then(|m| m.remove(&(namespace.to_owned(), name.to_owned())))
        else {
            return false;
        };
        state.version += 1;
        let version = state.version;
        if let Some(meta) = removed.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(version.to_string()));
        }
        record(&shared, &mut state, plural, Some(removed), None);
        true
    }

    /// Makes changes, through `change`, that no watch will ever hear of: only a new list (after
    /// [`FakeApiServer::expire_watches`]) shows them.
    pub fn unannounced(&self, change: impl FnOnce(&Self)) {
        self.shared().lock().silent = true;
        change(self);
        self.shared().lock().silent = false;
    }

    /// Closes every open watch (as a load balancer or an API server restart would) and returns
    /// once they are closed.
    pub async fn drop_watches(&self) {
        let _ = self.signals.send(Signal::Drop);
        self.wait_until_no_watch().await;
    }

    async fn wait_until_no_watch(&self) {
        for _ in 0..500 {
            if self.open_watches() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Forgets the history (etcd compaction) and sends 410 Gone to every open watch, so that
    /// clients must list again; returns once those watches are closed.
    pub async fn expire_watches(&self) {
        {
            let shared = self.shared();
            let mut state = shared.lock();
            state.compacted = state.version;
            state.history.clear();
        }
        let _ = self.signals.send(Signal::Gone);
        self.wait_until_no_watch().await;
    }

    /// Sends a bookmark with the current resource version to every watch that asked for them.
    pub fn send_bookmarks(&self) {
        let _ = self.signals.send(Signal::Bookmark);
    }

    /// Events published to the server.
    pub fn events(&self) -> Vec<Value> {
        self.shared().lock().events.clone()
    }

    /// Every request received, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared().lock().requests.clone()
    }

    /// The `Authorization` header of every request received ("" when absent).
    pub fn authorizations(&self) -> Vec<String> {
        self.shared().lock().authorizations.clone()
    }

    /// Number of watches currently open.
    pub fn open_watches(&self) -> usize {
        self.shared().lock().open_watches
    }

    /// Waits until `count` watches are open (after a start or a drop).
    pub async fn wait_for_watches(&self, count: usize) -> bool {
        for _ in 0..500 {
            if self.open_watches() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

fn record(
    shared: &Shared,
    state: &mut State,
    plural: &str,
    before: Option<Value>,
    after: Option<Value>,
) {
    if state.silent {
        return;
    }
    let change = Arc::new(Change {
        version: state.version,
        plural: plural.to_owned(),
        before,
        after,
    });
    state.history.push(change.clone());
    let _ = shared.signals.send(Signal::Change(change));
}

/// `stringData` is write-only: the API server merges it into `data`, base64-encoded.
fn merge_string_data(object: &mut Value) -> Result<(), String> {
    let Some(map) = object.as_object_mut() else {
        return Err("object is not a map".into());
    };
    let Some(string_data) = map.remove("stringData") else {
        return Ok(());
    };
    let string_data = string_data
        .as_object()
        .cloned()
        .ok_or("stringData is not a map")?;
    let data = map
        .entry("data")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("data is not a map")?;
    for (key, value) in string_data {
        let text = value
            .as_str()
            .ok_or_else(|| format!("stringData.{key} is not a string"))?;
        data.insert(
            key,
            json!(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
    Ok(())
}

/// What a request path names.
struct Target {
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        rest => (None, rest),
    };
    match rest {
        [plural] => Some(Target {
            plural: (*plural).to_owned(),
            namespace,
            name: None,
        }),
        [plural, name] => Some(Target {
            plural: (*plural).to_owned(),
            namespace,
            name: Some((*name).to_owned()),
        }),
        _ => None,
    }
}

fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// A parsed label selector.
struct Selector(Vec<(String, Op)>);

enum Op {
    Equals(String),
    NotEquals(String),
    Exists,
    Absent,
}

impl Selector {
    fn parse(text: Option<&String>) -> Self {
        let mut terms = Vec::new();
        for term in text.map(String::as_str).unwrap_or("").split(',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            if let Some((k, v)) = term.split_once("!=") {
                terms.push((k.trim().to_owned(), Op::NotEquals(v.trim().to_owned())));
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                terms.push((k.trim().to_owned(), Op::Equals(v.trim().to_owned())));
            } else if let Some(k) = term.strip_prefix('!') {
                terms.push((k.trim().to_owned(), Op::Absent));
            } else {
                terms.push((term.to_owned(), Op::Exists));
            }
        }
        Selector(terms)
    }

    fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|(k, op)| match op {
            Op::Equals(v) => label(k) == Some(v.as_str()),
            Op::NotEquals(v) => label(k) != Some(v.as_str()),
            Op::Exists => label(k).is_some(),
            Op::Absent => label(k).is_none(),
        })
    }
}

fn in_scope(target: &Target, selector: &Selector, object: &Value) -> bool {
    let namespace_ok = match &target.namespace {
        Some(ns) => {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                == Some(ns)
        }
        None => true,
    };
    namespace_ok && selector.matches(object)
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code.as_u16()
        })),
    )
        .into_response()
}

async fn handle(shared: Shared, method: Method, uri: Uri, body: Bytes) -> Response {
    shared.lock().requests.push(format!(
        "{method} {}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
    ));
    let Some(target) = parse_path(uri.path()) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "unknown path");
    };
    let Some((api_version, kind)) = kind_of(&target.plural) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "unknown resource");
    };
    let query = query_map(&uri);
    match method {
        Method::GET if target.name.is_none() => {
            let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
            if watch {
                start_watch(shared, target, query, api_version, kind)
            } else {
                list(&shared, &target, &query, api_version, kind)
            }
        }
        Method::GET => {
            let state = shared.lock();
            let key = (
                target.namespace.clone().unwrap_or_default(),
                target.name.clone().unwrap_or_default(),
            );
            match state.objects.get(&target.plural).and_then(|m| m.get(&key)) {
                Some(object) => axum::Json(object.clone()).into_response(),
                None => status(StatusCode::NOT_FOUND, "NotFound", "not found"),
            }
        }
        Method::POST | Method::PATCH if target.plural == "events" => {
            let Ok(mut event) = serde_json::from_slice::<Value>(&body) else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "not JSON");
            };
            let mut state = shared.lock();
            state.version += 1;
            if let Some(meta) = event.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("resourceVersion".into(), json!(state.version.to_string()));
            }
            state.events.push(event.clone());
            let code = if method == Method::POST {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (code, axum::Json(event)).into_response()
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the fake API server is read-only except for Events",
        ),
    }
}

fn list(
    shared: &Shared,
    target: &Target,
    query: &BTreeMap<String, String>,
    api_version: &str,
    kind: &str,
) -> Response {
    let selector = Selector::parse(query.get("labelSelector"));
    let state = shared.lock();
    let items: Vec<Value> = state
        .objects
        .get(&target.plural)
        .map(|m| {
            m.values()
                .filter(|o| in_scope(target, &selector, o))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({
        "apiVersion": api_version,
        "kind": format!("{kind}List"),
        "metadata": { "resourceVersion": state.version.to_string() },
        "items": items,
    }))
    .into_response()
}

/// The watch event for `change` as seen through `target` and `selector`, if any.
fn event_for(change: &Change, target: &Target, selector: &Selector) -> Option<Value> {
    if change.plural != target.plural {
        return None;
    }
    let was = change
        .before
        .as_ref()
        .filter(|o| in_scope(target, selector, o));
    let is = change
        .after
        .as_ref()
        .filter(|o| in_scope(target, selector, o));
    let with_version = |object: &Value| {
        let mut object = object.clone();
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(change.version.to_string()));
        }
        object
    };
    match (was, is) {
        (None, Some(object)) => Some(json!({"type": "ADDED", "object": object})),
        (Some(_), Some(object)) => Some(json!({"type": "MODIFIED", "object": object})),
        // Leaving the selector looks like a deletion to this watch.
        (Some(object), None) => Some(
            json!({"type": "DELETED", "object": with_version(change.after.as_ref().unwrap_or(object))}),
        ),
        (None, None) => None,
    }
}

fn line(value: &Value) -> Bytes {
    let mut text = value.to_string();
    text.push('\n');
    Bytes::from(text)
}

fn gone(version: u64) -> Value {
    json!({"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("too old resource version: {version}"),
        "reason": "Expired", "code": 410
    }})
}

fn start_watch(
    shared: Shared,
    target: Target,
    query: BTreeMap<String, String>,
    api_version: &'static str,
    kind: &'static str,
) -> Response {
    let selector = Selector::parse(query.get("labelSelector"));
    let from: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = query.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(300));
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    // Subscribe before reading the history, so no change falls between the two.
    let mut signals = shared.signals.subscribe();
    let (backlog, expired, last_sent) = {
        let mut state = shared.lock();
        let last_sent = state.history.last().map(|c| c.version).unwrap_or(0);
        if from != 0 && from < state.compacted {
            (Vec::new(), true, last_sent)
        } else {
            state.open_watches += 1;
            let backlog: Vec<Value> = state
                .history
                .iter()
                .filter(|c| c.version > from)
                .filter_map(|c| event_for(c, &target, &selector))
                .collect();
            (backlog, false, last_sent)
        }
    };
    if expired {
        let _ = tx.try_send(line(&gone(from)));
    } else {
        tokio::spawn(async move {
            for event in backlog {
                if tx.send(line(&event)).await.is_err() {
                    break;
                }
            }
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            loop {
                let signal = tokio::select! {
                    signal = signals.recv() => signal,
                    () = &mut deadline => break,
                    () = tx.closed() => break,
                };
                let bytes = match signal {
                    Ok(Signal::Change(change)) if change.version > last_sent.max(from) => {
                        match event_for(&change, &target, &selector) {
                            Some(event) => line(&event),
                            None => continue,
                        }
                    }
                    Ok(Signal::Change(_)) => continue,
                    Ok(Signal::Bookmark) if bookmarks => {
                        let version = shared.lock().version;
                        line(&json!({"type": "BOOKMARK", "object": {
                            "kind": kind, "apiVersion": api_version,
                            "metadata": {"resourceVersion": version.to_string()}
                        }}))
                    }
                    Ok(Signal::Bookmark) => continue,
                    Ok(Signal::Gone) => {
                        let _ = tx.send(line(&gone(from))).await;
                        break;
                    }
                    Ok(Signal::Drop) | Err(_) => break,
                };
                if tx.send(bytes).await.is_err() {
                    break;
                }
            }
            shared.lock().open_watches -= 1;
        });
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "body"))
}

/// A middleware check that accepts every middleware, for tests of the translation itself.
pub struct AcceptAll;

impl crate::MiddlewareCheck for AcceptAll {
    fn check(
        &self,
        _: &str,
        _: &portcullis_config::MiddlewareConfig,
        _: &str,
    ) -> Result<(), portcullis_config::MiddlewareError> {
        Ok(())
    }
}

/// The resources of `yaml` as the provider would see them (documents without a namespace go to
/// `namespace`; `stringData` merged into `data`), and its Secrets.
pub fn snapshot_from_yaml(
    namespace: &str,
    yaml: &str,
) -> Result<(crate::Snapshot, Vec<k8s_openapi::api::core::v1::Secret>), String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| e.to_string())?;
    let mut snapshot = crate::Snapshot::default();
    let mut secrets = Vec::new();
    for mut doc in docs.into_iter().filter(|d| !d.is_null()) {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.entry("namespace").or_insert_with(|| json!(namespace));
        }
        let err = |e: serde_json::Error| format!("{kind}: {e}");
        match kind.as_str() {
            "IngressRoute" => snapshot
                .ingress_routes
                .push(Arc::new(serde_json::from_value(doc).map_err(err)?)),
            "Middleware" => snapshot
                .middlewares
                .push(Arc::new(serde_json::from_value(doc).map_err(err)?)),
            "TraefikService" => snapshot
                .traefik_services
                .push(Arc::new(serde_json::from_value(doc).map_err(err)?)),
            "Service" => snapshot
                .services
                .push(Arc::new(serde_json::from_value(doc).map_err(err)?)),
            "EndpointSlice" => snapshot
                .endpoint_slices
                .push(Arc::new(serde_json::from_value(doc).map_err(err)?)),
            "ServersTransport" => snapshot
                .servers_transports
                .push(Arc::new(serde_json::from_value(doc).map_err(err)?)),
            "TLSOption" => snapshot
                .tls_options
                .push(Arc::new(serde_json::from_value(doc).map_err(err)?)),
            "Secret" => {
                merge_string_data(&mut doc)?;
                let secret: k8s_openapi::api::core::v1::Secret =
                    serde_json::from_value(doc).map_err(err)?;
                snapshot.secrets.push(Arc::new(secret.clone()));
                secrets.push(secret);
            }
            _ => {}
        }
    }
    Ok((snapshot, secrets))
}

/// An EndpointSlice for Service `service` with one endpoint per address (`ready` as given),
/// as the endpoint controller would write it.
pub fn endpoint_slice(
    namespace: &str,
    service: &str,
    port_name: Option<&str>,
    port: u16,
    endpoints: &[(&str, bool)],
) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": format!("{service}-abcde"),
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": endpoints.iter().map(|(address, ready)| json!({
            "addresses": [address],
            "conditions": {"ready": ready},
        })).collect::<Vec<_>>(),
    })
}

/// Secrets given as a list, for tests of the resolver and the translation.
pub struct FixedSecrets(pub Vec<k8s_openapi::api::core::v1::Secret>);

impl crate::SecretSource for FixedSecrets {
    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<k8s_openapi::api::core::v1::Secret>> {
        self.0
            .iter()
            .find(|s| {
                s.metadata.namespace.as_deref() == Some(namespace)
                    && s.metadata.name.as_deref() == Some(name)
            })
            .cloned()
            .map(Arc::new)
    }
}
