//! MQTT notification delivery (clause 7.2): the notification wrapped in a
//! `{"metadata": {...}, "body": ...}` message published on the endpoint's topic, over one
//! shared connection per broker, MQTT 3.1.1 or 5.0, QoS 0, 1 or 2.

mod session;
mod target;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rigel_model::subscription::Endpoint;
use tokio::time::Instant;

use super::{DeliveryError, Outgoing};
use session::{PublishError, Session, SessionConfig};
use target::{BrokerKey, Target};

/// Brokers connected at once; beyond this a delivery to a new broker fails rather than
/// opening yet another socket.
const MAX_BROKERS: usize = 1024;

/// How MQTT connections behave.
#[derive(Clone)]
pub struct MqttSettings {
    /// A connection unused for this long is closed (checked at each keep-alive).
    pub idle_timeout: Duration,
    /// MQTT keep-alive; at least 1 s for MQTT 3.1.1 and 5 s for MQTT 5.0.
    pub keep_alive: Duration,
    /// The largest MQTT message (metadata and body) sent.
    pub max_message_bytes: usize,
    /// TLS for `mqtts://`; by default the Mozilla roots (webpki-roots) and no client
    /// certificate.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for MqttSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(300),
            keep_alive: Duration::from_secs(30),
            max_message_bytes: 16 * 1024 * 1024,
            tls: None,
        }
    }
}

/// MQTT publishing; connections are opened on first use, shared by every subscription
/// notifying the same broker with the same credentials and version, and closed when idle.
pub struct MqttDelivery {
    settings: MqttSettings,
    /// The outbound policy brokers' addresses are checked against; `None`: any.
    egress: Option<rigel_egress::Egress>,
    default_tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    sessions: Mutex<HashMap<BrokerKey, Arc<Session>>>,
}

impl Default for MqttDelivery {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MqttDelivery {
    /// Sends DISCONNECT on every open connection rather than leaving them to idle out.
    fn drop(&mut self) {
        let sessions = self
            .sessions
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for session in sessions.values() {
            session.shut_down();
        }
    }
}

impl MqttDelivery {
    pub fn new() -> Self {
        Self::with_settings(MqttSettings::default())
    }

    pub fn with_settings(settings: MqttSettings) -> Self {
        Self {
            settings,
            egress: None,
            default_tls: OnceLock::new(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the address of every broker connected to against the outbound policy.
    pub fn with_egress(mut self, egress: rigel_egress::Egress) -> Self {
        self.egress = Some(egress);
        self
    }

    /// Where a new connection to `key` goes: the broker's host as written, once the policy
    /// allowed the addresses it resolves to. A plain connection goes to the address checked
    /// (so a name cannot resolve elsewhere in between); a TLS one by name, which the
    /// certificate must match.
    async fn admitted_host(&self, key: &BrokerKey) -> Result<String, DeliveryError> {
        let Some(egress) = &self.egress else {
            return Ok(key.host.clone());
        };
        let addrs = egress
            .resolve(&key.host, key.port)
            .await
            .map_err(|e| match e {
                rigel_egress::EgressError::Refused(why) => DeliveryError::BadEndpoint(why),
                other => DeliveryError::Unreachable(other.to_string()),
            })?;
        match addrs.first() {
            Some(addr) if !key.tls => Ok(addr.ip().to_string()),
            _ => Ok(key.host.clone()),
        }
    }

    fn open_session(&self, key: &BrokerKey) -> Option<Arc<Session>> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.get(key).filter(|s| s.is_open()).cloned()
    }

    /// Publishes the notification; `Ok` once written (QoS 0), acknowledged by PUBACK
    /// (QoS 1) or completed by PUBCOMP (QoS 2), all within `timeout`.
    pub async fn send(
        &self,
        endpoint: &Endpoint,
        message: &Outgoing,
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let target = Target::parse(endpoint)?;
        let mut payload = mqtt_message(message);
        if payload.len() > self.settings.max_message_bytes {
            return Err(DeliveryError::BadEndpoint(format!(
                "the MQTT message of {} bytes exceeds the limit of {} bytes",
                payload.len(),
                self.settings.max_message_bytes
            )));
        }
        let deadline = Instant::now() + timeout;
        // A session may close (idle, broken) between lookup and publish: one more try on a
        // fresh one.
        for _ in 0..2 {
            let session = match self.open_session(&target.broker) {
                Some(session) => session,
                None => {
                    let host = self.admitted_host(&target.broker).await?;
                    self.session(&target.broker, &host, timeout)?
                }
            };
            match session
                .publish(&target.topic, target.qos, payload, deadline)
                .await
            {
                Ok(()) => return Ok(()),
                Err(PublishError::Failed(e)) => return Err(e),
                Err(PublishError::Closed(back)) => payload = back,
            }
        }
        Err(DeliveryError::Unreachable(
            "the MQTT connection closed before the publish".into(),
        ))
    }

    /// The open session for `key`, or a new one connecting to `host`.
    fn session(
        &self,
        key: &BrokerKey,
        host: &str,
        timeout: Duration,
    ) -> Result<Arc<Session>, DeliveryError> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = sessions.get(key) {
            if session.is_open() {
                return Ok(session.clone());
            }
        }
        sessions.retain(|_, s| s.is_open());
        if sessions.len() >= MAX_BROKERS {
            return Err(DeliveryError::Unreachable(format!(
                "already connected to {MAX_BROKERS} MQTT brokers"
            )));
        }
        let tls = if key.tls {
            Some(self.tls_config()?)
        } else {
            None
        };
        let config = SessionConfig {
            keep_alive: self.settings.keep_alive,
            idle_timeout: self.settings.idle_timeout,
            // The first delivery waits for the connection; a later one joins it.
            connect_timeout: timeout + Duration::from_millis(999),
            max_packet: self.settings.max_message_bytes + usize::from(u16::MAX) + 16,
            tls,
        };
        let session = Session::open(key, host, client_id(), &config);
        sessions.insert(key.clone(), session.clone());
        Ok(session)
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, DeliveryError> {
        if let Some(tls) = &self.settings.tls {
            return Ok(tls.clone());
        }
        self.default_tls
            .get_or_init(|| {
                let extra = self.egress.as_ref().map_or(&[][..], |e| e.extra_roots());
                default_tls(extra)
            })
            .clone()
            .map_err(DeliveryError::BadEndpoint)
    }
}

/// TLS for `mqtts://`: the system's roots, the bundled Mozilla roots and the configured
/// certificate authorities (`extra`, DER). Also what the ingestion connects with.
pub fn default_tls(extra: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let system = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(system.certs);
    for der in extra {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("a configured CA: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS for MQTT: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client id unique within this process and across restarts: 23 characters at most,
/// letters and digits only, as MQTT 3.1.1 servers are required to accept (clause 3.1.3.1).
fn client_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!("rigel{:x}{:x}", now & 0xffff_ffff_ffff, n & 0xff_ffff)
}

/// The MQTT message of clause 7.2: a JSON object whose `metadata` holds `Content-Type`,
/// `Link` (when the notification is plain JSON) and one entry per receiverInfo pair, and
/// whose `body` is the notification itself.
fn mqtt_message(message: &Outgoing) -> Vec<u8> {
    let mut metadata = serde_json::Map::new();
    metadata.insert("Content-Type".into(), message.content_type.into());
    if let Some(link) = &message.link {
        metadata.insert("Link".into(), link.as_str().into());
    }
    for (key, value) in &message.headers {
        // The broker's own Content-Type and Link describe the body; receiverInfo does not
        // override them.
        let reserved = ["Content-Type", "Link"]
            .iter()
            .any(|r| r.eq_ignore_ascii_case(key));
        if !reserved {
            metadata.insert(key.clone(), value.as_str().into());
        }
    }
    let metadata = serde_json::Value::Object(metadata).to_string();
    let body: &[u8] = if message.body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        &message.body
    };
    // The body is already serialized JSON; it is spliced in rather than parsed again.
    let mut out = Vec::with_capacity(metadata.len() + body.len() + 24);
    out.extend_from_slice(b"{\"metadata\":");
    out.extend_from_slice(metadata.as_bytes());
    out.extend_from_slice(b",\"body\":");
    out.extend_from_slice(body);
    out.push(b'}');
    out
}
