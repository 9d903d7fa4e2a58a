//! Writing a Subscription as NGSI-LD JSON (clause 5.2.12), compacted with a @context.
//!
//! Members holding their default are left out where the spec gives the default (`isActive`,
//! `sysAttrs`, `showChanges`, `join`), except `notificationTrigger`, `format` and `accept`,
//! which are always shown so a reader sees what the subscription does. A Context Source
//! Registration Subscription has no `notificationTrigger`, and shows `jsonldContext` only
//! when the client wrote it. Counters appear once
//! they are greater than 0 (clause 5.2.14.2).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use super::{
    DeliveryOutcome, Endpoint, Join, KeyValuePair, NotificationParams, SubscribedEntities,
    Subscription, SubscriptionGeoQuery, SubscriptionKind, SubscriptionTemporalQuery,
    DEFAULT_TRIGGERS,
};
use crate::codec::render::{format_time, Format};
use crate::TermMap;

/// The subscription as NGSI-LD JSON: the members of clause 5.2.12, its `status`
/// (from [`Subscription::status`] at `now`) and the notification status members of
/// clause 5.2.14.2. Names are compacted with `terms`; `createdAt`/`modifiedAt` only when
/// `sys_attrs`. No `@context` member (the HTTP layer adds it or a Link header).
pub fn render_subscription(
    sub: &Subscription,
    terms: &dyn TermMap,
    now: DateTime<Utc>,
    sys_attrs: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(sub.id.clone()));
    out.insert("type".into(), Value::String("Subscription".into()));
    put_str(&mut out, "subscriptionName", &sub.subscription_name);
    put_str(&mut out, "description", &sub.description);
    if !sub.entities.is_empty() {
        let entities = sub
            .entities
            .iter()
            .map(|e| entity_selector(e, &sub.terms, terms))
            .collect();
        out.insert("entities".into(), Value::Array(entities));
    }
    if let Some(watched) = &sub.watched_attributes {
        out.insert("watchedAttributes".into(), compacted(watched, terms));
    }
    let registrations = sub.kind == SubscriptionKind::Registrations;
    if !registrations {
        let triggers = sub
            .notification_trigger
            .as_deref()
            .unwrap_or(&DEFAULT_TRIGGERS)
            .iter()
            .map(|t| Value::String(t.name().into()))
            .collect();
        out.insert("notificationTrigger".into(), Value::Array(triggers));
    }
    put_str(&mut out, "q", &sub.q);
    if let Some(geo) = &sub.geo_q {
        out.insert("geoQ".into(), Value::Object(geo_query(geo, terms)));
    }
    put_str(&mut out, "scopeQ", &sub.scope_q);
    if let Some(temporal) = &sub.temporal_q {
        out.insert("temporalQ".into(), Value::Object(temporal_query(temporal)));
    }
    put_str(&mut out, "lang", &sub.lang);
    if let Some(ids) = &sub.dataset_id {
        out.insert("datasetId".into(), strings(ids));
    }
    put_str(&mut out, "expandValues", &sub.expand_values);
    put_str(&mut out, "jsonKeys", &sub.json_keys);
    put_str(&mut out, "csf", &sub.csf);
    if let Some(local) = sub.local_only {
        out.insert("localOnly".into(), Value::Bool(local));
    }
    if let Some(split) = sub.split_entities {
        out.insert("splitEntities".into(), Value::Bool(split));
    }
    put_str(&mut out, "ngsildConformance", &sub.ngsild_conformance);
    put_time(&mut out, "expiresAt", &sub.expires_at);
    if !sub.is_active {
        out.insert("isActive".into(), Value::Bool(false));
    }
    put_number(&mut out, "throttling", sub.throttling);
    put_number(&mut out, "timeInterval", sub.time_interval);
    // A registration subscription reads back as written; an entity subscription always
    // shows the @context its notifications use.
    if !registrations || sub.jsonld_context_written {
        out.insert(
            "jsonldContext".into(),
            Value::String(sub.jsonld_context.clone()),
        );
    }
    out.insert(
        "notification".into(),
        Value::Object(notification(sub, terms)),
    );
    out.insert(
        "status".into(),
        Value::String(sub.status(now).name().into()),
    );
    if sys_attrs {
        put_time(&mut out, "createdAt", &Some(sub.created_at));
        put_time(&mut out, "modifiedAt", &Some(sub.modified_at));
    }
    out
}

/// `temporalQ` as written.
fn temporal_query(t: &SubscriptionTemporalQuery) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("timerel".into(), Value::String(t.timerel.clone()));
    out.insert("timeAt".into(), Value::String(t.time_at_text.clone()));
    put_str(&mut out, "endTimeAt", &t.end_time_at_text);
    put_str(&mut out, "timeproperty", &t.timeproperty);
    out
}

/// The name of a representation format in `notification.format`.
fn format_name(format: Format) -> &'static str {
    match format {
        Format::Normalized => "normalized",
        Format::Concise => "concise",
        Format::KeyValues => "keyValues",
    }
}

fn entity_selector(
    e: &SubscribedEntities,
    frozen: &BTreeMap<String, String>,
    terms: &dyn TermMap,
) -> Value {
    let mut out = Map::new();
    put_str(&mut out, "id", &e.id);
    put_str(&mut out, "idPattern", &e.id_pattern);
    out.insert(
        "type".into(),
        Value::String(compact_type_selection(&e.type_selection, frozen, terms)),
    );
    Value::Object(out)
}

/// Compacts each type name of a type selection (clause 4.17) with the request's terms: a
/// name the subscription's frozen terms expand is compacted from its IRI, any other name
/// (an IRI, `*`) is compacted as written. Operators and parentheses stay as written.
fn compact_type_selection(
    selection: &str,
    frozen: &BTreeMap<String, String>,
    terms: &dyn TermMap,
) -> String {
    let compact_name = |name: &str| {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return name.to_owned();
        }
        let start = name.len() - name.trim_start().len();
        let iri = frozen.get(trimmed).map_or(trimmed, String::as_str);
        format!(
            "{}{}{}",
            &name[..start],
            terms.compact(iri),
            &name[start + trimmed.len()..]
        )
    };
    let mut out = String::with_capacity(selection.len());
    let mut rest = selection;
    while let Some(at) = rest.find([',', ';', '|', '(', ')']) {
        out.push_str(&compact_name(&rest[..at]));
        out.push_str(&rest[at..at + 1]);
        rest = &rest[at + 1..];
    }
    out.push_str(&compact_name(rest));
    out
}

fn geo_query(geo: &SubscriptionGeoQuery, terms: &dyn TermMap) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("geometry".into(), Value::String(geo.geometry.clone()));
    out.insert("coordinates".into(), geo.coordinates.clone());
    out.insert("georel".into(), Value::String(geo.georel.clone()));
    if let Some(p) = &geo.geoproperty {
        out.insert(
            "geoproperty".into(),
            Value::String(terms.compact(p).into_owned()),
        );
    }
    out
}

fn notification(sub: &Subscription, terms: &dyn TermMap) -> Map<String, Value> {
    let n: &NotificationParams = &sub.notification;
    let mut out = Map::new();
    if let Some(attributes) = &n.attributes {
        out.insert("attributes".into(), compacted(attributes, terms));
    }
    if let Some(pick) = &n.pick {
        out.insert("pick".into(), strings(pick));
    }
    if let Some(omit) = &n.omit {
        out.insert("omit".into(), strings(omit));
    }
    out.insert("format".into(), Value::String(format_name(n.format).into()));
    if n.sys_attrs {
        out.insert("sysAttrs".into(), Value::Bool(true));
    }
    if n.show_changes {
        out.insert("showChanges".into(), Value::Bool(true));
    }
    if let Some(join) = n.join {
        let name = match join {
            Join::Flat => "flat",
            Join::Inline => "inline",
        };
        out.insert("join".into(), Value::String(name.into()));
    }
    if let Some(level) = n.join_level {
        out.insert("joinLevel".into(), Value::from(level));
    }
    out.insert("endpoint".into(), Value::Object(endpoint(&n.endpoint)));
    let d = &sub.delivery;
    if let Some(outcome) = d.outcome {
        let status = match outcome {
            DeliveryOutcome::Ok => "ok",
            DeliveryOutcome::Failed => "failed",
        };
        out.insert("status".into(), Value::String(status.into()));
    }
    if d.times_sent > 0 {
        out.insert("timesSent".into(), Value::from(d.times_sent));
    }
    if d.times_failed > 0 {
        out.insert("timesFailed".into(), Value::from(d.times_failed));
    }
    // Not a spec member: changes dropped because the subscription's queue was full, shown
    // only when there were some, so a loss is never silent (ADR 0003).
    if d.lost > 0 {
        out.insert("lostNotifications".into(), Value::from(d.lost));
    }
    put_time(&mut out, "lastNotification", &d.last_notification);
    put_time(&mut out, "lastSuccess", &d.last_success);
    put_time(&mut out, "lastFailure", &d.last_failure);
    out
}

fn endpoint(e: &Endpoint) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("uri".into(), Value::String(e.uri.clone()));
    out.insert("accept".into(), Value::String(e.accept.mime().into()));
    put_number(&mut out, "timeout", e.timeout_ms);
    put_number(&mut out, "cooldown", e.cooldown_ms);
    put_pairs(&mut out, "receiverInfo", &e.receiver_info);
    put_pairs(&mut out, "notifierInfo", &e.notifier_info);
    out
}

fn put_pairs(out: &mut Map<String, Value>, name: &str, pairs: &[KeyValuePair]) {
    if pairs.is_empty() {
        return;
    }
    let list = pairs
        .iter()
        .map(|p| {
            let mut o = Map::new();
            o.insert("key".into(), Value::String(p.key.clone()));
            o.insert("value".into(), Value::String(p.value.clone()));
            Value::Object(o)
        })
        .collect();
    out.insert(name.into(), Value::Array(list));
}

fn compacted(iris: &[String], terms: &dyn TermMap) -> Value {
    Value::Array(
        iris.iter()
            .map(|i| Value::String(terms.compact(i).into_owned()))
            .collect(),
    )
}

fn strings(list: &[String]) -> Value {
    Value::Array(list.iter().cloned().map(Value::String).collect())
}

fn put_str(out: &mut Map<String, Value>, name: &str, v: &Option<String>) {
    if let Some(s) = v {
        out.insert(name.into(), Value::String(s.clone()));
    }
}

fn put_time(out: &mut Map<String, Value>, name: &str, t: &Option<DateTime<Utc>>) {
    if let Some(t) = t {
        out.insert(name.into(), Value::String(format_time(t)));
    }
}

/// A number as JSON, integral values as integers (`5`, not `5.0`).
fn put_number(out: &mut Map<String, Value>, name: &str, n: Option<f64>) {
    let Some(n) = n else { return };
    let value = if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    };
    out.insert(name.into(), value);
}
