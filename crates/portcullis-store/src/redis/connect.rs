//! Turns a validated [`RedisConfig`] into a connected-on-demand backend: secrets resolved,
//! endpoints parsed, TLS material loaded, timeouts set.

use std::time::Duration;

use portcullis_config::plugin::common::RedisConfig;
use portcullis_config::{Secret, SecretRef, SecretResolver};
use redis::{
    ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo,
    TlsCertificates, TlsMode,
};

use super::{Backend, RedisMode, RedisStoreOptions, sentinel::SentinelBackend};
use crate::StoreError;

/// Data-node reconnection: a few quick attempts, so that a request during an outage fails
/// within the operation timeout and the next one after Redis returns reconnects at once.
const RECONNECT_ATTEMPTS: usize = 2;
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

fn resolve(
    reference: Option<&SecretRef>,
    option: &str,
    resolver: &dyn SecretResolver,
    namespace: Option<&str>,
) -> Result<Option<Secret>, StoreError> {
    match reference {
        None => Ok(None),
        Some(reference) if reference.is_empty_inline() => Ok(None),
        Some(reference) => resolver
            .resolve(reference, namespace)
            .map(|secret| (!secret.expose().is_empty()).then_some(secret))
            .map_err(|error| StoreError::Config(format!("redis {option}: {error}"))),
    }
}

/// Credentials and TLS for one kind of connection.
struct Tls {
    mode: TlsMode,
    certificates: TlsCertificates,
}

fn tls(
    config: &RedisConfig,
    resolver: &dyn SecretResolver,
    namespace: Option<&str>,
) -> Result<Option<Tls>, StoreError> {
    let Some(tls) = &config.tls else {
        return Ok(None);
    };
    let root_cert = resolve(tls.ca_bundle.as_ref(), "tls.caBundle", resolver, namespace)?
        .map(|pem| pem.expose().as_bytes().to_vec());
    let cert = resolve(tls.cert.as_ref(), "tls.cert", resolver, namespace)?;
    let key = resolve(tls.key.as_ref(), "tls.key", resolver, namespace)?;
    let client_tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: cert.expose().as_bytes().to_vec(),
            client_key: key.expose().as_bytes().to_vec(),
        }),
        (None, None) => None,
        _ => {
            return Err(StoreError::Config(
                "redis tls.cert and tls.key must be set together".into(),
            ));
        }
    };
    let mode = if tls.insecure_skip_verify {
        // The "skip verification" verifier reads the process-wide crypto provider; make sure
        // one is installed (aws-lc-rs, the only provider in the build). An error only means
        // another part of the process installed it first.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        TlsMode::Insecure
    } else {
        TlsMode::Secure
    };
    Ok(Some(Tls {
        mode,
        certificates: TlsCertificates {
            client_tls,
            root_cert,
        },
    }))
}

fn host_port(endpoint: &str) -> Result<(String, u16), StoreError> {
    let invalid = || StoreError::Config(format!("redis endpoint {endpoint:?} is not host:port"));
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(invalid)?;
    let port = port.parse::<u16>().map_err(|_| invalid())?;
    // An IPv6 literal is written in brackets in the configuration, but connects without them.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host.to_owned(), port))
}

fn address(endpoint: &str, tls: Option<&Tls>) -> Result<ConnectionAddr, StoreError> {
    let (host, port) = host_port(endpoint)?;
    Ok(match tls {
        None => ConnectionAddr::Tcp(host, port),
        Some(tls) => ConnectionAddr::TcpTls {
            host,
            port,
            insecure: tls.mode == TlsMode::Insecure,
            tls_params: None,
        },
    })
}

fn config_error(what: &str, error: &redis::RedisError) -> StoreError {
    StoreError::Config(format!("redis {what}: {error}"))
}

pub(super) fn backend(
    config: &RedisConfig,
    resolver: &dyn SecretResolver,
    namespace: Option<&str>,
    options: RedisStoreOptions,
) -> Result<(Backend, RedisMode), StoreError> {
    let username = resolve(config.username.as_ref(), "username", resolver, namespace)?;
    let password = resolve(config.password.as_ref(), "password", resolver, namespace)?;
    let tls = tls(config, resolver, namespace)?;
    if config.endpoints.is_empty() {
        return Err(StoreError::Config(
            "redis endpoints: none configured".into(),
        ));
    }

    if let Some(sentinel) = &config.sentinel {
        let sentinel_username = resolve(
            sentinel.username.as_ref(),
            "sentinel.username",
            resolver,
            namespace,
        )?;
        let sentinel_password = resolve(
            sentinel.password.as_ref(),
            "sentinel.password",
            resolver,
            namespace,
        )?;
        let sentinels = config
            .endpoints
            .iter()
            .map(|endpoint| address(endpoint, tls.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut builder = redis::sentinel::SentinelClientBuilder::new(
            sentinels,
            &sentinel.master_set,
            redis::sentinel::SentinelServerType::Master,
        )
        .map_err(|e| config_error("sentinel", &e))?
        .set_client_to_redis_db(i64::from(config.database));
        if let Some(username) = &username {
            builder = builder.set_client_to_redis_username(username.expose());
        }
        if let Some(password) = &password {
            builder = builder.set_client_to_redis_password(password.expose());
        }
        if let Some(username) = &sentinel_username {
            builder = builder.set_client_to_sentinel_username(username.expose());
        }
        if let Some(password) = &sentinel_password {
            builder = builder.set_client_to_sentinel_password(password.expose());
        }
        if let Some(tls) = &tls {
            // One `tls` block serves the sentinels and the data nodes alike.
            builder = builder
                .set_client_to_redis_tls_mode(tls.mode)
                .set_client_to_redis_certificates(tls.certificates.clone())
                .set_client_to_sentinel_tls_mode(tls.mode)
                .set_client_to_sentinel_certificates(tls.certificates.clone());
        }
        let client = builder.build().map_err(|e| config_error("sentinel", &e))?;
        let connection_config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.operation_timeout));
        return Ok((
            Backend::Sentinel(Box::new(SentinelBackend::new(client, connection_config))),
            RedisMode::Sentinel,
        ));
    }

    if config.cluster {
        if config.database != 0 {
            tracing::warn!(
                database = config.database,
                "Redis Cluster only has database 0: the configured database is ignored"
            );
        }
        let nodes = config
            .endpoints
            .iter()
            .map(|endpoint| address(endpoint, tls.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut builder = redis::cluster::ClusterClientBuilder::new(nodes)
            .connection_timeout(options.connect_timeout)
            .response_timeout(options.operation_timeout)
            .retries(2)
            .max_retry_wait(200)
            .min_retry_wait(20);
        if let Some(username) = &username {
            builder = builder.username(username.expose());
        }
        if let Some(password) = &password {
            builder = builder.password(password.expose());
        }
        if let Some(tls) = &tls {
            builder = builder.tls(tls.mode).certs(tls.certificates.clone());
        }
        let client = builder.build().map_err(|e| config_error("cluster", &e))?;
        let cluster_config = redis::cluster::ClusterConfig::new()
            .set_connection_timeout(options.connect_timeout)
            .set_response_timeout(options.operation_timeout);
        let connection = client.get_pending_async_connection_with_config(cluster_config);
        return Ok((Backend::Cluster(connection), RedisMode::Cluster));
    }

    if config.endpoints.len() > 1 {
        tracing::warn!(
            endpoints = config.endpoints.len(),
            "several Redis endpoints without cluster or sentinel: only the first is used"
        );
    }
    let first = config
        .endpoints
        .first()
        .ok_or_else(|| StoreError::Config("redis endpoints: none configured".into()))?;
    let mut redis_info = RedisConnectionInfo::default().set_db(i64::from(config.database));
    if let Some(username) = &username {
        redis_info = redis_info.set_username(username.expose());
    }
    if let Some(password) = &password {
        redis_info = redis_info.set_password(password.expose());
    }
    let info: ConnectionInfo = address(first, tls.as_ref())?
        .into_connection_info()
        .map_err(|e| config_error("endpoint", &e))?
        .set_redis_settings(redis_info);
    let client = match &tls {
        None => redis::Client::open(info),
        Some(tls) => redis::Client::build_with_tls(info, tls.certificates.clone()),
    }
    .map_err(|e| config_error("client", &e))?;
    let manager_config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.operation_timeout))
        .set_number_of_retries(RECONNECT_ATTEMPTS)
        .set_max_delay(RECONNECT_MAX_DELAY);
    let manager = client
        .get_connection_manager_lazy(manager_config)
        .map_err(|e| config_error("connection", &e))?;
    Ok((Backend::Single(manager), RedisMode::Single))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports() {
        assert_eq!(host_port("redis:6379").unwrap(), ("redis".into(), 6379));
        assert_eq!(host_port("[::1]:6380").unwrap(), ("::1".into(), 6380));
        assert!(host_port("redis").is_err());
        assert!(host_port(":6379").is_err());
        assert!(host_port("redis:99999").is_err());
    }
}
