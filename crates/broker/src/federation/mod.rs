//! Distributed operations (clause 4.3.6): which registrations a request goes to, the call to
//! each, and the merge of what comes back.
//!
//! A read (Retrieve Entity, 5.7.1.4) is answered from the local store together with every
//! matching registration that offers the operation (or its fallback), whatever its mode;
//! auxiliary sources only fill gaps. Sources are called at once, each within its
//! registration's `management.timeout` (else the broker's), and a source that fails never
//! fails the read: it becomes a warning (6.3.17).
//!
//! Loops (4.3.6.4, 6.3.18): every forwarded request carries the incoming `Via` plus this
//! broker's alias and the tenant it reads. A registration whose alias and tenant are in the
//! incoming `Via` does not match, and a request whose `Via` already names this broker for the
//! same tenant has come back: it is answered from local data only, with a 199 warning.

mod batch;
mod cache;
mod discovery;
mod entity_map;
mod merge;
mod purge;
mod query;
mod retrieve;
pub mod source;
mod temporal;
mod temporal_query;
#[cfg(test)]
mod tests;
mod write;

use std::sync::Arc;
use std::time::Duration;

use rigel_model::registration::Registration;
use rigel_model::{Tenant, TermMap};
use rigel_query::registration::Wanted;

pub use batch::{BatchEntry, BatchPart, ForwardedBatch};
pub(crate) use cache::SourceCache;
pub(crate) use entity_map::EntityMaps;
pub use entity_map::{EntityMap, MAX_MAPS};
pub use merge::merge_into;
pub use purge::PurgePart;
pub use query::{ClientQuery, MAX_FROM_SOURCE};
pub use source::{
    BatchAnswer, BatchKind, ContextSources, Discovered, RetrieveBy, SourceBatch, SourceCall,
    SourceDiscovery, SourceError, SourcePurge, SourceQuery, SourceRetrieve, SourceTemporal,
    SourceTemporalQuery, SourceWrite, WriteKind,
};
pub use write::{AttributeWrite, Forwarded, PartFailure, WritePart};

use crate::Broker;

/// One hop of a `Via` header: who passed the request on, for which tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub alias: String,
    /// `None`: the default tenant.
    pub tenant: Option<String>,
}

/// The comment of a hop naming its tenant: `1.1 alias (NGSILD-Tenant: city)`.
const TENANT_COMMENT: &str = "NGSILD-Tenant:";

impl Hop {
    /// The hops of a `Via` value (RFC 7230: `protocol received-by [(comment)]`, comma
    /// separated); a hop whose comment names no tenant is of the default tenant.
    pub fn parse_all(via: &str) -> Vec<Hop> {
        via.split(',')
            .filter_map(|entry| {
                let entry = entry.trim();
                let (head, comment) = match entry.find('(') {
                    Some(at) => (&entry[..at], Some(entry[at + 1..].trim_end_matches(')'))),
                    None => (entry, None),
                };
                let alias = head.split_whitespace().nth(1)?.to_owned();
                let tenant = comment
                    .and_then(|c| c.trim().strip_prefix(TENANT_COMMENT))
                    .map(|t| t.trim().to_owned());
                Some(Hop { alias, tenant })
            })
            .collect()
    }

    /// This hop as a `Via` entry.
    pub fn render(&self) -> String {
        match &self.tenant {
            Some(tenant) => format!("1.1 {} ({TENANT_COMMENT} {tenant})", self.alias),
            None => format!("1.1 {}", self.alias),
        }
    }
}

/// How a request may be distributed, as the client sent it.
pub struct Distribution {
    /// `local=true` (5.5.13): no registration matches.
    pub local: bool,
    /// The incoming `Via` as sent (passed on with this broker added).
    pub via_header: Option<String>,
    /// The incoming `Via`, parsed.
    pub via: Vec<Hop>,
    /// The client's @context.
    pub terms: Arc<dyn TermMap + Send + Sync>,
    /// Its URL for forwarded requests; `None`: the core @context.
    pub link: Option<String>,
}

/// A source that gave no usable answer, for the `NGSILD-Warning` header (6.3.17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceWarning {
    pub code: u16,
    pub registration: String,
    pub endpoint: String,
    pub text: String,
}

/// A distributed read's answer and what went wrong on the way.
#[derive(Debug)]
pub struct Distributed<T> {
    pub value: T,
    pub warnings: Vec<SourceWarning>,
}

/// The federation setup of a broker: how to call sources, and who this broker is.
#[derive(Clone)]
pub struct Federation {
    pub sources: Arc<dyn ContextSources>,
    /// This broker's alias (5.2.40), its pseudonym in `Via`.
    pub alias: String,
    /// Timeout of a call whose registration sets none.
    pub timeout: Duration,
}

impl Broker {
    /// The broker calling context sources through `federation`.
    pub fn with_federation(mut self, federation: Federation) -> Self {
        self.federation = Some(federation);
        self
    }

    /// The federation and the registrations a request may go to; `None` when it stays local:
    /// no federation set up, `local=true`, or a request that came back (then with a 199
    /// warning).
    pub(crate) fn distributing(
        &self,
        tenant: &Tenant,
        distribution: &Distribution,
        warnings: &mut Vec<SourceWarning>,
    ) -> Option<(&Federation, &crate::Registry)> {
        let federation = self.federation.as_ref()?;
        let registry = self.registrations.as_deref()?;
        if distribution.local {
            return None;
        }
        if came_back(&federation.alias, tenant, &distribution.via) {
            warnings.push(came_back_warning());
            return None;
        }
        Some((federation, registry))
    }

    /// Refuses a write that came back to this broker: it was done here when it first
    /// passed, and doing it again (or passing it on again) is a loop (6.3.17: 508).
    pub(crate) fn refuse_loop(
        &self,
        tenant: &Tenant,
        distribution: &Distribution,
    ) -> Result<(), crate::BrokerError> {
        match &self.federation {
            Some(federation)
                if !distribution.local
                    && came_back(&federation.alias, tenant, &distribution.via) =>
            {
                Err(crate::BrokerError::LoopDetected(
                    Hop {
                        alias: federation.alias.clone(),
                        tenant: tenant.name().map(str::to_owned),
                    }
                    .render(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether a request may go to context sources at all: a federation, registrations in
    /// the tenant and no `local=true`. A cheap test before a write describes its parts.
    pub fn may_distribute(&self, tenant: &Tenant, distribution: &Distribution) -> bool {
        self.federation.is_some()
            && !distribution.local
            && self.registrations.as_deref().is_some_and(|r| r.any(tenant))
    }

    /// Counts a forwarded request on its registration.
    pub(crate) fn record_forward(
        &self,
        tenant: &Tenant,
        reg: &Registration,
        ok: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        if let Some(registry) = self.registrations.as_deref() {
            registry.record(tenant, &reg.id, ok, at);
        }
    }

    /// The `Via` of forwarded requests: the incoming one and this broker, for this tenant.
    pub(crate) fn via_out(
        &self,
        tenant: &Tenant,
        distribution: &Distribution,
        federation: &Federation,
    ) -> String {
        let own = Hop {
            alias: federation.alias.clone(),
            tenant: tenant.name().map(str::to_owned),
        }
        .render();
        match &distribution.via_header {
            Some(incoming) if !incoming.trim().is_empty() => format!("{incoming}, {own}"),
            _ => own,
        }
    }
}

/// Who this broker is as a context source (5.2.40), for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIdentity {
    /// `urn:ngsi-ld:ContextSource:<alias>`, with `:<tenant>` for a named tenant.
    pub id: String,
    /// The broker's pseudonym in `Via`; with the tenant it names a tenant of this broker.
    pub alias: String,
    pub up_since: chrono::DateTime<chrono::Utc>,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Broker {
    /// Retrieve Context Source Identity Information (5.15.1); `None` when the broker has no
    /// federation set up, so no alias.
    pub fn source_identity(&self, tenant: &Tenant) -> Option<SourceIdentity> {
        let alias = self.federation.as_ref()?.alias.clone();
        let id = match tenant.name() {
            Some(name) => format!("urn:ngsi-ld:ContextSource:{alias}:{name}"),
            None => format!("urn:ngsi-ld:ContextSource:{alias}"),
        };
        Some(SourceIdentity {
            id,
            alias,
            up_since: self.started_at,
            now: self.now(),
        })
    }
}

/// The call to a registration's source: its timeout (the registration's, else the
/// broker's), the `Via` and the client's @context.
pub(crate) fn call_to<'a>(
    reg: &'a Registration,
    via: &'a str,
    distribution: &'a Distribution,
    federation: &Federation,
) -> SourceCall<'a> {
    let timeout = reg
        .management
        .as_ref()
        .and_then(|m| m.timeout)
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .map_or(federation.timeout, |ms| {
            Duration::from_secs_f64(ms / 1000.0)
        });
    SourceCall {
        registration: reg,
        via,
        terms: distribution.terms.as_ref(),
        link: distribution.link.as_deref(),
        timeout,
    }
}

/// The attributes to ask a registration's source for: those the matching elements
/// register that the request asks for, or what the request asks when an element registers
/// whole entities (empty: every attribute).
pub(crate) fn registered_attributes(reg: &Registration, wanted: &Wanted<'_>) -> Vec<String> {
    let matching: Vec<_> = reg
        .information
        .iter()
        .filter(|info| wanted.matches_info(info))
        .collect();
    let whole = matching
        .iter()
        .any(|info| info.property_names.is_none() && info.relationship_names.is_none());
    if whole {
        return wanted.attributes.to_vec();
    }
    let mut attributes: Vec<String> = Vec::new();
    for name in matching.iter().flat_map(|i| {
        i.property_names
            .iter()
            .chain(&i.relationship_names)
            .flatten()
    }) {
        let asked = wanted.attributes.is_empty() || wanted.attributes.contains(name);
        if asked && !attributes.contains(name) {
            attributes.push(name.clone());
        }
    }
    attributes
}

/// The entity types the matching elements of a registration register.
pub(crate) fn registered_types(reg: &Registration, wanted: &[&Wanted<'_>]) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for t in reg
        .information
        .iter()
        .filter(|info| wanted.iter().any(|w| w.matches_info(info)))
        .flat_map(|i| i.entities.iter().flatten())
        .flat_map(|e| e.types.iter())
    {
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    types
}

/// The part of a source's answer a registration covers (4.3.6.1): nothing when the entity
/// has none of the registered `types` (a registration for Bins does not answer for a Car of
/// the same id), else only the registered `attributes` (empty: all).
pub(crate) fn within(
    mut entity: rigel_model::Entity,
    types: &[String],
    attributes: &[String],
) -> Option<rigel_model::Entity> {
    if !types.is_empty() && !entity.types.iter().any(|t| types.contains(t)) {
        return None;
    }
    if !attributes.is_empty() {
        entity
            .attributes
            .retain(|name, _| attributes.contains(name));
    }
    Some(entity)
}

/// Whether the request already passed through the registration's source and tenant.
pub(crate) fn passed_through(reg: &Registration, via: &[Hop]) -> bool {
    reg.context_source_alias.as_ref().is_some_and(|alias| {
        via.iter()
            .any(|h| &h.alias == alias && h.tenant == reg.tenant)
    })
}

/// Whether this broker (with this tenant) is already in the `Via` of the request.
fn came_back(alias: &str, tenant: &Tenant, via: &[Hop]) -> bool {
    via.iter()
        .any(|h| h.alias == alias && h.tenant.as_deref() == tenant.name())
}

/// Whether the registration's source failed less than its `management.cooldown` ago: it
/// is not called (6.3.17) and the answer says so (199).
pub(crate) fn cooling_down(
    reg: &Registration,
    now: chrono::DateTime<chrono::Utc>,
    warnings: &mut Vec<SourceWarning>,
) -> bool {
    let Some(cooldown) = reg
        .management
        .as_ref()
        .and_then(|m| m.cooldown)
        .filter(|ms| ms.is_finite() && *ms > 0.0)
    else {
        return false;
    };
    let failed_last = match (reg.status.last_failure, reg.status.last_success) {
        (Some(failure), Some(success)) => failure >= success,
        (Some(_), None) => true,
        _ => false,
    };
    let cooling = failed_last
        && reg
            .status
            .last_failure
            .is_some_and(|at| (now - at).num_milliseconds() < cooldown as i64);
    if cooling {
        warnings.push(warning(
            reg,
            &SourceError::Refused(format!("cooling down for {cooldown} ms after a failure")),
        ));
    }
    cooling
}

/// The warning of a request answered from local data because it came back (6.3.17: 199).
fn came_back_warning() -> SourceWarning {
    SourceWarning {
        code: 199,
        registration: String::new(),
        endpoint: String::new(),
        text: "the request came back to this broker (Via): answered from local data".to_owned(),
    }
}

pub(crate) fn warning(reg: &Registration, e: &SourceError) -> SourceWarning {
    SourceWarning {
        code: e.warning_code(),
        registration: reg.id.clone(),
        endpoint: reg.endpoint.clone(),
        text: e.to_string(),
    }
}
