//! One document of Orion-LD's `entities` collection as a Rigel entity: attributes from
//! `attrs` (and further datasetId instances from `@datasets`), sub-attributes from `md`,
//! system timestamps from `creDate`/`modDate`.

use chrono::Utc;
use rigel_model::validate::{check_geometry, is_date_time, is_uri};
use rigel_model::{Attribute, AttributeValue, Entity, ATTRIBUTE_KINDS};
use serde_json::{Map, Value};

use super::values::{attribute_name, expand, iso, text, time};

/// Members of an entity document the conversion reads or knowingly leaves out: `location`
/// is Orion's copy of one geometry for its geo index, `lastCorrelator` its loop protection.
const KNOWN: &[&str] = &[
    "_id",
    "attrNames",
    "attrs",
    "creDate",
    "modDate",
    "location",
    "lastCorrelator",
    "@datasets",
];

/// An entity, and remarks on what was changed or left out.
pub struct Converted {
    pub entity: Entity,
    pub remarks: Vec<String>,
    /// Written through the NGSIv2 API under this service path (not `/`).
    pub service_path: Option<String>,
}

/// Converts an `entities` document; an error when it has no usable id or type.
pub fn entity(doc: &Value) -> Result<Converted, String> {
    let key = doc.get("_id").ok_or("no _id")?;
    let id = key
        .get("id")
        .and_then(text)
        .filter(|id| is_uri(id))
        .ok_or("_id.id is missing or not a URI")?;
    let entity_type = key
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "_id.type is missing".to_owned())?;
    let service_path = key
        .get("servicePath")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && *p != "/")
        .map(str::to_owned);
    let mut remarks = Vec::new();
    let now = Utc::now();
    let created_at = doc.get("creDate").and_then(time);
    let modified_at = doc.get("modDate").and_then(time);
    if created_at.is_none() {
        remarks.push("no creDate, createdAt set to the import time".to_owned());
    }
    let mut entity: Entity = match serde_json::from_value(serde_json::json!({
        "id": id,
        "types": [expand(entity_type)],
        "created_at": created_at.unwrap_or(now),
        "modified_at": modified_at.or(created_at).unwrap_or(now),
    })) {
        Ok(e) => e,
        Err(e) => return Err(format!("{e}")),
    };
    if let Some(attrs) = doc.get("attrs").and_then(Value::as_object) {
        for (key, attr) in attrs {
            let name = attribute_name(key);
            let kind = attr
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("Property");
            if !ATTRIBUTE_KINDS.contains(&kind) && kind != "geo:json" {
                remarks.push(format!(
                    "attribute {name} of NGSIv2 type {kind:?} imported as a Property"
                ));
            }
            match attribute(attr) {
                Ok(a) => entity.attributes.entry(name).or_default().push(a),
                Err(why) => remarks.push(format!("attribute {name} left out: {why}")),
            }
        }
    }
    if let Some(datasets) = doc.get("@datasets").and_then(Value::as_object) {
        for (key, instances) in datasets {
            let name = attribute_name(key);
            for instance in instances.as_array().into_iter().flatten() {
                match attribute(instance) {
                    Ok(a) if a.dataset_id.is_some() => {
                        let known = entity
                            .instances(&name)
                            .iter()
                            .any(|i| i.dataset_id == a.dataset_id);
                        if !known {
                            entity.attributes.entry(name.clone()).or_default().push(a);
                        }
                    }
                    Ok(_) => remarks.push(format!(
                        "an instance of {name} in @datasets has no datasetId, left out"
                    )),
                    Err(why) => remarks.push(format!("an instance of {name} left out: {why}")),
                }
            }
        }
    }
    if let Some(doc) = doc.as_object() {
        for member in doc.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
            remarks.push(format!("member {member:?} not imported"));
        }
    }
    Ok(Converted {
        entity,
        remarks,
        service_path,
    })
}

/// One attribute (or sub-attribute, or `@datasets` instance) document.
fn attribute(doc: &Value) -> Result<Attribute, String> {
    let doc = doc.as_object().ok_or("not an object")?;
    let kind = doc
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Property");
    let mut a = Attribute::new(value(kind, doc)?);
    a.created_at = doc.get("creDate").or(doc.get("createdAt")).and_then(time);
    a.modified_at = doc.get("modDate").or(doc.get("modifiedAt")).and_then(time);
    a.dataset_id = doc.get("datasetId").and_then(text);
    a.observed_at = doc.get("observedAt").and_then(observed_at);
    a.unit_code = doc
        .get("unitCode")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(md) = doc.get("md").and_then(Value::as_object) {
        sub_attributes(md, &mut a)?;
    }
    Ok(a)
}

/// The `md` of an attribute: its observedAt, unitCode and datasetId, and its
/// sub-attributes.
fn sub_attributes(md: &Map<String, Value>, a: &mut Attribute) -> Result<(), String> {
    for (key, entry) in md {
        let inner = entry.get("value").unwrap_or(entry);
        match key.as_str() {
            "observedAt" => a.observed_at = observed_at(inner),
            "unitCode" => a.unit_code = inner.as_str().map(str::to_owned),
            "datasetId" => a.dataset_id = text(inner),
            _ => {
                let sub = attribute(entry).map_err(|why| format!("sub-attribute {key}: {why}"))?;
                a.sub_attributes.insert(attribute_name(key), sub);
            }
        }
    }
    Ok(())
}

/// observedAt, a number of seconds or an ISO 8601 string.
fn observed_at(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if is_date_time(s) => Some(s.clone()),
        other => time(other).map(iso),
    }
}

/// The attribute's value by its kind. Attribute types of the NGSIv2 API (`Number`,
/// `Text`, `DateTime`, ...) are Properties, `geo:json` a GeoProperty.
fn value(kind: &str, doc: &Map<String, Value>) -> Result<AttributeValue, String> {
    let member = |names: &[&str]| names.iter().find_map(|n| doc.get(*n)).cloned();
    let value = member(&["value"]);
    Ok(match kind {
        "Relationship" => AttributeValue::Relationship {
            object: member(&["object", "value"])
                .filter(is_object)
                .ok_or("no URI object")?,
            object_type: member(&["objectType"]),
        },
        "GeoProperty" | "geo:json" => {
            let g = value.ok_or("no value")?;
            check_geometry(&g)?;
            AttributeValue::GeoProperty(g)
        }
        "LanguageProperty" => match member(&["languageMap", "value"]) {
            Some(Value::Object(map)) => AttributeValue::LanguageProperty(map),
            _ => return Err("no language map".into()),
        },
        "VocabProperty" => {
            AttributeValue::VocabProperty(member(&["vocab", "value"]).ok_or("no vocab")?)
        }
        "JsonProperty" => {
            AttributeValue::JsonProperty(member(&["json", "value"]).ok_or("no json")?)
        }
        "ListProperty" => match member(&["valueList", "value"]) {
            Some(Value::Array(list)) => AttributeValue::ListProperty(list),
            _ => return Err("no value list".into()),
        },
        "ListRelationship" => match member(&["objectList", "value"]) {
            Some(Value::Array(list)) => AttributeValue::ListRelationship {
                object_list: list.iter().filter_map(text).collect(),
                object_type: member(&["objectType"]),
            },
            _ => return Err("no object list".into()),
        },
        _ => match value {
            None | Some(Value::Null) => return Err("no value".into()),
            Some(v) => AttributeValue::Property(v),
        },
    })
}

/// A Relationship's object: a URI, or an array of URIs.
fn is_object(v: &Value) -> bool {
    match v {
        Value::String(s) => is_uri(s),
        Value::Array(list) => {
            !list.is_empty() && list.iter().all(|v| v.as_str().is_some_and(is_uri))
        }
        _ => false,
    }
}
