//! The synchronous parts of linked entity retrieval (clause 4.5.23): which entities an
//! entity's relationships point at, and where rendered linked entities go. Fetching them is
//! the caller's business (a store read, a broker call).

use serde_json::{Map, Value};

use crate::codec::render::{Format, Projection};
use crate::{AttributeValue, Entity};

/// The targets of one relationship instance kept by a projection.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkTargets {
    /// The relationship's IRI.
    pub name: String,
    /// Which instance of it.
    pub index: usize,
    /// The ids it points at.
    pub targets: Vec<String>,
    /// A ListRelationship (its linked entities go under `entityList`).
    pub is_list: bool,
}

/// The objects of the relationships of `entity` that `projection` keeps, per instance.
pub fn relationship_targets(entity: &Entity, projection: &Projection) -> Vec<LinkTargets> {
    let mut out = Vec::new();
    for (name, instances) in &entity.attributes {
        if !projection.keeps(name) {
            continue;
        }
        for (index, a) in instances.iter().enumerate() {
            let (targets, is_list) = match &a.value {
                AttributeValue::Relationship {
                    object: Value::String(o),
                    ..
                } => (vec![o.clone()], false),
                AttributeValue::Relationship {
                    object: Value::Array(os),
                    ..
                } => (
                    os.iter()
                        .filter_map(|o| o.as_str().map(str::to_owned))
                        .collect(),
                    false,
                ),
                AttributeValue::ListRelationship { object_list, .. } => (object_list.clone(), true),
                _ => continue,
            };
            out.push(LinkTargets {
                name: name.clone(),
                index,
                targets,
                is_list,
            });
        }
    }
    out
}

/// Puts rendered linked entities into the rendered relationship instance `index` of `key`:
/// under `entity` / `entityList`, or in place of the relationship in keyValues.
pub fn attach_linked(
    body: &mut Map<String, Value>,
    key: &str,
    index: usize,
    mut rendered: Vec<Value>,
    is_list: bool,
    format: Format,
) {
    let Some(slot) = body.get_mut(key) else {
        return;
    };
    if rendered.is_empty() {
        return;
    }
    let linked = if is_list || rendered.len() > 1 {
        Value::Array(rendered)
    } else {
        rendered.swap_remove(0)
    };
    if format == Format::KeyValues {
        *slot = linked;
        return;
    }
    let instance = match slot {
        Value::Array(items) => items.get_mut(index),
        other => Some(other),
    };
    if let Some(Value::Object(instance)) = instance {
        instance.insert(if is_list { "entityList" } else { "entity" }.into(), linked);
    }
}
