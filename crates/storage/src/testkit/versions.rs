//! Contract checks: reads, expectations (Absent / Version / Any) and versions.

use super::*;

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
