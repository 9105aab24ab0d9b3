//! A "whoami" upstream for the demo: it answers every request with what it received (method,
//! URI, headers), like Traefik's whoami, so the headers an authentication middleware forwards are
//! visible in the browser.

use std::convert::Infallible;
use std::net::SocketAddr;

use http::{Request, Response, header};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use portcullis_proxy::body::{self, Body};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves the echo on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = portcullis_proxy::stopped(&mut shutdown) => return,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        tokio::spawn(async move {
            let service =
                service_fn(move |request| async move { Ok::<_, Infallible>(echo(peer, &request)) });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The echo page: plain text, one header per line, secrets in `Authorization` shortened.
pub fn echo<B>(peer: SocketAddr, request: &Request<B>) -> Response<Body> {
    let mut text = format!(
        "Hostname: portcullis-demo-whoami\nRemoteAddr: {peer}\n{} {} {:?}\n",
        request.method(),
        request.uri(),
        request.version()
    );
    let mut names: Vec<&header::HeaderName> = request.headers().keys().collect();
    names.sort_by_key(|n| n.as_str());
    names.dedup();
    for name in names {
        for value in request.headers().get_all(name) {
            let value = value.to_str().unwrap_or("<binary>");
            let shown = if name == header::AUTHORIZATION && value.len() > 40 {
                format!("{}…", value.get(..40).unwrap_or(value))
            } else {
                value.to_owned()
            };
            text.push_str(&format!("{}: {shown}\n", canonical(name.as_str())));
        }
    }
    let mut response = Response::new(body::full(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn echoes_method_uri_and_headers() {
        let request = Request::get("/x?y=1")
            .header("x-forwarded-user", "alice")
            .header("authorization", format!("Bearer {}", "a".repeat(100)))
            .body(())
            .unwrap();
        let response = echo("127.0.0.1:1".parse().unwrap(), &request);
        let text = String::from_utf8(
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap();
        assert!(text.contains("GET /x?y=1 HTTP/1.1"), "{text}");
        assert!(text.contains("X-Forwarded-User: alice"), "{text}");
        assert!(text.contains("Authorization: Bearer aaaa"), "{text}");
        assert!(!text.contains(&"a".repeat(60)), "{text}");
    }
}
