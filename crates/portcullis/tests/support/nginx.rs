//! nginx run by a test: the test's `server` blocks inside a minimal main configuration, in a
//! temporary directory of its own; killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

pub struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with `servers` (its `server` blocks) and waits until `port`, where one of
    /// them listens, accepts connections.
    pub async fn start(servers: &str, port: u16) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().display();
        let conf = format!(
            r#"
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
{servers}
}}
"#
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx is installed (scripts/test installs nginx-light)");
        // Killed on drop, also when it does not come up.
        let nginx = Nginx { child, _dir: dir };
        for _ in 0..400 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return nginx;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("nginx did not start");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
