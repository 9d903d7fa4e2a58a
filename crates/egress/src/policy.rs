//! Where the broker may connect: address ranges always refused (link-local, cloud metadata,
//! unspecified, multicast), ranges refused unless allowed (loopback, private), and the
//! operator's allow-list of networks and host names. Names are checked by the addresses
//! they resolve to, in the resolver the connections use, so DNS rebinding does not get past.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// One entry of the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowance {
    /// A network (`10.20.0.0/16`) or one address (`127.0.0.1`, `::1`).
    Net(IpNet),
    /// A host name (`receiver.internal`), or every name under a domain (`*.internal`).
    Host(String),
}

impl std::str::FromStr for Allowance {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Self::Net(net));
        }
        if let Ok(ip) = text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Self::Net(IpNet::from(ip)));
        }
        let name = text.strip_prefix("*.").unwrap_or(text);
        let valid = !name.is_empty()
            && name
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !valid {
            return Err(format!(
                "{text:?} is neither a network (10.0.0.0/8), an address, a host name nor *.domain"
            ));
        }
        Ok(Self::Host(text.to_ascii_lowercase()))
    }
}

/// The egress policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Whether loopback and private addresses are allowed everywhere.
    pub allow_private: bool,
    /// Networks and host names allowed even when private or loopback.
    pub allow: Vec<Allowance>,
}

/// Why an address is refused: the rule, as operators read it in an error.
pub type Rule = &'static str;

impl EgressPolicy {
    /// A policy that allows loopback and private addresses (the ranges always refused stay
    /// refused): tests, and addresses an operator configured.
    pub fn trusting() -> Self {
        Self {
            allow_private: true,
            allow: Vec::new(),
        }
    }

    /// Whether a host name is on the allow-list.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow.iter().any(|a| match a {
            Allowance::Host(name) => match name.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => *name == host,
            },
            Allowance::Net(_) => false,
        })
    }

    /// The rule refusing a connection to `ip` (reached by a name on the allow-list when
    /// `host_allowed`), or `None`.
    pub fn refusal(&self, ip: IpAddr, host_allowed: bool) -> Option<Rule> {
        let ip = canonical(ip);
        if let Some(rule) = always_refused(ip) {
            return Some(rule);
        }
        let rule = private_rule(ip)?;
        let listed = self
            .allow
            .iter()
            .any(|a| matches!(a, Allowance::Net(net) if net.contains(&ip)));
        if self.allow_private || host_allowed || listed {
            None
        } else {
            Some(rule)
        }
    }

    /// Keeps the resolved addresses of `host` the policy allows; the rule of the first refused
    /// one when none is left.
    pub fn filter(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refusal> {
        let host_allowed = self.host_allowed(host);
        let mut refused = None;
        let kept: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match self.refusal(a.ip(), host_allowed) {
                None => true,
                Some(rule) => {
                    refused.get_or_insert((a.ip(), rule));
                    false
                }
            })
            .collect();
        match (kept.is_empty(), refused) {
            (true, Some((ip, rule))) => Err(Refusal {
                host: host.to_owned(),
                ip,
                rule,
            }),
            _ => Ok(kept),
        }
    }
}

/// A name that resolved only to refused addresses.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host}: it resolves to {ip}, a {rule} address")]
pub struct Refusal {
    pub host: String,
    pub ip: IpAddr,
    pub rule: Rule,
}

/// IPv4 mapped into IPv6 is checked as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Ranges no allow-list opens: link-local (cloud metadata answers at 169.254.169.254 and
/// fd00:ec2::254), other providers' metadata addresses, the unspecified address (which
/// reaches the host itself), multicast and broadcast.
fn always_refused(ip: IpAddr) -> Option<Rule> {
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_link_local() {
                Some("link-local")
            } else if v4 == Ipv4Addr::new(100, 100, 100, 200) {
                Some("cloud metadata")
            } else if v4.octets()[0] == 0 {
                Some("unspecified")
            } else if v4.is_multicast() || v4.is_broadcast() || v4.octets()[0] >= 240 {
                Some("multicast or reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if s[0] == 0xfd00 && s[1] == 0x0ec2 {
                Some("cloud metadata")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast or reserved")
            } else {
                None
            }
        }
    }
}

/// Loopback and private ranges (refused unless allowed).
fn private_rule(ip: IpAddr) -> Option<Rule> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                // RFC 1918, and the carrier-grade NAT range.
                Some("private")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if v6 == Ipv6Addr::LOCALHOST {
                Some("loopback")
            } else if (v6.segments()[0] & 0xfe00) == 0xfc00 {
                Some("private")
            } else {
                None
            }
        }
    }
}

/// The resolver of the broker's outbound HTTP connections: the system's name lookup, then
/// the policy on every address, so a connection only ever goes to an address checked.
pub(crate) struct PolicyResolver(pub Arc<EgressPolicy>);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = policy.filter(&host, addrs)?;
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_range_is_refused_by_its_rule_and_the_allow_list_opens_only_private_ones() {
        let strict = EgressPolicy::default();
        for (addr, rule) in [
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("::ffff:169.254.169.254", "link-local"),
            ("fd00:ec2::254", "cloud metadata"),
            ("100.100.100.200", "cloud metadata"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast or reserved"),
            ("255.255.255.255", "multicast or reserved"),
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("fd12::1", "private"),
        ] {
            assert_eq!(strict.refusal(ip(addr), false), Some(rule), "{addr}");
        }
        for public in ["8.8.8.8", "2001:4860::8888", "172.32.0.1", "100.128.0.1"] {
            assert_eq!(strict.refusal(ip(public), false), None, "{public}");
        }
        let listed = EgressPolicy {
            allow_private: false,
            allow: vec!["127.0.0.0/8".parse().unwrap(), "10.0.0.7".parse().unwrap()],
        };
        assert_eq!(listed.refusal(ip("127.0.0.2"), false), None);
        assert_eq!(listed.refusal(ip("10.0.0.7"), false), None);
        assert_eq!(listed.refusal(ip("10.0.0.8"), false), Some("private"));
        let open = EgressPolicy::trusting();
        assert_eq!(open.refusal(ip("192.168.1.1"), false), None);
        // Nothing opens the ranges always refused.
        let everything = EgressPolicy {
            allow_private: true,
            allow: vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
        };
        for addr in ["169.254.169.254", "fe80::1", "0.0.0.0", "fd00:ec2::254"] {
            assert!(everything.refusal(ip(addr), true).is_some(), "{addr}");
        }
    }

    #[test]
    fn allowed_names_reach_private_addresses_and_others_do_not() {
        let policy = EgressPolicy {
            allow_private: false,
            allow: vec![
                "receiver.internal".parse().unwrap(),
                "*.city.lan".parse().unwrap(),
            ],
        };
        assert!(policy.host_allowed("receiver.internal"));
        assert!(policy.host_allowed("Lights.City.LAN."));
        assert!(!policy.host_allowed("city.lan"));
        assert!(!policy.host_allowed("evil-receiver.internal"));
        let private = vec![SocketAddr::new(ip("10.0.0.5"), 80)];
        assert!(policy.filter("receiver.internal", private.clone()).is_ok());
        let refused = policy.filter("rebinding.example", private).unwrap_err();
        assert_eq!(refused.rule, "private");
        let mixed = vec![
            SocketAddr::new(ip("169.254.169.254"), 80),
            SocketAddr::new(ip("93.184.216.34"), 80),
        ];
        assert_eq!(policy.filter("mixed.example", mixed).unwrap().len(), 1);
        for bad in ["", "a b", "http://x", "*.", "x..y"] {
            assert!(bad.parse::<Allowance>().is_err(), "{bad}");
        }
    }
}
