//! The binary entity body of record format 2: what every write stores since layout version 2.
//!
//! JSON (format 1) cost a quarter of a retrieve's CPU to parse and a tenth of an update's to
//! write (`serde_json` plus `chrono`'s text timestamps), and stored every IRI in full. This
//! format is written and read by hand, in one pass, with no intermediate tree:
//!
//! ```text
//! entity    = iri(id) count iri(type)* [scope] time(createdAt) time(modifiedAt)
//!             count (iri(name) count attribute*)*
//! scope     = 0 | 1 count str*
//! attribute = kind u8 · flags u8 · payload · the optional members flagged, in flag order
//!             (datasetId, observedAt, unitCode, valueType, expiresAt: str; createdAt,
//!             modifiedAt: time) · if flagged: count (iri(name) attribute)*
//! value     = tag u8 (null, false, true, u64, i64, f64, string, array, object) · payload
//! count,len = unsigned LEB128
//! str       = len bytes (UTF-8)
//! iri       = prefix u8 (0: none, else an entry of PREFIXES) · str(rest)
//! time      = seconds i64 LE · nanoseconds u32 LE
//! ```
//!
//! The id and types come first so that the writer can read an old record's types without
//! decoding the rest. Numbers keep their JSON kind (an integer stays an integer, `1.0` stays a
//! float) and objects keep their member order, so a decoded entity equals the one encoded.
//! Decoding checks every length against the bytes left and every string for UTF-8, and
//! answers a corrupt record with an error, never a panic or a huge allocation.

use chrono::{DateTime, Utc};
use rigel_model::{Attribute, AttributeValue, Entity};
use rigel_storage::StorageError;
use serde_json::{Map, Number, Value};

/// IRI prefixes stored as one byte (index + 1). Part of the format: entries may be added at
/// the end, never changed or removed. Longer prefixes of the same start come first.
const PREFIXES: [&str; 8] = [
    "https://uri.etsi.org/ngsi-ld/default-context/",
    "https://uri.etsi.org/ngsi-ld/",
    "https://smartdatamodels.org/dataModel.",
    "https://smartdatamodels.org/",
    "urn:ngsi-ld:",
    "https://w3id.org/",
    "https://",
    "http://",
];

/// Deepest nesting of JSON values and sub-attributes a record may hold. Parsing accepts at
/// most 128 levels of JSON, so a deeper record can only be corrupt.
const MAX_DEPTH: usize = 256;

const FLAG_DATASET_ID: u8 = 1;
const FLAG_OBSERVED_AT: u8 = 1 << 1;
const FLAG_UNIT_CODE: u8 = 1 << 2;
const FLAG_VALUE_TYPE: u8 = 1 << 3;
const FLAG_EXPIRES_AT: u8 = 1 << 4;
const FLAG_CREATED_AT: u8 = 1 << 5;
const FLAG_MODIFIED_AT: u8 = 1 << 6;
const FLAG_SUB_ATTRIBUTES: u8 = 1 << 7;

const KIND_PROPERTY: u8 = 0;
const KIND_RELATIONSHIP: u8 = 1;
const KIND_GEO_PROPERTY: u8 = 2;
const KIND_LANGUAGE_PROPERTY: u8 = 3;
const KIND_VOCAB_PROPERTY: u8 = 4;
const KIND_JSON_PROPERTY: u8 = 5;
const KIND_LIST_PROPERTY: u8 = 6;
const KIND_LIST_RELATIONSHIP: u8 = 7;

const VALUE_NULL: u8 = 0;
const VALUE_FALSE: u8 = 1;
const VALUE_TRUE: u8 = 2;
const VALUE_U64: u8 = 3;
const VALUE_I64: u8 = 4;
const VALUE_F64: u8 = 5;
const VALUE_STRING: u8 = 6;
const VALUE_ARRAY: u8 = 7;
const VALUE_OBJECT: u8 = 8;

/// Appends the body of `entity` to `out`.
pub(crate) fn encode_entity(entity: &Entity, out: &mut Vec<u8>) {
    put_iri(out, &entity.id);
    put_len(out, entity.types.len());
    for t in &entity.types {
        put_iri(out, t);
    }
    match &entity.scope {
        None => out.push(0),
        Some(scopes) => {
            out.push(1);
            put_len(out, scopes.len());
            for s in scopes {
                put_str(out, s);
            }
        }
    }
    put_time(out, &entity.created_at);
    put_time(out, &entity.modified_at);
    put_len(out, entity.attributes.len());
    for (name, instances) in &entity.attributes {
        put_iri(out, name);
        put_len(out, instances.len());
        for a in instances {
            put_attribute(out, a);
        }
    }
}

/// Decodes a whole body.
pub(crate) fn decode_entity(body: &[u8]) -> Result<Entity, StorageError> {
    let mut r = Reader { bytes: body };
    let id = r.iri()?;
    let types = r.iri_list()?;
    let scope = match r.byte()? {
        0 => None,
        1 => {
            let n = r.count()?;
            let mut scopes = Vec::with_capacity(n);
            for _ in 0..n {
                scopes.push(r.string()?);
            }
            Some(scopes)
        }
        other => return Err(corrupt(format!("scope marker {other}"))),
    };
    let created_at = r.time()?;
    let modified_at = r.time()?;
    let n = r.count()?;
    let mut attributes = std::collections::BTreeMap::new();
    for _ in 0..n {
        let name = r.iri()?;
        let k = r.count()?;
        let mut instances = Vec::with_capacity(k);
        for _ in 0..k {
            instances.push(r.attribute(0)?);
        }
        attributes.insert(name, instances);
    }
    if !r.bytes.is_empty() {
        return Err(corrupt("trailing bytes after the entity".into()));
    }
    Ok(Entity {
        id,
        types,
        scope,
        attributes,
        created_at,
        modified_at,
    })
}

/// Only the `modifiedAt` of a body, for the history headers that do not repeat it.
pub(crate) fn decode_modified_at(body: &[u8]) -> Result<DateTime<Utc>, StorageError> {
    let mut r = Reader { bytes: body };
    r.skip_str()?;
    for _ in 0..r.count()? {
        r.skip_str()?;
    }
    match r.byte()? {
        0 => {}
        1 => {
            for _ in 0..r.count()? {
                r.str_ref()?;
            }
        }
        other => return Err(corrupt(format!("scope marker {other}"))),
    }
    r.time()?;
    r.time()
}

/// Only the types of a body, for index maintenance on the writer thread.
pub(crate) fn decode_types(body: &[u8]) -> Result<Vec<String>, StorageError> {
    let mut r = Reader { bytes: body };
    r.skip_str()?;
    r.iri_list()
}

pub(crate) fn put_attribute(out: &mut Vec<u8>, a: &Attribute) {
    out.push(kind_of(&a.value));
    let mut flags = 0;
    for (flag, present) in [
        (FLAG_DATASET_ID, a.dataset_id.is_some()),
        (FLAG_OBSERVED_AT, a.observed_at.is_some()),
        (FLAG_UNIT_CODE, a.unit_code.is_some()),
        (FLAG_VALUE_TYPE, a.value_type.is_some()),
        (FLAG_EXPIRES_AT, a.expires_at.is_some()),
        (FLAG_CREATED_AT, a.created_at.is_some()),
        (FLAG_MODIFIED_AT, a.modified_at.is_some()),
        (FLAG_SUB_ATTRIBUTES, !a.sub_attributes.is_empty()),
    ] {
        if present {
            flags |= flag;
        }
    }
    out.push(flags);
    match &a.value {
        AttributeValue::Property(v)
        | AttributeValue::GeoProperty(v)
        | AttributeValue::VocabProperty(v)
        | AttributeValue::JsonProperty(v) => put_value(out, v),
        AttributeValue::Relationship {
            object,
            object_type,
        } => {
            put_value(out, object);
            put_optional_value(out, object_type.as_ref());
        }
        AttributeValue::LanguageProperty(map) => put_object(out, map),
        AttributeValue::ListProperty(items) => {
            put_len(out, items.len());
            for v in items {
                put_value(out, v);
            }
        }
        AttributeValue::ListRelationship {
            object_list,
            object_type,
        } => {
            put_len(out, object_list.len());
            for o in object_list {
                put_str(out, o);
            }
            put_optional_value(out, object_type.as_ref());
        }
    }
    for s in a.text_members().into_iter().flatten() {
        put_str(out, s);
    }
    for t in [&a.created_at, &a.modified_at].into_iter().flatten() {
        put_time(out, t);
    }
    if !a.sub_attributes.is_empty() {
        put_len(out, a.sub_attributes.len());
        for (name, sub) in &a.sub_attributes {
            put_iri(out, name);
            put_attribute(out, sub);
        }
    }
}

fn kind_of(v: &AttributeValue) -> u8 {
    match v {
        AttributeValue::Property(_) => KIND_PROPERTY,
        AttributeValue::Relationship { .. } => KIND_RELATIONSHIP,
        AttributeValue::GeoProperty(_) => KIND_GEO_PROPERTY,
        AttributeValue::LanguageProperty(_) => KIND_LANGUAGE_PROPERTY,
        AttributeValue::VocabProperty(_) => KIND_VOCAB_PROPERTY,
        AttributeValue::JsonProperty(_) => KIND_JSON_PROPERTY,
        AttributeValue::ListProperty(_) => KIND_LIST_PROPERTY,
        AttributeValue::ListRelationship { .. } => KIND_LIST_RELATIONSHIP,
    }
}

fn put_optional_value(out: &mut Vec<u8>, v: Option<&Value>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put_value(out, v);
        }
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(VALUE_NULL),
        Value::Bool(false) => out.push(VALUE_FALSE),
        Value::Bool(true) => out.push(VALUE_TRUE),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(VALUE_U64);
                put_len_u64(out, u);
            } else if let Some(i) = n.as_i64() {
                out.push(VALUE_I64);
                out.extend_from_slice(&i.to_le_bytes());
            } else {
                out.push(VALUE_F64);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(VALUE_STRING);
            put_str(out, s);
        }
        Value::Array(items) => {
            out.push(VALUE_ARRAY);
            put_len(out, items.len());
            for item in items {
                put_value(out, item);
            }
        }
        Value::Object(map) => {
            out.push(VALUE_OBJECT);
            put_object(out, map);
        }
    }
}

fn put_object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    put_len(out, map.len());
    for (k, v) in map {
        put_str(out, k);
        put_value(out, v);
    }
}

pub(crate) fn put_len(out: &mut Vec<u8>, n: usize) {
    put_len_u64(out, n as u64);
}

fn put_len_u64(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_iri(out: &mut Vec<u8>, iri: &str) {
    for (i, prefix) in PREFIXES.iter().enumerate() {
        if let Some(rest) = iri.strip_prefix(prefix) {
            out.push(i as u8 + 1);
            put_str(out, rest);
            return;
        }
    }
    out.push(0);
    put_str(out, iri);
}

pub(crate) fn put_time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    out.extend_from_slice(&t.timestamp().to_le_bytes());
    out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
}

fn corrupt(what: String) -> StorageError {
    StorageError::Corrupt(format!("stored entity cannot be decoded: {what}"))
}

/// The kind-specific part of an encoded attribute.
struct AttributeHead {
    flags: u8,
    value: AttributeValue,
}

/// An attribute as a history sample reads it.
pub(crate) struct AttributeSummary<'a> {
    pub value: AttributeValue,
    pub dataset_id: Option<&'a str>,
    pub observed_at: Option<&'a str>,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
}

/// A cursor over a body; every read checks what is left.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], StorageError> {
        if n > self.bytes.len() {
            return Err(corrupt("truncated body".into()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, StorageError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], StorageError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, StorageError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(corrupt("overlong varint".into()))
    }

    /// A length or count, bounded by the bytes left (every counted item takes at least one
    /// byte), so a corrupt count cannot ask for a huge allocation.
    pub(crate) fn count(&mut self) -> Result<usize, StorageError> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len())
            .ok_or_else(|| corrupt(format!("count {n} beyond the body")))
    }

    pub(crate) fn str_ref(&mut self) -> Result<&'a str, StorageError> {
        let n = self.count()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| corrupt("string is not UTF-8".into()))
    }

    pub(crate) fn string(&mut self) -> Result<String, StorageError> {
        self.str_ref().map(str::to_owned)
    }

    fn skip_str(&mut self) -> Result<(), StorageError> {
        self.byte()?;
        let n = self.count()?;
        self.take(n).map(|_| ())
    }

    pub(crate) fn iri(&mut self) -> Result<String, StorageError> {
        let prefix = match self.byte()? {
            0 => "",
            i => PREFIXES
                .get(usize::from(i) - 1)
                .ok_or_else(|| corrupt(format!("IRI prefix {i}")))?,
        };
        let rest = self.str_ref()?;
        let mut s = String::with_capacity(prefix.len() + rest.len());
        s.push_str(prefix);
        s.push_str(rest);
        Ok(s)
    }

    pub(crate) fn iri_list(&mut self) -> Result<Vec<String>, StorageError> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.iri()?);
        }
        Ok(out)
    }

    pub(crate) fn time(&mut self) -> Result<DateTime<Utc>, StorageError> {
        let secs = i64::from_le_bytes(self.fixed()?);
        let nanos = u32::from_le_bytes(self.fixed()?);
        DateTime::from_timestamp(secs, nanos).ok_or_else(|| corrupt("time out of range".into()))
    }

    fn optional_value(&mut self, depth: usize) -> Result<Option<Value>, StorageError> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.value(depth).map(Some),
            other => Err(corrupt(format!("option marker {other}"))),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, StorageError> {
        if depth > MAX_DEPTH {
            return Err(corrupt("values nested too deep".into()));
        }
        Ok(match self.byte()? {
            VALUE_NULL => Value::Null,
            VALUE_FALSE => Value::Bool(false),
            VALUE_TRUE => Value::Bool(true),
            VALUE_U64 => Value::Number(self.varint()?.into()),
            VALUE_I64 => Value::Number(i64::from_le_bytes(self.fixed()?).into()),
            VALUE_F64 => {
                let f = f64::from_le_bytes(self.fixed()?);
                Value::Number(
                    Number::from_f64(f).ok_or_else(|| corrupt("non-finite number".into()))?,
                )
            }
            VALUE_STRING => Value::String(self.string()?),
            VALUE_ARRAY => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            VALUE_OBJECT => Value::Object(self.object(depth + 1)?),
            other => return Err(corrupt(format!("value tag {other}"))),
        })
    }

    fn object(&mut self, depth: usize) -> Result<Map<String, Value>, StorageError> {
        let n = self.count()?;
        let mut map = Map::with_capacity(n);
        for _ in 0..n {
            let k = self.string()?;
            let v = self.value(depth)?;
            map.insert(k, v);
        }
        Ok(map)
    }

    /// The kind, flags and value of an encoded attribute.
    fn attribute_head(&mut self, depth: usize) -> Result<AttributeHead, StorageError> {
        if depth > MAX_DEPTH {
            return Err(corrupt("sub-attributes nested too deep".into()));
        }
        let kind = self.byte()?;
        let flags = self.byte()?;
        let value = match kind {
            KIND_PROPERTY => AttributeValue::Property(self.value(depth)?),
            KIND_GEO_PROPERTY => AttributeValue::GeoProperty(self.value(depth)?),
            KIND_VOCAB_PROPERTY => AttributeValue::VocabProperty(self.value(depth)?),
            KIND_JSON_PROPERTY => AttributeValue::JsonProperty(self.value(depth)?),
            KIND_RELATIONSHIP => AttributeValue::Relationship {
                object: self.value(depth)?,
                object_type: self.optional_value(depth)?,
            },
            KIND_LANGUAGE_PROPERTY => AttributeValue::LanguageProperty(self.object(depth)?),
            KIND_LIST_PROPERTY => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth)?);
                }
                AttributeValue::ListProperty(items)
            }
            KIND_LIST_RELATIONSHIP => {
                let n = self.count()?;
                let mut object_list = Vec::with_capacity(n);
                for _ in 0..n {
                    object_list.push(self.string()?);
                }
                AttributeValue::ListRelationship {
                    object_list,
                    object_type: self.optional_value(depth)?,
                }
            }
            other => return Err(corrupt(format!("attribute kind {other}"))),
        };
        Ok(AttributeHead { flags, value })
    }

    /// An encoded attribute without its sub-attributes and with its text members borrowed:
    /// what a history sample needs.
    pub(crate) fn attribute_summary(&mut self) -> Result<AttributeSummary<'a>, StorageError> {
        let head = self.attribute_head(0)?;
        let flags = head.flags;
        let mut text = |flag: u8| -> Result<Option<&'a str>, StorageError> {
            if flags & flag != 0 {
                self.str_ref().map(Some)
            } else {
                Ok(None)
            }
        };
        let dataset_id = text(FLAG_DATASET_ID)?;
        let observed_at = text(FLAG_OBSERVED_AT)?;
        for flag in [FLAG_UNIT_CODE, FLAG_VALUE_TYPE, FLAG_EXPIRES_AT] {
            text(flag)?;
        }
        let created_at = (flags & FLAG_CREATED_AT != 0)
            .then(|| self.time())
            .transpose()?;
        let modified_at = (flags & FLAG_MODIFIED_AT != 0)
            .then(|| self.time())
            .transpose()?;
        Ok(AttributeSummary {
            value: head.value,
            dataset_id,
            observed_at,
            created_at,
            modified_at,
        })
    }

    pub(crate) fn attribute(&mut self, depth: usize) -> Result<Attribute, StorageError> {
        let head = self.attribute_head(depth)?;
        let flags = head.flags;
        let text = |flag: u8, r: &mut Self| -> Result<Option<String>, StorageError> {
            if flags & flag != 0 {
                r.string().map(Some)
            } else {
                Ok(None)
            }
        };
        let dataset_id = text(FLAG_DATASET_ID, self)?;
        let observed_at = text(FLAG_OBSERVED_AT, self)?;
        let unit_code = text(FLAG_UNIT_CODE, self)?;
        let value_type = text(FLAG_VALUE_TYPE, self)?;
        let expires_at = text(FLAG_EXPIRES_AT, self)?;
        let created_at = (flags & FLAG_CREATED_AT != 0)
            .then(|| self.time())
            .transpose()?;
        let modified_at = (flags & FLAG_MODIFIED_AT != 0)
            .then(|| self.time())
            .transpose()?;
        let value = head.value;
        let mut sub_attributes = std::collections::BTreeMap::new();
        if flags & FLAG_SUB_ATTRIBUTES != 0 {
            let n = self.count()?;
            for _ in 0..n {
                let name = self.iri()?;
                let sub = self.attribute(depth + 1)?;
                sub_attributes.insert(name, sub);
            }
        }
        Ok(Attribute {
            value,
            dataset_id,
            observed_at,
            unit_code,
            value_type,
            expires_at,
            sub_attributes,
            created_at,
            modified_at,
        })
    }
}

#[cfg(test)]
mod tests;
