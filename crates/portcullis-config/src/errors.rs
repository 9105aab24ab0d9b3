//! Validation errors with the path of the offending key, collected all at once.

use std::fmt;

/// One problem in a configuration, at a dotted path such as
/// `http.middlewares.oidc-login.plugin.oidc.session.expiry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a middleware could not be built: the option at fault, as a path inside the middleware's
/// own block (`clientID`, `session.store.redis`; empty when no single option is), and why.
/// Where the middleware sits (`http.middlewares.<name>` in a file, a Kubernetes Middleware) is
/// for the caller to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiddlewareError {
    pub option: String,
    pub reason: String,
}

impl MiddlewareError {
    /// An error about the option at `option`.
    pub fn at(option: impl Into<String>, reason: impl ToString) -> Self {
        Self {
            option: option.into(),
            reason: reason.to_string(),
        }
    }
}

/// An error that names no single option.
impl From<String> for MiddlewareError {
    fn from(reason: String) -> Self {
        Self::at("", reason)
    }
}

impl fmt::Display for MiddlewareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.option.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.option, self.reason)
        }
    }
}

impl std::error::Error for MiddlewareError {}

/// Collects every error of a validation pass instead of stopping at the first one.
#[derive(Debug, Default)]
pub struct Errors {
    errors: Vec<ConfigError>,
}

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, path: &Path, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn into_vec(self) -> Vec<ConfigError> {
        self.errors
    }

    /// `Ok(value)` when nothing was reported, else every error.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<ConfigError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// A dotted configuration path, built while walking the raw configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path {
    segments: Vec<String>,
}

impl Path {
    pub fn root() -> Self {
        Self::default()
    }

    /// The path of a child key.
    #[must_use]
    pub fn key(&self, segment: impl Into<String>) -> Self {
        let mut segments = self.segments.clone();
        segments.push(segment.into());
        Self { segments }
    }

    /// The path of a list element.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.segments.clone();
        match segments.last_mut() {
            Some(last) => last.push_str(&format!("[{index}]")),
            None => segments.push(format!("[{index}]")),
        }
        Self { segments }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_middleware_error_names_its_option_when_it_has_one() {
        let at = MiddlewareError::at("session.secret", "too short");
        assert_eq!(at.to_string(), "session.secret: too short");
        let whole = MiddlewareError::from("key derivation failed".to_owned());
        assert_eq!(whole.to_string(), "key derivation failed");
    }

    #[test]
    fn paths_print_dotted_with_indices() {
        let path = Path::root()
            .key("http")
            .key("services")
            .key("app")
            .key("servers")
            .index(2)
            .key("url");
        assert_eq!(path.to_string(), "http.services.app.servers[2].url");
    }

    #[test]
    fn errors_collect_and_finish() {
        let mut errors = Errors::new();
        assert_eq!(Errors::new().finish(5), Ok(5));
        errors.push(&Path::root().key("a"), "first");
        errors.push(&Path::root().key("b"), "second");
        let all = errors.finish(()).unwrap_err();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].to_string(), "b: second");
    }
}
