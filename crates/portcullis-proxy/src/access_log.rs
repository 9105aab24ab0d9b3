//! The access log: one line per request, in Traefik's common format or JSON.
//!
//! Lines are handed to a writer task through a bounded channel so a slow disk never stalls a
//! request; when the channel is full the line is dropped and counted rather than blocking.
//!
//! Query parameters that carry credentials (the OIDC callback's `code` and `state`, tokens) are
//! written as `REDACTED`: log files are read by more people, and kept longer, than the secrets
//! they would otherwise hold. The rest of the path and query is kept.
//!
//! The size field is the number of response body bytes: the body's length when it is known at
//! the response head (a `Content-Length`, a page the gateway wrote), otherwise the bytes
//! counted as they stream to the client ([`CountingBody`]), in which case the line is written
//! when the body ends or the client goes away. Bodies are never buffered for this.

use std::borrow::Cow;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

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
    /// Response body bytes; `None` writes `-`.
    pub bytes: Option<u64>,
    /// The request id, when the request failed (JSON format only).
    pub request_id: Option<&'a str>,
}

/// What is known about a request once its response head is ready, owned so that the line can
/// be written when a streamed body ends.
#[derive(Debug, Clone)]
pub struct Finished {
    pub client: SocketAddr,
    pub username: Option<String>,
    pub method: http::Method,
    pub path: String,
    pub protocol: &'static str,
    pub status: u16,
    pub duration: Duration,
    pub router: Option<Arc<str>>,
    pub service: Option<Arc<str>>,
    pub entry_point: Arc<str>,
    pub user_agent: Option<String>,
    pub referer: Option<String>,
    pub start: SystemTime,
    pub request_id: Option<String>,
}

impl Finished {
    fn entry(&self, bytes: Option<u64>) -> Entry<'_> {
        Entry {
            client: self.client,
            username: self.username.as_deref(),
            method: self.method.as_str(),
            path: &self.path,
            protocol: self.protocol,
            status: self.status,
            duration: self.duration,
            router: self.router.as_deref(),
            service: self.service.as_deref(),
            entry_point: &self.entry_point,
            user_agent: self.user_agent.as_deref(),
            referer: self.referer.as_deref(),
            start: self.start,
            bytes,
            request_id: self.request_id.as_deref(),
        }
    }
}

/// A response body that counts the bytes it yields and writes the access log line when it
/// ends, or when it is dropped early (the client went away: the bytes sent so far).
pub struct CountingBody {
    inner: crate::body::Body,
    counted: u64,
    pending: Option<(AccessLog, Finished)>,
}

impl CountingBody {
    fn write_line(&mut self) {
        if let Some((log, finished)) = self.pending.take() {
            log.record(&finished.entry(Some(self.counted)));
        }
    }
}

impl HttpBody for CountingBody {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.counted = self
                        .counted
                        .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
                }
            }
            Poll::Ready(None) => self.write_line(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CountingBody {
    fn drop(&mut self) {
        self.write_line();
    }
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

    /// Writes the line for `finished` with `response`'s body size, now when the size is known,
    /// or when the body has streamed (the body is wrapped to count it).
    pub fn record_response(
        &self,
        finished: Finished,
        response: http::Response<crate::body::Body>,
        head_only: bool,
    ) -> http::Response<crate::body::Body> {
        let known = if head_only {
            Some(0)
        } else {
            response.body().size_hint().exact()
        };
        if let Some(bytes) = known {
            self.record(&finished.entry(Some(bytes)));
            return response;
        }
        let log = self.clone();
        response.map(|inner| {
            http_body_util::BodyExt::boxed(CountingBody {
                inner,
                counted: 0,
                pending: Some((log, finished)),
            })
        })
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
        "{} - {} [{}] \"{} {} {}\" {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {}ms",
        e.client.ip(),
        e.username.filter(|u| !u.is_empty()).unwrap_or("-"),
        stamp,
        e.method,
        escape(&redact_query(e.path)),
        e.protocol,
        e.status,
        e.bytes.map_or_else(|| "-".to_owned(), |b| b.to_string()),
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
    let mut line = serde_json::json!({
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
    });
    if let Some(fields) = line.as_object_mut() {
        if let Some(bytes) = e.bytes {
            fields.insert("DownstreamContentSize".to_owned(), bytes.into());
        }
        if let Some(id) = e.request_id {
            fields.insert("RequestId".to_owned(), id.into());
        }
    }
    line.to_string()
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
            bytes: Some(1234),
            request_id: None,
        }
    }

    #[test]
    fn common_format_has_every_field() {
        let line = common_line(&entry());
        assert_eq!(
            line,
            "10.0.0.1 - alice [02/Jan/1970:00:00:00 +0000] \"GET /a\\\"b HTTP/1.1\" 200 1234 \"-\" \"curl/8\" \"web\" \"app\" \"whoami\" 12ms"
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
