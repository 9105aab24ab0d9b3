//! End-to-end: what a refused or failed request looks like to a browser (an HTML page naming
//! the user, offering sign-out and showing the request id), to an API client (short JSON or
//! text), with templates from `errorPages.directory`, and in headless Chromium.

#![cfg(test)]

mod support;

use std::collections::BTreeMap;

use portcullis_devidp::{ClientSpec, DevIdp, UserSpec};
use support::real_provider::free_port;
use support::{Echo, client};

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A development provider, an echo upstream, and a gateway whose `/app` is behind OIDC with a
/// claims rule only `alice` passes, sign-out at `/logout`.
struct Setup {
    idp: DevIdp,
    _upstream: Echo,
    gateway: portcullis::app::Running,
    base: String,
    cookies: BTreeMap<String, String>,
}

async fn setup(extra_static: &str) -> Setup {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = DevIdp::builder()
        .client(
            ClientSpec::new("gw", "gw-secret")
                .redirect_uri(format!("{base}/callback"))
                .backchannel_logout_uri(format!("{base}/backchannel")),
        )
        .user(UserSpec::new("alice").claims(serde_json::json!({"grp": "admin"})))
        .user(UserSpec::new("bob").claims(serde_json::json!({"preferred_username": "bob<b>"})))
        .start()
        .await
        .unwrap();
    let upstream = Echo::start("app").await;
    let closed = support::closed_port().await;
    let yaml = format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:{port}" }}
{extra_static}
http:
  routers:
    app:
      rule: PathPrefix(`/app`) || Path(`/callback`) || Path(`/logout`) || Path(`/backchannel`)
      middlewares: [oidc]
      service: echo
    down:
      rule: PathPrefix(`/down`)
      service: closed
  middlewares:
    oidc:
      plugin:
        oidc:
          issuer: "{issuer}"
          clientID: gw
          clientSecret: gw-secret
          redirectUrl: /callback
          logoutUrl: /logout
          backchannelLogoutUrl: /backchannel
          claims: Equals(`grp`, `admin`)
          usernameClaim: preferred_username
          session: {{ secret: "0123456789abcdef0123456789abcdef", refresh: true }}
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{echo}" }}]
    closed:
      loadBalancer:
        servers: [{{ url: "http://127.0.0.1:{closed}" }}]
"#,
        issuer = idp.issuer(),
        echo = upstream.url(),
    );
    let gateway = support::gateway(&yaml).await;
    Setup {
        idp,
        _upstream: upstream,
        gateway,
        base,
        cookies: BTreeMap::new(),
    }
}

impl Setup {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// GET `path` with the jar's cookies and `accept`; keeps the cookies the answer sets.
    async fn get(&mut self, path: &str, accept: &str) -> reqwest::Response {
        self.get_with(path, accept, &[]).await
    }

    async fn get_with(
        &mut self,
        path: &str,
        accept: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = client().get(url).header("accept", accept);
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    /// Signs in as `user` through the gateway's redirect and callback.
    async fn login(&mut self, user: &str) {
        let start = self.get("/app/", HTML).await;
        assert_eq!(start.status(), 302, "login start");
        let authorize = start.headers()["location"].to_str().unwrap().to_owned();
        let callback = self.idp.complete_login(&authorize, user).await.unwrap();
        let done = self.get(&callback, HTML).await;
        assert_eq!(done.status(), 302, "callback");
    }
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_user_refused_by_claims_sees_a_page_naming_them_with_sign_out_and_the_request_id() {
    let mut s = setup("").await;
    s.login("bob").await;
    let page = s.get("/app/report", HTML).await;
    assert_eq!(page.status(), 403);
    assert_eq!(
        page.headers()["content-type"],
        "text/html; charset=utf-8",
        "a browser navigation gets HTML"
    );
    let id = request_id(&page);
    let html = page.text().await.unwrap();
    assert!(html.contains("Access denied"), "{html}");
    assert!(
        html.contains("Signed in as <strong>bob&lt;b&gt;</strong>"),
        "the user, escaped: {html}"
    );
    assert!(html.contains("href=\"/logout\""), "sign-out link: {html}");
    assert!(html.contains(&format!("<code>{id}</code>")), "{html}");
    assert!(!html.contains("grp"), "the cause stays in the log: {html}");

    // An API call with the same session gets short JSON with the same kind of id.
    let api = s.get("/app/report", "application/json").await;
    assert_eq!(api.status(), 403);
    assert_eq!(api.headers()["content-type"], "application/json");
    let id = request_id(&api);
    let json: serde_json::Value = api.json().await.unwrap();
    assert_eq!(
        json,
        serde_json::json!({"error": "Access denied", "status": 403, "requestId": id})
    );

    // A well-formed client id is reused; anything else is replaced.
    let reused = s
        .get_with("/app/x", "*/*", &[("x-request-id", "trace-42.a_b")])
        .await;
    assert_eq!(request_id(&reused), "trace-42.a_b");
    assert_eq!(
        reused.text().await.unwrap(),
        "Access denied (request id trace-42.a_b)\n"
    );
    let replaced = s
        .get_with("/app/x", "*/*", &[("x-request-id", "<script>")])
        .await;
    let id = request_id(&replaced);
    assert_eq!(id.len(), 16, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    s.gateway.shutdown().await;
}

#[tokio::test]
async fn api_clients_get_json_or_text_and_browsers_a_page_for_gateway_failures() {
    let mut s = setup("").await;
    let json = s.get("/down/x", "application/json").await;
    assert_eq!(json.status(), 502);
    let id = request_id(&json);
    assert_eq!(
        json.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "Service unreachable", "status": 502, "requestId": id})
    );
    let text = s.get("/nowhere", "*/*").await;
    assert_eq!(text.status(), 404);
    assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
    let id = request_id(&text);
    assert_eq!(
        text.text().await.unwrap(),
        format!("Page not found (request id {id})\n")
    );
    let page = s.get("/down/x", HTML).await;
    assert_eq!(page.status(), 502);
    let html = page.text().await.unwrap();
    assert!(html.contains("Service unreachable"), "{html}");
    assert!(
        !html.contains("Sign out"),
        "no login middleware here: {html}"
    );
    assert!(!html.contains("127.0.0.1"), "no upstream address: {html}");
    s.gateway.shutdown().await;
}

#[tokio::test]
async fn error_pages_directory_replaces_the_pages_with_escaped_placeholders() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("403.html"),
        "<h1>{{status}} {{title}}</h1><p>{{user}}</p><a href=\"{{logoutUrl}}\">out</a><i>{{requestId}}</i>",
    )
    .unwrap();
    std::fs::write(dir.path().join("default.html"), "<p>custom {{status}}</p>").unwrap();
    let mut s = setup(&format!(
        "errorPages:\n  directory: \"{}\"\n",
        dir.path().display()
    ))
    .await;
    s.login("bob").await;
    let page = s.get("/app/", HTML).await;
    assert_eq!(page.status(), 403);
    let id = request_id(&page);
    assert_eq!(
        page.text().await.unwrap(),
        format!(
            "<h1>403 Access denied</h1><p>bob&lt;b&gt;</p><a href=\"/logout\">out</a><i>{id}</i>"
        )
    );
    let other = s.get("/down/", HTML).await;
    assert_eq!(other.text().await.unwrap(), "<p>custom 502</p>");
    s.gateway.shutdown().await;
}

#[tokio::test]
async fn error_pages_look_clean_in_chromium() {
    let mut s = setup("").await;
    s.login("bob").await;
    let out = std::env::var("ERROR_PAGE_SHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("portcullis-error-pages"));
    std::fs::create_dir_all(&out).unwrap();
    let shot = |path: &str, name: &str, cookie: bool| {
        serde_json::json!({
            "url": format!("{}{path}", s.base),
            "file": out.join(format!("{name}.png")).display().to_string(),
            "cookie": if cookie { s.cookie_header() } else { String::new() },
        })
    };
    let shots = serde_json::json!([
        shot("/app/report", "403", true),
        shot("/down/x", "502", false),
        shot("/nowhere", "404", false),
    ]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    let output = tokio::process::Command::new("node")
        .arg("screenshot.mjs")
        .arg(shots.to_string())
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(u64, &str)> = results
        .iter()
        .map(|r| (r["status"].as_u64().unwrap(), r["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            (403, "403 Access denied"),
            (502, "502 Service unreachable"),
            (404, "404 Page not found")
        ]
    );
    for result in &results {
        let file = result["file"].as_str().unwrap();
        let size = std::fs::metadata(file).unwrap().len();
        assert!(size > 5_000, "{file} is {size} bytes");
    }
    s.gateway.shutdown().await;
}
