//! What one committed change did, in the vocabulary of notification triggers (clause 5.2.12):
//! the entity created, updated or deleted, and which attributes were created, updated or
//! deleted. An attribute changes only when one of its members differs (clause 5.8.6); system
//! timestamps alone are not a change.

use std::collections::BTreeMap;

use rigel_model::subscription::{Subscription, Trigger};
use rigel_model::{Attribute, Entity};
use rigel_storage::ChangeEvent;

use crate::compile::Compiled;

/// The entity-level nature of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityChange {
    Created,
    Updated,
    Deleted,
}

/// A change classified once, for every subscription to test.
#[derive(Debug, Clone)]
pub struct Classified {
    pub entity: EntityChange,
    /// Attribute IRI -> attributeCreated / attributeUpdated / attributeDeleted.
    pub attributes: BTreeMap<String, Trigger>,
    /// Instances (by datasetId, `None` the default one) removed from attributes that still
    /// have other instances.
    pub deleted_instances: BTreeMap<String, Vec<Option<String>>>,
}

/// Classifies a change event.
pub fn classify(event: &ChangeEvent) -> Classified {
    match (&event.previous, &event.current) {
        (None, Some(current)) => Classified {
            entity: EntityChange::Created,
            attributes: current
                .attributes
                .keys()
                .map(|k| (k.clone(), Trigger::AttributeCreated))
                .collect(),
            deleted_instances: BTreeMap::new(),
        },
        (Some(previous), None) => Classified {
            entity: EntityChange::Deleted,
            attributes: previous
                .attributes
                .keys()
                .map(|k| (k.clone(), Trigger::AttributeDeleted))
                .collect(),
            deleted_instances: BTreeMap::new(),
        },
        (Some(previous), Some(current)) => {
            let (attributes, deleted_instances) = attribute_changes(previous, current);
            Classified {
                entity: EntityChange::Updated,
                attributes,
                deleted_instances,
            }
        }
        (None, None) => Classified {
            entity: EntityChange::Updated,
            attributes: BTreeMap::new(),
            deleted_instances: BTreeMap::new(),
        },
    }
}

type AttributeChanges = (
    BTreeMap<String, Trigger>,
    BTreeMap<String, Vec<Option<String>>>,
);

fn attribute_changes(previous: &Entity, current: &Entity) -> AttributeChanges {
    let mut changes = BTreeMap::new();
    let mut deleted_instances = BTreeMap::new();
    for (name, now) in &current.attributes {
        let Some(before) = previous.attributes.get(name) else {
            changes.insert(name.clone(), Trigger::AttributeCreated);
            continue;
        };
        if same_instances(before, now) {
            continue;
        }
        let removed: Vec<Option<String>> = before
            .iter()
            .filter(|b| !now.iter().any(|n| n.dataset_id == b.dataset_id))
            .map(|b| b.dataset_id.clone())
            .collect();
        // Only instances removed, the others untouched: a deletion (of those instances).
        let others_same = now.iter().all(|n| {
            before
                .iter()
                .any(|b| b.dataset_id == n.dataset_id && same_attribute(b, n))
        });
        let trigger = if !removed.is_empty() && others_same {
            Trigger::AttributeDeleted
        } else {
            Trigger::AttributeUpdated
        };
        changes.insert(name.clone(), trigger);
        if !removed.is_empty() {
            deleted_instances.insert(name.clone(), removed);
        }
    }
    for name in previous.attributes.keys() {
        if !current.attributes.contains_key(name) {
            changes.insert(name.clone(), Trigger::AttributeDeleted);
        }
    }
    (changes, deleted_instances)
}

/// Whether two instance lists are the same but for system timestamps.
fn same_instances(a: &[Attribute], b: &[Attribute]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_attribute(x, y))
}

fn same_attribute(a: &Attribute, b: &Attribute) -> bool {
    a.value == b.value
        && a.dataset_id == b.dataset_id
        && a.observed_at == b.observed_at
        && a.unit_code == b.unit_code
        && a.value_type == b.value_type
        && a.expires_at == b.expires_at
        && a.sub_attributes.len() == b.sub_attributes.len()
        && a.sub_attributes.iter().all(|(k, x)| {
            b.sub_attributes
                .get(k)
                .is_some_and(|y| same_attribute(x, y))
        })
}

/// Whether the change fires the subscription's triggers on its watched attributes.
pub fn fires(sub: &Subscription, compiled: &Compiled, change: &Classified) -> bool {
    let watched_attribute = |trigger: Trigger| {
        sub.fires_on(trigger)
            && change
                .attributes
                .iter()
                .any(|(name, t)| *t == trigger && compiled.watches(name))
    };
    match change.entity {
        EntityChange::Created => {
            (sub.fires_on(Trigger::EntityCreated)
                && (compiled.watched().is_none()
                    || change.attributes.keys().any(|n| compiled.watches(n))))
                || watched_attribute(Trigger::AttributeCreated)
        }
        EntityChange::Deleted => {
            sub.fires_on(Trigger::EntityDeleted) || watched_attribute(Trigger::AttributeDeleted)
        }
        EntityChange::Updated => {
            watched_attribute(Trigger::AttributeCreated)
                || watched_attribute(Trigger::AttributeUpdated)
                || watched_attribute(Trigger::AttributeDeleted)
        }
    }
}

/// The entity state a change is matched against: the new one, or the last one for a deletion.
pub fn subject(event: &ChangeEvent) -> Option<&Entity> {
    event.current.as_deref().or(event.previous.as_deref())
}
