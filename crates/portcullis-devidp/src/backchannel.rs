//! Back-channel logout sender (OpenID Connect Back-Channel Logout 1.0 section 2.5): POSTs a
//! signed logout token as `application/x-www-form-urlencoded` `logout_token=…` to each affected
//! client's registered URL, and records every delivery so a test can await it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::state::{Provider, lock};
use crate::tokens::logout_token;

/// How long one delivery may take before it is recorded as failed.
pub(crate) const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which logins a programmatic back-channel logout ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutTarget {
    /// Every provider session of this username; tokens carry `sid` and `sub`.
    User(String),
    /// One provider session; the token carries `sid` and `sub`.
    Session(String),
    /// A subject without a session: every client with a back-channel URL gets a token with
    /// `sub` and no `sid`. Provider sessions of that subject are ended too.
    Subject(String),
}

impl LogoutTarget {
    /// Every session of a username.
    pub fn user(username: impl Into<String>) -> Self {
        Self::User(username.into())
    }

    /// One session id (`sid`).
    pub fn session(sid: impl Into<String>) -> Self {
        Self::Session(sid.into())
    }

    /// A subject (`sub`), without `sid`.
    pub fn subject(sub: impl Into<String>) -> Self {
        Self::Subject(sub.into())
    }
}

/// The outcome of one logout-token POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelDelivery {
    /// The client whose back-channel URL was called.
    pub client_id: String,
    /// The URL POSTed to.
    pub url: String,
    /// The `sub` of the logout token, if any.
    pub sub: Option<String>,
    /// The `sid` of the logout token, if any.
    pub sid: Option<String>,
    /// The HTTP status answered, or `None` when the request failed.
    pub status: Option<u16>,
    /// Why the request failed, when it did.
    pub error: Option<String>,
}

impl BackchannelDelivery {
    /// Whether the client acknowledged the logout (2xx).
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Every delivery made so far, with a counter tests can wait on.
#[derive(Debug)]
pub(crate) struct BackchannelLog {
    deliveries: Mutex<Vec<BackchannelDelivery>>,
    count: watch::Sender<usize>,
}

impl Default for BackchannelLog {
    fn default() -> Self {
        Self {
            deliveries: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
        }
    }
}

impl BackchannelLog {
    fn record(&self, delivery: BackchannelDelivery) {
        let count = {
            let mut all = lock(&self.deliveries);
            all.push(delivery);
            all.len()
        };
        self.count.send_replace(count);
    }

    pub(crate) fn all(&self) -> Vec<BackchannelDelivery> {
        lock(&self.deliveries).clone()
    }

    /// Waits until at least `count` deliveries were recorded, or the timeout passes; returns
    /// all recorded deliveries either way.
    pub(crate) async fn wait_for(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<BackchannelDelivery> {
        let mut receiver = self.count.subscribe();
        let _ = tokio::time::timeout(timeout, receiver.wait_for(|n| *n >= count)).await;
        self.all()
    }
}

/// One logout token to deliver.
pub(crate) struct Notice {
    pub(crate) client_id: String,
    pub(crate) sub: Option<String>,
    pub(crate) sid: Option<String>,
}

/// Delivers the notices to clients that have a back-channel URL (others are skipped), one after
/// the other, and records and returns the outcomes.
pub(crate) async fn deliver(provider: &Provider, notices: Vec<Notice>) -> Vec<BackchannelDelivery> {
    let mut outcomes = Vec::new();
    for notice in notices {
        let Some(client) = provider.client(&notice.client_id) else {
            continue;
        };
        let Some(url) = client.backchannel_logout_uri.clone() else {
            continue;
        };
        let mut outcome = BackchannelDelivery {
            client_id: notice.client_id.clone(),
            url: url.clone(),
            sub: notice.sub.clone(),
            sid: notice.sid.clone(),
            status: None,
            error: None,
        };
        match logout_token(
            provider,
            client,
            notice.sub.as_deref(),
            notice.sid.as_deref(),
        ) {
            Ok(token) => {
                let sent = provider
                    .http
                    .post(&url)
                    .form(&[("logout_token", token)])
                    .timeout(DELIVERY_TIMEOUT)
                    .send()
                    .await;
                match sent {
                    Ok(response) => outcome.status = Some(response.status().as_u16()),
                    Err(e) => outcome.error = Some(e.to_string()),
                }
            }
            Err(e) => outcome.error = Some(e.to_string()),
        }
        tracing::info!(
            client = %outcome.client_id, url = %outcome.url, status = ?outcome.status,
            error = ?outcome.error, "devidp back-channel logout delivered"
        );
        provider.backchannel.record(outcome.clone());
        outcomes.push(outcome);
    }
    outcomes
}

/// Ends provider sessions and notifies their clients; with a subject target, also notifies
/// every back-channel client with a `sub`-only token.
pub(crate) async fn logout(provider: &Provider, target: &LogoutTarget) -> Vec<BackchannelDelivery> {
    let notices = {
        let mut grants = lock(&provider.grants);
        let sids: Vec<String> = grants
            .sessions
            .iter()
            .filter(|(sid, session)| match target {
                LogoutTarget::User(username) => &session.username == username,
                LogoutTarget::Session(wanted) => *sid == wanted,
                LogoutTarget::Subject(sub) => provider
                    .user(&session.username)
                    .is_some_and(|u| u.effective_sub() == sub),
            })
            .map(|(sid, _)| sid.clone())
            .collect();
        let mut notices = Vec::new();
        for sid in sids {
            if let Some(session) = grants.end_session(&sid) {
                if matches!(target, LogoutTarget::Subject(_)) {
                    continue;
                }
                let sub = provider
                    .user(&session.username)
                    .map(|u| u.effective_sub().to_owned());
                notices.extend(session.clients.into_iter().map(|client_id| Notice {
                    client_id,
                    sub: sub.clone(),
                    sid: Some(sid.clone()),
                }));
            }
        }
        if let LogoutTarget::Subject(sub) = target {
            grants.refresh_tokens.retain(|_, g| {
                provider
                    .user(&g.username)
                    .is_none_or(|u| u.effective_sub() != sub)
            });
            notices.extend(
                provider
                    .config
                    .clients
                    .iter()
                    .filter(|c| c.backchannel_logout_uri.is_some())
                    .map(|c| Notice {
                        client_id: c.id.clone(),
                        sub: Some(sub.clone()),
                        sid: None,
                    }),
            );
        }
        notices
    };
    deliver(provider, notices).await
}
