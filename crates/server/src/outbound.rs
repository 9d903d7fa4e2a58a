//! The outbound policy from the configuration (docs/security.md): where the broker may
//! connect for @contexts, notifications and context sources.

use rigel_egress::{Allowance, EgressPolicy};

/// Options of the egress policy.
#[derive(Debug, Clone, clap::Args)]
pub struct EgressOptions {
    /// Let the broker call loopback and private addresses (127.0.0.0/8, ::1, 10.0.0.0/8,
    /// 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7) anywhere; link-local and
    /// cloud metadata addresses stay refused.
    #[arg(long, env = "RIGEL_EGRESS_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub egress_allow_private: bool,

    /// Networks, addresses and host names the broker may call even when they are loopback
    /// or private (repeat, or separate with spaces or commas): `127.0.0.0/8`, `::1`,
    /// `receiver.internal`, `*.city.lan`.
    #[arg(long, env = "RIGEL_EGRESS_ALLOW", value_delimiter = ',')]
    pub egress_allow: Vec<String>,
}

impl EgressOptions {
    /// The policy; an error names the entry that is not a network, address or name.
    pub fn policy(&self) -> Result<EgressPolicy, String> {
        let allow = self
            .egress_allow
            .iter()
            .flat_map(|entry| entry.split_whitespace())
            .map(|entry| entry.parse::<Allowance>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EgressPolicy {
            allow_private: self.egress_allow_private,
            allow,
        })
    }
}
