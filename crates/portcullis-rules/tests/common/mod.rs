//! A request builder shared by the integration tests.
#![allow(dead_code)]

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use portcullis_rules::{RequestView, Rule};

pub struct Req {
    pub method: Method,
    pub host: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub client_ip: IpAddr,
}

impl Default for Req {
    fn default() -> Self {
        Self {
            method: Method::GET,
            host: "example.com".into(),
            path: "/".into(),
            query: None,
            headers: HeaderMap::new(),
            client_ip: "10.0.0.1".parse().unwrap(),
        }
    }
}

pub fn req() -> Req {
    Req::default()
}

impl Req {
    pub fn method(mut self, method: &str) -> Self {
        self.method = Method::from_bytes(method.as_bytes()).unwrap();
        self
    }
    pub fn host(mut self, host: &str) -> Self {
        self.host = host.into();
        self
    }
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.into();
        self
    }
    pub fn query(mut self, query: &str) -> Self {
        self.query = Some(query.into());
        self
    }
    pub fn header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
        self
    }
    pub fn ip(mut self, ip: &str) -> Self {
        self.client_ip = ip.parse().unwrap();
        self
    }
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            host: &self.host,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            client_ip: self.client_ip,
        }
    }
}

/// Parses `rule` (panicking with the error) and matches it against `req`.
pub fn matches(rule: &str, req: &Req) -> bool {
    Rule::parse(rule)
        .unwrap_or_else(|err| panic!("{rule}: {err}"))
        .matches(&req.view())
}

/// The error `rule` fails with, as displayed.
pub fn error(rule: &str) -> String {
    match Rule::parse(rule) {
        Ok(parsed) => panic!("{rule} parsed as {parsed}"),
        Err(err) => err.to_string(),
    }
}
