//! Idle connections: how long a client connection may hold a slot without a request in flight.
//!
//! A gateway's connection slots and memory are what a slow or silent client attacks: an HTTP/2
//! client that sends its preface and then nothing, or a keep-alive client that never sends its
//! next request, would otherwise stay connected for ever. Each connection counts its requests in
//! flight (from the request's arrival until its response body is finished) and remembers when
//! the last one ended; a connection without a request in flight is closed gracefully once it has
//! been idle for the read timeout (no request yet) or the idle timeout (after its first request).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How long a connection may stay idle.
#[derive(Debug, Clone, Copy)]
pub struct IdleLimits {
    /// Before the first request arrives.
    pub first_request: Duration,
    /// Between requests.
    pub between_requests: Duration,
}

/// The request activity of one connection.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` at which the last request ended, plus one; zero before any.
    last_end: AtomicU64,
    /// Requests ended so far.
    ended: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end: AtomicU64::new(0),
            ended: AtomicU64::new(0),
        })
    }

    /// Marks a request as started; it counts as in flight until the guard is dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// When the connection will have been idle for its limit, or `None` while a request is in
    /// flight.
    pub fn idle_deadline(&self, limits: IdleLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.last_end.load(Ordering::Acquire) {
            0 => Some(self.opened + limits.first_request),
            ended => Some(self.opened + Duration::from_millis(ended - 1) + limits.between_requests),
        }
    }

    /// How many requests have ended on this connection.
    pub fn ended(&self) -> u64 {
        self.ended.load(Ordering::Acquire)
    }

    pub fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    fn end(&self) {
        let since_open = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        // Stored before the count drops, so whoever sees no request in flight also sees when
        // the last one ended.
        self.last_end.store(since_open + 1, Ordering::Release);
        self.ended.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request in flight on its connection.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A response body that keeps its request in flight until the body is finished or dropped, so
/// a long download or stream is never taken for an idle connection.
pub type TrackedBody = crate::body::Keeping<InFlight>;

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: IdleLimits = IdleLimits {
        first_request: Duration::from_secs(5),
        between_requests: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_gets_the_first_request_limit() {
        let activity = Activity::new();
        assert_eq!(
            activity.idle_deadline(LIMITS),
            Some(activity.opened + LIMITS.first_request)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_while_a_request_is_in_flight_then_the_idle_limit_from_its_end() {
        let activity = Activity::new();
        let request = activity.start();
        assert_eq!(activity.idle_deadline(LIMITS), None);
        tokio::time::advance(Duration::from_secs(7)).await;
        drop(request);
        assert!(activity.is_idle());
        assert_eq!(
            activity.idle_deadline(LIMITS),
            Some(activity.opened + Duration::from_secs(7) + LIMITS.between_requests)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_body_keeps_its_request_in_flight_until_dropped() {
        let activity = Activity::new();
        let body = crate::body::Keeping::new(crate::body::full("x"), activity.start());
        assert!(!activity.is_idle());
        drop(body);
        assert!(activity.is_idle());
    }
}
