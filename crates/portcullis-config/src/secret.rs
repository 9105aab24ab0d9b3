//! Secret references and their resolution.
//!
//! Any secret-bearing option may be written inline, as `urn:k8s:secret:NAME:KEY` (a Kubernetes
//! Secret in the middleware's namespace, or a Secret manifest in `secrets.directory` outside
//! Kubernetes), as `env:VAR`, or as `file:PATH`. Validation only parses the reference; resolution
//! happens when middlewares are built, through one [`SecretResolver`] trait so that the Kubernetes
//! provider can plug in its own. Resolved values live in [`Secret`], whose `Debug` and `Display`
//! print `***`, so a secret cannot reach a log line by accident.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path as FsPath, PathBuf};

use base64::Engine;
use serde::Deserialize;

/// Where a secret value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// The value itself, written in the configuration.
    Inline(Secret),
    /// `urn:k8s:secret:NAME:KEY`.
    Kubernetes { name: String, key: String },
    /// `env:VAR`.
    Env(String),
    /// `file:PATH` (the file's content, one trailing newline removed).
    File(PathBuf),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Inline(_) => f.write_str("Inline(***)"),
            SecretRef::Kubernetes { name, key } => write!(f, "urn:k8s:secret:{name}:{key}"),
            SecretRef::Env(var) => write!(f, "env:{var}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

const K8S_PREFIX: &str = "urn:k8s:";
const K8S_SECRET_PREFIX: &str = "urn:k8s:secret:";

impl SecretRef {
    /// Parses a reference. Strings starting with `urn:k8s:` must have the exact
    /// `urn:k8s:secret:NAME:KEY` form (a typo must not silently become an inline secret).
    pub fn parse(text: &str) -> Result<SecretRef, String> {
        if let Some(rest) = text.strip_prefix(K8S_SECRET_PREFIX) {
            let mut parts = rest.splitn(2, ':');
            let name = parts.next().unwrap_or_default();
            let key = parts.next().unwrap_or_default();
            if name.is_empty() || key.is_empty() || key.contains(':') {
                return Err(format!(
                    "invalid secret reference {text:?}: expected urn:k8s:secret:NAME:KEY"
                ));
            }
            return Ok(SecretRef::Kubernetes {
                name: name.to_owned(),
                key: key.to_owned(),
            });
        }
        if text.starts_with(K8S_PREFIX) {
            return Err(format!(
                "invalid secret reference {text:?}: expected urn:k8s:secret:NAME:KEY"
            ));
        }
        if let Some(var) = text.strip_prefix("env:") {
            if var.is_empty() {
                return Err("invalid secret reference \"env:\": no variable name".into());
            }
            return Ok(SecretRef::Env(var.to_owned()));
        }
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err("invalid secret reference \"file:\": no path".into());
            }
            return Ok(SecretRef::File(PathBuf::from(path)));
        }
        Ok(SecretRef::Inline(Secret::new(text)))
    }

    /// True when the reference is an inline empty string (an unset option).
    pub fn is_empty_inline(&self) -> bool {
        matches!(self, SecretRef::Inline(secret) if secret.expose().is_empty())
    }
}

/// A resolved secret value. Never printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it (a token request, a key derivation).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a reference could not be resolved. Messages name the reference, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name:?} not found{}", namespace_suffix(.namespace))]
    SecretNotFound {
        name: String,
        namespace: Option<String>,
    },
    #[error("secret {name:?} has no key {key:?}")]
    KeyNotFound { name: String, key: String },
    #[error("environment variable {0:?} is not set")]
    EnvNotSet(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}")]
    Other(String),
}

fn namespace_suffix(namespace: &Option<String>) -> String {
    namespace
        .as_deref()
        .map(|ns| format!(" in namespace {ns:?}"))
        .unwrap_or_default()
}

/// Turns references into values. `namespace` is the namespace of the middleware that uses the
/// reference (Kubernetes), `None` for file-provided configuration.
pub trait SecretResolver: Send + Sync {
    fn resolve(
        &self,
        reference: &SecretRef,
        namespace: Option<&str>,
    ) -> Result<Secret, SecretError>;

    /// The whole Kubernetes Secret `name` of `namespace` (for options that name a Secret rather
    /// than one key, such as `basicAuth.secret`). Only the Kubernetes provider has them.
    fn kubernetes_secret(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<KubernetesSecret, SecretError> {
        let _ = namespace;
        Err(SecretError::Other(format!(
            "secret {name:?}: Kubernetes Secrets are only available to Kubernetes Middlewares"
        )))
    }
}

/// A Kubernetes Secret's type and data.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KubernetesSecret {
    /// `type`, e.g. `kubernetes.io/basic-auth` (`None`: Opaque).
    pub secret_type: Option<String>,
    pub data: BTreeMap<String, Vec<u8>>,
}

impl fmt::Debug for KubernetesSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubernetesSecret")
            .field("secret_type", &self.secret_type)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Resolves inline values, `env:`, `file:`, and `urn:k8s:secret:` from Secret manifests loaded
/// from a directory.
#[derive(Debug, Default)]
pub struct LocalResolver {
    /// name -> key -> value (namespaces are not distinguished outside Kubernetes).
    secrets: BTreeMap<String, BTreeMap<String, Secret>>,
    /// The directory the manifests came from; `None`: no source of Kubernetes Secrets at all.
    directory: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretManifest {
    #[serde(default)]
    kind: Option<String>,
    metadata: SecretMetadata,
    #[serde(default)]
    string_data: BTreeMap<String, String>,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct SecretMetadata {
    name: String,
}

impl LocalResolver {
    /// A resolver with no Secret manifests.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `*.yaml`/`*.yml` file of `dir` (one or several `---`-separated documents);
    /// documents of another `kind` than `Secret` are ignored.
    pub fn from_directory(dir: &FsPath) -> Result<Self, SecretError> {
        let mut resolver = Self::new();
        resolver.directory = Some(dir.display().to_string());
        let entries = std::fs::read_dir(dir).map_err(|e| SecretError::File {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| SecretError::File {
                path: file.display().to_string(),
                reason: e.to_string(),
            })?;
            resolver
                .add_manifests(&text)
                .map_err(|reason| SecretError::File {
                    path: file.display().to_string(),
                    reason,
                })?;
        }
        Ok(resolver)
    }

    /// Adds the Secret documents of a YAML text.
    pub fn add_manifests(&mut self, yaml: &str) -> Result<(), String> {
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(yaml).map_err(|e| e.to_string())?;
        for doc in docs {
            if doc.is_null() {
                continue;
            }
            let manifest: SecretManifest =
                serde_json::from_value(doc).map_err(|e| e.to_string())?;
            if manifest
                .kind
                .as_deref()
                .is_some_and(|kind| kind != "Secret")
            {
                continue;
            }
            let entry = self
                .secrets
                .entry(manifest.metadata.name.clone())
                .or_default();
            for (key, encoded) in manifest.data {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|e| {
                        format!(
                            "secret {:?} key {key:?}: data is not base64: {e}",
                            manifest.metadata.name
                        )
                    })?;
                let value = String::from_utf8(bytes).map_err(|_| {
                    format!(
                        "secret {:?} key {key:?}: data is not UTF-8",
                        manifest.metadata.name
                    )
                })?;
                entry.insert(key, Secret::new(value));
            }
            // stringData wins over data, as the Kubernetes API server merges them.
            for (key, value) in manifest.string_data {
                entry.insert(key, Secret::new(value));
            }
        }
        Ok(())
    }

    /// Adds or replaces one value (tests, programmatic setups).
    pub fn insert(&mut self, name: &str, key: &str, value: &str) {
        self.secrets
            .entry(name.to_owned())
            .or_default()
            .insert(key.to_owned(), Secret::new(value));
    }
}

impl SecretResolver for LocalResolver {
    fn resolve(
        &self,
        reference: &SecretRef,
        namespace: Option<&str>,
    ) -> Result<Secret, SecretError> {
        match reference {
            SecretRef::Inline(secret) => Ok(secret.clone()),
            SecretRef::Env(var) => std::env::var(var)
                .map(Secret::new)
                .map_err(|_| SecretError::EnvNotSet(var.clone())),
            SecretRef::File(path) => std::fs::read_to_string(path)
                .map(|text| {
                    let trimmed = text
                        .strip_suffix('\n')
                        .map(|t| t.strip_suffix('\r').unwrap_or(t))
                        .unwrap_or(&text);
                    Secret::new(trimmed)
                })
                .map_err(|e| SecretError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }),
            SecretRef::Kubernetes { .. }
                if self.directory.is_none() && self.secrets.is_empty() && namespace.is_none() =>
            {
                Err(SecretError::Other(format!(
                    "{reference:?} refers to a Kubernetes Secret, but there is no source of Secrets: \
                     set secrets.directory to a folder of Secret manifests, or use the \
                     kubernetesCRD provider"
                )))
            }
            SecretRef::Kubernetes { name, key } => {
                let secret = self
                    .secrets
                    .get(name)
                    .ok_or_else(|| SecretError::SecretNotFound {
                        name: name.clone(),
                        namespace: namespace.map(str::to_owned),
                    })?;
                secret
                    .get(key)
                    .cloned()
                    .ok_or_else(|| SecretError::KeyNotFound {
                        name: name.clone(),
                        key: key.clone(),
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        assert_eq!(
            SecretRef::parse("urn:k8s:secret:my-secret:clientId").unwrap(),
            SecretRef::Kubernetes {
                name: "my-secret".into(),
                key: "clientId".into()
            }
        );
        assert_eq!(
            SecretRef::parse("env:CLIENT_SECRET").unwrap(),
            SecretRef::Env("CLIENT_SECRET".into())
        );
        assert_eq!(
            SecretRef::parse("file:/run/secret").unwrap(),
            SecretRef::File("/run/secret".into())
        );
        assert_eq!(
            SecretRef::parse("plain").unwrap(),
            SecretRef::Inline(Secret::new("plain"))
        );
        // The client-credentials reference page has this typo; it must not become inline text.
        assert!(SecretRef::parse("urn:k8s:my-secret:my-secret:clientID").is_err());
        assert!(SecretRef::parse("urn:k8s:secret:only-name").is_err());
        assert!(SecretRef::parse("urn:k8s:secret::key").is_err());
        assert!(SecretRef::parse("env:").is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        let reference = SecretRef::parse("hunter2").unwrap();
        assert!(!format!("{reference:?}").contains("hunter2"));
    }

    #[test]
    fn manifests_resolve_string_data_and_data() {
        let mut resolver = LocalResolver::new();
        resolver
            .add_manifests(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: oidc-client\nstringData:\n  client_id: my-id\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: other\ndata:\n  pass: aHVudGVyMg==\n---\nkind: ConfigMap\nmetadata:\n  name: ignored\n",
            )
            .unwrap();
        let get = |name: &str, key: &str| {
            resolver.resolve(
                &SecretRef::Kubernetes {
                    name: name.into(),
                    key: key.into(),
                },
                Some("apps"),
            )
        };
        assert_eq!(get("oidc-client", "client_id").unwrap().expose(), "my-id");
        assert_eq!(get("other", "pass").unwrap().expose(), "hunter2");
        assert_eq!(
            get("missing", "x").unwrap_err().to_string(),
            "secret \"missing\" not found in namespace \"apps\""
        );
        assert_eq!(
            get("other", "nope").unwrap_err().to_string(),
            "secret \"other\" has no key \"nope\""
        );
    }

    #[test]
    fn directory_env_and_file_resolve() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.yaml"),
            "kind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("value.txt"), "from-file\n").unwrap();
        let resolver = LocalResolver::from_directory(dir.path()).unwrap();
        let k8s = SecretRef::parse("urn:k8s:secret:s:k").unwrap();
        assert_eq!(resolver.resolve(&k8s, None).unwrap().expose(), "v");
        let file = SecretRef::File(dir.path().join("value.txt"));
        assert_eq!(resolver.resolve(&file, None).unwrap().expose(), "from-file");
        let env = SecretRef::Env("PORTCULLIS_TEST_SURELY_UNSET_VAR".into());
        assert!(matches!(
            resolver.resolve(&env, None),
            Err(SecretError::EnvNotSet(_))
        ));
    }
}
