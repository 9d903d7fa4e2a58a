//! Local identifiers of stored @contexts (clause 5.13.1), and recognising the URLs under
//! which this broker serves them.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// What every generated local identifier starts with: local ids are URIs (5.13.2.4).
const PREFIX: &str = "urn:ngsi-ld:jsonldContext:";

/// The local identifier of the built-in core @context.
pub(crate) const CORE_ID: &str = "urn:ngsi-ld:jsonldContext:core";

/// The path of a served @context minus its local id (clause 6.30). A URL whose path ends
/// with it and a known local id is resolved from the store, whatever its scheme and host:
/// the broker cannot know every name clients reach it by (proxies, ports, addresses), and
/// 128 random bits make a clash with another server's identifiers negligible.
const SERVED_PATH: &str = "/ngsi-ld/v1/jsonldContexts/";

/// The origin given to a relative reference to a served @context before processing: json-ld
/// needs absolute IRIs, and the loader finds the entry by its path whatever the origin
/// (`.invalid` never resolves, should the entry vanish meanwhile).
pub(crate) const LOCAL_ORIGIN: &str = "http://broker.invalid";

/// A fresh local identifier: the prefix and 128 random bits in hex, URL-safe as it is.
pub(crate) fn new_local_id() -> String {
    format!("{PREFIX}{:016x}{:016x}", random_u64(), random_u64())
}

/// The random part of a generated local identifier (used as a file name), if `id` is one.
pub(crate) fn token(id: &str) -> Option<&str> {
    id.strip_prefix(PREFIX)
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The local id in an `http(s)` URL whose path ends with `/ngsi-ld/v1/jsonldContexts/{id}`,
/// or in such a path alone: the relative reference clients get in `Location` (6.29.3.1).
pub(crate) fn served_id(url: &str) -> Option<String> {
    let is_http = || {
        url.get(..8).is_some_and(|head| {
            let head = head.to_ascii_lowercase();
            head.starts_with("http://") || head.starts_with("https://")
        })
    };
    if !url.starts_with('/') && !is_http() {
        return None;
    }
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let start = url.rfind(SERVED_PATH)? + SERVED_PATH.len();
    let id = &url[start..];
    if id.is_empty() || id.contains('/') {
        return None;
    }
    percent_decode(id)
}

/// Decodes `%XX` escapes (clients may escape the colons of a URN); `None` if malformed.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// 64 unpredictable bits from the standard library: `RandomState` keys come from the OS
/// generator; the time and a counter make every call's input distinct.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_distinct_uris_with_a_token() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_local_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert!(id.starts_with("urn:ngsi-ld:jsonldContext:"), "{id}");
            assert!(token(id).is_some(), "{id}");
        }
        assert_eq!(token(CORE_ID), None);
        assert_eq!(token("urn:ngsi-ld:jsonldContext:../../etc"), None);
    }

    #[test]
    fn served_urls_are_recognised_on_any_host_and_escaped_or_not() {
        let id = "urn:ngsi-ld:jsonldContext:0123456789abcdef0123456789abcdef";
        for url in [
            format!("http://localhost:1026/ngsi-ld/v1/jsonldContexts/{id}"),
            format!("https://broker.example.org/ngsi-ld/v1/jsonldContexts/{id}?x=1"),
            format!("http://h/ngsi-ld/v1/ngsi-ld/v1/jsonldContexts/{id}"),
            "HTTP://h/ngsi-ld/v1/jsonldContexts/urn%3Angsi-ld%3AjsonldContext%3A0123456789abcdef0123456789abcdef".to_owned(),
            format!("/ngsi-ld/v1/jsonldContexts/{id}"),
        ] {
            assert_eq!(served_id(&url).as_deref(), Some(id), "{url}");
        }
        for url in [
            "http://h/ngsi-ld/v1/jsonldContexts/",
            "http://h/ngsi-ld/v1/jsonldContexts/a/b",
            "http://h/other/a",
            "ftp://h/ngsi-ld/v1/jsonldContexts/a",
            "ngsi-ld/v1/jsonldContexts/a",
            "http://h/ngsi-ld/v1/jsonldContexts/%zz",
        ] {
            assert_eq!(served_id(url), None, "{url}");
        }
    }
}
