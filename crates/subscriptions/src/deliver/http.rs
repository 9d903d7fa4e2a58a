//! HTTP(S) webhook delivery: a POST of the notification through the broker's outbound
//! client (pooled keep-alive connections, its policy on where the broker may call).

use std::time::Duration;

use rigel_egress::{Call, Egress, EgressError, Method};
use rigel_model::subscription::Endpoint;

use super::{DeliveryError, Outgoing};

/// Posts notifications; connections to each receiver are pooled and kept alive.
pub struct HttpDelivery {
    egress: Egress,
}

impl HttpDelivery {
    pub fn new(egress: Egress) -> Self {
        Self { egress }
    }

    pub async fn send(
        &self,
        endpoint: &Endpoint,
        message: &Outgoing,
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let mut headers = vec![("Content-Type".to_owned(), message.content_type.to_owned())];
        if let Some(link) = &message.link {
            headers.push(("Link".to_owned(), link.clone()));
        }
        // receiverInfo keys were validated as header names when the subscription was made;
        // one that still does not fit is skipped rather than failing every delivery.
        headers.extend(
            message
                .headers
                .iter()
                .filter(|(name, value)| is_header(name, value))
                .cloned(),
        );
        let call = Call {
            method: Method::POST,
            url: endpoint.uri.clone(),
            headers,
            body: Some(message.body.clone()),
            timeout: Some(timeout),
        };
        match self.egress.deliver(call).await {
            Ok(200..=299) => Ok(()),
            Ok(status) => Err(DeliveryError::Status(status)),
            Err(EgressError::Timeout(_)) => Err(DeliveryError::Timeout(timeout)),
            Err(EgressError::Refused(why)) => Err(DeliveryError::BadEndpoint(why)),
            Err(e) => Err(DeliveryError::Unreachable(e.to_string())),
        }
    }
}

/// Whether a name and value can travel as an HTTP header.
fn is_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}
