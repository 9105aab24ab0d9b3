//! The built `portcullis` binary, run as an operator runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary with `args`, run in `dir`, with `NO_COLOR` set so its text can be compared.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.args(args).current_dir(dir).env("NO_COLOR", "1");
    command
}

/// Runs `command` to its end: (success, stdout, stderr).
pub fn output(command: &mut Command) -> (bool, String, String) {
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `portcullis check --config <config>` in `dir`: (success, stdout, stderr).
pub fn check(dir: &Path, config: &str) -> (bool, String, String) {
    output(&mut command(dir, &["check", "--config", config]))
}

/// The binary running, with its standard error collected line by line; killed when dropped.
pub struct Logged {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Logged {
    /// Starts `command` with `RUST_LOG` removed, so only its configuration sets the level.
    pub fn spawn(mut command: Command) -> Logged {
        let mut child = command
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Logged { child, lines }
    }

    /// The lines logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The log so far, as one text.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// How many lines logged so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until `needle` has been logged `count` times, up to `within`.
    pub fn wait_for(&self, needle: &str, count: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.count(needle) >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.count(needle) >= count
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
