use super::*;
use std::time::Duration;

/// Records the bodies it receives.
struct Recorder {
    name: Arc<str>,
    seen: Mutex<Vec<Bytes>>,
}

impl Recorder {
    fn new(name: &str) -> Arc<Recorder> {
        Arc::new(Recorder {
            name: name.into(),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn seen(&self) -> Vec<Bytes> {
        self.seen.lock().unwrap().clone()
    }
}

impl Upstream for Recorder {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn forward(
        &self,
        request: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, GatewayError>> {
        Box::pin(async move {
            let bytes = request.into_body().collect().await.unwrap().to_bytes();
            self.seen.lock().unwrap().push(bytes);
            Ok(Response::new(body::full(self.name.to_string())))
        })
    }
}

fn config(mirror_body: bool, max_body_size: Option<u64>) -> MirroringConfig {
    MirroringConfig {
        service: "main".into(),
        mirrors: Vec::new(),
        mirror_body,
        max_body_size,
    }
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

fn post(body: &'static str) -> Request<Body> {
    Request::post("/").body(body::full(body)).unwrap()
}

#[tokio::test]
async fn percent_of_the_requests_reach_each_mirror_and_all_reach_the_main_service() {
    let (main, tenth, half, none) = (
        Recorder::new("main"),
        Recorder::new("tenth"),
        Recorder::new("half"),
        Recorder::new("none"),
    );
    let mirroring = Mirroring::new(
        "m",
        main.clone(),
        vec![(tenth.clone(), 10), (half.clone(), 50), (none.clone(), 0)],
        &config(true, None),
    );
    for _ in 0..20 {
        mirroring.forward(post("payload")).await.unwrap();
    }
    settle().await;
    assert_eq!(main.seen().len(), 20);
    assert_eq!(tenth.seen().len(), 2);
    assert_eq!(half.seen().len(), 10);
    assert!(none.seen().is_empty());
    assert!(half.seen().iter().all(|b| b == "payload"));
    assert!(main.seen().iter().all(|b| b == "payload"));
}

#[tokio::test]
async fn mirror_body_false_sends_copies_without_body() {
    let (main, mirror) = (Recorder::new("main"), Recorder::new("mirror"));
    let mirroring = Mirroring::new(
        "m",
        main.clone(),
        vec![(mirror.clone(), 100)],
        &config(false, None),
    );
    mirroring.forward(post("payload")).await.unwrap();
    settle().await;
    assert_eq!(main.seen(), ["payload"]);
    assert_eq!(mirror.seen(), [""]);
}

#[tokio::test]
async fn a_body_over_max_body_size_is_not_mirrored_but_reaches_the_main_service_whole() {
    let (main, mirror) = (Recorder::new("main"), Recorder::new("mirror"));
    let mirroring = Mirroring::new(
        "m",
        main.clone(),
        vec![(mirror.clone(), 100)],
        &config(true, Some(4)),
    );
    mirroring.forward(post("payload")).await.unwrap();
    mirroring.forward(post("tiny")).await.unwrap();
    settle().await;
    assert_eq!(main.seen(), ["payload", "tiny"]);
    assert_eq!(mirror.seen(), ["tiny"]);
}

/// Never answers.
struct Stuck(Arc<str>);

impl Upstream for Stuck {
    fn name(&self) -> &Arc<str> {
        &self.0
    }

    fn forward(&self, _: Request<Body>) -> BoxFuture<'_, Result<Response<Body>, GatewayError>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn copies_to_a_stuck_mirror_stop_at_the_bound() {
    let main = Recorder::new("main");
    let mirroring = Mirroring::new(
        "m",
        main.clone(),
        vec![(Arc::new(Stuck("stuck".into())), 100)],
        &config(false, None),
    );
    for _ in 0..MAX_COPIES_IN_FLIGHT + 10 {
        mirroring.forward(post("")).await.unwrap();
    }
    settle().await;
    assert_eq!(main.seen().len(), MAX_COPIES_IN_FLIGHT + 10);
    assert_eq!(
        mirroring.in_flight.load(Ordering::Relaxed),
        MAX_COPIES_IN_FLIGHT
    );
}
