//! HTTP(S) webhook delivery: a POST of the notification through one pooled keep-alive client.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, LINK};
use rigel_model::subscription::Endpoint;

use super::{DeliveryError, Outgoing};

/// Posts notifications; connections to each receiver are pooled and kept alive.
pub struct HttpDelivery {
    client: reqwest::Client,
}

impl HttpDelivery {
    pub fn new(default_timeout: Duration) -> Result<Self, DeliveryError> {
        let client = reqwest::Client::builder()
            .timeout(default_timeout)
            .connect_timeout(default_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            // Receivers written against other brokers look headers up case-sensitively
            // (`Link`, receiverInfo keys as given).
            .http1_title_case_headers()
            .build()
            .map_err(|e| DeliveryError::BadEndpoint(format!("HTTP client: {e}")))?;
        Ok(Self { client })
    }

    pub async fn send(
        &self,
        endpoint: &Endpoint,
        message: &Outgoing,
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let mut request = self
            .client
            .post(&endpoint.uri)
            .timeout(timeout)
            .header(CONTENT_TYPE, message.content_type)
            .body(message.body.clone());
        if let Some(link) = &message.link {
            request = request.header(LINK, link);
        }
        for (name, value) in &message.headers {
            // receiverInfo keys were validated as header names when the subscription was made;
            // one that still does not fit is skipped rather than failing every delivery.
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                request = request.header(name, value);
            }
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(DeliveryError::Status(response.status().as_u16())),
            Err(e) if e.is_timeout() => Err(DeliveryError::Timeout(timeout)),
            Err(e) if e.is_builder() => Err(DeliveryError::BadEndpoint(e.to_string())),
            Err(e) => Err(DeliveryError::Unreachable(e.to_string())),
        }
    }
}
