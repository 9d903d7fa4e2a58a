//! The MQTT broker a rule reads from: `mqtt[s]://[user[:password]@]host[:port]`, and the
//! protocol version.

/// The MQTT protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V311,
    V5,
}

/// A parsed broker address and protocol version. Its `Debug` leaves the password out (see
/// [`BrokerUrl::redacted`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BrokerUrl {
    pub authority: rigel_egress::mqtt::MqttAuthority,
    pub version: Version,
}

impl std::fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl BrokerUrl {
    pub fn parse(url: &str, version: Option<&str>) -> Result<Self, String> {
        let (authority, path) = rigel_egress::mqtt::parse_mqtt_uri(url)
            .map_err(|e| format!("broker {}: {e}", redact(url)))?;
        if path.is_some_and(|p| !p.is_empty()) {
            return Err("a broker URL names only the broker: no path, query or fragment".into());
        }
        let version = match version {
            None | Some("5" | "5.0") => Version::V5,
            Some("3.1.1") => Version::V311,
            Some(other) => return Err(format!("MQTT version {other:?} is not \"5\" or \"3.1.1\"")),
        };
        Ok(Self { authority, version })
    }

    /// The URL without its password, for logs and answers.
    pub fn redacted(&self) -> String {
        let a = &self.authority;
        let scheme = if a.tls { "mqtts" } else { "mqtt" };
        match &a.username {
            Some(user) => format!("{scheme}://{user}@{}:{}", a.host, a.port),
            None => format!("{scheme}://{}:{}", a.host, a.port),
        }
    }

    /// The host without IPv6 brackets, to connect to.
    pub fn bare_host(&self) -> &str {
        let host = &self.authority.host;
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }
}

/// A URL with any password replaced, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_credentials_and_version() {
        let u = BrokerUrl::parse("mqtt://dev:s%40cret@broker.city:1884", Some("3.1.1")).unwrap();
        let a = &u.authority;
        assert_eq!(
            (a.host.as_str(), a.port, a.tls),
            ("broker.city", 1884, false)
        );
        assert_eq!(a.username.as_deref(), Some("dev"));
        assert_eq!(a.password.as_deref(), Some("s@cret"));
        assert_eq!(u.version, Version::V311);
        assert_eq!(u.redacted(), "mqtt://dev@broker.city:1884");
        let t = BrokerUrl::parse("mqtts://[::1]", None).unwrap();
        assert_eq!(
            (t.bare_host(), t.authority.port, t.version),
            ("::1", 8883, Version::V5)
        );
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_password() {
        let err = BrokerUrl::parse("http://u:pw@h", None).unwrap_err();
        assert!(!err.contains("pw"), "{err}");
        for bad in ["mqtt://", "mqtt://h:0", "mqtt://h/topic", "mqtt://h:x"] {
            assert!(BrokerUrl::parse(bad, None).is_err(), "{bad}");
        }
        assert!(BrokerUrl::parse("mqtt://h", Some("4")).is_err());
    }
}
