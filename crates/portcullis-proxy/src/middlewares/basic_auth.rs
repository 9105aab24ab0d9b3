//! Traefik's `basicAuth`: HTTP Basic authentication against htpasswd users.
//!
//! Protects a route from anyone without a listed user's password. Against guessing by timing,
//! hashes are compared in constant time and an unknown user costs the same work as a known one
//! (a stand-in hash of the first user's kind is verified, as Traefik does). bcrypt work runs on
//! the blocking pool so a burst of logins cannot stall other requests. A refusal is 401 with
//! `WWW-Authenticate: Basic realm="..."`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response, StatusCode, header};
use portcullis_config::KubernetesSecret;
use portcullis_config::middleware_traffic::{BasicAuthConfig, check_user_line};
use sha1::{Digest, Sha1};

use super::htpasswd::PasswordHash;
use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::middleware::{Decision, Middleware, RequestContext};

pub struct BasicAuth {
    users: HashMap<String, Arc<PasswordHash>>,
    /// Verified when the user is unknown, so that answer takes as long as a wrong password.
    stand_in: Arc<PasswordHash>,
    challenge: HeaderValue,
    config: BasicAuthConfig,
}

/// Builds the middleware. `secret_lines` are the users read from the Kubernetes Secret named
/// by `secret`, if any.
pub fn build(
    config: &BasicAuthConfig,
    secret_lines: Option<Vec<String>>,
) -> Result<Arc<dyn Middleware>, String> {
    if config.secret.is_some() && secret_lines.is_none() {
        return Err(
            "secret is only available in Kubernetes Middlewares; use users or usersFile".into(),
        );
    }
    // Order gives precedence: the file first, then `users` (and the Secret) override it.
    let mut lines = Vec::new();
    if let Some(path) = &config.users_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("usersFile {}: {e}", path.display()))?;
        lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    lines.extend(config.users.iter().cloned());
    lines.extend(secret_lines.unwrap_or_default());

    let mut users = HashMap::new();
    let mut first = None;
    for line in &lines {
        check_user_line(line)?;
        let (name, hash) = line.split_once(':').unwrap_or_default();
        let hash = Arc::new(PasswordHash::parse(hash).map_err(|e| format!("user {name:?}: {e}"))?);
        first.get_or_insert_with(|| hash.clone());
        users.insert(name.to_owned(), hash);
    }
    let stand_in = first.ok_or_else(|| "no users found".to_owned())?;
    let challenge = HeaderValue::from_str(&format!("Basic realm=\"{}\"", config.realm))
        .map_err(|_| "realm cannot be sent in a header".to_owned())?;
    Ok(Arc::new(BasicAuth {
        users,
        stand_in,
        challenge,
        config: config.clone(),
    }))
}

/// Builds the middleware, reading `secret` (if set) from the Kubernetes Secrets of `namespace`
/// through the resolver of `plugins`.
pub fn build_for(
    config: &BasicAuthConfig,
    namespace: Option<&str>,
    plugins: &dyn crate::runtime::PluginBuilder,
) -> Result<Arc<dyn Middleware>, String> {
    let Some(name) = &config.secret else {
        return build(config, None);
    };
    let (Some(namespace), Some(resolver)) = (namespace, plugins.secret_resolver()) else {
        return build(config, None);
    };
    let secret = resolver
        .kubernetes_secret(name, namespace)
        .map_err(|e| format!("secret: {e}"))?;
    build(config, Some(users_from_secret(name, &secret)?))
}

/// The htpasswd lines of a Kubernetes Secret, read as Traefik reads them: a
/// `kubernetes.io/basic-auth` Secret's `username` and `password` (the password is hashed here,
/// with SHA1 as Traefik does); any other Secret must have exactly one key, whose non-empty
/// lines are the users.
pub fn users_from_secret(name: &str, secret: &KubernetesSecret) -> Result<Vec<String>, String> {
    if secret.secret_type.as_deref() == Some("kubernetes.io/basic-auth") {
        let (Some(user), Some(password)) =
            (secret.data.get("username"), secret.data.get("password"))
        else {
            return Err(format!(
                "secret {name:?} must contain both username and password keys"
            ));
        };
        let user = String::from_utf8(user.clone())
            .map_err(|_| format!("secret {name:?}: username is not UTF-8 text"))?;
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha1::digest(password));
        return Ok(vec![format!("{user}:{{SHA}}{digest}")]);
    }
    let mut values = secret.data.values();
    let (Some(only), None) = (values.next(), values.next()) else {
        return Err(format!(
            "found {} elements for secret {name:?}, must be single element exactly",
            secret.data.len()
        ));
    };
    let text = String::from_utf8(only.clone())
        .map_err(|_| format!("secret {name:?} is not UTF-8 text"))?;
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.is_empty() {
        return Err(format!("secret {name:?} does not contain any credentials"));
    }
    Ok(lines)
}

/// The user and password of a `Basic` `Authorization` header.
fn credentials(request: &Request<Body>) -> Option<(String, String)> {
    let value = request.headers().get(header::AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.get(6..)?)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl BasicAuth {
    async fn check(&self, user: &str, password: String) -> bool {
        let (hash, known) = match self.users.get(user) {
            Some(hash) => (hash.clone(), true),
            None => (self.stand_in.clone(), false),
        };
        let matched = if hash.is_slow() {
            tokio::task::spawn_blocking(move || hash.verify(&password))
                .await
                .unwrap_or(false)
        } else {
            hash.verify(&password)
        };
        matched && known
    }

    fn refuse(&self) -> Response<Body> {
        let mut response = Response::new(body::full("401 Unauthorized\n"));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

impl Middleware for BasicAuth {
    fn handle<'a>(
        &'a self,
        mut request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let Some((user, password)) = credentials(&request) else {
                return Ok(Decision::Respond(self.refuse()));
            };
            let authenticated = self.check(&user, password).await;
            // As Traefik, the access log names the user a request claimed, refused or not.
            ctx.username = Some(user.clone());
            if !authenticated {
                return Ok(Decision::Respond(self.refuse()));
            }
            if let Some(field) = &self.config.header_field {
                match HeaderValue::from_str(&user) {
                    Ok(value) => {
                        request.headers_mut().insert(field.clone(), value);
                    }
                    Err(_) => {
                        request.headers_mut().remove(field);
                    }
                }
            }
            if self.config.remove_header {
                request.headers_mut().remove(header::AUTHORIZATION);
            }
            Ok(Decision::Forward(request))
        })
    }
}

#[cfg(test)]
mod tests;
