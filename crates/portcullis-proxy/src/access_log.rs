//! The access log: one line per request, in Traefik's common format or JSON.
//!
//! Lines are handed to a writer task through a bounded channel so a slow disk never stalls a
//! request; when the channel is full the line is dropped and counted rather than blocking.
//!
//! Query parameters that carry credentials (the OIDC callback's `code` and `state`, tokens) are
//! written as `REDACTED`: log files are read by more people, and kept longer, than the secrets
//! they would otherwise hold. The rest of the path and query is kept.

use std::borrow::Cow;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use portcullis_config::{AccessLogConfig, AccessLogFormat};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;

/// What is known about a finished request.
pub struct Entry<'a> {
    pub client: SocketAddr,
    pub username: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    pub protocol: &'a str,
    pub status: u16,
    pub duration: Duration,
    pub router: Option<&'a str>,
    pub service: Option<&'a str>,
    pub entry_point: &'a str,
    pub user_agent: Option<&'a str>,
    pub referer: Option<&'a str>,
    pub start: SystemTime,
}

/// A running access log.
#[derive(Clone)]
pub struct AccessLog {
    format: AccessLogFormat,
    sender: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Starts the writer task; must be called inside a Tokio runtime.
    pub fn start(config: &AccessLogConfig) -> std::io::Result<Self> {
        let writer: Box<dyn Write + Send> = match &config.file_path {
            Some(path) => Box::new(open_append(path)?),
            None => Box::new(std::io::stdout()),
        };
        Ok(Self::with_writer(config.format, writer))
    }

    /// An access log writing to `writer` (tests).
    pub fn with_writer(format: AccessLogFormat, writer: Box<dyn Write + Send>) -> Self {
        let (sender, receiver) = mpsc::channel(8192);
        tokio::task::spawn_blocking(move || write_lines(receiver, writer));
        Self {
            format,
            sender,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn record(&self, entry: &Entry<'_>) {
        let line = match self.format {
            AccessLogFormat::Common => common_line(entry),
            AccessLogFormat::Json => json_line(entry),
        };
        if self.sender.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

fn write_lines(mut receiver: mpsc::Receiver<String>, mut writer: Box<dyn Write + Send>) {
    while let Some(line) = receiver.blocking_recv() {
        let mut ok = writeln!(writer, "{line}").is_ok();
        // Batch whatever is already queued before flushing.
        while let Ok(more) = receiver.try_recv() {
            ok &= writeln!(writer, "{more}").is_ok();
        }
        if !(ok && writer.flush().is_ok()) {
            tracing::error!("cannot write the access log");
        }
    }
}

fn common_line(e: &Entry<'_>) -> String {
    let time = OffsetDateTime::from(e.start);
    let stamp = time.format(&CLF_TIME).unwrap_or_else(|_| "-".to_owned());
    format!(
        "{} - {} [{}] \"{} {} {}\" {} - \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {}ms",
        e.client.ip(),
        e.username.filter(|u| !u.is_empty()).unwrap_or("-"),
        stamp,
        e.method,
        escape(&redact_query(e.path)),
        e.protocol,
        e.status,
        escape(e.referer.unwrap_or("-")),
        escape(e.user_agent.unwrap_or("-")),
        e.entry_point,
        e.router.unwrap_or("-"),
        e.service.unwrap_or("-"),
        e.duration.as_millis()
    )
}

const CLF_TIME: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
);

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn json_line(e: &Entry<'_>) -> String {
    let time = OffsetDateTime::from(e.start)
        .format(&Rfc3339)
        .unwrap_or_default();
    serde_json::json!({
        "time": time,
        "ClientAddr": e.client.to_string(),
        "ClientHost": e.client.ip().to_string(),
        "ClientUsername": e.username.unwrap_or(""),
        "RequestMethod": e.method,
        "RequestPath": redact_query(e.path),
        "RequestProtocol": e.protocol,
        "DownstreamStatus": e.status,
        "Duration": u64::try_from(e.duration.as_nanos()).unwrap_or(u64::MAX),
        "EntryPointName": e.entry_point,
        "RouterName": e.router.unwrap_or(""),
        "ServiceName": e.service.unwrap_or(""),
        "request_User-Agent": e.user_agent.unwrap_or(""),
    })
    .to_string()
}

/// Query parameters whose values are credentials.
const REDACTED_PARAMETERS: [&str; 8] = [
    "code",
    "state",
    "id_token",
    "id_token_hint",
    "access_token",
    "refresh_token",
    "token",
    "client_secret",
];

/// `path` with the values of [`REDACTED_PARAMETERS`] replaced by `REDACTED`. Names are compared
/// after percent-decoding and ignoring case, so `%63ode` is redacted as well. Borrows when
/// nothing is redacted.
fn redact_query(path: &str) -> Cow<'_, str> {
    let Some((before, query)) = path.split_once('?') else {
        return Cow::Borrowed(path);
    };
    let secret = |pair: &str| {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        is_redacted_name(name) && pair.len() > name.len() + 1
    };
    if !query.split('&').any(secret) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    out.push_str(before);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if secret(pair) => {
                out.push_str(name);
                out.push_str("=REDACTED");
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

fn is_redacted_name(name: &str) -> bool {
    // Longest listed name, in its most encoded form (three bytes a character).
    if name.is_empty() || name.len() > 3 * "client_secret".len() {
        return false;
    }
    let mut decoded = Vec::with_capacity(name.len());
    let bytes = name.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                decoded.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                i += 3;
            }
            _ => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    REDACTED_PARAMETERS
        .iter()
        .any(|p| p.as_bytes().eq_ignore_ascii_case(&decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            client: "10.0.0.1:4444".parse().unwrap(),
            username: Some("alice"),
            method: "GET",
            path: "/a\"b",
            protocol: "HTTP/1.1",
            status: 200,
            duration: Duration::from_millis(12),
            router: Some("app"),
            service: Some("whoami"),
            entry_point: "web",
            user_agent: Some("curl/8"),
            referer: None,
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(86_400),
        }
    }

    #[test]
    fn common_format_has_every_field() {
        let line = common_line(&entry());
        assert_eq!(
            line,
            "10.0.0.1 - alice [02/Jan/1970:00:00:00 +0000] \"GET /a\\\"b HTTP/1.1\" 200 - \"-\" \"curl/8\" \"web\" \"app\" \"whoami\" 12ms"
        );
    }

    #[test]
    fn json_format_has_every_field() {
        let value: serde_json::Value = serde_json::from_str(&json_line(&entry())).unwrap();
        assert_eq!(value["ClientHost"], "10.0.0.1");
        assert_eq!(value["ClientUsername"], "alice");
        assert_eq!(value["RequestMethod"], "GET");
        assert_eq!(value["RequestPath"], "/a\"b");
        assert_eq!(value["DownstreamStatus"], 200);
        assert_eq!(value["Duration"], 12_000_000);
        assert_eq!(value["RouterName"], "app");
        assert_eq!(value["ServiceName"], "whoami");
        assert_eq!(value["time"], "1970-01-02T00:00:00Z");
    }

    #[test]
    fn oauth_callback_code_and_state_are_redacted() {
        let mut e = entry();
        e.path = "/oidc/callback?code=SECRETCODE&state=SECRETSTATE&x=1&%63ode=S2&token";
        let line = common_line(&e);
        assert!(!line.contains("SECRET"), "{line}");
        assert!(!line.contains("S2"), "{line}");
        assert!(
            line.contains("/oidc/callback?code=REDACTED&state=REDACTED&x=1&%63ode=REDACTED&token "),
            "{line}"
        );
        let value: serde_json::Value = serde_json::from_str(&json_line(&e)).unwrap();
        assert_eq!(
            value["RequestPath"],
            "/oidc/callback?code=REDACTED&state=REDACTED&x=1&%63ode=REDACTED&token"
        );
        for hidden in [
            "id_token_hint",
            "access_token",
            "refresh_token",
            "CLIENT_SECRET",
        ] {
            let path = format!("/logout?{hidden}=abc&keep=1");
            assert_eq!(
                redact_query(&path),
                format!("/logout?{hidden}=REDACTED&keep=1")
            );
        }
    }

    #[test]
    fn paths_without_secrets_are_logged_as_sent() {
        for path in ["/a/b", "/a?x=1&y=2", "/a?codex=1&mode=code", "/a?code="] {
            assert!(matches!(redact_query(path), Cow::Borrowed(p) if p == path));
        }
    }

    #[tokio::test]
    async fn lines_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::start(&AccessLogConfig {
            format: AccessLogFormat::Json,
            file_path: Some(path.clone()),
        })
        .unwrap();
        log.record(&entry());
        log.record(&entry());
        for _ in 0..100 {
            if std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .count()
                == 2
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("access log lines were not written");
    }
}
