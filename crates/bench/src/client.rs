//! The broker endpoint (parsed from `--url`) and one keep-alive HTTP/1.1 connection per worker.
//!
//! A bare hyper connection rather than a pooled client: one worker is one connection sending
//! its requests back to back, and the generator spends as little CPU per request as it can,
//! since on a small machine it shares the cores with the broker it measures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST, LINK};
use hyper::Method;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::BenchError;

/// The unversioned NGSI-LD core context, sent in a `Link` header with `--link-core-context`.
pub const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";

/// Where and how requests go: resolved once, shared by every worker.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    host: HeaderValue,
    /// Path prefix of the API, e.g. `/ngsi-ld/v1`, without a trailing slash.
    base_path: String,
    tenant: Option<HeaderValue>,
    link: Option<HeaderValue>,
    timeout: Duration,
}

const TENANT: HeaderName = HeaderName::from_static("ngsild-tenant");

impl Target {
    /// Parses `http://host[:port]/path` and resolves the host.
    pub async fn resolve(
        url: &str,
        tenant: Option<&str>,
        link_core_context: bool,
        timeout: Duration,
    ) -> Result<Self, BenchError> {
        let bad = |reason: &str| BenchError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only plain http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("expected http://host[:port]/path"));
        }
        if path.contains(['?', '#']) {
            return Err(bad("the URL must not carry a query or fragment"));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !authority.ends_with(']')
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = tokio::net::lookup_host(with_port.as_str())
            .await
            .map_err(|e| bad(&format!("cannot resolve host: {e}")))?
            .next()
            .ok_or_else(|| bad("host resolves to no address"))?;
        let host = HeaderValue::from_str(authority).map_err(|_| bad("invalid host"))?;
        let tenant = tenant
            .map(|t| {
                HeaderValue::from_str(t).map_err(|_| BenchError::Argument {
                    what: "--tenant",
                    value: t.to_owned(),
                    reason: "not a valid header value".into(),
                })
            })
            .transpose()?;
        let link = if link_core_context {
            let value = format!(
                "<{CORE_CONTEXT}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
            );
            Some(HeaderValue::from_str(&value).map_err(|_| bad("invalid Link header"))?)
        } else {
            None
        };
        Ok(Self {
            addr,
            host,
            base_path: path.trim_end_matches('/').to_owned(),
            tenant,
            link,
            timeout,
        })
    }
}

/// One request, its path relative to the API base (e.g. `/entities`).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Option<Bytes>,
}

/// What came back.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

/// A keep-alive connection to the broker.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    target: Arc<Target>,
}

impl Connection {
    pub async fn open(target: Arc<Target>) -> Result<Self, String> {
        let stream = tokio::time::timeout(target.timeout, TcpStream::connect(target.addr))
            .await
            .map_err(|_| format!("connect to {}: timed out", target.addr))?
            .map_err(|e| format!("connect to {}: {e}", target.addr))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        // Drives the connection; ends when the sender is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender, target })
    }

    /// Whether the peer closed the connection (a new one is needed; not an error).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request and reads the whole response (so the connection can be reused).
    pub async fn send(&mut self, req: Request) -> Result<Response, String> {
        let t = &self.target;
        let mut builder = hyper::Request::builder()
            .method(req.method)
            .uri(format!("{}{}", t.base_path, req.path))
            .header(HOST, t.host.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if req.body.is_some() {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(link) = &t.link {
            builder = builder.header(LINK, link.clone());
        }
        if let Some(tenant) = &t.tenant {
            builder = builder.header(TENANT, tenant.clone());
        }
        let request = builder
            .body(Full::new(req.body.unwrap_or_default()))
            .map_err(|e| format!("building the request: {e}"))?;
        let exchange = async {
            self.sender
                .ready()
                .await
                .map_err(|e| format!("connection not ready: {e}"))?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(|e| format!("sending: {e}"))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?
                .to_bytes();
            Ok(Response { status, body })
        };
        tokio::time::timeout(t.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {:?}", t.timeout))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn target(url: &str) -> Result<Target, BenchError> {
        Target::resolve(url, None, false, Duration::from_secs(1)).await
    }

    #[tokio::test]
    async fn a_url_gives_address_host_and_base_path() {
        let t = match target("http://127.0.0.1:1026/ngsi-ld/v1/").await {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(t.addr, SocketAddr::from(([127, 0, 0, 1], 1026)));
        assert_eq!(t.host, "127.0.0.1:1026");
        assert_eq!(t.base_path, "/ngsi-ld/v1");
        let t = match target("http://127.0.0.1").await {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(t.addr.port(), 80);
        assert_eq!(t.base_path, "");
    }

    #[tokio::test]
    async fn unsupported_urls_are_refused() {
        for url in [
            "https://127.0.0.1/ngsi-ld/v1",
            "127.0.0.1:1026",
            "http:///x",
            "http://127.0.0.1/x?y=1",
        ] {
            assert!(target(url).await.is_err(), "{url}");
        }
    }
}
