//! The storage contract as executable checks: every backend's tests run all of them.
//!
//! Each check takes a fresh store (`Arc<S>`, so checks can spawn concurrent tasks) and
//! panics with a message when the backend breaks the contract. A backend calls them one by
//! one (one test each, for readable failures) or all at once with [`run_all`]. The checks
//! use their own ids, types and tenant names, so they also pass on a store shared with
//! other checks, as long as nothing else writes the same names.
//!
//! Versions are only required to be >= 1, to increase on every write of an entity and never
//! to repeat for an id (also across delete and re-create); backends may use a store-wide
//! counter, so the kit never expects a particular number.

// A failed check is a test failure: panicking with a message is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rigel_model::{Attribute, AttributeValue, Entity, Tenant};
use serde_json::json;

use crate::{EntityStore, Expect, WriteOp, WriteOutcome};

const T_ROOM: &str = "https://example.org/ns#Room";
const T_SENSOR: &str = "https://example.org/ns#Sensor";
/// Used only by `tenants_are_isolated`, whose type lists include the default tenant.
const T_ISOLATED: &str = "https://example.org/ns#IsolationProbe";
const A_TEMP: &str = "https://example.org/ns#temperature";

/// A fixed instant, so entities compare equal after a round trip.
fn instant() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default()
}

/// A small entity with one property; public so backends can use it in their own tests.
pub fn sample_entity(id: &str, types: &[&str]) -> Entity {
    // Built through serde so that optional fields the model gains later need no change here.
    let mut entity: Entity = serde_json::from_value(json!({
        "id": id,
        "types": types,
        "created_at": instant(),
        "modified_at": instant(),
    }))
    .expect("an entity needs only an id, types and timestamps");
    entity.attributes.insert(
        A_TEMP.to_owned(),
        vec![attribute(AttributeValue::Property(json!(21.5)))],
    );
    entity
}

/// Built through serde so that optional fields the model gains later need no change here.
fn attribute(value: AttributeValue) -> Attribute {
    serde_json::from_value(json!({ "value": value })).expect("an attribute needs only a value")
}

fn named(name: &str) -> Tenant {
    Tenant::named(name).expect("valid tenant name")
}

fn put(entity: Entity, expect: Expect) -> WriteOp {
    WriteOp::Put { entity, expect }
}

fn delete(id: &str, expect: Expect) -> WriteOp {
    WriteOp::Delete {
        id: id.to_owned(),
        expect,
    }
}

/// Commits one op and returns its outcome.
async fn commit_one<S: EntityStore>(store: &S, tenant: &Tenant, op: WriteOp) -> WriteOutcome {
    let outcomes = store.commit(tenant, vec![op]).await.expect("commit");
    assert_eq!(outcomes.len(), 1, "one outcome per op");
    outcomes[0]
}

/// Creates an entity and returns its version.
async fn create<S: EntityStore>(store: &S, tenant: &Tenant, entity: Entity) -> u64 {
    match commit_one(store, tenant, put(entity, Expect::Absent)).await {
        WriteOutcome::Applied { version } => version,
        WriteOutcome::Conflict => panic!("create of a fresh id conflicted"),
    }
}

async fn version_of<S: EntityStore>(store: &S, tenant: &Tenant, id: &str) -> Option<u64> {
    store.get(tenant, id).await.expect("get").map(|v| v.version)
}

async fn all_ids_by_type<S: EntityStore>(
    store: &S,
    tenant: &Tenant,
    type_iri: &str,
) -> Vec<String> {
    store
        .ids_by_type(tenant, type_iri, None, usize::MAX)
        .await
        .expect("ids_by_type")
}

/// A created entity reads back equal, with a version of at least 1.
pub async fn create_then_get_returns_the_entity<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let entity = sample_entity("urn:ngsi-ld:Room:create-get", &[T_ROOM]);
    let version = create(&*store, &tenant, entity.clone()).await;
    assert!(version >= 1, "versions start at 1, got {version}");
    let read = store
        .get(&tenant, &entity.id)
        .await
        .expect("get")
        .expect("created entity is found");
    assert_eq!(read.version, version);
    assert_eq!(read.value, entity);
}

/// Reading an id that was never written gives `None`.
pub async fn get_of_unknown_id_returns_none<S: EntityStore>(store: Arc<S>) {
    let found = store
        .get(&Tenant::default_tenant(), "urn:ngsi-ld:Room:never-written")
        .await
        .expect("get");
    assert!(found.is_none());
}

/// Every attribute kind, sub-attributes, datasetIds and scopes survive storage unchanged.
pub async fn stored_entity_keeps_every_attribute_kind<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let mut entity = sample_entity("urn:ngsi-ld:Room:all-kinds", &[T_ROOM, T_SENSOR]);
    entity.scope = Some(vec!["/Madrid/Gardens".into()]);
    let mut with_subs = attribute(AttributeValue::Property(
        json!({"nested": [1, "two", null]}),
    ));
    with_subs.dataset_id = Some("urn:ngsi-ld:Dataset:a".into());
    with_subs.observed_at = Some("2024-01-02T03:04:05Z".into());
    with_subs.unit_code = Some("CEL".into());
    with_subs.created_at = Some(instant());
    with_subs.modified_at = Some(instant());
    with_subs.sub_attributes.insert(
        "https://example.org/ns#accuracy".into(),
        attribute(AttributeValue::Property(json!(0.1))),
    );
    let kinds = [
        AttributeValue::Relationship {
            object: json!("urn:ngsi-ld:Building:b1"),
            object_type: Some(json!("https://example.org/ns#Building")),
        },
        AttributeValue::GeoProperty(json!({"type": "Point", "coordinates": [-3.7, 40.4]})),
        AttributeValue::LanguageProperty(
            json!({"en": "room", "es": ["sala", "cuarto"]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
        AttributeValue::VocabProperty(json!("https://example.org/ns#Open")),
        AttributeValue::JsonProperty(json!({"raw": {"é": "ünïcode \u{0} nul"}})),
        AttributeValue::ListProperty(vec![json!(1), json!("a"), json!({"b": false})]),
        AttributeValue::ListRelationship {
            object_list: vec!["urn:a".into(), "urn:b".into()],
            object_type: None,
        },
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        entity.attributes.insert(
            format!("https://example.org/ns#kind{i}"),
            vec![attribute(kind)],
        );
    }
    entity.attributes.insert(
        A_TEMP.into(),
        vec![attribute(AttributeValue::Property(json!(20))), with_subs],
    );
    create(&*store, &tenant, entity.clone()).await;
    let read = store
        .get(&tenant, &entity.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(read.value, entity);
}

/// Creating an id that exists is a `Conflict` and leaves the stored entity alone.
pub async fn create_of_existing_id_conflicts<S: EntityStore>(store: Arc<S>) {
    let tenant = named("duplicate-create");
    let first = sample_entity("urn:ngsi-ld:Room:dup", &[T_ROOM]);
    let version = create(&*store, &tenant, first.clone()).await;
    let second = sample_entity("urn:ngsi-ld:Room:dup", &[T_SENSOR]);
    let outcome = commit_one(&*store, &tenant, put(second, Expect::Absent)).await;
    assert_eq!(outcome, WriteOutcome::Conflict);
    let read = store
        .get(&tenant, &first.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!((read.version, read.value), (version, first));
    assert!(all_ids_by_type(&*store, &tenant, T_SENSOR).await.is_empty());
}

/// A write expecting a version that is no longer current conflicts; the current one applies
/// and yields a higher version.
pub async fn stale_version_write_conflicts<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Room:stale";
    let v1 = create(&*store, &tenant, sample_entity(id, &[T_ROOM])).await;
    let v2 = match commit_one(
        &*store,
        &tenant,
        put(sample_entity(id, &[T_ROOM]), Expect::Version(v1)),
    )
    .await
    {
        WriteOutcome::Applied { version } => version,
        WriteOutcome::Conflict => panic!("write at the current version conflicted"),
    };
    assert!(v2 > v1, "version went from {v1} to {v2}");
    let stale = commit_one(
        &*store,
        &tenant,
        put(sample_entity(id, &[T_SENSOR]), Expect::Version(v1)),
    )
    .await;
    assert_eq!(stale, WriteOutcome::Conflict);
    let stale_delete = commit_one(&*store, &tenant, delete(id, Expect::Version(v1))).await;
    assert_eq!(stale_delete, WriteOutcome::Conflict);
    assert_eq!(version_of(&*store, &tenant, id).await, Some(v2));
}

/// A write at a version of an entity that does not exist conflicts and creates nothing.
pub async fn versioned_write_of_missing_entity_conflicts<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Room:missing";
    let outcome = commit_one(
        &*store,
        &tenant,
        put(sample_entity(id, &[T_ROOM]), Expect::Version(1)),
    )
    .await;
    assert_eq!(outcome, WriteOutcome::Conflict);
    assert_eq!(
        commit_one(&*store, &tenant, delete(id, Expect::Version(1))).await,
        WriteOutcome::Conflict
    );
    assert_eq!(version_of(&*store, &tenant, id).await, None);
}

/// `Expect::Any` creates a missing entity and replaces an existing one.
pub async fn unconditional_put_creates_or_replaces<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Room:any";
    let first = commit_one(
        &*store,
        &tenant,
        put(sample_entity(id, &[T_ROOM]), Expect::Any),
    )
    .await;
    let replaced = sample_entity(id, &[T_SENSOR]);
    let second = commit_one(&*store, &tenant, put(replaced.clone(), Expect::Any)).await;
    match (first, second) {
        (WriteOutcome::Applied { version: a }, WriteOutcome::Applied { version: b }) => {
            assert!(b > a, "version went from {a} to {b}")
        }
        other => panic!("unconditional puts must apply, got {other:?}"),
    }
    let read = store.get(&tenant, id).await.expect("get").expect("found");
    assert_eq!(read.value, replaced);
}

/// Replacing an entity with other types moves it in the type index.
pub async fn replace_updates_the_type_index<S: EntityStore>(store: Arc<S>) {
    let tenant = named("replace-types");
    let id = "urn:ngsi-ld:Thing:retyped";
    let v1 = create(&*store, &tenant, sample_entity(id, &[T_ROOM, T_SENSOR])).await;
    let outcome = commit_one(
        &*store,
        &tenant,
        put(sample_entity(id, &[T_SENSOR]), Expect::Version(v1)),
    )
    .await;
    assert!(matches!(outcome, WriteOutcome::Applied { .. }));
    assert!(all_ids_by_type(&*store, &tenant, T_ROOM).await.is_empty());
    assert_eq!(all_ids_by_type(&*store, &tenant, T_SENSOR).await, [id]);
}

/// A delete removes the entity and its type index entries, and reports version 0.
pub async fn delete_removes_entity_and_type_index_entry<S: EntityStore>(store: Arc<S>) {
    let tenant = named("delete-index");
    let id = "urn:ngsi-ld:Room:deleted";
    let keep = "urn:ngsi-ld:Room:kept";
    let version = create(&*store, &tenant, sample_entity(id, &[T_ROOM, T_SENSOR])).await;
    create(&*store, &tenant, sample_entity(keep, &[T_ROOM])).await;
    let outcome = commit_one(&*store, &tenant, delete(id, Expect::Version(version))).await;
    assert_eq!(outcome, WriteOutcome::Applied { version: 0 });
    assert!(store.get(&tenant, id).await.expect("get").is_none());
    assert_eq!(all_ids_by_type(&*store, &tenant, T_ROOM).await, [keep]);
    assert!(all_ids_by_type(&*store, &tenant, T_SENSOR).await.is_empty());
}

/// An entity deleted and created again gets a version above every version it had before,
/// so a reader holding an old version can never mistake it for the new entity.
pub async fn recreated_entity_gets_a_fresh_version<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Room:recreated";
    let v1 = create(&*store, &tenant, sample_entity(id, &[T_ROOM])).await;
    let v2 = match commit_one(
        &*store,
        &tenant,
        put(sample_entity(id, &[T_ROOM]), Expect::Version(v1)),
    )
    .await
    {
        WriteOutcome::Applied { version } => version,
        WriteOutcome::Conflict => panic!("update conflicted"),
    };
    commit_one(&*store, &tenant, delete(id, Expect::Any)).await;
    let v3 = create(&*store, &tenant, sample_entity(id, &[T_ROOM])).await;
    assert!(
        v3 > v2 && v2 > v1,
        "versions {v1}, {v2}, {v3} must increase"
    );
    let stale = commit_one(
        &*store,
        &tenant,
        put(sample_entity(id, &[T_ROOM]), Expect::Version(v1)),
    )
    .await;
    assert_eq!(stale, WriteOutcome::Conflict);
}

/// Deleting a missing entity without a version precondition is a no-op that applies.
pub async fn delete_of_missing_entity_without_precondition_is_a_no_op<S: EntityStore>(
    store: Arc<S>,
) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Room:never-there";
    for expect in [Expect::Any, Expect::Absent] {
        let outcome = commit_one(&*store, &tenant, delete(id, expect)).await;
        assert_eq!(outcome, WriteOutcome::Applied { version: 0 });
    }
    assert!(store.get(&tenant, id).await.expect("get").is_none());
}

/// The same id in two tenants (including names sharing a prefix, and the default tenant) is
/// two entities; reads, type lists and writes never cross tenants.
pub async fn tenants_are_isolated<S: EntityStore>(store: Arc<S>) {
    let id = "urn:ngsi-ld:Room:shared-id";
    let tenants = [
        Tenant::default_tenant(),
        named("iso"),
        named("iso2"),
        named("is"),
    ];
    for (i, tenant) in tenants.iter().enumerate() {
        let mut entity = sample_entity(id, &[T_ISOLATED]);
        entity.scope = Some(vec![format!("/tenant/{i}")]);
        create(&*store, tenant, entity).await;
    }
    for (i, tenant) in tenants.iter().enumerate() {
        let read = store.get(tenant, id).await.expect("get").expect("found");
        assert_eq!(
            read.value.scope,
            Some(vec![format!("/tenant/{i}")]),
            "tenant {tenant}"
        );
        assert_eq!(all_ids_by_type(&*store, tenant, T_ISOLATED).await, [id]);
    }
    let only_iso = named("iso");
    commit_one(&*store, &only_iso, delete(id, Expect::Any)).await;
    assert!(store.get(&only_iso, id).await.expect("get").is_none());
    assert!(store.get(&named("iso2"), id).await.expect("get").is_some());
    assert!(store
        .get(&Tenant::default_tenant(), id)
        .await
        .expect("get")
        .is_some());
    assert!(store
        .get(&named("isolated-other"), id)
        .await
        .expect("get")
        .is_none());
}

/// The default tenant exists even in an empty store.
pub async fn default_tenant_always_exists<S: EntityStore>(store: Arc<S>) {
    assert!(store
        .tenant_exists(&Tenant::default_tenant())
        .await
        .expect("tenant_exists"));
}

/// A named tenant nobody wrote to does not exist, and reading from it does not create it.
pub async fn unknown_named_tenant_does_not_exist<S: EntityStore>(store: Arc<S>) {
    let tenant = named("never-written-tenant");
    assert!(store.get(&tenant, "urn:x").await.expect("get").is_none());
    assert!(all_ids_by_type(&*store, &tenant, T_ROOM).await.is_empty());
    assert!(!store.tenant_exists(&tenant).await.expect("tenant_exists"));
}

/// A named tenant exists from its first applied write on, even once all its entities are
/// deleted; a write that only conflicted does not create it.
pub async fn tenant_exists_after_first_write<S: EntityStore>(store: Arc<S>) {
    let tenant = named("first-write-tenant");
    let conflicted = commit_one(
        &*store,
        &tenant,
        put(sample_entity("urn:a", &[T_ROOM]), Expect::Version(7)),
    )
    .await;
    assert_eq!(conflicted, WriteOutcome::Conflict);
    assert!(!store.tenant_exists(&tenant).await.expect("tenant_exists"));
    create(&*store, &tenant, sample_entity("urn:a", &[T_ROOM])).await;
    assert!(store.tenant_exists(&tenant).await.expect("tenant_exists"));
    commit_one(&*store, &tenant, delete("urn:a", Expect::Any)).await;
    assert!(store.tenant_exists(&tenant).await.expect("tenant_exists"));
    assert!(!store
        .tenant_exists(&named("first-write-tenan"))
        .await
        .expect("tenant_exists"));
}

/// `ids_by_type` returns ids in id order, resumes strictly after `after`, stops at `limit`.
pub async fn ids_by_type_pages_in_id_order<S: EntityStore>(store: Arc<S>) {
    let tenant = named("paging");
    // Created out of order; ids chosen so that byte order differs from creation order.
    let mut expected: Vec<String> = (0..25)
        .map(|i| format!("urn:ngsi-ld:Room:{:02}", (i * 7) % 25))
        .collect();
    let ops = expected
        .iter()
        .map(|id| put(sample_entity(id, &[T_ROOM]), Expect::Absent))
        .collect();
    let outcomes = store.commit(&tenant, ops).await.expect("commit");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, WriteOutcome::Applied { .. })));
    create(
        &*store,
        &tenant,
        sample_entity("urn:ngsi-ld:Sensor:x", &[T_SENSOR]),
    )
    .await;
    expected.sort();

    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .ids_by_type(&tenant, T_ROOM, after.as_deref(), 10)
            .await
            .expect("ids_by_type");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        after = page.last().cloned();
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    assert_eq!(pages.concat(), expected);
    let after_missing = store
        .ids_by_type(&tenant, T_ROOM, Some("urn:ngsi-ld:Room:105"), 2)
        .await
        .expect("ids_by_type");
    assert_eq!(
        after_missing,
        ["urn:ngsi-ld:Room:11", "urn:ngsi-ld:Room:12"]
    );
    assert!(store
        .ids_by_type(&tenant, T_ROOM, None, 0)
        .await
        .expect("ids_by_type")
        .is_empty());
}

/// An entity with several types is listed under each; types sharing a prefix don't mix.
pub async fn ids_by_type_lists_each_type_separately<S: EntityStore>(store: Arc<S>) {
    let tenant = named("multi-type");
    let room_ext = format!("{T_ROOM}Extra");
    create(
        &*store,
        &tenant,
        sample_entity("urn:both", &[T_ROOM, T_SENSOR]),
    )
    .await;
    create(&*store, &tenant, sample_entity("urn:extra", &[&room_ext])).await;
    assert_eq!(
        all_ids_by_type(&*store, &tenant, T_ROOM).await,
        ["urn:both"]
    );
    assert_eq!(
        all_ids_by_type(&*store, &tenant, T_SENSOR).await,
        ["urn:both"]
    );
    assert_eq!(
        all_ids_by_type(&*store, &tenant, &room_ext).await,
        ["urn:extra"]
    );
    assert!(
        all_ids_by_type(&*store, &tenant, "https://example.org/ns#Roo")
            .await
            .is_empty()
    );
}

/// Ops of one commit apply in order, each seeing the ones before it, each checked alone.
pub async fn ops_in_one_commit_apply_in_order<S: EntityStore>(store: Arc<S>) {
    let tenant = named("ordered-ops");
    let id = "urn:ngsi-ld:Room:ordered";
    let ops = vec![
        put(sample_entity(id, &[T_ROOM]), Expect::Absent),
        put(sample_entity(id, &[T_ROOM]), Expect::Absent),
        delete(id, Expect::Any),
        delete(id, Expect::Version(1)),
        put(sample_entity(id, &[T_SENSOR]), Expect::Absent),
        put(sample_entity(id, &[T_SENSOR, T_ROOM]), Expect::Any),
    ];
    let outcomes = store.commit(&tenant, ops).await.expect("commit");
    let [WriteOutcome::Applied { version: v1 }, WriteOutcome::Conflict, WriteOutcome::Applied { version: 0 }, WriteOutcome::Conflict, WriteOutcome::Applied { version: v2 }, WriteOutcome::Applied { version: v3 }] =
        outcomes[..]
    else {
        panic!("unexpected outcomes {outcomes:?}");
    };
    assert!(
        v1 < v2 && v2 < v3,
        "versions {v1}, {v2}, {v3} must increase"
    );
    assert_eq!(version_of(&*store, &tenant, id).await, Some(v3));
    assert_eq!(all_ids_by_type(&*store, &tenant, T_ROOM).await, [id]);
}

/// A conflicting op leaves the other ops of its commit applied.
pub async fn conflict_in_a_commit_does_not_undo_other_ops<S: EntityStore>(store: Arc<S>) {
    let tenant = named("partial-commit");
    create(&*store, &tenant, sample_entity("urn:exists", &[T_ROOM])).await;
    let ops = vec![
        put(sample_entity("urn:new-1", &[T_ROOM]), Expect::Absent),
        put(sample_entity("urn:exists", &[T_ROOM]), Expect::Absent),
        put(sample_entity("urn:new-2", &[T_ROOM]), Expect::Absent),
    ];
    let outcomes = store.commit(&tenant, ops).await.expect("commit");
    assert!(matches!(
        outcomes[..],
        [
            WriteOutcome::Applied { .. },
            WriteOutcome::Conflict,
            WriteOutcome::Applied { .. }
        ]
    ));
    assert_eq!(
        all_ids_by_type(&*store, &tenant, T_ROOM).await,
        ["urn:exists", "urn:new-1", "urn:new-2"]
    );
}

/// An empty commit succeeds with no outcomes.
pub async fn empty_commit_returns_no_outcomes<S: EntityStore>(store: Arc<S>) {
    let outcomes = store
        .commit(&named("empty-commit"), Vec::new())
        .await
        .expect("commit");
    assert!(outcomes.is_empty());
}

/// 200 concurrent commits of distinct entities all apply, each with a distinct version.
pub async fn concurrent_commits_all_apply<S: EntityStore>(store: Arc<S>) {
    let tenant = named("concurrent");
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            let tenant = tenant.clone();
            tokio::spawn(async move {
                let id = format!("urn:ngsi-ld:Room:c{i:03}");
                let outcome = commit_one(
                    &*store,
                    &tenant,
                    put(sample_entity(&id, &[T_ROOM]), Expect::Absent),
                )
                .await;
                (id, outcome)
            })
        })
        .collect();
    let mut versions = BTreeSet::new();
    for task in tasks {
        let (id, outcome) = task.await.expect("task");
        let WriteOutcome::Applied { version } = outcome else {
            panic!("concurrent create of {id} conflicted");
        };
        assert!(
            versions.insert(version),
            "version {version} handed out twice"
        );
        assert_eq!(version_of(&*store, &tenant, &id).await, Some(version));
    }
    assert_eq!(all_ids_by_type(&*store, &tenant, T_ROOM).await.len(), 200);
}

/// Of 50 concurrent creates of one id exactly one applies; of concurrent updates expecting
/// the same version exactly one applies.
pub async fn concurrent_writes_to_one_entity_let_exactly_one_win<S: EntityStore>(store: Arc<S>) {
    let tenant = named("race");
    let id = "urn:ngsi-ld:Room:raced";
    let race = |expect: Expect| {
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = Arc::clone(&store);
                let tenant = tenant.clone();
                tokio::spawn(async move {
                    commit_one(&*store, &tenant, put(sample_entity(id, &[T_ROOM]), expect)).await
                })
            })
            .collect();
        async move {
            let mut applied = Vec::new();
            for task in tasks {
                if let WriteOutcome::Applied { version } = task.await.expect("task") {
                    applied.push(version);
                }
            }
            applied
        }
    };
    let created = race(Expect::Absent).await;
    assert_eq!(created.len(), 1, "creates applied: {created:?}");
    let updated = race(Expect::Version(created[0])).await;
    assert_eq!(updated.len(), 1, "updates applied: {updated:?}");
    assert_eq!(version_of(&*store, &tenant, id).await, Some(updated[0]));
}

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(mut make: F)
where
    S: EntityStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<S>>,
{
    create_then_get_returns_the_entity(make().await).await;
    get_of_unknown_id_returns_none(make().await).await;
    stored_entity_keeps_every_attribute_kind(make().await).await;
    create_of_existing_id_conflicts(make().await).await;
    stale_version_write_conflicts(make().await).await;
    versioned_write_of_missing_entity_conflicts(make().await).await;
    unconditional_put_creates_or_replaces(make().await).await;
    replace_updates_the_type_index(make().await).await;
    delete_removes_entity_and_type_index_entry(make().await).await;
    recreated_entity_gets_a_fresh_version(make().await).await;
    delete_of_missing_entity_without_precondition_is_a_no_op(make().await).await;
    tenants_are_isolated(make().await).await;
    default_tenant_always_exists(make().await).await;
    unknown_named_tenant_does_not_exist(make().await).await;
    tenant_exists_after_first_write(make().await).await;
    ids_by_type_pages_in_id_order(make().await).await;
    ids_by_type_lists_each_type_separately(make().await).await;
    ops_in_one_commit_apply_in_order(make().await).await;
    conflict_in_a_commit_does_not_undo_other_ops(make().await).await;
    empty_commit_returns_no_outcomes(make().await).await;
    concurrent_commits_all_apply(make().await).await;
    concurrent_writes_to_one_entity_let_exactly_one_win(make().await).await;
}
