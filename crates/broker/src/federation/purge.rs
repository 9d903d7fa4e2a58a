//! Purge Entities, distributed (clause 5.6.21.4): every inclusive, exclusive or redirect
//! registration matching the purge's filter whose source offers `purgeEntity` gets the
//! client's filter, restricted to the entities and attributes it registers: a registration
//! for some attributes only has those attributes deleted at its source (`drop`), never the
//! whole entities. An exclusive or redirect registration whose source does not offer the
//! operation is a Conflict; an inclusive one is skipped.

use rigel_model::registration::operations::Operation;
use rigel_model::registration::{Mode, Registration};
use rigel_model::Tenant;
use rigel_query::registration::Wanted;
use rigel_query::EntityQuery;

use super::query::{registered_ids, wanted_by, with_q_attributes};
use super::{
    call_to, cooling_down, passed_through, Distribution, PartFailure, SourceError, SourcePurge,
};
use crate::query::Purge;
use crate::Broker;

/// How one registration's source took its part of a purge.
#[derive(Debug)]
pub struct PurgePart {
    pub registration: String,
    /// The entity ids the registration names (empty: it names none).
    pub ids: Vec<String>,
    pub outcome: Result<(), PartFailure>,
}

/// What a registration's source is asked to delete.
struct PurgeTarget {
    registration: Registration,
    ids: Vec<String>,
    drop: Vec<String>,
    keep: Vec<String>,
}

impl Broker {
    /// Passes a purge on to the sources registrations name (`extra`: parameters passed on
    /// as written); `None` when no registration matches.
    pub async fn forward_purge(
        &self,
        tenant: &Tenant,
        query: &EntityQuery,
        purge: &Purge,
        extra: &[(String, String)],
        distribution: &Distribution,
    ) -> Result<Option<Vec<PurgePart>>, crate::BrokerError> {
        self.refuse_loop(tenant, distribution)?;
        if query.has_linked_terms() {
            return Ok(None);
        }
        let Some((federation, registry)) = self.distributing(tenant, distribution, &mut Vec::new())
        else {
            return Ok(None);
        };
        let dropped = match purge {
            Purge::Drop(names) => names.clone(),
            _ => Vec::new(),
        };
        let attributes = with_q_attributes(dropped, query);
        let wanted = wanted_by(query, &attributes);
        let now = self.now();
        let matching = registry.matching(tenant, now, |reg| {
            reg.mode() != Mode::Auxiliary
                && !passed_through(reg, &distribution.via)
                && wanted.iter().any(|w| w.matches(reg))
        });
        if matching.is_empty() {
            return Ok(None);
        }
        let client_ids = query.selectors.iter().any(|s| s.ids.is_some());
        let mut parts = Vec::new();
        let mut targets = Vec::new();
        let mut ignored = Vec::new();
        for reg in matching {
            let ids = registered_ids(&reg, &wanted);
            let Some((drop, keep)) = restriction(&reg, &wanted, purge) else {
                continue;
            };
            let owner = matches!(reg.mode(), Mode::Exclusive | Mode::Redirect);
            let failure = if !reg.operation_set().contains(&Operation::PurgeEntity) {
                owner.then_some(PartFailure::Unsupported)
            } else if cooling_down(&reg, now, &mut ignored) {
                Some(PartFailure::Source(SourceError::Refused(
                    "cooling down after a failure".to_owned(),
                )))
            } else {
                targets.push(PurgeTarget {
                    ids: if client_ids { Vec::new() } else { ids },
                    registration: reg,
                    drop,
                    keep,
                });
                continue;
            };
            if let Some(failure) = failure {
                parts.push(PurgePart {
                    registration: reg.id.clone(),
                    ids,
                    outcome: Err(failure),
                });
            }
        }
        let via = self.via_out(tenant, distribution, federation);
        let answers = futures::future::join_all(targets.iter().map(|target| {
            let call = call_to(&target.registration, &via, distribution, federation);
            let request = SourcePurge {
                query,
                extra,
                ids: &target.ids,
                drop: &target.drop,
                keep: &target.keep,
            };
            let sources = federation.sources.clone();
            async move { sources.purge(&call, &request).await }
        }))
        .await;
        for (target, answer) in targets.into_iter().zip(answers) {
            let reg = &target.registration;
            self.record_forward(tenant, reg, answer.is_ok(), now);
            if let Err(e) = &answer {
                tracing::warn!(registration = %reg.id, endpoint = %reg.endpoint, "context source refused a purge: {e}");
            }
            parts.push(PurgePart {
                registration: reg.id.clone(),
                ids: target.ids,
                outcome: answer.map_err(PartFailure::Source),
            });
        }
        Ok(Some(parts))
    }
}

/// The attributes to delete (`drop`) or keep at a registration's source, so that the purge
/// stays within the attributes it registers; `None` when nothing of it is left.
fn restriction(
    reg: &Registration,
    wanted: &[Wanted<'_>],
    purge: &Purge,
) -> Option<(Vec<String>, Vec<String>)> {
    let infos: Vec<_> = reg
        .information
        .iter()
        .filter(|info| wanted.iter().any(|w| w.matches_info(info)))
        .collect();
    let whole = infos
        .iter()
        .any(|info| info.property_names.is_none() && info.relationship_names.is_none());
    if whole {
        return Some(match purge {
            Purge::Entities => (Vec::new(), Vec::new()),
            Purge::Drop(names) => (names.clone(), Vec::new()),
            Purge::Keep(names) => (Vec::new(), names.clone()),
        });
    }
    let mut held: Vec<String> = Vec::new();
    for name in infos.iter().flat_map(|i| {
        i.property_names
            .iter()
            .chain(&i.relationship_names)
            .flatten()
    }) {
        if !held.contains(name) {
            held.push(name.clone());
        }
    }
    let drop: Vec<String> = match purge {
        Purge::Entities => held,
        Purge::Drop(names) => held.into_iter().filter(|n| names.contains(n)).collect(),
        Purge::Keep(names) => held.into_iter().filter(|n| !names.contains(n)).collect(),
    };
    (!drop.is_empty()).then_some((drop, Vec::new()))
}
