//! Entity rendering written straight to JSON bytes, for response bodies.
//!
//! [`write_entity`] writes exactly the bytes of `serde_json::to_vec(&render_entity(..))`
//! (same members, same order, same values) without building the `serde_json::Value` tree
//! first: that tree (an `IndexMap` per attribute, every value cloned) was the largest cost of
//! a retrieve. The `render` module stays the reference (and serves callers that edit the
//! rendering); the tests compare the two for every format and option.
//!
//! One difference by construction: were two attribute IRIs compacted to the same name (a
//! pathological @context), the tree keeps the last one and this writer writes both.

use serde::Serialize;
use serde_json::Value;

use super::render::{concise_value_is_unambiguous, format_time, Format, RenderOptions};
use crate::{Attribute, AttributeValue, Entity, TermMap, SCOPE_IRI};

/// Appends the rendering of `entity` as a JSON object; returns whether it has no member (a
/// projection that leaves nothing).
pub fn write_entity(
    out: &mut Vec<u8>,
    entity: &Entity,
    terms: &dyn TermMap,
    opts: &RenderOptions,
) -> bool {
    let mut obj = Obj::open(out);
    let p = &opts.projection;
    if !p.drop_id {
        obj.key("id").json(&entity.id);
    }
    if !p.drop_type {
        let out = obj.key("type");
        one_or_many(out, &entity.types, |out, t| json(out, &terms.compact(t)));
    }
    if let Some(scope) = &entity.scope {
        if p.keeps(SCOPE_IRI) {
            let out = obj.key("scope");
            one_or_many(out, scope, json);
        }
    }
    for (name, instances) in &entity.attributes {
        if instances.is_empty() || !p.keeps(name) {
            continue;
        }
        let out = obj.key(&terms.compact(name));
        write_instances(out, instances, terms, opts);
    }
    if opts.sys_attrs && opts.format != Format::KeyValues {
        obj.key("createdAt").json(&format_time(&entity.created_at));
        obj.key("modifiedAt")
            .json(&format_time(&entity.modified_at));
    }
    obj.close()
}

fn write_instances(
    out: &mut Vec<u8>,
    instances: &[Attribute],
    terms: &dyn TermMap,
    opts: &RenderOptions,
) {
    if opts.format == Format::KeyValues {
        if let [only] = instances {
            if only.dataset_id.is_none() {
                write_simplified(out, only, terms, opts);
                return;
            }
        }
        let mut outer = Obj::open(out);
        let mut dataset = Obj::open(outer.key("dataset"));
        for a in instances {
            let key = a.dataset_id.as_deref().unwrap_or("@none");
            write_simplified(dataset.key(key), a, terms, opts);
        }
        dataset.close();
        outer.close();
        return;
    }
    if let [only] = instances {
        write_attribute(out, only, terms, opts);
        return;
    }
    out.push(b'[');
    for (i, a) in instances.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_attribute(out, a, terms, opts);
    }
    out.push(b']');
}

/// One attribute instance in normalized or concise form (see `render::render_attribute`).
fn write_attribute(out: &mut Vec<u8>, a: &Attribute, terms: &dyn TermMap, opts: &RenderOptions) {
    write_instance(out, a, &[], terms, opts);
}

/// One attribute instance followed by `extra` string members (a temporal instance's
/// `instanceId` and `deletedAt`): the bytes of `render_attribute` with those members
/// inserted at its end. A concise instance written as its bare value takes no member.
pub fn write_instance(
    out: &mut Vec<u8>,
    a: &Attribute,
    extra: &[(&str, &str)],
    terms: &dyn TermMap,
    opts: &RenderOptions,
) {
    let concise = opts.format == Format::Concise;
    let has_metadata = a.dataset_id.is_some()
        || a.observed_at.is_some()
        || a.unit_code.is_some()
        || a.value_type.is_some()
        || a.expires_at.is_some();
    let chosen_lang = match (&a.value, &opts.lang) {
        (AttributeValue::LanguageProperty(map), Some(pref)) => Some(pref.choose(map)),
        _ => None,
    };
    let kind = if chosen_lang.is_some() {
        "Property"
    } else {
        a.value.type_name()
    };
    if concise
        && !opts.sys_attrs
        && !has_metadata
        && a.sub_attributes.is_empty()
        && matches!(kind, "Property" | "GeoProperty")
    {
        if let AttributeValue::Property(v) | AttributeValue::GeoProperty(v) = &a.value {
            if concise_value_is_unambiguous(v, kind) {
                json(out, v);
                return;
            }
        }
    }
    let mut obj = Obj::open(out);
    if !concise {
        obj.key("type").text(kind);
    }
    match &a.value {
        AttributeValue::Property(v) | AttributeValue::GeoProperty(v) => {
            obj.key("value").json(v);
        }
        AttributeValue::Relationship {
            object,
            object_type,
        } => {
            obj.key("object").json(object);
            if let Some(t) = object_type {
                compact_value(obj.key("objectType"), t, terms);
            }
        }
        AttributeValue::LanguageProperty(map) => match chosen_lang {
            Some(Some((tag, text))) => {
                obj.key("value").json(text);
                obj.key("lang").json(tag);
            }
            Some(None) => {}
            None => {
                obj.key("languageMap").json(map);
            }
        },
        AttributeValue::VocabProperty(v) => compact_value(obj.key("vocab"), v, terms),
        AttributeValue::JsonProperty(v) => {
            obj.key("json").json(v);
        }
        AttributeValue::ListProperty(items) => {
            obj.key("valueList").json(items);
        }
        AttributeValue::ListRelationship {
            object_list,
            object_type,
        } => {
            let out = obj.key("objectList");
            out.push(b'[');
            for (i, o) in object_list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"object\":");
                json(out, o);
                out.push(b'}');
            }
            out.push(b']');
            if let Some(t) = object_type {
                compact_value(obj.key("objectType"), t, terms);
            }
        }
    }
    for (k, v) in [
        ("datasetId", &a.dataset_id),
        ("observedAt", &a.observed_at),
        ("unitCode", &a.unit_code),
        ("valueType", &a.value_type),
        ("expiresAt", &a.expires_at),
    ] {
        if let Some(v) = v {
            obj.key(k).text(v);
        }
    }
    if opts.sys_attrs {
        if let Some(t) = &a.created_at {
            obj.key("createdAt").text(&format_time(t));
        }
        if let Some(t) = &a.modified_at {
            obj.key("modifiedAt").text(&format_time(t));
        }
    }
    for (name, sub) in &a.sub_attributes {
        write_attribute(obj.key(&terms.compact(name)), sub, terms, opts);
    }
    for (k, v) in extra {
        obj.key(k).text(v);
    }
    obj.close();
}

/// The keyValues form of one instance (see `render::simplified`).
fn write_simplified(out: &mut Vec<u8>, a: &Attribute, terms: &dyn TermMap, opts: &RenderOptions) {
    match &a.value {
        AttributeValue::Property(v) | AttributeValue::GeoProperty(v) => json(out, v),
        AttributeValue::Relationship { object, .. } => json(out, object),
        AttributeValue::LanguageProperty(map) => match &opts.lang {
            Some(pref) => match pref.choose(map) {
                Some((_, text)) => json(out, text),
                None => out.extend_from_slice(b"null"),
            },
            None => {
                let mut obj = Obj::open(out);
                obj.key("languageMap").json(map);
                obj.close();
            }
        },
        AttributeValue::VocabProperty(v) => {
            let mut obj = Obj::open(out);
            compact_value(obj.key("vocab"), v, terms);
            obj.close();
        }
        AttributeValue::JsonProperty(v) => {
            let mut obj = Obj::open(out);
            obj.key("json").json(v);
            obj.close();
        }
        AttributeValue::ListProperty(items) => json(out, items),
        AttributeValue::ListRelationship { object_list, .. } => json(out, object_list),
    }
}

/// Vocabulary values: strings (also inside arrays) compacted, anything else as is.
fn compact_value(out: &mut Vec<u8>, v: &Value, terms: &dyn TermMap) {
    match v {
        Value::String(s) => json(out, &terms.compact(s)),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                compact_value(out, item, terms);
            }
            out.push(b']');
        }
        other => json(out, other),
    }
}

/// One item alone, several as an array.
pub fn one_or_many<T>(out: &mut Vec<u8>, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
    if let [only] = items {
        write(out, only);
        return;
    }
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

/// Serializes a value into the buffer. Serializing strings, `Value`s and the model's maps
/// into a `Vec` cannot fail (no I/O, string keys only), so the result is not inspected.
pub fn json<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Writes a JSON string: the bytes of `json(out, s)`, copied at once when nothing in `s`
/// needs an escape (names, times, ids: most strings of a response).
pub fn text(out: &mut Vec<u8>, s: &str) {
    // A fold without early exit, which the compiler vectorizes; the strings are short.
    let escaped = s
        .bytes()
        .fold(false, |e, b| e | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if !escaped {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        json(out, s);
    }
}

/// An object being written: tracks whether a member needs a separating comma.
pub struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    pub fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes a member name and hands back the buffer for its value.
    pub fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        text(self.out, name);
        self.out.push(b':');
        self.out
    }

    /// Closes the object; true when it had no member.
    pub fn close(self) -> bool {
        self.out.push(b'}');
        self.empty
    }
}

/// `json` and `text` on the buffer a member name was written to, for one-line members.
pub trait JsonValue {
    fn json<T: Serialize + ?Sized>(self, v: &T);
    fn text(self, s: &str);
}

impl JsonValue for &mut Vec<u8> {
    fn json<T: Serialize + ?Sized>(self, v: &T) {
        json(self, v);
    }

    fn text(self, s: &str) {
        text(self, s);
    }
}

#[cfg(test)]
mod tests;
