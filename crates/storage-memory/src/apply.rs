//! Applies one commit to the state under the write lock: each op checked against its own
//! expectation (a failed one is a `Conflict` for that op and writes nothing), the type index
//! kept in step, history records bound to the write before them, and the tenant registered
//! by its first applied entity or history write.

use std::sync::Arc;

use rigel_model::{Entity, Tenant};
use rigel_storage::{Expect, Versioned, WriteOp, WriteOutcome};

use crate::{Space, State};

/// Applies `ops` in order and returns one outcome per op.
pub(crate) fn commit(state: &mut State, tenant: &Tenant, ops: Vec<WriteOp>) -> Vec<WriteOutcome> {
    let State {
        spaces,
        last_version,
    } = state;
    let space = spaces.entry(tenant.clone()).or_default();
    let mut outcomes: Vec<WriteOutcome> = Vec::with_capacity(ops.len());
    let mut registers = false;
    // Whether the last Put or Delete applied (what a Note records).
    let mut written = false;
    for op in ops {
        let previous_applied = matches!(outcomes.last(), Some(WriteOutcome::Applied { .. }));
        let entity_write = matches!(op, WriteOp::Put { .. } | WriteOp::Delete { .. });
        let (outcome, writes_data) = match op {
            WriteOp::Put { entity, expect } => (put(space, last_version, entity, expect), true),
            WriteOp::Delete { id, expect } => (delete(space, &id, expect), false),
            // Nothing survives this store: there is no outbox to note changes in.
            WriteOp::Note { .. } if written => (WriteOutcome::Applied { version: 0 }, false),
            WriteOp::Note { .. } => (WriteOutcome::Conflict, false),
            WriteOp::Record {
                change,
                with_previous,
            } => {
                let outcome = if with_previous && !previous_applied {
                    WriteOutcome::Conflict
                } else {
                    // The record takes a version of its own: its instances' ids derive from it.
                    *last_version += 1;
                    if space.history.apply(&change, *last_version) {
                        WriteOutcome::Applied { version: 0 }
                    } else {
                        WriteOutcome::Conflict
                    }
                };
                (outcome, true)
            }
        };
        registers |= writes_data && matches!(outcome, WriteOutcome::Applied { .. });
        if entity_write {
            written = matches!(outcome, WriteOutcome::Applied { .. });
        }
        outcomes.push(outcome);
    }
    if registers {
        space.registered = true;
    }
    if !space.registered {
        // Nothing applied in a tenant that does not exist (so it holds nothing): leave no
        // trace of it.
        spaces.remove(tenant);
    }
    outcomes
}

fn expectation_holds(expect: Expect, current: Option<u64>) -> bool {
    match expect {
        Expect::Any => true,
        Expect::Absent => current.is_none(),
        Expect::Version(v) => current == Some(v),
    }
}

fn put(space: &mut Space, last_version: &mut u64, entity: Entity, expect: Expect) -> WriteOutcome {
    let current = space.entities.get(&entity.id);
    if !expectation_holds(expect, current.map(|v| v.version)) {
        return WriteOutcome::Conflict;
    }
    let old_types = current.map(|v| v.value.types.clone()).unwrap_or_default();
    for stale in old_types.iter().filter(|t| !entity.types.contains(t)) {
        unindex(space, stale, &entity.id);
    }
    for fresh in entity.types.iter().filter(|t| !old_types.contains(t)) {
        space
            .types
            .entry(fresh.clone())
            .or_default()
            .insert(entity.id.clone());
    }
    *last_version += 1;
    let version = *last_version;
    space.entities.insert(
        entity.id.clone(),
        Versioned {
            version,
            value: Arc::new(entity),
        },
    );
    WriteOutcome::Applied { version }
}

fn delete(space: &mut Space, id: &str, expect: Expect) -> WriteOutcome {
    let current = space.entities.get(id).map(|v| v.version);
    if !expectation_holds(expect, current) {
        return WriteOutcome::Conflict;
    }
    // Nothing to delete and nothing was expected: the delete is a no-op.
    if let Some(gone) = space.entities.remove(id) {
        for stale in &gone.value.types {
            unindex(space, stale, id);
        }
    }
    WriteOutcome::Applied { version: 0 }
}

/// Removes `id` from the index of `type_iri`, and the type once no entity has it.
fn unindex(space: &mut Space, type_iri: &str, id: &str) {
    if let Some(ids) = space.types.get_mut(type_iri) {
        ids.remove(id);
        if ids.is_empty() {
            space.types.remove(type_iri);
        }
    }
}
