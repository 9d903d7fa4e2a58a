//! What an entity write adds to the history (clauses 4.5.7, 4.5.8): every attribute instance
//! the write created or changed, and a deletion instance (NGSI-LD Null, `deletedAt`) for
//! every instance it removed. Computed from the state before and after the write, and
//! committed with it.

use chrono::{DateTime, Utc};
use rigel_model::{Attribute, AttributeValue, Entity};
use rigel_storage::{HistoryChange, HistoryHeader, NewInstance, WriteOp};

/// The history change recording `op` over `previous`; `None` when the op changes nothing
/// there is a history of (a delete of an absent entity).
pub(crate) fn record(
    op: &WriteOp,
    previous: Option<&Entity>,
    now: DateTime<Utc>,
) -> Option<HistoryChange> {
    match op {
        WriteOp::Put { entity, .. } => Some(HistoryChange::Append {
            header: header_of(entity, None),
            instances: changed_instances(previous, entity, now),
        }),
        WriteOp::Delete { .. } => {
            let old = previous?;
            let mut header = header_of(old, Some(now));
            header.modified_at = now;
            let instances = old
                .attributes
                .iter()
                .flat_map(|(name, all)| all.iter().map(move |a| deletion(name, a, now)))
                .collect();
            Some(HistoryChange::Append { header, instances })
        }
        WriteOp::Record { .. } => None,
    }
}

/// The header of an entity's history, from the entity.
pub(crate) fn header_of(entity: &Entity, deleted_at: Option<DateTime<Utc>>) -> HistoryHeader {
    HistoryHeader {
        id: entity.id.clone(),
        types: entity.types.clone(),
        scope: entity.scope.clone(),
        created_at: entity.created_at,
        modified_at: entity.modified_at,
        deleted_at,
    }
}

/// Instances of `new` that are not in `previous` as they are, then deletions of the
/// instances of `previous` that `new` no longer has (matched by name and datasetId).
fn changed_instances(
    previous: Option<&Entity>,
    new: &Entity,
    now: DateTime<Utc>,
) -> Vec<NewInstance> {
    let mut out = Vec::new();
    for (name, instances) in &new.attributes {
        let before = previous.map(|p| p.instances(name)).unwrap_or_default();
        for a in instances {
            let same = before
                .iter()
                .find(|b| b.dataset_id == a.dataset_id)
                .is_some_and(|b| b == a);
            if !same {
                out.push(NewInstance {
                    attribute: name.clone(),
                    value: a.clone(),
                    deleted_at: None,
                });
            }
        }
    }
    if let Some(previous) = previous {
        for (name, instances) in &previous.attributes {
            let after = new.instances(name);
            for b in instances {
                if !after.iter().any(|a| a.dataset_id == b.dataset_id) {
                    out.push(deletion(name, b, now));
                }
            }
        }
    }
    out
}

/// The instance recording that `gone` was deleted at `now`.
pub(crate) fn deletion(name: &str, gone: &Attribute, now: DateTime<Utc>) -> NewInstance {
    NewInstance {
        attribute: name.to_owned(),
        value: Attribute {
            value: null_of(&gone.value),
            dataset_id: gone.dataset_id.clone(),
            observed_at: None,
            unit_code: None,
            value_type: None,
            expires_at: None,
            sub_attributes: Default::default(),
            created_at: gone.created_at,
            modified_at: Some(now),
        },
        deleted_at: Some(now),
    }
}

/// The NGSI-LD Null in the payload shape of the attribute's kind.
fn null_of(kind: &AttributeValue) -> AttributeValue {
    rigel_model::codec::temporal::null_of_kind(kind.type_name())
}
