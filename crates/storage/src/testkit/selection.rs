//! Contract checks: selections (every source, the filter, paging and counting), batched
//! reads and the listing of types in use.

use super::*;
use crate::{EntityFilter, Selection, Source};

fn keep_all() -> EntityFilter {
    Arc::new(|_| true)
}

fn selection(source: Source, filter: EntityFilter, offset: usize, limit: usize) -> Selection {
    Selection {
        source,
        filter,
        after: None,
        offset,
        limit,
        count: false,
    }
}

async fn ids_of<S: EntityStore>(store: &S, tenant: &Tenant, selection: Selection) -> Vec<String> {
    store
        .select(tenant, selection)
        .await
        .expect("select")
        .entities
        .into_iter()
        .map(|v| v.value.id.clone())
        .collect()
}

/// Creates the entities in one commit.
async fn seed<S: EntityStore>(store: &S, tenant: &Tenant, entities: Vec<Entity>) {
    let ops = entities
        .into_iter()
        .map(|e| put(e, Expect::Absent))
        .collect();
    let outcomes = store.commit(tenant, ops).await.expect("commit");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, WriteOutcome::Applied { .. })));
}

/// Selecting a whole tenant pages through its entities in id order, and only its own.
pub async fn selecting_a_tenant_pages_in_id_order<S: EntityStore>(store: Arc<S>) {
    let tenant = named("select-all");
    let ids: Vec<String> = (0..30)
        .map(|i| format!("urn:ngsi-ld:Room:{:02}", (i * 7) % 30))
        .collect();
    seed(
        &*store,
        &tenant,
        ids.iter().map(|id| sample_entity(id, &[T_ROOM])).collect(),
    )
    .await;
    create(
        &*store,
        &named("select-all-other"),
        sample_entity("urn:x:other", &[T_ROOM]),
    )
    .await;
    let mut expected = ids.clone();
    expected.sort();

    let first = ids_of(&*store, &tenant, selection(Source::All, keep_all(), 0, 10)).await;
    let third = ids_of(&*store, &tenant, selection(Source::All, keep_all(), 20, 10)).await;
    let past_end = ids_of(&*store, &tenant, selection(Source::All, keep_all(), 30, 10)).await;
    assert_eq!(first, expected[..10]);
    assert_eq!(third, expected[20..]);
    assert!(past_end.is_empty());
}

/// `after` resumes strictly past an id, for every source.
pub async fn selecting_after_an_id_resumes_past_it<S: EntityStore>(store: Arc<S>) {
    let tenant = named("select-after");
    seed(
        &*store,
        &tenant,
        ["urn:a:1", "urn:a:2", "urn:a:3", "urn:b:1"]
            .iter()
            .map(|id| sample_entity(id, &[T_ROOM]))
            .collect(),
    )
    .await;
    let sources = [
        (Source::All, vec!["urn:a:3", "urn:b:1"]),
        (Source::IdPrefix("urn:a:".into()), vec!["urn:a:3"]),
        (
            Source::Types(vec![T_ROOM.into(), T_SENSOR.into()]),
            vec!["urn:a:3", "urn:b:1"],
        ),
        (
            Source::Ids(vec!["urn:b:1".into(), "urn:a:1".into(), "urn:a:3".into()]),
            vec!["urn:a:3", "urn:b:1"],
        ),
    ];
    for (source, expected) in sources {
        let mut query = selection(source.clone(), keep_all(), 0, 10);
        query.after = Some("urn:a:2".into());
        assert_eq!(
            ids_of(&*store, &tenant, query).await,
            expected,
            "{source:?}"
        );
    }
    // A resume point before the prefix starts at the prefix.
    let mut query = selection(Source::IdPrefix("urn:b:".into()), keep_all(), 0, 10);
    query.after = Some("urn:a:9".into());
    assert_eq!(ids_of(&*store, &tenant, query).await, ["urn:b:1"]);
}

/// The filter decides what is selected; with `count` the total covers every match, not
/// only the page.
pub async fn the_filter_selects_and_count_counts_every_match<S: EntityStore>(store: Arc<S>) {
    let tenant = named("select-filter");
    seed(
        &*store,
        &tenant,
        (0..20)
            .map(|i| sample_entity(&format!("urn:ngsi-ld:Room:{i:02}"), &[T_ROOM]))
            .collect(),
    )
    .await;
    let even: EntityFilter = Arc::new(|e: &Entity| {
        e.id.ends_with('0')
            || e.id.ends_with('2')
            || e.id.ends_with('4')
            || e.id.ends_with('6')
            || e.id.ends_with('8')
    });
    let mut query = selection(Source::Types(vec![T_ROOM.into()]), even, 2, 3);
    query.count = true;
    let selected = store.select(&tenant, query).await.expect("select");
    let ids: Vec<_> = selected
        .entities
        .iter()
        .map(|v| v.value.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "urn:ngsi-ld:Room:04",
            "urn:ngsi-ld:Room:06",
            "urn:ngsi-ld:Room:08"
        ]
    );
    assert_eq!(selected.total, Some(10));

    let none: EntityFilter = Arc::new(|_| false);
    let mut query = selection(Source::All, none, 0, 0);
    query.count = true;
    let selected = store.select(&tenant, query).await.expect("select");
    assert!(selected.entities.is_empty());
    assert_eq!(selected.total, Some(0));
}

/// Selecting by several types merges them in id order, each entity once.
pub async fn selecting_by_types_merges_them_without_duplicates<S: EntityStore>(store: Arc<S>) {
    let tenant = named("select-types");
    seed(
        &*store,
        &tenant,
        vec![
            sample_entity("urn:x:c", &[T_ROOM, T_SENSOR]),
            sample_entity("urn:x:a", &[T_SENSOR]),
            sample_entity("urn:x:b", &[T_ROOM]),
            sample_entity("urn:x:d", &[T_ISOLATED]),
        ],
    )
    .await;
    let both = Source::Types(vec![T_ROOM.into(), T_SENSOR.into()]);
    assert_eq!(
        ids_of(&*store, &tenant, selection(both, keep_all(), 0, 100)).await,
        ["urn:x:a", "urn:x:b", "urn:x:c"]
    );
    let unknown = Source::Types(vec!["https://example.org/ns#Unknown".into()]);
    assert!(
        ids_of(&*store, &tenant, selection(unknown, keep_all(), 0, 100))
            .await
            .is_empty()
    );
}

/// An id prefix selects exactly the ids that start with it.
pub async fn selecting_by_id_prefix_keeps_only_prefixed_ids<S: EntityStore>(store: Arc<S>) {
    let tenant = named("select-prefix");
    seed(
        &*store,
        &tenant,
        ["urn:a:1", "urn:a:2", "urn:a", "urn:ab:1", "urn:b:1"]
            .iter()
            .map(|id| sample_entity(id, &[T_ROOM]))
            .collect(),
    )
    .await;
    let source = Source::IdPrefix("urn:a:".into());
    assert_eq!(
        ids_of(&*store, &tenant, selection(source, keep_all(), 0, 100)).await,
        ["urn:a:1", "urn:a:2"]
    );
}

/// Selecting by ids skips absent ones and returns each match once, in id order.
pub async fn selecting_by_ids_skips_absent_ones<S: EntityStore>(store: Arc<S>) {
    let tenant = named("select-ids");
    seed(
        &*store,
        &tenant,
        vec![
            sample_entity("urn:x:2", &[T_ROOM]),
            sample_entity("urn:x:1", &[T_ROOM]),
        ],
    )
    .await;
    let source = Source::Ids(vec![
        "urn:x:2".into(),
        "urn:x:missing".into(),
        "urn:x:1".into(),
        "urn:x:2".into(),
    ]);
    assert_eq!(
        ids_of(&*store, &tenant, selection(source, keep_all(), 0, 100)).await,
        ["urn:x:1", "urn:x:2"]
    );
}

/// `get_many` answers each requested id in request order, `None` for absent ones.
pub async fn get_many_answers_in_request_order<S: EntityStore>(store: Arc<S>) {
    let tenant = named("get-many");
    seed(
        &*store,
        &tenant,
        vec![
            sample_entity("urn:x:1", &[T_ROOM]),
            sample_entity("urn:x:2", &[T_ROOM]),
        ],
    )
    .await;
    let ids = [
        "urn:x:2".to_owned(),
        "urn:x:0".to_owned(),
        "urn:x:1".to_owned(),
    ];
    let found: Vec<Option<String>> = store
        .get_many(&tenant, &ids)
        .await
        .expect("get_many")
        .into_iter()
        .map(|v| v.map(|v| v.value.id))
        .collect();
    assert_eq!(
        found,
        [Some("urn:x:2".to_owned()), None, Some("urn:x:1".to_owned())]
    );
}

/// The types in use are listed once each, per tenant, and vanish with their last entity.
pub async fn types_in_use_are_listed_once_per_tenant<S: EntityStore>(store: Arc<S>) {
    let tenant = named("types-in-use");
    seed(
        &*store,
        &tenant,
        vec![
            sample_entity("urn:x:1", &[T_SENSOR, T_ROOM]),
            sample_entity("urn:x:2", &[T_ROOM]),
            sample_entity("urn:x:3", &[T_ISOLATED]),
        ],
    )
    .await;
    create(
        &*store,
        &named("types-in-use-other"),
        sample_entity("urn:x:9", &[A_TEMP]),
    )
    .await;
    let mut expected = vec![
        T_ROOM.to_owned(),
        T_SENSOR.to_owned(),
        T_ISOLATED.to_owned(),
    ];
    expected.sort();
    assert_eq!(store.types_in_use(&tenant).await.expect("types"), expected);

    commit_one(&*store, &tenant, delete("urn:x:3", Expect::Any)).await;
    expected.retain(|t| t != T_ISOLATED);
    assert_eq!(store.types_in_use(&tenant).await.expect("types"), expected);
    assert!(store
        .types_in_use(&named("types-in-use-none"))
        .await
        .expect("types")
        .is_empty());
}
