//! `portcullis check` as an operator runs it, with the built binary: relative paths, messages
//! that name the file, and the classic OIDC mistakes.

#![cfg(test)]

mod support;

use std::path::Path;
use std::process::Command;

use support::binary::check;

const MAIN: &str = "entryPoints:\n  web: { address: \"127.0.0.1:0\" }\n";

const APP: &str = "http:\n  routers:\n    app: { rule: \"PathPrefix(`/`)\", service: app }\n  \
     services:\n    app: { loadBalancer: { servers: [{ url: \"http://127.0.0.1:9\" }] } }\n";

#[test]
fn a_relative_config_path_finds_the_file_provider_directory() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(conf.join("dynamic")).unwrap();
    std::fs::write(
        conf.join("portcullis.yaml"),
        format!("{MAIN}providers:\n  file: {{ directory: dynamic }}\n"),
    )
    .unwrap();
    std::fs::write(conf.join("dynamic/app.yaml"), APP).unwrap();
    let (ok, stdout, stderr) = check(dir.path(), "conf/portcullis.yaml");
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 routers") || stdout.contains("1 router"),
        "{stdout}"
    );
}

#[test]
fn a_relative_config_path_finds_the_file_provider_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("portcullis.yaml"),
        format!("{MAIN}providers:\n  file: {{ filename: dynamic.yaml }}\n"),
    )
    .unwrap();
    std::fs::write(conf.join("dynamic.yaml"), APP).unwrap();
    let (ok, stdout, stderr) = check(dir.path(), "conf/portcullis.yaml");
    assert!(ok, "{stdout}\n{stderr}");
}

#[test]
fn a_kubernetes_secret_without_a_source_of_secrets_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("portcullis.yaml"),
        format!(
            "{MAIN}http:\n  middlewares:\n    login:\n      plugin:\n        oidc:\n          \
             issuer: https://idp.example.com\n          clientId: app\n          \
             clientSecret: urn:k8s:secret:oidc:secret\n          redirectUrl: /oauth2/callback\n"
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) = check(dir.path(), "portcullis.yaml");
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("portcullis.yaml: 1 error:"), "{stderr}");
    assert!(stderr.contains("no source of Secrets"), "{stderr}");
    assert!(stderr.contains("secrets.directory"), "{stderr}");
}

#[cfg(feature = "devidp")]
#[test]
fn devidp_help_describes_the_development_provider() {
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["devidp", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{help}");
    assert!(help.contains("development OpenID Provider"), "{help}");
    // --config is the provider's own file here, not the gateway's.
    assert!(!help.contains("to run the gateway with"), "{help}");
    assert!(help.contains("clients, users"), "{help}");
}

#[test]
fn traefiks_documented_middleware_examples_pass_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (ok, stdout, stderr) = check(&root, "examples/traefik-middlewares.yaml");
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("15 middlewares"), "{stdout}");
}

#[test]
fn a_chain_cycle_fails_check_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cycle.yaml"),
        format!(
            "{MAIN}{APP}  middlewares:\n    a: {{ chain: {{ middlewares: [b] }} }}\n    \
             b: {{ chain: {{ middlewares: [a] }} }}\n"
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) = check(dir.path(), "cycle.yaml");
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("http.middlewares.a.chain.middlewares: chain cycle: a -> b -> a"),
        "{stdout}\n{stderr}"
    );
}
