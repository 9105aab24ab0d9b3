//! The classic OIDC mistakes, as an operator meets them: a callback, login, logout or
//! back-channel logout URL that no router carrying the middleware matches is an error of
//! `portcullis check`, refuses a start and a reload; an issuer with a trailing slash is a
//! warning; rules that cannot be decided are never reported as errors.

#![cfg(test)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::binary::{self, check};

/// A main file with one router `app` (`rule`) using the OIDC middleware `oidc-login`, whose
/// options after `clientSecret` are `options` (already indented).
fn gateway_yaml(rule: &str, options: &str) -> String {
    format!(
        "entryPoints:\n  web: {{ address: \"127.0.0.1:0\" }}\n\
         http:\n  routers:\n    app: {{ rule: \"{rule}\", middlewares: [oidc-login], service: app }}\n    \
         public: {{ rule: \"Path(`/kept`)\", service: app }}\n  \
         services:\n    app: {{ loadBalancer: {{ servers: [{{ url: \"http://127.0.0.1:9\" }}] }} }}\n  \
         middlewares:\n    oidc-login:\n      plugin:\n        oidc:\n          \
         clientID: app\n          clientSecret: app-secret\n{options}"
    )
}

const ISSUER: &str = "          issuer: https://idp.example.com\n";

fn write(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("portcullis.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn check_reports_a_callback_no_router_of_the_middleware_matches() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &gateway_yaml(
            "PathPrefix(`/app`)",
            &format!("{ISSUER}          redirectUrl: /callback\n"),
        ),
    );
    let (ok, stdout, stderr) = check(dir.path(), "portcullis.yaml");
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "http.middlewares.oidc-login.plugin.oidc.redirectUrl: /callback is not matched by any router that uses this middleware (routers: app)"
        ),
        "{stderr}"
    );
}

#[test]
fn check_reports_uncovered_login_logout_and_backchannel_logout_urls() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &gateway_yaml(
            // The callback is covered; the other three are not (the back-channel logout is a
            // POST, which `Method(GET)` refuses).
            "Method(`GET`) && (PathPrefix(`/app`) || Path(`/callback`) || Path(`/bc`))",
            &format!(
                "{ISSUER}          redirectUrl: /callback\n          loginUrl: /login\n          \
                 logoutUrl: app.example.com/logout\n          backchannelLogoutUrl: /bc\n"
            ),
        ),
    );
    let (ok, stdout, stderr) = check(dir.path(), "portcullis.yaml");
    assert!(!ok, "{stdout}\n{stderr}");
    for option in [
        "loginUrl: /login",
        "logoutUrl: app.example.com/logout",
        "backchannelLogoutUrl: /bc",
    ] {
        assert!(
            stderr.contains(&format!(
                "http.middlewares.oidc-login.plugin.oidc.{option} is not matched"
            )),
            "{option}: {stderr}"
        );
    }
    assert!(!stderr.contains("redirectUrl"), "{stderr}");
    assert!(stderr.contains("3 errors"), "{stderr}");
}

#[test]
fn check_accepts_a_router_that_covers_every_url() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &gateway_yaml(
            "Host(`app.example.com`) && (PathPrefix(`/app`) || Path(`/callback`) || Path(`/logout`) || Path(`/bc`))",
            &format!(
                "{ISSUER}          redirectUrl: /callback\n          \
                 logoutUrl: https://app.example.com/logout\n          backchannelLogoutUrl: /bc\n"
            ),
        ),
    );
    let (ok, stdout, stderr) = check(dir.path(), "portcullis.yaml");
    assert!(ok, "{stdout}\n{stderr}");
    assert!(!stdout.contains("warning"), "{stdout}");
}

#[test]
fn check_warns_about_an_issuer_with_a_trailing_slash_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &gateway_yaml(
            "PathPrefix(`/`)",
            "          issuer: https://idp.example.com/realms/main/\n          redirectUrl: /callback\n",
        ),
    );
    let (ok, stdout, stderr) = check(dir.path(), "portcullis.yaml");
    assert!(ok, "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains(
            "warning: http.middlewares.oidc-login.plugin.oidc.issuer: https://idp.example.com/realms/main/ ends with '/'"
        ),
        "{all}"
    );
}

#[test]
fn check_does_not_report_rules_it_cannot_decide_as_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &gateway_yaml(
            "HostRegexp(`^app\\\\.`) && PathPrefix(`/app`) || Header(`X-Callback`, `1`)",
            &format!("{ISSUER}          redirectUrl: /callback\n"),
        ),
    );
    let (ok, stdout, stderr) = check(dir.path(), "portcullis.yaml");
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout
            .contains("warning: http.middlewares.oidc-login.plugin.oidc.redirectUrl: cannot tell"),
        "{stdout}"
    );
}

#[test]
fn the_gateway_refuses_to_start_with_an_uncovered_callback() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &gateway_yaml(
            "PathPrefix(`/app`)",
            &format!("{ISSUER}          redirectUrl: /callback\n"),
        ),
    );
    let mut child = binary::command(dir.path(), &["--config", "portcullis.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the gateway started with a callback no router matches");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(
            "redirectUrl: /callback is not matched by any router that uses this middleware"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_reload_with_an_uncovered_callback_is_refused_and_the_running_configuration_kept() {
    let dir = tempfile::tempdir().unwrap();
    let covered = gateway_yaml(
        "PathPrefix(`/`)",
        &format!("{ISSUER}          redirectUrl: /callback\n"),
    );
    let path = write(dir.path(), &covered);
    let config = portcullis_config::load(&path).unwrap();
    let running = portcullis::app::start(config, portcullis::app::Source::File(path.clone()))
        .await
        .unwrap();
    let web = running.entry_point("web").unwrap();

    // The new file moves the application under /app but leaves the callback behind, and drops
    // the public router.
    let broken = gateway_yaml(
        "PathPrefix(`/app`)",
        &format!("{ISSUER}          redirectUrl: /callback\n"),
    )
    .replace(
        "    public: { rule: \"Path(`/kept`)\", service: app }\n",
        "",
    );
    std::fs::write(&path, broken).unwrap();
    let errors = running.reload().await.unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains(
            "http.middlewares.oidc-login.plugin.oidc.redirectUrl: /callback is not matched"
        )),
        "{errors:?}"
    );
    // The public router of the running configuration still answers (its upstream is closed:
    // 502, where a dropped router would give 404).
    let response = reqwest::get(format!("http://{web}/kept")).await.unwrap();
    assert_eq!(response.status(), 502);
    running.shutdown().await;
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_example_passes_the_oidc_checks() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let config = portcullis_config::load(&file)
            .unwrap_or_else(|errors| panic!("{}: {errors:?}", file.display()));
        let findings = portcullis::config_lint::lint(&config);
        assert!(
            findings.errors.is_empty() && findings.warnings.is_empty(),
            "{}: {findings:?}",
            file.display()
        );
        checked += 1;
    }
    assert!(checked >= 5);
}

/// The `yaml` blocks of a Markdown section, in order.
fn yaml_blocks(markdown: &str, heading: &str) -> Vec<String> {
    let section = markdown
        .split_once(heading)
        .unwrap_or_else(|| panic!("no section {heading:?}"))
        .1;
    let section = section.split("\n## ").next().unwrap();
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some((_, after)) = rest.split_once("```yaml\n") {
        let (block, tail) = after.split_once("```").unwrap();
        blocks.push(block.to_owned());
        rest = tail;
    }
    blocks
}

#[test]
fn the_opening_file_of_the_oidc_guide_is_the_complete_example() {
    let guide = std::fs::read_to_string(repo_root().join("docs/oidc.md")).unwrap();
    let blocks = yaml_blocks(&guide, "\n## A complete configuration\n");
    assert!(blocks.len() >= 2, "{blocks:?}");
    let examples = repo_root().join("examples");
    assert_eq!(
        blocks[0],
        std::fs::read_to_string(examples.join("oidc-complete.yaml")).unwrap()
    );
    assert_eq!(
        blocks[1],
        std::fs::read_to_string(examples.join("oidc-complete/dynamic.yaml")).unwrap()
    );
}

#[test]
fn the_complete_oidc_example_passes_check_without_warnings() {
    let (ok, stdout, stderr) = binary::output(
        binary::command(
            &repo_root(),
            &["check", "--config", "examples/oidc-complete.yaml"],
        )
        .env("SESSION_SECRET", "0123456789abcdef0123456789abcdef"),
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("2 routers"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
}
