//! The typed NGSI-LD entity: every attribute kind, multi-instance attributes, sub-attributes.
//!
//! Below the HTTP layer all names held here (entity types, attribute names, vocab
//! values) are full IRIs; the request's @context is applied only at the edges.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The IRI of an entity's `scope` (clause 4.18); the history files scope changes under it
/// as instances of a Property (4.5.6).
pub const SCOPE_IRI: &str = "https://uri.etsi.org/ngsi-ld/scope";

/// Attribute name (full IRI) -> its instances, one per distinct `datasetId`
/// (at most one instance without a datasetId: the default instance).
pub type Attributes = BTreeMap<String, Vec<Attribute>>;

/// An NGSI-LD entity as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// The entity id, an absolute URI.
    pub id: String,
    /// Expanded type IRIs, never empty, without duplicates.
    pub types: Vec<String>,
    /// Scopes (clause 4.18), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    #[serde(default)]
    pub attributes: Attributes,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// One instance of an attribute (or a sub-attribute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub value: AttributeValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
    /// Validated ISO 8601 date-time, kept as the client wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
    /// Validated ISO 8601 date-time after which the instance expires (clause 4.22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Sub-attributes (properties of properties, relationships of properties, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sub_attributes: BTreeMap<String, Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<DateTime<Utc>>,
}

impl Attribute {
    /// The optional text members, always in this order (datasetId, observedAt, unitCode,
    /// valueType, expiresAt): the record codec writes the present ones in it.
    pub fn text_members(&self) -> [&Option<String>; 5] {
        [
            &self.dataset_id,
            &self.observed_at,
            &self.unit_code,
            &self.value_type,
            &self.expires_at,
        ]
    }

    /// An instance holding `value` and nothing else (no datasetId, no sub-attributes).
    pub fn new(value: AttributeValue) -> Self {
        Attribute {
            value,
            dataset_id: None,
            observed_at: None,
            unit_code: None,
            value_type: None,
            expires_at: None,
            sub_attributes: BTreeMap::new(),
            created_at: None,
            modified_at: None,
        }
    }
}

/// The attribute kinds of clause 4.5 with their payloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum AttributeValue {
    /// `value`: any JSON value except null.
    Property(Value),
    /// `object`: one URI or an array of URIs; `objectType` optional expanded type(s).
    Relationship {
        object: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        object_type: Option<Value>,
    },
    /// `value`: a validated GeoJSON geometry.
    GeoProperty(Value),
    /// `languageMap`: language tag -> string or array of strings.
    LanguageProperty(Map<String, Value>),
    /// `vocab`: expanded IRI(s), a string or an array of strings.
    VocabProperty(Value),
    /// `json`: any JSON value, never expanded.
    JsonProperty(Value),
    /// `valueList`: an ordered list of values.
    ListProperty(Vec<Value>),
    /// `objectList`: an ordered list of URIs; `objectType` optional.
    ListRelationship {
        object_list: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        object_type: Option<Value>,
    },
}

/// The attribute kinds of clause 4.5, by their `type` names.
pub const ATTRIBUTE_KINDS: &[&str] = &[
    "Property",
    "Relationship",
    "GeoProperty",
    "LanguageProperty",
    "VocabProperty",
    "JsonProperty",
    "ListProperty",
    "ListRelationship",
];

impl AttributeValue {
    /// The short type name of the kind, as in the core @context.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Property(_) => "Property",
            Self::Relationship { .. } => "Relationship",
            Self::GeoProperty(_) => "GeoProperty",
            Self::LanguageProperty(_) => "LanguageProperty",
            Self::VocabProperty(_) => "VocabProperty",
            Self::JsonProperty(_) => "JsonProperty",
            Self::ListProperty(_) => "ListProperty",
            Self::ListRelationship { .. } => "ListRelationship",
        }
    }
}

impl Entity {
    /// All instances of an attribute, empty when absent.
    pub fn instances(&self, name: &str) -> &[Attribute] {
        self.attributes.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}
