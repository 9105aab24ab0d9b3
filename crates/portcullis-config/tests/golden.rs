//! Golden configurations: every example validates; every invalid file fails with exactly the
//! errors its `# expect:` lines announce (each expected text must appear in one reported error).

#![cfg(test)]

use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_example_validates() {
    let examples = yaml_files(&repo_root().join("examples"));
    assert!(examples.len() >= 2, "examples missing");
    for file in examples {
        if let Err(errors) = portcullis_config::load(&file) {
            panic!("{} does not validate: {errors:#?}", file.display());
        }
    }
}

#[test]
fn every_invalid_config_fails_with_its_expected_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config/invalid");
    let files = yaml_files(&dir);
    assert!(files.len() >= 5);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no expectations",
            file.display()
        );
        let errors = match portcullis_config::load(&file) {
            Ok(_) => panic!("{} validated but must not", file.display()),
            Err(errors) => errors,
        };
        let printed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for want in &expected {
            assert!(
                printed.iter().any(|e| e.contains(want)),
                "{}: no error contains {want:?}; got {printed:#?}",
                file.display()
            );
        }
        assert_eq!(
            printed.len(),
            expected.len(),
            "{}: unexpected extra errors: {printed:#?}",
            file.display()
        );
    }
}

#[test]
fn parse_errors_speak_plainly_and_name_the_file_in_the_snippet() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config/invalid");
    for name in ["bad-yaml.yaml", "duplicate-key.yaml"] {
        let errors = portcullis_config::load(&dir.join(name)).unwrap_err();
        let printed = errors[0].to_string();
        assert!(!printed.contains("<input>"), "{printed}");
        assert!(!printed.contains("Options"), "{printed}");
        // Named once, with the position (the snippet may quote the file's own `# expect:` line).
        let naming = printed
            .lines()
            .filter(|l| !l.contains("# expect"))
            .map(|l| l.matches(name).count())
            .sum::<usize>();
        assert_eq!(naming, 1, "{printed}");
        assert!(printed.contains(" | "), "no snippet: {printed}");
    }
}

#[test]
fn durations_accept_seconds_and_text_wherever_documented() {
    let yaml = r#"
entryPoints:
  web: { address: ":8080" }
http:
  middlewares:
    login:
      plugin:
        oidc:
          issuer: https://idp.example.com
          clientId: app
          clientSecret: s3cret
          redirectUrl: /oauth2/callback
          session: { expiry: 1h }
          stateCookie: { maxAge: 10m }
          clientConfig: { timeoutSeconds: 2s }
    seconds:
      plugin:
        oidc:
          issuer: https://idp.example.com
          clientId: app
          clientSecret: s3cret
          redirectUrl: /oauth2/callback
          session: { expiry: 3600 }
          stateCookie: { maxAge: -1 }
          clientConfig: { timeoutSeconds: 7 }
    cc:
      plugin:
        oAuthClientCredentials:
          url: https://idp.example.com/token
          clientConfig: { timeoutSeconds: 1m }
"#;
    let config = portcullis_config::load_str(yaml).unwrap();
    let oidc = |name: &str| match &config.dynamic.middlewares[name] {
        portcullis_config::MiddlewareConfig::Plugin(
            portcullis_config::plugin::PluginConfig::Oidc(oidc),
        ) => oidc.clone(),
        other => panic!("{other:?}"),
    };
    let text = oidc("login");
    assert_eq!(text.session.expiry, std::time::Duration::from_secs(3600));
    assert_eq!(text.state_cookie.max_age, 600);
    assert_eq!(
        text.client_config.timeout,
        std::time::Duration::from_secs(2)
    );
    let seconds = oidc("seconds");
    assert_eq!(seconds.session.expiry, std::time::Duration::from_secs(3600));
    assert_eq!(seconds.state_cookie.max_age, -1);
    assert_eq!(
        seconds.client_config.timeout,
        std::time::Duration::from_secs(7)
    );
    match &config.dynamic.middlewares["cc"] {
        portcullis_config::MiddlewareConfig::Plugin(
            portcullis_config::plugin::PluginConfig::ClientCredentials(cc),
        ) => assert_eq!(cc.client_config.timeout, std::time::Duration::from_secs(60)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn validation_errors_name_the_file_and_line_that_hold_the_mistake() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.yaml"),
        "entryPoints:\n  web: { address: \":8080\" }\nproviders:\n  file: { filename: dynamic.yaml }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dynamic.yaml"),
        "http:\n  routers:\n    app:\n      rule: Path(`/`)\n      service: missing\n  services:\n    ok:\n      loadBalancer:\n        servers:\n          - url: not a url\n",
    )
    .unwrap();
    let errors = portcullis_config::load(&dir.path().join("main.yaml")).unwrap_err();
    let printed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let dynamic = dir.path().join("dynamic.yaml").display().to_string();
    for want in [
        format!("{dynamic}:5: http.routers.app.service: unknown service \"missing\""),
        format!("{dynamic}:10: http.services.ok.loadBalancer.servers[0].url"),
    ] {
        assert!(
            printed.iter().any(|p| p.starts_with(&want)),
            "{want} not in {printed:#?}"
        );
    }
}
