//! Batch entity operations: create, upsert, update, delete and merge many entities in one
//! request (clauses 5.6.7-5.6.10, 5.6.20), each batch one storage commit.
//!
//! A batch reads every entity it names in one snapshot (`get_many`), folds each element of the
//! input onto the in-memory state of its entity, and writes all resulting states in one commit
//! (one durable sync instead of one per entity), each write expecting the version it read.
//! Entities another writer changed in between (`Conflict`) are re-read and their elements
//! folded again, the others stay committed.
//!
//! The same entity more than once in a batch (clause 5.5.11): elements are applied in array
//! order onto the same state, as if they had arrived in separate requests. So a second create
//! of an id is `AlreadyExists`, a second delete `ResourceNotFound`; a second upsert replaces
//! or updates what the first created; updates and merges accumulate. All elements of a batch
//! get the same `modifiedAt` (clause 5.5.11.0).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rigel_model::codec::parse::Patch;
use rigel_model::{Entity, ErrorKind, ModelError, Tenant};
use rigel_storage::{Expect, Versioned, WriteOp, WriteOutcome};

use crate::attributes::{AttributeUpdate, EntityMerge, UpdateResult};
use crate::entities::stamp_new;
use crate::{merge, Broker, BrokerError, MAX_WRITE_ATTEMPTS};

/// What Batch Upsert does to an entity that already exists (clause 5.6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpsertMode {
    /// The existing entity is replaced as a whole (Replace Entity, 5.6.18); the default.
    #[default]
    Replace,
    /// The existing entity's attributes are updated (Update Attributes, 5.6.2).
    Update,
}

/// The failure of one element of a batch (BatchEntityError, clause 5.2.17).
#[derive(Debug)]
pub struct BatchEntityError {
    pub entity_id: String,
    pub error: BrokerError,
}

/// The outcome of a batch (BatchOperationResult, clause 5.2.16).
#[derive(Debug, Default)]
pub struct BatchResult {
    /// Entities for which an element succeeded, each once, in input order.
    pub success: Vec<String>,
    /// Entities the batch created (absent before it), in input order: what Batch Upsert
    /// reports with 201.
    pub created: Vec<String>,
    /// One per failed element.
    pub errors: Vec<BatchEntityError>,
}

impl BatchResult {
    /// Whether every element succeeded.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }
}

/// What one element does to its entity.
struct Step {
    /// The entity's state after the element (`None`: absent).
    next: Option<Entity>,
    /// The entity was absent before the element.
    created: bool,
    /// The element was applied only in part: its changes stay, it is reported as failed.
    partial: Option<BrokerError>,
}

impl Step {
    fn put(entity: Entity, created: bool) -> Self {
        Self {
            next: Some(entity),
            created,
            partial: None,
        }
    }
}

/// How one element ended.
enum Report {
    Success { created: bool },
    Failed(BrokerError),
}

impl Broker {
    /// Batch Entity Creation (5.6.7): each entity is created unless its id is taken.
    pub async fn create_entities(
        &self,
        tenant: &Tenant,
        entities: Vec<Entity>,
    ) -> Result<BatchResult, BrokerError> {
        let now = self.clock.now();
        let ids = entities.iter().map(|e| e.id.clone()).collect();
        self.run_batch(tenant, ids, |i, current| match current {
            Some(existing) => Err(BrokerError::AlreadyExists(existing.id.clone())),
            None => {
                let mut entity = entities[i].clone();
                stamp_new(&mut entity, now);
                Ok(Step::put(entity, true))
            }
        })
        .await
    }

    /// Batch Entity Creation or Update (5.6.8): absent entities are created, existing ones
    /// replaced or updated according to `mode`. Creating an entity creates its tenant, as
    /// Create Entity does (5.5.10).
    pub async fn upsert_entities(
        &self,
        tenant: &Tenant,
        entities: &[Entity],
        mode: UpsertMode,
    ) -> Result<BatchResult, BrokerError> {
        let now = self.clock.now();
        let ids = entities.iter().map(|e| e.id.clone()).collect();
        self.run_batch(tenant, ids, |i, current| {
            let new = &entities[i];
            let Some(old) = current else {
                let mut entity = new.clone();
                stamp_new(&mut entity, now);
                return Ok(Step::put(entity, true));
            };
            let next = match mode {
                UpsertMode::Replace => {
                    let mut next = new.clone();
                    stamp_new(&mut next, now);
                    next.created_at = old.created_at;
                    next
                }
                UpsertMode::Update => {
                    // Update Attributes ignores a scope the entity does not have (5.6.2), which
                    // is its behaviour, not a failure: the result is not reported.
                    let mut next = old.clone();
                    merge::apply_update(&mut next, &as_update(new), true, true, now);
                    next
                }
            };
            Ok(Step::put(next, false))
        })
        .await
    }

    /// Batch Entity Update (5.6.9): Append Attributes (5.6.3) on each entity; with
    /// `overwrite` false existing attributes are kept, and an entity with any of them kept is
    /// reported as failed (`AlreadyExists`) while its other attributes are appended.
    pub async fn update_entities(
        &self,
        tenant: &Tenant,
        updates: Vec<(String, AttributeUpdate)>,
        overwrite: bool,
    ) -> Result<BatchResult, BrokerError> {
        let now = self.clock.now();
        let ids = updates.iter().map(|(id, _)| id.clone()).collect();
        self.run_batch(tenant, ids, |i, current| {
            let (id, update) = &updates[i];
            let mut next = current
                .ok_or_else(|| BrokerError::EntityNotFound(id.clone()))?
                .clone();
            let result = merge::apply_update(&mut next, update, overwrite, false, now);
            Ok(Step {
                next: Some(next),
                created: false,
                partial: (!result.is_complete()).then(|| not_updated(id, &result)),
            })
        })
        .await
    }

    /// Batch Entity Delete (5.6.10).
    pub async fn delete_entities(
        &self,
        tenant: &Tenant,
        ids: Vec<String>,
    ) -> Result<BatchResult, BrokerError> {
        self.run_batch(tenant, ids.clone(), |i, current| match current {
            Some(_) => Ok(Step {
                next: None,
                created: false,
                partial: None,
            }),
            None => Err(BrokerError::EntityNotFound(ids[i].clone())),
        })
        .await
    }

    /// Batch Entity Merge (5.6.20): Merge Entity (5.6.17) on each entity.
    pub async fn merge_entities(
        &self,
        tenant: &Tenant,
        merges: Vec<(String, EntityMerge)>,
    ) -> Result<BatchResult, BrokerError> {
        let now = self.clock.now();
        let ids = merges.iter().map(|(id, _)| id.clone()).collect();
        self.run_batch(tenant, ids, |i, current| {
            let (id, m) = &merges[i];
            let mut next = current
                .ok_or_else(|| BrokerError::EntityNotFound(id.clone()))?
                .clone();
            merge::apply_merge(
                &mut next,
                &m.attributes,
                &m.types,
                m.scope.as_deref(),
                &m.options,
                now,
            )?;
            Ok(Step::put(next, false))
        })
        .await
    }

    /// Runs a batch: `ids[i]` is the entity of element `i`, `step(i, current)` computes what
    /// element `i` does to the current state of its entity (`Err`: nothing, reported).
    async fn run_batch(
        &self,
        tenant: &Tenant,
        ids: Vec<String>,
        mut step: impl FnMut(usize, Option<&Entity>) -> Result<Step, BrokerError>,
    ) -> Result<BatchResult, BrokerError> {
        let groups = group_by_id(&ids);
        let mut reports: Vec<Report> = ids
            .iter()
            .map(|id| Report::Failed(BrokerError::Contended(id.clone())))
            .collect();
        let mut pending: Vec<usize> = (0..groups.len()).collect();
        for _ in 0..MAX_WRITE_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            let names: Vec<String> = pending.iter().map(|&g| groups[g].0.clone()).collect();
            let found = self.store.get_many(tenant, &names).await?;
            let observed = self.wants_previous(tenant);
            let (mut ops, mut written, mut previous) = (Vec::new(), Vec::new(), Vec::new());
            for (&g, current) in pending.iter().zip(found) {
                let (id, elements) = &groups[g];
                let before = current
                    .as_ref()
                    .filter(|_| observed)
                    .map(|c| Arc::new(c.value.clone()));
                if let Some(op) = fold(id, elements, current, &mut step, &mut reports) {
                    ops.push(op);
                    written.push(g);
                    previous.push(before);
                }
            }
            let outcomes = if ops.is_empty() {
                Vec::new()
            } else {
                self.commit(tenant, ops, previous).await?
            };
            pending = written
                .into_iter()
                .enumerate()
                .filter(|(k, _)| !matches!(outcomes.get(*k), Some(WriteOutcome::Applied { .. })))
                .map(|(_, g)| g)
                .collect();
        }
        // Still conflicting after every attempt: none of these elements took effect.
        for &g in &pending {
            let (id, elements) = &groups[g];
            for &i in elements {
                reports[i] = Report::Failed(BrokerError::Contended(id.clone()));
            }
        }
        self.collect(tenant, ids, reports).await
    }

    /// Turns element reports into the batch result. Absent entities of a tenant that does not
    /// exist are reported as `NonexistentTenant` (5.5.10), like the single-entity operations.
    async fn collect(
        &self,
        tenant: &Tenant,
        ids: Vec<String>,
        reports: Vec<Report>,
    ) -> Result<BatchResult, BrokerError> {
        let missing = reports
            .iter()
            .any(|r| matches!(r, Report::Failed(BrokerError::EntityNotFound(_))));
        let no_tenant = missing && !self.store.tenant_exists(tenant).await?;
        let mut result = BatchResult::default();
        let mut succeeded = HashSet::new();
        for (id, report) in ids.into_iter().zip(reports) {
            match report {
                Report::Success { created } => {
                    if created {
                        result.created.push(id.clone());
                    }
                    if succeeded.insert(id.clone()) {
                        result.success.push(id);
                    }
                }
                Report::Failed(error) => {
                    let error = match error {
                        BrokerError::EntityNotFound(_) if no_tenant => {
                            BrokerError::NonexistentTenant(tenant.to_string())
                        }
                        other => other,
                    };
                    result.errors.push(BatchEntityError {
                        entity_id: id,
                        error,
                    });
                }
            }
        }
        Ok(result)
    }
}

/// The distinct ids of a batch in order of first appearance, each with its elements in order.
fn group_by_id(ids: &[String]) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let g = *index.entry(id).or_insert_with(|| {
            groups.push((id.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    groups
}

/// Applies the elements of one entity in order onto its stored state, recording each
/// element's report; the write that makes the result durable, if anything changed.
fn fold(
    id: &str,
    elements: &[usize],
    current: Option<Versioned<Entity>>,
    step: &mut impl FnMut(usize, Option<&Entity>) -> Result<Step, BrokerError>,
    reports: &mut [Report],
) -> Option<WriteOp> {
    let version = current.as_ref().map(|v| v.version);
    let mut state = current.map(|v| v.value);
    let mut changed = false;
    for &i in elements {
        reports[i] = match step(i, state.as_ref()) {
            Ok(Step {
                next,
                created,
                partial,
            }) => {
                state = next;
                changed = true;
                match partial {
                    Some(error) => Report::Failed(error),
                    None => Report::Success { created },
                }
            }
            Err(error) => Report::Failed(error),
        };
    }
    if !changed {
        return None;
    }
    let expect = version.map_or(Expect::Absent, Expect::Version);
    match (state, version) {
        (Some(entity), _) => Some(WriteOp::Put { entity, expect }),
        (None, Some(_)) => Some(WriteOp::Delete {
            id: id.to_owned(),
            expect,
        }),
        (None, None) => None,
    }
}

/// An entity as the fragment of an Update Attributes: all its attributes, types and scope.
fn as_update(entity: &Entity) -> AttributeUpdate {
    AttributeUpdate {
        attributes: entity
            .attributes
            .iter()
            .map(|(name, instances)| {
                (
                    name.clone(),
                    instances.iter().cloned().map(Patch::Set).collect(),
                )
            })
            .collect(),
        types: entity.types.clone(),
        scope: entity.scope.clone(),
    }
}

/// The error of an append that kept existing attributes (noOverwrite).
fn not_updated(id: &str, result: &UpdateResult) -> BrokerError {
    let kept: Vec<String> = result
        .not_updated
        .iter()
        .map(|(name, reason)| format!("{name} ({reason})"))
        .collect();
    BrokerError::Model(ModelError::new(
        ErrorKind::AlreadyExists,
        format!(
            "entity {id}: attributes not updated: {}; the others were appended",
            kept.join(", ")
        ),
    ))
}
