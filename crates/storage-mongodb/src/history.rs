//! The history part of the contract: attribute instances one document each, filed by entity,
//! attribute and the microsecond they are filed under (`rigel_storage::filed_micros`), and
//! one header per entity; the changes a commit applies, inside its transaction, and the
//! reads, which hand the filed instances to the contract's shared selection.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::Error;
use mongodb::{ClientSession, Collection};
use rigel_model::{Attribute, Tenant};
use rigel_storage::{
    filed_micros, instance_id, select_instances, trimmed, DatasetSelector, FiledInstance,
    HistoryChange, HistoryHeader, HistoryQuery, Instance, Source, StorageError, TimeProperty,
};

use crate::error::storage_error;
use crate::{layout, select, MongoStore};

/// An instant as stored: RFC 3339 in UTC with the nanoseconds it has.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StorageError::Corrupt(format!("stored instant {s:?}: {e}")))
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("history document without {what}"))
}

/// A header's instant: nanoseconds since 1970, so that `$min` and `$max` compare them.
fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// The update that merges `header` into the stored one as [`HistoryHeader::absorb`] does
/// (types added, the scope replaced when it has one, the earliest creation and the latest
/// modification kept, the deletion replaced), creating it when there is none: one write,
/// no read.
fn absorb(header: &HistoryHeader) -> Document {
    let mut set = doc! {
        "deletedAt": header.deleted_at.map_or(Bson::Null, |t| Bson::Int64(nanos(t))),
    };
    if let Some(scope) = &header.scope {
        set.insert("scope", scope.clone());
    }
    doc! {
        "$addToSet": {"types": {"$each": &header.types}},
        "$set": set,
        "$min": {"createdAt": nanos(header.created_at)},
        "$max": {"modifiedAt": nanos(header.modified_at)},
    }
}

fn strings(document: &Document, key: &str) -> Option<Vec<String>> {
    document.get_array(key).ok().map(|values| {
        values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

fn decode_header(document: &Document) -> Result<HistoryHeader, StorageError> {
    let optional_time = |key: &str| match document.get(key) {
        Some(Bson::Int64(n)) => Ok(Some(DateTime::from_timestamp_nanos(*n))),
        Some(Bson::String(s)) => parse_time(s).map(Some),
        _ => Ok(None),
    };
    Ok(HistoryHeader {
        id: document
            .get_str("_id")
            .map_err(|_| corrupt("an id"))?
            .to_owned(),
        types: strings(document, "types").ok_or_else(|| corrupt("types"))?,
        scope: strings(document, "scope"),
        created_at: optional_time("createdAt")?.ok_or_else(|| corrupt("createdAt"))?,
        modified_at: optional_time("modifiedAt")?.ok_or_else(|| corrupt("modifiedAt"))?,
        deleted_at: optional_time("deletedAt")?,
    })
}

/// An instance's document.
fn encode_instance(
    entity: &str,
    attribute: &str,
    id: String,
    seq: ObjectId,
    index: u32,
    value: &Attribute,
    deleted_at: Option<DateTime<Utc>>,
) -> Result<Document, Error> {
    let body = serde_json::to_string(value).map_err(|e| {
        Error::custom(StorageError::Corrupt(format!(
            "instance not serializable: {e}"
        )))
    })?;
    Ok(doc! {
        "_id": id,
        "e": entity,
        "a": attribute,
        "t": filed_micros(value, deleted_at),
        "s": seq,
        "i": i64::from(index),
        "d": value.dataset_id.clone().map_or(Bson::Null, Bson::String),
        "body": body,
        "deletedAt": deleted_at.map_or(Bson::Null, |t| Bson::String(time(t))),
    })
}

fn decode_instance(document: &Document) -> Result<FiledInstance, StorageError> {
    let value: Attribute =
        serde_json::from_str(document.get_str("body").map_err(|_| corrupt("a body"))?)
            .map_err(|e| StorageError::Corrupt(format!("instance body unreadable: {e}")))?;
    let deleted_at = match document.get_str("deletedAt") {
        Ok(s) => Some(parse_time(s)?),
        Err(_) => None,
    };
    Ok(FiledInstance {
        micros: document
            .get_i64("t")
            .map_err(|_| corrupt("a filing time"))?,
        instance: Instance {
            instance_id: document
                .get_str("_id")
                .map_err(|_| corrupt("an id"))?
                .to_owned(),
            value,
            deleted_at,
        },
    })
}

/// Applies one change inside the commit's transaction; `false` when it found nothing to act
/// on (and changed nothing).
pub(crate) async fn apply(
    store: &MongoStore,
    tenant: &Tenant,
    session: &mut ClientSession,
    change: &HistoryChange,
) -> Result<bool, Error> {
    let headers = store.collection(tenant, layout::HEADERS);
    let instances = store.collection(tenant, layout::HISTORY);
    match change {
        HistoryChange::Append {
            header,
            instances: new,
        } => {
            headers
                .update_one(doc! {"_id": &header.id}, absorb(header))
                .upsert(true)
                .session(&mut *session)
                .await?;
            if !new.is_empty() {
                let seq = ObjectId::new();
                let mut documents = Vec::with_capacity(new.len());
                for (index, instance) in new.iter().enumerate() {
                    let index = u32::try_from(index).unwrap_or(u32::MAX);
                    documents.push(encode_instance(
                        &header.id,
                        &instance.attribute,
                        instance_id(seq.to_hex(), index),
                        seq,
                        index,
                        &instance.value,
                        instance.deleted_at,
                    )?);
                }
                instances
                    .insert_many(documents)
                    .session(&mut *session)
                    .await?;
            }
            Ok(true)
        }
        HistoryChange::Forget { id } => {
            let gone = headers
                .delete_one(doc! {"_id": id})
                .session(&mut *session)
                .await?;
            instances
                .delete_many(doc! {"e": id})
                .session(&mut *session)
                .await?;
            Ok(gone.deleted_count > 0)
        }
        HistoryChange::ForgetAttribute {
            id,
            attribute,
            datasets,
        } => {
            let mut filter = doc! {"e": id, "a": attribute};
            if let DatasetSelector::One(dataset) = datasets {
                filter.insert("d", dataset.clone().map_or(Bson::Null, Bson::String));
            }
            let gone = instances.delete_many(filter).session(&mut *session).await?;
            Ok(gone.deleted_count > 0)
        }
        HistoryChange::ReplaceInstance {
            id,
            attribute,
            instance_id,
            value,
        } => {
            let filter = doc! {"_id": instance_id, "e": id, "a": attribute};
            let Some(old) = instances
                .find_one(filter.clone())
                .session(&mut *session)
                .await?
            else {
                return Ok(false);
            };
            let old = decode_instance(&old).map_err(Error::custom)?;
            let mut fresh = encode_instance(
                id,
                attribute,
                instance_id.clone(),
                ObjectId::new(),
                0,
                value,
                old.instance.deleted_at,
            )?;
            // Keep where the instance was recorded: its id and its place among ties.
            fresh.remove("s");
            fresh.remove("i");
            fresh.remove("_id");
            instances
                .update_one(filter, doc! {"$set": fresh})
                .session(&mut *session)
                .await?;
            Ok(true)
        }
        HistoryChange::ForgetInstance {
            id,
            attribute,
            instance_id,
        } => {
            let gone = instances
                .delete_one(doc! {"_id": instance_id, "e": id, "a": attribute})
                .session(&mut *session)
                .await?;
            Ok(gone.deleted_count > 0)
        }
        HistoryChange::Trim {
            id,
            older_than,
            keep_last,
        } => {
            let mut cursor = instances
                .find(doc! {"e": id})
                .projection(doc! {"a": 1, "t": 1})
                .sort(doc! {"a": 1, "t": 1, "s": 1, "i": 1})
                .session(&mut *session)
                .await?;
            let mut series: BTreeMap<String, Vec<(Bson, i64)>> = BTreeMap::new();
            while let Some(d) = cursor.next(&mut *session).await.transpose()? {
                let (Ok(a), Ok(t), Some(key)) = (d.get_str("a"), d.get_i64("t"), d.get("_id"))
                else {
                    continue;
                };
                series
                    .entry(a.to_owned())
                    .or_default()
                    .push((key.clone(), t));
            }
            let mut doomed = Vec::new();
            for filed in series.values() {
                let micros: Vec<i64> = filed.iter().map(|(_, t)| *t).collect();
                for i in trimmed(&micros, *older_than, *keep_last) {
                    doomed.push(filed[i].0.clone());
                }
            }
            if doomed.is_empty() {
                return Ok(false);
            }
            instances
                .delete_many(doc! {"_id": {"$in": doomed}})
                .session(&mut *session)
                .await?;
            Ok(true)
        }
    }
}

/// The stored header of an entity's history as readers see it (see [`live`]).
pub(crate) async fn header(
    store: &MongoStore,
    tenant: &Tenant,
    id: &str,
) -> Result<Option<HistoryHeader>, StorageError> {
    let Some(found) = store
        .collection(tenant, layout::HEADERS)
        .find_one(doc! {"_id": id})
        .await
        .map_err(storage_error)?
    else {
        return Ok(None);
    };
    let mut headers = vec![decode_header(&found)?];
    live(store, tenant, &mut headers).await?;
    Ok(headers.pop())
}

/// The headers with the live entity's `modifiedAt` where that is later (a write of the
/// entity without a history record still shows).
async fn live(
    store: &MongoStore,
    tenant: &Tenant,
    headers: &mut [HistoryHeader],
) -> Result<(), StorageError> {
    let ids: Vec<String> = headers
        .iter()
        .filter(|h| h.deleted_at.is_none())
        .map(|h| h.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let entities = select::get_many(&store.collection(tenant, layout::ENTITIES), &ids).await?;
    for (id, entity) in ids.iter().zip(entities) {
        if let (Some(entity), Some(header)) = (entity, headers.iter_mut().find(|h| &h.id == id)) {
            header.modified_at = header.modified_at.max(entity.value.modified_at);
        }
    }
    Ok(())
}

/// Per attribute with some instances the query selects, those instances.
pub(crate) async fn read(
    instances: &Collection<Document>,
    id: &str,
    query: &HistoryQuery,
) -> Result<BTreeMap<String, Vec<Instance>>, StorageError> {
    let mut filter = doc! {"e": id};
    if let Some(attrs) = &query.attrs {
        filter.insert("a", doc! {"$in": attrs.clone()});
    }
    // On observedAt with a range, only instances having it can match, and they are filed
    // under it: MongoDB cuts the range (a microsecond wider; the selection cuts it exactly).
    if query.property == TimeProperty::ObservedAt {
        let mut t = Document::new();
        if let Some(from) = query.range.from {
            t.insert("$gte", from.timestamp_micros() - 1);
        }
        if let Some(to) = query.range.to {
            t.insert("$lte", to.timestamp_micros() + 1);
        }
        if !t.is_empty() {
            filter.insert("t", t);
        }
    }
    let mut cursor = instances
        .find(filter)
        .sort(doc! {"a": 1, "t": 1, "s": 1, "i": 1})
        .batch_size(1024)
        .await
        .map_err(storage_error)?;
    let mut filed: BTreeMap<String, Vec<FiledInstance>> = BTreeMap::new();
    while let Some(document) = cursor.try_next().await.map_err(storage_error)? {
        let attribute = document.get_str("a").map_err(|_| corrupt("an attribute"))?;
        let instance = decode_instance(&document)?;
        filed
            .entry(attribute.to_owned())
            .or_default()
            .push(instance);
    }
    Ok(filed
        .into_iter()
        .map(|(name, series)| (name, select_instances(series, query)))
        .filter(|(_, found)| !found.is_empty())
        .collect())
}

/// The headers of the entities of `source` having a history, in id order after `after`, at
/// most `limit`.
pub(crate) async fn headers(
    store: &MongoStore,
    tenant: &Tenant,
    source: &Source,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<HistoryHeader>, StorageError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (filter, prefix) = select::filter(source, after);
    let collection = store.collection(tenant, layout::HEADERS);
    let mut find = collection.find(filter).sort(doc! {"_id": 1});
    if prefix.is_none() {
        if let Ok(limit) = i64::try_from(limit) {
            find = find.limit(limit);
        }
    }
    let mut cursor = find.await.map_err(storage_error)?;
    let mut found = Vec::new();
    while let Some(document) = cursor.try_next().await.map_err(storage_error)? {
        let header = decode_header(&document)?;
        if prefix.as_deref().is_some_and(|p| !header.id.starts_with(p)) || found.len() >= limit {
            break;
        }
        found.push(header);
    }
    live(store, tenant, &mut found).await?;
    Ok(found)
}
