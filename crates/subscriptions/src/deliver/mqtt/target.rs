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

const DEFAULT_PORT: u16 = 1883;
const DEFAULT_TLS_PORT: u16 = 8883;

impl Target {
    /// Reads `mqtt[s]://[<username>][:<password>]@<host>[:<port>]/<topic>[/<subtopic>]*` and
    /// the notifierInfo; defaults are MQTT 5.0 (Table 7.2-1) and QoS 0.
    pub fn parse(endpoint: &Endpoint) -> Result<Self, DeliveryError> {
        let uri = endpoint.uri.as_str();
        let (tls, rest) = if let Some(rest) = strip_scheme(uri, "mqtts://") {
            (true, rest)
        } else if let Some(rest) = strip_scheme(uri, "mqtt://") {
            (false, rest)
        } else {
            return Err(bad("the URI scheme is not mqtt or mqtts"));
        };
        if rest.contains(['?', '#']) {
            return Err(bad("an MQTT endpoint URI has no query or fragment"));
        }
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("the URI names no topic"))?;
        let topic = percent_decode(path)?;
        check_topic(&topic)?;

        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(userinfo) => {
                let (user, pass) = match userinfo.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (userinfo, None),
                };
                let user = non_empty(percent_decode(user)?);
                let pass = pass.map(percent_decode).transpose()?.and_then(non_empty);
                (user, pass)
            }
        };
        let (host, port) = split_host_port(hostport, tls)?;
        let (version, qos) = notifier_info(&endpoint.notifier_info)?;
        Ok(Self {
            broker: BrokerKey {
                tls,
                host: host.to_owned(),
                port,
                username,
                password,
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

fn strip_scheme<'a>(uri: &'a str, scheme: &str) -> Option<&'a str> {
    let head = uri.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &uri[scheme.len()..])
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn split_host_port(hostport: &str, tls: bool) -> Result<(&str, u16), DeliveryError> {
    // An IPv6 literal is bracketed; its colons are not the port separator.
    let port_sep = match hostport.rfind(']') {
        Some(end) => hostport[end..].find(':').map(|i| end + i),
        None => hostport.rfind(':'),
    };
    let (host, port) = match port_sep {
        Some(i) => {
            let port = hostport[i + 1..]
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
            (&hostport[..i], port)
        }
        None if tls => (hostport, DEFAULT_TLS_PORT),
        None => (hostport, DEFAULT_PORT),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("the URI names no usable host"));
    }
    Ok((host, port))
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

fn percent_decode(s: &str) -> Result<String, DeliveryError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("the URI has a malformed percent-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("the URI decodes to text that is not UTF-8"))
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
