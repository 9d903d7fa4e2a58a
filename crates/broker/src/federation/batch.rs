//! Batch writes, distributed (clauses 5.6.7.4-5.6.10.4, 5.6.20.4).
//!
//! For each registration, the batch's entities it matches, each with only the attributes it
//! takes, less those another exclusive registration owns and those a redirect registration
//! owns (unless it is a redirect registration itself), go to its source in one batch
//! request. Entities left without attributes are not sent, except whole entities being
//! created or deleted. A source that does not offer the batch operation gets one request
//! per entity of the single-entity operation standing in for it; an exclusive or redirect
//! source that offers neither is a Conflict for each of its entities, an inclusive one is
//! skipped. Sources are called at once.
//!
//! The local batch is left to the caller: every entity, without the attributes exclusive or
//! redirect registrations own; an entity they took every attribute of is not written
//! locally (a deletion always is).

use std::collections::BTreeSet;

use futures::StreamExt;
use rigel_model::registration::operations::Operation;
use rigel_model::registration::{Mode, Registration};
use rigel_model::Tenant;
use rigel_query::registration::Wanted;
use rigel_query::TypeExpr;
use serde_json::{Map, Value};

use super::{
    call_to, cooling_down, passed_through, registered_attributes, BatchKind, Distribution,
    Federation, PartFailure, SourceBatch, SourceCall, SourceError, SourceWrite, WriteKind,
};
use crate::Broker;

/// How many single-entity requests stand in for one batch at a source at once.
const SINGLE_CALLS_AT_ONCE: usize = 8;

/// One entity of a batch as the client sent it.
pub struct BatchEntry<'a> {
    pub id: &'a str,
    /// Its expanded types; empty when the request names none (a deletion).
    pub types: &'a [String],
    /// The entity (or fragment) as written; none for a deletion.
    pub body: Option<&'a Map<String, Value>>,
    /// Its attributes: each name as written, and expanded.
    pub names: &'a [(String, String)],
}

/// What one registration's source did with its part of a batch.
#[derive(Debug)]
pub struct BatchPart {
    pub registration: String,
    /// An exclusive or redirect registration.
    pub owner: bool,
    pub succeeded: Vec<String>,
    /// Entities the source created (Batch Upsert reports them).
    pub created: Vec<String>,
    pub failed: Vec<(String, PartFailure)>,
}

/// What the sources did with a batch, and what is left of each entry locally.
#[derive(Debug, Default)]
pub struct ForwardedBatch {
    pub parts: Vec<BatchPart>,
    /// For each entry, in order, the attributes (as written) to write locally; `None`:
    /// nothing is written locally.
    pub local: Vec<Option<Vec<String>>>,
}

/// The single-entity operations standing in for a batch at a source without it.
#[derive(Debug, Clone, PartialEq)]
enum Fallback {
    /// One write per entity.
    Each(WriteKind),
    /// Create Entity, and on AlreadyExists the write given (Batch Upsert, 5.6.8.4).
    CreateThen(Option<WriteKind>),
}

/// The fallback a source offering `ops` gets for `kind`; `None`: it offers none.
fn fallback(kind: BatchKind, ops: &BTreeSet<Operation>) -> Option<Fallback> {
    let offers = |op| ops.contains(&op);
    match kind {
        BatchKind::Create => {
            offers(Operation::CreateEntity).then_some(Fallback::Each(WriteKind::CreateEntity))
        }
        BatchKind::Upsert { update } => {
            let existing = if update {
                offers(Operation::UpdateEntity).then_some(WriteKind::Update)
            } else {
                offers(Operation::ReplaceEntity).then_some(WriteKind::ReplaceEntity)
            };
            if offers(Operation::CreateEntity) {
                Some(Fallback::CreateThen(existing))
            } else {
                existing.map(Fallback::Each)
            }
        }
        BatchKind::Update {
            no_overwrite: false,
        } => offers(Operation::UpdateEntity).then_some(Fallback::Each(WriteKind::Update)),
        BatchKind::Update { no_overwrite: true } => offers(Operation::AppendAttrs)
            .then_some(Fallback::Each(WriteKind::Append { no_overwrite: true })),
        BatchKind::Delete => {
            offers(Operation::DeleteEntity).then_some(Fallback::Each(WriteKind::DeleteEntity))
        }
        BatchKind::Merge => {
            offers(Operation::MergeEntity).then_some(Fallback::Each(WriteKind::MergeEntity))
        }
    }
}

/// One registration's share of a batch: the entries it gets and the attributes of each.
struct Share<'r> {
    registration: &'r Registration,
    /// Entry index and the attributes (as written) it takes of it.
    entries: Vec<(usize, Vec<String>)>,
}

impl Broker {
    /// Passes a batch on to the sources registrations name; `None` when no registration
    /// matches any entity (the batch is local only).
    pub async fn forward_batch(
        &self,
        tenant: &Tenant,
        kind: BatchKind,
        entries: &[BatchEntry<'_>],
        distribution: &Distribution,
    ) -> Result<Option<ForwardedBatch>, crate::BrokerError> {
        self.refuse_loop(tenant, distribution)?;
        // A batch that came back is done locally; writes carry no warnings.
        let Some((federation, registry)) = self.distributing(tenant, distribution, &mut Vec::new())
        else {
            return Ok(None);
        };
        let now = self.now();
        let candidates = registry.matching(tenant, now, |reg| {
            reg.mode() != Mode::Auxiliary && !passed_through(reg, &distribution.via)
        });
        if candidates.is_empty() {
            return Ok(None);
        }
        let taken = taken_attributes(kind, entries, &candidates);
        if taken.iter().all(|row| row.iter().all(Option::is_none)) {
            return Ok(None);
        }
        let shares = shares(kind, entries, &candidates, &taken);
        let mut forwarded = ForwardedBatch {
            local: local_shares(kind, entries, &candidates, &taken),
            ..ForwardedBatch::default()
        };
        let via = self.via_out(tenant, distribution, federation);
        let mut calls = Vec::new();
        let mut ignored = Vec::new();
        for share in &shares {
            let reg = share.registration;
            let owner = matches!(reg.mode(), Mode::Exclusive | Mode::Redirect);
            let ops = reg.operation_set();
            let batch = ops.contains(&kind.operation());
            let single = if batch { None } else { fallback(kind, &ops) };
            let refusal = if !batch && single.is_none() {
                owner.then_some(PartFailure::Unsupported)
            } else if cooling_down(reg, now, &mut ignored) {
                Some(PartFailure::Source(SourceError::Refused(
                    "cooling down after a failure".to_owned(),
                )))
            } else {
                None
            };
            if let Some(failure) = refusal {
                forwarded.parts.push(BatchPart {
                    registration: reg.id.clone(),
                    owner,
                    succeeded: Vec::new(),
                    created: Vec::new(),
                    failed: share
                        .entries
                        .iter()
                        .map(|(i, _)| (entries[*i].id.to_owned(), failure.clone()))
                        .collect(),
                });
                continue;
            }
            if !batch && single.is_none() {
                continue;
            }
            calls.push((share, owner, single));
        }
        let answers = futures::future::join_all(calls.iter().map(|(share, owner, single)| {
            let call = call_to(share.registration, &via, distribution, federation);
            self.send_share(
                call,
                federation,
                kind,
                entries,
                share,
                *owner,
                single.clone(),
            )
        }))
        .await;
        for ((share, _, _), (part, reached)) in calls.iter().zip(answers) {
            self.record_forward(tenant, share.registration, reached, now);
            forwarded.parts.push(part);
        }
        Ok(Some(forwarded))
    }

    /// Sends a registration's share to its source, as one batch or as single writes; the
    /// outcome, and whether the source answered at all.
    #[allow(clippy::too_many_arguments)]
    async fn send_share(
        &self,
        call: SourceCall<'_>,
        federation: &Federation,
        kind: BatchKind,
        entries: &[BatchEntry<'_>],
        share: &Share<'_>,
        owner: bool,
        single: Option<Fallback>,
    ) -> (BatchPart, bool) {
        let reg = share.registration;
        let mut part = BatchPart {
            registration: reg.id.clone(),
            owner,
            succeeded: Vec::new(),
            created: Vec::new(),
            failed: Vec::new(),
        };
        let ids: Vec<String> = share
            .entries
            .iter()
            .map(|(i, _)| entries[*i].id.to_owned())
            .collect();
        let Some(single) = single else {
            let bodies: Vec<Value> = share
                .entries
                .iter()
                .map(|(i, keys)| match entries[*i].body {
                    Some(body) => Value::Object(restricted(body, keys, entries[*i].names, true)),
                    None => Value::String(entries[*i].id.to_owned()),
                })
                .collect();
            let request = SourceBatch {
                kind: &kind,
                entities: &bodies,
                ids: &ids,
            };
            return match federation.sources.batch(&call, &request).await {
                Ok(answer) => {
                    part.succeeded = answer.success;
                    part.created = answer.created;
                    part.failed = answer
                        .errors
                        .into_iter()
                        .map(|(id, problem)| (id, PartFailure::Reported(problem)))
                        .collect();
                    (part, true)
                }
                Err(e) => {
                    tracing::warn!(registration = %reg.id, endpoint = %reg.endpoint, "context source refused a batch: {e}");
                    part.failed = ids
                        .into_iter()
                        .map(|id| (id, PartFailure::Source(e.clone())))
                        .collect();
                    (part, false)
                }
            };
        };
        let outcomes: Vec<(String, Result<bool, SourceError>)> =
            futures::stream::iter(share.entries.iter().map(|(i, keys)| {
                let entry = &entries[*i];
                let single = single.clone();
                let call = &call;
                async move {
                    let outcome = write_one(federation, call, entry, keys, &single).await;
                    (entry.id.to_owned(), outcome)
                }
            }))
            .buffered(SINGLE_CALLS_AT_ONCE)
            .collect()
            .await;
        let mut reached = true;
        for (id, outcome) in outcomes {
            match outcome {
                Ok(created) => {
                    if created {
                        part.created.push(id.clone());
                    }
                    part.succeeded.push(id);
                }
                Err(e) => {
                    reached &= matches!(e, SourceError::Status(_));
                    part.failed.push((id, PartFailure::Source(e)));
                }
            }
        }
        (part, reached)
    }
}

/// One entity's single-entity write standing in for the batch; whether it created it.
async fn write_one(
    federation: &Federation,
    call: &SourceCall<'_>,
    entry: &BatchEntry<'_>,
    keys: &[String],
    single: &Fallback,
) -> Result<bool, SourceError> {
    let send = |kind: WriteKind| async move {
        // Whole-entity writes carry the id and type; attribute writes only the attributes.
        let whole = matches!(
            kind,
            WriteKind::CreateEntity | WriteKind::ReplaceEntity | WriteKind::MergeEntity
        );
        let body = entry
            .body
            .map(|body| restricted(body, keys, entry.names, whole));
        let request = SourceWrite {
            id: entry.id,
            kind: &kind,
            attribute: None,
            body: body.as_ref(),
        };
        federation.sources.write(call, &request).await
    };
    match single {
        Fallback::Each(kind) => send(kind.clone())
            .await
            .map(|()| *kind == WriteKind::CreateEntity),
        Fallback::CreateThen(existing) => match send(WriteKind::CreateEntity).await {
            Ok(()) => Ok(true),
            Err(SourceError::Status(409)) => match existing {
                Some(kind) => send(kind.clone()).await.map(|()| false),
                None => Err(SourceError::Status(409)),
            },
            Err(e) => Err(e),
        },
    }
}

/// An entity's JSON with only the attributes `keys` (as written); `whole`: with its other
/// members too (id, type, scope, @context), else with its `@context` only.
fn restricted(
    body: &Map<String, Value>,
    keys: &[String],
    names: &[(String, String)],
    whole: bool,
) -> Map<String, Value> {
    body.iter()
        .filter(|(k, _)| {
            if names.iter().any(|(n, _)| n == *k) {
                keys.contains(k)
            } else {
                whole || k.as_str() == "@context"
            }
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// For each entry and candidate registration: the attributes (as written) the registration
/// takes of the entry, `None` when it does not match the entry.
fn taken_attributes(
    kind: BatchKind,
    entries: &[BatchEntry<'_>],
    candidates: &[Registration],
) -> Vec<Vec<Option<Vec<String>>>> {
    entries
        .iter()
        .map(|entry| {
            let types = (!entry.types.is_empty()).then(|| TypeExpr::any_of(entry.types.to_vec()));
            let ids = [entry.id.to_owned()];
            // A deletion names the entity only: every registration for it takes part.
            let iris: Vec<String> = if kind == BatchKind::Delete {
                Vec::new()
            } else {
                entry.names.iter().map(|(_, iri)| iri.clone()).collect()
            };
            let wanted = Wanted {
                types: types.as_ref(),
                ids: Some(&ids),
                attributes: &iris,
                ..Wanted::default()
            };
            candidates
                .iter()
                .map(|reg| {
                    if !wanted.matches(reg) {
                        return None;
                    }
                    let registered = registered_attributes(reg, &wanted);
                    Some(
                        entry
                            .names
                            .iter()
                            .filter(|(_, iri)| registered.is_empty() || registered.contains(iri))
                            .map(|(key, _)| key.clone())
                            .collect(),
                    )
                })
                .collect()
        })
        .collect()
}

/// Each registration's share of the batch, by the attribute rules of 5.6.7.4.
fn shares<'r>(
    kind: BatchKind,
    entries: &[BatchEntry<'_>],
    candidates: &'r [Registration],
    taken: &[Vec<Option<Vec<String>>>],
) -> Vec<Share<'r>> {
    let whole_entities = matches!(
        kind,
        BatchKind::Create | BatchKind::Upsert { .. } | BatchKind::Delete
    );
    candidates
        .iter()
        .enumerate()
        .map(|(j, reg)| {
            let mut share = Share {
                registration: reg,
                entries: Vec::new(),
            };
            for (i, entry) in entries.iter().enumerate() {
                let Some(keys) = &taken[i][j] else { continue };
                let owned_elsewhere = |key: &String| {
                    candidates.iter().enumerate().any(|(o, other)| {
                        let owns = match other.mode() {
                            Mode::Exclusive => o != j,
                            Mode::Redirect => reg.mode() != Mode::Redirect,
                            _ => false,
                        };
                        owns && taken[i][o].as_ref().is_some_and(|k| k.contains(key))
                    })
                };
                let keys: Vec<String> = keys
                    .iter()
                    .filter(|k| !owned_elsewhere(k))
                    .cloned()
                    .collect();
                if !keys.is_empty() || (whole_entities && entry.names.is_empty()) {
                    share.entries.push((i, keys));
                }
            }
            share
        })
        .filter(|share| !share.entries.is_empty())
        .collect()
}

/// What is left of each entry locally: the attributes no exclusive or redirect registration
/// owns; nothing when they own every attribute (a deletion is always local too).
fn local_shares(
    kind: BatchKind,
    entries: &[BatchEntry<'_>],
    candidates: &[Registration],
    taken: &[Vec<Option<Vec<String>>>],
) -> Vec<Option<Vec<String>>> {
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let owned: Vec<&String> = candidates
                .iter()
                .enumerate()
                .filter(|(_, reg)| matches!(reg.mode(), Mode::Exclusive | Mode::Redirect))
                .filter_map(|(j, _)| taken[i][j].as_ref())
                .flatten()
                .collect();
            let local: Vec<String> = entry
                .names
                .iter()
                .map(|(key, _)| key)
                .filter(|key| !owned.contains(key))
                .cloned()
                .collect();
            let all_owned = !entry.names.is_empty() && local.is_empty();
            (kind == BatchKind::Delete || !all_owned).then_some(local)
        })
        .collect()
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
