//! Where and how an MQTT notification goes: the broker, topic and credentials of an
//! `mqtt[s]://` endpoint URI and the `MQTT-Version` / `MQTT-QoS` notifierInfo (clause 7.2).

use rigel_model::subscription::{Endpoint, KeyValuePair};

use crate::deliver::DeliveryError;

/// The MQTT protocol version (Table 7.2-1, `MQTT-Version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V311,
    V5,
}

/// The quality of service of a publish (Table 7.2-1, `MQTT-QoS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // MQTT's own names for the levels
pub enum Qos {
    AtMostOnce,
    AtLeastOnce,
    ExactlyOnce,
}

/// Everything that tells one broker connection from another: notifications whose keys are
/// equal share a connection. No `Debug`: it holds a password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BrokerKey {
    pub tls: bool,
    /// As written in the URI (an IPv6 literal keeps its brackets).
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub version: Version,
}

/// A parsed MQTT endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub broker: BrokerKey,
    pub topic: String,
    pub qos: Qos,
}

impl Target {
    /// Reads `mqtt[s]://[<username>][:<password>]@<host>[:<port>]/<topic>[/<subtopic>]*` and
    /// the notifierInfo; defaults are MQTT 5.0 (Table 7.2-1) and QoS 0.
    pub fn parse(endpoint: &Endpoint) -> Result<Self, DeliveryError> {
        let (authority, path) =
            rigel_egress::mqtt::parse_mqtt_uri(endpoint.uri.as_str()).map_err(|e| bad(&e))?;
        let path = path.ok_or_else(|| bad("the URI names no topic"))?;
        let topic = rigel_egress::mqtt::percent_decode(path).map_err(|e| bad(&e))?;
        check_topic(&topic)?;
        let (version, qos) = notifier_info(&endpoint.notifier_info)?;
        Ok(Self {
            broker: BrokerKey {
                tls: authority.tls,
                host: authority.host,
                port: authority.port,
                username: authority.username,
                password: authority.password,
                version,
            },
            topic,
            qos,
        })
    }
}

fn bad(why: &str) -> DeliveryError {
    DeliveryError::BadEndpoint(why.to_owned())
}

/// A publish topic: at least one character, UTF-8, no wildcards, no NUL (MQTT 4.7).
fn check_topic(topic: &str) -> Result<(), DeliveryError> {
    if topic.is_empty() {
        return Err(bad("the URI names no topic"));
    }
    if topic.contains(['+', '#', '\0']) {
        return Err(bad("an MQTT topic to publish on has no wildcards (+, #)"));
    }
    if topic.len() > usize::from(u16::MAX) {
        return Err(bad("the MQTT topic is longer than 65535 bytes"));
    }
    Ok(())
}

fn notifier_info(pairs: &[KeyValuePair]) -> Result<(Version, Qos), DeliveryError> {
    let mut version = Version::V5;
    let mut qos = Qos::AtMostOnce;
    for pair in pairs {
        if pair.key.eq_ignore_ascii_case("MQTT-Version") {
            version = match pair.value.trim() {
                v if v.eq_ignore_ascii_case("mqtt3.1.1") => Version::V311,
                v if v.eq_ignore_ascii_case("mqtt5.0") => Version::V5,
                _ => return Err(bad("MQTT-Version is neither mqtt3.1.1 nor mqtt5.0")),
            };
        } else if pair.key.eq_ignore_ascii_case("MQTT-QoS") {
            qos = match pair.value.trim() {
                "0" => Qos::AtMostOnce,
                "1" => Qos::AtLeastOnce,
                "2" => Qos::ExactlyOnce,
                _ => return Err(bad("MQTT-QoS is not 0, 1 or 2")),
            };
        }
    }
    Ok((version, qos))
}
