//! End-to-end: Portcullis as the authorization server of Debian's nginx (`auth_request`) and
//! Caddy (`forward_auth`), in front of an echo upstream, with the npm `oidc-provider` as the
//! provider and headless Chromium logging in. The proxies run the snippets of
//! docs/forward-auth.md (the files under examples/forward-auth/, which the guide includes
//! verbatim: checked here too), with the addresses replaced by free ports.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::nginx::Nginx;
use support::real_provider::{RealProvider, browse, free_port, upstream_header};
use support::{Echo, client};
use tokio::net::TcpStream;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("examples").join(name)).unwrap()
}

/// The addresses the examples are written for, and what replaces them in a test.
struct Addresses {
    front: u16,
    portcullis: u16,
    app: String,
    issuer: String,
}

impl Addresses {
    fn localize(&self, text: &str) -> String {
        text.replace("127.0.0.1:8080", &format!("127.0.0.1:{}", self.front))
            .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", self.portcullis))
            .replace("127.0.0.1:9100", &self.app)
            .replace("http://127.0.0.1:9000", &self.issuer)
    }
}

/// A proxy in front, in its own temporary directory; killed on drop.
struct Front {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for(port: u16, what: &str, front: Front) -> Front {
    for _ in 0..400 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return front;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not start");
}

/// nginx running the guide's server block inside a minimal main configuration.
async fn nginx(addresses: &Addresses) -> Nginx {
    let server = addresses.localize(&example("forward-auth/nginx.conf"));
    Nginx::start(&server, addresses.front).await
}

/// Caddy running the guide's Caddyfile, without its admin endpoint.
async fn caddy(addresses: &Addresses) -> Front {
    let dir = tempfile::tempdir().unwrap();
    let site = addresses.localize(&example("forward-auth/Caddyfile"));
    let file = dir.path().join("Caddyfile");
    std::fs::write(
        &file,
        format!("{{\n\tadmin off\n\tauto_https off\n}}\n\n{site}"),
    )
    .unwrap();
    let child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("caddy is installed (scripts/test installs it)");
    wait_for(addresses.front, "caddy", Front { child, _dir: dir }).await
}

struct Setup {
    _provider: RealProvider,
    _upstream: Echo,
    gateway: portcullis::app::Running,
    addresses: Addresses,
}

/// Provider, echo upstream and Portcullis running examples/forward-auth.yaml.
async fn setup() -> Setup {
    let front = free_port();
    let provider = RealProvider::start(&[(
        "REDIRECT_URIS",
        format!("http://127.0.0.1:{front}/callback"),
    )]);
    let upstream = Echo::start("app").await;
    let addresses = Addresses {
        front,
        portcullis: free_port(),
        app: upstream.address.to_string(),
        issuer: provider.issuer.clone(),
    };
    let yaml = addresses
        .localize(&example("forward-auth.yaml"))
        .replace("env:SESSION_SECRET", "0123456789abcdef0123456789abcdef");
    let gateway = support::gateway(&yaml).await;
    Setup {
        _provider: provider,
        _upstream: upstream,
        gateway,
        addresses,
    }
}

/// Log in, reach the upstream with the claim headers, CSRF, log out, 401 for an API call,
/// the login redirect, and 403 by claims, all through the proxy on `front`.
async fn the_whole_flow(setup: &Setup) {
    let front = format!("http://127.0.0.1:{}", setup.addresses.front);
    let json = json!({ "accept": "application/json" });
    let steps = browse(json!([
        { "goto": format!("{front}/app/page?x=1"), "login": "alice" },
        { "request": { "url": format!("{front}/app/api"),
                       "headers": { "accept": "application/json", "x-user": "mallory" } } },
        { "request": { "url": format!("{front}/app/post"), "method": "POST", "body": "x",
                       "headers": json } },
        { "request": { "url": format!("{front}/app/post"), "method": "POST", "body": "x",
                       "headers": json,
                       "csrfCookie": "traefikee-csrf-token", "csrfHeader": "TraefikHub-Csrf-Token" } },
        { "goto": format!("{front}/logout") },
        { "request": { "url": format!("{front}/app/api"), "headers": json } },
        { "request": { "url": format!("{front}/app/page") } },
    ]))
    .await;

    let login = &steps[0];
    assert_eq!(login["loggedIn"], true, "{login}");
    assert_eq!(login["url"], format!("{front}/app/page?x=1"), "{login}");
    assert_eq!(login["status"], 200, "{login}");
    assert_eq!(upstream_header(login, "x-user").as_deref(), Some("alice"));
    assert_eq!(upstream_header(login, "x-group").as_deref(), Some("admin"));
    assert!(
        upstream_header(login, "authorization")
            .unwrap_or_default()
            .starts_with("Bearer ey"),
        "{login}"
    );

    let api = &steps[1];
    assert_eq!(api["status"], 200, "{api}");
    assert_eq!(
        upstream_header(api, "x-user").as_deref(),
        Some("alice"),
        "a forged claim header is replaced: {api}"
    );

    assert_eq!(
        steps[2]["status"], 403,
        "POST without CSRF header: {}",
        steps[2]
    );
    assert_eq!(
        steps[3]["status"], 200,
        "POST with CSRF header: {}",
        steps[3]
    );

    let logout = &steps[4];
    assert_eq!(logout["url"], format!("{front}/logged-out"), "{logout}");
    assert_eq!(
        steps[5]["status"], 401,
        "logged out, API call: {}",
        steps[5]
    );
    let again = &steps[6];
    assert_eq!(again["status"], 302, "logged out, navigation: {again}");
    let location = again["headers"]["location"].as_str().unwrap_or_default();
    assert!(
        location.starts_with(&setup.addresses.issuer),
        "to the provider: {again}"
    );
    assert!(
        again["headers"]["set-cookie"]
            .as_str()
            .unwrap_or_default()
            .contains("oidc-login-state"),
        "the login's state cookie goes with the redirect: {again}"
    );

    // bob's group is not admin: the claims refuse him once he is logged in.
    let bob = browse(json!([{ "goto": format!("{front}/app/page"), "login": "bob" }])).await;
    assert_eq!(bob[0]["loggedIn"], true, "{}", bob[0]);
    assert_eq!(bob[0]["status"], 403, "{}", bob[0]);
}

#[tokio::test]
async fn nginx_auth_request_through_the_whole_login_flow() {
    let s = setup().await;
    let _nginx = nginx(&s.addresses).await;
    the_whole_flow(&s).await;
    s.gateway.shutdown().await;
}

#[tokio::test]
async fn caddy_forward_auth_through_the_whole_login_flow() {
    let s = setup().await;
    let _caddy = caddy(&s.addresses).await;
    the_whole_flow(&s).await;
    s.gateway.shutdown().await;
}

/// The guide shows the example files verbatim: a changed file without a changed guide fails.
#[test]
fn the_guide_shows_the_files_the_tests_run() {
    let guide = std::fs::read_to_string(repo_root().join("docs/forward-auth.md")).unwrap();
    for (file, fence) in [
        ("forward-auth.yaml", "```yaml\n"),
        ("forward-auth/nginx.conf", "```nginx\n"),
        ("forward-auth/Caddyfile", "```caddyfile\n"),
    ] {
        let text = example(file);
        assert!(
            guide.contains(&format!("{fence}{text}```\n")),
            "docs/forward-auth.md must show examples/{file} as it is"
        );
    }
}

/// Only a proxy the entry point trusts may describe a request: the same forged description
/// from another address is refused before any middleware runs.
#[tokio::test]
async fn a_forged_description_from_an_untrusted_address_is_refused() {
    let upstream = Echo::start("app").await;
    let yaml = format!(
        r#"
entryPoints:
  auth:
    address: "127.0.0.1:0"
    forwardedHeaders: {{ trustedIPs: ["127.0.0.1/32"] }}
http:
  routers:
    forward-auth:
      rule: Path(`/forward-auth`)
      middlewares: [only-admins-net]
      service: none
      forwardAuth: {{}}
  middlewares:
    only-admins-net:
      ipAllowList: {{ sourceRange: ["10.0.0.0/8"] }}
  services:
    none: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
        upstream.url()
    );
    let gw = support::gateway(&yaml).await;
    let port = gw.entry_point("auth").unwrap().port();
    let describe = |from: [u8; 4], client_ip: &str| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(from))
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/forward-auth"))
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "app.example")
            .header("x-forwarded-uri", "/admin")
            .header("x-forwarded-for", client_ip.to_owned())
            .send()
    };
    // From the trusted proxy, the description is judged: the described client address is
    // what ipAllowList sees.
    assert_eq!(
        describe([127, 0, 0, 1], "10.1.2.3").await.unwrap().status(),
        200
    );
    assert_eq!(
        describe([127, 0, 0, 1], "192.0.2.7")
            .await
            .unwrap()
            .status(),
        403
    );
    // From anyone else, it is refused whatever it says.
    let forged = describe([127, 0, 0, 2], "10.1.2.3").await.unwrap();
    assert_eq!(forged.status(), 403);
    gw.shutdown().await;
}

/// The client credentials middleware through the hook: the caller's Basic credentials are
/// exchanged, and the answer carries the bearer token and the claim headers for the proxy.
#[tokio::test]
async fn client_credentials_answer_with_the_bearer_token_and_claim_headers() {
    let provider = RealProvider::start(&[("REDIRECT_URIS", "http://127.0.0.1:1/cb".to_owned())]);
    let issuer = &provider.issuer;
    let yaml = format!(
        r#"
entryPoints:
  auth:
    address: "127.0.0.1:0"
    forwardedHeaders: {{ trustedIPs: ["127.0.0.1/32"] }}
http:
  routers:
    forward-auth:
      rule: Path(`/forward-auth`)
      middlewares: [caller-token]
      service: none
      forwardAuth: {{ proxy: caddy }}
  middlewares:
    caller-token:
      plugin:
        oAuthClientCredentials:
          url: "{issuer}/token"
          claims: OneOf(`grp`, `service`, `gateway`)
          forwardHeaders: {{ X-Grp: grp, X-Robot: user.name }}
  services:
    none: {{ loadBalancer: {{ servers: [{{ url: "http://127.0.0.1:9" }}] }} }}
"#
    );
    let gw = support::gateway(&yaml).await;
    let base = format!("http://{}", gw.entry_point("auth").unwrap());
    let ask = |credentials: Option<(&str, &str)>| {
        let request = client()
            .get(format!("{base}/forward-auth"))
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-proto", "http")
            .header("x-forwarded-host", "api.example")
            .header("x-forwarded-uri", "/orders")
            .header("x-grp", "forged");
        match credentials {
            Some((id, secret)) => request.basic_auth(id, Some(secret)),
            None => request,
        }
        .send()
    };
    let allowed = ask(Some(("svc", "svc-secret"))).await.unwrap();
    assert_eq!(allowed.status(), 200);
    let headers = allowed.headers();
    assert!(
        headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ey"),
        "{headers:?}"
    );
    assert_eq!(headers["x-grp"], "service");
    assert_eq!(headers["x-robot"], "svc-robot");

    let missing = ask(None).await.unwrap();
    assert_eq!(missing.status(), 401);
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    gw.shutdown().await;
}
