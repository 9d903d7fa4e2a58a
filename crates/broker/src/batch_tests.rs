//! Behaviour of the batch operations (clauses 5.6.7-5.6.10, 5.6.20, 5.5.11) over the in-memory
//! backend, wrapped to count commits and to play a concurrent writer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use rigel_model::codec::parse::{parse_entity, parse_fragment, NullPolicy};
use rigel_model::{AttributeValue, Entity, ErrorKind, IdentityTerms, Tenant};
use rigel_storage::{
    EntityStore, Expect, HistoryChange, Selected, Selection, StorageError, Versioned, WriteOp,
    WriteOutcome,
};
use rigel_storage_memory::MemoryStore;
use serde_json::{json, Value};

use crate::{AttributeUpdate, BatchResult, Broker, Clock, EntityMerge, UpsertMode};

type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

/// The in-memory backend, counting commits and able to play a concurrent writer.
#[derive(Default)]
pub(crate) struct MemStore {
    inner: MemoryStore,
    state: Mutex<Mem>,
}

#[derive(Default)]
struct Mem {
    commits: usize,
    /// Entities "another client" writes (default tenant) just before each of the next commits.
    racing: VecDeque<Entity>,
    /// The history changes applied, in order.
    history: Vec<(Tenant, HistoryChange)>,
}

impl MemStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Mem> {
        self.state.lock().unwrap()
    }

    /// The history changes applied so far.
    pub(crate) fn history(&self) -> Vec<(Tenant, HistoryChange)> {
        self.lock().history.clone()
    }
}

// Written out as `async_trait` expands it (the broker does not depend on that macro); every
// method but `commit` is the backend's own.
impl EntityStore for MemStore {
    fn get<'l0, 'l1, 'l2, 'at>(
        &'l0 self,
        tenant: &'l1 Tenant,
        id: &'l2 str,
    ) -> Fut<'at, Option<Versioned<Entity>>>
    where
        'l0: 'at,
        'l1: 'at,
        'l2: 'at,
        Self: 'at,
    {
        self.inner.get(tenant, id)
    }

    /// Counts the commit, lets the racer write first, and notes the applied history changes.
    fn commit<'l0, 'l1, 'at>(
        &'l0 self,
        tenant: &'l1 Tenant,
        ops: Vec<WriteOp>,
    ) -> Fut<'at, Vec<WriteOutcome>>
    where
        'l0: 'at,
        'l1: 'at,
        Self: 'at,
    {
        Box::pin(async move {
            let racer = {
                let mut mem = self.lock();
                mem.commits += 1;
                mem.racing.pop_front()
            };
            if let Some(entity) = racer {
                let put = WriteOp::Put {
                    entity,
                    expect: Expect::Any,
                };
                self.inner
                    .commit(&Tenant::default_tenant(), vec![put])
                    .await?;
            }
            let changes: Vec<Option<HistoryChange>> = ops
                .iter()
                .map(|op| match op {
                    WriteOp::Record { change, .. } => Some(change.clone()),
                    _ => None,
                })
                .collect();
            let outcomes = self.inner.commit(tenant, ops).await?;
            let applied = changes
                .into_iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| matches!(outcome, WriteOutcome::Applied { .. }))
                .filter_map(|(change, _)| Some((tenant.clone(), change?)));
            self.lock().history.extend(applied);
            Ok(outcomes)
        })
    }

    fn tenant_exists<'l0, 'l1, 'at>(&'l0 self, tenant: &'l1 Tenant) -> Fut<'at, bool>
    where
        'l0: 'at,
        'l1: 'at,
        Self: 'at,
    {
        self.inner.tenant_exists(tenant)
    }

    fn tenants<'l0, 'at>(&'l0 self) -> Fut<'at, Vec<Tenant>>
    where
        'l0: 'at,
        Self: 'at,
    {
        self.inner.tenants()
    }

    fn ids_by_type<'l0, 'l1, 'l2, 'l3, 'at>(
        &'l0 self,
        tenant: &'l1 Tenant,
        type_iri: &'l2 str,
        after: Option<&'l3 str>,
        limit: usize,
    ) -> Fut<'at, Vec<String>>
    where
        'l0: 'at,
        'l1: 'at,
        'l2: 'at,
        'l3: 'at,
        Self: 'at,
    {
        self.inner.ids_by_type(tenant, type_iri, after, limit)
    }

    fn get_many<'l0, 'l1, 'l2, 'at>(
        &'l0 self,
        tenant: &'l1 Tenant,
        ids: &'l2 [String],
    ) -> Fut<'at, Vec<Option<Versioned<Entity>>>>
    where
        'l0: 'at,
        'l1: 'at,
        'l2: 'at,
        Self: 'at,
    {
        self.inner.get_many(tenant, ids)
    }

    fn select<'l0, 'l1, 'at>(&'l0 self, tenant: &'l1 Tenant, s: Selection) -> Fut<'at, Selected>
    where
        'l0: 'at,
        'l1: 'at,
        Self: 'at,
    {
        self.inner.select(tenant, s)
    }

    fn visit<'l0, 'l1, 'at>(
        &'l0 self,
        tenant: &'l1 Tenant,
        query: Arc<rigel_query::EntityQuery>,
        visitor: rigel_storage::Visitor,
    ) -> Fut<'at, usize>
    where
        'l0: 'at,
        'l1: 'at,
        Self: 'at,
    {
        self.inner.visit(tenant, query, visitor)
    }

    fn types_in_use<'l0, 'l1, 'at>(&'l0 self, tenant: &'l1 Tenant) -> Fut<'at, Vec<String>>
    where
        'l0: 'at,
        'l1: 'at,
        Self: 'at,
    {
        self.inner.types_in_use(tenant)
    }

    fn history_header<'l0, 'l1, 'l2, 'at>(
        &'l0 self,
        tenant: &'l1 Tenant,
        id: &'l2 str,
    ) -> Fut<'at, Option<rigel_storage::HistoryHeader>>
    where
        'l0: 'at,
        'l1: 'at,
        'l2: 'at,
        Self: 'at,
    {
        self.inner.history_header(tenant, id)
    }

    fn history<'l0, 'l1, 'l2, 'l3, 'at>(
        &'l0 self,
        tenant: &'l1 Tenant,
        id: &'l2 str,
        query: &'l3 rigel_storage::HistoryQuery,
    ) -> Fut<'at, Option<rigel_storage::EntityHistory>>
    where
        'l0: 'at,
        'l1: 'at,
        'l2: 'at,
        'l3: 'at,
        Self: 'at,
    {
        self.inner.history(tenant, id, query)
    }

    fn history_samples<'l0, 'l1, 'l2, 'l3, 'at>(
        &'l0 self,
        tenant: &'l1 Tenant,
        id: &'l2 str,
        query: &'l3 rigel_storage::HistoryQuery,
    ) -> Fut<'at, Option<rigel_storage::EntitySamples>>
    where
        'l0: 'at,
        'l1: 'at,
        'l2: 'at,
        'l3: 'at,
        Self: 'at,
    {
        self.inner.history_samples(tenant, id, query)
    }

    fn history_headers<'l0, 'l1, 'l2, 'l3, 'at>(
        &'l0 self,
        tenant: &'l1 Tenant,
        source: &'l2 rigel_storage::Source,
        after: Option<&'l3 str>,
        limit: usize,
    ) -> Fut<'at, Vec<rigel_storage::HistoryHeader>>
    where
        'l0: 'at,
        'l1: 'at,
        'l2: 'at,
        'l3: 'at,
        Self: 'at,
    {
        self.inner.history_headers(tenant, source, after, limit)
    }
}

struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

pub(crate) fn t1() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

pub(crate) fn broker_at(store: &Arc<MemStore>, now: DateTime<Utc>) -> Broker {
    Broker::new(
        Arc::clone(store) as Arc<dyn EntityStore>,
        Arc::new(FixedClock(now)),
    )
}

pub(crate) fn entity(v: Value) -> Entity {
    parse_entity(v.as_object().unwrap(), &IdentityTerms, t0()).unwrap()
}

pub(crate) fn room(id: &str, temp: i64) -> Entity {
    entity(json!({"id": id, "type": "Room", "temp": {"type": "Property", "value": temp}}))
}

pub(crate) fn update(v: Value) -> AttributeUpdate {
    AttributeUpdate {
        attributes: parse_fragment(
            v.as_object().unwrap(),
            &IdentityTerms,
            NullPolicy::Reject,
            t0(),
        )
        .unwrap(),
        ..Default::default()
    }
}

fn merge(v: Value) -> EntityMerge {
    EntityMerge {
        attributes: v.as_object().cloned().unwrap(),
        ..Default::default()
    }
}

pub(crate) fn tenant() -> Tenant {
    Tenant::default_tenant()
}

async fn stored(store: &MemStore, id: &str) -> Option<Entity> {
    store.get(&tenant(), id).await.unwrap().map(|v| v.value)
}

fn value(e: &Entity, name: &str) -> Value {
    match &e.attributes[name][0].value {
        AttributeValue::Property(v) => v.clone(),
        other => panic!("not a property: {other:?}"),
    }
}

fn error_kinds(r: &BatchResult) -> Vec<(&str, ErrorKind)> {
    r.errors
        .iter()
        .map(|e| (e.entity_id.as_str(), e.error.kind()))
        .collect()
}

/// Seeds entities at `t0` in one commit.
async fn seed(store: &Arc<MemStore>, entities: Vec<Entity>) {
    let r = broker_at(store, t0())
        .create_entities(&tenant(), entities)
        .await
        .unwrap();
    assert!(r.is_complete(), "{r:?}");
}

#[tokio::test]
async fn creating_a_thousand_entities_is_one_commit() {
    let store = Arc::new(MemStore::default());
    let entities: Vec<Entity> = (0..1000).map(|i| room(&format!("urn:r:{i}"), i)).collect();
    let r = broker_at(&store, t0())
        .create_entities(&tenant(), entities)
        .await
        .unwrap();
    assert!(r.is_complete());
    assert_eq!(r.success.len(), 1000);
    assert_eq!(r.created.len(), 1000);
    assert_eq!(store.lock().commits, 1);
    assert_eq!(
        value(&stored(&store, "urn:r:999").await.unwrap(), "temp"),
        json!(999)
    );
}

/// Clause 5.5.11.1: the first occurrence creates, later ones are AlreadyExists.
#[tokio::test]
async fn creating_an_id_twice_creates_the_first_and_reports_the_second_as_already_exists() {
    let store = Arc::new(MemStore::default());
    let r = broker_at(&store, t0())
        .create_entities(
            &tenant(),
            vec![room("urn:r:1", 1), room("urn:r:2", 2), room("urn:r:1", 3)],
        )
        .await
        .unwrap();
    assert_eq!(r.success, ["urn:r:1", "urn:r:2"]);
    assert_eq!(error_kinds(&r), [("urn:r:1", ErrorKind::AlreadyExists)]);
    assert_eq!(
        value(&stored(&store, "urn:r:1").await.unwrap(), "temp"),
        json!(1)
    );
}

#[tokio::test]
async fn creating_an_existing_entity_fails_only_that_element() {
    let store = Arc::new(MemStore::default());
    seed(&store, vec![room("urn:r:old", 0)]).await;
    let r = broker_at(&store, t1())
        .create_entities(&tenant(), vec![room("urn:r:old", 5), room("urn:r:new", 6)])
        .await
        .unwrap();
    assert_eq!(r.success, ["urn:r:new"]);
    assert_eq!(error_kinds(&r), [("urn:r:old", ErrorKind::AlreadyExists)]);
    assert_eq!(
        value(&stored(&store, "urn:r:old").await.unwrap(), "temp"),
        json!(0)
    );
}

/// Clause 5.6.8: absent entities are created, existing ones replaced (createdAt kept).
#[tokio::test]
async fn upsert_creates_absent_entities_and_replaces_existing_ones() {
    let store = Arc::new(MemStore::default());
    seed(
        &store,
        vec![entity(
            json!({"id": "urn:r:old", "type": "Room", "temp": {"type": "Property", "value": 0},
                "gone": {"type": "Property", "value": true}}),
        )],
    )
    .await;
    let r = broker_at(&store, t1())
        .upsert_entities(
            &tenant(),
            &[room("urn:r:old", 7), room("urn:r:new", 8)],
            UpsertMode::Replace,
        )
        .await
        .unwrap();
    assert!(r.is_complete());
    assert_eq!(r.created, ["urn:r:new"]);
    assert_eq!(r.success, ["urn:r:old", "urn:r:new"]);
    let old = stored(&store, "urn:r:old").await.unwrap();
    assert_eq!(value(&old, "temp"), json!(7));
    assert!(!old.attributes.contains_key("gone"), "replace drops it");
    assert_eq!((old.created_at, old.modified_at), (t0(), t1()));
}

#[tokio::test]
async fn upsert_in_update_mode_keeps_attributes_missing_from_the_input() {
    let store = Arc::new(MemStore::default());
    seed(
        &store,
        vec![entity(
            json!({"id": "urn:r:1", "type": "Room", "temp": {"type": "Property", "value": 0},
                "kept": {"type": "Property", "value": true}}),
        )],
    )
    .await;
    let r = broker_at(&store, t1())
        .upsert_entities(&tenant(), &[room("urn:r:1", 9)], UpsertMode::Update)
        .await
        .unwrap();
    assert!(r.is_complete() && r.created.is_empty());
    let e = stored(&store, "urn:r:1").await.unwrap();
    assert_eq!(value(&e, "temp"), json!(9));
    assert_eq!(value(&e, "kept"), json!(true));
    assert_eq!(e.attributes["temp"][0].created_at, Some(t0()));
}

/// Clause 5.5.11.2: the first occurrence creates, the next replaces what it created.
#[tokio::test]
async fn upserting_an_id_twice_creates_it_once_and_keeps_the_last_state() {
    let store = Arc::new(MemStore::default());
    let r = broker_at(&store, t0())
        .upsert_entities(
            &tenant(),
            &[room("urn:r:1", 1), room("urn:r:2", 2), room("urn:r:1", 3)],
            UpsertMode::Replace,
        )
        .await
        .unwrap();
    assert!(r.is_complete());
    assert_eq!(r.created, ["urn:r:1", "urn:r:2"]);
    assert_eq!(r.success, ["urn:r:1", "urn:r:2"]);
    assert_eq!(
        value(&stored(&store, "urn:r:1").await.unwrap(), "temp"),
        json!(3)
    );
    assert_eq!(store.lock().commits, 1);
}

#[tokio::test]
async fn updating_overwrites_existing_attributes_and_appends_new_ones() {
    let store = Arc::new(MemStore::default());
    seed(&store, vec![room("urn:r:1", 1)]).await;
    let r = broker_at(&store, t1())
        .update_entities(
            &tenant(),
            vec![(
                "urn:r:1".into(),
                update(json!({"temp": {"type": "Property", "value": 2},
                    "hum": {"type": "Property", "value": 50}})),
            )],
            true,
        )
        .await
        .unwrap();
    assert!(r.is_complete());
    let e = stored(&store, "urn:r:1").await.unwrap();
    assert_eq!((value(&e, "temp"), value(&e, "hum")), (json!(2), json!(50)));
}

/// Clause 5.6.9 with noOverwrite: new attributes are appended, existing ones kept, and the
/// entity is reported in error.
#[tokio::test]
async fn updating_without_overwrite_appends_new_attributes_and_reports_the_kept_ones() {
    let store = Arc::new(MemStore::default());
    seed(&store, vec![room("urn:r:1", 1)]).await;
    let r = broker_at(&store, t1())
        .update_entities(
            &tenant(),
            vec![(
                "urn:r:1".into(),
                update(json!({"temp": {"type": "Property", "value": 2},
                    "hum": {"type": "Property", "value": 50}})),
            )],
            false,
        )
        .await
        .unwrap();
    assert_eq!(error_kinds(&r), [("urn:r:1", ErrorKind::AlreadyExists)]);
    assert!(r.errors[0].error.detail().contains("temp"));
    let e = stored(&store, "urn:r:1").await.unwrap();
    assert_eq!((value(&e, "temp"), value(&e, "hum")), (json!(1), json!(50)));
}

#[tokio::test]
async fn updating_an_absent_entity_is_resource_not_found_and_the_others_apply() {
    let store = Arc::new(MemStore::default());
    seed(&store, vec![room("urn:r:1", 1)]).await;
    let fragment = || update(json!({"temp": {"type": "Property", "value": 5}}));
    let r = broker_at(&store, t1())
        .update_entities(
            &tenant(),
            vec![
                ("urn:r:1".into(), fragment()),
                ("urn:r:none".into(), fragment()),
            ],
            true,
        )
        .await
        .unwrap();
    assert_eq!(r.success, ["urn:r:1"]);
    assert_eq!(
        error_kinds(&r),
        [("urn:r:none", ErrorKind::ResourceNotFound)]
    );
    assert!(stored(&store, "urn:r:none").await.is_none());
}

/// Clause 5.5.11.4: the first occurrence deletes, later ones find nothing.
#[tokio::test]
async fn deleting_an_id_twice_deletes_it_and_reports_the_second_as_not_found() {
    let store = Arc::new(MemStore::default());
    seed(&store, vec![room("urn:r:1", 1), room("urn:r:2", 2)]).await;
    let r = broker_at(&store, t1())
        .delete_entities(
            &tenant(),
            vec!["urn:r:1".into(), "urn:r:1".into(), "urn:r:2".into()],
        )
        .await
        .unwrap();
    assert_eq!(r.success, ["urn:r:1", "urn:r:2"]);
    assert_eq!(error_kinds(&r), [("urn:r:1", ErrorKind::ResourceNotFound)]);
    assert!(stored(&store, "urn:r:1").await.is_none() && stored(&store, "urn:r:2").await.is_none());
}

/// Clause 5.5.11.5: merges of one entity apply in order; all get one modifiedAt.
#[tokio::test]
async fn merging_an_id_twice_applies_both_fragments_in_order() {
    let store = Arc::new(MemStore::default());
    seed(&store, vec![room("urn:r:1", 1)]).await;
    let r = broker_at(&store, t1())
        .merge_entities(
            &tenant(),
            vec![
                (
                    "urn:r:1".into(),
                    merge(json!({"temp": {"value": 2}, "a": {"type": "Property", "value": "x"}})),
                ),
                ("urn:r:1".into(), merge(json!({"temp": {"value": 3}}))),
            ],
        )
        .await
        .unwrap();
    assert!(r.is_complete());
    assert_eq!(r.success, ["urn:r:1"]);
    let e = stored(&store, "urn:r:1").await.unwrap();
    assert_eq!((value(&e, "temp"), value(&e, "a")), (json!(3), json!("x")));
    assert_eq!(e.modified_at, t1());
    assert_eq!(e.attributes["a"][0].modified_at, Some(t1()));
}

#[tokio::test]
async fn a_failing_merge_leaves_its_entity_unchanged() {
    let store = Arc::new(MemStore::default());
    seed(&store, vec![room("urn:r:1", 1)]).await;
    let r = broker_at(&store, t1())
        .merge_entities(
            &tenant(),
            vec![(
                "urn:r:1".into(),
                merge(json!({"bad": {"type": "Relationship", "object": "not a uri"}})),
            )],
        )
        .await
        .unwrap();
    assert_eq!(error_kinds(&r), [("urn:r:1", ErrorKind::BadRequestData)]);
    assert_eq!(stored(&store, "urn:r:1").await.unwrap().modified_at, t0());
}

/// Clause 5.5.10: only creations make a tenant exist; the other batches report it missing.
#[tokio::test]
async fn batches_on_an_unknown_tenant_report_nonexistent_tenant_but_creation_creates_it() {
    let store = Arc::new(MemStore::default());
    let broker = broker_at(&store, t0());
    let other = Tenant::named("other").unwrap();
    let r = broker
        .delete_entities(&other, vec!["urn:r:1".into()])
        .await
        .unwrap();
    assert_eq!(error_kinds(&r), [("urn:r:1", ErrorKind::NonexistentTenant)]);
    let r = broker
        .create_entities(&other, vec![room("urn:r:1", 1)])
        .await
        .unwrap();
    assert!(r.is_complete());
    let r = broker
        .delete_entities(&other, vec!["urn:r:1".into(), "urn:r:2".into()])
        .await
        .unwrap();
    assert_eq!(r.success, ["urn:r:1"]);
    assert_eq!(error_kinds(&r), [("urn:r:2", ErrorKind::ResourceNotFound)]);
    assert!(
        stored(&store, "urn:r:1").await.is_none(),
        "the default tenant is untouched"
    );
}

/// A concurrent write of one entity between read and commit: that entity is re-read and its
/// element applied on top of the other writer's state; the rest commits the first time.
#[tokio::test]
async fn a_concurrent_write_is_retried_for_its_entity_only() {
    let store = Arc::new(MemStore::default());
    seed(&store, vec![room("urn:r:1", 1), room("urn:r:2", 2)]).await;
    let racer = entity(json!({"id": "urn:r:1", "type": "Room",
        "temp": {"type": "Property", "value": 100}, "racer": {"type": "Property", "value": 1}}));
    store.lock().racing.push_back(racer);
    let fragment = || update(json!({"temp": {"type": "Property", "value": 5}}));
    let r = broker_at(&store, t1())
        .update_entities(
            &tenant(),
            vec![
                ("urn:r:1".into(), fragment()),
                ("urn:r:2".into(), fragment()),
            ],
            true,
        )
        .await
        .unwrap();
    assert!(r.is_complete(), "{r:?}");
    let e = stored(&store, "urn:r:1").await.unwrap();
    assert_eq!(value(&e, "temp"), json!(5));
    assert!(
        e.attributes.contains_key("racer"),
        "built on the racer's write"
    );
    assert_eq!(store.lock().commits, 1 + 2);
}

#[tokio::test]
async fn an_entity_that_always_conflicts_ends_as_conflict_and_the_others_commit() {
    let store = Arc::new(MemStore::default());
    seed(&store, vec![room("urn:r:1", 1), room("urn:r:2", 2)]).await;
    store
        .lock()
        .racing
        .extend(std::iter::repeat_with(|| room("urn:r:1", 100)).take(100));
    let r = broker_at(&store, t1())
        .delete_entities(&tenant(), vec!["urn:r:1".into(), "urn:r:2".into()])
        .await
        .unwrap();
    assert_eq!(r.success, ["urn:r:2"]);
    assert_eq!(error_kinds(&r), [("urn:r:1", ErrorKind::Conflict)]);
    assert!(stored(&store, "urn:r:1").await.is_some() && stored(&store, "urn:r:2").await.is_none());
}
