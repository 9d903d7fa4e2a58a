//! The temporal representations written straight to JSON bytes, for response bodies.
//!
//! [`write_history`] writes exactly the bytes of `serde_json::to_vec(&render_history(..))`
//! for the normalized and simplified representations without building a
//! `serde_json::Value` per instance (an object per instance was most of a lastN retrieval);
//! an aggregation, a few values per period, goes through `render_history`. The tests
//! compare the two.

use std::collections::BTreeSet;

use rigel_broker::temporal::{EntityHistory, HistoryHeader, HistoryInstance, TimeProperty};
use rigel_model::codec::render::{format_time, RenderOptions};
use rigel_model::codec::write::{json, one_or_many, text, write_instance, JsonValue, Obj};
use rigel_model::TermMap;

use super::{render_history, simplified_payload, Shape, TemporalParams};

/// Appends one entity's history as a JSON object (without `@context`); returns whether it
/// has no member.
pub fn write_history(
    out: &mut Vec<u8>,
    history: EntityHistory,
    params: &TemporalParams,
    terms: &dyn TermMap,
    opts: &RenderOptions,
) -> bool {
    if let Shape::Aggregated { .. } = params.shape {
        let rendered = render_history(history, params, terms, opts);
        json(out, &rendered);
        return rendered.is_empty();
    }
    let mut obj = Obj::open(out);
    header_members(&mut obj, &history.header, terms, opts);
    for (name, instances) in &history.attributes {
        if !opts.projection.keeps(name) {
            continue;
        }
        let out = obj.key(&terms.compact(name));
        match &params.shape {
            Shape::Simplified => per_dataset(out, instances, |out, group| {
                simplified(out, group, params.history.property, terms)
            }),
            _ => normalized(out, instances, terms, opts),
        }
    }
    system_members(&mut obj, &history.header, opts);
    obj.close()
}

/// `id` and `type`, as `super::header_members`.
fn header_members(obj: &mut Obj, h: &HistoryHeader, terms: &dyn TermMap, opts: &RenderOptions) {
    let p = &opts.projection;
    if !p.drop_id {
        obj.key("id").text(&h.id);
    }
    if !p.drop_type {
        one_or_many(obj.key("type"), &h.types, |out, t| {
            json(out, &terms.compact(t))
        });
    }
}

/// `createdAt`, `modifiedAt` and `deletedAt`, as `super::system_members`.
fn system_members(obj: &mut Obj, h: &HistoryHeader, opts: &RenderOptions) {
    if opts.sys_attrs {
        obj.key("createdAt").json(&format_time(&h.created_at));
        obj.key("modifiedAt").json(&format_time(&h.modified_at));
        if let Some(t) = &h.deleted_at {
            obj.key("deletedAt").json(&format_time(t));
        }
    }
}

/// Each instance as an attribute with its `instanceId` (and `deletedAt`).
fn normalized(
    out: &mut Vec<u8>,
    instances: &[HistoryInstance],
    terms: &dyn TermMap,
    opts: &RenderOptions,
) {
    out.push(b'[');
    for (n, i) in instances.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let deleted = i.deleted_at.as_ref().map(format_time);
        let mut extra = [("instanceId", i.instance_id.as_str()), ("deletedAt", "")];
        let extra = match &deleted {
            Some(t) => {
                extra[1].1 = t;
                &extra[..]
            }
            None => &extra[..1],
        };
        write_instance(out, &i.value, extra, terms, opts);
    }
    out.push(b']');
}

/// One object per dataset (with its `datasetId`), the default first; a single object when
/// there is one dataset. As `super::per_dataset`.
fn per_dataset(
    out: &mut Vec<u8>,
    instances: &[HistoryInstance],
    write: impl Fn(&mut Obj, &[&HistoryInstance]),
) {
    fn dataset(i: &HistoryInstance) -> Option<&str> {
        i.value.dataset_id.as_deref()
    }
    let first = instances.first().and_then(dataset);
    let one = |out: &mut Vec<u8>, group: &[&HistoryInstance], d: Option<&str>| {
        let mut obj = Obj::open(out);
        write(&mut obj, group);
        if let Some(d) = d {
            obj.key("datasetId").json(d);
        }
        obj.close();
    };
    if instances.iter().all(|i| dataset(i) == first) {
        let all: Vec<&HistoryInstance> = instances.iter().collect();
        one(out, &all, first);
        return;
    }
    let datasets: BTreeSet<Option<&str>> = instances.iter().map(dataset).collect();
    out.push(b'[');
    for (n, d) in datasets.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let group: Vec<&HistoryInstance> = instances.iter().filter(|i| dataset(i) == d).collect();
        one(out, &group, d);
    }
    out.push(b']');
}

/// `type` and the `[value, time]` pairs of the simplified representation (4.5.9).
fn simplified(
    obj: &mut Obj,
    instances: &[&HistoryInstance],
    property: TimeProperty,
    terms: &dyn TermMap,
) {
    let kind = instances
        .first()
        .map_or("Property", |i| i.value.value.type_name());
    obj.key("type").text(kind);
    let member = instances
        .last()
        .map_or("values", |i| simplified_payload(&i.value.value, terms).0);
    let out = obj.key(member);
    out.push(b'[');
    for (n, i) in instances.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.push(b'[');
        json(out, &simplified_payload(&i.value.value, terms).1);
        out.push(b',');
        match (property, &i.value.observed_at) {
            (TimeProperty::ObservedAt, Some(t)) => text(out, t),
            (TimeProperty::ObservedAt, None) => out.extend_from_slice(b"null"),
            (other, _) => match other.of(i) {
                Some(t) => text(out, &format_time(&t)),
                None => out.extend_from_slice(b"null"),
            },
        }
        out.push(b']');
    }
    out.push(b']');
}

#[cfg(test)]
mod tests;
