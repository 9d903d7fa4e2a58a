//! The broker part of an `mqtt[s]://[user[:password]@]host[:port][/path]` URI: what MQTT
//! notification endpoints and ingestion rules both name.

/// The default ports of MQTT (1883) and MQTT over TLS (8883).
pub const DEFAULT_PORT: u16 = 1883;
pub const DEFAULT_TLS_PORT: u16 = 8883;

/// The broker an `mqtt[s]://` URI names. No `Debug`: it holds a password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MqttAuthority {
    pub tls: bool,
    /// As written (an IPv6 literal keeps its brackets).
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Reads the scheme (case-insensitive), credentials (percent-decoded), host and port of
/// `uri`, and returns them with what follows the authority: the path after its `/`, if the
/// URI has one. Query strings and fragments are refused.
pub fn parse_mqtt_uri(uri: &str) -> Result<(MqttAuthority, Option<&str>), String> {
    let (tls, rest) = if let Some(rest) = strip_scheme(uri, "mqtts://") {
        (true, rest)
    } else if let Some(rest) = strip_scheme(uri, "mqtt://") {
        (false, rest)
    } else {
        return Err("the URI scheme is not mqtt or mqtts".into());
    };
    if rest.contains(['?', '#']) {
        return Err("an MQTT URI has no query or fragment".into());
    }
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (rest, None),
    };
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
    let authority = MqttAuthority {
        tls,
        host: host.to_owned(),
        port,
        username,
        password,
    };
    Ok((authority, path))
}

fn strip_scheme<'a>(uri: &'a str, scheme: &str) -> Option<&'a str> {
    let head = uri.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &uri[scheme.len()..])
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn split_host_port(hostport: &str, tls: bool) -> Result<(&str, u16), String> {
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
                .ok_or("the port is not a number from 1 to 65535")?;
            (&hostport[..i], port)
        }
        None if tls => (hostport, DEFAULT_TLS_PORT),
        None => (hostport, DEFAULT_PORT),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URI names no usable host".into());
    }
    Ok((host, port))
}

/// Decodes `%XX` escapes.
pub fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("the URI has a malformed percent-escape")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URI decodes to text that is not UTF-8".into())
}
