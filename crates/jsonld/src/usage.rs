//! Which tenants' requests named which remote @contexts: the listing of Cached @contexts a
//! tenant sees holds only the URLs its own requests used, so one tenant does not learn the
//! URLs (query strings included) another tenant's clients fetch.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use serde_json::Value;

/// URLs remembered per tenant at most; beyond it new ones are not remembered (and not
/// listed to that tenant), so a client cannot grow this without bound.
const MAX_URLS_PER_TENANT: usize = 4096;

/// The remote @context URLs each tenant's requests named (the default tenant as `None`).
#[derive(Default)]
pub(crate) struct TenantUsage {
    by_tenant: RwLock<HashMap<Option<String>, HashSet<String>>>,
}

impl TenantUsage {
    /// Notes the URLs a request's user @context names (a URL, or the URLs of an array).
    pub fn note(&self, tenant: Option<&str>, user: Option<&Value>) {
        let urls: Vec<&str> = match user {
            Some(Value::String(url)) => vec![url.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => return,
        };
        if urls.is_empty() {
            return;
        }
        let key = tenant.map(str::to_owned);
        let known = {
            let read = self.by_tenant.read().unwrap_or_else(|p| p.into_inner());
            read.get(&key)
                .is_some_and(|seen| urls.iter().all(|u| seen.contains(*u)))
        };
        if known {
            return;
        }
        let mut write = self.by_tenant.write().unwrap_or_else(|p| p.into_inner());
        let seen = write.entry(key).or_default();
        for url in urls {
            if seen.len() < MAX_URLS_PER_TENANT {
                seen.insert(url.to_owned());
            }
        }
    }

    /// Whether the tenant's requests named `url`.
    pub fn used(&self, tenant: Option<&str>, url: &str) -> bool {
        let read = self.by_tenant.read().unwrap_or_else(|p| p.into_inner());
        read.get(&tenant.map(str::to_owned))
            .is_some_and(|seen| seen.contains(url))
    }
}
