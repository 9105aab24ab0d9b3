//! Traefik's services made of services, `weighted` and `mirroring`, end to end: the documented
//! examples pass `portcullis check`, and a running gateway spreads and copies requests as they
//! say.

#![cfg(test)]

mod support;

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{Echo, client, gateway};

/// An upstream that counts the requests and body bytes it received.
struct Counter {
    url: String,
    requests: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
}

async fn counter() -> Counter {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (requests, bytes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, b) = (requests.clone(), bytes.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (r, b) = (r.clone(), b.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let (r, b) = (r.clone(), b.clone());
                    async move {
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        b.fetch_add(body.len(), Ordering::SeqCst);
                        r.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            bytes::Bytes::from_static(b"shadow"),
                        )))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Counter {
        url,
        requests,
        bytes,
    }
}

#[test]
fn traefik_documented_service_examples_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traefik-services.yaml");
    std::fs::write(
        dir.path().join("portcullis.yaml"),
        format!(
            "entryPoints:\n  web: {{ address: \"127.0.0.1:0\" }}\nproviders:\n  file: {{ filename: \"{}\" }}\n",
            fixture.display()
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) = support::binary::check(dir.path(), "portcullis.yaml");
    assert!(ok, "{stdout}{stderr}");
}

fn config(v1: &Echo, v2: &Echo, mirror: &Counter) -> String {
    format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
http:
  routers:
    weighted: {{ rule: "PathPrefix(`/weighted`)", service: app }}
    mirrored: {{ rule: "PathPrefix(`/mirrored`)", service: mirrored-api }}
  services:
    app:
      weighted:
        services:
        - {{ name: appv1, weight: 3 }}
        - {{ name: appv2@file, weight: 1 }}
    mirrored-api:
      mirroring:
        service: appv1
        mirrors:
        - {{ name: shadow, percent: 50 }}
    appv1: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
    appv2: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
    shadow: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
        v1.url(),
        v2.url(),
        mirror.url
    )
}

#[tokio::test]
async fn weighted_spreads_requests_by_weight_and_mirroring_copies_them() {
    let (v1, v2, shadow) = (
        Echo::start("appv1").await,
        Echo::start("appv2").await,
        counter().await,
    );
    let gw = gateway(&config(&v1, &v2, &shadow)).await;
    let base = format!("http://{}", gw.entry_point("web").unwrap());

    let mut served = Vec::new();
    for _ in 0..8 {
        let response = client()
            .get(format!("{base}/weighted"))
            .send()
            .await
            .unwrap();
        served.push(
            response.headers()["x-upstream"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        served.iter().filter(|s| *s == "appv1").count(),
        6,
        "{served:?}"
    );
    assert_eq!(
        served.iter().filter(|s| *s == "appv2").count(),
        2,
        "{served:?}"
    );

    // The main service answers every request; the mirror's answers are never seen.
    for _ in 0..4 {
        let response = client()
            .post(format!("{base}/mirrored"))
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-upstream"], "appv1");
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json["body_len"], 7);
    }
    // Half the requests were copied, body included.
    for _ in 0..100 {
        if shadow.requests.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(shadow.requests.load(Ordering::SeqCst), 2);
    assert_eq!(shadow.bytes.load(Ordering::SeqCst), 14);
    gw.shutdown().await;
}
