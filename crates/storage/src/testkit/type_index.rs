//! Contract checks: the type index, kept in step with puts and deletes, and its paging.

use super::*;

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
