//! Temporal evolutions over the HTTP binding (clauses 5.7.3, 6.18): the query string of a
//! forwarded retrieval, and the source's answer in the normalized temporal representation
//! (each attribute an array of instances with `instanceId`) read back as a history.

use chrono::{DateTime, SecondsFormat, Utc};
use rigel_broker::federation::SourceError;
use rigel_model::codec::parse::{parse_instances, parse_scope, parse_types, NullPolicy, Patch};
use rigel_model::codec::temporal::ENTITY_MEMBERS;
use rigel_model::TermMap;
use rigel_storage::{EntityHistory, HistoryHeader, HistoryQuery, Instance, TimeProperty};
use serde_json::{Map, Value};

/// The parameters of a temporal retrieval: `timerel` with its instants, `timeproperty`,
/// `lastN` and `attrs` (compacted), and `options=sysAttrs` for the merge.
pub fn query_string(query: &HistoryQuery, terms: &dyn TermMap) -> Vec<(&'static str, String)> {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let mut params = Vec::new();
    match (query.range.from, query.range.to) {
        (Some(from), Some(to)) => {
            params.push(("timerel", "between".to_owned()));
            params.push(("timeAt", at(from)));
            params.push(("endTimeAt", at(to)));
        }
        (Some(from), None) => {
            params.push(("timerel", "after".to_owned()));
            params.push(("timeAt", at(from)));
        }
        (None, Some(to)) => {
            params.push(("timerel", "before".to_owned()));
            params.push(("timeAt", at(to)));
        }
        (None, None) => {}
    }
    let property = match query.property {
        TimeProperty::ObservedAt => None,
        TimeProperty::CreatedAt => Some("createdAt"),
        TimeProperty::ModifiedAt => Some("modifiedAt"),
        TimeProperty::DeletedAt => Some("deletedAt"),
    };
    if let Some(property) = property {
        params.push(("timeproperty", property.to_owned()));
    }
    if let Some(n) = query.last_n {
        params.push(("lastN", n.to_string()));
    }
    if let Some(attrs) = &query.attrs {
        let names: Vec<String> = attrs
            .iter()
            .map(|a| terms.compact(a).into_owned())
            .collect();
        params.push(("attrs", names.join(",")));
    }
    params.push(("options", "sysAttrs".to_owned()));
    params
}

/// Members of an instance the attribute parser does not take.
const INSTANCE_MEMBERS: &[&str] = &["instanceId", "createdAt", "modifiedAt", "deletedAt"];

/// A temporal entity in the normalized representation, names expanded with `terms`.
pub fn history(json: &Value, terms: &dyn TermMap) -> Result<EntityHistory, SourceError> {
    let invalid = |why: String| SourceError::Invalid(why);
    let obj = json
        .as_object()
        .ok_or_else(|| invalid("a temporal entity must be a JSON object".to_owned()))?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a temporal entity needs an id".to_owned()))?
        .to_owned();
    let types = obj
        .get("type")
        .map(|t| parse_types(t, terms))
        .transpose()
        .map_err(|e| invalid(e.detail))?
        .unwrap_or_default();
    let scope = obj
        .get("scope")
        .map(parse_scope)
        .transpose()
        .map_err(|e| invalid(e.detail))?;
    let now = Utc::now();
    let mut attributes = std::collections::BTreeMap::new();
    for (key, value) in obj {
        if ENTITY_MEMBERS.contains(&key.as_str()) {
            continue;
        }
        let items: Vec<&Map<String, Value>> = match value {
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            Value::Object(one) => vec![one],
            _ => continue,
        };
        let mut instances = Vec::with_capacity(items.len());
        for (n, item) in items.into_iter().enumerate() {
            instances.push(instance(key, item, n, terms, now)?);
        }
        attributes.insert(terms.expand(key).into_owned(), instances);
    }
    Ok(EntityHistory {
        header: HistoryHeader {
            id,
            types,
            scope,
            created_at: time(obj, "createdAt").unwrap_or(now),
            modified_at: time(obj, "modifiedAt").unwrap_or(now),
            deleted_at: None,
        },
        attributes,
    })
}

/// One instance: the attribute it holds, its system times and its id at the source (or
/// its position when the source gave none).
fn instance(
    key: &str,
    item: &Map<String, Value>,
    position: usize,
    terms: &dyn TermMap,
    now: DateTime<Utc>,
) -> Result<Instance, SourceError> {
    let bare: Map<String, Value> = item
        .iter()
        .filter(|(k, _)| !INSTANCE_MEMBERS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let patches = parse_instances(key, &Value::Object(bare), terms, NullPolicy::Reject, now)
        .map_err(|e| SourceError::Invalid(e.detail))?;
    let Some(Patch::Set(mut value)) = patches.into_iter().next() else {
        return Err(SourceError::Invalid(format!(
            "an instance of {key} holds no value"
        )));
    };
    value.created_at = time(item, "createdAt").or(value.created_at);
    value.modified_at = time(item, "modifiedAt").or(value.modified_at);
    let instance_id = item
        .get("instanceId")
        .and_then(Value::as_str)
        .map_or_else(|| format!("urn:ngsi-ld:instance:{position}"), str::to_owned);
    Ok(Instance {
        instance_id,
        value,
        deleted_at: time(item, "deletedAt"),
    })
}

fn time(obj: &Map<String, Value>, member: &str) -> Option<DateTime<Utc>> {
    obj.get(member)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rigel_model::IdentityTerms;
    use rigel_storage::TimeRange;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_temporal_entity_reads_back_as_a_history() {
        let answer = json!({
            "id": "urn:e:1", "type": "urn:t:Meter",
            "urn:a:reading": [
                {"type": "Property", "value": 1, "observedAt": "2024-01-01T00:00:00Z",
                 "instanceId": "urn:i:1", "modifiedAt": "2024-01-01T00:00:01Z"},
                {"type": "Property", "value": 2, "observedAt": "2024-01-02T00:00:00Z",
                 "instanceId": "urn:i:2"}
            ]
        });
        let read = history(&answer, &IdentityTerms).unwrap();
        let readings = &read.attributes["urn:a:reading"];
        assert_eq!(readings.len(), 2);
        assert_eq!(readings[0].instance_id, "urn:i:1");
        assert!(readings[0].value.modified_at.is_some());
        assert_eq!(
            readings[1].value.observed_at.as_deref(),
            Some("2024-01-02T00:00:00Z")
        );
        assert!(history(&json!([]), &IdentityTerms).is_err());
    }

    #[test]
    fn a_temporal_query_string_says_the_range_as_timerel() {
        let from = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let query = HistoryQuery {
            range: TimeRange {
                from: Some(from),
                to: None,
            },
            last_n: Some(3),
            property: TimeProperty::ModifiedAt,
            ..HistoryQuery::default()
        };
        let params = query_string(&query, &IdentityTerms);
        assert_eq!(params[0], ("timerel", "after".to_owned()));
        assert_eq!(params[1], ("timeAt", "2024-01-01T00:00:00Z".to_owned()));
        assert!(params.contains(&("timeproperty", "modifiedAt".to_owned())));
        assert!(params.contains(&("lastN", "3".to_owned())));
    }
}
