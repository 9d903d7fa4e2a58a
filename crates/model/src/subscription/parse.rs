//! Reading a Subscription (clause 5.2.12) or a subscription fragment (clause 5.8.2) from JSON.
//!
//! Every rule broken gives `BadRequestData` with a detail naming the offending member. Query
//! texts (q, scopeQ, type selections, geoQ) are only shape-checked here: the `query` crate
//! compiles them. Attribute names are expanded to IRIs with the request's terms.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

mod notification;
mod temporal;

use notification::parse_notification;
use temporal::temporal_query;

use super::{
    DeliveryStatus, SubscribedEntities, Subscription, SubscriptionGeoQuery, SubscriptionKind,
    SubscriptionStatus, Trigger,
};
use crate::codec::parse::is_ngsi_ld_null;
use crate::members::{bad, boolean, date_time, is_version, member, positive, string, uri};
use crate::validate::{is_uri, is_valid_name};
use crate::{ModelError, TermMap};

/// The subscription's `type`, as a term and as the IRI the core @context gives it.
const SUBSCRIPTION: &str = "Subscription";
const SUBSCRIPTION_IRI: &str = "https://uri.etsi.org/ngsi-ld/Subscription";

/// Members read apart from the others (identity and @context).
const IDENTITY_MEMBERS: &[&str] = &["id", "@id", "type", "@type", "@context"];

/// The members a client may give (Table 5.2.12-1, without `id` and `type`). `temporalQ` is
/// read for Context Source Registration Subscriptions only, and `notificationTrigger` for
/// entity subscriptions only (the other kind's notifications carry a trigger reason instead).
/// Anything else, such as the read-only members of Table 5.2.12-2, is ignored.
const MEMBERS: &[&str] = &[
    "subscriptionName",
    "description",
    "entities",
    "watchedAttributes",
    "notificationTrigger",
    "q",
    "geoQ",
    "scopeQ",
    "lang",
    "datasetId",
    "expandValues",
    "jsonKeys",
    "csf",
    "localOnly",
    "splitEntities",
    "ngsildConformance",
    "expiresAt",
    "isActive",
    "throttling",
    "timeInterval",
    "jsonldContext",
    "notification",
    "temporalQ",
];

/// Geometry types a geoQ may use (GeoJSON without GeometryCollection, clause 5.2.13).
const GEOMETRIES: &[&str] = &[
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
];

/// Parses a whole Subscription body (already JSON; the `@context` member, if any, is ignored
/// here — the caller resolved it into `terms`). `jsonld_context` is the URL the caller
/// determined for the subscription's notifications when the body has no `jsonldContext`
/// member (if the body has one, the body's value wins, after checking it is a URI).
/// `new_id` is called only when the body has no `id`. `kind` tells an entity subscription
/// (clause 5.8) from a Context Source Registration Subscription (clause 5.11).
pub fn parse_subscription(
    kind: SubscriptionKind,
    body: &Map<String, Value>,
    terms: &dyn TermMap,
    jsonld_context: &str,
    now: DateTime<Utc>,
    new_id: impl FnOnce() -> String,
) -> Result<Subscription, ModelError> {
    let body = &*current_member_names(body);
    match member(body, "type", "@type") {
        Some(t) => check_type(t)?,
        None => {
            return Err(bad(
                "the subscription has no \"type\" member (it must be \"Subscription\")",
            ))
        }
    }
    let id = match member(body, "id", "@id") {
        Some(v) => subscription_id(v)?,
        None => new_id(),
    };
    let notification = match body.get("notification") {
        Some(v) if !is_ngsi_ld_null(v) => parse_notification(v, terms)?,
        _ => return Err(bad("the subscription has no \"notification\" member")),
    };
    let mut sub = Subscription {
        id,
        kind,
        subscription_name: None,
        description: None,
        entities: Vec::new(),
        watched_attributes: None,
        notification_trigger: None,
        q: None,
        geo_q: None,
        scope_q: None,
        lang: None,
        dataset_id: None,
        expand_values: None,
        json_keys: None,
        csf: None,
        local_only: None,
        split_entities: None,
        ngsild_conformance: None,
        expires_at: None,
        is_active: true,
        throttling: None,
        time_interval: None,
        temporal_q: None,
        jsonld_context: jsonld_context.to_owned(),
        jsonld_context_written: false,
        terms: Default::default(),
        notification,
        created_at: now,
        modified_at: now,
        delivery: DeliveryStatus::default(),
        owner: None,
    };
    for (name, value) in body {
        if IDENTITY_MEMBERS.contains(&name.as_str()) || name == "notification" {
            continue;
        }
        if is_ngsi_ld_null(value) {
            // Nulls only mean "remove" in fragments (clause 5.2.1).
            if MEMBERS.contains(&name.as_str()) {
                return Err(bad(format!("\"{name}\" cannot be null")));
            }
            continue;
        }
        set_member(&mut sub, name, value, terms)?;
    }
    check_whole(&sub)?;
    if let Some(at) = sub.expires_at {
        if at <= now {
            return Err(bad("\"expiresAt\" is in the past"));
        }
    }
    Ok(sub)
}

/// Applies a subscription fragment (clauses 5.8.2.4 and 5.5.8) to `current`: members present
/// replace the stored ones as a whole, a member set to an NGSI-LD Null (or JSON null) is
/// removed; the result is validated as a whole. Status rules of 5.8.2.4: an `expiresAt` in
/// the past is `BadRequestData`; a future `expiresAt` without `isActive` reactivates an
/// expired subscription. `modifiedAt` becomes `now`. The frozen `terms` are kept: the caller
/// re-freezes them after compiling the new texts.
pub fn apply_fragment(
    current: &Subscription,
    fragment: &Map<String, Value>,
    terms: &dyn TermMap,
    now: DateTime<Utc>,
) -> Result<Subscription, ModelError> {
    let fragment = &*current_member_names(fragment);
    if let Some(t) = member(fragment, "type", "@type") {
        check_type(t)?;
    }
    if let Some(v) = member(fragment, "id", "@id") {
        if v.as_str() != Some(current.id.as_str()) {
            return Err(bad(format!(
                "the fragment's \"id\" differs from the subscription's {:?}; it cannot change",
                current.id
            )));
        }
    }
    let was_expired = current.status(now) == SubscriptionStatus::Expired;
    let mut sub = current.clone();
    for (name, value) in fragment {
        if IDENTITY_MEMBERS.contains(&name.as_str()) {
            continue;
        }
        if is_ngsi_ld_null(value) {
            delete_member(&mut sub, name)?;
        } else {
            set_member(&mut sub, name, value, terms)?;
        }
    }
    if fragment
        .get("expiresAt")
        .is_some_and(|v| !is_ngsi_ld_null(v))
    {
        if sub.expires_at.is_some_and(|at| at <= now) {
            return Err(bad("\"expiresAt\" is in the past"));
        }
        if was_expired && !fragment.contains_key("isActive") {
            sub.is_active = true;
        }
    }
    check_whole(&sub)?;
    sub.modified_at = now;
    Ok(sub)
}

/// Older spellings of members that clients still send, and the member each stands for.
const OLDER_NAMES: &[(&str, &str)] = &[("expires", "expiresAt"), ("name", "subscriptionName")];

/// The body with older member names read as the current ones (`expires` as `expiresAt`,
/// `name` as `subscriptionName`);
/// when both are given, the current one wins. Borrowed when nothing needs renaming.
fn current_member_names(body: &Map<String, Value>) -> std::borrow::Cow<'_, Map<String, Value>> {
    if !OLDER_NAMES.iter().any(|(old, _)| body.contains_key(*old)) {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut renamed = Map::with_capacity(body.len());
    for (name, value) in body {
        match OLDER_NAMES.iter().find(|(old, _)| old == name) {
            Some((_, current)) if body.contains_key(*current) => {}
            Some((_, current)) => {
                renamed.insert((*current).to_owned(), value.clone());
            }
            None => {
                renamed.insert(name.clone(), value.clone());
            }
        }
    }
    std::borrow::Cow::Owned(renamed)
}

/// Sets one top-level member from its (non-null) JSON value; unknown and read-only members
/// are ignored.
fn set_member(
    sub: &mut Subscription,
    name: &str,
    v: &Value,
    terms: &dyn TermMap,
) -> Result<(), ModelError> {
    match name {
        "subscriptionName" => sub.subscription_name = Some(string(v, name)?),
        "description" => sub.description = Some(string(v, name)?),
        "entities" => sub.entities = entity_selectors(v)?,
        "watchedAttributes" => sub.watched_attributes = Some(attribute_names(v, name, terms)?),
        "notificationTrigger" if sub.kind == SubscriptionKind::Entities => {
            sub.notification_trigger = Some(triggers(v)?)
        }
        "q" => sub.q = Some(text(v, name)?),
        "geoQ" => sub.geo_q = Some(geo_query(v, terms)?),
        "scopeQ" => sub.scope_q = Some(text(v, name)?),
        "lang" => sub.lang = Some(text(v, name)?),
        "datasetId" => sub.dataset_id = Some(dataset_ids(v)?),
        "expandValues" => sub.expand_values = Some(text(v, name)?),
        "jsonKeys" => sub.json_keys = Some(text(v, name)?),
        "csf" => sub.csf = Some(text(v, name)?),
        "localOnly" => sub.local_only = Some(boolean(v, name)?),
        "splitEntities" => sub.split_entities = Some(boolean(v, name)?),
        "ngsildConformance" => sub.ngsild_conformance = Some(conformance(v)?),
        "expiresAt" => sub.expires_at = Some(date_time(v, name)?),
        "isActive" => sub.is_active = boolean(v, name)?,
        "throttling" => sub.throttling = Some(positive(v, name)?),
        "timeInterval" => sub.time_interval = Some(positive(v, name)?),
        "jsonldContext" => {
            sub.jsonld_context = uri(v, name)?;
            sub.jsonld_context_written = true;
        }
        "notification" => sub.notification = parse_notification(v, terms)?,
        "temporalQ" if sub.kind == SubscriptionKind::Registrations => {
            sub.temporal_q = Some(temporal_query(v)?)
        }
        _ => {}
    }
    Ok(())
}

/// Removes one top-level member (a fragment member set to null).
fn delete_member(sub: &mut Subscription, name: &str) -> Result<(), ModelError> {
    match name {
        "subscriptionName" => sub.subscription_name = None,
        "description" => sub.description = None,
        "entities" => sub.entities.clear(),
        "watchedAttributes" => sub.watched_attributes = None,
        "notificationTrigger" => sub.notification_trigger = None,
        "q" => sub.q = None,
        "geoQ" => sub.geo_q = None,
        "scopeQ" => sub.scope_q = None,
        "lang" => sub.lang = None,
        "datasetId" => sub.dataset_id = None,
        "expandValues" => sub.expand_values = None,
        "jsonKeys" => sub.json_keys = None,
        "csf" => sub.csf = None,
        "localOnly" => sub.local_only = None,
        "splitEntities" => sub.split_entities = None,
        "ngsildConformance" => sub.ngsild_conformance = None,
        "expiresAt" => sub.expires_at = None,
        "isActive" => sub.is_active = true,
        "throttling" => sub.throttling = None,
        "timeInterval" => sub.time_interval = None,
        "temporalQ" => sub.temporal_q = None,
        "notification" => return Err(bad("\"notification\" is mandatory and cannot be removed")),
        "jsonldContext" => return Err(bad(
            "\"jsonldContext\" cannot be removed (notifications need a @context); give another URI",
        )),
        _ => {}
    }
    Ok(())
}

/// The rules of clause 5.2.12 that involve several members.
fn check_whole(sub: &Subscription) -> Result<(), ModelError> {
    let local = sub.local_only == Some(true);
    if sub.entities.is_empty() && sub.watched_attributes.is_none() && !local {
        return Err(bad(
            "a subscription needs \"entities\" or \"watchedAttributes\" (unless \"localOnly\" is true)",
        ));
    }
    if sub.time_interval.is_some() {
        if sub.watched_attributes.is_some() {
            return Err(bad(
                "\"timeInterval\" and \"watchedAttributes\" cannot be used together",
            ));
        }
        if sub.throttling.is_some() {
            return Err(bad(
                "\"throttling\" and \"timeInterval\" cannot be used together",
            ));
        }
        if sub.entities.is_empty() && !local {
            return Err(bad(
                "\"entities\" is mandatory with \"timeInterval\" (unless \"localOnly\" is true)",
            ));
        }
    }
    Ok(())
}

/// `entities` (clause 5.2.33). A selector listing several ids becomes one selector per id,
/// which selects the same entities.
fn entity_selectors(v: &Value) -> Result<Vec<SubscribedEntities>, ModelError> {
    let items = v
        .as_array()
        .ok_or_else(|| bad("\"entities\" must be an array of EntitySelector objects"))?;
    if items.is_empty() {
        return Err(bad("\"entities\" cannot be an empty array"));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let obj = item
            .as_object()
            .ok_or_else(|| bad("each member of \"entities\" must be an EntitySelector object"))?;
        let type_selection = match obj.get("type") {
            Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
            Some(_) => return Err(bad("\"entities[].type\" must be a non-empty string")),
            None => return Err(bad("each member of \"entities\" needs a \"type\"")),
        };
        let id_pattern = match obj.get("idPattern") {
            None => None,
            Some(Value::String(p)) if !p.is_empty() => Some(p.clone()),
            Some(_) => return Err(bad("\"entities[].idPattern\" must be a non-empty string")),
        };
        let entity_id = |id: &Value| match id.as_str() {
            Some(s) if is_uri(s) => Ok(Some(s.to_owned())),
            _ => Err(bad("\"entities[].id\" must be a URI or an array of URIs")),
        };
        let ids = match obj.get("id") {
            None => vec![None],
            Some(Value::Array(list)) if !list.is_empty() => {
                list.iter().map(entity_id).collect::<Result<_, _>>()?
            }
            Some(id) => vec![entity_id(id)?],
        };
        out.extend(ids.into_iter().map(|id| SubscribedEntities {
            id,
            id_pattern: id_pattern.clone(),
            type_selection: type_selection.clone(),
        }));
    }
    Ok(out)
}

/// `notificationTrigger`: a non-empty array of trigger names, without duplicates.
fn triggers(v: &Value) -> Result<Vec<Trigger>, ModelError> {
    let mut out: Vec<Trigger> = Vec::new();
    for name in strings(v, "notificationTrigger")? {
        let t = Trigger::from_name(&name).ok_or_else(|| {
            let valid: Vec<&str> = Trigger::ALL.iter().map(|t| t.name()).collect();
            bad(format!(
                "{name:?} is not a notification trigger (valid: {})",
                valid.join(", ")
            ))
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// `geoQ` (clause 5.2.13); the geometry itself is checked when the query crate compiles it.
fn geo_query(v: &Value, terms: &dyn TermMap) -> Result<SubscriptionGeoQuery, ModelError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("\"geoQ\" must be an object"))?;
    let required = |name: &str| match obj.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(_) => Err(bad(format!("\"geoQ.{name}\" must be a non-empty string"))),
        None => Err(bad(format!("\"geoQ\" has no \"{name}\" member"))),
    };
    let geometry = required("geometry")?;
    if !GEOMETRIES.contains(&geometry.as_str()) {
        return Err(bad(format!(
            "\"geoQ.geometry\" {geometry:?} is not one of {}",
            GEOMETRIES.join(", ")
        )));
    }
    let coordinates = match obj.get("coordinates") {
        Some(c @ Value::Array(a)) if !a.is_empty() => c.clone(),
        Some(c @ Value::String(s)) if !s.trim().is_empty() => c.clone(),
        Some(_) => {
            return Err(bad(
                "\"geoQ.coordinates\" must be a non-empty JSON array or a string",
            ))
        }
        None => return Err(bad("\"geoQ\" has no \"coordinates\" member")),
    };
    let georel = required("georel")?;
    let geoproperty = match obj.get("geoproperty") {
        None => None,
        Some(p) => {
            let name = string(p, "geoQ.geoproperty")?;
            if !is_valid_name(&name) {
                return Err(bad(format!(
                    "\"geoQ.geoproperty\" {name:?} is not a valid attribute name"
                )));
            }
            Some(terms.expand(&name).into_owned())
        }
    };
    Ok(SubscriptionGeoQuery {
        geometry,
        coordinates,
        georel,
        geoproperty,
    })
}

/// `datasetId`: URIs, `@none` standing for the default instances.
fn dataset_ids(v: &Value) -> Result<Vec<String>, ModelError> {
    let ids = strings(v, "datasetId")?;
    if let Some(id) = ids.iter().find(|id| *id != "@none" && !is_uri(id)) {
        return Err(bad(format!(
            "\"datasetId\" {id:?} is neither a URI nor \"@none\""
        )));
    }
    Ok(ids)
}

/// `ngsildConformance`: `major.minor`.
fn conformance(v: &Value) -> Result<String, ModelError> {
    let s = string(v, "ngsildConformance")?;
    if is_version(&s) {
        Ok(s)
    } else {
        Err(bad(format!(
            "\"ngsildConformance\" {s:?} is not a version in the form major.minor"
        )))
    }
}

/// A non-empty array of valid attribute names, expanded to IRIs.
fn attribute_names(
    v: &Value,
    member: &str,
    terms: &dyn TermMap,
) -> Result<Vec<String>, ModelError> {
    expand_names(strings(v, member)?, member, terms)
}

fn expand_names(
    names: Vec<String>,
    member: &str,
    terms: &dyn TermMap,
) -> Result<Vec<String>, ModelError> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if !is_valid_name(&name) {
            return Err(bad(format!(
                "\"{member}\": {name:?} is not a valid attribute name"
            )));
        }
        let iri = terms.expand(&name).into_owned();
        if !out.contains(&iri) {
            out.push(iri);
        }
    }
    Ok(out)
}

/// A non-empty array of non-empty strings.
fn strings(v: &Value, member: &str) -> Result<Vec<String>, ModelError> {
    let items = v
        .as_array()
        .ok_or_else(|| bad(format!("\"{member}\" must be an array of strings")))?;
    if items.is_empty() {
        return Err(bad(format!("\"{member}\" cannot be an empty array")));
    }
    items
        .iter()
        .map(|i| match i.as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(bad(format!(
                "\"{member}\" must be an array of non-empty strings"
            ))),
        })
        .collect()
}

/// The subscription's own `type`: `Subscription` (or its IRI).
fn check_type(v: &Value) -> Result<(), ModelError> {
    match v.as_str() {
        Some(SUBSCRIPTION | SUBSCRIPTION_IRI) => Ok(()),
        _ => Err(bad("the subscription \"type\" must be \"Subscription\"")),
    }
}

fn subscription_id(v: &Value) -> Result<String, ModelError> {
    match v.as_str() {
        Some(id) if is_uri(id) => Ok(id.to_owned()),
        Some(id) => Err(bad(format!("the subscription id {id:?} is not a URI"))),
        None => Err(bad("the subscription \"id\" must be a string")),
    }
}

/// A query text (q, scopeQ, lang, ...): a non-empty string, checked later by its parser.
fn text(v: &Value, member: &str) -> Result<String, ModelError> {
    match v.as_str() {
        Some(s) if !s.trim().is_empty() => Ok(s.to_owned()),
        _ => Err(bad(format!("\"{member}\" must be a non-empty string"))),
    }
}
