use http::header::SET_COOKIE;

use super::*;

fn attributes() -> CookieAttributes {
    CookieAttributes {
        path: "/".into(),
        domain: None,
        same_site: SameSite::Lax,
        http_only: true,
        secure: false,
    }
}

fn jar(cookie: &str) -> CookieJar {
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    CookieJar::from_headers(&headers)
}

/// Applies Set-Cookie headers to a jar the way a browser would.
fn apply(jar: &CookieJar, set: &[HeaderValue]) -> CookieJar {
    let mut cookies: Vec<(String, String)> =
        jar.iter().map(|(n, v)| (n.into(), v.into())).collect();
    for header in set {
        let text = header.to_str().unwrap();
        let (pair, attrs) = text.split_once(';').unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        cookies.retain(|(n, _)| n != name);
        if !attrs.contains("Max-Age=0") {
            cookies.push((name.into(), value.into()));
        }
    }
    let text: Vec<String> = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
    self::jar(&text.join("; "))
}

#[test]
fn parses_every_cookie_header() {
    let mut headers = HeaderMap::new();
    headers.append(COOKIE, HeaderValue::from_static("a=1; b=2;c=3"));
    headers.append(COOKIE, HeaderValue::from_static("d=4; junk; =x"));
    let jar = CookieJar::from_headers(&headers);
    assert_eq!(jar.names().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert_eq!(jar.get("c"), Some("3"));
}

#[test]
fn small_values_stay_in_one_cookie() {
    let parts = split("s", "abc").unwrap();
    assert_eq!(parts, [("s".to_owned(), "abc".to_owned())]);
}

#[test]
fn large_values_are_chunked_and_reassembled() {
    let value: String = (0..10_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let parts = split("app-session", &value).unwrap();
    assert_eq!(parts.len(), 3);
    for (index, (name, part)) in parts.iter().enumerate() {
        assert_eq!(name, &format!("app-session-{}", index + 1));
        assert!(name.len() + 1 + part.len() <= MAX_COOKIE_BYTES);
    }
    let headers = write_chunked(
        "app-session",
        &value,
        &attributes(),
        Some(60),
        &CookieJar::default(),
    )
    .unwrap();
    let browser = apply(&CookieJar::default(), &headers);
    assert_eq!(browser.reassemble("app-session").unwrap(), value);
    assert!(split("s", &"x".repeat(MAX_COOKIE_BYTES * (MAX_CHUNKS + 1))).is_err());
}

#[test]
fn stale_chunks_are_cleared() {
    let big = "x".repeat(12_000);
    let first = write_chunked("s", &big, &attributes(), None, &CookieJar::default()).unwrap();
    let browser = apply(&CookieJar::default(), &first);
    assert_eq!(browser.names().count(), 4);
    // Shrinking to two chunks deletes chunks 3 and 4.
    let medium = "y".repeat(6_000);
    let second = write_chunked("s", &medium, &attributes(), None, &browser).unwrap();
    let deleted: Vec<&str> = second
        .iter()
        .map(|h| h.to_str().unwrap())
        .filter(|h| h.contains("Max-Age=0"))
        .collect();
    assert_eq!(deleted.len(), 2, "{second:?}");
    let browser = apply(&browser, &second);
    assert_eq!(browser.names().collect::<Vec<_>>(), ["s-1", "s-2"]);
    assert_eq!(browser.reassemble("s").unwrap(), medium);
    // Back to one cookie: every chunk goes.
    let third = write_chunked("s", "small", &attributes(), None, &browser).unwrap();
    let browser = apply(&browser, &third);
    assert_eq!(browser.names().collect::<Vec<_>>(), ["s"]);
    assert_eq!(browser.reassemble("s").unwrap(), "small");
    // And deleting clears everything, chunks included.
    let browser = apply(
        &browser,
        &write_chunked("s", &big, &attributes(), None, &browser).unwrap(),
    );
    let browser = apply(&browser, &delete_chunked("s", &attributes(), &browser));
    assert_eq!(browser.names().count(), 0);
}

#[test]
fn chunk_names_are_recognised_exactly() {
    assert!(CookieJar::is_chunk_of("s", "s"));
    assert!(CookieJar::is_chunk_of("s-12", "s"));
    assert!(!CookieJar::is_chunk_of("s-state", "s"));
    assert!(!CookieJar::is_chunk_of("s-", "s"));
    assert!(!CookieJar::is_chunk_of("ss-1", "s"));
    // A gap ends the chunk list.
    assert_eq!(jar("s-1=a; s-3=c").reassemble("s").unwrap(), "a");
    assert!(jar("s-2=b").reassemble("s").is_none());
}

#[test]
fn set_cookie_carries_every_attribute() {
    let attrs = CookieAttributes {
        path: "/app".into(),
        domain: Some("example.com".into()),
        same_site: SameSite::None,
        http_only: false,
        secure: true,
    };
    let header = set_cookie("n", "v", &attrs, Some(10)).unwrap();
    assert_eq!(
        header,
        "n=v; Path=/app; Domain=example.com; Max-Age=10; Secure; SameSite=None"
    );
    let deletion = delete_cookie("n", &attributes()).unwrap();
    assert_eq!(
        deletion,
        "n=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"
    );
    assert!(set_cookie("n", "a;b", &attrs, None).is_err());
    assert!(set_cookie("a b", "v", &attrs, None).is_err());
    let _ = SET_COOKIE;
}

#[test]
fn own_cookies_are_stripped() {
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_static("app=1; s-1=x; s-2=y; theirs=2; s=z"),
    );
    strip_cookies(&mut headers, |n| CookieJar::is_chunk_of(n, "s"));
    assert_eq!(headers[COOKIE], "app=1; theirs=2");
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_static("s=z"));
    strip_cookies(&mut headers, |n| n == "s");
    assert!(headers.get(COOKIE).is_none());
}

#[test]
fn every_meaning_of_a_repeated_cookie_is_listed() {
    assert_eq!(jar("s=a").reassemble_all("s"), ["a"]);
    assert_eq!(jar("s=a; s=b").reassemble_all("s"), ["a", "b"]);
    assert_eq!(jar("s-1=a; s-2=b").reassemble_all("s"), ["ab"]);
    assert_eq!(jar("s-1=a; s-2=b; s-1=x").reassemble_all("s"), ["ab", "xb"]);
    assert_eq!(jar("s=w; s-1=a").reassemble_all("s"), ["w", "a"]);
    assert!(jar("t=a").reassemble_all("s").is_empty());
}
