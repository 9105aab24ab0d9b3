//! Reading `Cookie` headers, writing `Set-Cookie` headers, splitting a large value into
//! numbered chunks and putting it back together, and removing the gateway's own cookies
//! before a request goes upstream.
//!
//! What it protects against, and how:
//! - header injection: names and values are checked against RFC 6265's character sets before a
//!   `Set-Cookie` is built (a configured name is validated at load time too);
//! - cookies silently dropped by browsers above ~4 KB: values are split into chunks
//!   `<name>-1`, `<name>-2`, … of at most [`MAX_COOKIE_BYTES`] each (name included);
//! - stale chunks mixing with fresh ones: each write deletes the chunks (and the unchunked
//!   form) that the request carried and the new value does not use;
//! - unbounded work on hostile input: at most [`MAX_CHUNKS`] chunks are read;
//! - leaking the gateway's cookies to the upstream: [`strip_cookies`] rewrites the `Cookie`
//!   header without them.

use http::header::{COOKIE, HeaderMap, HeaderValue};
use portcullis_config::plugin::common::SameSite;

/// Largest `name=value` written in one cookie.
pub const MAX_COOKIE_BYTES: usize = 4000;
/// Most chunks a value may use.
pub const MAX_CHUNKS: usize = 32;

/// Why a cookie could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("cookie value needs more than {MAX_CHUNKS} chunks")]
    TooLarge,
    #[error("invalid cookie name or value")]
    Invalid,
}

/// The attributes of a cookie the gateway writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAttributes {
    pub path: String,
    pub domain: Option<String>,
    pub same_site: SameSite,
    pub http_only: bool,
    pub secure: bool,
}

/// The cookies of a request, in order, as `(name, value)`.
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    cookies: Vec<(String, String)>,
}

impl CookieJar {
    /// Reads every `Cookie` header of a request. Pairs without `=` are ignored; surrounding
    /// double quotes of a value are kept (they are part of the value for the gateway).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut cookies = Vec::new();
        for header in headers.get_all(COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            for pair in text.split(';') {
                if let Some((name, value)) = pair.trim().split_once('=') {
                    let name = name.trim();
                    if !name.is_empty() {
                        cookies.push((name.to_owned(), value.trim().to_owned()));
                    }
                }
            }
        }
        Self { cookies }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every cookie name, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.cookies.iter().map(|(n, _)| n.as_str())
    }

    /// Every `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cookies.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value stored under `name`, unchunked or from its chunks `<name>-1..`.
    #[cfg(test)]
    pub fn reassemble(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(value) => Some(value.to_owned()),
            None => self.assemble_chunks(name, false),
        }
    }

    /// Every value the request may mean under `name`: each unchunked value, and the value
    /// assembled from its chunks (from the first and from the last copy of each chunk when
    /// chunks are repeated). More than one means the browser holds several cookies of that
    /// name (another path or domain, or one planted from a sibling host), and which one it
    /// sends first is not a decision the gateway may leave to it.
    pub fn reassemble_all(&self, name: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .cookies
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect();
        // Most requests carry no chunks: skip building their names.
        let chunked = self
            .cookies
            .iter()
            .any(|(n, _)| n != name && Self::is_chunk_of(n, name));
        if !chunked {
            return values;
        }
        let assembled = [
            self.assemble_chunks(name, false),
            self.assemble_chunks(name, true),
        ];
        for value in assembled.into_iter().flatten() {
            if !values.contains(&value) {
                values.push(value);
            }
        }
        values
    }

    /// The value of the chunks `<name>-1..` up to the first missing one, taking the first (or
    /// the last) copy of each; `None` without a first chunk.
    fn assemble_chunks(&self, name: &str, pick_last: bool) -> Option<String> {
        let mut value = String::new();
        for index in 1..=MAX_CHUNKS {
            let chunk = chunk_name(name, index);
            let mut copies = self.cookies.iter().filter(|(n, _)| *n == chunk);
            let part = if pick_last {
                copies.next_back()
            } else {
                copies.next()
            };
            match part {
                Some((_, part)) => value.push_str(part),
                None if index == 1 => return None,
                None => break,
            }
        }
        Some(value)
    }

    /// True when `candidate` is `name` or one of its chunk names.
    pub fn is_chunk_of(candidate: &str, name: &str) -> bool {
        candidate == name
            || candidate
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|n| {
                    !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())
                })
    }
}

/// The name of chunk `index` (1-based) of `name`.
pub fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}-{index}")
}

/// Splits `value` into the cookies that store it: one cookie `name` when it fits, else chunks.
pub fn split(name: &str, value: &str) -> Result<Vec<(String, String)>, CookieError> {
    if name.len().saturating_add(value.len()).saturating_add(1) <= MAX_COOKIE_BYTES {
        return Ok(vec![(name.to_owned(), value.to_owned())]);
    }
    // Room left for the value in each chunk: the name, "-NN" and "=".
    let room = MAX_COOKIE_BYTES
        .checked_sub(name.len().saturating_add(4))
        .filter(|room| *room > 0)
        .ok_or(CookieError::Invalid)?;
    if !value.is_ascii() {
        return Err(CookieError::Invalid);
    }
    let parts: Vec<&str> = value
        .as_bytes()
        .chunks(room)
        .filter_map(|bytes| std::str::from_utf8(bytes).ok())
        .collect();
    if parts.len() > MAX_CHUNKS {
        return Err(CookieError::TooLarge);
    }
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| (chunk_name(name, i.saturating_add(1)), part.to_owned()))
        .collect())
}

/// The `Set-Cookie` headers storing `value` under `name` (chunked when needed), plus deletions
/// of what the request carried under that name and the new value no longer uses.
pub fn write_chunked(
    name: &str,
    value: &str,
    attributes: &CookieAttributes,
    max_age: Option<i64>,
    jar: &CookieJar,
) -> Result<Vec<HeaderValue>, CookieError> {
    let parts = split(name, value)?;
    let mut headers = Vec::with_capacity(parts.len());
    for (part_name, part_value) in &parts {
        headers.push(set_cookie(part_name, part_value, attributes, max_age)?);
    }
    for stale in jar.names().filter(|n| CookieJar::is_chunk_of(n, name)) {
        if !parts.iter().any(|(n, _)| n == stale) {
            headers.push(delete_cookie(stale, attributes)?);
        }
    }
    Ok(headers)
}

/// Deletions of `name` and every chunk of it the request carried.
pub fn delete_chunked(
    name: &str,
    attributes: &CookieAttributes,
    jar: &CookieJar,
) -> Vec<HeaderValue> {
    jar.names()
        .filter(|n| CookieJar::is_chunk_of(n, name))
        .filter_map(|n| delete_cookie(n, attributes).ok())
        .collect()
}

/// A `Set-Cookie` value.
pub fn set_cookie(
    name: &str,
    value: &str,
    attributes: &CookieAttributes,
    max_age: Option<i64>,
) -> Result<HeaderValue, CookieError> {
    if !portcullis_config::plugin::common::is_cookie_name(name) || !is_cookie_value(value) {
        return Err(CookieError::Invalid);
    }
    let mut text = format!("{name}={value}; Path={}", attributes.path);
    if let Some(domain) = &attributes.domain {
        text.push_str("; Domain=");
        text.push_str(domain);
    }
    if let Some(max_age) = max_age {
        let max_age = max_age.max(0);
        text.push_str(&format!("; Max-Age={max_age}"));
        if max_age == 0 {
            text.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        }
    }
    if attributes.http_only {
        text.push_str("; HttpOnly");
    }
    if attributes.secure {
        text.push_str("; Secure");
    }
    text.push_str("; SameSite=");
    text.push_str(attributes.same_site.as_str());
    HeaderValue::from_str(&text).map_err(|_| CookieError::Invalid)
}

/// A `Set-Cookie` value that deletes `name`.
pub fn delete_cookie(
    name: &str,
    attributes: &CookieAttributes,
) -> Result<HeaderValue, CookieError> {
    set_cookie(name, "", attributes, Some(0))
}

/// RFC 6265 `cookie-octet`s: visible ASCII except `"`, `,`, `;` and `\`.
fn is_cookie_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

/// Rewrites the request's `Cookie` headers without the cookies `is_own` recognises; removes the
/// header when nothing is left.
pub fn strip_cookies(headers: &mut HeaderMap, is_own: impl Fn(&str) -> bool) {
    let jar = CookieJar::from_headers(headers);
    if !jar.names().any(&is_own) {
        return;
    }
    let kept: Vec<String> = jar
        .iter()
        .filter(|(name, _)| !is_own(name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    headers.remove(COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests;
