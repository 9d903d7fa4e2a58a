//! The @context store through the public API (clause 5.13): Hosted @contexts and their
//! persistence across a reopen, Cached copies of remote @contexts (listing, hits, expiry,
//! delete, reload), the built-in core entry, and ImplicitlyCreated @contexts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rigel_jsonld::{ContextInfo, ContextKind, ContextResolver, ResolverConfig, CORE_CONTEXT_URL};
use rigel_model::{ErrorKind, TermMap};
use serde_json::{json, Value};

const VOCAB: &str = "https://example.org/vocab#";

fn resolver() -> ContextResolver {
    ContextResolver::new(ResolverConfig::default()).unwrap()
}

fn resolver_in(dir: &Path) -> ContextResolver {
    ContextResolver::new(ResolverConfig {
        hosted_dir: Some(dir.to_path_buf()),
        ..ResolverConfig::default()
    })
    .unwrap()
}

/// Where a hosted @context is served, on a host nothing listens on: using it must not need
/// the network.
fn served_url(info: &ContextInfo) -> String {
    info.url("http://127.0.0.1:1/ngsi-ld/v1/jsonldContexts")
}

fn hosted_document() -> Value {
    json!({"@context": {"Car": format!("{VOCAB}Car"), "speed": format!("{VOCAB}speed")}})
}

// ---------------------------------------------------------------------------------------
// A small HTTP server whose answers the test can change.

#[derive(Clone)]
struct Answer {
    status: &'static str,
    body: String,
    headers: &'static str,
}

struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(Mutex::new(HashMap::<String, Answer>::new()));
        let (counter, table) = (Arc::clone(&hits), Arc::clone(&answers));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (counter, table) = (Arc::clone(&counter), Arc::clone(&table));
                thread::spawn(move || answer(stream, &counter, &table));
            }
        });
        Self {
            addr,
            hits,
            answers,
        }
    }

    fn serve(&self, path: &str, context: Value, headers: &'static str) -> String {
        let answer = Answer {
            status: "200 OK",
            body: json!({ "@context": context }).to_string(),
            headers,
        };
        self.answers.lock().unwrap().insert(path.to_owned(), answer);
        format!("http://{}{path}", self.addr)
    }

    fn fail(&self, path: &str) {
        let answer = Answer {
            status: "500 Internal Server Error",
            body: String::new(),
            headers: "",
        };
        self.answers.lock().unwrap().insert(path.to_owned(), answer);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn answer(mut stream: TcpStream, hits: &AtomicUsize, answers: &Mutex<HashMap<String, Answer>>) {
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
    let found = answers.lock().unwrap().get(&path).cloned();
    let answer = found.unwrap_or(Answer {
        status: "404 Not Found",
        body: String::new(),
        headers: "",
    });
    let response = format!(
        "HTTP/1.1 {}\r\nContent-Type: application/ld+json\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
        answer.status,
        answer.body.len(),
        answer.headers,
        answer.body
    );
    let _ = stream.write_all(response.as_bytes());
}

// ---------------------------------------------------------------------------------------
// Hosted @contexts.

#[tokio::test]
async fn a_hosted_context_is_used_by_its_url_without_network() {
    let resolver = resolver();
    let info = resolver.add_context(&hosted_document()).await.unwrap();
    assert_eq!(info.kind, ContextKind::Hosted);
    assert_eq!(info.number_of_hits, 0);
    assert!(info.local_id.starts_with("urn:ngsi-ld:jsonldContext:"));

    let url = served_url(&info);
    let resolved = resolver.resolve(Some(&json!(url))).await.unwrap();
    assert_eq!(resolved.expand("speed"), format!("{VOCAB}speed"));
    let nested = json!([url, {"fuel": "https://example.org/fuel"}]);
    let resolved = resolver.resolve(Some(&nested)).await.unwrap();
    assert_eq!(resolved.expand("Car"), format!("{VOCAB}Car"));
    assert_eq!(resolved.expand("fuel"), "https://example.org/fuel");

    let details = resolver.context_details(&info.local_id).unwrap();
    assert_eq!(details.number_of_hits, 2);
    assert!(details.last_usage.is_some());
    assert_eq!(
        resolver.serve_context(&info.local_id).unwrap(),
        hosted_document()
    );
}

#[tokio::test]
async fn the_relative_path_of_a_hosted_context_names_it() {
    let resolver = resolver();
    let info = resolver.add_context(&hosted_document()).await.unwrap();
    let path = format!("/ngsi-ld/v1/jsonldContexts/{}", info.local_id);
    for user in [json!(path), json!([path, {"x": "https://example.org/x"}])] {
        let resolved = resolver.resolve(Some(&user)).await.unwrap();
        assert_eq!(resolved.expand("Car"), format!("{VOCAB}Car"), "{user}");
    }
    assert_eq!(
        resolver
            .context_details(&info.local_id)
            .unwrap()
            .number_of_hits,
        2
    );
    let unknown = json!("/ngsi-ld/v1/jsonldContexts/urn:ngsi-ld:jsonldContext:unknown");
    let error = resolver.resolve(Some(&unknown)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequestData, "{error}");
}

#[tokio::test]
async fn only_the_context_member_of_the_payload_is_stored() {
    let resolver = resolver();
    let mut payload = hosted_document();
    payload["comment"] = json!("dropped");
    let info = resolver.add_context(&payload).await.unwrap();
    assert_eq!(
        resolver.serve_context(&info.local_id).unwrap(),
        hosted_document()
    );
}

#[tokio::test]
async fn a_payload_without_context_is_invalid_request() {
    let resolver = resolver();
    for payload in [
        json!({"Car": "https://example.org/Car"}),
        json!([1]),
        json!("x"),
    ] {
        let error = resolver.add_context(&payload).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{payload}");
    }
}

#[tokio::test]
async fn an_invalid_context_is_bad_request_data_and_not_stored() {
    let resolver = resolver();
    for context in [
        json!({"a": 5}),
        json!(42),
        json!("relative.jsonld"),
        json!({"a": {"@id": "@context"}}),
    ] {
        let error = resolver
            .add_context(&json!({ "@context": context }))
            .await
            .unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::BadRequestData,
            "{context}: {error}"
        );
    }
    assert_eq!(
        resolver.list_contexts(Some(ContextKind::Hosted)),
        Vec::new()
    );
}

#[tokio::test]
async fn a_hosted_context_may_reference_remote_contexts_fetched_when_used() {
    let server = Server::start();
    let remote = server.serve(
        "/remote.jsonld",
        json!({"brand": format!("{VOCAB}brand")}),
        "",
    );
    let resolver = resolver();
    let info = resolver
        .add_context(&json!({"@context": [remote, {"Car": format!("{VOCAB}Car")}]}))
        .await
        .unwrap();
    assert_eq!(server.hits(), 0, "adding does not fetch");
    let resolved = resolver
        .resolve(Some(&json!(served_url(&info))))
        .await
        .unwrap();
    assert_eq!(resolved.expand("brand"), format!("{VOCAB}brand"));
    let cached = resolver.context_details(&remote).unwrap();
    assert_eq!(cached.kind, ContextKind::Cached);
}

#[tokio::test]
async fn a_deleted_hosted_context_is_no_longer_used() {
    let resolver = resolver();
    let info = resolver.add_context(&hosted_document()).await.unwrap();
    let url = served_url(&info);
    resolver.resolve(Some(&json!(url))).await.unwrap();
    resolver.delete_context(&info.local_id).await.unwrap();
    let error = resolver.resolve(Some(&json!(url))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LdContextNotAvailable, "{error}");
    let error = resolver.context_details(&info.local_id).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResourceNotFound);
    let error = resolver.delete_context(&info.local_id).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResourceNotFound);
}

#[tokio::test]
async fn hosted_contexts_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, deleted) = {
        let resolver = resolver_in(dir.path());
        let kept = resolver.add_context(&hosted_document()).await.unwrap();
        let deleted = resolver
            .add_context(&json!({"@context": {"x": "https://example.org/x"}}))
            .await
            .unwrap();
        resolver.delete_context(&deleted.local_id).await.unwrap();
        (kept, deleted)
    };
    let reopened = resolver_in(dir.path());
    let listed = reopened.list_contexts(Some(ContextKind::Hosted));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].local_id, kept.local_id);
    assert_eq!(listed[0].created_at, kept.created_at);
    assert_eq!(
        reopened.serve_context(&kept.local_id).unwrap(),
        hosted_document()
    );
    let resolved = reopened
        .resolve(Some(&json!(served_url(&kept))))
        .await
        .unwrap();
    assert_eq!(resolved.expand("Car"), format!("{VOCAB}Car"));
    assert!(reopened.context_details(&deleted.local_id).is_err());
}

#[tokio::test]
async fn interrupted_writes_are_discarded_and_corrupt_entries_refuse_to_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0123.tmp"), b"{half a wri").unwrap();
    let resolver = resolver_in(dir.path());
    assert!(!dir.path().join("0123.tmp").exists());
    resolver.add_context(&hosted_document()).await.unwrap();
    drop(resolver);

    std::fs::write(dir.path().join("0123.json"), b"not json").unwrap();
    let error = ContextResolver::new(ResolverConfig {
        hosted_dir: Some(dir.path().to_path_buf()),
        ..ResolverConfig::default()
    })
    .err()
    .expect("a corrupt entry is reported");
    assert_eq!(error.kind(), ErrorKind::InternalError);
    assert!(error.to_string().contains("0123.json"), "{error}");
}

// ---------------------------------------------------------------------------------------
// ImplicitlyCreated @contexts.

#[tokio::test]
async fn implicitly_created_contexts_are_served_shared_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let context = json!(["https://example.org/a.jsonld", {"b": "https://example.org/b"}]);
    let info = {
        let resolver = resolver_in(dir.path());
        let first = resolver.add_implicit_context(&context).await.unwrap();
        let again = resolver.add_implicit_context(&context).await.unwrap();
        assert_eq!(first.local_id, again.local_id);
        assert_eq!(first.kind, ContextKind::ImplicitlyCreated);
        first
    };
    let reopened = resolver_in(dir.path());
    assert_eq!(
        reopened.serve_context(&info.local_id).unwrap(),
        json!({ "@context": context })
    );
    let listed = reopened.list_contexts(Some(ContextKind::ImplicitlyCreated));
    assert_eq!(listed.len(), 1);
    assert!(reopened.list_contexts(Some(ContextKind::Hosted)).is_empty());
}

// ---------------------------------------------------------------------------------------
// The core @context.

#[tokio::test]
async fn the_core_context_is_listed_as_cached_and_cannot_be_deleted() {
    let resolver = resolver();
    let all = resolver.list_contexts(None);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].kind, ContextKind::Cached);
    assert_eq!(all[0].origin.as_deref(), Some(CORE_CONTEXT_URL));
    assert!(resolver.list_contexts(Some(ContextKind::Hosted)).is_empty());

    let older = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld";
    let details = resolver.context_details(older).unwrap();
    assert_eq!(details.local_id, all[0].local_id);
    let error = resolver.delete_context(older).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequestData);
    let error = resolver.serve_context(CORE_CONTEXT_URL).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OperationNotSupported);
    resolver.reload_context(older).await.unwrap();
    resolver.resolve(Some(&json!(older))).await.unwrap();
    assert_eq!(
        resolver
            .context_details(CORE_CONTEXT_URL)
            .unwrap()
            .number_of_hits,
        1
    );
}

// ---------------------------------------------------------------------------------------
// Cached @contexts.

#[tokio::test]
async fn downloaded_contexts_are_listed_as_cached_and_count_hits() {
    let server = Server::start();
    let url = server.serve("/ctx.jsonld", json!({"brand": format!("{VOCAB}brand")}), "");
    let resolver = resolver();
    for _ in 0..3 {
        resolver.resolve(Some(&json!(url))).await.unwrap();
    }
    assert_eq!(server.hits(), 1);
    let cached = resolver.list_contexts(Some(ContextKind::Cached));
    let entry = cached
        .iter()
        .find(|c| c.origin.as_deref() == Some(url.as_str()));
    let entry = entry.expect("the download is listed");
    // The first use downloaded it; the two others found it stored.
    assert_eq!(entry.number_of_hits, 2);
    assert!(entry.expires_at.is_some_and(|at| at > entry.created_at));
    assert_eq!(entry.url("http://unused"), url);
    let by_id = resolver.context_details(&entry.local_id).unwrap();
    assert_eq!(by_id.origin.as_deref(), Some(url.as_str()));
    let error = resolver.serve_context(&url).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OperationNotSupported);
    let error = resolver.reload_context("urn:unknown").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequestData);
}

#[tokio::test]
async fn a_deleted_cached_context_is_downloaded_again() {
    let server = Server::start();
    let url = server.serve("/ctx.jsonld", json!({"brand": format!("{VOCAB}brand")}), "");
    let resolver = resolver();
    resolver.resolve(Some(&json!(url))).await.unwrap();
    resolver.delete_context(&url).await.unwrap();
    assert!(resolver.context_details(&url).is_err());
    resolver.resolve(Some(&json!(url))).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn reloading_a_cached_context_replaces_it_and_a_failed_reload_keeps_it() {
    let server = Server::start();
    let url = server.serve("/ctx.jsonld", json!({"brand": format!("{VOCAB}brand")}), "");
    let resolver = resolver();
    let before = resolver.resolve(Some(&json!(url))).await.unwrap();
    assert_eq!(before.expand("brand"), format!("{VOCAB}brand"));
    let first = resolver.context_details(&url).unwrap();

    server.serve(
        "/ctx.jsonld",
        json!({"brand": "https://example.org/v2/brand"}),
        "",
    );
    resolver.reload_context(&url).await.unwrap();
    let after = resolver.resolve(Some(&json!(url))).await.unwrap();
    assert_eq!(after.expand("brand"), "https://example.org/v2/brand");
    let reloaded = resolver.context_details(&url).unwrap();
    assert_eq!(reloaded.local_id, first.local_id);
    assert!(reloaded.created_at >= first.created_at);

    server.fail("/ctx.jsonld");
    let error = resolver.reload_context(&first.local_id).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LdContextNotAvailable);
    let kept = resolver.resolve(Some(&json!(url))).await.unwrap();
    assert_eq!(kept.expand("brand"), "https://example.org/v2/brand");
}

#[tokio::test]
async fn reloading_into_an_invalid_context_is_ld_context_not_available() {
    let server = Server::start();
    let url = server.serve("/ctx.jsonld", json!({"brand": format!("{VOCAB}brand")}), "");
    let resolver = resolver();
    resolver.resolve(Some(&json!(url))).await.unwrap();
    server.serve("/ctx.jsonld", json!({"brand": 5}), "");
    let error = resolver.reload_context(&url).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LdContextNotAvailable, "{error}");
}

#[tokio::test]
async fn hosted_contexts_cannot_be_reloaded() {
    let resolver = resolver();
    let info = resolver.add_context(&hosted_document()).await.unwrap();
    let error = resolver.reload_context(&info.local_id).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequestData);
}

#[tokio::test]
async fn expired_cached_contexts_are_downloaded_again() {
    let server = Server::start();
    let url = server.serve("/ctx.jsonld", json!({"brand": format!("{VOCAB}brand")}), "");
    let resolver = ContextResolver::new(ResolverConfig {
        cached_context_lifetime: Duration::ZERO,
        ..ResolverConfig::default()
    })
    .unwrap();
    resolver.resolve(Some(&json!(url))).await.unwrap();
    resolver.resolve(Some(&json!(url))).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn http_cache_control_sets_the_lifetime_of_a_cached_copy() {
    let server = Server::start();
    let fresh = server.serve(
        "/fresh.jsonld",
        json!({"a": "https://example.org/a"}),
        "Cache-Control: public, max-age=86400\r\n",
    );
    let uncacheable = server.serve(
        "/no-store.jsonld",
        json!({"b": "https://example.org/b"}),
        "Cache-Control: no-store\r\n",
    );
    let resolver = ContextResolver::new(ResolverConfig {
        cached_context_lifetime: Duration::from_secs(60),
        ..ResolverConfig::default()
    })
    .unwrap();
    for _ in 0..2 {
        resolver.resolve(Some(&json!(fresh))).await.unwrap();
    }
    assert_eq!(server.hits(), 1);
    let details = resolver.context_details(&fresh).unwrap();
    let lifetime = details.expires_at.unwrap() - details.created_at;
    assert_eq!(lifetime.num_seconds(), 86400);
    for _ in 0..2 {
        resolver.resolve(Some(&json!(uncacheable))).await.unwrap();
    }
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn unknown_identifiers_are_resource_not_found() {
    let resolver = resolver();
    for id in [
        "urn:ngsi-ld:jsonldContext:nothing",
        "1234",
        "https://example.org/x",
    ] {
        assert_eq!(
            resolver.context_details(id).unwrap_err().kind(),
            ErrorKind::ResourceNotFound
        );
        assert_eq!(
            resolver.serve_context(id).unwrap_err().kind(),
            ErrorKind::ResourceNotFound
        );
        assert_eq!(
            resolver.delete_context(id).await.unwrap_err().kind(),
            ErrorKind::ResourceNotFound
        );
    }
}

#[test]
fn kinds_are_parsed_by_their_spec_names_only() {
    for kind in [
        ContextKind::Cached,
        ContextKind::Hosted,
        ContextKind::ImplicitlyCreated,
    ] {
        assert_eq!(kind.as_str().parse::<ContextKind>().unwrap(), kind);
    }
    let error = "hosted".parse::<ContextKind>().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequestData);
}
