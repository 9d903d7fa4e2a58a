//! What an entity write adds to the history (clauses 4.5.7, 4.5.8): every attribute instance
//! the write created or changed, and a deletion instance (NGSI-LD Null, `deletedAt`) for
//! every instance it removed. Computed from the state before and after the write, and
//! committed with it. Scope changes are filed as instances of a Property under the scope IRI
//! (4.5.6).

use chrono::{DateTime, Utc};
use rigel_model::codec::render::format_time;
use rigel_model::{Attribute, AttributeValue, Entity, SCOPE_IRI};
use rigel_storage::{HistoryChange, HistoryHeader, NewInstance, WriteOp};
use serde_json::Value;

/// The history change recording `op` over `previous`; `None` when the op changes nothing
/// there is a history of (a delete of an absent entity).
pub(crate) fn record(
    op: &WriteOp,
    previous: Option<&Entity>,
    now: DateTime<Utc>,
) -> Option<HistoryChange> {
    match op {
        WriteOp::Put { entity, .. } => {
            let mut instances = changed_instances(previous, entity, now);
            instances.extend(scope_change(
                previous.and_then(|p| p.scope.as_ref()),
                entity,
                now,
            ));
            Some(HistoryChange::Append {
                header: header_of(entity, None),
                instances,
            })
        }
        WriteOp::Delete { .. } => {
            let old = previous?;
            let mut header = header_of(old, Some(now));
            header.modified_at = now;
            let mut instances: Vec<NewInstance> = old
                .attributes
                .iter()
                .flat_map(|(name, all)| all.iter().map(move |a| deletion(name, a, now)))
                .collect();
            if old.scope.is_some() {
                instances.push(scope_deletion(now));
            }
            Some(HistoryChange::Append { header, instances })
        }
        WriteOp::Record { .. } | WriteOp::Note { .. } => None,
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

/// The scope instance a write of `new` adds (4.5.6): its scopes when they changed, with
/// `observedAt` a copy of `modifiedAt`, or a deletion when it lost them.
fn scope_change(
    before: Option<&Vec<String>>,
    new: &Entity,
    now: DateTime<Utc>,
) -> Option<NewInstance> {
    match (before, &new.scope) {
        (Some(b), Some(a)) if b == a => None,
        (None, None) => None,
        (Some(_), None) => Some(scope_deletion(now)),
        (_, Some(scopes)) => {
            let at = new.modified_at;
            let values = scopes.iter().cloned().map(Value::String).collect();
            Some(NewInstance {
                attribute: SCOPE_IRI.to_owned(),
                value: Attribute {
                    observed_at: Some(format_time(&at)),
                    created_at: Some(at),
                    modified_at: Some(at),
                    ..Attribute::new(AttributeValue::Property(Value::Array(values)))
                },
                deleted_at: None,
            })
        }
    }
}

/// The instance recording that the scope was removed at `now`: an empty scope.
fn scope_deletion(now: DateTime<Utc>) -> NewInstance {
    NewInstance {
        attribute: SCOPE_IRI.to_owned(),
        value: Attribute {
            created_at: Some(now),
            modified_at: Some(now),
            ..Attribute::new(AttributeValue::Property(Value::Array(Vec::new())))
        },
        deleted_at: Some(now),
    }
}

/// The instance recording that `gone` was deleted at `now`.
pub(crate) fn deletion(name: &str, gone: &Attribute, now: DateTime<Utc>) -> NewInstance {
    NewInstance {
        attribute: name.to_owned(),
        value: Attribute {
            dataset_id: gone.dataset_id.clone(),
            created_at: gone.created_at,
            modified_at: Some(now),
            ..Attribute::new(null_of(&gone.value))
        },
        deleted_at: Some(now),
    }
}

/// The NGSI-LD Null in the payload shape of the attribute's kind.
fn null_of(kind: &AttributeValue) -> AttributeValue {
    rigel_model::codec::temporal::null_of_kind(kind.type_name())
}
