//! Test harness: the broker under test (`RIGEL_URL`, or one in-process Rigel shared by the whole
//! binary), HTTP helpers, unique ids, a small @context server, and ProblemDetails assertions.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The versioned NGSI-LD core @context of the spec version under test (clause 4.4).
pub const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld";
/// The unversioned alias of the core @context that clients commonly send.
pub const UNVERSIONED_CORE_CONTEXT: &str =
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";
/// Where the core @context's `@vocab` puts terms no @context defines.
pub const DEFAULT_VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
/// The link relation of a JSON-LD @context `Link` header (JSON-LD 1.1, section 6.2).
pub const JSONLD_CONTEXT_REL: &str = "http://www.w3.org/ns/json-ld#context";
/// Prefix of the ProblemDetails `type` URIs (clause 5.5.2).
pub const ERRORS: &str = "https://uri.etsi.org/ngsi-ld/errors/";

/// The broker under test.
pub struct Target {
    /// API base URL without a trailing slash, e.g. `http://127.0.0.1:1026/ngsi-ld/v1`.
    base: String,
    /// The server root (the base without `/ngsi-ld/v1`), for non-NGSI-LD resources.
    root: String,
    /// The path part of `base`, e.g. `/ngsi-ld/v1`.
    base_path: String,
    /// `host:port` of the broker, for raw HTTP requests.
    host_port: String,
}

impl Target {
    fn from_base(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base)
            .unwrap_or_else(|e| panic!("RIGEL_URL {base:?} is not a URL: {e}"));
        let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let base_path = url.path().trim_end_matches('/').to_owned();
        let root = base.strip_suffix("/ngsi-ld/v1").unwrap_or(&base).to_owned();
        Self {
            base,
            root,
            base_path,
            host_port: format!("{host}:{port}"),
        }
    }

    /// Starts Rigel in-process on a loopback port, on its own actix system thread, with a
    /// temporary data directory that lives as long as the test process.
    fn in_process() -> Self {
        Self::in_process_with(|_| {})
    }

    /// [`Target::in_process`] with the configuration changed by `adjust`.
    fn in_process_with(adjust: fn(&mut rigel_server::Config)) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
        std::thread::Builder::new()
            .name("rigel-under-test".into())
            .spawn(move || {
                remove_stale_data_dirs();
                let prefix = format!("{DATA_DIR_PREFIX}{}-", std::process::id());
                let dir = match tempfile::Builder::new().prefix(&prefix).tempdir() {
                    Ok(dir) => dir,
                    Err(e) => {
                        let _ = tx.send(Err(format!("cannot create a data directory: {e}")));
                        return;
                    }
                };
                let mut config = rigel_server::Config::with_data_dir(dir.path().to_path_buf());
                config.bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
                config.port = 0;
                config.admin_port = 0;
                config.workers = Some(2);
                // Receivers and sources of the tests listen on loopback (docs/security.md).
                config.egress.egress_allow = vec!["127.0.0.0/8".into(), "::1".into()];
                adjust(&mut config);
                let result = actix_web::rt::System::new().block_on(async move {
                    let server = match rigel_server::start(&config).await {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = tx.send(Err(format!("cannot start rigel: {e}")));
                            return Ok(());
                        }
                    };
                    let _ = tx.send(Ok(server.addr));
                    server.wait().await.map(|_| ())
                });
                if let Err(e) = result {
                    eprintln!("rigel under test stopped: {e}");
                }
                drop(dir);
            })
            .expect("spawn the broker thread");
        let addr = rx
            .recv()
            .expect("the broker thread reports its address")
            .expect("the broker starts");
        Self::from_base(&format!("http://{addr}/ngsi-ld/v1"))
    }
}

/// Data directories of in-process brokers are named `<prefix><pid>-<random>`.
const DATA_DIR_PREFIX: &str = "rigel-conformance-";

/// The in-process broker runs until the test process exits, so its data directory is never
/// dropped; the next run removes those whose process is gone (where `/proc` tells).
fn remove_stale_data_dirs() {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(DATA_DIR_PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

static TARGET: OnceLock<Target> = OnceLock::new();

/// The broker under test: `RIGEL_URL` when set, else one in-process Rigel for the whole binary.
pub fn target() -> &'static Target {
    TARGET.get_or_init(|| match std::env::var("RIGEL_URL") {
        Ok(url) if !url.trim().is_empty() => Target::from_base(url.trim()),
        _ => Target::in_process(),
    })
}

static UNINDEXED: OnceLock<Option<Target>> = OnceLock::new();

/// A second in-process Rigel without the value index, to compare answers with; `None` when
/// the tests run against `RIGEL_URL`.
pub fn unindexed_target() -> Option<&'static Target> {
    UNINDEXED
        .get_or_init(|| match std::env::var("RIGEL_URL") {
            Ok(url) if !url.trim().is_empty() => None,
            _ => Some(Target::in_process_with(|config| config.value_index = false)),
        })
        .as_ref()
}

impl Target {
    /// The URL of an API path on this broker.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The URL of an API path such as `/entities`.
pub fn url(path: &str) -> String {
    format!("{}{path}", target().base)
}

/// The URL of a path at the server root (outside the NGSI-LD base path).
pub fn root_url(path: &str) -> String {
    format!("{}{path}", target().root)
}

/// The relative path of an entity resource, as a `Location` header holds it.
pub fn entity_path(id: &str) -> String {
    format!("{}/entities/{id}", target().base_path)
}

/// A fresh client per test: connection pools must not outlive a test's runtime.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build an HTTP client")
}

pub fn request(method: Method, path: &str) -> RequestBuilder {
    client().request(method, url(path))
}

pub fn get(path: &str) -> RequestBuilder {
    request(Method::GET, path)
}

pub fn post(path: &str) -> RequestBuilder {
    request(Method::POST, path)
}

pub fn patch(path: &str) -> RequestBuilder {
    request(Method::PATCH, path)
}

pub fn put(path: &str) -> RequestBuilder {
    request(Method::PUT, path)
}

pub fn delete(path: &str) -> RequestBuilder {
    request(Method::DELETE, path)
}

/// A `Link` header value pointing at a JSON-LD @context.
pub fn link(context_url: &str) -> String {
    format!("<{context_url}>; rel=\"{JSONLD_CONTEXT_REL}\"; type=\"application/ld+json\"")
}

/// Request decorations used throughout the tests.
pub trait RequestExt {
    /// A JSON-LD body (`application/ld+json`).
    fn ld_json(self, body: &Value) -> Self;
    /// A body sent verbatim with the given Content-Type.
    fn raw_body(self, content_type: &str, body: impl Into<String>) -> Self;
    /// A JSON-LD @context `Link` header.
    fn context_link(self, context_url: &str) -> Self;
    fn accept(self, media: &str) -> Self;
    fn tenant(self, tenant: &str) -> Self;
}

impl RequestExt for RequestBuilder {
    fn ld_json(self, body: &Value) -> Self {
        self.raw_body("application/ld+json", body.to_string())
    }

    fn raw_body(self, content_type: &str, body: impl Into<String>) -> Self {
        self.header("Content-Type", content_type).body(body.into())
    }

    fn context_link(self, context_url: &str) -> Self {
        self.header("Link", link(context_url))
    }

    fn accept(self, media: &str) -> Self {
        self.header("Accept", media)
    }

    fn tenant(self, tenant: &str) -> Self {
        self.header("NGSILD-Tenant", tenant)
    }
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header that may be repeated, each comma-separated item apart.
    pub fn headers_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|i| i.trim().to_owned()))
            .collect()
    }

    /// The media type of the body, without parameters, lower-cased.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body is not JSON ({e}); status {}: {}",
                self.status, self.body
            )
        })
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect_status(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }
}

/// Sends a request and reads the whole response.
pub async fn send(request: RequestBuilder) -> Reply {
    let response = request
        .send()
        .await
        .expect("the request reaches the broker");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .text()
        .await
        .expect("the response body can be read");
    Reply {
        status,
        headers,
        body,
    }
}

/// Asserts a ProblemDetails error (clauses 5.5.3, 6.3.2, 6.3.3): the status, JSON content type,
/// and a body whose `type` is the error type URI and which has a `title` and a `detail`.
#[track_caller]
pub fn assert_problem(reply: &Reply, status: u16, kind: &str) -> Value {
    assert_eq!(
        reply.status, status,
        "unexpected status; body: {}",
        reply.body
    );
    assert_eq!(
        reply.media_type(),
        "application/json",
        "errors are application/json; body: {}",
        reply.body
    );
    let body = reply.json();
    assert_eq!(
        body["type"],
        json!(format!("{ERRORS}{kind}")),
        "ProblemDetails type; body: {body}"
    );
    assert!(
        body["title"].is_string(),
        "ProblemDetails has a title: {body}"
    );
    assert!(
        body["detail"].is_string(),
        "ProblemDetails has a detail: {body}"
    );
    body
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A token unique across tests, processes and runs, for ids and tenant names.
pub fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{:x}{n}", std::process::id(), nanos)
}

/// A fresh entity id naming the test that owns it.
pub fn unique_id(test: &str) -> String {
    format!("urn:ngsi-ld:Test:{test}-{}", nonce())
}

/// A fresh tenant name.
pub fn unique_tenant() -> String {
    format!("conformance{}", nonce())
}

/// A Vehicle with a few attributes of common kinds, in normalized representation.
pub fn sample_entity(id: &str) -> Value {
    json!({
        "id": id,
        "type": "Vehicle",
        "brandName": {"type": "Property", "value": "Mercedes"},
        "speed": {"type": "Property", "value": 80, "unitCode": "KMH", "observedAt": "2024-03-14T01:59:26Z"},
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Alice"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-8.5, 41.2]}},
        "street": {"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}}
    })
}

/// Creates an entity (as `application/json`) and asserts 201.
pub async fn create(entity: &Value) {
    send(post("/entities").json(entity))
        .await
        .expect_status(201);
}

/// Creates the sample entity under a fresh id and returns the id.
pub async fn create_sample(test: &str) -> String {
    let id = unique_id(test);
    create(&sample_entity(&id)).await;
    id
}

/// Retrieves an entity with a query string (`""` or `"?..."`), asserting 200.
pub async fn retrieve(id: &str, query: &str) -> Value {
    send(get(&format!("/entities/{id}{query}")))
        .await
        .expect_status(200)
        .json()
}

/// Asserts that an entity no longer exists.
pub async fn assert_gone(id: &str) {
    let reply = send(get(&format!("/entities/{id}"))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// A DateTime as a sortable key: `YYYY-MM-DDThh:mm:ss.ffffff` (clause 4.6.3 allows a decimal
/// point or comma and up to six fractional digits).
#[track_caller]
pub fn instant(value: &Value) -> String {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a DateTime string"));
    let s = s
        .strip_suffix('Z')
        .unwrap_or_else(|| panic!("{s} is not a UTC DateTime ending in Z"));
    let (whole, fraction) = s.split_once(['.', ',']).unwrap_or((s, ""));
    assert!(
        whole.len() == 19
            && whole.as_bytes()[10] == b'T'
            && fraction.chars().all(|c| c.is_ascii_digit()),
        "{s}Z is not a DateTime as of clause 4.6.3"
    );
    format!("{whole}.{:0<6}", &fraction[..fraction.len().min(6)])
}

/// An entity made comparable: timestamps normalized, top-level arrays (instances, types,
/// scopes) sorted, since the spec leaves their order open.
pub fn canonical(entity: &Value) -> Value {
    fn times(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = match (k.as_str(), v) {
                            (
                                "observedAt" | "createdAt" | "modifiedAt" | "expiresAt",
                                Value::String(_),
                            ) => Value::String(instant(v)),
                            ("json", _) => v.clone(),
                            _ => times(v),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(times).collect()),
            other => other.clone(),
        }
    }
    let mut entity = times(entity);
    if let Value::Object(map) = &mut entity {
        for value in map.values_mut() {
            if let Value::Array(items) = value {
                items.sort_by_key(|v| v.to_string());
            }
        }
    }
    entity
}

/// Asserts two entities are equal up to member order, instance order and timestamp format.
#[track_caller]
pub fn assert_same_entity(actual: &Value, expected: &Value) {
    assert_eq!(
        canonical(actual),
        canonical(expected),
        "\nactual:   {actual}\nexpected: {expected}"
    );
}

/// A response to a request written byte by byte, for what an HTTP client library will not send.
pub struct RawReply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawReply {
    /// A header's value, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body` over a fresh
/// connection; adds `Host` and `Connection: close`.
pub async fn raw_http(head: &str, body: &str) -> RawReply {
    let t = target();
    let mut stream = tokio::net::TcpStream::connect(&t.host_port)
        .await
        .expect("connect to the broker");
    let text = format!(
        "{head}\r\nHost: {}\r\nConnection: close\r\n\r\n{body}",
        t.host_port
    );
    stream
        .write_all(text.as_bytes())
        .await
        .expect("write the request");
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut bytes))
        .await
        .expect("the broker answers within 30 s")
        .expect("read the response");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    RawReply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The request target of an API path, for [`raw_http`].
pub fn raw_path(path: &str) -> String {
    format!("{}{path}", target().base_path)
}

/// A tiny HTTP server handing out @context documents, reachable by the broker.
struct ContextServer {
    base: String,
    documents: Arc<Mutex<HashMap<String, String>>>,
}

static CONTEXTS: OnceLock<ContextServer> = OnceLock::new();

/// A listener for a server the broker calls back (@contexts, notifications), with the host
/// and port the broker reaches it at. When the broker runs elsewhere (a container),
/// RIGEL_TEST_CONTEXT_HOST names this machine as the broker sees it.
fn advertised_listener(what: &str) -> (TcpListener, String, u16) {
    let advertised = std::env::var("RIGEL_TEST_CONTEXT_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    let bind = if advertised.is_some() {
        "0.0.0.0:0"
    } else {
        "127.0.0.1:0"
    };
    let listener = TcpListener::bind(bind).unwrap_or_else(|e| panic!("bind {what}: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the address of {what}: {e}"))
        .port();
    let host = advertised.unwrap_or_else(|| "127.0.0.1".to_owned());
    (listener, host, port)
}

fn context_server() -> &'static ContextServer {
    CONTEXTS.get_or_init(|| {
        let (listener, host, port) = advertised_listener("the @context server");
        let documents: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let shared = Arc::clone(&documents);
        std::thread::Builder::new()
            .name("context-server".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let documents = Arc::clone(&shared);
                    std::thread::spawn(move || serve_one(stream, &documents));
                }
            })
            .expect("spawn the @context server");
        ContextServer {
            base: format!("http://{host}:{port}"),
            documents,
        }
    })
}

fn serve_one(mut stream: TcpStream, documents: &Mutex<HashMap<String, String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let document = documents
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&path)
        .cloned();
    let response = match document {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/ld+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
    };
    let _ = stream.write_all(response.as_bytes());
}

/// Serves `body` verbatim at a fresh URL and returns the URL.
pub fn serve_document(body: String) -> String {
    let server = context_server();
    let path = format!("/contexts/{}.jsonld", nonce());
    server
        .documents
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(path.clone(), body);
    format!("{}{path}", server.base)
}

/// Serves `{"@context": context}` at a fresh URL and returns the URL.
pub fn serve_context(context: Value) -> String {
    serve_document(json!({ "@context": context }).to_string())
}

/// A URL on a loopback port nobody listens on.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a throwaway port");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/context.jsonld")
}

/// A Vehicle holding every attribute kind of clause 4.5 once (single instances, so that the
/// simplified representation stays a plain value per attribute), in normalized representation.
pub fn all_kinds_entity(id: &str) -> Value {
    json!({
        "id": id,
        "type": "Vehicle",
        "brandName": {"type": "Property", "value": "Mercedes"},
        "speed": {"type": "Property", "value": 80, "unitCode": "KMH", "observedAt": "2024-03-14T01:59:26.535Z"},
        "isParked": {
            "type": "Relationship",
            "object": "urn:ngsi-ld:OffStreetParking:Downtown1",
            "observedAt": "2017-07-29T12:00:04Z",
            "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"}
        },
        "passengers": {"type": "Relationship", "object": ["urn:ngsi-ld:Person:Alice", "urn:ngsi-ld:Person:Bob"]},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-8.5, 41.2]}},
        "street": {"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}},
        "category": {"type": "VocabProperty", "vocab": "nonCommercial"},
        "ticket": {"type": "JsonProperty", "json": {"id": "85a6cc52-0589-45f9", "value": "Overstay 60 minutes"}},
        "tyreTreadDepths": {"type": "ListProperty", "valueList": [300, 300, 120, 6], "unitCode": "MMT"},
        "route": {
            "type": "ListRelationship",
            "objectList": [{"object": "urn:ngsi-ld:City:Antwerp"}, {"object": "urn:ngsi-ld:City:Rotterdam"}]
        },
        "temperature": {
            "type": "Property",
            "value": 21.5,
            "accuracy": {"type": "Property", "value": 0.5, "unitCode": "CEL"}
        }
    })
}

/// The relative path of a subscription resource, as a `Location` header holds it.
pub fn subscription_path(id: &str) -> String {
    format!("{}/subscriptions/{id}", target().base_path)
}

/// A fresh entity type (or attribute name) naming the test that owns it: a plain term the
/// core @context's `@vocab` expands, so subscriptions of different tests never match each
/// other's entities.
pub fn unique_type(test: &str) -> String {
    format!("{test}{}", nonce())
}

/// Creates a subscription (as `application/json`), asserts 201 and returns its id, taken from
/// the `Location` header.
pub async fn subscribe(body: &Value) -> String {
    subscribe_with(post("/subscriptions").json(body)).await
}

/// Sends a prepared Create Subscription request, asserts 201 and returns the new id.
pub async fn subscribe_with(request: RequestBuilder) -> String {
    let reply = send(request).await.expect_status(201);
    let location = reply
        .header("Location")
        .unwrap_or_else(|| panic!("201 without a Location header: {reply:?}"))
        .to_owned();
    let prefix = subscription_path("");
    location
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("Location {location:?} is not under {prefix:?}"))
        .to_owned()
}

/// A DateTime (clause 4.6.3) in UTC with milliseconds, e.g. `2024-03-14T01:59:26.535Z`.
pub fn date_time(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).expect("a time after 1970");
    let secs = i64::try_from(since.as_secs()).expect("a time before year 292 billion");
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// One HTTP request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as JSON, `Value::Null` when it is not JSON.
    pub body: Value,
    /// The body as text.
    pub raw: String,
    /// When the request was read in full.
    pub at: std::time::Instant,
}

impl Received {
    /// A header's value, matched case-insensitively (the first one when repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The media type of the body, without parameters, lower-cased.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// The `data` member of a Notification (clause 5.3.1) as entities.
    #[track_caller]
    pub fn data(&self) -> &[Value] {
        self.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("the notification has no data array: {}", self.raw))
    }
}

/// What a [`Receiver`] shares with its connection threads.
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    status: std::sync::atomic::AtomicU16,
    delay_ms: AtomicU64,
    stopped: std::sync::atomic::AtomicBool,
}

/// A notification endpoint: a small HTTP server on its own loopback port (or all interfaces
/// when `RIGEL_TEST_CONTEXT_HOST` is set, as for the @context server) that records every
/// request and answers with a configurable status after a configurable delay. Each test uses
/// its own, so tests running in parallel never see each other's notifications.
pub struct Receiver {
    base: String,
    port: u16,
    state: Arc<ReceiverState>,
}

impl Receiver {
    /// A receiver answering `200 OK` at once.
    pub fn start() -> Self {
        let (listener, host, port) = advertised_listener("a notification receiver");
        let state = Arc::new(ReceiverState {
            received: Mutex::new(Vec::new()),
            status: std::sync::atomic::AtomicU16::new(200),
            delay_ms: AtomicU64::new(0),
            stopped: std::sync::atomic::AtomicBool::new(false),
        });
        let shared = Arc::clone(&state);
        std::thread::Builder::new()
            .name("notification-receiver".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if shared.stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&shared);
                    std::thread::spawn(move || receive_one(stream, &state));
                }
            })
            .expect("spawn the notification receiver");
        Self {
            base: format!("http://{host}:{port}"),
            port,
            state,
        }
    }

    /// The endpoint URI to put in a subscription.
    pub fn url(&self) -> String {
        format!("{}/notify", self.base)
    }

    /// Answers every later request with this status.
    pub fn answer_with(&self, status: u16) {
        self.state.status.store(status, Ordering::Relaxed);
    }

    /// Holds every later request this long before answering (it is recorded on arrival).
    pub fn delay_answers(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until `done` holds for what was received, or `timeout`; returns what was received.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until at least `n` requests arrived, or `timeout`; returns all received.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.wait_until(timeout, |r| r.len() >= n).await
    }

    /// Waits until at least `n` requests arrived and returns them; fails the test after
    /// `timeout`.
    #[track_caller]
    pub fn expect(
        &self,
        n: usize,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Vec<Received>> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            let received = self.wait_for(n, timeout).await;
            assert!(
                received.len() >= n,
                "{caller}: expected {n} notification(s) within {timeout:?}, got {}: {:?}",
                received.len(),
                received.iter().map(|r| &r.raw).collect::<Vec<_>>()
            );
            received
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the stop flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request (Content-Length or chunked body), records it, waits the configured
/// delay and answers with the configured status; the connection is then closed.
fn receive_one(mut stream: TcpStream, state: &ReceiverState) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or("").split_whitespace();
    let method = request_line.next().unwrap_or("").to_owned();
    let path = request_line.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let mut body = bytes[head_end + 4..].to_vec();
    let mut read_more = |body: &mut Vec<u8>| match stream.read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            body.extend_from_slice(&buf[..n]);
            true
        }
    };
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") && read_more(&mut body) {}
        body = dechunk(&body);
    } else {
        let length: usize = header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        while body.len() < length && read_more(&mut body) {}
    }
    let raw = String::from_utf8_lossy(&body).into_owned();
    state
        .received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Received {
            method,
            path,
            headers,
            body: serde_json::from_str(&raw).unwrap_or(Value::Null),
            raw,
            at: std::time::Instant::now(),
        });
    let delay = state.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        std::thread::sleep(Duration::from_millis(delay));
    }
    let status = state.status.load(Ordering::Relaxed);
    let reason = if status == 200 { "OK" } else { "Test" };
    let response =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes());
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        let start = line_end + 2;
        if size == 0 || body.len() < start + size {
            break;
        }
        out.extend_from_slice(&body[start..start + size]);
        body = body.get(start + size + 2..).unwrap_or(&[]);
    }
    out
}
