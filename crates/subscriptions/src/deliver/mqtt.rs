//! MQTT delivery (clause 7.2): placeholder until the MQTT binding lands.

use std::time::Duration;

use rigel_model::subscription::Endpoint;

use super::{DeliveryError, Outgoing};

/// MQTT publishing.
pub struct MqttDelivery;

impl MqttDelivery {
    pub fn new() -> Self {
        Self
    }

    pub async fn send(
        &self,
        _endpoint: &Endpoint,
        _message: &Outgoing,
        _timeout: Duration,
    ) -> Result<(), DeliveryError> {
        Err(DeliveryError::BadEndpoint(
            "MQTT endpoints are not supported yet".into(),
        ))
    }
}
