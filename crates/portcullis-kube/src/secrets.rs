//! `urn:k8s:secret:NAME:KEY` resolved from the Secrets the provider watches.
//!
//! A reference is looked up only in the namespace of the Middleware that holds it, so a route
//! author in one namespace cannot read another namespace's Secrets through a Middleware.
//! `env:` and `file:` references are refused in Kubernetes resources: they would let anyone who
//! may create a Middleware send the gateway's own environment or files (its service account
//! token, for one) to a server of their choosing. References from file configuration (no
//! namespace) and inline values go to the fallback resolver.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret as KubeSecret;
use kube::runtime::reflector::{ObjectRef, Store};
use portcullis_config::{KubernetesSecret, Secret, SecretError, SecretRef, SecretResolver};

/// Where Secrets are read from: the reflector stores (one per watched namespace, or one for all).
pub trait SecretSource: Send + Sync {
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<KubeSecret>>;
}

impl SecretSource for Vec<Store<KubeSecret>> {
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<KubeSecret>> {
        let key = ObjectRef::new(name).within(namespace);
        self.iter().find_map(|store| store.get(&key))
    }
}

/// Resolves Kubernetes references from `source`, everything else with `fallback`.
pub struct KubeSecrets {
    source: Arc<dyn SecretSource>,
    fallback: Arc<dyn SecretResolver>,
}

impl KubeSecrets {
    pub fn new(source: Arc<dyn SecretSource>, fallback: Arc<dyn SecretResolver>) -> Self {
        Self { source, fallback }
    }
}

impl SecretResolver for KubeSecrets {
    fn resolve(
        &self,
        reference: &SecretRef,
        namespace: Option<&str>,
    ) -> Result<Secret, SecretError> {
        let (SecretRef::Kubernetes { name, key }, Some(namespace)) = (reference, namespace) else {
            if namespace.is_some() && matches!(reference, SecretRef::Env(_) | SecretRef::File(_)) {
                // Whoever may create a Middleware must not read the gateway's own environment
                // or files (its service account token, for one) by sending them to a provider.
                return Err(SecretError::Other(format!(
                    "{reference:?}: env: and file: references are not allowed in Kubernetes resources; use urn:k8s:secret:NAME:KEY"
                )));
            }
            return self.fallback.resolve(reference, namespace);
        };
        let secret =
            self.source
                .secret(namespace, name)
                .ok_or_else(|| SecretError::SecretNotFound {
                    name: name.clone(),
                    namespace: Some(namespace.to_owned()),
                })?;
        // The API server has already merged `stringData` into `data`.
        let bytes = secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .ok_or_else(|| SecretError::KeyNotFound {
                name: name.clone(),
                key: key.clone(),
            })?;
        let value = String::from_utf8(bytes.0.clone()).map_err(|_| {
            SecretError::Other(format!("secret {name:?} key {key:?} is not UTF-8 text"))
        })?;
        Ok(Secret::new(value))
    }

    fn kubernetes_secret(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<KubernetesSecret, SecretError> {
        // Only the Middleware's own namespace is ever asked for (see the module note).
        let secret =
            self.source
                .secret(namespace, name)
                .ok_or_else(|| SecretError::SecretNotFound {
                    name: name.to_owned(),
                    namespace: Some(namespace.to_owned()),
                })?;
        Ok(KubernetesSecret {
            secret_type: secret.type_.clone(),
            data: secret
                .data
                .as_ref()
                .map(|data| data.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use kube::api::ObjectMeta;
    use portcullis_config::LocalResolver;

    use super::*;
    use crate::testing::FixedSecrets;

    fn secret(namespace: &str, name: &str, pairs: &[(&str, &[u8])]) -> KubeSecret {
        KubeSecret {
            metadata: ObjectMeta {
                namespace: Some(namespace.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn references_resolve_in_the_middleware_namespace_only() {
        let mut local = LocalResolver::new();
        local.insert("oidc-client", "client_id", "from-a-manifest-file");
        let resolver = KubeSecrets::new(
            Arc::new(FixedSecrets(vec![
                secret("apps", "oidc-client", &[("client_id", b"apps-id")]),
                secret("other", "oidc-client", &[("client_id", b"other-id")]),
                secret("apps", "binary", &[("k", &[0xff, 0xfe])]),
            ])),
            Arc::new(local),
        );
        let reference = SecretRef::parse("urn:k8s:secret:oidc-client:client_id").unwrap();
        assert_eq!(
            resolver.resolve(&reference, Some("apps")).unwrap().expose(),
            "apps-id"
        );
        assert_eq!(
            resolver
                .resolve(&reference, Some("other"))
                .unwrap()
                .expose(),
            "other-id"
        );
        assert_eq!(
            resolver
                .resolve(&reference, Some("third"))
                .unwrap_err()
                .to_string(),
            "secret \"oidc-client\" not found in namespace \"third\""
        );
        let missing_key = SecretRef::parse("urn:k8s:secret:oidc-client:client_secret").unwrap();
        assert_eq!(
            resolver
                .resolve(&missing_key, Some("apps"))
                .unwrap_err()
                .to_string(),
            "secret \"oidc-client\" has no key \"client_secret\""
        );
        let binary = SecretRef::parse("urn:k8s:secret:binary:k").unwrap();
        assert!(resolver.resolve(&binary, Some("apps")).is_err());
        // File configuration has no namespace: its references read the manifest files.
        assert_eq!(
            resolver.resolve(&reference, None).unwrap().expose(),
            "from-a-manifest-file"
        );
        for local in [
            "env:HOME",
            "file:/var/run/secrets/kubernetes.io/serviceaccount/token",
        ] {
            let reference = SecretRef::parse(local).unwrap();
            let error = resolver.resolve(&reference, Some("apps")).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("not allowed in Kubernetes resources")
            );
        }
        assert!(
            resolver
                .resolve(&SecretRef::parse("env:HOME").unwrap(), None)
                .is_ok()
        );
        let inline = SecretRef::parse("plain").unwrap();
        assert_eq!(
            resolver.resolve(&inline, Some("apps")).unwrap().expose(),
            "plain"
        );
    }
}
