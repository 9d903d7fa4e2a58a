//! The broker's way out: one pooled HTTP client for the calls it makes to context sources,
//! with a policy on where it may go, a timeout per call and a cap on the size of answers.
//!
//! The policy refuses schemes other than `http` and `https`, and the link-local ranges
//! (169.254.0.0/16, fe80::/10), where cloud metadata services answer. Loopback and private
//! addresses are allowed: sources on the same host or network are the common case.

use std::net::IpAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::HeaderMap;
pub use reqwest::{Method, Url};

/// How outbound calls behave.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// A call without its own timeout fails after this long.
    pub timeout: Duration,
    /// Answers larger than this are refused.
    pub max_answer_bytes: usize,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            max_answer_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why an outbound call did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("the broker may not call {0}")]
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
    client: reqwest::Client,
    config: EgressConfig,
}

impl Egress {
    pub fn new(config: EgressConfig) -> Result<Self, EgressError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            // A redirect could lead past the policy: the caller sees it instead.
            .redirect(reqwest::redirect::Policy::none())
            .http1_title_case_headers()
            .build()
            .map_err(|e| EgressError::Unreachable(format!("HTTP client: {e}")))?;
        Ok(Self { client, config })
    }

    /// Whether the policy lets the broker call `url`; the parsed URL.
    pub fn check(&self, url: &str) -> Result<Url, EgressError> {
        let parsed = Url::parse(url).map_err(|e| EgressError::Refused(format!("{url} ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(EgressError::Refused(format!("{url} (only http and https)")));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| EgressError::Refused(format!("{url} (no host)")))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let link_local = bare.parse::<IpAddr>().is_ok_and(is_link_local);
        if link_local {
            return Err(EgressError::Refused(format!(
                "{url} (a link-local address)"
            )));
        }
        Ok(parsed)
    }

    /// Makes the call and reads the whole answer (any status).
    pub async fn send(&self, call: Call) -> Result<Answer, EgressError> {
        let url = self.check(&call.url)?;
        let timeout = call.timeout.unwrap_or(self.config.timeout);
        let mut request = self.client.request(call.method, url).timeout(timeout);
        for (name, value) in &call.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = call.body {
            request = request.body(body);
        }
        let mut response = request.send().await.map_err(|e| failure(e, timeout))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let cap = self.config.max_answer_bytes;
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
        })
    }
}

fn failure(e: reqwest::Error, timeout: Duration) -> EgressError {
    if e.is_timeout() {
        EgressError::Timeout(timeout)
    } else {
        EgressError::Unreachable(e.to_string())
    }
}

/// 169.254.0.0/16 and fe80::/10 (and IPv4 mapped into IPv6).
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress() -> Egress {
        match Egress::new(EgressConfig::default()) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        }
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
}
