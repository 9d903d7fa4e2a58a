//! An estimate of the memory a decoded entity holds, so that a query can bound what it holds
//! at once (clause 4.12: a hard limit on what a page may generate).

use std::collections::BTreeMap;
use std::mem::size_of;

use serde_json::{Map, Value};

use crate::entity::{Attribute, AttributeValue, Entity};

/// What an ordered-map entry costs beyond its key and value: a share of its B-tree node.
const MAP_ENTRY_OVERHEAD: usize = 16;

impl Entity {
    /// About how many bytes this entity takes in memory, decoded: its strings, JSON values,
    /// maps and the structs around them. An estimate (allocator slack and map node fill
    /// vary), within a small factor of the truth, and linear in the entity's size.
    pub fn footprint(&self) -> usize {
        size_of::<Entity>()
            + string(&self.id)
            + self.types.iter().map(|s| string(s)).sum::<usize>()
            + self
                .scope
                .iter()
                .flatten()
                .map(|s| string(s))
                .sum::<usize>()
            + self
                .attributes
                .iter()
                .map(|(name, instances)| {
                    MAP_ENTRY_OVERHEAD
                        + string(name)
                        + size_of::<Vec<Attribute>>()
                        + instances.iter().map(attribute).sum::<usize>()
                })
                .sum::<usize>()
    }
}

fn attribute(a: &Attribute) -> usize {
    size_of::<Attribute>()
        + payload(&a.value)
        + a.text_members()
            .into_iter()
            .flatten()
            .map(|s| s.len())
            .sum::<usize>()
        + sub_attributes(&a.sub_attributes)
}

fn sub_attributes(subs: &BTreeMap<String, Attribute>) -> usize {
    subs.iter()
        .map(|(name, a)| MAP_ENTRY_OVERHEAD + string(name) + attribute(a))
        .sum()
}

/// The heap behind a payload (its enum is counted with the attribute).
fn payload(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::Property(v)
        | AttributeValue::GeoProperty(v)
        | AttributeValue::VocabProperty(v)
        | AttributeValue::JsonProperty(v) => heap(v),
        AttributeValue::Relationship {
            object,
            object_type,
        } => heap(object) + object_type.as_ref().map_or(0, value),
        AttributeValue::LanguageProperty(map) => object(map),
        AttributeValue::ListProperty(items) => items.iter().map(value).sum(),
        AttributeValue::ListRelationship {
            object_list,
            object_type,
        } => {
            object_list.iter().map(|s| string(s)).sum::<usize>()
                + object_type.as_ref().map_or(0, value)
        }
    }
}

/// A `String` held in a struct or collection: its header and its bytes.
fn string(s: &str) -> usize {
    size_of::<String>() + s.len()
}

/// A JSON value held in a collection: the value and its heap.
fn value(v: &Value) -> usize {
    size_of::<Value>() + heap(v)
}

/// The heap behind a JSON value.
fn heap(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(value).sum(),
        Value::Object(map) => object(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

fn object(map: &Map<String, Value>) -> usize {
    map.iter()
        .map(|(k, v)| MAP_ENTRY_OVERHEAD + string(k) + value(v))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity_with(attributes: usize) -> Entity {
        let now = chrono::Utc::now();
        let mut e = Entity {
            id: "urn:ngsi-ld:T:1".into(),
            types: vec!["https://example.org/T".into()],
            scope: None,
            attributes: Default::default(),
            created_at: now,
            modified_at: now,
        };
        for i in 0..attributes {
            e.attributes.insert(
                format!("https://example.org/a{i}"),
                vec![Attribute::new(AttributeValue::Property(
                    json!({"n": i, "s": "text"}),
                ))],
            );
        }
        e
    }

    #[test]
    fn footprint_grows_linearly_with_attributes() {
        let one = entity_with(1).footprint();
        let hundred = entity_with(100).footprint();
        let per_attribute = (hundred - one) / 99;
        assert!(per_attribute > size_of::<Attribute>(), "{per_attribute}");
        let thousand = entity_with(1000).footprint();
        assert!(thousand > 9 * hundred && thousand < 11 * hundred);
    }

    #[test]
    fn footprint_counts_strings_and_nested_values() {
        let mut small = entity_with(0);
        let mut large = entity_with(0);
        small.attributes.insert(
            "https://example.org/p".into(),
            vec![Attribute::new(AttributeValue::Property(json!("x")))],
        );
        large.attributes.insert(
            "https://example.org/p".into(),
            vec![Attribute::new(AttributeValue::Property(
                json!({"deep": ["x".repeat(10_000)]}),
            ))],
        );
        assert!(large.footprint() - small.footprint() >= 10_000);
    }
}
