//! `portcullis check --online` against the development provider, with the built binary: one line
//! per authentication middleware; discovery with its exact issuer comparison, the JWKS, and the
//! client credentials proven at the token endpoint; exit 1 on any error.

#![cfg(test)]

use std::path::Path;

use portcullis_devidp::{ClientSpec, DevIdp, GrantType};

/// Runs `portcullis check --online --config portcullis.yaml` in `dir` (asynchronously, so the
/// provider running in this test keeps answering): (success, stdout, stderr).
async fn check_online(dir: &Path) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["check", "--online", "--config", "portcullis.yaml"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const CALLBACK: &str = "http://app.test/callback";

async fn provider() -> DevIdp {
    DevIdp::builder()
        .client(ClientSpec::new("web", "web-secret").redirect_uri(CALLBACK))
        .client(
            ClientSpec::new("browser-only", "browser-secret")
                .redirect_uri(CALLBACK)
                .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]),
        )
        .client(ClientSpec::new("svc", "svc-secret").grant_types([GrantType::ClientCredentials]))
        .start()
        .await
        .unwrap()
}

/// A configuration with the given middlewares (already indented under `middlewares:`).
fn configuration(middlewares: &str) -> String {
    format!(
        "entryPoints:\n  web: {{ address: \"127.0.0.1:0\" }}\n\
         http:\n  routers:\n    app: {{ rule: \"PathPrefix(`/`)\", service: app }}\n  \
         services:\n    app: {{ loadBalancer: {{ servers: [{{ url: \"http://127.0.0.1:9\" }}] }} }}\n  \
         middlewares:\n{middlewares}"
    )
}

fn oidc(name: &str, issuer: &str, client_id: &str, secret: &str) -> String {
    format!(
        "    {name}:\n      plugin:\n        oidc:\n          issuer: {issuer}\n          \
         clientID: {client_id}\n          clientSecret: {secret}\n          redirectUrl: /callback\n          \
         clientConfig: {{ maxRetries: 0 }}\n"
    )
}

fn client_credentials(name: &str, url: &str, client_id: &str, secret: &str) -> String {
    format!(
        "    {name}:\n      plugin:\n        oAuthClientCredentials:\n          url: {url}\n          \
         clientID: {client_id}\n          clientSecret: {secret}\n"
    )
}

/// The output line of one middleware.
fn line<'a>(stdout: &'a str, middleware: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{middleware}: ")))
        .unwrap_or_else(|| panic!("no line for {middleware}:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_check_accepts_good_credentials_and_notes_what_it_cannot_verify() {
    let idp = provider().await;
    let issuer = idp.issuer();
    let dir = tempfile::tempdir().unwrap();
    let middlewares = [
        oidc("good-login", &issuer, "web", "web-secret"),
        oidc("browser-login", &issuer, "browser-only", "browser-secret"),
        client_credentials("api", &idp.token_url(), "svc", "svc-secret"),
    ]
    .concat();
    std::fs::write(
        dir.path().join("portcullis.yaml"),
        configuration(&middlewares),
    )
    .unwrap();
    let (ok, stdout, stderr) = check_online(dir.path()).await;
    assert!(ok, "{stdout}\n{stderr}");

    let good = line(&stdout, "good-login");
    assert!(good.starts_with("good-login: ok: "), "{good}");
    assert!(
        good.contains(&format!("discovery: issuer {issuer}")),
        "{good}"
    );
    assert!(good.contains("usable signing key"), "{good}");
    assert!(good.contains("credentials accepted"), "{good}");

    let browser = line(&stdout, "browser-login");
    assert!(browser.starts_with("browser-login: ok: "), "{browser}");
    assert!(
        browser.contains(
            "note: credentials not verifiable (the provider does not allow the client credentials grant for this client)"
        ),
        "{browser}"
    );

    let api = line(&stdout, "api");
    assert!(api.starts_with("api: ok: token obtained"), "{api}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_check_reports_a_wrong_secret_and_an_issuer_with_a_trailing_slash() {
    let idp = provider().await;
    let issuer = idp.issuer();
    let dir = tempfile::tempdir().unwrap();
    let middlewares = [
        oidc("good-login", &issuer, "web", "web-secret"),
        oidc("wrong-secret", &issuer, "web", "not-the-secret"),
        oidc("slash", &format!("{issuer}/"), "web", "web-secret"),
        client_credentials("api", &idp.token_url(), "svc", "not-the-secret"),
    ]
    .concat();
    std::fs::write(
        dir.path().join("portcullis.yaml"),
        configuration(&middlewares),
    )
    .unwrap();
    let (ok, stdout, stderr) = check_online(dir.path()).await;
    assert!(!ok, "{stdout}\n{stderr}");

    assert!(line(&stdout, "good-login").starts_with("good-login: ok: "));

    let wrong = line(&stdout, "wrong-secret");
    assert!(wrong.starts_with("wrong-secret: error: "), "{wrong}");
    assert!(wrong.contains("client credentials refused"), "{wrong}");
    assert!(
        !wrong.contains("not-the-secret"),
        "a secret was printed: {wrong}"
    );

    let slash = line(&stdout, "slash");
    assert!(
        slash.starts_with("slash: error: discovery failed"),
        "{slash}"
    );
    assert!(
        slash.contains("(remove the trailing slash from issuer)"),
        "{slash}"
    );
    // The offline check warned about it already.
    assert!(
        stdout.contains("warning: http.middlewares.slash.plugin.oidc.issuer"),
        "{stdout}"
    );

    let api = line(&stdout, "api");
    assert!(
        api.starts_with("api: error: client credentials refused"),
        "{api}"
    );
}
