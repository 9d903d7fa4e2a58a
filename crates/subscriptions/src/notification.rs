//! Building a Notification (clause 5.3.1) as clause 5.8.6 describes: the changed entities in
//! the subscription's format, projected to its attributes, compacted with its @context, with
//! deletions and previous values shown as asked.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rigel_model::codec::render::{
    format_time, insert_entity_times, render_entity, Format, LangPreference, Projection,
    RenderOptions,
};
use rigel_model::subscription::{NotificationMedia, Subscription, Trigger};
use rigel_model::{Entity, Tenant, TermMap};
use rigel_storage::ChangeEvent;
use serde_json::{Map, Value};

use crate::change::{Classified, EntityChange};
use crate::deleted::{add_deleted_instances, deleted_attribute, DeletedStyle};
use crate::deliver::Outgoing;

const JSONLD_CONTEXT_REL: &str = "http://www.w3.org/ns/json-ld#context";
const LOCATION: &str = "https://uri.etsi.org/ngsi-ld/location";

/// One change waiting to be notified.
#[derive(Debug, Clone)]
pub struct Pending {
    pub event: Arc<ChangeEvent>,
    pub change: Arc<Classified>,
    /// Renderings of this change, shared by the subscriptions it is queued for.
    pub cache: Arc<RenderCache>,
    /// When the store noted the change in its outbox: dropped with the last copy.
    #[expect(dead_code, reason = "held for what its Drop does")]
    pub(crate) receipt: Option<Arc<crate::receipts::Receipt>>,
}

/// Serialized renderings of one change, by [`render_key`].
#[derive(Debug, Default)]
pub struct RenderCache(Mutex<Vec<(u64, Arc<str>)>>);

impl RenderCache {
    fn get(&self, key: u64) -> Option<Arc<str>> {
        let cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: u64, json: Arc<str>) {
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !cached.iter().any(|(k, _)| *k == key) {
            cached.push((key, json));
        }
    }
}

/// A notified entity: rendered (to be completed, e.g. with linked entities) or already
/// serialized.
pub enum Piece {
    Object(Map<String, Value>),
    Json(Arc<str>),
}

/// What decides how a subscription renders a change: subscriptions with equal keys render
/// every change identically, so one rendering serves them all.
pub fn render_key(sub: &Subscription) -> u64 {
    use std::hash::{Hash, Hasher};
    let n = &sub.notification;
    let shape = serde_json::json!([
        n.attributes,
        n.pick,
        n.omit,
        n.format,
        n.sys_attrs,
        n.show_changes,
        n.join,
        n.join_level,
        n.endpoint.accept,
        sub.lang,
        sub.dataset_id,
        sub.jsonld_context,
        sub.watched_attributes,
        sub.fires_on(Trigger::EntityDeleted),
        sub.terms,
    ]);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    shape.to_string().hash(&mut hasher);
    hasher.finish()
}

fn push_json(out: &mut Vec<u8>, value: &Value) {
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// Builds notifications for one subscription.
pub struct NotificationBuilder<'a> {
    sub: &'a Subscription,
    terms: &'a dyn TermMap,
    options: RenderOptions,
}

impl<'a> NotificationBuilder<'a> {
    /// `terms` is the subscription's `jsonldContext`, resolved.
    pub fn new(sub: &'a Subscription, terms: &'a dyn TermMap) -> Self {
        let n = &sub.notification;
        let frozen = sub.frozen_terms();
        let mut projection = Projection {
            keep: n
                .attributes
                .as_ref()
                .map(|a| a.iter().cloned().collect::<HashSet<_>>()),
            ..Projection::default()
        };
        if let Some(pick) = &n.pick {
            let mut keep = HashSet::new();
            let (mut id, mut ty) = (false, false);
            for member in pick {
                match member.as_str() {
                    "id" => id = true,
                    "type" => ty = true,
                    "scope" => {}
                    other => {
                        keep.insert(frozen.expand(other).into_owned());
                    }
                }
            }
            projection.keep = Some(keep);
            projection.drop_id = !id;
            projection.drop_type = !ty;
        }
        if let Some(omit) = &n.omit {
            for member in omit {
                match member.as_str() {
                    "id" => projection.drop_id = true,
                    "type" => projection.drop_type = true,
                    other => {
                        projection.drop.insert(frozen.expand(other).into_owned());
                    }
                }
            }
        }
        let options = RenderOptions {
            format: n.format,
            sys_attrs: n.sys_attrs,
            lang: sub.lang.as_deref().map(LangPreference::parse),
            projection,
        };
        Self {
            sub,
            terms,
            options,
        }
    }

    /// The rendered entity of one pending change.
    pub fn render_change(&self, pending: &Pending) -> Option<Map<String, Value>> {
        let event = &pending.event;
        let style = DeletedStyle {
            format: self.options.format,
            sys_attrs: self.options.sys_attrs,
            at: event.at,
        };
        match pending.change.entity {
            EntityChange::Deleted => {
                let previous = event.previous.as_deref()?;
                Some(self.render_deleted(previous, &style))
            }
            _ => {
                let current = event.current.as_deref()?;
                let mut out = self.render(current);
                let before = match (
                    self.sub.notification.show_changes,
                    event.previous.as_deref(),
                ) {
                    (true, Some(previous)) if self.options.format != Format::KeyValues => {
                        Some(self.render(previous))
                    }
                    _ => None,
                };
                if let Some(previous) = event.previous.as_deref() {
                    self.add_deletions(
                        &mut out,
                        previous,
                        &pending.change,
                        &style,
                        before.as_ref(),
                    );
                }
                if let Some(before) = &before {
                    self.add_previous_values(&mut out, before, &pending.change);
                }
                Some(out)
            }
        }
    }

    /// The projection of notified entities (for following their relationships).
    pub fn projection(&self) -> &Projection {
        &self.options.projection
    }

    pub fn format(&self) -> Format {
        self.options.format
    }

    /// A name compacted with the notification's @context.
    pub fn compact(&self, iri: &str) -> String {
        self.terms.compact(iri).into_owned()
    }

    /// A linked entity (clause 4.5.23): whole, in the notification's format.
    pub fn render_linked(&self, entity: &Entity) -> Map<String, Value> {
        let options = RenderOptions {
            projection: Projection::default(),
            ..self.options.clone()
        };
        render_entity(entity, self.terms, &options)
    }

    /// Renders an entity as the subscription asks (periodic notifications too).
    pub fn render(&self, entity: &Entity) -> Map<String, Value> {
        let filtered;
        let entity = match &self.sub.dataset_id {
            Some(ids) => {
                filtered = keep_datasets(entity, ids);
                &filtered
            }
            None => entity,
        };
        let mut out = render_entity(entity, self.terms, &self.options);
        // sysAttrs asks for the entity's timestamps in every notification format.
        if self.options.sys_attrs && self.options.format == Format::KeyValues {
            insert_entity_times(&mut out, entity);
        }
        out
    }

    /// A deleted entity: id, type and `deletedAt`; its attributes as deleted ones with their
    /// previous values under `showChanges`, or the watched ones when the subscription was
    /// fired by their deletion rather than by the entity's.
    fn render_deleted(&self, previous: &Entity, style: &DeletedStyle) -> Map<String, Value> {
        // Only id and type are shown: no copy of the attributes.
        let head = Entity {
            id: previous.id.clone(),
            types: previous.types.clone(),
            scope: None,
            attributes: Default::default(),
            created_at: previous.created_at,
            modified_at: previous.modified_at,
        };
        let plain = RenderOptions {
            format: self.options.format,
            ..RenderOptions::default()
        };
        let mut out = render_entity(&head, self.terms, &plain);
        if self.options.sys_attrs {
            insert_entity_times(&mut out, previous);
        }
        out.insert("deletedAt".into(), Value::String(format_time(&style.at)));
        let show_changes = self.sub.notification.show_changes;
        let by_attribute = !self.sub.fires_on(Trigger::EntityDeleted);
        if !show_changes && !by_attribute {
            return out;
        }
        let before = show_changes.then(|| self.render(previous));
        for (name, instances) in &previous.attributes {
            let watched = self
                .sub
                .watched_attributes
                .as_ref()
                .is_none_or(|w| w.contains(name));
            if !self.options.projection.keeps(name) || (by_attribute && !show_changes && !watched) {
                continue;
            }
            let key = self.terms.compact(name).into_owned();
            let previous_rendering = before.as_ref().and_then(|b| b.get(&key));
            out.insert(key, deleted_attribute(instances, style, previous_rendering));
        }
        out
    }

    /// Deleted attributes and instances of an updated entity (clause 5.8.6).
    fn add_deletions(
        &self,
        out: &mut Map<String, Value>,
        previous: &Entity,
        change: &Classified,
        style: &DeletedStyle,
        before: Option<&Map<String, Value>>,
    ) {
        for (name, trigger) in &change.attributes {
            if *trigger != Trigger::AttributeDeleted || !self.options.projection.keeps(name) {
                continue;
            }
            let key = self.terms.compact(name).into_owned();
            let previous_rendering = before.and_then(|b| b.get(&key));
            if !change.deleted_instances.contains_key(name) {
                let instances = previous.instances(name);
                out.insert(key, deleted_attribute(instances, style, previous_rendering));
            }
        }
        for (name, datasets) in &change.deleted_instances {
            if !self.options.projection.keeps(name) {
                continue;
            }
            let key = self.terms.compact(name).into_owned();
            let removed: Vec<&rigel_model::Attribute> = previous
                .instances(name)
                .iter()
                .filter(|i| datasets.contains(&i.dataset_id))
                .collect();
            let previous_rendering = before.and_then(|b| b.get(&key));
            let entry = out.entry(key).or_insert(Value::Null);
            add_deleted_instances(entry, &removed, style, previous_rendering);
        }
    }

    /// `showChanges`: the previous value of each updated attribute beside the new one.
    fn add_previous_values(
        &self,
        out: &mut Map<String, Value>,
        before: &Map<String, Value>,
        change: &Classified,
    ) {
        for (name, trigger) in &change.attributes {
            if *trigger != Trigger::AttributeUpdated {
                continue;
            }
            let key = self.terms.compact(name).into_owned();
            if let (Some(now), Some(then)) = (out.get_mut(&key), before.get(&key)) {
                add_previous(now, then);
            }
        }
    }

    /// The rendering of a change shared by every subscription that renders alike (`key`,
    /// see [`render_key`]): rendered and serialized once per change, not once per subscription.
    pub fn render_change_shared(&self, pending: &Pending, key: u64) -> Option<Piece> {
        if self.sub.notification.endpoint.accept == NotificationMedia::GeoJson {
            return self.render_change(pending).map(Piece::Object);
        }
        if let Some(hit) = pending.cache.get(key) {
            return Some(Piece::Json(hit));
        }
        let rendered = self.render_change(pending)?;
        let json = self.serialized(rendered);
        pending.cache.put(key, json.clone());
        Some(Piece::Json(json))
    }

    /// An entity as it appears in `data`: with the @context for JSON-LD (6.3.5).
    fn serialized(&self, mut entity: Map<String, Value>) -> Arc<str> {
        if self.sub.notification.endpoint.accept == NotificationMedia::JsonLd {
            entity.insert(
                "@context".into(),
                Value::String(self.sub.jsonld_context.clone()),
            );
        }
        Arc::from(serde_json::to_string(&Value::Object(entity)).unwrap_or_default())
    }

    /// The Notification body and its delivery headers.
    pub fn notification(
        &self,
        tenant: &Tenant,
        entities: Vec<Piece>,
        now: DateTime<Utc>,
    ) -> Outgoing {
        let endpoint = &self.sub.notification.endpoint;
        let body = match endpoint.accept {
            NotificationMedia::GeoJson => self.geojson_body(entities, now),
            _ => {
                let mut body = Vec::with_capacity(256 + entities.len() * 512);
                body.extend_from_slice(b"{\"id\":");
                push_json(&mut body, &Value::String(notification_id()));
                body.extend_from_slice(b",\"type\":\"Notification\",\"subscriptionId\":");
                push_json(&mut body, &Value::String(self.sub.id.clone()));
                body.extend_from_slice(b",\"notifiedAt\":");
                push_json(&mut body, &Value::String(format_time(&now)));
                body.extend_from_slice(b",\"data\":[");
                for (i, piece) in entities.into_iter().enumerate() {
                    if i > 0 {
                        body.push(b',');
                    }
                    match piece {
                        Piece::Json(json) => body.extend_from_slice(json.as_bytes()),
                        Piece::Object(object) => {
                            body.extend_from_slice(self.serialized(object).as_bytes())
                        }
                    }
                }
                body.extend_from_slice(b"]}");
                body
            }
        };
        outgoing(self.sub, tenant, body, endpoint.accept)
    }

    /// A GeoJSON notification: `data` is a FeatureCollection (clause 5.3.1).
    fn geojson_body(&self, entities: Vec<Piece>, now: DateTime<Utc>) -> Vec<u8> {
        let endpoint = &self.sub.notification.endpoint;
        let prefer_json = endpoint
            .receiver_info
            .iter()
            .any(|kv| kv.key.eq_ignore_ascii_case("Prefer") && kv.value == "body=json");
        let features = entities
            .into_iter()
            .map(|piece| match piece {
                Piece::Object(object) => self.feature(object),
                Piece::Json(json) => match serde_json::from_str(&json) {
                    Ok(Value::Object(object)) => self.feature(object),
                    _ => Value::Null,
                },
            })
            .collect();
        let mut collection = Map::new();
        collection.insert("type".into(), Value::String("FeatureCollection".into()));
        collection.insert("features".into(), Value::Array(features));
        if !prefer_json {
            collection.insert(
                "@context".into(),
                Value::String(self.sub.jsonld_context.clone()),
            );
        }
        let mut body = Map::new();
        body.insert("id".into(), Value::String(notification_id()));
        body.insert("type".into(), Value::String("Notification".into()));
        body.insert("subscriptionId".into(), Value::String(self.sub.id.clone()));
        body.insert("notifiedAt".into(), Value::String(format_time(&now)));
        body.insert("data".into(), Value::Object(collection));
        serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
    }

    /// A rendered entity as a GeoJSON Feature (clause 4.5.16), located by `location`.
    fn feature(&self, rendered: Map<String, Value>) -> Value {
        let key = self.terms.compact(LOCATION).into_owned();
        let geometry = match rendered.get(&key) {
            Some(Value::Object(a)) if a.contains_key("coordinates") => Value::Object(a.clone()),
            Some(Value::Object(a)) => a.get("value").cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let mut feature = Map::new();
        if let Some(id) = rendered.get("id") {
            feature.insert("id".into(), id.clone());
        }
        feature.insert("type".into(), Value::String("Feature".into()));
        feature.insert("geometry".into(), geometry);
        feature.insert("properties".into(), Value::Object(rendered));
        Value::Object(feature)
    }
}

/// The entity with only the attribute instances of the given datasetIds (`@none`: default).
fn keep_datasets(entity: &Entity, ids: &[String]) -> Entity {
    let mut out = entity.clone();
    for instances in out.attributes.values_mut() {
        instances.retain(|a| match &a.dataset_id {
            Some(d) => ids.iter().any(|i| i == d),
            None => ids.iter().any(|i| i == "@none"),
        });
    }
    out.attributes.retain(|_, v| !v.is_empty());
    out
}

/// Adds `previousValue` / `previousObject` / ... to a rendered attribute from its previous
/// rendering (instance by instance for multi-instance attributes).
fn add_previous(now: &mut Value, then: &Value) {
    match (now, then) {
        (Value::Array(now), Value::Array(then)) => {
            for (n, t) in now.iter_mut().zip(then) {
                add_previous(n, t);
            }
        }
        (now, then) => {
            if !now.is_object() {
                let value = now.take();
                let mut wrapped = Map::new();
                wrapped.insert("value".into(), value);
                *now = Value::Object(wrapped);
            }
            let Value::Object(now) = now else { return };
            for (member, previous) in [
                ("value", "previousValue"),
                ("object", "previousObject"),
                ("languageMap", "previousLanguageMap"),
                ("vocab", "previousVocab"),
                ("json", "previousJson"),
                ("valueList", "previousValueList"),
                ("objectList", "previousObjectList"),
            ] {
                let old = match then {
                    Value::Object(t) => t.get(member),
                    plain if member == "value" => Some(plain),
                    _ => None,
                };
                if let Some(old) = old {
                    if now.get(member) != Some(old) {
                        now.insert(previous.into(), old.clone());
                    }
                }
            }
        }
    }
}

/// A notification id unique in this process and across restarts.
/// A notification body of `sub` with its delivery headers (clause 6.3.x): the `Link` to the
/// subscription's @context unless the body is JSON-LD, `receiverInfo` and `NGSILD-Tenant`.
pub(crate) fn outgoing(
    sub: &Subscription,
    tenant: &Tenant,
    body: Vec<u8>,
    media: NotificationMedia,
) -> Outgoing {
    let endpoint = &sub.notification.endpoint;
    let link = (media != NotificationMedia::JsonLd).then(|| {
        format!(
            "<{}>; rel=\"{JSONLD_CONTEXT_REL}\"; type=\"application/ld+json\"",
            sub.jsonld_context
        )
    });
    let mut headers: Vec<(String, String)> = endpoint
        .receiver_info
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    if let Some(name) = tenant.name() {
        headers.push(("NGSILD-Tenant".into(), name.to_owned()));
    }
    Outgoing {
        body,
        content_type: media.mime(),
        link,
        headers,
    }
}

pub(crate) fn notification_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("urn:ngsi-ld:Notification:{nanos:x}-{n:x}")
}
