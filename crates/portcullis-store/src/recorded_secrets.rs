//! Secrets as they were resolved when a middleware was built: to resolve them again later
//! without the original resolver, and to tell whether a rebuild would see the same values.

use std::sync::{Mutex, PoisonError};

use portcullis_config::{Secret, SecretError, SecretRef, SecretResolver};

/// One question to a resolver and its answer.
#[derive(Debug)]
struct Answer {
    reference: SecretRef,
    namespace: Option<String>,
    answer: Result<Secret, SecretError>,
}

/// The answers a resolver gave, in the order they were asked for.
#[derive(Debug, Default)]
pub struct Recorded(Mutex<Vec<Answer>>);

impl Recorded {
    /// Whether `resolver` now gives every recorded reference the recorded answer.
    pub fn still_current(&self, resolver: &dyn SecretResolver) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .all(|recorded| {
                resolver.resolve(&recorded.reference, recorded.namespace.as_deref())
                    == recorded.answer
            })
    }
}

/// Replays the recorded answers (the namespace was fixed when they were recorded).
impl SecretResolver for Recorded {
    fn resolve(
        &self,
        reference: &SecretRef,
        _namespace: Option<&str>,
    ) -> Result<Secret, SecretError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|recorded| recorded.reference == *reference)
            .map(|recorded| recorded.answer.clone())
            .unwrap_or_else(|| {
                Err(SecretError::Other(format!(
                    "{reference:?} was not resolved when the middleware was built"
                )))
            })
    }
}

/// Resolves with `inner` and records every answer into `recorded`.
pub struct Recorder<'a> {
    pub inner: &'a dyn SecretResolver,
    pub recorded: &'a Recorded,
}

impl SecretResolver for Recorder<'_> {
    fn resolve(
        &self,
        reference: &SecretRef,
        namespace: Option<&str>,
    ) -> Result<Secret, SecretError> {
        let answer = self.inner.resolve(reference, namespace);
        self.recorded
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Answer {
                reference: reference.clone(),
                namespace: namespace.map(str::to_owned),
                answer: answer.clone(),
            });
        answer
    }
}
