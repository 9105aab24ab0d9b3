use super::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use http::StatusCode;

/// Answers with the scripted outcomes in order and records the bodies it received.
struct Script {
    outcomes: Mutex<Vec<Result<u16, ()>>>,
    calls: AtomicU32,
    bodies: Mutex<Vec<Bytes>>,
}

impl Script {
    fn new(outcomes: &[Result<u16, ()>]) -> Self {
        Self {
            outcomes: Mutex::new(outcomes.iter().rev().cloned().collect()),
            calls: AtomicU32::new(0),
            bodies: Mutex::new(Vec::new()),
        }
    }
}

impl crate::services::Upstream for Script {
    fn name(&self) -> &std::sync::Arc<str> {
        unreachable!("not asked")
    }

    fn forward(
        &self,
        request: Request<Body>,
    ) -> futures_util::future::BoxFuture<'_, Result<Response<Body>, GatewayError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let body = request.into_body().collect().await.unwrap().to_bytes();
            self.bodies.lock().unwrap().push(body);
            match self.outcomes.lock().unwrap().pop().unwrap_or(Ok(200)) {
                Ok(code) => {
                    let mut response = Response::new(body::empty());
                    *response.status_mut() = StatusCode::from_u16(code).unwrap();
                    Ok(response)
                }
                Err(()) => Err(GatewayError::bad_gateway("connection refused")),
            }
        })
    }
}

fn policy(attempts: u32) -> RetryConfig {
    RetryConfig {
        attempts,
        initial_interval: Duration::ZERO,
        timeout: None,
        max_request_body_bytes: Some(portcullis_config::middleware_traffic::DEFAULT_RETRY_MAX_BODY),
        status: Vec::new(),
        retry_on_network_error: true,
        retry_non_idempotent_method: false,
    }
}

fn get() -> Request<Body> {
    Request::get("/").body(body::empty()).unwrap()
}

#[tokio::test]
async fn failed_tries_are_repeated_up_to_attempts() {
    let script = Script::new(&[Err(()), Err(()), Ok(200)]);
    let response = forward(&script, get(), Some(&policy(4))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(script.calls.load(Ordering::SeqCst), 3);

    let script = Script::new(&[Err(()), Err(()), Err(())]);
    assert!(forward(&script, get(), Some(&policy(2))).await.is_err());
    assert_eq!(script.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn any_response_ends_the_retries_unless_its_status_is_listed() {
    let script = Script::new(&[Ok(503), Ok(200)]);
    let response = forward(&script, get(), Some(&policy(3))).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);

    let mut with_status = policy(3);
    with_status.status = vec![(500, 599)];
    let script = Script::new(&[Ok(503), Ok(502), Ok(504)]);
    let response = forward(&script, get(), Some(&with_status)).await.unwrap();
    // The last try's answer is returned as is.
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(script.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn disable_retry_on_network_error_stops_at_the_first_failure() {
    let mut no_network = policy(3);
    no_network.retry_on_network_error = false;
    no_network.status = vec![(500, 500)];
    let script = Script::new(&[Err(()), Ok(200)]);
    assert!(forward(&script, get(), Some(&no_network)).await.is_err());
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_kept_body_is_sent_again_whole() {
    let script = Script::new(&[Err(()), Ok(200)]);
    let request = Request::put("/")
        .header("content-length", "5")
        .body(body::full("hello"))
        .unwrap();
    forward(&script, request, Some(&policy(3))).await.unwrap();
    assert_eq!(*script.bodies.lock().unwrap(), ["hello", "hello"]);
}

#[tokio::test]
async fn a_body_over_the_limit_or_of_unknown_length_is_sent_once() {
    let mut small = policy(3);
    small.max_request_body_bytes = Some(4);
    let script = Script::new(&[Err(()), Ok(200)]);
    let request = Request::put("/").body(body::full("hello")).unwrap();
    assert!(forward(&script, request, Some(&small)).await.is_err());
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);

    let script = Script::new(&[Err(()), Ok(200)]);
    let stream =
        http_body_util::StreamBody::new(futures_util::stream::iter(vec![Ok::<_, body::BoxError>(
            http_body::Frame::data(Bytes::from_static(b"chunk")),
        )]));
    let request = Request::put("/").body(body::stream(stream)).unwrap();
    assert!(forward(&script, request, Some(&policy(3))).await.is_err());
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn post_is_retried_only_with_retry_non_idempotent_method() {
    let post = || Request::post("/").body(body::empty()).unwrap();
    let script = Script::new(&[Err(()), Ok(200)]);
    assert!(forward(&script, post(), Some(&policy(3))).await.is_err());
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);

    let mut allowed = policy(3);
    allowed.retry_non_idempotent_method = true;
    let script = Script::new(&[Err(()), Ok(200)]);
    assert!(forward(&script, post(), Some(&allowed)).await.is_ok());
    assert_eq!(script.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn waits_grow_exponentially_from_the_initial_interval() {
    let mut backoff = policy(3);
    backoff.initial_interval = Duration::from_millis(100);
    let script = Script::new(&[Err(()), Err(()), Ok(200)]);
    let started = tokio::time::Instant::now();
    forward(&script, get(), Some(&backoff)).await.unwrap();
    let waited = started.elapsed();
    // First wait 50–150 ms, second (100 ms × √2) 70–213 ms.
    assert!(waited >= Duration::from_millis(120), "{waited:?}");
    assert!(waited <= Duration::from_millis(364), "{waited:?}");
}

#[tokio::test]
async fn timeout_bounds_the_time_spent_retrying() {
    let mut bounded = policy(10);
    bounded.timeout = Some(Duration::from_millis(1));
    bounded.initial_interval = Duration::from_millis(5);
    let script = Script::new(&[Err(()); 10]);
    assert!(forward(&script, get(), Some(&bounded)).await.is_err());
    assert!(script.calls.load(Ordering::SeqCst) < 10);
}
