//! What the client sees when the gateway refuses or fails a request.
//!
//! Browsers (an `Accept` that names `text/html`) get a small HTML page that says what happened
//! in plain words, who is signed in when known, a sign-out link when the route's login
//! middleware has one, and the request id that the log line for the request carries. API
//! clients get a short JSON object when they accept JSON, else one line of text.
//!
//! Nothing from the failure's cause is shown (it may name hosts, claims or provider answers).
//! Every value substituted into a page — built-in or from `errorPages.directory` — is
//! HTML-escaped, so a username or request id cannot inject markup.

use std::collections::HashMap;
use std::path::Path;

use http::{HeaderValue, StatusCode};

/// How the body of an error response is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
    Text,
}

impl Format {
    /// The format for a request's `Accept` header: HTML when it names `text/html`, JSON when it
    /// names a JSON type, text otherwise (`*/*` alone, as `curl` sends, gets text).
    pub fn negotiate(accept: Option<&HeaderValue>) -> Format {
        let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
            return Format::Text;
        };
        let mut json = false;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            if refused {
                continue;
            }
            if media.eq_ignore_ascii_case("text/html") {
                return Format::Html;
            }
            let lower = media.to_ascii_lowercase();
            if lower == "application/json" || lower.ends_with("+json") {
                json = true;
            }
        }
        if json { Format::Json } else { Format::Text }
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
            Format::Text => "text/plain; charset=utf-8",
        }
    }
}

/// What an error page may show about the request.
#[derive(Debug, Clone, Copy)]
pub struct PageFacts<'a> {
    pub status: StatusCode,
    pub request_id: &'a str,
    /// The signed-in user, when a login middleware knew it.
    pub user: Option<&'a str>,
    /// The route's sign-out address, when its login middleware has one.
    pub logout_url: Option<&'a str>,
}

/// The plain-words title and explanation for a status.
pub fn wording(status: StatusCode, signed_in: bool) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "Bad request",
            "The request could not be understood. Check the address and try again.",
        ),
        401 => (
            "Sign-in required",
            "You need to sign in before you can open this page.",
        ),
        403 if signed_in => (
            "Access denied",
            "You are signed in, but your account is not allowed to open this page. If you think \
             it should be, ask an administrator, or sign in with another account.",
        ),
        403 => ("Access denied", "You are not allowed to open this page."),
        404 => (
            "Page not found",
            "There is nothing at this address. Check the address for typing mistakes.",
        ),
        431 => (
            "Request too large",
            "The request carried more headers or cookies than the gateway accepts. Clearing this \
             site's cookies usually helps.",
        ),
        502 => (
            "Service unreachable",
            "The service behind this address could not be reached or gave an invalid answer. \
             Try again in a moment.",
        ),
        503 => (
            "Service unavailable",
            "The service is temporarily unavailable. Try again in a moment.",
        ),
        504 => (
            "Service timed out",
            "The service took too long to answer. Try again in a moment.",
        ),
        _ => (
            "Something went wrong",
            "The gateway could not complete this request. Try again in a moment.",
        ),
    }
}

/// The statuses a template file may be named after (`401.html`, ...); others use
/// `default.html`.
const TEMPLATE_STATUSES: [u16; 9] = [400, 401, 403, 404, 431, 500, 502, 503, 504];

/// The page templates: built in, or read from `errorPages.directory` at start.
#[derive(Debug, Clone, Default)]
pub struct ErrorPages {
    by_status: HashMap<u16, String>,
    default: Option<String>,
}

impl ErrorPages {
    /// The built-in pages.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Reads `NNN.html` for the statuses that have a page and `default.html` from `directory`.
    /// Missing files fall back to `default.html`, then to the built-in page.
    pub fn from_directory(directory: &Path) -> std::io::Result<Self> {
        if !directory.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} is not a directory", directory.display()),
            ));
        }
        let read = |name: &str| -> std::io::Result<Option<String>> {
            match std::fs::read_to_string(directory.join(name)) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        let mut by_status = HashMap::new();
        for status in TEMPLATE_STATUSES {
            if let Some(text) = read(&format!("{status}.html"))? {
                by_status.insert(status, text);
            }
        }
        Ok(Self {
            by_status,
            default: read("default.html")?,
        })
    }

    /// The body of the error response in `format`.
    pub fn render(&self, format: Format, facts: &PageFacts<'_>) -> String {
        let (title, message) = wording(facts.status, facts.user.is_some());
        match format {
            Format::Json => {
                serde_json::json!({
                    "error": title,
                    "status": facts.status.as_u16(),
                    "requestId": facts.request_id,
                })
                .to_string()
                    + "\n"
            }
            Format::Text => format!("{title} (request id {})\n", facts.request_id),
            Format::Html => match self
                .by_status
                .get(&facts.status.as_u16())
                .or(self.default.as_ref())
            {
                Some(template) => fill(template, facts, title, message),
                None => builtin_page(facts, title, message),
            },
        }
    }
}

/// `template` with each `{{name}}` placeholder replaced by its HTML-escaped value; unknown
/// placeholders are left as written.
fn fill(template: &str, facts: &PageFacts<'_>, title: &str, message: &str) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let (before, after) = rest.split_at(start);
        out.push_str(before);
        let Some(end) = after.find("}}") else {
            out.push_str(after);
            return out;
        };
        let name = after.get(2..end).unwrap_or_default().trim();
        let status = facts.status.as_u16().to_string();
        let value = match name {
            "status" => Some(status.as_str()),
            "title" => Some(title),
            "message" => Some(message),
            "requestId" => Some(facts.request_id),
            "user" => Some(facts.user.unwrap_or_default()),
            "logoutUrl" => Some(facts.logout_url.unwrap_or_default()),
            _ => None,
        };
        match value {
            Some(value) => out.push_str(&escape_html(value)),
            None => out.push_str(after.get(..end + 2).unwrap_or_default()),
        }
        rest = after.get(end + 2..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// Escapes the characters that matter in HTML text and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "*{box-sizing:border-box}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
background:#f4f5f7;color:#1f2933;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
main{background:#fff;max-width:34rem;width:calc(100% - 2rem);padding:2.5rem;border-radius:12px;\
box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06)}\
.code{margin:0;color:#7b8794;font-size:.9rem;letter-spacing:.08em;text-transform:uppercase}\
h1{margin:.25rem 0 1rem;font-size:1.6rem;line-height:1.25}\
p{margin:0 0 1rem}\
.user{background:#f4f5f7;border-radius:8px;padding:.75rem 1rem}\
.actions{margin-top:1.5rem;display:flex;gap:.75rem;flex-wrap:wrap}\
a.button{display:inline-block;padding:.55rem 1.1rem;border-radius:8px;text-decoration:none;\
background:#2563eb;color:#fff;font-weight:600}\
a.button.secondary{background:#fff;color:#1f2933;border:1px solid #cbd2d9}\
footer{margin-top:2rem;color:#7b8794;font-size:.8rem}\
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}";

fn builtin_page(facts: &PageFacts<'_>, title: &str, message: &str) -> String {
    let status = facts.status.as_u16();
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\">\
<title>{status} {title}</title><style>{STYLE}</style></head>\n<body><main>\
<p class=\"code\">Error {status}</p><h1>{title}</h1><p>{message}</p>",
        title = escape_html(title),
        message = escape_html(message),
    );
    if let Some(user) = facts.user {
        html.push_str(&format!(
            "<p class=\"user\">Signed in as <strong>{}</strong></p>",
            escape_html(user)
        ));
    }
    let mut actions = Vec::new();
    if status >= 500 {
        // An empty reference is the page itself: the browser asks again.
        actions.push("<a class=\"button\" href=\"\">Try again</a>".to_owned());
    }
    if let Some(logout) = facts.logout_url {
        let class = if actions.is_empty() {
            "button"
        } else {
            "button secondary"
        };
        actions.push(format!(
            "<a class=\"{class}\" href=\"{}\">Sign out</a>",
            escape_html(logout)
        ));
    }
    if !actions.is_empty() {
        html.push_str("<div class=\"actions\">");
        html.push_str(&actions.join(""));
        html.push_str("</div>");
    }
    html.push_str(&format!(
        "<footer>Request id <code>{}</code> &middot; mention it if you contact support.\
</footer></main></body></html>\n",
        escape_html(facts.request_id)
    ));
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: u16) -> PageFacts<'static> {
        PageFacts {
            status: StatusCode::from_u16(status).unwrap(),
            request_id: "r1",
            user: None,
            logout_url: None,
        }
    }

    #[test]
    fn browsers_get_html_api_clients_json_and_others_text() {
        let h = |s: &'static str| Some(HeaderValue::from_static(s));
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(Format::negotiate(h(browser).as_ref()), Format::Html);
        assert_eq!(
            Format::negotiate(h("application/json").as_ref()),
            Format::Json
        );
        assert_eq!(
            Format::negotiate(h("application/problem+json, */*").as_ref()),
            Format::Json
        );
        assert_eq!(Format::negotiate(h("*/*").as_ref()), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(h("text/html;q=0, text/plain").as_ref()),
            Format::Text
        );
    }

    #[test]
    fn the_html_page_escapes_the_user_and_links_to_sign_out() {
        let page = ErrorPages::builtin().render(
            Format::Html,
            &PageFacts {
                user: Some("<b>mallory</b>"),
                logout_url: Some("/logout?a=1&b=\"2\""),
                ..facts(403)
            },
        );
        assert!(page.contains("Access denied"), "{page}");
        assert!(page.contains("&lt;b&gt;mallory&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>mallory"), "{page}");
        assert!(
            page.contains("href=\"/logout?a=1&amp;b=&quot;2&quot;\""),
            "{page}"
        );
        assert!(page.contains("<code>r1</code>"), "{page}");
    }

    #[test]
    fn json_and_text_bodies_are_short() {
        let json: serde_json::Value =
            serde_json::from_str(&ErrorPages::builtin().render(Format::Json, &facts(502))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": "Service unreachable", "status": 502, "requestId": "r1"})
        );
        assert_eq!(
            ErrorPages::builtin().render(Format::Text, &facts(404)),
            "Page not found (request id r1)\n"
        );
    }

    #[test]
    fn templates_from_a_directory_fill_escaped_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("403.html"),
            "<p>{{status}} {{title}} for {{user}} [{{requestId}}] {{ logoutUrl }} {{other}} {{",
        )
        .unwrap();
        std::fs::write(dir.path().join("default.html"), "default {{status}}").unwrap();
        let pages = ErrorPages::from_directory(dir.path()).unwrap();
        let page = pages.render(
            Format::Html,
            &PageFacts {
                user: Some("a&b"),
                logout_url: Some("/out"),
                ..facts(403)
            },
        );
        assert_eq!(
            page,
            "<p>403 Access denied for a&amp;b [r1] /out {{other}} {{"
        );
        assert_eq!(pages.render(Format::Html, &facts(502)), "default 502");
        assert!(ErrorPages::from_directory(&dir.path().join("missing")).is_err());
    }
}
