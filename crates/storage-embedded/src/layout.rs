//! The on-disk layout: table definitions, key encoding and the entity record format.
//!
//! # Tables
//!
//! Every table except `meta` and `tenants` is keyed by a tenant prefix first, so a tenant's
//! data is one contiguous key range and tenants never see each other's keys.
//!
//! | table | key | value |
//! |---|---|---|
//! | `entities` | tenant ‖ id | record: format `u8` ‖ version `u64` BE ‖ entity body (format 1: JSON, 2: binary) |
//! | `types` | tenant ‖ type IRI ‖ id | `()` |
//! | `tenants` | tenant name (`&str`, named tenants only) | `()` |
//! | `subscriptions` | tenant ‖ id | serde_json of `rigel_model::subscription::Subscription` |
//! | `subscription_status` | tenant ‖ id | serde_json of `DeliveryStatus` (the counters) |
//! | `history` | tenant ‖ id ‖ attribute IRI ‖ time ‖ seq ‖ index | one attribute instance (`history` module) |
//! | `history_entities` | tenant ‖ id | the history's header: types, scope, times |
//! | `values` | tenant ‖ type IRI ‖ attribute IRI ‖ sub-attribute IRI ‖ kind ‖ value ‖ id | `()` (the `index` module) |
//! | `meta` | `&str` | `u64`: `schema_version`, `last_version`, `wal_lsn`, `value_index` |
//!
//! A subscription's counters change on every notification, so they have their own small row
//! instead of rewriting the whole document; the listing lays the row over the document's
//! `delivery`. Create and replace write both rows from the document, delete removes both,
//! and a counter save writes only rows whose document exists. The two subscription tables
//! came after layout version 1 without a version bump: opening creates missing tables, and
//! older builds never open them. The two history tables came the same way.
//!
//! # Key encoding
//!
//! A key is a concatenation of components. Every component except the last is *escaped and
//! terminated*: byte `0x00` is written as `0x01 0x01`, byte `0x01` as `0x01 0x02`, every other
//! byte as itself, and the component ends with a `0x00` terminator. This keeps keys
//! unambiguous for any string (no assumption that IRIs never contain NUL), preserves the
//! byte order of the components (a shorter string sorts before its extensions), and makes
//! "all keys under this prefix" the half-open range `[prefix, prefix with its final 0x00
//! turned into 0x01)`. The last component (always an entity id) is written raw, so keys under
//! a prefix are in id order. The default tenant is the empty name; named tenants are never
//! empty, so the two cannot collide.
//!
//! An id pattern with a literal prefix is a range scan of `entities` (keys are in id order
//! per tenant); the `values` keys are described in the `index` module.
//!
//! Entity bodies live only on disk; there is no in-memory index. The only RAM the store
//! holds is redb's page cache, bounded by [`crate::EmbeddedOptions::cache_size_bytes`].

use redb::TableDefinition;
use rigel_model::Tenant;
use rigel_storage::StorageError;

/// (tenant, id) -> record.
pub(crate) const ENTITIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entities");
/// (tenant, type IRI, id) -> ().
pub(crate) const TYPES: TableDefinition<&[u8], ()> = TableDefinition::new("types");
/// Named tenant -> (); a tenant is registered by its first applied put or subscription
/// create and never removed.
pub(crate) const TENANTS: TableDefinition<&str, ()> = TableDefinition::new("tenants");
/// (tenant, subscription id) -> subscription JSON.
pub(crate) const SUBSCRIPTIONS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("subscriptions");
/// (tenant, subscription id) -> delivery status JSON.
pub(crate) const SUBSCRIPTION_STATUS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("subscription_status");
/// (tenant, registration id) -> Context Source Registration JSON.
pub(crate) const REGISTRATIONS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("registrations");
/// (tenant, registration id) -> forwarding status JSON.
pub(crate) const REGISTRATION_STATUS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("registration_status");
/// (series, time, seq, index) -> one recorded attribute instance (see the `history` module).
pub(crate) const HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history_instances");
/// (tenant, entity id as a component, attribute IRI as a component) -> the attribute's
/// history series number.
pub(crate) const HISTORY_SERIES: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("history_series");
/// (tenant, entity id) -> the header of the entity's history.
pub(crate) const HISTORY_ENTITIES: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("history_headers");
/// The history tables of the first layout (keys holding the entity id and attribute IRI),
/// dropped on open: nothing was released with them.
pub(crate) const OBSOLETE_HISTORY_TABLES: [&str; 2] = ["history", "history_entities"];
/// (tenant, type, attribute, sub-attribute, kind, value, id) -> (): the value index (see the
/// `index` module).
pub(crate) const VALUES: TableDefinition<&[u8], ()> = TableDefinition::new("values");

/// The outbox: sequence number (big-endian u64) -> a change not yet notified (`outbox.rs`).
pub(crate) const OUTBOX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("outbox");
/// Store-wide counters and the schema version.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// `meta` key: the layout version of this file, checked on open.
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";
/// `meta` key: the last entity version handed out (a store-wide counter).
pub(crate) const LAST_VERSION_KEY: &str = "last_version";
/// `meta` key: the lsn of the last write-ahead log frame whose batch this state contains
/// (see the `wal` module); absent before the first logged batch.
pub(crate) const WAL_LSN_KEY: &str = "wal_lsn";
/// `meta` key: the index layout (`index::LAYOUT`) when the value index holds every entity
/// (built, and maintained by every write since), 0 or absent otherwise; an open with the
/// index on builds it when it holds anything else.
pub(crate) const VALUE_INDEX_KEY: &str = "value_index";
/// The layout described in this module. Version 2 added record format 2; a version 1 file
/// (only format-1 records) is opened as is and marked version 2, after which builds that
/// read only version 1 refuse it instead of misreading its new records.
pub(crate) const SCHEMA_VERSION: u64 = 2;
/// The older layout this build still opens.
pub(crate) const SCHEMA_VERSION_JSON_RECORDS: u64 = 1;

/// Record format 1: `[1][version u64 BE][serde_json of rigel_model::Entity]`. Written by
/// layout version 1; still read.
pub(crate) const RECORD_FORMAT_JSON: u8 = 1;
/// Record format 2: `[2][version u64 BE][binary body, see the `codec` module]`. Every write
/// since layout version 2.
pub(crate) const RECORD_FORMAT_BINARY: u8 = 2;
/// Bytes before the body in a record.
pub(crate) const RECORD_HEADER_LEN: usize = 1 + 8;

const TERMINATOR: u8 = 0x00;
const ESCAPE: u8 = 0x01;

/// Appends one escaped, terminated key component.
pub(crate) fn push_component(buf: &mut Vec<u8>, s: &str) {
    push_bytes_component(buf, s.as_bytes());
}

/// Appends any bytes as one escaped, terminated key component (order-preserving).
pub(crate) fn push_bytes_component(buf: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            0x00 => buf.extend_from_slice(&[ESCAPE, 0x01]),
            0x01 => buf.extend_from_slice(&[ESCAPE, 0x02]),
            _ => buf.push(b),
        }
    }
    buf.push(TERMINATOR);
}

/// The key prefix of everything a tenant owns.
pub(crate) fn tenant_prefix(tenant: &Tenant) -> Vec<u8> {
    let name = tenant.name().unwrap_or("");
    let mut buf = Vec::with_capacity(name.len() + 1);
    push_component(&mut buf, name);
    buf
}

/// `entities` key of one entity.
pub(crate) fn entity_key(tenant_prefix: &[u8], id: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(tenant_prefix.len() + id.len());
    buf.extend_from_slice(tenant_prefix);
    buf.extend_from_slice(id.as_bytes());
    buf
}

/// `subscriptions` and `subscription_status` key of one subscription (encoded like an
/// entity key: the tenant's prefix, then the raw id).
pub(crate) fn subscription_key(tenant_prefix: &[u8], id: &str) -> Vec<u8> {
    entity_key(tenant_prefix, id)
}

/// The tenant and id of a `subscriptions` key (the inverse of [`subscription_key`]).
pub(crate) fn split_subscription_key(key: &[u8]) -> Result<(Tenant, String), StorageError> {
    let name = first_component(key)?;
    let tenant = Tenant::named(&name)
        .map_err(|e| StorageError::Corrupt(format!("stored tenant name {name:?}: {e}")))?;
    let id = id_after_prefix(key, &tenant_prefix(&tenant))?;
    Ok((tenant, id))
}

/// `types` key prefix of all entities of one type in a tenant.
pub(crate) fn type_prefix(tenant_prefix: &[u8], type_iri: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(tenant_prefix.len() + type_iri.len() + 1);
    buf.extend_from_slice(tenant_prefix);
    push_component(&mut buf, type_iri);
    buf
}

/// `types` key of one (type, entity) pair.
pub(crate) fn type_key(tenant_prefix: &[u8], type_iri: &str, id: &str) -> Vec<u8> {
    let mut buf = type_prefix(tenant_prefix, type_iri);
    buf.extend_from_slice(id.as_bytes());
    buf
}

/// The exclusive upper bound of the keys under `prefix` (which ends in a terminator).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        // Every prefix ends in TERMINATOR (0x00), so this cannot overflow.
        *last = last.saturating_add(1);
    }
    end
}

/// The length of the escaped, terminated component a key starts with (terminator included).
pub(crate) fn component_len(key: &[u8]) -> Result<usize, StorageError> {
    key.iter()
        .position(|&b| b == TERMINATOR)
        .map(|end| end + 1)
        .ok_or_else(|| StorageError::Corrupt("unterminated key component".into()))
}

/// The unescaped bytes of the component that starts at `at`, and where the rest of the key
/// starts.
pub(crate) fn component_at(key: &[u8], at: usize) -> Result<(Vec<u8>, usize), StorageError> {
    let mut out = Vec::new();
    let mut i = at;
    loop {
        match key.get(i) {
            Some(&TERMINATOR) => return Ok((out, i + 1)),
            Some(&ESCAPE) => {
                match key.get(i + 1) {
                    Some(0x01) => out.push(0x00),
                    Some(0x02) => out.push(0x01),
                    _ => return Err(StorageError::Corrupt("bad escape in an index key".into())),
                }
                i += 2;
            }
            Some(&b) => {
                out.push(b);
                i += 1;
            }
            None => return Err(StorageError::Corrupt("unterminated key component".into())),
        }
    }
}

/// The first byte string after every string that starts with `prefix` (any bytes).
pub(crate) fn prefix_end_bytes(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

/// The id that follows `prefix` in a key.
pub(crate) fn id_after_prefix(key: &[u8], prefix: &[u8]) -> Result<String, StorageError> {
    let rest = key
        .strip_prefix(prefix)
        .ok_or_else(|| StorageError::Corrupt("index key outside its range".into()))?;
    String::from_utf8(rest.to_vec())
        .map_err(|_| StorageError::Corrupt("entity id in a key is not UTF-8".into()))
}

/// Reads back the first escaped, terminated component of a key (the inverse of the
/// component encoding).
pub(crate) fn first_component(key: &[u8]) -> Result<String, StorageError> {
    let mut out = Vec::with_capacity(key.len());
    let mut bytes = key.iter();
    loop {
        match bytes.next() {
            Some(&TERMINATOR) => break,
            Some(&ESCAPE) => match bytes.next() {
                Some(0x01) => out.push(0x00),
                Some(0x02) => out.push(0x01),
                _ => return Err(StorageError::Corrupt("bad escape in an index key".into())),
            },
            Some(&b) => out.push(b),
            None => {
                return Err(StorageError::Corrupt(
                    "unterminated index key component".into(),
                ))
            }
        }
    }
    String::from_utf8(out).map_err(|_| StorageError::Corrupt("index key is not UTF-8".into()))
}

/// A record of `entity` in the current format (2) with version 0; the writer fills in the
/// version ([`set_record_version`]).
pub(crate) fn encode_record(entity: &rigel_model::Entity) -> Vec<u8> {
    let mut buf = Vec::with_capacity(RECORD_HEADER_LEN + 1024);
    buf.push(RECORD_FORMAT_BINARY);
    buf.extend_from_slice(&[0; 8]);
    crate::codec::encode_entity(entity, &mut buf);
    buf
}

/// Writes the version into a record made by [`encode_record`].
pub(crate) fn set_record_version(record: &mut [u8], version: u64) {
    if let Some(slot) = record.get_mut(1..RECORD_HEADER_LEN) {
        slot.copy_from_slice(&version.to_be_bytes());
    }
}

/// The body of a stored record, in the format its header names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    Json(&'a [u8]),
    Binary(&'a [u8]),
}

impl Body<'_> {
    /// Stored bytes, for memory estimates.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Json(b) | Self::Binary(b) => b.len(),
        }
    }

    /// The whole entity.
    pub(crate) fn decode(&self) -> Result<rigel_model::Entity, StorageError> {
        match self {
            Self::Json(b) => serde_json::from_slice(b).map_err(|e| {
                StorageError::Corrupt(format!("stored entity cannot be decoded: {e}"))
            }),
            Self::Binary(b) => crate::codec::decode_entity(b),
        }
    }

    /// Just the entity's `modifiedAt`.
    pub(crate) fn modified_at(&self) -> Result<chrono::DateTime<chrono::Utc>, StorageError> {
        match self {
            Self::Json(_) => Ok(self.decode()?.modified_at),
            Self::Binary(b) => crate::codec::decode_modified_at(b),
        }
    }

    /// Just the entity's types, to maintain the index on replace and delete.
    pub(crate) fn types(&self) -> Result<Vec<String>, StorageError> {
        match self {
            Self::Json(b) => serde_json::from_slice::<TypesOnly>(b)
                .map(|t| t.types)
                .map_err(|e| {
                    StorageError::Corrupt(format!("stored entity has no readable types: {e}"))
                }),
            Self::Binary(b) => crate::codec::decode_types(b),
        }
    }
}

/// Splits a stored record into its version and body.
pub(crate) fn split_record(record: &[u8]) -> Result<(u64, Body<'_>), StorageError> {
    let [format, rest @ ..] = record else {
        return Err(StorageError::Corrupt("empty entity record".into()));
    };
    if *format != RECORD_FORMAT_JSON && *format != RECORD_FORMAT_BINARY {
        return Err(StorageError::Corrupt(format!(
            "unknown entity record format {format}"
        )));
    }
    if rest.len() < 8 {
        return Err(StorageError::Corrupt("truncated entity record".into()));
    }
    let (version, body) = rest.split_at(8);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(version);
    let body = if *format == RECORD_FORMAT_JSON {
        Body::Json(body)
    } else {
        Body::Binary(body)
    };
    Ok((u64::from_be_bytes(bytes), body))
}

/// Just the types of a format-1 (JSON) body.
#[derive(serde::Deserialize)]
struct TypesOnly {
    types: Vec<String>,
}

#[cfg(test)]
mod tests;
