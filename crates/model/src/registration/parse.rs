//! Reading a Context Source Registration (clause 5.2.9) or a registration fragment (clause
//! 5.9.3) from JSON.
//!
//! Every rule broken gives `BadRequestData` with a detail naming the offending member
//! (clause 5.9.2.4). Names (entity types, attribute names, Context Source Properties) are
//! expanded with the request's terms. The read-only members of Table 5.2.9-2 are ignored.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::operations;
use super::{
    EntityInfo, ForwardingStatus, KeyValuePair, ManagementInfo, Mode, Registration,
    RegistrationInfo, TimeInterval,
};
use crate::codec::parse::{is_ngsi_ld_null, parse_scope, parse_types};
use crate::members::{bad, date_time_text, is_version, key_values, member, positive, string, uri};
use crate::validate::{check_geometry, is_uri, is_valid_name};
use crate::{ModelError, TermMap};

/// The registration's `type`, as a term and as the IRI the core @context gives it.
const REGISTRATION: &str = "ContextSourceRegistration";
const REGISTRATION_IRI: &str = "https://uri.etsi.org/ngsi-ld/ContextSourceRegistration";

/// Members read apart from the others.
const IDENTITY_MEMBERS: &[&str] = &["id", "@id", "type", "@type", "@context"];

/// Read-only members (Table 5.2.9-2) and system members: ignored when given.
const READ_ONLY: &[&str] = &[
    "status",
    "timesSent",
    "timesFailed",
    "lastSuccess",
    "lastFailure",
    "createdAt",
    "modifiedAt",
];

/// Members that cannot be removed.
const MANDATORY: &[&str] = &["endpoint", "information"];

/// What an auxiliary registration may offer (clause 4.3.6.2).
const AUXILIARY_OPERATIONS: &[&str] = &["retrieveOps", "retrieveEntity", "queryEntity"];

/// Media types a source may be asked to accept or be sent (clause 4.3.6.6).
const MEDIA_TYPES: &[&str] = &["application/json", "application/ld+json"];

/// Parses a whole registration body (the `@context` member, if any, is ignored here: the
/// caller resolved it into `terms`). `new_id` is called only when the body has no `id`.
pub fn parse_registration(
    body: &Map<String, Value>,
    terms: &dyn TermMap,
    now: DateTime<Utc>,
    new_id: impl FnOnce() -> String,
) -> Result<Registration, ModelError> {
    match member(body, "type", "@type") {
        Some(t) => check_type(t)?,
        None => {
            return Err(bad(format!(
                "the registration has no \"type\" member (it must be \"{REGISTRATION}\")"
            )))
        }
    }
    let id = match member(body, "id", "@id") {
        Some(v) => registration_id(v)?,
        None => new_id(),
    };
    let mut reg = Registration {
        id,
        registration_name: None,
        description: None,
        information: Vec::new(),
        tenant: None,
        observation_interval: None,
        management_interval: None,
        location: None,
        observation_space: None,
        operation_space: None,
        expires_at: None,
        expires_at_text: None,
        endpoint: String::new(),
        context_source_info: None,
        context_source_alias: None,
        scope: None,
        mode: None,
        operations: None,
        refresh_rate: None,
        management: None,
        dataset_id: None,
        properties: BTreeMap::new(),
        created_at: now,
        modified_at: now,
        status: ForwardingStatus::default(),
    };
    for (name, value) in body {
        if IDENTITY_MEMBERS.contains(&name.as_str()) || READ_ONLY.contains(&name.as_str()) {
            continue;
        }
        if is_ngsi_ld_null(value) {
            return Err(bad(format!("\"{name}\" cannot be null")));
        }
        set_member(&mut reg, name, value, terms)?;
    }
    check_whole(&reg)?;
    check_expiry(&reg, now)?;
    Ok(reg)
}

/// Applies a registration fragment (clauses 5.9.3.4 and 5.5.8) to `current`: members present
/// replace the stored ones as a whole, a member set to an NGSI-LD Null (or JSON null) is
/// removed (`endpoint` and `information` cannot be); the result is validated as a whole
/// and its `modifiedAt` becomes `now`.
pub fn apply_fragment(
    current: &Registration,
    fragment: &Map<String, Value>,
    terms: &dyn TermMap,
    now: DateTime<Utc>,
) -> Result<Registration, ModelError> {
    if let Some(t) = member(fragment, "type", "@type") {
        check_type(t)?;
    }
    if let Some(v) = member(fragment, "id", "@id") {
        if registration_id(v)? != current.id {
            return Err(bad("a fragment cannot change the registration's \"id\""));
        }
    }
    let mut reg = current.clone();
    for (name, value) in fragment {
        if IDENTITY_MEMBERS.contains(&name.as_str()) || READ_ONLY.contains(&name.as_str()) {
            continue;
        }
        if is_ngsi_ld_null(value) {
            remove_member(&mut reg, name, terms)?;
        } else {
            set_member(&mut reg, name, value, terms)?;
        }
    }
    check_whole(&reg)?;
    check_expiry(&reg, now)?;
    reg.modified_at = now;
    Ok(reg)
}

fn set_member(
    reg: &mut Registration,
    name: &str,
    v: &Value,
    terms: &dyn TermMap,
) -> Result<(), ModelError> {
    match name {
        "registrationName" => reg.registration_name = Some(text(v, name)?),
        "description" => reg.description = Some(text(v, name)?),
        "information" => reg.information = information(v, terms)?,
        "tenant" => reg.tenant = Some(text(v, name)?),
        "observationInterval" => reg.observation_interval = Some(interval(v, name)?),
        "managementInterval" => reg.management_interval = Some(interval(v, name)?),
        "location" => reg.location = Some(geometry(v, name)?),
        "observationSpace" => reg.observation_space = Some(geometry(v, name)?),
        "operationSpace" => reg.operation_space = Some(geometry(v, name)?),
        "expiresAt" => {
            let text = string(v, name)?;
            reg.expires_at = Some(date_time_text(&text, name)?);
            reg.expires_at_text = Some(text);
        }
        "endpoint" => reg.endpoint = uri(v, name)?,
        "contextSourceInfo" => reg.context_source_info = Some(context_source_info(v)?),
        "contextSourceAlias" => reg.context_source_alias = Some(text(v, name)?),
        "scope" => {
            parse_scope(v)?;
            reg.scope = Some(v.clone());
        }
        "mode" => {
            let s = string(v, name)?;
            reg.mode = Some(Mode::parse(&s).ok_or_else(|| {
                bad(format!(
                    "\"mode\" {s:?} is not one of inclusive, exclusive, redirect, auxiliary"
                ))
            })?);
        }
        "operations" => reg.operations = Some(operation_names(v)?),
        "refreshRate" => reg.refresh_rate = Some(duration(v, name)?),
        "management" => reg.management = Some(management(v)?),
        "datasetId" => reg.dataset_id = Some(dataset_ids(v)?),
        other => {
            if !is_valid_name(other) {
                return Err(bad(format!("{other:?} is not a valid member name")));
            }
            let iri = terms.expand(other).into_owned();
            reg.properties.insert(iri, v.clone());
        }
    }
    Ok(())
}

fn remove_member(
    reg: &mut Registration,
    name: &str,
    terms: &dyn TermMap,
) -> Result<(), ModelError> {
    if MANDATORY.contains(&name) {
        return Err(bad(format!(
            "\"{name}\" is mandatory and cannot be removed"
        )));
    }
    match name {
        "registrationName" => reg.registration_name = None,
        "description" => reg.description = None,
        "tenant" => reg.tenant = None,
        "observationInterval" => reg.observation_interval = None,
        "managementInterval" => reg.management_interval = None,
        "location" => reg.location = None,
        "observationSpace" => reg.observation_space = None,
        "operationSpace" => reg.operation_space = None,
        "expiresAt" => {
            reg.expires_at = None;
            reg.expires_at_text = None;
        }
        "contextSourceInfo" => reg.context_source_info = None,
        "contextSourceAlias" => reg.context_source_alias = None,
        "scope" => reg.scope = None,
        "mode" => reg.mode = None,
        "operations" => reg.operations = None,
        "refreshRate" => reg.refresh_rate = None,
        "management" => reg.management = None,
        "datasetId" => reg.dataset_id = None,
        other => {
            reg.properties.remove(terms.expand(other).as_ref());
        }
    }
    Ok(())
}

/// Rules across members: an endpoint and information, and what an auxiliary registration
/// may offer.
fn check_whole(reg: &Registration) -> Result<(), ModelError> {
    if reg.endpoint.is_empty() {
        return Err(bad("the registration has no \"endpoint\" member"));
    }
    if reg.information.is_empty() {
        return Err(bad("the registration has no \"information\" member"));
    }
    if reg.mode() == Mode::Auxiliary {
        if let Some(names) = &reg.operations {
            if let Some(other) = names
                .iter()
                .find(|n| !AUXILIARY_OPERATIONS.contains(&n.as_str()))
            {
                return Err(bad(format!(
                    "an auxiliary registration offers only retrievals (retrieveOps, \
                     retrieveEntity, queryEntity), not {other:?}"
                )));
            }
        }
    }
    let set = reg.operation_set();
    if set.is_empty() {
        return Err(bad("\"operations\" names no operation"));
    }
    for (member, interval) in [
        ("observationInterval", &reg.observation_interval),
        ("managementInterval", &reg.management_interval),
    ] {
        if let Some(TimeInterval {
            start_at,
            end_at: Some(end_at),
            ..
        }) = interval
        {
            if end_at < start_at {
                return Err(bad(format!(
                    "\"{member}\": \"endAt\" is before \"startAt\""
                )));
            }
        }
    }
    Ok(())
}

fn check_expiry(reg: &Registration, now: DateTime<Utc>) -> Result<(), ModelError> {
    if reg.expired(now) {
        return Err(bad("\"expiresAt\" is in the past"));
    }
    Ok(())
}

/// `information`: a non-empty array of RegistrationInfo (clause 5.2.10).
fn information(v: &Value, terms: &dyn TermMap) -> Result<Vec<RegistrationInfo>, ModelError> {
    let items = non_empty_array(v, "information")?;
    items
        .iter()
        .map(|item| registration_info(item, terms))
        .collect()
}

fn registration_info(v: &Value, terms: &dyn TermMap) -> Result<RegistrationInfo, ModelError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("each \"information\" element must be an object"))?;
    let mut info = RegistrationInfo::default();
    for (name, value) in obj {
        match name.as_str() {
            "entities" => {
                let items = non_empty_array(value, "entities")?;
                info.entities = Some(
                    items
                        .iter()
                        .map(|e| entity_info(e, terms))
                        .collect::<Result<_, _>>()?,
                );
            }
            "propertyNames" => info.property_names = Some(names(value, name, terms)?),
            "relationshipNames" => info.relationship_names = Some(names(value, name, terms)?),
            other => {
                return Err(bad(format!(
                    "\"information\" elements have entities, propertyNames and \
                     relationshipNames, not {other:?}"
                )))
            }
        }
    }
    if info.entities.is_none() && info.property_names.is_none() && info.relationship_names.is_none()
    {
        return Err(bad(
            "each \"information\" element needs entities, propertyNames or relationshipNames",
        ));
    }
    Ok(info)
}

/// One EntityInfo (clause 5.2.8).
fn entity_info(v: &Value, terms: &dyn TermMap) -> Result<EntityInfo, ModelError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("each \"entities\" element must be an object"))?;
    let mut info = EntityInfo {
        id: None,
        id_pattern: None,
        types: Vec::new(),
        type_list: false,
    };
    for (name, value) in obj {
        match name.as_str() {
            "id" | "@id" => info.id = Some(uri(value, "entities.id")?),
            "idPattern" => info.id_pattern = Some(id_pattern(value)?),
            "type" | "@type" => {
                info.types = parse_types(value, terms)?;
                info.type_list = value.is_array();
            }
            other => {
                return Err(bad(format!(
                    "\"entities\" elements have id, idPattern and type, not {other:?}"
                )))
            }
        }
    }
    if info.types.is_empty() {
        return Err(bad("each \"entities\" element needs a \"type\""));
    }
    Ok(info)
}

/// An id pattern: a regular expression (clause 4.9's POSIX extended syntax); only its shape
/// is checked here, the query crate compiles it.
fn id_pattern(v: &Value) -> Result<String, ModelError> {
    match v.as_str() {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(bad("\"idPattern\" must be a non-empty string")),
    }
}

/// Attribute names, expanded, each once.
fn names(v: &Value, member: &str, terms: &dyn TermMap) -> Result<Vec<String>, ModelError> {
    let mut out: Vec<String> = Vec::new();
    for name in non_empty_array(v, member)? {
        let name = name
            .as_str()
            .filter(|n| is_valid_name(n))
            .ok_or_else(|| bad(format!("\"{member}\" must hold attribute names")))?;
        let iri = terms.expand(name).into_owned();
        if !out.contains(&iri) {
            out.push(iri);
        }
    }
    Ok(out)
}

/// `operations`: operation and group names of clause 4.20.
fn operation_names(v: &Value) -> Result<Vec<String>, ModelError> {
    non_empty_array(v, "operations")?
        .iter()
        .map(|n| match n.as_str() {
            Some(s) if operations::is_known(s) => Ok(s.to_owned()),
            Some(s) => Err(bad(format!(
                "\"operations\": {s:?} is not an operation or group name (clause 4.20)"
            ))),
            None => Err(bad("\"operations\" must hold strings")),
        })
        .collect()
}

/// `contextSourceInfo`: key-value pairs; the keys clause 4.3.6.6 gives a meaning are checked.
fn context_source_info(v: &Value) -> Result<Vec<KeyValuePair>, ModelError> {
    let pairs = key_values(v, "contextSourceInfo")?;
    for pair in &pairs {
        check_special_key(&pair.key, &pair.value)?;
    }
    Ok(pairs)
}

/// Values the special keys of clause 4.3.6.6 accept (`urn:ngsi-ld:request` copies the
/// header of the triggering request and is always accepted).
fn check_special_key(key: &str, value: &str) -> Result<(), ModelError> {
    if value == "urn:ngsi-ld:request" {
        return Ok(());
    }
    let fine = match key {
        "accept" | "contentType" => MEDIA_TYPES.contains(&value),
        "jsonldContext" => is_uri(value),
        "ngsildConformance" => is_version(value),
        _ => true,
    };
    if fine {
        Ok(())
    } else {
        Err(bad(format!(
            "\"contextSourceInfo\": {value:?} is not a valid value for {key:?}"
        )))
    }
}

fn management(v: &Value) -> Result<ManagementInfo, ModelError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("\"management\" must be an object"))?;
    let mut info = ManagementInfo::default();
    for (name, value) in obj {
        match name.as_str() {
            "localOnly" => {
                info.local_only = Some(
                    value
                        .as_bool()
                        .ok_or_else(|| bad("\"management.localOnly\" must be a boolean"))?,
                );
            }
            "timeout" => info.timeout = Some(positive(value, "management.timeout")?),
            "cooldown" => info.cooldown = Some(positive(value, "management.cooldown")?),
            "cacheDuration" => {
                info.cache_duration = Some(duration(value, "management.cacheDuration")?);
            }
            other => {
                return Err(bad(format!(
                    "\"management\" has localOnly, timeout, cooldown and cacheDuration, \
                     not {other:?}"
                )))
            }
        }
    }
    Ok(info)
}

/// A time interval (clause 5.2.11).
fn interval(v: &Value, member: &str) -> Result<TimeInterval, ModelError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad(format!("\"{member}\" must be an object")))?;
    let start = obj
        .get("startAt")
        .ok_or_else(|| bad(format!("\"{member}\" needs \"startAt\"")))?;
    let start_text = string(start, "startAt")?;
    let start_at = date_time_text(&start_text, "startAt")?;
    let end_text = obj.get("endAt").map(|e| string(e, "endAt")).transpose()?;
    let end_at = end_text
        .as_deref()
        .map(|s| date_time_text(s, "endAt"))
        .transpose()?;
    Ok(TimeInterval {
        start_at,
        end_at,
        start_text,
        end_text,
    })
}

fn geometry(v: &Value, member: &str) -> Result<Value, ModelError> {
    check_geometry(v).map_err(|why| bad(format!("\"{member}\" is not a geometry: {why}")))?;
    Ok(v.clone())
}

/// Dataset ids: URIs or `@none`.
fn dataset_ids(v: &Value) -> Result<Vec<String>, ModelError> {
    let items: Vec<&Value> = match v {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::String(_) => vec![v],
        _ => {
            return Err(bad(
                "\"datasetId\" must be a URI or a non-empty array of URIs",
            ))
        }
    };
    items
        .into_iter()
        .map(|i| match i.as_str() {
            Some(s) if s == "@none" || is_uri(s) => Ok(s.to_owned()),
            _ => Err(bad("\"datasetId\" values must be URIs or \"@none\"")),
        })
        .collect()
}

/// An ISO 8601 duration (`P...`), as written.
fn duration(v: &Value, member: &str) -> Result<String, ModelError> {
    let s = string(v, member)?;
    let body = s.strip_prefix('P').unwrap_or_default();
    let fine = !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || b"YMWDTHS.,".contains(&c))
        && body.bytes().any(|c| c.is_ascii_digit())
        && !body.ends_with('T');
    if fine {
        Ok(s)
    } else {
        Err(bad(format!(
            "\"{member}\" {s:?} is not an ISO 8601 duration"
        )))
    }
}

fn check_type(v: &Value) -> Result<(), ModelError> {
    match v.as_str() {
        Some(REGISTRATION | REGISTRATION_IRI) => Ok(()),
        _ => Err(bad(format!(
            "the registration \"type\" must be \"{REGISTRATION}\""
        ))),
    }
}

fn registration_id(v: &Value) -> Result<String, ModelError> {
    match v.as_str() {
        Some(id) if is_uri(id) => Ok(id.to_owned()),
        Some(id) => Err(bad(format!("the registration id {id:?} is not a URI"))),
        None => Err(bad("the registration \"id\" must be a string")),
    }
}

fn non_empty_array<'a>(v: &'a Value, member: &str) -> Result<&'a Vec<Value>, ModelError> {
    match v.as_array() {
        Some(items) if !items.is_empty() => Ok(items),
        Some(_) => Err(bad(format!("\"{member}\" cannot be an empty array"))),
        None => Err(bad(format!("\"{member}\" must be an array"))),
    }
}

/// A non-empty string.
fn text(v: &Value, member: &str) -> Result<String, ModelError> {
    match v.as_str() {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(bad(format!("\"{member}\" must be a non-empty string"))),
    }
}
