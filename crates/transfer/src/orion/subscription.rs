//! One document of Orion-LD's `csubs` collection as the NGSI-LD Subscription body a client
//! would have sent, with the members a body cannot carry (timestamps, counters, status)
//! beside it. Its terms are expanded with the subscription's own @context (`ldContext`)
//! by whoever parses the body.

use chrono::{DateTime, Utc};
use rigel_model::subscription::DeliveryStatus;
use serde_json::{json, Map, Value};

use super::values::{flag, number, text, time, NEVER};

/// A subscription read from `csubs`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrionSubscription {
    pub id: String,
    /// The body to parse: names as Orion-LD kept them (expanded, or terms of `context`).
    pub body: Map<String, Value>,
    /// The @context the subscription was created with, which also compacts its
    /// notifications.
    pub context: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub delivery: DeliveryStatus,
    pub remarks: Vec<String>,
}

/// Converts a `csubs` document; an error when it has no id or no endpoint.
pub fn subscription(doc: &Value) -> Result<OrionSubscription, String> {
    let id = doc.get("_id").and_then(text).ok_or("no _id")?;
    let id = if id.contains(':') {
        id
    } else {
        format!("urn:ngsi-ld:Subscription:{id}")
    };
    let reference = doc
        .get("reference")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| "no reference (endpoint)".to_owned())?;
    let mut remarks = Vec::new();
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert("type".into(), json!("Subscription"));
    let string = |name: &str| {
        doc.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(name) = string("name") {
        body.insert("subscriptionName".into(), json!(name));
    }
    if let Some(description) = string("description") {
        body.insert("description".into(), json!(description));
    }
    let entities: Vec<Value> = doc
        .get("entities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(selector)
        .collect();
    if !entities.is_empty() {
        body.insert("entities".into(), Value::Array(entities));
    }
    let watched = conditions(doc.get("conditions"));
    if !watched.is_empty() {
        body.insert("watchedAttributes".into(), json!(watched));
    }
    let expression = doc.get("expression");
    let part = |name: &str| {
        expression
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(q) = part("q") {
        body.insert("q".into(), json!(q));
    }
    if let Some(geometry) = part("geometry") {
        match geo_q(
            geometry,
            part("coords"),
            part("georel"),
            part("geoproperty"),
        ) {
            Ok(g) => {
                body.insert("geoQ".into(), g);
            }
            Err(why) => remarks.push(format!("geoQ left out: {why}")),
        }
    }
    if let Some(mq) = part("mq") {
        remarks.push(format!("NGSIv2 metadata filter mq={mq:?} left out"));
    }
    let throttling = doc.get("throttling").and_then(number).filter(|t| *t > 0.0);
    if let Some(t) = throttling {
        body.insert("throttling".into(), json!(t));
    }
    let mut notification = Map::new();
    let attributes: Vec<&str> = doc
        .get("attrs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !attributes.is_empty() {
        notification.insert("attributes".into(), json!(attributes));
    }
    if let Some(format) = string("format") {
        if ["normalized", "keyValues", "concise"].contains(&format.as_str()) {
            notification.insert("format".into(), json!(format));
        } else {
            remarks.push(format!(
                "format {format:?} is not NGSI-LD's, normalized used"
            ));
        }
    }
    let mut endpoint = Map::new();
    endpoint.insert("uri".into(), json!(reference));
    if let Some(accept) = string("mimeType") {
        endpoint.insert("accept".into(), json!(accept));
    }
    notification.insert("endpoint".into(), Value::Object(endpoint));
    body.insert("notification".into(), Value::Object(notification));
    if flag(doc.get("custom")) {
        remarks.push("NGSIv2 custom notification (headers, payload) left out".to_owned());
    }
    let expires_at = doc
        .get("expiration")
        .filter(|e| number(e).is_some_and(|secs| secs > 0.0 && secs < NEVER))
        .and_then(time);
    let status = string("status").unwrap_or_default();
    let delivery = DeliveryStatus {
        times_sent: counter(doc, &["count", "timesSent"]),
        times_failed: counter(doc, &["failsCounter", "timesFailed"]),
        last_notification: doc.get("lastNotification").and_then(time),
        last_success: doc.get("lastSuccess").and_then(time),
        last_failure: doc.get("lastFailure").and_then(time),
        ..DeliveryStatus::default()
    };
    Ok(OrionSubscription {
        id,
        body,
        context: string("ldContext"),
        created_at: doc.get("createdAt").and_then(time),
        modified_at: doc.get("modifiedAt").and_then(time),
        expires_at,
        is_active: !matches!(status.as_str(), "inactive" | "paused"),
        delivery,
        remarks,
    })
}

/// An `entities` element: `{id, isPattern, type}`, an empty id meaning none.
fn selector(e: &Value) -> Option<Value> {
    let entity_type = e
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())?;
    let mut out = Map::new();
    out.insert("type".into(), json!(entity_type));
    if let Some(id) = e
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
    {
        let key = if flag(e.get("isPattern")) {
            "idPattern"
        } else {
            "id"
        };
        out.insert(key.into(), json!(id));
    }
    Some(Value::Object(out))
}

/// watchedAttributes: a list of names, or the older `[{type: "ONCHANGE", value: [...]}]`.
fn conditions(v: Option<&Value>) -> Vec<String> {
    let mut names = Vec::new();
    for c in v.and_then(Value::as_array).into_iter().flatten() {
        match c {
            Value::String(s) if !s.is_empty() => names.push(s.clone()),
            Value::Object(o) => {
                for n in o
                    .get("value")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(s) = n.as_str() {
                        names.push(s.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    names
}

/// The geoQ of an `expression`: coordinates as a JSON array, or as Orion's
/// `lat,lon;lat,lon` text (turned into GeoJSON's longitude first).
fn geo_q(
    geometry: &str,
    coords: Option<&str>,
    georel: Option<&str>,
    property: Option<&str>,
) -> Result<Value, String> {
    let coords = coords.ok_or("no coordinates")?;
    let georel = georel.ok_or("no georel")?;
    let coordinates = if coords.trim_start().starts_with('[') {
        serde_json::from_str(coords).map_err(|e| format!("coordinates {coords:?}: {e}"))?
    } else {
        let mut points = Vec::new();
        for pair in coords.split(';') {
            let (lat, lon) = pair
                .split_once(',')
                .ok_or_else(|| format!("coordinates {coords:?}"))?;
            let lat: f64 = lat
                .trim()
                .parse()
                .map_err(|_| format!("coordinates {coords:?}"))?;
            let lon: f64 = lon
                .trim()
                .parse()
                .map_err(|_| format!("coordinates {coords:?}"))?;
            points.push(json!([lon, lat]));
        }
        match geometry {
            "Point" if points.len() == 1 => points.remove(0),
            "Polygon" => json!([points]),
            _ => Value::Array(points),
        }
    };
    let mut g = json!({"geometry": geometry, "coordinates": coordinates, "georel": georel});
    if let (Some(p), Some(o)) = (property, g.as_object_mut()) {
        o.insert("geoproperty".into(), json!(p));
    }
    Ok(g)
}

fn counter(doc: &Value, names: &[&str]) -> u64 {
    names
        .iter()
        .find_map(|n| doc.get(*n).and_then(number))
        .map_or(0, |n| n.max(0.0) as u64)
}
