//! A subscription's selection compiled once: entity selectors, watched attributes, q, geoQ
//! and scopeQ as typed queries, and the index keys that route changes to it.

use std::collections::HashSet;
use std::sync::Arc;

use rigel_model::subscription::Subscription;
use rigel_model::{Entity, TermMap};
use rigel_query::{
    EntityQuery, EntitySelector, GeoQuery, IdPattern, Language, QExpr, QOptions, QueryError,
    ScopeExpr, TypeExpr,
};

/// The default GeoProperty of a geoQ (clause 5.2.13).
const LOCATION: &str = "https://uri.etsi.org/ngsi-ld/location";

/// Where the subscription index files a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKeys {
    /// Only changes to entities of one of these types can match.
    Types(Vec<String>),
    /// Any change may match (no entity selectors: watched attributes only).
    Any,
}

/// The compiled selection of one subscription.
#[derive(Debug)]
pub struct Compiled {
    /// The entities, q, geoQ and scopeQ as the declarative query entity queries use too.
    selection: Arc<EntityQuery>,
    watched: Option<HashSet<String>>,
}

impl Compiled {
    /// Compiles the subscription's texts, expanding their terms with `terms` (a recording
    /// map at creation, the subscription's frozen terms afterwards).
    pub fn compile(sub: &Subscription, terms: &dyn TermMap) -> Result<Compiled, QueryError> {
        let selectors = sub
            .entities
            .iter()
            .map(|e| {
                Ok(EntitySelector {
                    ids: e.id.clone().map(|id| vec![id]),
                    id_pattern: e.id_pattern.as_deref().map(IdPattern::parse).transpose()?,
                    types: Some(TypeExpr::parse(&e.type_selection, terms)?),
                })
            })
            .collect::<Result<Vec<EntitySelector>, QueryError>>()?;
        let expand_list = |list: &Option<String>| -> Vec<String> {
            list.as_deref()
                .map(|l| {
                    l.split(',')
                        .map(|n| terms.expand(n.trim()).into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let expand_values = expand_list(&sub.expand_values);
        let json_keys = expand_list(&sub.json_keys);
        let q = sub
            .q
            .as_deref()
            .map(|q| {
                QExpr::parse(
                    &percent_decoded(q),
                    terms,
                    &QOptions {
                        expand_values: &expand_values,
                        json_keys: &json_keys,
                    },
                )
            })
            .transpose()?;
        if q.as_ref().is_some_and(|q| q.linked_depth() > 0) {
            return Err(QueryError::unsupported(
                Language::Q,
                "linked-entity terms (rel{attr}) are not evaluated in subscriptions",
            ));
        }
        let geo = sub
            .geo_q
            .as_ref()
            .map(|g| {
                GeoQuery::from_parts(
                    &g.georel,
                    &g.geometry,
                    &g.coordinates,
                    g.geoproperty.as_deref().unwrap_or(LOCATION),
                )
            })
            .transpose()?;
        let scope = sub.scope_q.as_deref().map(ScopeExpr::parse).transpose()?;
        Ok(Compiled {
            selection: Arc::new(EntityQuery {
                selectors,
                q,
                geo,
                scope,
                ..EntityQuery::default()
            }),
            watched: sub
                .watched_attributes
                .as_ref()
                .map(|w| w.iter().cloned().collect()),
        })
    }

    /// The index keys: the union of the types every selector needs, or `Any` when a
    /// selector (or the absence of selectors) admits every type.
    pub fn index_keys(&self) -> IndexKeys {
        if self.selection.selectors.is_empty() {
            return IndexKeys::Any;
        }
        let mut types = Vec::new();
        for s in &self.selection.selectors {
            let needed = s
                .types
                .as_ref()
                .map(TypeExpr::index_types)
                .unwrap_or_default();
            if needed.is_empty() {
                return IndexKeys::Any;
            }
            types.extend(needed);
        }
        types.sort();
        types.dedup();
        IndexKeys::Types(types)
    }

    /// Whether the entity is one of the subscribed entities (the selectors alone).
    pub fn selects(&self, entity: &Entity) -> bool {
        self.selection.selects(entity)
    }

    /// Whether the entity is subscribed and meets q, geoQ and scopeQ (clause 5.8.6).
    pub fn matches(&self, entity: &Entity) -> bool {
        self.selection.matches(entity)
    }

    /// The subscription's entities, q, geoQ and scopeQ as a query over the store (what a
    /// periodic notification reads).
    pub fn selection(&self) -> Arc<EntityQuery> {
        Arc::clone(&self.selection)
    }

    /// Whether a change to `attribute` is watched.
    pub fn watches(&self, attribute: &str) -> bool {
        self.watched.as_ref().is_none_or(|w| w.contains(attribute))
    }

    /// The watched attributes, if restricted (for the index of watched-only subscriptions).
    pub fn watched(&self) -> Option<&HashSet<String>> {
        self.watched.as_ref()
    }
}

/// A q text with its valid `%XX` escapes decoded: clients write the same q in a subscription
/// as in a URL, escapes included. Anything that is not a valid escape stays as written.
fn percent_decoded(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('%') {
        return std::borrow::Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) => std::borrow::Cow::Owned(decoded),
        Err(_) => std::borrow::Cow::Borrowed(text),
    }
}
