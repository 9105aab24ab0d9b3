//! The real OpenID Provider (npm `oidc-provider`, started from `e2e/provider.mjs`) and the
//! headless browser (`e2e/browser.mjs`, Debian's chromium through playwright-core).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

/// A running provider; killed on drop.
pub struct RealProvider {
    pub issuer: String,
    child: Child,
}

impl Drop for RealProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealProvider {
    /// Starts the provider with `env` (see the top of `e2e/provider.mjs`) and waits for its issuer.
    pub fn start(env: &[(&str, String)]) -> RealProvider {
        let dir = e2e_dir();
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "e2e/node_modules is missing: run scripts/test (it installs the node packages)"
        );
        let mut command = Command::new("node");
        command
            .arg("provider.mjs")
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .expect("node must be installed (scripts/test installs it)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let issuer = loop {
            let line = lines
                .next()
                .expect("the provider exited before printing its issuer")
                .unwrap();
            if let Some(issuer) = line.strip_prefix("ISSUER ") {
                break issuer.to_owned();
            }
        };
        // Keep draining stdout so the provider never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        RealProvider { issuer, child }
    }
}

/// Runs a browser scenario (see `e2e/browser.mjs`) and returns one JSON value per step.
pub async fn browse(steps: serde_json::Value) -> Vec<serde_json::Value> {
    let scenario = serde_json::json!({ "steps": steps }).to_string();
    let output = tokio::process::Command::new("node")
        .arg("browser.mjs")
        .arg(&scenario)
        .current_dir(e2e_dir())
        .output()
        .await
        .expect("node must be installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        output.status.success(),
        "browser scenario failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    results
}

/// The page body of a step that [`browse`] returned.
pub fn body(step: &serde_json::Value) -> String {
    step["body"].as_str().unwrap_or_default().to_owned()
}

/// A header the echo upstream received, from a step's page body.
pub fn upstream_header(step: &serde_json::Value, name: &str) -> Option<String> {
    let echoed: serde_json::Value = serde_json::from_str(&body(step)).ok()?;
    echoed["headers"][name].as_str().map(str::to_owned)
}

/// A free loopback port, for configurations that must name the gateway's port before it starts
/// (the provider must know the redirect URI in advance).
///
/// Taken below Linux's ephemeral range (32768 and up), from which every port-0 bind and every
/// outgoing connection of the other tests running meanwhile draw theirs: a port from that range
/// could be taken again between this check and the gateway's bind. Ports are handed out in turn
/// within a process, starting from a place that depends on the process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % COUNT,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..COUNT {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % COUNT;
        let port = u16::try_from(FIRST + offset).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + COUNT);
}
