//! Attribute history in the embedded store: the key layout that makes one attribute's time
//! range a sequential read, the instance and header encodings, the writer's side (apply a
//! [`HistoryChange`] in the batch transaction, noting the raw writes for the log) and the
//! readers' side.
//!
//! ```text
//! history          tenant ‖ id ‖ attribute ‖ time i64 BE (sign flipped) ‖ seq u64 BE ‖ index u32 BE
//!                  -> flags u8 (1: deletion) · [time(deletedAt)] · attribute (codec)
//! history_entities tenant ‖ id -> iri_list(types) · scope · time(createdAt) · time(modifiedAt)
//!                  · 0 | 1 time(deletedAt)
//! ```
//!
//! `id` and `attribute` are escaped components, so an entity's and an attribute's instances
//! are key ranges. `time` is the instance's `observedAt` when it has one (else its
//! `modifiedAt`, `createdAt`, `deletedAt`), in microseconds: a time range on `observedAt` is a
//! range scan and `lastN` a reverse scan. `seq` is the store-wide version taken by the append
//! and `index` the instance's place in it; together they are the instance id
//! (`urn:ngsi-ld:instance:<seq>-<index>`), which survives a modification of the instance.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, Table};
use rigel_model::Attribute;
use rigel_storage::{
    EntityHistory, HistoryChange, HistoryHeader, HistoryQuery, Instance, NewInstance, Source,
    StorageError, TimeProperty,
};

use crate::codec::{put_iri, put_len, put_str, put_time, Reader};
use crate::error::db_err;
use crate::layout::{self, HISTORY, HISTORY_ENTITIES};

/// Bytes after the attribute component in an instance key: time, seq, index.
const SUFFIX_LEN: usize = 8 + 8 + 4;
const FLAG_DELETION: u8 = 1;
const INSTANCE_ID_PREFIX: &str = "urn:ngsi-ld:instance:";

/// The two history tables, open in the writer's transaction.
pub(crate) struct HistoryTables<'txn> {
    pub instances: Table<'txn, &'static [u8], &'static [u8]>,
    pub headers: Table<'txn, &'static [u8], &'static [u8]>,
}

/// Which history table a logged raw write is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawTable {
    Instances = 1,
    Headers = 2,
}

impl RawTable {
    pub(crate) fn from_tag(tag: u8) -> Result<Self, StorageError> {
        match tag {
            1 => Ok(Self::Instances),
            2 => Ok(Self::Headers),
            other => Err(StorageError::Corrupt(format!("history table tag {other}"))),
        }
    }
}

/// One key-level effect of a history change, as logged and replayed (idempotent).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawWrite {
    pub table: RawTable,
    pub key: Vec<u8>,
    /// `None` removes the key.
    pub value: Option<Vec<u8>>,
}

impl HistoryTables<'_> {
    /// Applies one raw write (on replay, and as each change is applied).
    pub(crate) fn raw(&mut self, w: &RawWrite) -> Result<(), StorageError> {
        let table = match w.table {
            RawTable::Instances => &mut self.instances,
            RawTable::Headers => &mut self.headers,
        };
        match &w.value {
            Some(v) => table.insert(w.key.as_slice(), v.as_slice()).map(|_| ()),
            None => table.remove(w.key.as_slice()).map(|_| ()),
        }
        .map_err(db_err)
    }

    fn write(&mut self, log: &mut Vec<RawWrite>, w: RawWrite) -> Result<(), StorageError> {
        self.raw(&w)?;
        log.push(w);
        Ok(())
    }

    /// Applies `change`, taking `seq` for the instances it records; `false` when it found
    /// nothing to act on (and wrote nothing).
    pub(crate) fn apply(
        &mut self,
        tenant_prefix: &[u8],
        change: &HistoryChange,
        seq: u64,
        log: &mut Vec<RawWrite>,
    ) -> Result<bool, StorageError> {
        match change {
            HistoryChange::Append { header, instances } => {
                self.append(tenant_prefix, header, instances, seq, log)?;
                Ok(true)
            }
            HistoryChange::Forget { id } => self.forget(tenant_prefix, id, log),
            HistoryChange::ForgetAttribute {
                id,
                attribute,
                datasets,
            } => {
                let prefix = attribute_prefix(&entity_prefix(tenant_prefix, id), attribute);
                let mut doomed = Vec::new();
                for item in self
                    .instances
                    .range(prefix.as_slice()..layout::prefix_end(&prefix).as_slice())
                    .map_err(db_err)?
                {
                    let (k, v) = item.map_err(db_err)?;
                    let instance = decode_instance(k.value(), v.value())?;
                    if datasets.selects(instance.value.dataset_id.as_deref()) {
                        doomed.push(k.value().to_vec());
                    }
                }
                self.remove_keys(doomed, log)
            }
            HistoryChange::ReplaceInstance {
                id,
                attribute,
                instance_id,
                value,
            } => {
                let prefix = attribute_prefix(&entity_prefix(tenant_prefix, id), attribute);
                let Some((key, old)) = self.find_instance(&prefix, instance_id)? else {
                    return Ok(false);
                };
                let (seq, index) = seq_and_index(&key)?;
                self.write(log, remove(RawTable::Instances, key))?;
                let fresh = NewInstance {
                    attribute: attribute.clone(),
                    value: value.clone(),
                    deleted_at: old.deleted_at,
                };
                let new_key = instance_key(&prefix, sort_time(&fresh), seq, index);
                self.write(
                    log,
                    insert(RawTable::Instances, new_key, encode_instance(&fresh)),
                )?;
                Ok(true)
            }
            HistoryChange::Trim {
                id,
                older_than,
                keep_last,
            } => self.trim(tenant_prefix, id, *older_than, *keep_last, log),
            HistoryChange::ForgetInstance {
                id,
                attribute,
                instance_id,
            } => {
                let prefix = attribute_prefix(&entity_prefix(tenant_prefix, id), attribute);
                match self.find_instance(&prefix, instance_id)? {
                    Some((key, _)) => self.remove_keys(vec![key], log),
                    None => Ok(false),
                }
            }
        }
    }

    fn append(
        &mut self,
        tenant_prefix: &[u8],
        header: &HistoryHeader,
        instances: &[NewInstance],
        seq: u64,
        log: &mut Vec<RawWrite>,
    ) -> Result<(), StorageError> {
        let header_key = layout::entity_key(tenant_prefix, &header.id);
        let old = match self.headers.get(header_key.as_slice()).map_err(db_err)? {
            Some(v) => Some(decode_header(&header.id, v.value())?),
            None => None,
        };
        let merged = merge_header(old, header);
        self.write(
            log,
            insert(RawTable::Headers, header_key, encode_header(&merged)),
        )?;
        let entity = entity_prefix(tenant_prefix, &header.id);
        let mut prefixes: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
        for (index, instance) in instances.iter().enumerate() {
            let prefix = prefixes
                .entry(instance.attribute.as_str())
                .or_insert_with(|| attribute_prefix(&entity, &instance.attribute));
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let key = instance_key(prefix, sort_time(instance), seq, index);
            self.write(
                log,
                insert(RawTable::Instances, key, encode_instance(instance)),
            )?;
        }
        Ok(())
    }

    fn forget(
        &mut self,
        tenant_prefix: &[u8],
        id: &str,
        log: &mut Vec<RawWrite>,
    ) -> Result<bool, StorageError> {
        let header_key = layout::entity_key(tenant_prefix, id);
        if self
            .headers
            .get(header_key.as_slice())
            .map_err(db_err)?
            .is_none()
        {
            return Ok(false);
        }
        self.write(log, remove(RawTable::Headers, header_key))?;
        let prefix = entity_prefix(tenant_prefix, id);
        let mut doomed = Vec::new();
        for item in self
            .instances
            .range(prefix.as_slice()..layout::prefix_end(&prefix).as_slice())
            .map_err(db_err)?
        {
            doomed.push(item.map_err(db_err)?.0.value().to_vec());
        }
        self.remove_keys(doomed, log)?;
        Ok(true)
    }

    fn trim(
        &mut self,
        tenant_prefix: &[u8],
        id: &str,
        older_than: Option<DateTime<Utc>>,
        keep_last: Option<usize>,
        log: &mut Vec<RawWrite>,
    ) -> Result<bool, StorageError> {
        let entity = entity_prefix(tenant_prefix, id);
        let mut doomed = Vec::new();
        for name in attribute_names(&self.instances, &entity)? {
            let prefix = attribute_prefix(&entity, &name);
            let end = layout::prefix_end(&prefix);
            let mut keys = Vec::new();
            for item in self
                .instances
                .range(prefix.as_slice()..end.as_slice())
                .map_err(db_err)?
            {
                keys.push(item.map_err(db_err)?.0.value().to_vec());
            }
            let cutoff = older_than.map(time_bytes);
            let excess = keep_last.map_or(0, |n| keys.len().saturating_sub(n));
            for (i, key) in keys.into_iter().enumerate() {
                let old =
                    cutoff.is_some_and(|c| key.get(prefix.len()..prefix.len() + 8) < Some(&c[..]));
                if i < excess || old {
                    doomed.push(key);
                }
            }
        }
        self.remove_keys(doomed, log)
    }

    fn remove_keys(
        &mut self,
        keys: Vec<Vec<u8>>,
        log: &mut Vec<RawWrite>,
    ) -> Result<bool, StorageError> {
        let any = !keys.is_empty();
        for key in keys {
            self.write(log, remove(RawTable::Instances, key))?;
        }
        Ok(any)
    }

    /// The key and instance with this id among the keys under `prefix`.
    fn find_instance(
        &self,
        prefix: &[u8],
        instance_id: &str,
    ) -> Result<Option<(Vec<u8>, Instance)>, StorageError> {
        let Some(wanted) = parse_instance_id(instance_id) else {
            return Ok(None);
        };
        for item in self
            .instances
            .range(prefix..layout::prefix_end(prefix).as_slice())
            .map_err(db_err)?
        {
            let (k, v) = item.map_err(db_err)?;
            if seq_and_index(k.value())? == wanted {
                return Ok(Some((
                    k.value().to_vec(),
                    decode_instance(k.value(), v.value())?,
                )));
            }
        }
        Ok(None)
    }
}

fn insert(table: RawTable, key: Vec<u8>, value: Vec<u8>) -> RawWrite {
    RawWrite {
        table,
        key,
        value: Some(value),
    }
}

fn remove(table: RawTable, key: Vec<u8>) -> RawWrite {
    RawWrite {
        table,
        key,
        value: None,
    }
}

/// The header after an append: types added, the earliest creation kept, the rest replaced.
fn merge_header(old: Option<HistoryHeader>, new: &HistoryHeader) -> HistoryHeader {
    let Some(mut merged) = old else {
        return new.clone();
    };
    for t in &new.types {
        if !merged.types.contains(t) {
            merged.types.push(t.clone());
        }
    }
    if new.scope.is_some() {
        merged.scope.clone_from(&new.scope);
    }
    merged.created_at = merged.created_at.min(new.created_at);
    merged.modified_at = merged.modified_at.max(new.modified_at);
    merged.deleted_at = new.deleted_at;
    merged
}

/// The key prefix of an entity's instances.
fn entity_prefix(tenant_prefix: &[u8], id: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(tenant_prefix.len() + id.len() + 1);
    buf.extend_from_slice(tenant_prefix);
    layout::push_component(&mut buf, id);
    buf
}

/// The key prefix of one attribute's instances.
fn attribute_prefix(entity_prefix: &[u8], attribute: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(entity_prefix.len() + attribute.len() + 1);
    buf.extend_from_slice(entity_prefix);
    layout::push_component(&mut buf, attribute);
    buf
}

/// Microseconds with the sign bit flipped, big-endian: byte order is time order.
fn time_bytes(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

fn instance_key(attribute_prefix: &[u8], time: DateTime<Utc>, seq: u64, index: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(attribute_prefix.len() + SUFFIX_LEN);
    key.extend_from_slice(attribute_prefix);
    key.extend_from_slice(&time_bytes(time));
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// The time an instance is filed under.
fn sort_time(instance: &NewInstance) -> DateTime<Utc> {
    let a = &instance.value;
    a.observed_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or(a.modified_at)
        .or(a.created_at)
        .or(instance.deleted_at)
        .unwrap_or_default()
}

/// The time an instance is filed under, read back from its key.
fn filed_time(key: &[u8], prefix_len: usize) -> Option<DateTime<Utc>> {
    let bytes: [u8; 8] = key.get(prefix_len..prefix_len + 8)?.try_into().ok()?;
    let micros = (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64;
    DateTime::from_timestamp_micros(micros)
}

fn suffix(key: &[u8]) -> Result<&[u8], StorageError> {
    key.len()
        .checked_sub(SUFFIX_LEN)
        .and_then(|at| key.get(at..))
        .ok_or_else(|| StorageError::Corrupt("history key too short".into()))
}

fn seq_and_index(key: &[u8]) -> Result<(u64, u32), StorageError> {
    let s = suffix(key)?;
    let mut seq = [0u8; 8];
    let mut index = [0u8; 4];
    seq.copy_from_slice(s.get(8..16).unwrap_or(&[0; 8]));
    index.copy_from_slice(s.get(16..20).unwrap_or(&[0; 4]));
    Ok((u64::from_be_bytes(seq), u32::from_be_bytes(index)))
}

fn instance_id(seq: u64, index: u32) -> String {
    format!("{INSTANCE_ID_PREFIX}{seq}-{index}")
}

fn parse_instance_id(id: &str) -> Option<(u64, u32)> {
    let (seq, index) = id.strip_prefix(INSTANCE_ID_PREFIX)?.split_once('-')?;
    Some((seq.parse().ok()?, index.parse().ok()?))
}

fn encode_instance(instance: &NewInstance) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    match &instance.deleted_at {
        Some(t) => {
            out.push(FLAG_DELETION);
            put_time(&mut out, t);
        }
        None => out.push(0),
    }
    crate::codec::put_attribute(&mut out, &instance.value);
    out
}

fn decode_instance(key: &[u8], value: &[u8]) -> Result<Instance, StorageError> {
    let mut r = Reader { bytes: value };
    let deleted_at = match r.byte()? {
        0 => None,
        FLAG_DELETION => Some(r.time()?),
        other => {
            return Err(StorageError::Corrupt(format!(
                "history instance flags {other}"
            )))
        }
    };
    let value: Attribute = r.attribute(0)?;
    let (seq, index) = seq_and_index(key)?;
    Ok(Instance {
        instance_id: instance_id(seq, index),
        value,
        deleted_at,
    })
}

fn encode_header(h: &HistoryHeader) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    put_len(&mut out, h.types.len());
    for t in &h.types {
        put_iri(&mut out, t);
    }
    match &h.scope {
        None => out.push(0),
        Some(scopes) => {
            out.push(1);
            put_len(&mut out, scopes.len());
            for s in scopes {
                put_str(&mut out, s);
            }
        }
    }
    put_time(&mut out, &h.created_at);
    put_time(&mut out, &h.modified_at);
    match &h.deleted_at {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            put_time(&mut out, t);
        }
    }
    out
}

fn decode_header(id: &str, bytes: &[u8]) -> Result<HistoryHeader, StorageError> {
    let mut r = Reader { bytes };
    let types = r.iri_list()?;
    let scope = match r.byte()? {
        0 => None,
        _ => {
            let n = r.count()?;
            let mut scopes = Vec::with_capacity(n);
            for _ in 0..n {
                scopes.push(r.string()?);
            }
            Some(scopes)
        }
    };
    let created_at = r.time()?;
    let modified_at = r.time()?;
    let deleted_at = match r.byte()? {
        0 => None,
        _ => Some(r.time()?),
    };
    Ok(HistoryHeader {
        id: id.to_owned(),
        types,
        scope,
        created_at,
        modified_at,
        deleted_at,
    })
}

/// The header of one entity's history.
pub(crate) fn read_header(
    db: &Database,
    tenant_prefix: &[u8],
    id: &str,
) -> Result<Option<HistoryHeader>, StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let headers = txn.open_table(HISTORY_ENTITIES).map_err(db_err)?;
    let key = layout::entity_key(tenant_prefix, id);
    match headers.get(key.as_slice()).map_err(db_err)? {
        Some(v) => decode_header(id, v.value()).map(Some),
        None => Ok(None),
    }
}

/// One entity's history as `query` selects it.
pub(crate) fn read_history(
    db: &Database,
    tenant_prefix: &[u8],
    id: &str,
    query: &HistoryQuery,
) -> Result<Option<EntityHistory>, StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let headers = txn.open_table(HISTORY_ENTITIES).map_err(db_err)?;
    let key = layout::entity_key(tenant_prefix, id);
    let header = match headers.get(key.as_slice()).map_err(db_err)? {
        Some(v) => decode_header(id, v.value())?,
        None => return Ok(None),
    };
    let instances = txn.open_table(HISTORY).map_err(db_err)?;
    let entity = entity_prefix(tenant_prefix, id);
    let names = match &query.attrs {
        Some(attrs) => attrs.clone(),
        None => attribute_names(&instances, &entity)?,
    };
    let mut attributes = BTreeMap::new();
    for name in names {
        let prefix = attribute_prefix(&entity, &name);
        let found = read_attribute(&instances, &prefix, query)?;
        if !found.is_empty() {
            attributes.insert(name, found);
        }
    }
    Ok(Some(EntityHistory { header, attributes }))
}

/// The attributes an entity's history has, by skipping from one attribute's range to the
/// next.
fn attribute_names(
    instances: &impl ReadableTable<&'static [u8], &'static [u8]>,
    entity: &[u8],
) -> Result<Vec<String>, StorageError> {
    let end = layout::prefix_end(entity);
    let mut names = Vec::new();
    let mut from = entity.to_vec();
    loop {
        let next = instances
            .range(from.as_slice()..end.as_slice())
            .map_err(db_err)?
            .next();
        let Some(item) = next else {
            return Ok(names);
        };
        let (k, _) = item.map_err(db_err)?;
        let rest = k.value().get(entity.len()..).unwrap_or_default();
        let name = layout::first_component(rest)?;
        from = layout::prefix_end(&attribute_prefix(entity, &name));
        names.push(name);
    }
}

/// One key and value of a range scan.
type RangeItem<'a> = (
    redb::AccessGuard<'a, &'static [u8]>,
    redb::AccessGuard<'a, &'static [u8]>,
);

/// The instances of one attribute in the query's range, ascending by its time property.
fn read_attribute(
    instances: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    query: &HistoryQuery,
) -> Result<Vec<Instance>, StorageError> {
    let end = layout::prefix_end(prefix);
    let keyed = query.property == TimeProperty::ObservedAt;
    // Filed by observedAt: the range narrows the scan (instances without one are filed by
    // another time and dropped below).
    let (start, stop) = if keyed {
        let lower = query.range.from.map(|t| {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&time_bytes(t));
            k
        });
        let upper = query.range.to.map(|t| {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&time_bytes(t));
            k
        });
        (
            lower.unwrap_or_else(|| prefix.to_vec()),
            upper.unwrap_or(end),
        )
    } else {
        (prefix.to_vec(), end)
    };
    let range = instances
        .range(start.as_slice()..stop.as_slice())
        .map_err(db_err)?;
    // Without a time range nothing is filtered out by observedAt (core writes have none); an
    // explicit deletedAt, createdAt or modifiedAt still selects the instances that have it.
    let unbounded = query.range.from.is_none()
        && query.range.to.is_none()
        && query.property == TimeProperty::ObservedAt;
    let selected = |item: Result<RangeItem<'_>, redb::StorageError>|
     -> Result<Option<(DateTime<Utc>, Instance)>, StorageError> {
        let (k, v) = item.map_err(db_err)?;
        let instance = decode_instance(k.value(), v.value())?;
        if !query.takes_dataset(instance.value.dataset_id.as_deref()) {
            return Ok(None);
        }
        let time = query.property.of(&instance).or_else(|| {
            // An instance lacking observedAt sorts by the time it is filed under.
            unbounded.then(|| filed_time(k.value(), prefix.len())).flatten()
        });
        Ok(time
            .filter(|t| query.range.contains(*t))
            .map(|t| (t, instance)))
    };
    let mut out: Vec<(DateTime<Utc>, Instance)> = Vec::new();
    match (keyed, query.last_n) {
        (true, Some(n)) => {
            for item in range.rev() {
                if out.len() >= n {
                    break;
                }
                if let Some(found) = selected(item)? {
                    out.push(found);
                }
            }
            out.reverse();
        }
        _ => {
            let first_n = query.first_n.filter(|_| keyed && query.last_n.is_none());
            for item in range {
                if first_n.is_some_and(|n| out.len() >= n) {
                    break;
                }
                if let Some(found) = selected(item)? {
                    out.push(found);
                }
            }
            if !keyed {
                out.sort_by_key(|(t, _)| *t);
            }
            if let Some(n) = query.last_n {
                let skip = out.len().saturating_sub(n);
                out.drain(..skip);
            } else if let Some(n) = query.first_n {
                out.truncate(n);
            }
        }
    }
    Ok(out.into_iter().map(|(_, i)| i).collect())
}

/// Headers of entities with a history, from `source`, in id order after `after`.
pub(crate) fn read_headers(
    db: &Database,
    tenant_prefix: &[u8],
    source: &Source,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<HistoryHeader>, StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let headers = txn.open_table(HISTORY_ENTITIES).map_err(db_err)?;
    let mut out = Vec::new();
    if let Source::Ids(ids) = source {
        let mut ids: Vec<&String> = ids
            .iter()
            .filter(|i| after.is_none_or(|a| i.as_str() > a))
            .collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            if out.len() >= limit {
                break;
            }
            let key = layout::entity_key(tenant_prefix, id);
            if let Some(v) = headers.get(key.as_slice()).map_err(db_err)? {
                out.push(decode_header(id, v.value())?);
            }
        }
        return Ok(out);
    }
    let prefix = match source {
        Source::IdPrefix(p) => layout::entity_key(tenant_prefix, p),
        _ => tenant_prefix.to_vec(),
    };
    let end = if let Source::IdPrefix(p) = source {
        id_prefix_end(tenant_prefix, p)
    } else {
        layout::prefix_end(tenant_prefix)
    };
    let start = match after {
        Some(a) => {
            let mut k = layout::entity_key(tenant_prefix, a);
            k.push(0);
            k.max(prefix)
        }
        None => prefix,
    };
    if start >= end {
        return Ok(out);
    }
    for item in headers
        .range(start.as_slice()..end.as_slice())
        .map_err(db_err)?
    {
        if out.len() >= limit {
            break;
        }
        let (k, v) = item.map_err(db_err)?;
        let id = layout::id_after_prefix(k.value(), tenant_prefix)?;
        let header = decode_header(&id, v.value())?;
        if let Source::Types(types) = source {
            if !header.types.iter().any(|t| types.contains(t)) {
                continue;
            }
        }
        out.push(header);
    }
    Ok(out)
}

/// The exclusive end of the keys of ids starting with `p` (raw id bytes, not a component).
fn id_prefix_end(tenant_prefix: &[u8], p: &str) -> Vec<u8> {
    let mut end = layout::entity_key(tenant_prefix, p);
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    layout::prefix_end(tenant_prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_round_trip_through_their_key_suffix() {
        let key = instance_key(
            b"p\0a\0",
            DateTime::from_timestamp(5, 0).unwrap_or_default(),
            42,
            7,
        );
        let (seq, index) = seq_and_index(&key).unwrap_or((0, 0));
        assert_eq!(parse_instance_id(&instance_id(seq, index)), Some((42, 7)));
    }

    #[test]
    fn earlier_times_sort_first_across_the_epoch() {
        let before = DateTime::from_timestamp(-10, 0).unwrap_or_default();
        let after = DateTime::from_timestamp(10, 0).unwrap_or_default();
        assert!(time_bytes(before) < time_bytes(after));
    }
}
