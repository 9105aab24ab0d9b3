//! Real `redis-server` processes for tests (feature `testing`): free loopback ports, a
//! temporary directory each, killed on drop. Single instances, Clusters (created with
//! `redis-cli --cluster create`), Sentinel groups, and a certificate authority for TLS.
//!
//! Test support only: failures to start a server panic, which is what a test wants.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_config::plugin::common::{RedisConfig, RedisTls, Sentinel};
use portcullis_config::{Secret, SecretRef};

pub const REDIS_SERVER: &str = "redis-server";
pub const REDIS_CLI: &str = "redis-cli";

/// A loopback port that is free now (and, for Cluster nodes, whose bus port is free too).
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Cluster nodes also listen on port + 10000.
        if port > 55_000 {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

pub fn secret(text: &str) -> Option<SecretRef> {
    Some(SecretRef::Inline(Secret::new(text)))
}

pub fn config(endpoints: Vec<String>) -> RedisConfig {
    RedisConfig {
        endpoints,
        username: None,
        password: None,
        database: 0,
        cluster: false,
        tls: None,
        sentinel: None,
    }
}

pub fn sentinel(master_set: &str, password: &str) -> Sentinel {
    Sentinel {
        master_set: master_set.into(),
        username: None,
        password: secret(password),
    }
}

pub fn tls(ca: Option<&str>, cert_key: Option<(&str, &str)>, insecure: bool) -> RedisTls {
    RedisTls {
        ca_bundle: ca.and_then(secret),
        cert: cert_key.and_then(|(cert, _)| secret(cert)),
        key: cert_key.and_then(|(_, key)| secret(key)),
        insecure_skip_verify: insecure,
    }
}

/// One `redis-server` process.
pub struct Server {
    pub port: u16,
    pub dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    _temp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `redis-server` with `args` on a fresh port and directory.
    pub fn start(args: &[&str]) -> Server {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let mut server = Server {
            port: free_port(),
            dir,
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
            _temp: Some(temp),
        };
        server.spawn();
        server
    }

    /// Starts with a configuration file (sentinels rewrite theirs).
    pub fn start_with_file(
        port: u16,
        temp: tempfile::TempDir,
        file: &Path,
        args: &[&str],
    ) -> Server {
        let mut all = vec![file.display().to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        let mut server = Server {
            port,
            dir: temp.path().to_path_buf(),
            args: all,
            child: None,
            _temp: Some(temp),
        };
        server.spawn_raw(true);
        server
    }

    fn spawn(&mut self) {
        self.spawn_raw(false);
    }

    fn spawn_raw(&mut self, from_file: bool) {
        let mut command = Command::new(REDIS_SERVER);
        if from_file {
            command.args(&self.args);
        } else {
            let tls = self.args.iter().any(|a| a == "--tls-port");
            let port = self.port.to_string();
            if !tls {
                command.args(["--port", &port]);
            }
            command
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&self.dir)
                .args(self.args.iter().map(|a| a.replace("{port}", &port)));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port);
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port with the same arguments.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `redis-cli` against this server, with extra leading arguments (auth, TLS).
    pub fn cli(&self, auth: &[&str], args: &[&str]) -> String {
        cli(self.port, auth, args)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn cli(port: u16, auth: &[&str], args: &[&str]) -> String {
    let output = Command::new(REDIS_CLI)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(auth)
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `check` until it holds, for at most `limit`.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A 6-node Cluster: 3 masters, 3 replicas.
pub struct Cluster {
    pub nodes: Vec<Server>,
}

impl Cluster {
    pub fn start(extra: &[&str]) -> Cluster {
        Self::start_with_cli(extra, &[])
    }

    /// Starts with `extra` server arguments; `cli` are the extra `redis-cli` arguments the nodes
    /// need (TLS: `--tls --cacert FILE`).
    pub fn start_with_cli(extra: &[&str], cli: &[&str]) -> Cluster {
        let mut args = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ];
        args.extend_from_slice(extra);
        let nodes: Vec<Server> = (0..6).map(|_| Server::start(&args)).collect();
        let addresses: Vec<String> = nodes.iter().map(Server::address).collect();
        let mut create: Vec<&str> = cli.to_vec();
        create.extend(["--cluster", "create"]);
        create.extend(addresses.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        let output = Command::new(REDIS_CLI)
            .args(&create)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        for node in &nodes {
            wait_until(Duration::from_secs(30), "cluster_state:ok", || {
                node.cli(cli, &["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
            });
        }
        Cluster { nodes }
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(Server::address).collect()
    }
}

/// 1 master, 1 replica, 3 sentinels. Data nodes and sentinels have different passwords.
pub struct SentinelGroup {
    pub master: Server,
    pub replica: Server,
    pub sentinels: Vec<Server>,
    /// Extra `redis-cli` arguments every node needs (TLS).
    pub cli_tls: Vec<String>,
}

/// TLS files of a group whose nodes and sentinels accept TLS only.
pub struct TlsFiles {
    pub cert: String,
    pub key: String,
    pub ca: String,
}

impl TlsFiles {
    /// `redis-server` arguments for TLS only (no plain port) with these files; add
    /// `--tls-auth-clients`, `--tls-replication`, `--tls-cluster` as needed.
    pub fn server_args(&self) -> Vec<&str> {
        vec![
            "--port",
            "0",
            "--tls-port",
            "{port}",
            "--tls-cert-file",
            &self.cert,
            "--tls-key-file",
            &self.key,
            "--tls-ca-cert-file",
            &self.ca,
        ]
    }
}

pub const MASTER_SET: &str = "portcullis";
pub const DATA_PASSWORD: &str = "data-secret";
pub const SENTINEL_PASSWORD: &str = "sentinel-secret";

impl SentinelGroup {
    pub fn start() -> SentinelGroup {
        Self::start_with(None)
    }

    /// A group whose data nodes and sentinels accept TLS connections only (replication too).
    pub fn start_tls(files: &TlsFiles) -> SentinelGroup {
        Self::start_with(Some(files))
    }

    fn start_with(tls: Option<&TlsFiles>) -> SentinelGroup {
        let tls_args: Vec<&str> = match tls {
            Some(files) => {
                let mut args = files.server_args();
                args.extend(["--tls-replication", "yes", "--tls-auth-clients", "no"]);
                args
            }
            None => Vec::new(),
        };
        let cli_tls: Vec<String> = match tls {
            Some(files) => vec!["--tls".into(), "--cacert".into(), files.ca.clone()],
            None => Vec::new(),
        };
        let mut master_args = vec![
            "--requirepass",
            DATA_PASSWORD,
            "--masterauth",
            DATA_PASSWORD,
            "--replica-announce-ip",
            "127.0.0.1",
        ];
        master_args.extend(&tls_args);
        let master = Server::start(&master_args);
        let replicaof = format!("127.0.0.1 {}", master.port);
        let mut replica_args = tls_args.clone();
        replica_args.extend([
            "--requirepass",
            DATA_PASSWORD,
            "--masterauth",
            DATA_PASSWORD,
            "--replica-announce-ip",
            "127.0.0.1",
            "--replicaof",
            &replicaof,
        ]);
        let replica = Server::start(&replica_args);
        let sentinels = (0..3)
            .map(|_| {
                let temp = tempfile::tempdir().unwrap();
                let port = free_port();
                let file = temp.path().join("sentinel.conf");
                let listen = match tls {
                    Some(files) => format!(
                        "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
                         tls-ca-cert-file {}\ntls-replication yes\ntls-auth-clients no\n",
                        files.cert, files.key, files.ca
                    ),
                    None => format!("port {port}\n"),
                };
                let conf = format!(
                    "{listen}bind 127.0.0.1\ndir {dir}\n\
                     sentinel announce-ip 127.0.0.1\n\
                     requirepass {SENTINEL_PASSWORD}\n\
                     sentinel sentinel-pass {SENTINEL_PASSWORD}\n\
                     sentinel monitor {MASTER_SET} 127.0.0.1 {master} 2\n\
                     sentinel auth-pass {MASTER_SET} {DATA_PASSWORD}\n\
                     sentinel down-after-milliseconds {MASTER_SET} 1000\n\
                     sentinel failover-timeout {MASTER_SET} 5000\n",
                    dir = temp.path().display(),
                    master = master.port,
                );
                std::fs::write(&file, conf).unwrap();
                Server::start_with_file(port, temp, &file.clone(), &["--sentinel"])
            })
            .collect::<Vec<_>>();
        let group = SentinelGroup {
            master,
            replica,
            sentinels,
            cli_tls,
        };
        let auth = group.sentinel_auth();
        let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
        for sentinel in &group.sentinels {
            wait_until(
                Duration::from_secs(30),
                "sentinels to see the replica and each other",
                || {
                    let master = sentinel.cli(&auth, &["SENTINEL", "MASTER", MASTER_SET]);
                    let lines: Vec<&str> = master.lines().collect();
                    let field = |name: &str| {
                        lines
                            .iter()
                            .position(|l| *l == name)
                            .and_then(|i| lines.get(i + 1))
                            .map(|v| v.to_string())
                    };
                    field("num-slaves").as_deref() == Some("1")
                        && field("num-other-sentinels").as_deref() == Some("2")
                },
            );
        }
        group
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.sentinels.iter().map(Server::address).collect()
    }

    fn sentinel_auth(&self) -> Vec<String> {
        let mut auth = self.cli_tls.clone();
        auth.extend([
            "--no-auth-warning".into(),
            "-a".into(),
            SENTINEL_PASSWORD.into(),
        ]);
        auth
    }

    /// `redis-cli` arguments for the data nodes (TLS and password).
    pub fn data_auth(&self) -> Vec<String> {
        let mut auth = self.cli_tls.clone();
        auth.extend([
            "--no-auth-warning".into(),
            "-a".into(),
            DATA_PASSWORD.into(),
        ]);
        auth
    }

    pub fn sentinel_cli(&self, args: &[&str]) -> String {
        let auth = self.sentinel_auth();
        let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
        self.sentinels[0].cli(&auth, args)
    }
}

/// A private CA with a server certificate for 127.0.0.1/localhost and a client certificate.
pub struct Pki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl Pki {
    pub fn generate() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Portcullis test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let client_params = CertificateParams::new(vec!["client".to_string()]).unwrap();
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        Pki {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    /// Writes the server files into `dir`.
    pub fn write_server_files(&self, dir: &Path) -> TlsFiles {
        let cert = dir.join("server.crt");
        let key = dir.join("server.key");
        let ca = dir.join("ca.crt");
        std::fs::write(&cert, &self.server_cert_pem).unwrap();
        std::fs::write(&key, &self.server_key_pem).unwrap();
        std::fs::write(&ca, &self.ca_pem).unwrap();
        TlsFiles {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
            ca: ca.display().to_string(),
        }
    }
}
