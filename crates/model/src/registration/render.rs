//! Writing a Context Source Registration as NGSI-LD JSON (clause 5.2.9), compacted with a
//! @context.
//!
//! Members read back as the client wrote them (`expiresAt`, `scope`, geometries, values of
//! Context Source Properties); names are compacted. `mode` is always shown, so a reader sees
//! how the source is used; `operations` when it was given. The forwarding status members
//! (Table 5.2.9-2) appear once a request was forwarded.

use serde_json::{json, Map, Value};

use super::{EntityInfo, ManagementInfo, Registration, RegistrationInfo, TimeInterval};
use crate::codec::render::format_time;
use crate::TermMap;

/// The registration's `type` member.
const REGISTRATION: &str = "ContextSourceRegistration";

/// The registration as NGSI-LD JSON, names compacted with `terms`; `createdAt` and
/// `modifiedAt` only when `sys_attrs`. No `@context` member (the HTTP layer adds it).
pub fn render_registration(
    reg: &Registration,
    terms: &dyn TermMap,
    sys_attrs: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(reg.id));
    out.insert("type".into(), json!(REGISTRATION));
    let mut text = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            out.insert(name.into(), json!(v));
        }
    };
    text("registrationName", &reg.registration_name);
    text("description", &reg.description);
    text("tenant", &reg.tenant);
    text("contextSourceAlias", &reg.context_source_alias);
    text("expiresAt", &reg.expires_at_text);
    text("refreshRate", &reg.refresh_rate);
    out.insert(
        "information".into(),
        Value::Array(
            reg.information
                .iter()
                .map(|i| information(i, terms))
                .collect(),
        ),
    );
    out.insert("endpoint".into(), json!(reg.endpoint));
    out.insert("mode".into(), json!(reg.mode().as_str()));
    if let Some(ops) = &reg.operations {
        out.insert("operations".into(), json!(ops));
    }
    for (name, v) in [
        ("observationInterval", &reg.observation_interval),
        ("managementInterval", &reg.management_interval),
    ] {
        if let Some(i) = v {
            out.insert(name.into(), interval(i));
        }
    }
    for (name, v) in [
        ("location", &reg.location),
        ("observationSpace", &reg.observation_space),
        ("operationSpace", &reg.operation_space),
        ("scope", &reg.scope),
    ] {
        if let Some(v) = v {
            out.insert(name.into(), v.clone());
        }
    }
    if let Some(pairs) = &reg.context_source_info {
        let pairs = pairs
            .iter()
            .map(|p| json!({"key": p.key, "value": p.value}))
            .collect();
        out.insert("contextSourceInfo".into(), Value::Array(pairs));
    }
    if let Some(m) = &reg.management {
        out.insert("management".into(), management(m));
    }
    if let Some(ids) = &reg.dataset_id {
        out.insert("datasetId".into(), json!(ids));
    }
    for (iri, v) in &reg.properties {
        out.insert(terms.compact(iri).into_owned(), v.clone());
    }
    let status = &reg.status;
    if status.times_sent > 0 {
        let failed_last = match (status.last_failure, status.last_success) {
            (Some(f), Some(s)) => f > s,
            (Some(_), None) => true,
            _ => false,
        };
        out.insert(
            "status".into(),
            json!(if failed_last { "failed" } else { "ok" }),
        );
        out.insert("timesSent".into(), json!(status.times_sent));
    }
    if status.times_failed > 0 {
        out.insert("timesFailed".into(), json!(status.times_failed));
    }
    for (name, at) in [
        ("lastSuccess", status.last_success),
        ("lastFailure", status.last_failure),
    ] {
        if let Some(at) = at {
            out.insert(name.into(), json!(format_time(&at)));
        }
    }
    if sys_attrs {
        out.insert("createdAt".into(), json!(format_time(&reg.created_at)));
        out.insert("modifiedAt".into(), json!(format_time(&reg.modified_at)));
    }
    out
}

fn information(info: &RegistrationInfo, terms: &dyn TermMap) -> Value {
    let mut out = Map::new();
    if let Some(entities) = &info.entities {
        let entities = entities.iter().map(|e| entity(e, terms)).collect();
        out.insert("entities".into(), Value::Array(entities));
    }
    let compacted = |names: &Vec<String>| -> Value {
        names
            .iter()
            .map(|n| Value::String(terms.compact(n).into_owned()))
            .collect()
    };
    if let Some(names) = &info.property_names {
        out.insert("propertyNames".into(), compacted(names));
    }
    if let Some(names) = &info.relationship_names {
        out.insert("relationshipNames".into(), compacted(names));
    }
    Value::Object(out)
}

fn entity(e: &EntityInfo, terms: &dyn TermMap) -> Value {
    let mut out = Map::new();
    if let Some(id) = &e.id {
        out.insert("id".into(), json!(id));
    }
    if let Some(p) = &e.id_pattern {
        out.insert("idPattern".into(), json!(p));
    }
    let types: Vec<Value> = e
        .types
        .iter()
        .map(|t| Value::String(terms.compact(t).into_owned()))
        .collect();
    let ty = match types.as_slice() {
        [one] if !e.type_list => one.clone(),
        _ => Value::Array(types),
    };
    out.insert("type".into(), ty);
    Value::Object(out)
}

/// A number as written: whole numbers without a fraction.
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn interval(i: &TimeInterval) -> Value {
    let mut out = Map::new();
    out.insert("startAt".into(), json!(i.start_text));
    if let Some(end) = &i.end_text {
        out.insert("endAt".into(), json!(end));
    }
    Value::Object(out)
}

fn management(m: &ManagementInfo) -> Value {
    let mut out = Map::new();
    if let Some(v) = m.local_only {
        out.insert("localOnly".into(), json!(v));
    }
    if let Some(v) = m.timeout {
        out.insert("timeout".into(), number(v));
    }
    if let Some(v) = m.cooldown {
        out.insert("cooldown".into(), number(v));
    }
    if let Some(v) = &m.cache_duration {
        out.insert("cacheDuration".into(), json!(v));
    }
    Value::Object(out)
}
