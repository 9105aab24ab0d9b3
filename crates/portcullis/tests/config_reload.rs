//! Hot reload as an operator sees it, with the built binary: a change to a watched file is
//! applied once, other files and the gateway's own reads do nothing, broken files are reported
//! once with their name, SIGHUP reloads, and reloads are counted in the metrics.

#![cfg(test)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::binary::{self, Logged};

/// The `portcullis` binary running in a directory, with its log lines collected.
struct Gateway(Logged);

impl std::ops::Deref for Gateway {
    type Target = Logged;

    fn deref(&self) -> &Logged {
        &self.0
    }
}

impl Gateway {
    fn start(dir: &Path, args: &[&str]) -> Gateway {
        Gateway(Logged::spawn(binary::command(dir, args)))
    }

    /// The value of a `key=value` field of the first line containing `needle`.
    fn field(&self, needle: &str, key: &str) -> String {
        assert!(
            self.wait_for(needle, 1, Duration::from_secs(10)),
            "{}",
            self.log()
        );
        let lines = self.lines();
        let line = lines.iter().find(|l| l.contains(needle)).unwrap();
        let start = line.find(&format!("{key}=")).unwrap() + key.len() + 1;
        line[start..].split_whitespace().next().unwrap().to_owned()
    }

    fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.0.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

const APPLIED: &str = "configuration applied";
const REJECTED: &str = "configuration reload rejected";

fn main_file(watch: bool) -> String {
    format!(
        "entryPoints:\n  web: {{ address: \"127.0.0.1:0\" }}\n\
         metrics:\n  prometheus: {{ address: \"127.0.0.1:0\" }}\n\
         providers:\n  file: {{ filename: dynamic.yaml, watch: {watch} }}\n"
    )
}

fn dynamic(path: &str) -> String {
    format!(
        "http:\n  routers:\n    app: {{ rule: \"Path(`{path}`)\", service: app }}\n  \
         services:\n    app: {{ loadBalancer: {{ servers: [{{ url: \"http://127.0.0.1:9\" }}] }} }}\n"
    )
}

/// Replaces `file` the way `sed -i` and most editors do: a new file renamed over the old one.
fn replace(dir: &Path, file: &str, text: &str) {
    let temporary = dir.join(format!(".{file}.tmp"));
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, dir.join(file)).unwrap();
}

fn metrics(gateway: &Gateway) -> String {
    let address = gateway.field("metrics listening", "address");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

fn started(dir: &Path, watch: bool) -> Gateway {
    std::fs::write(dir.join("portcullis.yaml"), main_file(watch)).unwrap();
    std::fs::write(dir.join("dynamic.yaml"), dynamic("/v1")).unwrap();
    let gateway = Gateway::start(dir, &["--config", "portcullis.yaml"]);
    let ready = if watch {
        "watching configuration for changes"
    } else {
        "metrics listening"
    };
    assert!(
        gateway.wait_for(ready, 1, Duration::from_secs(10)),
        "{}",
        gateway.log()
    );
    gateway
}

#[test]
fn one_edit_is_applied_once_and_the_gateway_stays_quiet_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = started(dir.path(), true);
    // Let the watcher settle, then nothing may have been applied yet.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gateway.count(APPLIED), 0, "{}", gateway.log());

    replace(dir.path(), "dynamic.yaml", &dynamic("/v2"));
    assert!(
        gateway.wait_for(APPLIED, 1, Duration::from_secs(10)),
        "the edit was not applied within 10 s:\n{}",
        gateway.log()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(gateway.count(APPLIED), 1, "{}", gateway.log());
    let text = metrics(&gateway);
    // The start-up configuration and the edit.
    assert!(
        text.contains("portcullis_config_reloads_total{result=\"success\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_config_reloads_total{result=\"failure\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_config_last_reload_success_timestamp_seconds "),
        "{text}"
    );
}

#[test]
fn other_files_in_the_directory_and_a_log_written_there_trigger_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = started(dir.path(), true);
    std::fs::write(dir.path().join("notes.txt"), "unrelated").unwrap();
    replace(dir.path(), "notes.txt", "still unrelated");
    for i in 0..20 {
        let log = dir.path().join("portcullis.log");
        let mut text = std::fs::read_to_string(&log).unwrap_or_default();
        text.push_str(&format!("line {i}\n"));
        std::fs::write(&log, text).unwrap();
        std::thread::sleep(Duration::from_millis(25));
    }
    // The configured file saved again with the same text: nothing to apply either.
    replace(dir.path(), "dynamic.yaml", &dynamic("/v1"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(gateway.count(APPLIED), 0, "{}", gateway.log());
    assert_eq!(gateway.count(REJECTED), 0, "{}", gateway.log());
}

#[test]
fn a_broken_edit_is_reported_once_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = started(dir.path(), true);
    replace(dir.path(), "dynamic.yaml", "http:\n  routers: [unclosed\n");
    assert!(
        gateway.wait_for(REJECTED, 1, Duration::from_secs(10)),
        "{}",
        gateway.log()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(gateway.count(REJECTED), 1, "{}", gateway.log());
    let log = gateway.log();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") && !l.contains(REJECTED))
        .collect();
    assert!(!errors.is_empty(), "{log}");
    for error in errors {
        assert!(error.contains("dynamic.yaml"), "{error}");
    }
    let text = metrics(&gateway);
    assert!(
        text.contains("portcullis_config_reloads_total{result=\"failure\"} 1"),
        "{text}"
    );
}

#[test]
fn sighup_reloads_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = started(dir.path(), false);
    std::fs::write(dir.path().join("dynamic.yaml"), dynamic("/v2")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(gateway.count(APPLIED), 0, "{}", gateway.log());
    gateway.hang_up();
    assert!(
        gateway.wait_for(APPLIED, 1, Duration::from_secs(5)),
        "{}",
        gateway.log()
    );
    // Still running, and the reload counted.
    let text = metrics(&gateway);
    assert!(
        text.contains("portcullis_config_reloads_total{result=\"success\"} 2"),
        "{text}"
    );
}
