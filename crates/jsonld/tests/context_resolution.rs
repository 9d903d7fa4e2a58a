//! Behaviour of @context resolution, expansion and compaction through the public API,
//! including remote contexts served by a tiny local HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rigel_jsonld::{
    core_context, ContextResolver, JsonLdError, ResolvedContext, ResolverConfig, CORE_CONTEXT_URL,
};
use rigel_model::{ErrorKind, TermMap};
use serde_json::{json, Value};

const NGSI_LD: &str = "https://uri.etsi.org/ngsi-ld/";

fn resolver() -> ContextResolver {
    ContextResolver::new(ResolverConfig::default()).unwrap()
}

async fn resolve(user: Value) -> Arc<ResolvedContext> {
    resolver().resolve(Some(&user)).await.unwrap()
}

async fn resolve_err(resolver: &ContextResolver, user: Value) -> JsonLdError {
    resolver.resolve(Some(&user)).await.unwrap_err()
}

// ---------------------------------------------------------------------------------------
// A tiny HTTP server: one thread per connection, routes by path.

struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = Arc::clone(&counter);
                thread::spawn(move || handle(stream, addr, &counter));
            }
        });
        Self { addr, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn handle(mut stream: TcpStream, addr: SocketAddr, hits: &AtomicUsize) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let json = "application/ld+json";
    let (status, content_type, body, extra): (&str, &str, String, &str) = match path.as_str() {
        "/ctx.jsonld" => (
            "200 OK",
            json,
            json!({"@context": {
                "brandName": "https://example.org/vocab#brandName",
                "Vehicle": "https://example.org/vocab#Vehicle"
            }})
            .to_string(),
            "",
        ),
        "/nested.jsonld" => (
            "200 OK",
            json,
            json!({"@context": [
                format!("http://{addr}/ctx.jsonld"),
                "relative.jsonld",
                {"speed": "https://example.org/vocab#speed"}
            ]})
            .to_string(),
            "",
        ),
        "/relative.jsonld" => (
            "200 OK",
            json,
            json!({"@context": {"fuelLevel": "https://example.org/vocab#fuelLevel"}}).to_string(),
            "",
        ),
        "/compound.jsonld" => (
            "200 OK",
            json,
            json!({"@context": [
                "ctx.jsonld",
                "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
            ]})
            .to_string(),
            "",
        ),
        "/redirect.jsonld" => (
            "302 Found",
            json,
            String::new(),
            "Location: /ctx.jsonld\r\n",
        ),
        "/loop.jsonld" => (
            "302 Found",
            json,
            String::new(),
            "Location: /loop.jsonld\r\n",
        ),
        "/slow.jsonld" => {
            thread::sleep(Duration::from_secs(3));
            ("200 OK", json, json!({"@context": {}}).to_string(), "")
        }
        "/big.jsonld" => {
            let filler = "x".repeat(4096);
            let body = json!({"@context": {"a": "https://example.org/a"}, "filler": filler});
            ("200 OK", json, body.to_string(), "")
        }
        "/big-unannounced.jsonld" => {
            stream_without_length(&mut stream, 8192);
            return;
        }
        "/core-copy.jsonld" => ("200 OK", json, core_context().to_string(), ""),
        "/page.html" => (
            "200 OK",
            "text/html",
            "<html>not here</html>".to_owned(),
            "",
        ),
        "/no-context.jsonld" => ("200 OK", json, json!({"brandName": "x"}).to_string(), ""),
        "/bad-term.jsonld" => (
            "200 OK",
            json,
            json!({"@context": {"a": 5}}).to_string(),
            "",
        ),
        _ => ("404 Not Found", "text/plain", "not found".to_owned(), ""),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// A 200 response whose body (`len` bytes) is delimited by closing the connection.
fn stream_without_length(stream: &mut TcpStream, len: usize) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/ld+json\r\nConnection: close\r\n\r\n";
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(br#"{"@context": {}, "filler": ""#);
    let _ = stream.write_all("y".repeat(len).as_bytes());
    let _ = stream.write_all(br#""}"#);
}

fn small_limits() -> ContextResolver {
    ContextResolver::new(ResolverConfig {
        fetch_timeout: Duration::from_millis(500),
        max_context_bytes: 1024,
        ..ResolverConfig::default()
    })
    .unwrap()
}

fn assert_not_available(error: &JsonLdError, url: &str) {
    assert_eq!(error.kind(), ErrorKind::LdContextNotAvailable, "{error}");
    assert!(error.to_string().contains(url), "{error} should name {url}");
}

// ---------------------------------------------------------------------------------------
// Errors and caching.

#[tokio::test]
async fn context_value_that_is_not_a_url_object_or_array_is_bad_request_data() {
    let resolver = resolver();
    for user in [
        json!(42),
        json!(true),
        json!([[CORE_CONTEXT_URL]]),
        json!([1]),
    ] {
        let error = resolve_err(&resolver, user.clone()).await;
        assert_eq!(error.kind(), ErrorKind::BadRequestData, "{user}: {error}");
    }
}

#[tokio::test]
async fn invalid_term_definitions_are_bad_request_data() {
    let resolver = resolver();
    for user in [
        json!({"a": 5}),
        json!({"a": {"@id": "@context"}}),
        json!({"a": {"@id": "https://example.org/a", "@type": 7}}),
        json!({"@version": 2}),
    ] {
        let error = resolve_err(&resolver, user.clone()).await;
        assert_eq!(error.kind(), ErrorKind::BadRequestData, "{user}: {error}");
    }
}

#[tokio::test]
async fn relative_context_url_is_bad_request_data() {
    let error = resolve_err(&resolver(), json!("context.jsonld")).await;
    assert_eq!(error.kind(), ErrorKind::BadRequestData, "{error}");
}

#[tokio::test]
async fn repeated_context_is_served_from_the_cache() {
    let resolver = resolver();
    let user = json!({"brandName": "https://example.org/brandName"});
    let first = resolver.resolve(Some(&user)).await.unwrap();
    let second = resolver.resolve(Some(&user)).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
}

#[tokio::test]
async fn a_full_cache_keeps_resolving_correctly() {
    let resolver = ContextResolver::new(ResolverConfig {
        cache_capacity: 1,
        ..ResolverConfig::default()
    })
    .unwrap();
    for round in 0..3 {
        for i in 0..3 {
            let user = json!({"t": format!("https://example.org/{i}")});
            let resolved = resolver.resolve(Some(&user)).await.unwrap();
            assert_eq!(
                resolved.expand("t"),
                format!("https://example.org/{i}"),
                "{round}"
            );
        }
    }
}

#[test]
fn resolution_is_send_and_shareable_across_threads() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ContextResolver>();
    assert_send_sync::<ResolvedContext>();
    let resolver = resolver();
    let user = json!("http://127.0.0.1:1/ctx.jsonld");
    let future = resolver.resolve(Some(&user));
    assert_send(&future);
}

// ---------------------------------------------------------------------------------------
// Remote contexts.

#[tokio::test]
async fn remote_context_terms_are_resolved_and_fetched_once() {
    let server = Server::start();
    let resolver = resolver();
    let url = server.url("/ctx.jsonld");
    let resolved = resolver.resolve(Some(&json!(url))).await.unwrap();
    assert_eq!(
        resolved.expand("brandName"),
        "https://example.org/vocab#brandName"
    );
    assert_eq!(
        resolved.compact("https://example.org/vocab#Vehicle"),
        "Vehicle"
    );
    assert_eq!(resolved.expand("location"), format!("{NGSI_LD}location"));
    // The same URL inside another user context reuses the cached document.
    let mixed = json!([url, {"speed": "https://example.org/speed"}, CORE_CONTEXT_URL]);
    let resolved = resolver.resolve(Some(&mixed)).await.unwrap();
    assert_eq!(
        resolved.expand("Vehicle"),
        "https://example.org/vocab#Vehicle"
    );
    assert_eq!(resolved.expand("speed"), "https://example.org/speed");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn nested_remote_contexts_are_resolved_against_their_base_url() {
    let server = Server::start();
    let resolved = resolve(json!(server.url("/nested.jsonld"))).await;
    assert_eq!(
        resolved.expand("brandName"),
        "https://example.org/vocab#brandName"
    );
    assert_eq!(
        resolved.expand("fuelLevel"),
        "https://example.org/vocab#fuelLevel"
    );
    assert_eq!(resolved.expand("speed"), "https://example.org/vocab#speed");
}

#[tokio::test]
async fn remote_context_naming_a_core_url_needs_no_network_for_the_core() {
    let server = Server::start();
    let resolved = resolve(json!(server.url("/compound.jsonld"))).await;
    assert_eq!(
        resolved.expand("Vehicle"),
        "https://example.org/vocab#Vehicle"
    );
    assert_eq!(resolved.expand("createdAt"), format!("{NGSI_LD}createdAt"));
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn remote_copy_of_the_core_context_behaves_as_the_core() {
    let server = Server::start();
    let copy = server.url("/core-copy.jsonld");
    let resolved = resolve(json!(copy)).await;
    assert!(resolved.is_core_only());
    let resolved = resolve(json!([copy, {"location": "https://example.org/location"}])).await;
    assert_eq!(resolved.expand("location"), format!("{NGSI_LD}location"));
}

#[tokio::test]
async fn redirected_context_is_followed() {
    let server = Server::start();
    let resolved = resolve(json!(server.url("/redirect.jsonld"))).await;
    assert_eq!(
        resolved.expand("brandName"),
        "https://example.org/vocab#brandName"
    );
}

#[tokio::test]
async fn endless_redirects_are_ld_context_not_available() {
    let server = Server::start();
    let url = server.url("/loop.jsonld");
    let error = resolve_err(&resolver(), json!(url)).await;
    assert_not_available(&error, &url);
    assert!(error.to_string().contains("redirect"), "{error}");
}

#[tokio::test]
async fn missing_context_url_is_ld_context_not_available() {
    let server = Server::start();
    let url = server.url("/missing.jsonld");
    let error = resolve_err(&resolver(), json!([url, {"a": "https://example.org/a"}])).await;
    assert_not_available(&error, &url);
    assert!(error.to_string().contains("404"), "{error}");
}

#[tokio::test]
async fn unreachable_context_url_is_ld_context_not_available() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/ctx.jsonld");
    let error = resolve_err(&resolver(), json!(url)).await;
    assert_not_available(&error, &url);
}

#[tokio::test]
async fn unsupported_url_scheme_is_ld_context_not_available() {
    let url = "ftp://example.org/ctx.jsonld";
    let error = resolve_err(&resolver(), json!(url)).await;
    assert_not_available(&error, url);
}

#[tokio::test]
async fn slow_context_server_is_ld_context_not_available_after_the_timeout() {
    let server = Server::start();
    let url = server.url("/slow.jsonld");
    let started = std::time::Instant::now();
    let error = resolve_err(&small_limits(), json!(url)).await;
    assert_not_available(&error, &url);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn oversize_context_is_ld_context_not_available() {
    let server = Server::start();
    let resolver = small_limits();
    for path in ["/big.jsonld", "/big-unannounced.jsonld"] {
        let url = server.url(path);
        let error = resolve_err(&resolver, json!(url)).await;
        assert_not_available(&error, &url);
        assert!(
            error.to_string().contains("larger than 1024 bytes"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn non_json_context_body_is_bad_request_data() {
    let server = Server::start();
    let url = server.url("/page.html");
    let error = resolve_err(&resolver(), json!(url)).await;
    assert_eq!(error.kind(), ErrorKind::BadRequestData, "{error}");
    assert!(error.to_string().contains(&url), "{error}");
}

#[tokio::test]
async fn fetched_json_that_is_not_a_valid_context_is_bad_request_data() {
    let server = Server::start();
    let resolver = resolver();
    for path in ["/no-context.jsonld", "/bad-term.jsonld"] {
        let url = server.url(path);
        let error = resolve_err(&resolver, json!(url)).await;
        assert_eq!(error.kind(), ErrorKind::BadRequestData, "{error}");
        assert!(error.to_string().contains(&url), "{error}");
    }
}

#[tokio::test]
async fn failed_fetches_are_not_cached() {
    let server = Server::start();
    let resolver = resolver();
    let url = server.url("/missing.jsonld");
    resolve_err(&resolver, json!(url)).await;
    resolve_err(&resolver, json!(url)).await;
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn clearing_the_cache_refetches_remote_contexts() {
    let server = Server::start();
    let resolver = resolver();
    let url = json!(server.url("/ctx.jsonld"));
    resolver.resolve(Some(&url)).await.unwrap();
    resolver.clear_cache();
    resolver.resolve(Some(&url)).await.unwrap();
    assert_eq!(server.hits(), 2);
}
