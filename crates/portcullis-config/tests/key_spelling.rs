//! The plugin blocks accept their keys in any case, as Traefik Hub does, and each key written in
//! another spelling is reported with its canonical spelling; unknown keys stay errors and the
//! keys of maps (header names, parameters) are kept as written.

#![cfg(test)]

use portcullis_config::MiddlewareConfig;
use portcullis_config::plugin::PluginConfig;

fn config(middlewares: &str) -> Result<portcullis_config::Config, String> {
    let text = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nhttp:\n  middlewares:\n{middlewares}"
    );
    portcullis_config::load_str(&text).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

const GO_STYLE_OIDC: &str = r#"    login:
      plugin:
        OIDC:
          Issuer: "https://idp.example.com"
          clientid: my-client
          ClientSecret: my-secret
          redirectURL: /callback
          LogoutURL: /logout
          Session: { Expiry: 60, SameSite: strict, Store: { KeyPrefix: p, Redis: { Endpoints: ["127.0.0.1:6379"] } } }
          StateCookie: { MaxAge: 30 }
          ClientConfig: { TimeoutSeconds: 3, MaxRetries: 2 }
          CSRF: { HeaderName: X-Csrf }
          ForwardHeaders: { X-Mixed-Case: sub }
          AuthParams: { Login_Hint: someone }
"#;

#[test]
fn go_style_spellings_in_a_file_work_and_are_reported() {
    let config = config(GO_STYLE_OIDC).expect("Go-style spellings are accepted");
    let Some(MiddlewareConfig::Plugin(PluginConfig::Oidc(oidc))) =
        config.dynamic.middlewares.get("login")
    else {
        panic!("an OIDC middleware");
    };
    assert_eq!(oidc.issuer, "https://idp.example.com");
    assert_eq!(oidc.session.expiry.as_secs(), 60);
    assert_eq!(oidc.state_cookie.max_age, 30);
    assert_eq!(oidc.client_config.max_retries, 2);
    assert_eq!(oidc.client_config.timeout.as_secs(), 3);
    assert_eq!(oidc.csrf.as_ref().unwrap().header_name.as_str(), "x-csrf");
    assert!(oidc.session.store.is_some());
    assert_eq!(oidc.session.store.as_ref().unwrap().key_prefix, "p");
    assert!(oidc.logout_url.is_some());
    // Map keys are data: kept as written.
    assert_eq!(
        oidc.auth_params,
        vec![("Login_Hint".to_owned(), "someone".to_owned())]
    );
    assert_eq!(oidc.forward_headers[0].header.as_str(), "x-mixed-case");

    let notes = oidc.spelling_notes.join("\n");
    for (written, canonical) in [
        ("clientid", "clientID"),
        ("ClientSecret", "clientSecret"),
        ("redirectURL", "redirectUrl"),
        ("LogoutURL", "logoutUrl"),
        ("Expiry", "expiry"),
        ("KeyPrefix", "keyPrefix"),
        ("Endpoints", "endpoints"),
        ("MaxAge", "maxAge"),
        ("TimeoutSeconds", "timeoutSeconds"),
        ("HeaderName", "headerName"),
        ("OIDC", "oidc"),
    ] {
        assert!(
            notes.contains(&format!("key {written:?} read as {canonical:?}")),
            "{written} -> {canonical} in:\n{notes}"
        );
    }
    assert!(
        notes.contains("http.middlewares.login.plugin.oidc.session.expiry"),
        "the note names where: {notes}"
    );
    assert!(
        !notes.contains("X-Mixed-Case"),
        "map keys are not respelled"
    );
    assert!(!notes.contains("Login_Hint"), "map keys are not respelled");
}

#[test]
fn canonical_spellings_and_both_client_id_spellings_give_no_warning() {
    for client_id in ["clientID", "clientId"] {
        let block = format!(
            "    login:\n      plugin:\n        oidc:\n          issuer: \"https://idp.example.com\"\n          {client_id}: c\n          clientSecret: s\n          redirectUrl: /cb\n"
        );
        let config = config(&block).unwrap();
        let Some(MiddlewareConfig::Plugin(PluginConfig::Oidc(oidc))) =
            config.dynamic.middlewares.get("login")
        else {
            panic!("an OIDC middleware");
        };
        assert!(oidc.spelling_notes.is_empty(), "{:?}", oidc.spelling_notes);
    }
}

#[test]
fn client_credentials_keys_match_in_any_case_too() {
    let config = config(
        r#"    api:
      plugin:
        oauthClientCredentials:
          URL: "https://idp.example.com/token"
          ClientId: c
          clientSECRET: s
          Store: { keyprefix: cc }
          ForwardHeaders: { X-Sub: sub }
"#,
    )
    .expect("accepted");
    let Some(MiddlewareConfig::Plugin(PluginConfig::ClientCredentials(cc))) =
        config.dynamic.middlewares.get("api")
    else {
        panic!("a client credentials middleware");
    };
    assert_eq!(cc.url.as_str(), "https://idp.example.com/token");
    let notes = cc.spelling_notes.join("\n");
    for (written, canonical) in [
        ("oauthClientCredentials", "oAuthClientCredentials"),
        ("URL", "url"),
        ("ClientId", "clientID"),
        ("clientSECRET", "clientSecret"),
        ("keyprefix", "keyPrefix"),
    ] {
        assert!(
            notes.contains(&format!("key {written:?} read as {canonical:?}")),
            "{written} -> {canonical} in:\n{notes}"
        );
    }
}

#[test]
fn unknown_keys_and_double_spellings_stay_errors() {
    let unknown = config(
        "    login:\n      plugin:\n        oidc:\n          issuer: \"https://idp.example.com\"\n          clientID: c\n          clientSecret: s\n          redirectURI: /cb\n",
    )
    .unwrap_err();
    assert!(unknown.contains("unknown field `redirectURI`"), "{unknown}");
    let twice = config(
        "    login:\n      plugin:\n        oidc:\n          issuer: \"https://idp.example.com\"\n          clientID: c\n          clientSecret: s\n          redirectUrl: /a\n          RedirectURL: /b\n",
    )
    .unwrap_err();
    assert!(twice.contains("duplicate field `redirectUrl`"), "{twice}");
}
