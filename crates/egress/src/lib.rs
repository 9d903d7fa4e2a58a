//! The broker's way out: one pooled HTTP client for every call the broker makes (requests
//! forwarded to context sources, notifications, @context downloads), with a policy on where
//! it may go, a timeout per call and a cap on the size of answers.
//!
//! The policy ([`EgressPolicy`]) refuses schemes other than `http` and `https` (and `mqtt`,
//! `mqtts` for notification endpoints), the ranges always refused (link-local, where cloud
//! metadata services answer, and the like) and, unless allowed, loopback and private
//! addresses. Names are checked by the addresses they resolve to, inside the resolver the
//! connections use. Calls follow no redirects, except document downloads
//! ([`Egress::fetch`]), which follow a few, each hop checked against the same policy.

pub mod mqtt;
mod policy;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
pub use policy::{Allowance, EgressPolicy, Refusal, Rule};
use reqwest::header::HeaderMap;
pub use reqwest::{header, Method, Url};

/// How outbound calls behave.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// A call without its own timeout fails after this long.
    pub timeout: Duration,
    /// Answers larger than this are refused.
    pub max_answer_bytes: usize,
    /// Redirects a document download follows.
    pub max_redirects: usize,
    /// Where calls may go. The default trusts loopback and private addresses (a library
    /// default for tests and embedding); the broker's configuration refuses them unless
    /// allowed.
    pub policy: EgressPolicy,
    /// Certificate authorities (DER) trusted besides the system's and the bundled roots.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            max_answer_bytes: 16 * 1024 * 1024,
            max_redirects: 5,
            policy: EgressPolicy::trusting(),
            extra_roots: Vec::new(),
        }
    }
}

/// Why an outbound call did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The policy refuses the call; the text says what and why.
    #[error("{0}")]
    Refused(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach the address: {0}")]
    Unreachable(String),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

/// An answer: its status, headers and whole body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The URL that answered (after redirects, for a download).
    pub url: String,
}

impl Answer {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One outbound call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// `None`: the configured timeout.
    pub timeout: Option<Duration>,
}

/// The outbound client.
#[derive(Clone)]
pub struct Egress {
    /// Follows no redirect: the caller sees it.
    client: reqwest::Client,
    /// Follows up to `max_redirects`, each checked against the policy.
    follower: reqwest::Client,
    config: EgressConfig,
    policy: Arc<EgressPolicy>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("config", &self.config)
            .finish()
    }
}

impl Egress {
    pub fn new(config: EgressConfig) -> Result<Self, EgressError> {
        let policy = Arc::new(config.policy.clone());
        let builder = || {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(policy::PolicyResolver(policy.clone())))
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(64)
                .tcp_nodelay(true)
                .user_agent(concat!("rigel/", env!("CARGO_PKG_VERSION")))
                // Receivers written against other brokers look headers up case-sensitively
                // (`Link`, receiverInfo keys as given).
                .http1_title_case_headers()
        };
        let roots = config
            .extra_roots
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EgressError::Unreachable(format!("a configured CA: {e}")))?;
        let built = |mut b: reqwest::ClientBuilder| {
            for root in &roots {
                b = b.add_root_certificate(root.clone());
            }
            b.build()
                .map_err(|e| EgressError::Unreachable(format!("HTTP client: {e}")))
        };
        let client = built(builder().redirect(reqwest::redirect::Policy::none()))?;
        let hops = config.max_redirects;
        let hop_policy = policy.clone();
        let follower = built(builder().redirect(reqwest::redirect::Policy::custom(
            move |attempt| {
                if attempt.previous().len() > hops {
                    attempt.error(format!("more than {hops} redirects"))
                } else if let Err(e) = allowed(&hop_policy, attempt.url()) {
                    attempt.error(e.to_string())
                } else {
                    attempt.follow()
                }
            },
        )))?;
        Ok(Self {
            client,
            follower,
            config,
            policy,
        })
    }

    /// Whether the policy lets the broker call `url` (its scheme, and its host when that is
    /// an address; names are checked when they are resolved); the parsed URL.
    pub fn check(&self, url: &str) -> Result<Url, EgressError> {
        let parsed = Url::parse(url).map_err(|e| refused(url, &e.to_string()))?;
        allowed(&self.policy, &parsed)?;
        Ok(parsed)
    }

    /// Whether an endpoint the broker is asked to call later (a notification endpoint, a
    /// context source) is allowed now: its scheme (`http`, `https`, `mqtt`, `mqtts`), and
    /// its host's addresses. A name that does not resolve now is not refused: it is checked
    /// again at each call.
    pub async fn admit(&self, uri: &str) -> Result<(), EgressError> {
        let parsed = Url::parse(uri).map_err(|e| refused(uri, &e.to_string()))?;
        let port = match parsed.scheme() {
            "http" | "https" => parsed.port_or_known_default().unwrap_or(80),
            "mqtt" => parsed.port().unwrap_or(1883),
            "mqtts" => parsed.port().unwrap_or(8883),
            other => {
                return Err(refused(
                    uri,
                    &format!("the scheme {other} (only http, https, mqtt and mqtts)"),
                ))
            }
        };
        let host = parsed.host_str().ok_or_else(|| refused(uri, "no host"))?;
        match self.resolve(host, port).await {
            Err(refused @ EgressError::Refused(_)) => Err(refused),
            _ => Ok(()),
        }
    }

    /// The certificate authorities trusted besides the system's and the bundled roots (DER),
    /// for TLS connections made outside this client (MQTTS).
    pub fn extra_roots(&self) -> &[Vec<u8>] {
        &self.config.extra_roots
    }

    /// The addresses of `host` the policy allows (an address is checked as it is), for
    /// connections made outside this client (MQTT); `Refused` naming the rule when none is.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return match self.policy.refusal(ip, false) {
                Some(rule) => Err(refused_address(ip, rule)),
                None => Ok(vec![SocketAddr::new(ip, port)]),
            };
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| EgressError::Unreachable(format!("cannot resolve {bare}: {e}")))?
            .collect();
        self.policy
            .filter(bare, addrs)
            .map_err(|r| EgressError::Refused(policy_refusal(&r)))
    }

    /// Makes the call and reads the whole answer (any status), following no redirect.
    pub async fn send(&self, call: Call) -> Result<Answer, EgressError> {
        let cap = self.config.max_answer_bytes;
        self.exchange(&self.client, call, cap).await
    }

    /// Downloads a document: follows redirects (each hop within the policy) and reads at
    /// most `max_bytes`.
    pub async fn fetch(&self, call: Call, max_bytes: usize) -> Result<Answer, EgressError> {
        self.exchange(&self.follower, call, max_bytes).await
    }

    /// Makes the call and gives only the answer's status (a notification's receiver says
    /// no more); no redirect is followed.
    pub async fn deliver(&self, call: Call) -> Result<u16, EgressError> {
        let (response, _) = self.request(&self.client, call).await?;
        Ok(response.status().as_u16())
    }

    async fn request(
        &self,
        client: &reqwest::Client,
        call: Call,
    ) -> Result<(reqwest::Response, Duration), EgressError> {
        let url = self.check(&call.url)?;
        let timeout = call.timeout.unwrap_or(self.config.timeout);
        let mut request = client.request(call.method, url).timeout(timeout);
        for (name, value) in &call.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = call.body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|e| failure(e, timeout))?;
        Ok((response, timeout))
    }

    async fn exchange(
        &self,
        client: &reqwest::Client,
        call: Call,
        cap: usize,
    ) -> Result<Answer, EgressError> {
        let (mut response, timeout) = self.request(client, call).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let url = response.url().to_string();
        let declared = response.content_length().unwrap_or(0);
        if declared > cap as u64 {
            return Err(EgressError::TooLarge(cap));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failure(e, timeout))? {
            if body.len() + chunk.len() > cap {
                return Err(EgressError::TooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body: body.freeze(),
            url,
        })
    }
}

/// The policy on a URL before any lookup: `http` and `https` only, and an address host
/// checked as it is.
fn allowed(policy: &EgressPolicy, url: &Url) -> Result<(), EgressError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused(url.as_str(), "only http and https"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| refused(url.as_str(), "no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if let Some(rule) = policy.refusal(ip, false) {
            return Err(refused_address(ip, rule));
        }
    }
    Ok(())
}

fn refused(url: &str, why: &str) -> EgressError {
    EgressError::Refused(format!("the broker may not call {url}: {why}"))
}

fn refused_address(ip: IpAddr, rule: Rule) -> EgressError {
    EgressError::Refused(format!(
        "the egress policy refuses {ip}, a {rule} address{}",
        how_to_allow(rule)
    ))
}

fn policy_refusal(refusal: &Refusal) -> String {
    format!(
        "the egress policy refuses {refusal}{}",
        how_to_allow(refusal.rule)
    )
}

/// What an operator can do about a refusal, for the rules an allow-list can lift.
fn how_to_allow(rule: Rule) -> &'static str {
    match rule {
        "loopback" | "private" => " (the broker's --egress-allow lets chosen ones through)",
        _ => "",
    }
}

fn failure(e: reqwest::Error, timeout: Duration) -> EgressError {
    // The resolver refused every address of the name.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return EgressError::Refused(policy_refusal(refusal));
        }
        source = cause.source();
    }
    if e.is_timeout() {
        EgressError::Timeout(timeout)
    } else if e.is_redirect() {
        EgressError::Refused(source_chain(&e))
    } else if e.is_builder() {
        EgressError::Refused(e.to_string())
    } else {
        EgressError::Unreachable(source_chain(&e))
    }
}

/// The error and its causes on one line (reqwest's top-level message alone is vague).
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn egress() -> Egress {
        match Egress::new(EgressConfig::default()) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        }
    }

    /// A server answering `/a` with a redirect to `/b`, `/b` with a document, and `/c` with
    /// a redirect to the cloud metadata address; the base URL.
    async fn redirecting_server() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let reply = if head.starts_with("GET /a ") {
                    "HTTP/1.1 302 Found\r\nlocation: /b\r\ncontent-length: 0\r\n\r\n".to_owned()
                } else if head.starts_with("GET /c ") {
                    "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest\r\ncontent-length: 0\r\n\r\n".to_owned()
                } else {
                    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_owned()
                };
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        base
    }

    fn get(url: String) -> Call {
        Call {
            method: Method::GET,
            url,
            headers: Vec::new(),
            body: None,
            timeout: None,
        }
    }

    #[tokio::test]
    async fn downloads_follow_redirects_within_the_policy_and_calls_follow_none() {
        let base = redirecting_server().await;
        let e = egress();
        let fetched = e.fetch(get(format!("{base}/a")), 1024).await.unwrap();
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.url, format!("{base}/b"));
        assert_eq!(&fetched.body[..], b"{}");
        let refused = e.fetch(get(format!("{base}/c")), 1024).await;
        assert!(
            matches!(refused, Err(EgressError::Refused(_))),
            "{refused:?}"
        );
        let too_large = e.fetch(get(format!("{base}/b")), 1).await;
        assert_eq!(too_large.unwrap_err(), EgressError::TooLarge(1));
        let not_followed = e.send(get(format!("{base}/a"))).await.unwrap();
        assert_eq!(not_followed.status, 302);
        assert_eq!(e.deliver(get(format!("{base}/c"))).await.unwrap(), 302);
    }

    #[test]
    fn only_http_and_https_outside_link_local_ranges_pass() {
        let e = egress();
        for ok in [
            "http://127.0.0.1:8086/ngsi-ld/v1/entities",
            "https://source.example.org/x",
            "http://[::1]:1026/",
            "http://10.0.0.7/",
        ] {
            assert!(e.check(ok).is_ok(), "{ok}");
        }
        for refused in [
            "ftp://source.example.org/",
            "file:///etc/passwd",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "not a url",
        ] {
            assert!(
                matches!(e.check(refused), Err(EgressError::Refused(_))),
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_refused_address_is_refused_at_connection_and_admission() {
        let base = redirecting_server().await;
        let port = base.rsplit(':').next().unwrap().to_owned();
        let strict = |allow: Vec<Allowance>| {
            Egress::new(EgressConfig {
                policy: EgressPolicy {
                    allow_private: false,
                    allow,
                },
                ..EgressConfig::default()
            })
            .unwrap()
        };
        let by_name = format!("http://localhost:{port}/b");
        let e = strict(Vec::new());
        let refused = e.send(get(by_name.clone())).await.unwrap_err();
        assert!(
            matches!(&refused, EgressError::Refused(why) if why.contains("loopback")),
            "{refused:?}"
        );
        assert!(matches!(
            e.send(get(format!("{base}/b"))).await,
            Err(EgressError::Refused(_))
        ));
        assert!(matches!(
            e.admit(&by_name).await,
            Err(EgressError::Refused(_))
        ));
        assert!(matches!(
            e.admit("mqtt://127.0.0.1:1883/t").await,
            Err(EgressError::Refused(_))
        ));
        assert!(matches!(
            e.admit("ftp://example.org/").await,
            Err(EgressError::Refused(_))
        ));
        // A name that does not resolve now is checked again at each call.
        assert!(e.admit("http://no-such-host.invalid/").await.is_ok());
        // Allowed by name, or by network.
        let by_host = strict(vec!["localhost".parse().unwrap()]);
        assert_eq!(
            by_host.send(get(by_name.clone())).await.unwrap().status,
            200
        );
        let by_net = strict(vec!["127.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()]);
        assert_eq!(by_net.send(get(by_name)).await.unwrap().status, 200);
        assert!(by_net.admit("mqtt://127.0.0.1/t").await.is_ok());
    }
}
