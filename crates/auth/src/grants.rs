//! Rights per tenant: which roles (values of a configurable claim) may read, write, subscribe
//! or administer which tenants, written `ROLE=RIGHTS@TENANT`.

use serde_json::Value;

/// What a call may do to a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    /// Retrieve, query, temporal retrieval, discovery, served @contexts.
    Read,
    /// Create, update and delete entities and their history, batch operations.
    Write,
    /// Create, change and delete subscriptions (entity and registration subscriptions).
    Subscribe,
    /// Purge, @context management, context source registrations, statistics.
    Admin,
}

impl Right {
    pub const ALL: [Right; 4] = [Right::Read, Right::Write, Right::Subscribe, Right::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Right::Read => "read",
            Right::Write => "write",
            Right::Subscribe => "subscribe",
            Right::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Right::Read => 1,
            Right::Write => 2,
            Right::Subscribe => 4,
            Right::Admin => 8,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A set of rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rights(u8);

impl Rights {
    pub const NONE: Rights = Rights(0);
    pub const ALL: Rights = Rights(15);

    pub fn has(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    pub fn with(self, right: Right) -> Self {
        Rights(self.0 | right.bit())
    }

    fn union(self, other: Rights) -> Self {
        Rights(self.0 | other.0)
    }
}

/// Which tenants a grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantPattern {
    /// Every tenant, the default one included (`*`).
    Any,
    /// The default tenant (no tenant header; written as nothing after `@`).
    Default,
    /// One named tenant.
    Named(String),
    /// The named tenants starting with a prefix (`city-*`).
    Prefix(String),
}

impl TenantPattern {
    /// Whether the pattern covers a tenant (`None`: the default tenant).
    pub fn covers(&self, tenant: Option<&str>) -> bool {
        match (self, tenant) {
            (TenantPattern::Any, _) => true,
            (TenantPattern::Default, None) => true,
            (TenantPattern::Named(n), Some(t)) => n == t,
            (TenantPattern::Prefix(p), Some(t)) => t.starts_with(p.as_str()),
            _ => false,
        }
    }
}

/// One grant: a role's rights over some tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: String,
    pub rights: Rights,
    pub tenants: TenantPattern,
}

/// Why a grant cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grant {text:?}: {reason} (expected ROLE=RIGHTS@TENANT, e.g. operator=read,write@city or auditor=read@*)")]
pub struct GrantError {
    pub text: String,
    pub reason: String,
}

impl std::str::FromStr for Grant {
    type Err = GrantError;

    /// `ROLE=RIGHTS@TENANT`: RIGHTS is a comma list of read, write, subscribe and admin (or
    /// `all`); TENANT is a tenant name, `*` for every tenant, a prefix ending in `*`, or
    /// nothing for the default tenant.
    fn from_str(text: &str) -> Result<Self, GrantError> {
        let fail = |reason: &str| GrantError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (role, rest) = text.split_once('=').ok_or_else(|| fail("no `=`"))?;
        let (rights_text, tenant) = rest.rsplit_once('@').ok_or_else(|| fail("no `@`"))?;
        if role.is_empty() {
            return Err(fail("the role is empty"));
        }
        let mut rights = Rights::NONE;
        for name in rights_text.split(',').map(str::trim) {
            rights = match name {
                "all" => Rights::ALL,
                _ => rights.with(
                    Right::parse(name).ok_or_else(|| fail(&format!("unknown right {name:?}")))?,
                ),
            };
        }
        let tenants = match tenant {
            "" => TenantPattern::Default,
            "*" => TenantPattern::Any,
            t => match t.strip_suffix('*') {
                Some(prefix) if !prefix.contains('*') => TenantPattern::Prefix(prefix.to_owned()),
                Some(_) => return Err(fail("`*` may only end the tenant")),
                None if t.contains('*') => return Err(fail("`*` may only end the tenant")),
                None => TenantPattern::Named(t.to_owned()),
            },
        };
        Ok(Grant {
            role: role.to_owned(),
            rights,
            tenants,
        })
    }
}

/// Every grant, and where the roles are in a token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// A claim name, or a dotted path into nested claims (`realm_access.roles`).
    pub claim: String,
    pub grants: Vec<Grant>,
}

impl Grants {
    /// The roles a token's claims carry: the claim's strings (an array of strings, or one
    /// string of space-separated values as OAuth's `scope`). A claim named with dots is
    /// first looked up whole (namespaced claims are URLs), then as a path.
    pub fn roles(&self, claims: &Value) -> Vec<String> {
        let found = claims.get(&self.claim).or_else(|| {
            self.claim
                .split('.')
                .try_fold(claims, |value, step| value.get(step))
        });
        match found {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    /// The rights roles hold over a tenant (`None`: the default tenant).
    pub fn rights(&self, roles: &[String], tenant: Option<&str>) -> Rights {
        self.grants
            .iter()
            .filter(|g| g.tenants.covers(tenant) && roles.contains(&g.role))
            .fold(Rights::NONE, |acc, g| acc.union(g.rights))
    }
}
