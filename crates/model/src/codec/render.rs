//! Rendering of typed entities as NGSI-LD JSON: normalized, concise, keyValues, GeoJSON.
//!
//! Names are compacted through a [`TermMap`] (the request's @context).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::{Attribute, AttributeValue, Entity, TermMap};

/// The output representation (clause 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Format {
    #[default]
    Normalized,
    Concise,
    KeyValues,
}

/// Which members of an entity to keep (from `attrs`, `pick` and `omit`); names are IRIs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    /// Attributes to keep; `None` keeps every attribute.
    pub keep: Option<HashSet<String>>,
    /// Attributes to drop.
    pub drop: HashSet<String>,
    pub drop_id: bool,
    pub drop_type: bool,
    /// Projections of the entities linked through a relationship (by its IRI), for linked
    /// entity retrieval (`pick=rel{id,name}`).
    pub nested: BTreeMap<String, Projection>,
}

impl Projection {
    pub fn keeps(&self, attr: &str) -> bool {
        !self.drop.contains(attr) && self.keep.as_ref().is_none_or(|k| k.contains(attr))
    }

    /// The projection of entities linked through `attr`: keep everything unless stated.
    pub fn nested(&self, attr: &str) -> Projection {
        self.nested.get(attr).cloned().unwrap_or_default()
    }
}

/// Language preferences from the `lang` parameter (clause 4.15), in order of preference.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LangPreference {
    tags: Vec<String>,
}

impl LangPreference {
    /// Parses `en,fr;q=0.5,*` style lists; weights order the tags.
    pub fn parse(s: &str) -> Self {
        let mut weighted: Vec<(f32, usize, String)> = s
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                if tag.is_empty() {
                    return None;
                }
                let q = pieces
                    .find_map(|p| {
                        p.trim()
                            .strip_prefix("q=")
                            .and_then(|q| q.parse::<f32>().ok())
                    })
                    .unwrap_or(1.0);
                Some((q, i, tag.to_owned()))
            })
            .collect();
        weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Self {
            tags: weighted.into_iter().map(|(_, _, t)| t).collect(),
        }
    }

    /// Picks the best entry of a language map: a preferred tag, its primary subtag, `*` (any),
    /// then `@none`, then the first entry.
    pub fn choose<'a>(&self, map: &'a Map<String, Value>) -> Option<(&'a str, &'a Value)> {
        for tag in &self.tags {
            if tag == "*" {
                return map.iter().next().map(|(k, v)| (k.as_str(), v));
            }
            if let Some((k, v)) = map.get_key_value(tag.as_str()) {
                return Some((k.as_str(), v));
            }
            let primary = tag.split('-').next().unwrap_or(tag);
            if let Some((k, v)) = map.iter().find(|(k, _)| {
                k.split('-')
                    .next()
                    .is_some_and(|p| p.eq_ignore_ascii_case(primary))
            }) {
                return Some((k.as_str(), v));
            }
        }
        map.get_key_value("@none")
            .or_else(|| map.iter().next())
            .map(|(k, v)| (k.as_str(), v))
    }
}

/// How to render an entity.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub format: Format,
    pub sys_attrs: bool,
    pub lang: Option<LangPreference>,
    pub projection: Projection,
}

/// NGSI-LD's date-time format for system attributes.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Renders an entity (without `@context`; the HTTP layer adds it).
pub fn render_entity(
    entity: &Entity,
    terms: &dyn TermMap,
    opts: &RenderOptions,
) -> Map<String, Value> {
    let mut out = Map::new();
    let p = &opts.projection;
    if !p.drop_id {
        out.insert("id".into(), Value::String(entity.id.clone()));
    }
    if !p.drop_type {
        out.insert("type".into(), compact_list(&entity.types, terms));
    }
    if let Some(scope) = &entity.scope {
        if p.keeps(crate::SCOPE_IRI) {
            out.insert(
                "scope".into(),
                one_or_many(scope.iter().cloned().map(Value::String).collect()),
            );
        }
    }
    for (name, instances) in &entity.attributes {
        if instances.is_empty() || !p.keeps(name) {
            continue;
        }
        out.insert(
            terms.compact(name).into_owned(),
            render_instances(instances, terms, opts),
        );
    }
    if opts.sys_attrs && opts.format != Format::KeyValues {
        insert_entity_times(&mut out, entity);
    }
    out
}

/// Whether [`render_entity`] would render no member at all (a projection that leaves
/// nothing), without rendering.
pub fn renders_nothing(entity: &Entity, opts: &RenderOptions) -> bool {
    let p = &opts.projection;
    p.drop_id
        && p.drop_type
        && !(entity.scope.is_some() && p.keeps(crate::SCOPE_IRI))
        && !entity
            .attributes
            .iter()
            .any(|(name, instances)| !instances.is_empty() && p.keeps(name))
        && !(opts.sys_attrs && opts.format != Format::KeyValues)
}

/// Adds the entity's `createdAt` and `modifiedAt` system attributes to its rendering.
pub fn insert_entity_times(out: &mut Map<String, Value>, entity: &Entity) {
    out.insert(
        "createdAt".into(),
        Value::String(format_time(&entity.created_at)),
    );
    out.insert(
        "modifiedAt".into(),
        Value::String(format_time(&entity.modified_at)),
    );
}

/// Renders all instances of one attribute: one object, or an array for several.
pub fn render_instances(
    instances: &[Attribute],
    terms: &dyn TermMap,
    opts: &RenderOptions,
) -> Value {
    if opts.format == Format::KeyValues {
        if instances.len() == 1 && instances[0].dataset_id.is_none() {
            return simplified(&instances[0], terms, opts);
        }
        let dataset: Map<String, Value> = instances
            .iter()
            .map(|a| {
                (
                    a.dataset_id.clone().unwrap_or_else(|| "@none".into()),
                    simplified(a, terms, opts),
                )
            })
            .collect();
        return json!({ "dataset": dataset });
    }
    let mut rendered: Vec<Value> = instances
        .iter()
        .map(|a| render_attribute(a, terms, opts))
        .collect();
    if rendered.len() == 1 {
        rendered.swap_remove(0)
    } else {
        Value::Array(rendered)
    }
}

/// Renders one attribute instance in normalized or concise form.
pub fn render_attribute(a: &Attribute, terms: &dyn TermMap, opts: &RenderOptions) -> Value {
    let concise = opts.format == Format::Concise;
    let mut m = Map::new();
    let mut kind = a.value.type_name();
    match &a.value {
        AttributeValue::Property(v) | AttributeValue::GeoProperty(v) => {
            m.insert("value".into(), v.clone());
        }
        AttributeValue::Relationship {
            object,
            object_type,
        } => {
            m.insert("object".into(), object.clone());
            if let Some(t) = object_type {
                m.insert("objectType".into(), compact_value(t, terms));
            }
        }
        AttributeValue::LanguageProperty(map) => match &opts.lang {
            Some(pref) => {
                kind = "Property";
                if let Some((tag, text)) = pref.choose(map) {
                    m.insert("value".into(), text.clone());
                    m.insert("lang".into(), Value::String(tag.to_owned()));
                }
            }
            None => {
                m.insert("languageMap".into(), Value::Object(map.clone()));
            }
        },
        AttributeValue::VocabProperty(v) => {
            m.insert("vocab".into(), compact_value(v, terms));
        }
        AttributeValue::JsonProperty(v) => {
            m.insert("json".into(), v.clone());
        }
        AttributeValue::ListProperty(items) => {
            m.insert("valueList".into(), Value::Array(items.clone()));
        }
        AttributeValue::ListRelationship {
            object_list,
            object_type,
        } => {
            let list = object_list.iter().map(|o| json!({ "object": o })).collect();
            m.insert("objectList".into(), Value::Array(list));
            if let Some(t) = object_type {
                m.insert("objectType".into(), compact_value(t, terms));
            }
        }
    }
    let metadata = [
        ("datasetId", &a.dataset_id),
        ("observedAt", &a.observed_at),
        ("unitCode", &a.unit_code),
        ("valueType", &a.value_type),
        ("expiresAt", &a.expires_at),
    ];
    let mut has_metadata = false;
    for (k, v) in metadata {
        if let Some(v) = v {
            has_metadata = true;
            m.insert(k.into(), Value::String(v.clone()));
        }
    }
    if opts.sys_attrs {
        if let Some(t) = &a.created_at {
            m.insert("createdAt".into(), Value::String(format_time(t)));
        }
        if let Some(t) = &a.modified_at {
            m.insert("modifiedAt".into(), Value::String(format_time(t)));
        }
    }
    for (name, sub) in &a.sub_attributes {
        m.insert(
            terms.compact(name).into_owned(),
            render_attribute(sub, terms, opts),
        );
    }
    if concise {
        let bare = !opts.sys_attrs && !has_metadata && a.sub_attributes.is_empty() && m.len() == 1;
        if bare && matches!(kind, "Property" | "GeoProperty") {
            if let Some(v) = m.get("value") {
                if concise_value_is_unambiguous(v, kind) {
                    return v.clone();
                }
            }
        }
        return Value::Object(m);
    }
    let mut out = Map::with_capacity(m.len() + 1);
    out.insert("type".into(), Value::String(kind.into()));
    out.extend(m);
    Value::Object(out)
}

/// A bare concise value must not be read back as something else.
pub(crate) fn concise_value_is_unambiguous(v: &Value, kind: &str) -> bool {
    match v {
        Value::Object(o) => kind == "GeoProperty" || !o.contains_key("type"),
        Value::Array(a) => !a.iter().any(Value::is_object),
        Value::Null => false,
        _ => true,
    }
}

fn simplified(a: &Attribute, terms: &dyn TermMap, opts: &RenderOptions) -> Value {
    match &a.value {
        AttributeValue::Property(v) | AttributeValue::GeoProperty(v) => v.clone(),
        AttributeValue::Relationship { object, .. } => object.clone(),
        AttributeValue::LanguageProperty(map) => match &opts.lang {
            Some(pref) => pref
                .choose(map)
                .map(|(_, t)| t.clone())
                .unwrap_or(Value::Null),
            None => json!({ "languageMap": map }),
        },
        AttributeValue::VocabProperty(v) => json!({ "vocab": compact_value(v, terms) }),
        AttributeValue::JsonProperty(v) => json!({ "json": v }),
        AttributeValue::ListProperty(items) => Value::Array(items.clone()),
        AttributeValue::ListRelationship { object_list, .. } => {
            Value::Array(object_list.iter().cloned().map(Value::String).collect())
        }
    }
}

/// Renders an entity as a GeoJSON Feature (clause 4.5.16) using `geometry_property` (IRI).
pub fn render_feature(
    entity: &Entity,
    terms: &dyn TermMap,
    opts: &RenderOptions,
    geometry_property: &str,
) -> Map<String, Value> {
    let geometry = entity
        .instances(geometry_property)
        .iter()
        .find_map(|a| match &a.value {
            AttributeValue::GeoProperty(v) => Some(v.clone()),
            _ => None,
        })
        .unwrap_or(Value::Null);
    let mut properties = render_entity(entity, terms, opts);
    let id = properties
        .remove("id")
        .unwrap_or(Value::String(entity.id.clone()));
    let mut feature = Map::new();
    feature.insert("id".into(), id);
    feature.insert("type".into(), Value::String("Feature".into()));
    feature.insert("geometry".into(), geometry);
    feature.insert("properties".into(), Value::Object(properties));
    feature
}

fn compact_list(iris: &[String], terms: &dyn TermMap) -> Value {
    one_or_many(
        iris.iter()
            .map(|t| Value::String(terms.compact(t).into_owned()))
            .collect(),
    )
}

fn compact_value(v: &Value, terms: &dyn TermMap) -> Value {
    match v {
        Value::String(s) => Value::String(terms.compact(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(|i| compact_value(i, terms)).collect()),
        other => other.clone(),
    }
}

fn one_or_many(mut items: Vec<Value>) -> Value {
    if items.len() == 1 {
        items.swap_remove(0)
    } else {
        Value::Array(items)
    }
}
