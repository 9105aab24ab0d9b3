//! `portcullis demo`: a development OpenID Provider, a whoami upstream and the gateway with both
//! authentication middlewares, in one process on loopback. The first thing a newcomer runs.

use std::net::SocketAddr;

use anyhow::Context;
use base64::Engine;
use portcullis_devidp::DevIdpConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{self, Running, Source};
use crate::whoami;

/// The demo's parts, running.
pub struct Demo {
    pub gateway: Running,
    pub gateway_url: String,
    pub issuer: String,
    shutdown: watch::Sender<bool>,
    idp: tokio::task::JoinHandle<()>,
}

impl Demo {
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        let _ = self.shutdown.send(true);
        let _ = self.idp.await;
    }
}

/// The gateway configuration of the demo; `session_secret` is the root of its cookie keys.
pub fn gateway_yaml(
    gateway: SocketAddr,
    issuer: &str,
    whoami: SocketAddr,
    session_secret: &str,
) -> String {
    format!(
        r#"
entryPoints:
  web: {{ address: "{gateway}" }}
accessLog: {{ format: common }}
http:
  routers:
    app:
      rule: PathPrefix(`/`)
      middlewares: [oidc-login]
      service: whoami
    signed-out:
      rule: Path(`/logged-out`)
      service: whoami
    api:
      rule: PathPrefix(`/api`)
      middlewares: [api-credentials]
      service: whoami
  middlewares:
    oidc-login:
      plugin:
        oidc:
          issuer: "{issuer}"
          clientID: gw
          clientSecret: gw-secret
          redirectUrl: /callback
          pkce: true
          scopes: [openid, profile, email]
          logoutUrl: /logout
          postLogoutRedirectUrl: /logged-out
          endProviderSession: true
          backchannelLogoutUrl: /backchannel-logout
          claims: OneOf(`grp`, `admin`, `user`)
          forwardHeaders:
            X-Forwarded-User: preferred_username
            X-Group: grp
            X-Areas: areas
            X-Department: user.dept
          usernameClaim: preferred_username
          session: {{ secret: "{session_secret}" }}
          csrf: {{}}
    api-credentials:
      plugin:
        oAuthClientCredentials:
          url: "{issuer}/token"
          forwardHeaders:
            X-Client-Group: grp
          usernameClaim: client_id
  services:
    whoami:
      loadBalancer:
        servers: [{{ url: "http://{whoami}" }}]
"#
    )
}

/// Starts the demo with the gateway on `gateway_address` (port 0: any free port).
pub async fn start(gateway_address: SocketAddr) -> anyhow::Result<Demo> {
    // The gateway's port must be known before the provider starts (it registers the redirect
    // URI), so the listener is reserved first.
    let probe = std::net::TcpListener::bind(gateway_address)
        .with_context(|| format!("cannot listen on {gateway_address}"))?;
    let gateway_address = probe.local_addr()?;
    let idp_probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    let idp_address = idp_probe.local_addr()?;
    drop(idp_probe);
    drop(probe);

    let gateway_url = format!("http://{gateway_address}");
    let idp_config = DevIdpConfig::demo(idp_address, &gateway_url);
    let issuer = format!("http://{idp_address}");
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut idp_shutdown = shutdown_rx.clone();
    let idp = tokio::spawn(async move {
        let stop = async move { portcullis_proxy::stopped(&mut idp_shutdown).await };
        if let Err(error) = portcullis_devidp::serve(idp_config, idp_address, stop).await {
            tracing::error!(%error, "development OpenID Provider stopped");
        }
    });
    let whoami_listener = TcpListener::bind("127.0.0.1:0").await?;
    let whoami_address = whoami_listener.local_addr()?;
    tokio::spawn(whoami::serve(whoami_listener, shutdown_rx));

    // Wait until the provider answers, so the gateway's first discovery succeeds.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(idp_address).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A fresh secret per run: the demo's sessions are sealed with keys no client secret yields
    // (and end with the process, like the provider's).
    let mut secret = [0u8; 32];
    aws_lc_rs::rand::fill(&mut secret)
        .map_err(|_| anyhow::anyhow!("no randomness for the demo's session secret"))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let yaml = gateway_yaml(gateway_address, &issuer, whoami_address, &secret);
    let config = portcullis_config::load_str(&yaml)
        .map_err(|errors| anyhow::anyhow!("demo configuration: {}", app::format_errors(&errors)))?;
    let gateway = app::start(config, Source::Fixed).await?;
    Ok(Demo {
        gateway,
        gateway_url,
        issuer,
        shutdown,
        idp,
    })
}
