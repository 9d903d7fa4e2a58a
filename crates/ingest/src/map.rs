//! What one message becomes: the entities a rule maps it to, or why it is rejected. Pure:
//! the runtime (`source.rs`) writes the entities and accounts for the rejections.

use chrono::{DateTime, Utc};
use rigel_model::codec::parse::parse_entity;
use rigel_model::{Entity, TermMap};
use serde_json::{Map, Value};

use crate::check;
use crate::rule::{AttributeKind, PayloadKind, Rule, Source};
use crate::template::lookup;

/// The most entities one `ngsi-ld` message may carry.
pub const MAX_ENTITIES_PER_MESSAGE: usize = 1000;

/// The entities `rule` maps a message on `topic` to (their attribute names expanded with
/// `terms`), or the reason it is rejected.
pub fn map_message(
    rule: &Rule,
    terms: &dyn TermMap,
    topic: &str,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<Entity>, String> {
    let payload: Value =
        serde_json::from_slice(payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    if let Some(why) = check::failure(&payload, &rule.required, &rule.checks) {
        return Err(why);
    }
    match rule.spec.payload {
        PayloadKind::NgsiLd => as_entities(rule, terms, payload, now),
        PayloadKind::Fields => {
            let levels: Vec<&str> = topic.split('/').collect();
            let body = mapped_body(rule, &levels, &payload)?;
            let entity = parse_entity(&body, terms, now).map_err(|e| e.detail)?;
            Ok(vec![entity])
        }
    }
}

/// An NGSI-LD entity, or an array of them, taken as it is.
fn as_entities(
    rule: &Rule,
    terms: &dyn TermMap,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Vec<Entity>, String> {
    let items = match payload {
        Value::Array(items) => items,
        one @ Value::Object(_) => vec![one],
        _ => return Err("the payload is not an NGSI-LD entity or an array of them".into()),
    };
    if items.len() > MAX_ENTITIES_PER_MESSAGE {
        return Err(format!(
            "the payload holds {} entities, more than {MAX_ENTITIES_PER_MESSAGE}",
            items.len()
        ));
    }
    items
        .into_iter()
        .map(|item| {
            let Value::Object(mut body) = item else {
                return Err("an element of the payload is not an object".to_owned());
            };
            if let Some(context) = body.remove("@context") {
                if Some(&context) != rule.spec.context.as_ref() {
                    return Err(
                        "the payload's @context differs from the rule's: set it on the rule".into(),
                    );
                }
            }
            parse_entity(&body, terms, now).map_err(|e| e.detail)
        })
        .collect()
}

/// The NGSI-LD body of a `fields` message: id, type and the mapped attributes (a mapped
/// field that is absent leaves its attribute out).
fn mapped_body(rule: &Rule, topic: &[&str], payload: &Value) -> Result<Map<String, Value>, String> {
    if !payload.is_object() {
        return Err("the payload is not a JSON object".into());
    }
    let (Some(id), Some(type_)) = (&rule.id_template, &rule.type_template) else {
        return Err("the rule maps no entity".into());
    };
    let mut body = Map::new();
    body.insert("id".into(), Value::String(id.render(topic, payload)?));
    body.insert("type".into(), Value::String(type_.render(topic, payload)?));
    let observed_at = match &rule.observed_at {
        Some(path) => match lookup(payload, path) {
            Some(Value::String(t)) => Some(t.clone()),
            Some(other) => {
                return Err(format!(
                    "observedAt field {} is not a date-time string: {other}",
                    path.join(".")
                ))
            }
            None => None,
        },
        None => None,
    };
    for attribute in &rule.attributes {
        let value = match &attribute.source {
            Source::Field(path) => match lookup(payload, path) {
                Some(v) => v.clone(),
                None => continue,
            },
            Source::Template(t) => Value::String(t.render(topic, payload)?),
        };
        let mut member = Map::new();
        member.insert("type".into(), attribute.kind.name().into());
        let key = match attribute.kind {
            AttributeKind::Relationship => "object",
            AttributeKind::Property | AttributeKind::GeoProperty => "value",
        };
        member.insert(key.into(), value);
        if let Some(unit) = &attribute.unit_code {
            member.insert("unitCode".into(), unit.clone().into());
        }
        if let Some(t) = &observed_at {
            member.insert("observedAt".into(), t.clone().into());
        }
        body.insert(attribute.name.clone(), Value::Object(member));
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
