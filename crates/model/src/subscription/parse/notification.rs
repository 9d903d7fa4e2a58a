//! Reading the `notification` member of a subscription (clauses 5.2.14 and 5.2.15).

use serde_json::Value;

use super::{expand_names, strings};
use crate::codec::render::Format;
use crate::members::{bad, boolean, key_values, positive, uri};
use crate::subscription::{Endpoint, Join, NotificationMedia, NotificationParams};
use crate::{ModelError, TermMap};

/// The `notification` member (clause 5.2.14); output-only members are ignored.
pub(super) fn parse_notification(
    v: &Value,
    terms: &dyn TermMap,
) -> Result<NotificationParams, ModelError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("\"notification\" must be an object"))?;
    let mut params = NotificationParams {
        attributes: None,
        pick: None,
        omit: None,
        format: Format::Normalized,
        sys_attrs: false,
        show_changes: false,
        join: None,
        join_level: None,
        endpoint: Endpoint {
            uri: String::new(),
            accept: NotificationMedia::Json,
            timeout_ms: None,
            cooldown_ms: None,
            receiver_info: Vec::new(),
            notifier_info: Vec::new(),
        },
    };
    let mut has_endpoint = false;
    for (name, value) in obj {
        let path = format!("notification.{name}");
        match name.as_str() {
            // The spec forbids an empty list; the FIWARE IoT Agent library always sends one
            // when it wants every attribute, so it is read as absent (docs/conformance.md).
            "attributes" if value.as_array().is_some_and(Vec::is_empty) => {}
            "attributes" => params.attributes = Some(notified_attributes(value, terms)?),
            "pick" => params.pick = Some(strings(value, &path)?),
            "omit" => params.omit = Some(strings(value, &path)?),
            "format" => params.format = format(value)?,
            "sysAttrs" => params.sys_attrs = boolean(value, &path)?,
            "showChanges" => params.show_changes = boolean(value, &path)?,
            "join" => params.join = join(value)?,
            "joinLevel" => params.join_level = Some(join_level(value)?),
            "endpoint" => {
                params.endpoint = endpoint(value)?;
                has_endpoint = true;
            }
            _ => {}
        }
    }
    if !has_endpoint {
        return Err(bad("\"notification\" has no \"endpoint\" member"));
    }
    if params.pick.is_some() && params.omit.is_some() {
        return Err(bad(
            "\"notification.pick\" and \"notification.omit\" cannot be used together",
        ));
    }
    if params.attributes.is_some() && (params.pick.is_some() || params.omit.is_some()) {
        return Err(bad(
            "\"notification.attributes\" cannot be combined with \"pick\" or \"omit\"",
        ));
    }
    if params.show_changes && params.format == Format::KeyValues {
        return Err(bad(
            "\"notification.showChanges\" cannot be true with the keyValues format",
        ));
    }
    Ok(params)
}

/// `notification.attributes`: like pick, but `id`, `type` and `scope` are not attributes.
fn notified_attributes(v: &Value, terms: &dyn TermMap) -> Result<Vec<String>, ModelError> {
    const MEMBER: &str = "notification.attributes";
    let names = strings(v, MEMBER)?;
    if let Some(n) = names
        .iter()
        .find(|n| matches!(n.as_str(), "id" | "type" | "scope"))
    {
        return Err(bad(format!(
            "\"{MEMBER}\" lists attributes only; {n:?} is an entity member"
        )));
    }
    expand_names(names, MEMBER, terms)
}

/// `notification.format` (clause 5.2.14.1); `simplified` is a synonym of `keyValues`.
fn format(v: &Value) -> Result<Format, ModelError> {
    match v.as_str() {
        Some("normalized") => Ok(Format::Normalized),
        Some("concise") => Ok(Format::Concise),
        Some("keyValues" | "simplified") => Ok(Format::KeyValues),
        _ => Err(bad(
            "\"notification.format\" must be \"normalized\", \"concise\", \"keyValues\" or \"simplified\"",
        )),
    }
}

fn join(v: &Value) -> Result<Option<Join>, ModelError> {
    match v.as_str() {
        Some("flat") => Ok(Some(Join::Flat)),
        Some("inline") => Ok(Some(Join::Inline)),
        Some("@none") => Ok(None),
        _ => Err(bad(
            "\"notification.join\" must be \"flat\", \"inline\" or \"@none\"",
        )),
    }
}

fn join_level(v: &Value) -> Result<u32, ModelError> {
    v.as_f64()
        .filter(|n| n.fract() == 0.0 && *n >= 1.0 && *n <= f64::from(u32::MAX))
        .map(|n| n as u32)
        .ok_or_else(|| bad("\"notification.joinLevel\" must be a positive integer"))
}

/// `notification.endpoint` (clause 5.2.15).
fn endpoint(v: &Value) -> Result<Endpoint, ModelError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("\"notification.endpoint\" must be an object"))?;
    let uri = match obj.get("uri") {
        Some(u) => uri(u, "notification.endpoint.uri")?,
        None => return Err(bad("\"notification.endpoint\" has no \"uri\" member")),
    };
    let accept = match obj.get("accept") {
        None => NotificationMedia::Json,
        Some(a) => [
            NotificationMedia::Json,
            NotificationMedia::JsonLd,
            NotificationMedia::GeoJson,
        ]
        .into_iter()
        .find(|m| a.as_str() == Some(m.mime()))
        .ok_or_else(|| {
            bad("\"notification.endpoint.accept\" must be \"application/json\", \"application/ld+json\" or \"application/geo+json\"")
        })?,
    };
    let number = |name: &str| {
        obj.get(name)
            .map(|n| positive(n, &format!("notification.endpoint.{name}")))
            .transpose()
    };
    let pairs = |name: &str| {
        obj.get(name)
            .map(|p| key_values(p, &format!("notification.endpoint.{name}")))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(Endpoint {
        uri,
        accept,
        timeout_ms: number("timeout")?,
        cooldown_ms: number("cooldown")?,
        receiver_info: pairs("receiverInfo")?,
        notifier_info: pairs("notifierInfo")?,
    })
}
