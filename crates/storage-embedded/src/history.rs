//! Attribute history in the embedded store: the key layout that makes one attribute's time
//! range a sequential read, the instance and header encodings, the writer's side (apply a
//! [`HistoryChange`] in the batch transaction, noting the raw writes for the log) and the
//! readers' side.
//!
//! ```text
//! history_series    tenant ‖ id ‖ attribute -> series u64 BE
//!                   (empty key)             -> the last series handed out, u64 BE
//! history_instances series u64 BE ‖ time i64 BE (sign flipped) ‖ seq u64 BE ‖ index u32 BE
//!                   -> flags u8 · [time(deletedAt)] · attribute (codec)
//! history_headers   tenant ‖ id -> iri_list(types) · scope · time(createdAt)
//!                   · time(modifiedAt) · 0 | 1 time(deletedAt)
//! ```
//!
//! Each (entity, attribute) of a tenant gets a series number the first time an instance of
//! it is recorded, so an instance key is 28 bytes whatever the length of the entity id and
//! attribute IRI, and one attribute's instances are one key range. `id` and `attribute` are
//! escaped components, so an entity's series are a key range too. `time` is the instance's
//! `observedAt` when it has one (else its `modifiedAt`, `createdAt`, `deletedAt`), in
//! microseconds: a time range on `observedAt` is a range scan and `lastN` a reverse scan.
//! An `observedAt` that is the key's time written in one of the usual forms (whole seconds,
//! or milliseconds, in UTC with `Z`) is not stored again but rebuilt from the key (flags).
//! `seq` is the store-wide version taken by the append and `index` the instance's place in
//! it; together they are the instance id (`urn:ngsi-ld:instance:<seq>-<index>`), which
//! survives a modification of the instance.
//!
//! An append bound to a write of a live entity rewrites the header only when it changes
//! more than `modifiedAt`; readers take the later of the header's and the live entity's
//! `modifiedAt`. A partial update then adds one instance row and no header row.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable, Table};
use rigel_model::Attribute;
use rigel_storage::{
    EntityHistory, EntitySamples, HistoryChange, HistoryHeader, HistoryQuery, Instance,
    NewInstance, Sample, Source, StorageError, TimeProperty,
};

use crate::codec::{put_iri, put_len, put_str, put_time, Reader};
use crate::error::db_err;
use crate::layout::{self, ENTITIES, HISTORY, HISTORY_ENTITIES, HISTORY_SERIES};

/// Bytes of the series number that starts an instance key.
const SERIES_LEN: usize = 8;
/// Bytes after the series in an instance key: time, seq, index.
const SUFFIX_LEN: usize = 8 + 8 + 4;
const FLAG_DELETION: u8 = 1;
/// `observedAt` is the key's time written with whole seconds (`...:05Z`).
const FLAG_OBSERVED_SECS: u8 = 2;
/// `observedAt` is the key's time written with milliseconds (`...:05.000Z`).
const FLAG_OBSERVED_MILLIS: u8 = 4;
const INSTANCE_ID_PREFIX: &str = "urn:ngsi-ld:instance:";
/// The `history_series` key of the series counter.
const SERIES_COUNTER_KEY: &[u8] = b"";

/// The history tables, open in the writer's transaction.
pub(crate) struct HistoryTables<'txn> {
    pub instances: Table<'txn, &'static [u8], &'static [u8]>,
    pub headers: Table<'txn, &'static [u8], &'static [u8]>,
    pub series: Table<'txn, &'static [u8], &'static [u8]>,
    /// The outbox (not history, but written and logged as raw writes the same way).
    pub outbox: Table<'txn, &'static [u8], &'static [u8]>,
    pub cache: &'txn mut SeriesCache,
}

/// Series numbers the writer looked up lately, so that an append to a known attribute does
/// not search `history_series` again. Kept across transactions by the writer thread: a
/// series key written or removed is dropped from it, and the whole cache is dropped when
/// a transaction fails. Bounded: emptied when full.
#[derive(Debug, Default)]
pub(crate) struct SeriesCache {
    known: HashMap<Vec<u8>, u64>,
    /// The last series number handed out, once read: only the writer numbers series.
    last: Option<u64>,
}

impl SeriesCache {
    /// At most this many series numbers (about 100 bytes each).
    const CAPACITY: usize = 65_536;

    fn get(&self, key: &[u8]) -> Option<u64> {
        self.known.get(key).copied()
    }

    fn keep(&mut self, key: &[u8], series: u64) {
        if self.known.len() >= Self::CAPACITY {
            self.known.clear();
        }
        self.known.insert(key.to_vec(), series);
    }

    fn drop_key(&mut self, key: &[u8]) {
        self.known.remove(key);
    }

    /// Forgets everything (after a failed transaction).
    pub(crate) fn clear(&mut self) {
        self.known.clear();
        self.last = None;
    }
}

/// Which history table a logged raw write is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawTable {
    Instances = 1,
    Headers = 2,
    Series = 3,
    /// Not history: the outbox, whose writes are logged the same way.
    Outbox = 4,
}

impl RawTable {
    pub(crate) fn from_tag(tag: u8) -> Result<Self, StorageError> {
        match tag {
            1 => Ok(Self::Instances),
            2 => Ok(Self::Headers),
            3 => Ok(Self::Series),
            4 => Ok(Self::Outbox),
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
            RawTable::Series => {
                self.cache.drop_key(&w.key);
                &mut self.series
            }
            RawTable::Outbox => &mut self.outbox,
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

    /// The series of an attribute of an entity, if any instance of it was ever recorded.
    fn series_of(&mut self, key: &[u8]) -> Result<Option<u64>, StorageError> {
        if let Some(series) = self.cache.get(key) {
            return Ok(Some(series));
        }
        let found = match self.series.get(key).map_err(db_err)? {
            Some(v) => decode_series(v.value())?,
            None => return Ok(None),
        };
        self.cache.keep(key, found);
        Ok(Some(found))
    }

    /// The next series number, noted as handed out in the cache; the caller writes the
    /// counter row once for all the numbers it took ([`Self::note_last_series`]).
    fn next_series(&mut self) -> Result<u64, StorageError> {
        let last = match self.cache.last {
            Some(last) => last,
            None => match self.series.get(SERIES_COUNTER_KEY).map_err(db_err)? {
                Some(v) => decode_series(v.value())?,
                None => 0,
            },
        };
        self.cache.last = Some(last + 1);
        Ok(last + 1)
    }

    /// Writes the counter row: the last series number handed out.
    fn note_last_series(&mut self, log: &mut Vec<RawWrite>) -> Result<(), StorageError> {
        let Some(last) = self.cache.last else {
            return Ok(());
        };
        let bytes = last.to_be_bytes().to_vec();
        self.write(
            log,
            insert(RawTable::Series, SERIES_COUNTER_KEY.to_vec(), bytes),
        )
    }

    /// The series of an attribute, numbered now if it has none (`known_new`: the caller
    /// knows it has none). Returns whether it was numbered now.
    fn series_or_new(
        &mut self,
        key: Vec<u8>,
        known_new: bool,
        log: &mut Vec<RawWrite>,
    ) -> Result<(u64, bool), StorageError> {
        if !known_new {
            if let Some(series) = self.series_of(&key)? {
                return Ok((series, false));
            }
        }
        let next = self.next_series()?;
        self.write(
            log,
            insert(RawTable::Series, key, next.to_be_bytes().to_vec()),
        )?;
        Ok((next, true))
    }

    /// The keys of one series' instances.
    fn series_keys(&self, series: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let (start, end) = series_range(series);
        let mut keys = Vec::new();
        for item in self
            .instances
            .range(start.as_slice()..end.as_slice())
            .map_err(db_err)?
        {
            keys.push(item.map_err(db_err)?.0.value().to_vec());
        }
        Ok(keys)
    }

    /// Applies `change`, taking `seq` for the instances it records; `false` when it found
    /// nothing to act on (and wrote nothing).
    pub(crate) fn apply(
        &mut self,
        tenant_prefix: &[u8],
        change: &HistoryChange,
        seq: u64,
        live_modified: Option<DateTime<Utc>>,
        log: &mut Vec<RawWrite>,
    ) -> Result<bool, StorageError> {
        match change {
            HistoryChange::Append { header, instances } => {
                self.append(tenant_prefix, header, instances, seq, live_modified, log)?;
                Ok(true)
            }
            HistoryChange::Forget { id } => self.forget(tenant_prefix, id, log),
            HistoryChange::ForgetAttribute {
                id,
                attribute,
                datasets,
            } => {
                let key = series_key(&entity_prefix(tenant_prefix, id), attribute);
                let Some(series) = self.series_of(&key)? else {
                    return Ok(false);
                };
                let (start, end) = series_range(series);
                let mut doomed = Vec::new();
                let mut kept = 0usize;
                for item in self
                    .instances
                    .range(start.as_slice()..end.as_slice())
                    .map_err(db_err)?
                {
                    let (k, v) = item.map_err(db_err)?;
                    let instance = decode_instance(k.value(), v.value())?;
                    if datasets.selects(instance.value.dataset_id.as_deref()) {
                        doomed.push(k.value().to_vec());
                    } else {
                        kept += 1;
                    }
                }
                if kept == 0 {
                    self.write(log, remove(RawTable::Series, key))?;
                }
                self.remove_keys(doomed, log)
            }
            HistoryChange::ReplaceInstance {
                id,
                attribute,
                instance_id,
                value,
            } => {
                let key = series_key(&entity_prefix(tenant_prefix, id), attribute);
                let Some(series) = self.series_of(&key)? else {
                    return Ok(false);
                };
                let Some((key, old)) = self.find_instance(series, instance_id)? else {
                    return Ok(false);
                };
                let (seq, index) = seq_and_index(&key)?;
                self.write(log, remove(RawTable::Instances, key))?;
                let fresh = NewInstance {
                    attribute: attribute.clone(),
                    value: value.clone(),
                    deleted_at: old.deleted_at,
                };
                let time = sort_time(&fresh);
                let new_key = instance_key(series, time, seq, index);
                self.write(
                    log,
                    insert(RawTable::Instances, new_key, encode_instance(&fresh, time)),
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
                let key = series_key(&entity_prefix(tenant_prefix, id), attribute);
                let Some(series) = self.series_of(&key)? else {
                    return Ok(false);
                };
                match self.find_instance(series, instance_id)? {
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
        live_modified: Option<DateTime<Utc>>,
        log: &mut Vec<RawWrite>,
    ) -> Result<(), StorageError> {
        let header_key = layout::entity_key(tenant_prefix, &header.id);
        let old = match self.headers.get(header_key.as_slice()).map_err(db_err)? {
            Some(v) => Some(decode_header(&header.id, v.value())?),
            None => None,
        };
        let merged = match old.clone() {
            Some(mut merged) => {
                merged.absorb(header);
                merged
            }
            None => header.clone(),
        };
        // A header that differs only by a modifiedAt the live entity holds is not rewritten
        // (the readers take the later of the two): most writes then touch one history row.
        let unchanged = old.as_ref().is_some_and(|o| {
            live_modified.is_some_and(|m| m >= merged.modified_at)
                && o.types == merged.types
                && o.scope == merged.scope
                && o.created_at == merged.created_at
                && o.deleted_at == merged.deleted_at
        });
        if !unchanged {
            self.write(
                log,
                insert(RawTable::Headers, header_key, encode_header(&merged)),
            )?;
        }
        // Series exist only under a header (`forget` removes both), so an entity without
        // one has no series yet: its attributes are numbered without looking them up.
        let known_new = old.is_none();
        let entity = entity_prefix(tenant_prefix, &header.id);
        let mut series: BTreeMap<&str, u64> = BTreeMap::new();
        let mut numbered = false;
        for (index, instance) in instances.iter().enumerate() {
            let number = match series.get(instance.attribute.as_str()) {
                Some(n) => *n,
                None => {
                    let key = series_key(&entity, &instance.attribute);
                    let (n, new) = self.series_or_new(key, known_new, log)?;
                    numbered |= new;
                    series.insert(instance.attribute.as_str(), n);
                    n
                }
            };
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let time = sort_time(instance);
            let key = instance_key(number, time, seq, index);
            self.write(
                log,
                insert(RawTable::Instances, key, encode_instance(instance, time)),
            )?;
        }
        if numbered {
            self.note_last_series(log)?;
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
        let mut doomed = Vec::new();
        for (key, series) in entity_series(&self.series, &entity_prefix(tenant_prefix, id))? {
            self.write(log, remove(RawTable::Series, key))?;
            doomed.extend(self.series_keys(series)?);
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
        let mut doomed = Vec::new();
        let cutoff = older_than.map(time_bytes);
        for (_, series) in entity_series(&self.series, &entity_prefix(tenant_prefix, id))? {
            let keys = self.series_keys(series)?;
            let excess = keep_last.map_or(0, |n| keys.len().saturating_sub(n));
            for (i, key) in keys.into_iter().enumerate() {
                let old =
                    cutoff.is_some_and(|c| key.get(SERIES_LEN..SERIES_LEN + 8) < Some(&c[..]));
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

    /// The key and instance with this id in `series`.
    fn find_instance(
        &self,
        series: u64,
        instance_id: &str,
    ) -> Result<Option<(Vec<u8>, Instance)>, StorageError> {
        let Some(wanted) = parse_instance_id(instance_id) else {
            return Ok(None);
        };
        let (start, end) = series_range(series);
        for item in self
            .instances
            .range(start.as_slice()..end.as_slice())
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

/// The key prefix of an entity's instances.
fn entity_prefix(tenant_prefix: &[u8], id: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(tenant_prefix.len() + id.len() + 1);
    buf.extend_from_slice(tenant_prefix);
    layout::push_component(&mut buf, id);
    buf
}

/// The `history_series` key of one attribute of an entity.
fn series_key(entity_prefix: &[u8], attribute: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(entity_prefix.len() + attribute.len() + 1);
    buf.extend_from_slice(entity_prefix);
    layout::push_component(&mut buf, attribute);
    buf
}

fn decode_series(bytes: &[u8]) -> Result<u64, StorageError> {
    let array: [u8; SERIES_LEN] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt("history series number".into()))?;
    Ok(u64::from_be_bytes(array))
}

/// The instance keys of one series: `[start, end)`.
fn series_range(series: u64) -> ([u8; SERIES_LEN], Vec<u8>) {
    let start = series.to_be_bytes();
    let end = match series.checked_add(1) {
        Some(next) => next.to_be_bytes().to_vec(),
        None => vec![0xff; SERIES_LEN + 1],
    };
    (start, end)
}

/// The series of an entity's attributes, with their keys, in attribute order.
fn entity_series(
    series: &impl ReadableTable<&'static [u8], &'static [u8]>,
    entity: &[u8],
) -> Result<Vec<(Vec<u8>, u64)>, StorageError> {
    let end = layout::prefix_end(entity);
    let mut out = Vec::new();
    for item in series.range(entity..end.as_slice()).map_err(db_err)? {
        let (k, v) = item.map_err(db_err)?;
        out.push((k.value().to_vec(), decode_series(v.value())?));
    }
    Ok(out)
}

/// Microseconds with the sign bit flipped, big-endian: byte order is time order.
fn time_bytes(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

fn instance_key(series: u64, time: DateTime<Utc>, seq: u64, index: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(SERIES_LEN + SUFFIX_LEN);
    key.extend_from_slice(&series.to_be_bytes());
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
fn filed_time(key: &[u8]) -> Option<DateTime<Utc>> {
    let bytes: [u8; 8] = key.get(SERIES_LEN..SERIES_LEN + 8)?.try_into().ok()?;
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
    let mut seq_digits = itoa::Buffer::new();
    let mut index_digits = itoa::Buffer::new();
    let (seq, index) = (seq_digits.format(seq), index_digits.format(index));
    let mut id = String::with_capacity(INSTANCE_ID_PREFIX.len() + seq.len() + 1 + index.len());
    id.push_str(INSTANCE_ID_PREFIX);
    id.push_str(seq);
    id.push('-');
    id.push_str(index);
    id
}

/// `time` as RFC 3339 in UTC with `Z`, to the second or the millisecond: what
/// `to_rfc3339_opts(form, true)` writes, without its formatting machinery (one per instance
/// read). Years outside 0-9999 go through chrono.
fn observed_at_text(time: DateTime<Utc>, form: chrono::SecondsFormat) -> String {
    use chrono::{Datelike, Timelike};
    let year = time.year();
    if !(0..=9999).contains(&year) {
        return time.to_rfc3339_opts(form, true);
    }
    let two = |out: &mut String, n: u32| {
        out.push(char::from(b'0' + (n / 10 % 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    };
    let mut out = String::with_capacity(24);
    let year = year as u32;
    two(&mut out, year / 100);
    two(&mut out, year % 100);
    out.push('-');
    two(&mut out, time.month());
    out.push('-');
    two(&mut out, time.day());
    out.push('T');
    two(&mut out, time.hour());
    out.push(':');
    two(&mut out, time.minute());
    out.push(':');
    two(&mut out, time.second());
    if form == chrono::SecondsFormat::Millis {
        let millis = time.timestamp_subsec_millis().min(999);
        out.push('.');
        out.push(char::from(b'0' + (millis / 100) as u8));
        two(&mut out, millis % 100);
    }
    out.push('Z');
    out
}

fn parse_instance_id(id: &str) -> Option<(u64, u32)> {
    let (seq, index) = id.strip_prefix(INSTANCE_ID_PREFIX)?.split_once('-')?;
    Some((seq.parse().ok()?, index.parse().ok()?))
}

/// How `observedAt` is rebuilt from the key's time, when it is written in a usual form.
fn observed_form(observed_at: &str, time: DateTime<Utc>) -> u8 {
    if observed_at == observed_at_text(time, chrono::SecondsFormat::Secs) {
        FLAG_OBSERVED_SECS
    } else if observed_at == observed_at_text(time, chrono::SecondsFormat::Millis) {
        FLAG_OBSERVED_MILLIS
    } else {
        0
    }
}

/// Encodes an instance filed under `time`.
fn encode_instance(instance: &NewInstance, time: DateTime<Utc>) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    let observed = instance
        .value
        .observed_at
        .as_deref()
        .map_or(0, |o| observed_form(o, time));
    let mut flags = observed;
    if instance.deleted_at.is_some() {
        flags |= FLAG_DELETION;
    }
    out.push(flags);
    if let Some(t) = &instance.deleted_at {
        put_time(&mut out, t);
    }
    if observed == 0 {
        crate::codec::put_attribute(&mut out, &instance.value);
    } else {
        let mut value = instance.value.clone();
        value.observed_at = None;
        crate::codec::put_attribute(&mut out, &value);
    }
    out
}

fn decode_instance(key: &[u8], value: &[u8]) -> Result<Instance, StorageError> {
    let mut r = Reader { bytes: value };
    let flags = r.byte()?;
    if flags & !(FLAG_DELETION | FLAG_OBSERVED_SECS | FLAG_OBSERVED_MILLIS) != 0 {
        return Err(StorageError::Corrupt(format!(
            "history instance flags {flags}"
        )));
    }
    let deleted_at = if flags & FLAG_DELETION != 0 {
        Some(r.time()?)
    } else {
        None
    };
    let mut value: Attribute = r.attribute(0)?;
    let form = if flags & FLAG_OBSERVED_SECS != 0 {
        Some(chrono::SecondsFormat::Secs)
    } else if flags & FLAG_OBSERVED_MILLIS != 0 {
        Some(chrono::SecondsFormat::Millis)
    } else {
        None
    };
    if let Some(form) = form {
        let time =
            filed_time(key).ok_or_else(|| StorageError::Corrupt("history key too short".into()))?;
        value.observed_at = Some(observed_at_text(time, form));
    }
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
    HeaderReader::open(&txn)?.get(tenant_prefix, id)
}

/// Reads history headers as they are to be seen: with the live entity's `modifiedAt` when
/// that is later, since an append bound to a write of the entity does not rewrite the
/// header for its modifiedAt alone.
struct HeaderReader {
    headers: ReadOnlyTable<&'static [u8], &'static [u8]>,
    entities: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl HeaderReader {
    fn open(txn: &redb::ReadTransaction) -> Result<Self, StorageError> {
        Ok(Self {
            headers: txn.open_table(HISTORY_ENTITIES).map_err(db_err)?,
            entities: txn.open_table(ENTITIES).map_err(db_err)?,
        })
    }

    /// The header of `id`, if it has a history.
    fn get(&self, tenant_prefix: &[u8], id: &str) -> Result<Option<HistoryHeader>, StorageError> {
        let key = layout::entity_key(tenant_prefix, id);
        match self.headers.get(key.as_slice()).map_err(db_err)? {
            Some(v) => self.live(&key, decode_header(id, v.value())?).map(Some),
            None => Ok(None),
        }
    }

    /// `header`, stored under `key`, with the live entity's `modifiedAt` when later.
    fn live(&self, key: &[u8], mut header: HistoryHeader) -> Result<HistoryHeader, StorageError> {
        if header.deleted_at.is_none() {
            if let Some(v) = self.entities.get(key).map_err(db_err)? {
                let live = layout::split_record(v.value())?.1.modified_at()?;
                header.modified_at = header.modified_at.max(live);
            }
        }
        Ok(header)
    }
}

/// One entity's history as `query` selects it.
pub(crate) fn read_history(
    db: &Database,
    tenant_prefix: &[u8],
    id: &str,
    query: &HistoryQuery,
) -> Result<Option<EntityHistory>, StorageError> {
    Ok(read_entity::<Instance>(db, tenant_prefix, id, query)?
        .map(|(header, attributes)| EntityHistory { header, attributes }))
}

/// An entity's header and, per attribute with some in the query's range, what `T` collects.
type EntityRead<T> = (HistoryHeader, BTreeMap<String, Vec<T>>);

fn read_entity<T: Collected>(
    db: &Database,
    tenant_prefix: &[u8],
    id: &str,
    query: &HistoryQuery,
) -> Result<Option<EntityRead<T>>, StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let Some(header) = HeaderReader::open(&txn)?.get(tenant_prefix, id)? else {
        return Ok(None);
    };
    let instances = txn.open_table(HISTORY).map_err(db_err)?;
    let series_table = txn.open_table(HISTORY_SERIES).map_err(db_err)?;
    let entity = entity_prefix(tenant_prefix, id);
    let mut series = Vec::new();
    match &query.attrs {
        Some(attrs) => {
            for name in attrs {
                let key = series_key(&entity, name);
                if let Some(v) = series_table.get(key.as_slice()).map_err(db_err)? {
                    series.push((name.clone(), decode_series(v.value())?));
                }
            }
        }
        None => {
            for (key, number) in entity_series(&series_table, &entity)? {
                let rest = key.get(entity.len()..).unwrap_or_default();
                series.push((layout::first_component(rest)?, number));
            }
        }
    }
    let mut attributes = BTreeMap::new();
    for (name, number) in series {
        let found = read_attribute::<T>(&instances, number, query)?;
        if !found.is_empty() {
            attributes.insert(name, found);
        }
    }
    Ok(Some((header, attributes)))
}

/// What a history read collects from each instance in its range: whole instances, or
/// samples for an aggregation.
trait Collected: Sized {
    /// Decodes the instance under `key` and pushes it onto `out` (an instance is a few
    /// hundred bytes: moving it through the layers of a return value was a tenth of a lastN
    /// read). `None` when the read leaves it out whatever its time (another dataset; a
    /// deletion, for samples) and nothing was pushed; else the instant of the query's time
    /// property (`None` when it lacks it).
    fn decode_into(
        key: &[u8],
        value: &[u8],
        query: &HistoryQuery,
        out: &mut Vec<Self>,
    ) -> Result<Option<Option<DateTime<Utc>>>, StorageError>;

    /// Sets the instant the item is returned and ordered by.
    fn set_at(&mut self, at: DateTime<Utc>);

    /// The instant of `property` (reads not on observedAt are sorted by it).
    fn time(&self, property: TimeProperty) -> Option<DateTime<Utc>>;
}

impl Collected for Instance {
    fn decode_into(
        key: &[u8],
        value: &[u8],
        query: &HistoryQuery,
        out: &mut Vec<Self>,
    ) -> Result<Option<Option<DateTime<Utc>>>, StorageError> {
        out.push(decode_instance(key, value)?);
        let Some(instance) = out.last() else {
            return Ok(None);
        };
        if !query.takes_dataset(instance.value.dataset_id.as_deref()) {
            out.pop();
            return Ok(None);
        }
        Ok(Some(
            if query.property == TimeProperty::ObservedAt && instance.value.observed_at.is_some() {
                // Filed under its observedAt: the key holds it already.
                filed_time(key)
            } else {
                query.property.of(instance)
            },
        ))
    }

    fn set_at(&mut self, _: DateTime<Utc>) {}

    fn time(&self, property: TimeProperty) -> Option<DateTime<Utc>> {
        property.of(self)
    }
}

/// A sample as read: deletions take their place among the instances (for `lastN`) and are
/// dropped afterwards.
struct ReadSample {
    sample: Sample,
    deleted: bool,
}

impl Collected for ReadSample {
    fn decode_into(
        key: &[u8],
        value: &[u8],
        query: &HistoryQuery,
        out: &mut Vec<Self>,
    ) -> Result<Option<Option<DateTime<Utc>>>, StorageError> {
        let mut r = Reader { bytes: value };
        let flags = r.byte()?;
        let deleted_at = if flags & FLAG_DELETION != 0 {
            Some(r.time()?)
        } else {
            None
        };
        let a = r.attribute_summary()?;
        if !query.takes_dataset(a.dataset_id) {
            return Ok(None);
        }
        let observed_in_key = flags & (FLAG_OBSERVED_SECS | FLAG_OBSERVED_MILLIS) != 0;
        let time = match query.property {
            TimeProperty::ObservedAt if observed_in_key || a.observed_at.is_some() => {
                filed_time(key)
            }
            TimeProperty::ObservedAt => None,
            TimeProperty::CreatedAt => a.created_at,
            TimeProperty::ModifiedAt => a.modified_at,
            TimeProperty::DeletedAt => deleted_at,
        };
        let sample = Sample {
            at: time.unwrap_or_default(),
            dataset_id: a.dataset_id.map(str::to_owned),
            value: a.value,
        };
        out.push(ReadSample {
            sample,
            deleted: deleted_at.is_some(),
        });
        Ok(Some(time))
    }

    fn set_at(&mut self, at: DateTime<Utc>) {
        self.sample.at = at;
    }

    fn time(&self, _: TimeProperty) -> Option<DateTime<Utc>> {
        Some(self.sample.at)
    }
}

/// One entity's history reduced to samples, as `query` selects it.
pub(crate) fn read_samples(
    db: &Database,
    tenant_prefix: &[u8],
    id: &str,
    query: &HistoryQuery,
) -> Result<Option<EntitySamples>, StorageError> {
    let Some((header, read)) = read_entity::<ReadSample>(db, tenant_prefix, id, query)? else {
        return Ok(None);
    };
    let attributes = read
        .into_iter()
        .map(|(name, all)| {
            let samples: Vec<Sample> = all
                .into_iter()
                .filter(|r| !r.deleted)
                .map(|r| r.sample)
                .collect();
            (name, samples)
        })
        .filter(|(_, samples)| !samples.is_empty())
        .collect();
    Ok(Some(EntitySamples { header, attributes }))
}

/// The instances of one series in the query's range, ascending by its time property.
fn read_attribute<T: Collected>(
    instances: &impl ReadableTable<&'static [u8], &'static [u8]>,
    series: u64,
    query: &HistoryQuery,
) -> Result<Vec<T>, StorageError> {
    let (first, end) = series_range(series);
    let keyed = query.property == TimeProperty::ObservedAt;
    let bound = |t: DateTime<Utc>| {
        let mut k = first.to_vec();
        k.extend_from_slice(&time_bytes(t));
        k
    };
    // Filed by observedAt: the range narrows the scan (instances without one are filed by
    // another time and dropped below).
    let (start, stop) = if keyed {
        (
            query.range.from.map_or_else(|| first.to_vec(), bound),
            query.range.to.map_or(end, bound),
        )
    } else {
        (first.to_vec(), end)
    };
    let range = instances
        .range(start.as_slice()..stop.as_slice())
        .map_err(db_err)?;
    // Without a time range nothing is filtered out by observedAt (core writes have none); an
    // explicit deletedAt, createdAt or modifiedAt still selects the instances that have it.
    let unbounded = query.range.from.is_none() && query.range.to.is_none() && keyed;
    // Pushes the item under `item` onto `out` when the query selects it.
    let select = |item: Result<RangeItem<'_>, redb::StorageError>,
                  out: &mut Vec<T>|
     -> Result<(), StorageError> {
        let (k, v) = item.map_err(db_err)?;
        let Some(time) = T::decode_into(k.value(), v.value(), query, out)? else {
            return Ok(());
        };
        // An instance lacking observedAt sorts by the time it is filed under.
        let time = time.or_else(|| unbounded.then(|| filed_time(k.value())).flatten());
        match (time.filter(|t| query.range.contains(*t)), out.last_mut()) {
            (Some(t), Some(last)) => last.set_at(t),
            _ => {
                out.pop();
            }
        }
        Ok(())
    };
    let wanted = query.last_n.or(query.first_n).unwrap_or(0);
    let mut out: Vec<T> = Vec::with_capacity(wanted.min(4096));
    match (keyed, query.last_n) {
        (true, Some(n)) => {
            for item in range.rev() {
                if out.len() >= n {
                    break;
                }
                select(item, &mut out)?;
            }
            out.reverse();
        }
        _ => {
            let first_n = query.first_n.filter(|_| keyed && query.last_n.is_none());
            for item in range {
                if first_n.is_some_and(|n| out.len() >= n) {
                    break;
                }
                select(item, &mut out)?;
            }
            if !keyed {
                out.sort_by_cached_key(|i| i.time(query.property));
            }
            if let Some(n) = query.last_n {
                let skip = out.len().saturating_sub(n);
                out.drain(..skip);
            } else if let Some(n) = query.first_n {
                out.truncate(n);
            }
        }
    }
    Ok(out)
}

/// One key and value of a range scan.
type RangeItem<'a> = (
    redb::AccessGuard<'a, &'static [u8]>,
    redb::AccessGuard<'a, &'static [u8]>,
);

/// Headers of entities with a history, from `source`, in id order after `after`.
pub(crate) fn read_headers(
    db: &Database,
    tenant_prefix: &[u8],
    source: &Source,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<HistoryHeader>, StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let reader = HeaderReader::open(&txn)?;
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
            if let Some(header) = reader.get(tenant_prefix, id)? {
                out.push(header);
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
    for item in reader
        .headers
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
        out.push(reader.live(k.value(), header)?);
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
        let key = instance_key(3, DateTime::from_timestamp(5, 0).unwrap_or_default(), 42, 7);
        let (seq, index) = seq_and_index(&key).unwrap_or((0, 0));
        assert_eq!(parse_instance_id(&instance_id(seq, index)), Some((42, 7)));
    }

    #[test]
    fn observed_at_text_is_what_chrono_writes() {
        let micros = [
            0,
            1_600_000_005_123_456,
            -62_167_219_200_000_000, // 0000-01-01
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
            253_402_300_800_000_000, // 10000-01-01
            -62_167_219_200_000_001,
            951_782_400_000_001, // 2000-02-29
        ];
        for (n, m) in micros
            .into_iter()
            .chain((0..2000).map(|i| i * 7_919_999_937_731))
            .enumerate()
        {
            let t = DateTime::from_timestamp_micros(m).unwrap_or_default();
            for form in [chrono::SecondsFormat::Secs, chrono::SecondsFormat::Millis] {
                assert_eq!(
                    observed_at_text(t, form),
                    t.to_rfc3339_opts(form, true),
                    "case {n}"
                );
            }
        }
        assert_eq!(
            instance_id(12_345_678_901, 0),
            "urn:ngsi-ld:instance:12345678901-0"
        );
    }

    #[test]
    fn observed_at_is_rebuilt_from_the_key_only_when_written_in_a_usual_form() {
        let time = DateTime::from_timestamp(1_600_000_005, 0).unwrap_or_default();
        for (written, kept_in_value) in [
            ("2020-09-13T12:26:45Z", false),
            ("2020-09-13T12:26:45.000Z", false),
            ("2020-09-13T12:26:45.000000Z", true),
            ("2020-09-13T14:26:45+02:00", true),
        ] {
            let mut value = rigel_model::Attribute {
                observed_at: Some(written.to_owned()),
                ..rigel_model::Attribute::new(rigel_model::AttributeValue::Property(
                    serde_json::json!(1),
                ))
            };
            let instance = NewInstance {
                attribute: "a".into(),
                value: value.clone(),
                deleted_at: None,
            };
            let key = instance_key(1, time, 9, 0);
            let bytes = encode_instance(&instance, time);
            let back = decode_instance(&key, &bytes).map(|i| i.value);
            value.observed_at = Some(written.to_owned());
            assert_eq!(back.ok(), Some(value), "{written}");
            let stored = String::from_utf8_lossy(&bytes).contains("26:45");
            assert_eq!(stored, kept_in_value, "{written}");
        }
    }

    #[test]
    fn earlier_times_sort_first_across_the_epoch() {
        let before = DateTime::from_timestamp(-10, 0).unwrap_or_default();
        let after = DateTime::from_timestamp(10, 0).unwrap_or_default();
        assert!(time_bytes(before) < time_bytes(after));
    }
}
