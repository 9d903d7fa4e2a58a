//! One entity out of the copies the broker and its sources hold (clause 4.5.5): types and
//! scopes united, attributes united instance by instance (one per datasetId). When two
//! copies hold the same instance, an expired one gives way, then the latest `observedAt`
//! wins, else the latest `modifiedAt`, else the copy met first. Auxiliary sources only fill
//! in instances nobody else supplied (clause 4.3.6.2).

use chrono::{DateTime, Utc};
use rigel_model::{Attribute, Entity};

/// Merges `other` into `into`; `auxiliary` copies never replace an instance.
pub fn merge_into(into: &mut Entity, other: Entity, auxiliary: bool, now: DateTime<Utc>) {
    for t in other.types {
        if !into.types.contains(&t) {
            into.types.push(t);
        }
    }
    if let Some(scopes) = other.scope {
        let held = into.scope.get_or_insert_with(Vec::new);
        for s in scopes {
            if !held.contains(&s) {
                held.push(s);
            }
        }
    }
    into.created_at = into.created_at.min(other.created_at);
    into.modified_at = into.modified_at.max(other.modified_at);
    for (name, instances) in other.attributes {
        let held = into.attributes.entry(name).or_default();
        for instance in instances {
            match held
                .iter_mut()
                .find(|h| h.dataset_id == instance.dataset_id)
            {
                None => held.push(instance),
                Some(h) if !auxiliary && newer(&instance, h, now) => *h = instance,
                Some(_) => {}
            }
        }
    }
}

/// Whether `candidate` should replace `held`.
fn newer(candidate: &Attribute, held: &Attribute, now: DateTime<Utc>) -> bool {
    let expired = |a: &Attribute| {
        a.expires_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t <= now)
    };
    match (expired(held), expired(candidate)) {
        (true, false) => return true,
        (false, true) => return false,
        _ => {}
    }
    let observed = |a: &Attribute| {
        a.observed_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    };
    match (observed(candidate), observed(held)) {
        (Some(c), Some(h)) if c != h => return c > h,
        (Some(_), None) => return true,
        (None, Some(_)) => return false,
        _ => {}
    }
    match (candidate.modified_at, held.modified_at) {
        (Some(c), Some(h)) => c > h,
        (Some(_), None) => true,
        _ => false,
    }
}
