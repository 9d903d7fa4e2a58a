//! Reading a source's answer: an entity in the normalized representation with its system
//! attributes, the names expanded with the @context the request was sent with.

use chrono::{DateTime, Utc};
use rigel_broker::federation::SourceError;
use rigel_model::codec::parse::parse_entity;
use rigel_model::{Attribute, Entity, TermMap};
use serde_json::{Map, Value};

/// The entity of an answer, with the `createdAt`/`modifiedAt` the source reported (the
/// merge compares them); a member missing keeps the time of reading.
pub fn entity(json: &Value, terms: &dyn TermMap) -> Result<Entity, SourceError> {
    let obj = json
        .as_object()
        .ok_or_else(|| SourceError::Invalid("an entity must be a JSON object".to_owned()))?;
    let now = Utc::now();
    let mut entity =
        parse_entity(obj, terms, now).map_err(|e| SourceError::Invalid(e.detail.clone()))?;
    if let Some(t) = time(obj, "createdAt") {
        entity.created_at = t;
    }
    if let Some(t) = time(obj, "modifiedAt") {
        entity.modified_at = t;
    }
    for (key, value) in obj {
        let name = terms.expand(key);
        let Some(instances) = entity.attributes.get_mut(name.as_ref()) else {
            continue;
        };
        let written: Vec<&Map<String, Value>> = match value {
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            Value::Object(o) => vec![o],
            _ => continue,
        };
        for w in written {
            let dataset = w.get("datasetId").and_then(Value::as_str);
            if let Some(instance) = instances
                .iter_mut()
                .find(|i| i.dataset_id.as_deref() == dataset)
            {
                stamp(instance, w);
            }
        }
    }
    Ok(entity)
}

fn stamp(instance: &mut Attribute, written: &Map<String, Value>) {
    instance.created_at = time(written, "createdAt").or(instance.created_at);
    instance.modified_at = time(written, "modifiedAt").or(instance.modified_at);
}

fn time(obj: &Map<String, Value>, member: &str) -> Option<DateTime<Utc>> {
    obj.get(member)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}
