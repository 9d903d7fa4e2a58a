//! Delivery of a rendered notification to its endpoint, per binding: HTTP(S) webhooks
//! (clause 6.3.x) and MQTT (clause 7.2).

pub mod http;
pub mod mqtt;

use std::time::Duration;

use rigel_model::subscription::Endpoint;

/// A notification ready to send: the body and the headers the binding conveys.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The serialized Notification (clause 5.3.1).
    pub body: Vec<u8>,
    /// `application/json`, `application/ld+json` or `application/geo+json`.
    pub content_type: &'static str,
    /// The `Link` header value pointing at the @context (for `application/json`).
    pub link: Option<String>,
    /// Extra headers from `receiverInfo` (clause 5.2.15), in order.
    pub headers: Vec<(String, String)>,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the endpoint answered HTTP {0}")]
    Status(u16),
    #[error("the endpoint did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach the endpoint: {0}")]
    Unreachable(String),
    #[error("the endpoint is not usable: {0}")]
    BadEndpoint(String),
    #[error("not sent: {0}")]
    Withheld(String),
}

/// Sends notifications over every supported binding, sharing connections between
/// subscriptions that notify the same place.
pub struct Deliverer {
    http: http::HttpDelivery,
    mqtt: mqtt::MqttDelivery,
    /// The outbound policy, for endpoints checked before any delivery.
    egress: rigel_egress::Egress,
}

impl Deliverer {
    /// Delivers HTTP notifications through `egress` (else a client of its own).
    pub fn new(
        default_timeout: Duration,
        egress: Option<rigel_egress::Egress>,
    ) -> Result<Self, DeliveryError> {
        let egress = match egress {
            Some(egress) => egress,
            None => rigel_egress::Egress::new(rigel_egress::EgressConfig {
                timeout: default_timeout,
                ..rigel_egress::EgressConfig::default()
            })
            .map_err(|e| DeliveryError::BadEndpoint(e.to_string()))?,
        };
        Ok(Self {
            http: http::HttpDelivery::new(egress.clone()),
            mqtt: mqtt::MqttDelivery::new().with_egress(egress.clone()),
            egress,
        })
    }

    /// Whether the outbound policy lets notifications go to `uri`.
    pub async fn admit(&self, uri: &str) -> Result<(), rigel_egress::EgressError> {
        self.egress.admit(uri).await
    }

    /// Delivers one notification; `Ok` when the receiver accepted it (any 2xx for HTTP,
    /// the publish acknowledged as the QoS requires for MQTT).
    pub async fn send(
        &self,
        endpoint: &Endpoint,
        message: &Outgoing,
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let scheme = endpoint.uri.split(':').next().unwrap_or("");
        match scheme {
            "http" | "https" => self.http.send(endpoint, message, timeout).await,
            "mqtt" | "mqtts" => self.mqtt.send(endpoint, message, timeout).await,
            other => Err(DeliveryError::BadEndpoint(format!(
                "unsupported scheme {other:?}"
            ))),
        }
    }
}
