//! Pure functions applying fragments to entities: append, update (5.5.8), merge (5.5.12),
//! partial attribute update and attribute deletion. No I/O; the caller supplies `now`.

use chrono::{DateTime, Utc};
use rigel_model::codec::parse::{
    is_attribute_object, is_ngsi_ld_null, is_null_payload, parse_instances, payload_member,
    NullPolicy, Patch,
};
use rigel_model::codec::render::{render_attribute, Format, RenderOptions};
use rigel_model::{Attribute, AttributeValue, Entity, IdentityTerms, ModelError};
use serde_json::{Map, Value};

use crate::attributes::{AttributeUpdate, UpdateResult};

/// Sets `modifiedAt` to now and `createdAt` to `created` (or now) on an instance and its
/// sub-attributes.
pub fn stamp(a: &mut Attribute, now: DateTime<Utc>, created: Option<DateTime<Utc>>) {
    a.created_at = Some(created.unwrap_or(now));
    a.modified_at = Some(now);
    for sub in a.sub_attributes.values_mut() {
        let sub_created = sub.created_at.filter(|_| created.is_some());
        stamp(sub, now, sub_created.or(created));
    }
}

fn position(instances: &[Attribute], dataset_id: Option<&str>) -> Option<usize> {
    instances
        .iter()
        .position(|a| a.dataset_id.as_deref() == dataset_id)
}

/// Append (overwrite or not) or Update Attributes: each instance replaces the one with the
/// same datasetId (keeping its `createdAt`) or is added; NGSI-LD Nulls delete.
/// `replace_scope_only` (Update Attributes) ignores a scope for an entity that has none.
pub fn apply_update(
    entity: &mut Entity,
    update: &AttributeUpdate,
    overwrite: bool,
    replace_scope_only: bool,
    now: DateTime<Utc>,
) -> UpdateResult {
    let mut result = UpdateResult::default();
    add_types(entity, &update.types);
    if let Some(scope) = &update.scope {
        if replace_scope_only && entity.scope.is_none() {
            result.not_updated("scope", "the entity has no scope to update");
        } else {
            apply_scope(entity, scope, overwrite);
        }
    }
    for (name, patches) in &update.attributes {
        let mut changed = false;
        for patch in patches {
            let instances = entity.attributes.entry(name.clone()).or_default();
            let at = position(instances, patch.dataset_id());
            match (patch, at) {
                (Patch::Set(_), Some(_)) if !overwrite => {
                    result.not_updated(name, "attribute exists and noOverwrite was requested");
                }
                (Patch::Set(new), Some(i)) => {
                    let mut new = new.clone();
                    stamp(&mut new, now, instances[i].created_at);
                    instances[i] = new;
                    changed = true;
                }
                (Patch::Set(new), None) => {
                    let mut new = new.clone();
                    stamp(&mut new, now, None);
                    instances.push(new);
                    changed = true;
                }
                (Patch::Delete { .. }, Some(i)) => {
                    instances.remove(i);
                    changed = true;
                }
                (Patch::Delete { .. }, None) => {
                    result.not_updated(name, "attribute to delete does not exist");
                }
            }
        }
        if entity.attributes.get(name).is_some_and(Vec::is_empty) {
            entity.attributes.remove(name);
        }
        if changed {
            result.updated.push(name.clone());
        }
    }
    if !result.updated.is_empty() || !update.types.is_empty() || update.scope.is_some() {
        entity.modified_at = now;
    }
    result
}

/// The URL options of Merge Entity (Table 6.5.3.4-1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeOptions {
    /// The fragment is in simplified form: every attribute value is a bare value.
    pub key_values: bool,
    /// Language tag that bare strings update in pre-existing LanguageProperties.
    pub lang: Option<String>,
    /// `observedAt` given to merged attributes that had one, unless the fragment sets it.
    pub observed_at: Option<String>,
}

/// Merge Entity (5.6.17 with 5.5.12): instances present are merged member by member, values
/// that are JSON objects deeply (RFC 7396); absent ones are added; NGSI-LD Nulls delete.
/// `fragment` holds expanded attribute names -> expanded JSON (see `expand_attribute_json`).
pub fn apply_merge(
    entity: &mut Entity,
    fragment: &Map<String, Value>,
    types: &[String],
    scope: Option<&[String]>,
    options: &MergeOptions,
    now: DateTime<Utc>,
) -> Result<(), ModelError> {
    add_types(entity, types);
    if let Some(scope) = scope {
        apply_scope(entity, scope, true);
    }
    for (name, value) in fragment {
        let items: Vec<&Value> = match value {
            Value::Array(a)
                if !options.key_values && !a.is_empty() && a.iter().all(Value::is_object) =>
            {
                a.iter().collect()
            }
            other => vec![other],
        };
        for item in items {
            let dataset_id = if options.key_values {
                None
            } else {
                item.get("datasetId").and_then(Value::as_str)
            };
            let instances = entity.attributes.entry(name.clone()).or_default();
            match position(instances, dataset_id) {
                Some(i) => {
                    let merged = merge_instance(&instances[i], item, true, options)?;
                    match merged {
                        Some(mut a) => {
                            stamp(&mut a, now, instances[i].created_at);
                            instances[i] = a;
                        }
                        None => {
                            instances.remove(i);
                        }
                    }
                }
                None => {
                    let wrapped;
                    let item = if options.key_values && !is_null_payload(item) {
                        wrapped = serde_json::json!({ "value": item });
                        &wrapped
                    } else {
                        item
                    };
                    for patch in
                        parse_instances(name, item, &IdentityTerms, NullPolicy::Delete, now)?
                    {
                        if let Patch::Set(mut a) = patch {
                            stamp(&mut a, now, None);
                            instances.push(a);
                        }
                    }
                }
            }
            if instances.is_empty() {
                entity.attributes.remove(name);
            }
        }
    }
    entity.modified_at = now;
    Ok(())
}

/// Partial Attribute Update (5.6.4 with 5.5.8): the members of `fragment` replace those of the
/// targeted instance, which must exist; the attribute kind cannot change.
pub fn apply_partial(
    entity: &mut Entity,
    name: &str,
    fragment: &Value,
    now: DateTime<Utc>,
) -> Result<bool, ModelError> {
    let items: Vec<&Value> = match fragment {
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object) => a.iter().collect(),
        other => vec![other],
    };
    for item in items {
        let dataset_id = item.get("datasetId").and_then(Value::as_str);
        let Some(instances) = entity.attributes.get_mut(name) else {
            return Ok(false);
        };
        let Some(i) = position(instances, dataset_id) else {
            return Ok(false);
        };
        if let Some(t) = item.get("type").and_then(Value::as_str) {
            if t != instances[i].value.type_name() {
                return Err(ModelError::bad_data(format!(
                    "the attribute is a {}, its type cannot be changed to {t}",
                    instances[i].value.type_name()
                )));
            }
        }
        match merge_instance(&instances[i], item, false, &MergeOptions::default())? {
            Some(mut a) => {
                stamp(&mut a, now, instances[i].created_at);
                instances[i] = a;
            }
            None => {
                instances.remove(i);
            }
        }
        if instances.is_empty() {
            entity.attributes.remove(name);
        }
    }
    entity.modified_at = now;
    Ok(true)
}

/// Delete Attribute (5.6.5): the default instance, the one with `dataset_id`, or all.
pub fn delete_attribute(
    entity: &mut Entity,
    name: &str,
    dataset_id: Option<&str>,
    delete_all: bool,
    now: DateTime<Utc>,
) -> bool {
    let Some(instances) = entity.attributes.get_mut(name) else {
        return false;
    };
    if delete_all {
        entity.attributes.remove(name);
    } else {
        let Some(i) = position(instances, dataset_id) else {
            return false;
        };
        instances.remove(i);
        if instances.is_empty() {
            entity.attributes.remove(name);
        }
    }
    entity.modified_at = now;
    true
}

/// Merges an (expanded) instance fragment into an existing instance. `deep` merges JSON
/// object values recursively (merge patch); otherwise members are replaced whole (partial
/// update patch). `None` means the instance is deleted.
fn merge_instance(
    existing: &Attribute,
    fragment: &Value,
    deep: bool,
    options: &MergeOptions,
) -> Result<Option<Attribute>, ModelError> {
    let kind = existing.value.type_name();
    let payload = payload_member(kind);
    if is_ngsi_ld_null(fragment) {
        return Ok(None);
    }
    // A partial update body is always a set of members; in a merge, an object is a set of
    // members when it looks like an attribute or names one of the existing sub-attributes.
    let members = |o: &Map<String, Value>| {
        !deep
            || (!options.key_values
                && (is_attribute_object(o)
                    || o.keys().any(|k| existing.sub_attributes.contains_key(k))))
    };
    let mut fragment: Map<String, Value> = match fragment {
        Value::Object(o) if members(o) => o.clone(),
        bare => {
            // A bare value keeps the attribute's kind; with `lang`, a string updates one
            // language of a LanguageProperty.
            let bare = match (&existing.value, &options.lang) {
                (AttributeValue::LanguageProperty(map), Some(lang))
                    if bare.is_string() || bare.is_array() =>
                {
                    let mut map = map.clone();
                    map.insert(lang.clone(), bare.clone());
                    Value::Object(map)
                }
                _ => bare.clone(),
            };
            Map::from_iter([(payload.to_owned(), bare)])
        }
    };
    if let Some(observed_at) = &options.observed_at {
        if existing.observed_at.is_some() && !fragment.contains_key("observedAt") {
            fragment.insert("observedAt".into(), Value::String(observed_at.clone()));
        }
    }
    if fragment.get(payload).is_some_and(is_null_payload) {
        return Ok(None);
    }
    let rendered = render_attribute(
        existing,
        &IdentityTerms,
        &RenderOptions {
            format: Format::Normalized,
            ..Default::default()
        },
    );
    let Value::Object(mut base) = rendered else {
        return Err(ModelError::bad_data("attribute could not be merged"));
    };
    if fragment
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != kind)
    {
        // A change of kind replaces the instance's payload and metadata.
        base = Map::new();
    }
    for (k, v) in fragment {
        if is_null_payload(&v) {
            base.remove(&k);
        } else if deep && k == payload {
            let merged = match base.remove(&k) {
                Some(old) => merge_patch(old, v),
                None => v,
            };
            base.insert(k, merged);
        } else {
            base.insert(k, v);
        }
    }
    let parsed = parse_instances(
        "attribute",
        &Value::Object(base),
        &IdentityTerms,
        NullPolicy::Reject,
        Utc::now(),
    )?;
    Ok(parsed.into_iter().find_map(|p| match p {
        Patch::Set(a) => Some(a),
        Patch::Delete { .. } => None,
    }))
}

/// RFC 7396 JSON merge patch, with NGSI-LD Nulls removing members.
fn merge_patch(target: Value, patch: Value) -> Value {
    match (target, patch) {
        (Value::Object(mut t), Value::Object(p)) => {
            for (k, v) in p {
                if is_ngsi_ld_null(&v) {
                    t.remove(&k);
                } else {
                    let merged = match t.remove(&k) {
                        Some(old) => merge_patch(old, v),
                        None => v,
                    };
                    t.insert(k, merged);
                }
            }
            Value::Object(t)
        }
        (_, p) => p,
    }
}

fn add_types(entity: &mut Entity, types: &[String]) {
    for t in types {
        if !entity.types.contains(t) {
            entity.types.push(t.clone());
        }
    }
}

fn apply_scope(entity: &mut Entity, scope: &[String], overwrite: bool) {
    if scope.is_empty() {
        entity.scope = None;
    } else if overwrite || entity.scope.is_none() {
        entity.scope = Some(scope.to_vec());
    } else if let Some(existing) = &mut entity.scope {
        for s in scope {
            if !existing.contains(s) {
                existing.push(s.clone());
            }
        }
    }
}
