//! Test helpers: a small term map and builders for entities and attributes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use rigel_model::{Attribute, AttributeValue, Entity, TermMap};
use serde_json::Value;

pub(crate) const EX: &str = "https://example.org/";
pub(crate) const CORE: &str = "https://uri.etsi.org/ngsi-ld/";

/// Maps a term `foo` to `https://example.org/foo`, the core names to the core vocabulary
/// and leaves IRIs (anything with a colon) alone.
pub(crate) struct Terms;

const CORE_TERMS: &[&str] = &[
    "location",
    "observationSpace",
    "operationSpace",
    "observedAt",
    "createdAt",
    "modifiedAt",
    "unitCode",
    "datasetId",
    "expiresAt",
];

impl TermMap for Terms {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        if term.contains(':') {
            Cow::Borrowed(term)
        } else if CORE_TERMS.contains(&term) {
            Cow::Owned(format!("{CORE}{term}"))
        } else {
            Cow::Owned(format!("{EX}{term}"))
        }
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(iri.strip_prefix(EX).unwrap_or(iri))
    }
}

/// The expanded IRI of `term` under [`Terms`].
pub(crate) fn iri(term: &str) -> String {
    Terms.expand(term).into_owned()
}

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| panic!("bad test time {s}"))
}

/// An entity of type `Building` (expanded) created at 2024-01-01.
pub(crate) fn entity(id: &str) -> Entity {
    let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    Entity {
        id: id.to_owned(),
        types: vec![iri("Building")],
        scope: None,
        attributes: BTreeMap::new(),
        created_at: t,
        modified_at: t,
    }
}

pub(crate) trait EntityExt {
    /// Adds an instance of attribute `term`.
    fn with(self, term: &str, attribute: Attribute) -> Self;
    fn typed(self, types: &[&str]) -> Self;
    fn scoped(self, scopes: &[&str]) -> Self;
}

impl EntityExt for Entity {
    fn with(mut self, term: &str, attribute: Attribute) -> Self {
        self.attributes
            .entry(iri(term))
            .or_default()
            .push(attribute);
        self
    }

    fn typed(mut self, types: &[&str]) -> Self {
        self.types = types.iter().map(|t| iri(t)).collect();
        self
    }

    fn scoped(mut self, scopes: &[&str]) -> Self {
        self.scope = Some(scopes.iter().map(|s| (*s).to_owned()).collect());
        self
    }
}

pub(crate) fn attribute(value: AttributeValue) -> Attribute {
    Attribute::new(value)
}

pub(crate) fn prop(v: Value) -> Attribute {
    attribute(AttributeValue::Property(v))
}

pub(crate) fn rel(object: Value) -> Attribute {
    attribute(AttributeValue::Relationship {
        object,
        object_type: None,
    })
}

pub(crate) fn list_rel(ids: &[&str]) -> Attribute {
    attribute(AttributeValue::ListRelationship {
        object_list: ids.iter().map(|s| (*s).to_owned()).collect(),
        object_type: None,
    })
}

pub(crate) fn geo_prop(v: Value) -> Attribute {
    attribute(AttributeValue::GeoProperty(v))
}

pub(crate) fn lang(v: Value) -> Attribute {
    match v {
        Value::Object(map) => attribute(AttributeValue::LanguageProperty(map)),
        other => panic!("a language map must be an object, not {other}"),
    }
}

pub(crate) fn vocab(v: Value) -> Attribute {
    attribute(AttributeValue::VocabProperty(v))
}

pub(crate) fn json_prop(v: Value) -> Attribute {
    attribute(AttributeValue::JsonProperty(v))
}

pub(crate) fn list_prop(items: Vec<Value>) -> Attribute {
    attribute(AttributeValue::ListProperty(items))
}

pub(crate) trait AttributeExt {
    fn observed(self, at: &str) -> Self;
    fn dataset(self, id: &str) -> Self;
    fn unit(self, code: &str) -> Self;
    fn created(self, at: &str) -> Self;
    fn sub(self, term: &str, attribute: Attribute) -> Self;
}

impl AttributeExt for Attribute {
    fn observed(mut self, at: &str) -> Self {
        self.observed_at = Some(at.to_owned());
        self
    }

    fn dataset(mut self, id: &str) -> Self {
        self.dataset_id = Some(id.to_owned());
        self
    }

    fn unit(mut self, code: &str) -> Self {
        self.unit_code = Some(code.to_owned());
        self
    }

    fn created(mut self, t: &str) -> Self {
        self.created_at = Some(at(t));
        self
    }

    fn sub(mut self, term: &str, attribute: Attribute) -> Self {
        self.sub_attributes.insert(iri(term), attribute);
        self
    }
}
