//! Reading a source's answer: an entity in the normalized representation with its system
//! attributes, the names expanded with the @context the request was sent with; the result
//! of a batch.

use chrono::{DateTime, Utc};
use rigel_broker::federation::{BatchAnswer, BatchKind, SourceError};
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

/// The result of a forwarded batch (clauses 6.14-6.17, 6.31): 201 with the ids created (or
/// an empty body), 204, or 207 with a BatchOperationResult; any other status fails the
/// whole batch. `sent` are the ids of the entities sent, all treated when the answer does
/// not list them.
pub fn batch(
    kind: BatchKind,
    sent: &[String],
    status: u16,
    body: &[u8],
) -> Result<BatchAnswer, SourceError> {
    let json = || -> Result<Value, SourceError> {
        serde_json::from_slice(body).map_err(|e| SourceError::Invalid(e.to_string()))
    };
    let ids = |value: &Value| -> Result<Vec<String>, SourceError> {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .ok_or_else(|| SourceError::Invalid(format!("expected an array of ids, got {value}")))
    };
    match status {
        207 => {
            let result = json()?;
            let success = result
                .get("success")
                .map(ids)
                .transpose()?
                .unwrap_or_default();
            let errors = result
                .get("errors")
                .and_then(Value::as_array)
                .map(|errors| {
                    errors
                        .iter()
                        .filter_map(|e| {
                            let id = e.get("entityId")?.as_str()?.to_owned();
                            Some((id, e.get("error").cloned().unwrap_or(Value::Null)))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(BatchAnswer {
                success,
                created: Vec::new(),
                errors,
            })
        }
        201 if !body.is_empty() => {
            let listed = ids(&json()?)?;
            let created = match kind {
                BatchKind::Upsert { .. } => listed,
                _ => Vec::new(),
            };
            Ok(BatchAnswer {
                success: sent.to_vec(),
                created,
                errors: Vec::new(),
            })
        }
        200..=299 => Ok(BatchAnswer {
            success: sent.to_vec(),
            created: match (kind, status) {
                (BatchKind::Upsert { .. }, 201) => sent.to_vec(),
                _ => Vec::new(),
            },
            errors: Vec::new(),
        }),
        status => Err(SourceError::Status(status)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sent() -> Vec<String> {
        vec!["urn:a".to_owned(), "urn:b".to_owned()]
    }

    #[test]
    fn a_batch_answer_lists_what_the_source_treated_and_failed() {
        let upsert = BatchKind::Upsert { update: false };
        let created = batch(upsert, &sent(), 201, br#"["urn:b"]"#).unwrap();
        assert_eq!(created.success, sent());
        assert_eq!(created.created, ["urn:b"]);
        let empty = batch(BatchKind::Create, &sent(), 201, b"").unwrap();
        assert_eq!(empty.success, sent());
        let none = batch(BatchKind::Delete, &sent(), 204, b"").unwrap();
        assert!(none.created.is_empty() && none.errors.is_empty());
        let partly = br#"{"success": ["urn:a"], "errors": [{"entityId": "urn:b", "error": {"type": "x", "status": 404}}]}"#;
        let partly = batch(BatchKind::Merge, &sent(), 207, partly).unwrap();
        assert_eq!(partly.success, ["urn:a"]);
        assert_eq!(partly.errors[0].0, "urn:b");
        assert_eq!(partly.errors[0].1["status"], 404);
        assert_eq!(
            batch(BatchKind::Create, &sent(), 400, b"{}").unwrap_err(),
            SourceError::Status(400)
        );
        assert!(matches!(
            batch(BatchKind::Merge, &sent(), 207, b"not json"),
            Err(SourceError::Invalid(_))
        ));
    }
}
