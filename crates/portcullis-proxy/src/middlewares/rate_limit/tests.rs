use super::*;
use crate::middleware::Scheme;
use portcullis_config::middleware_traffic::IpStrategy;

fn config(average: u64, period: Duration, burst: u64, source: SourceCriterion) -> RateLimitConfig {
    RateLimitConfig {
        average,
        period,
        burst,
        source,
        redis: None,
    }
}

fn by_ip() -> SourceCriterion {
    SourceCriterion::Ip(IpStrategy::default())
}

#[test]
fn a_burst_passes_then_requests_wait_or_get_refused() {
    let limit = RateLimit::new(&config(10, Duration::from_secs(1), 3, by_ip()), MAX_SOURCES);
    let now = Instant::now();
    for _ in 0..3 {
        assert_eq!(limit.take("a", now), Ok(Duration::ZERO));
    }
    // The fourth needs a token 100 ms away; Traefik waits at most 1s/(2*10) = 50 ms.
    let refused = limit.take("a", now).unwrap_err();
    assert_eq!(refused, Duration::from_millis(100));
    // 60 ms later the token is 40 ms away: it waits.
    let wait = limit.take("a", now + Duration::from_millis(60)).unwrap();
    assert_eq!(wait, Duration::from_millis(40));
    // Another source has its own bucket.
    assert_eq!(limit.take("b", now), Ok(Duration::ZERO));
}

#[test]
fn the_rate_is_average_per_period() {
    // 6 a minute: one token every 10 s; below one a second, waits of up to 500 ms.
    let limit = RateLimit::new(&config(6, Duration::from_secs(60), 1, by_ip()), MAX_SOURCES);
    let now = Instant::now();
    assert!(limit.take("a", now).is_ok());
    assert_eq!(
        limit.take("a", now + Duration::from_secs(5)),
        Err(Duration::from_secs(5))
    );
    assert_eq!(
        limit.take("a", now + Duration::from_millis(9_600)),
        Ok(Duration::from_millis(400))
    );
    assert!(limit.take("a", now + Duration::from_secs(21)).is_ok());
}

#[test]
fn average_zero_means_no_limit() {
    let limit = RateLimit::new(&config(0, Duration::from_secs(1), 1, by_ip()), MAX_SOURCES);
    let now = Instant::now();
    for _ in 0..1000 {
        assert_eq!(limit.take("a", now), Ok(Duration::ZERO));
    }
    assert_eq!(limit.buckets.len(), 0);
}

#[test]
fn a_flood_of_distinct_sources_stays_within_the_bound() {
    let limit = RateLimit::new(&config(1, Duration::from_secs(1), 1, by_ip()), 1024);
    let now = Instant::now();
    for i in 0..20_000 {
        assert!(
            limit
                .take(&format!("10.0.{}.{}", i / 256, i % 256), now)
                .is_ok()
        );
    }
    assert!(limit.buckets.len() <= 1024, "{}", limit.buckets.len());
    // Refilled buckets are forgotten first, so a later flood does not need to evict live ones.
    let later = now + Duration::from_secs(5);
    assert!(limit.take("fresh", later).is_ok());
}

#[test]
fn x_retry_in_is_written_as_go_writes_durations() {
    assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
    assert_eq!(go_duration(Duration::from_secs(120)), "2m0s");
    assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
}

#[tokio::test]
async fn refusals_are_429_with_retry_after_in_whole_seconds() {
    let m = build(&config(1, Duration::from_secs(10), 1, by_ip())).unwrap();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..2 {
        let mut ctx = RequestContext::new(
            "127.0.0.1:5".parse().unwrap(),
            Scheme::Http,
            "web".into(),
            "r".into(),
        );
        let request = Request::get("/").body(body::empty()).unwrap();
        match m.handle(request, &mut ctx).await.unwrap() {
            Decision::Forward(_) => statuses.push(200),
            Decision::Respond(r) => {
                statuses.push(r.status().as_u16());
                retry_after = Some(r.headers()["retry-after"].clone());
                assert!(r.headers().contains_key("x-retry-in"));
            }
        }
    }
    assert_eq!(statuses, [200, 429]);
    assert_eq!(retry_after.unwrap(), "10");
}

#[tokio::test]
async fn request_header_sources_have_separate_buckets() {
    let source = SourceCriterion::RequestHeader(http::HeaderName::from_static("x-tenant"));
    let m = build(&config(1, Duration::from_secs(10), 1, source)).unwrap();
    let mut statuses = Vec::new();
    for tenant in ["a", "b", "a"] {
        let mut ctx = RequestContext::new(
            "127.0.0.1:5".parse().unwrap(),
            Scheme::Http,
            "web".into(),
            "r".into(),
        );
        let request = Request::get("/")
            .header("x-tenant", tenant)
            .body(body::empty())
            .unwrap();
        statuses.push(match m.handle(request, &mut ctx).await.unwrap() {
            Decision::Forward(_) => 200,
            Decision::Respond(r) => r.status().as_u16(),
        });
    }
    assert_eq!(statuses, [200, 200, 429]);
}

struct NoPlugins;

impl crate::runtime::PluginBuilder for NoPlugins {
    fn build(
        &self,
        _: &str,
        _: &portcullis_config::plugin::PluginConfig,
        _: Option<&str>,
    ) -> Result<Arc<dyn Middleware>, portcullis_config::MiddlewareError> {
        Err(String::from("no plugins").into())
    }
}

async fn status(m: &Arc<dyn Middleware>) -> u16 {
    let mut ctx = RequestContext::new(
        "127.0.0.1:5".parse().unwrap(),
        Scheme::Http,
        "web".into(),
        "r".into(),
    );
    let request = Request::get("/").body(body::empty()).unwrap();
    match m.handle(request, &mut ctx).await {
        Ok(Decision::Forward(_)) => 200,
        Ok(Decision::Respond(r)) => r.status().as_u16(),
        Err(e) => e.status().as_u16(),
    }
}

#[tokio::test]
async fn replicas_sharing_redis_share_the_limit_and_an_outage_answers_503() {
    let mut server = portcullis_store::testing::Server::start(&[]);
    let mut cfg = config(1, Duration::from_secs(60), 2, by_ip());
    cfg.redis = Some(Box::new(portcullis_store::testing::config(vec![
        server.address(),
    ])));
    // Without the store, only `build_for` can build it.
    assert!(build(&cfg).is_err());
    let one = build_for("limit", &cfg, None, &NoPlugins).unwrap();
    let two = build_for("limit", &cfg, None, &NoPlugins).unwrap();
    let other = build_for("other-limit", &cfg, None, &NoPlugins).unwrap();
    assert_eq!(status(&one).await, 200);
    assert_eq!(status(&two).await, 200);
    assert_eq!(status(&one).await, 429);
    assert_eq!(status(&two).await, 429);
    // Each middleware has its own buckets.
    assert_eq!(status(&other).await, 200);
    server.stop();
    assert_eq!(status(&one).await, 503);
}
