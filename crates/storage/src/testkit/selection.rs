//! Contract checks: selections (every selector kind, q, paging and counting), batched
//! reads and the listing of types in use.

use super::*;
use crate::Selection;
use std::borrow::Cow;

use rigel_model::TermMap;
use rigel_query::{EntityQuery, EntitySelector, IdPattern, QExpr, QOptions, TypeExpr};

/// The kit's @context: `ex:name` is `https://example.org/ns#name`.
pub(crate) struct KitTerms;

const EX: &str = "https://example.org/ns#";

impl TermMap for KitTerms {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        match term.strip_prefix("ex:") {
            Some(name) => Cow::Owned(format!("{EX}{name}")),
            None => Cow::Borrowed(term),
        }
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        match iri.strip_prefix(EX) {
            Some(name) => Cow::Owned(format!("ex:{name}")),
            None => Cow::Borrowed(iri),
        }
    }
}

/// The kit's compact name of a full IRI.
pub(crate) fn short(iri: &str) -> String {
    KitTerms.compact(iri).into_owned()
}

/// A query with one selector.
fn selecting(selector: EntitySelector) -> EntityQuery {
    EntityQuery {
        selectors: vec![selector],
        ..EntityQuery::default()
    }
}

/// Entities having one of these types.
pub(crate) fn of_types(types: &[&str]) -> EntityQuery {
    let text: Vec<String> = types.iter().map(|t| short(t)).collect();
    selecting(EntitySelector {
        types: Some(TypeExpr::parse(&text.join(","), &KitTerms).expect("type selection")),
        ..EntitySelector::default()
    })
}

/// Entities whose id matches the pattern.
fn id_pattern(pattern: &str) -> EntityQuery {
    selecting(EntitySelector {
        id_pattern: Some(IdPattern::parse(pattern).expect("id pattern")),
        ..EntitySelector::default()
    })
}

/// Entities with these ids.
fn ids(ids: &[&str]) -> EntityQuery {
    selecting(EntitySelector {
        ids: Some(ids.iter().map(|s| (*s).to_owned()).collect()),
        ..EntitySelector::default()
    })
}

/// A q expression in the kit's terms.
pub(crate) fn q(text: &str) -> QExpr {
    QExpr::parse(text, &KitTerms, &QOptions::default()).expect("q")
}

fn selection(query: EntityQuery, offset: usize, limit: usize) -> Selection {
    let mut selection = Selection::new(Arc::new(query), limit);
    selection.offset = offset;
    selection
}

pub(crate) async fn ids_of<S: EntityStore>(
    store: &S,
    tenant: &Tenant,
    selection: Selection,
) -> Vec<String> {
    ids_and_total(store, tenant, selection).await.0
}

/// The ids a selection answers, in order, and its count when it asked for one.
pub(crate) async fn ids_and_total<S: EntityStore>(
    store: &S,
    tenant: &Tenant,
    selection: Selection,
) -> (Vec<String>, Option<usize>) {
    let selected = store.select(tenant, selection).await.expect("select");
    let ids = selected
        .entities
        .into_iter()
        .map(|v| v.value.id.clone())
        .collect();
    (ids, selected.total)
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

    let first = ids_of(&*store, &tenant, selection(EntityQuery::default(), 0, 10)).await;
    let third = ids_of(&*store, &tenant, selection(EntityQuery::default(), 20, 10)).await;
    let past_end = ids_of(&*store, &tenant, selection(EntityQuery::default(), 30, 10)).await;
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
    let queries = [
        (EntityQuery::default(), vec!["urn:a:3", "urn:b:1"]),
        (id_pattern("urn:a:.*"), vec!["urn:a:3"]),
        (of_types(&[T_ROOM, T_SENSOR]), vec!["urn:a:3", "urn:b:1"]),
        (
            ids(&["urn:b:1", "urn:a:1", "urn:a:3"]),
            vec!["urn:a:3", "urn:b:1"],
        ),
    ];
    for (query, expected) in queries {
        let described = format!("{query:?}");
        let mut query = selection(query, 0, 10);
        query.after = Some("urn:a:2".into());
        assert_eq!(
            ids_of(&*store, &tenant, query).await,
            expected,
            "{described}"
        );
    }
    // A resume point before the prefix starts at the prefix.
    let mut query = selection(id_pattern("urn:b:.*"), 0, 10);
    query.after = Some("urn:a:9".into());
    assert_eq!(ids_of(&*store, &tenant, query).await, ["urn:b:1"]);
}

/// The query decides what is selected; with `count` the total covers every match, not
/// only the page.
pub async fn the_query_selects_and_count_counts_every_match<S: EntityStore>(store: Arc<S>) {
    let tenant = named("select-filter");
    seed(
        &*store,
        &tenant,
        (0..20)
            .map(|i| {
                let mut room = sample_entity(&format!("urn:ngsi-ld:Room:{i:02}"), &[T_ROOM]);
                set_temperature(&mut room, f64::from(i % 2));
                room
            })
            .collect(),
    )
    .await;
    let mut even = of_types(&[T_ROOM]);
    even.q = Some(q(&format!("{}==0", short(A_TEMP))));
    let mut query = selection(even, 2, 3);
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

    let none = EntityQuery {
        q: Some(q(&format!("{}==7", short(A_TEMP)))),
        ..EntityQuery::default()
    };
    let mut query = selection(none, 0, 0);
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
    let both = of_types(&[T_ROOM, T_SENSOR]);
    assert_eq!(
        ids_of(&*store, &tenant, selection(both, 0, 100)).await,
        ["urn:x:a", "urn:x:b", "urn:x:c"]
    );
    let unknown = of_types(&["https://example.org/ns#Unknown"]);
    assert!(ids_of(&*store, &tenant, selection(unknown, 0, 100))
        .await
        .is_empty());
}

/// The count of a selection by types alone counts each entity once, after `after` as its
/// page does, with or without a page, and ignores entities of other types.
pub async fn counting_by_types_alone_counts_each_entity_once<S: EntityStore>(store: Arc<S>) {
    let tenant = named("count-types");
    seed(
        &*store,
        &tenant,
        vec![
            sample_entity("urn:x:c", &[T_ROOM, T_SENSOR]),
            sample_entity("urn:x:a", &[T_SENSOR]),
            sample_entity("urn:x:b", &[T_ROOM]),
            sample_entity("urn:x:e", &[T_ROOM, T_SENSOR]),
            sample_entity("urn:x:d", &[T_ISOLATED]),
        ],
    )
    .await;
    let counted = |query: EntityQuery, after: Option<&str>, limit: usize| {
        let selection = Selection {
            count: true,
            after: after.map(str::to_owned),
            ..Selection::new(Arc::new(query), limit)
        };
        let (store, tenant) = (Arc::clone(&store), tenant.clone());
        async move {
            let (ids, total) = ids_and_total(&*store, &tenant, selection).await;
            (total, ids)
        }
    };
    let both = || of_types(&[T_ROOM, T_SENSOR]);
    assert_eq!(counted(both(), None, 0).await, (Some(4), vec![]));
    assert_eq!(
        counted(both(), None, 2).await,
        (Some(4), vec!["urn:x:a".to_owned(), "urn:x:b".to_owned()])
    );
    assert_eq!(
        counted(both(), Some("urn:x:b"), 1).await,
        (Some(2), vec!["urn:x:c".to_owned()])
    );
    assert_eq!(
        counted(of_types(&[T_ROOM]), None, 0).await,
        (Some(3), vec![])
    );
    let unknown = of_types(&["https://example.org/ns#Unknown"]);
    assert_eq!(counted(unknown, None, 10).await, (Some(0), vec![]));
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
    assert_eq!(
        ids_of(&*store, &tenant, selection(id_pattern("urn:a:.*"), 0, 100)).await,
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
    let source = ids(&["urn:x:2", "urn:x:missing", "urn:x:1", "urn:x:2"]);
    assert_eq!(
        ids_of(&*store, &tenant, selection(source, 0, 100)).await,
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

/// With an order, the page is taken from every match sorted by it (ties in id order).
pub async fn an_ordered_selection_sorts_every_match_then_pages<S: EntityStore>(store: Arc<S>) {
    let tenant = named("select-ordered");
    let temperatures = [3.0, 1.0, 2.0, 1.0, 5.0, 4.0];
    seed(
        &*store,
        &tenant,
        temperatures
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut room = sample_entity(&format!("urn:x:{i}"), &[T_ROOM]);
                set_temperature(&mut room, *t);
                room
            })
            .collect(),
    )
    .await;
    let mut query = of_types(&[T_ROOM]);
    query.q = Some(q(&format!("{}<5", short(A_TEMP))));
    let order = rigel_query::OrderBy::parse(&format!("{};desc", short(A_TEMP)), &KitTerms)
        .expect("orderBy");
    let mut ordered = selection(query, 1, 3);
    ordered.order = Some(Arc::new(order));
    ordered.count = true;
    let selected = store.select(&tenant, ordered).await.expect("select");
    let ids: Vec<_> = selected
        .entities
        .iter()
        .map(|v| v.value.id.as_str())
        .collect();
    assert_eq!(ids, ["urn:x:0", "urn:x:2", "urn:x:1"]);
    assert_eq!(selected.total, Some(5));
}

/// A selection whose page would hold more than `max_bytes` of entities (by their
/// footprint) fails with `TooLarge`; a page within it, and a count that holds nothing, are
/// answered.
pub async fn a_page_beyond_max_bytes_is_refused<S: EntityStore>(store: Arc<S>) {
    let tenant = named("select-max-bytes");
    let rooms: Vec<Entity> = (0..10)
        .map(|i| sample_entity(&format!("urn:x:{i:02}"), &[T_ROOM]))
        .collect();
    let each = rooms[0].footprint();
    seed(&*store, &tenant, rooms).await;
    let bounded = |limit: usize, count: bool| Selection {
        max_bytes: Some(each * 5 + each / 2),
        count,
        ..Selection::new(Arc::new(of_types(&[T_ROOM])), limit)
    };
    let refused = store.select(&tenant, bounded(10, false)).await;
    assert!(
        matches!(refused, Err(crate::StorageError::TooLarge(_))),
        "{refused:?}"
    );
    let page = ids_of(&*store, &tenant, bounded(5, false)).await;
    assert_eq!(page.len(), 5);
    let (ids, total) = ids_and_total(&*store, &tenant, bounded(0, true)).await;
    assert_eq!((ids.len(), total), (0, Some(10)));
}

/// A visit calls the visitor once per selected entity, in id order, and counts them.
pub async fn visiting_sees_every_selected_entity_once<S: EntityStore>(store: Arc<S>) {
    let tenant = named("visit");
    seed(
        &*store,
        &tenant,
        vec![
            sample_entity("urn:x:b", &[T_ROOM, T_SENSOR]),
            sample_entity("urn:x:a", &[T_SENSOR]),
            sample_entity("urn:x:c", &[T_ISOLATED]),
        ],
    )
    .await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let visitor = {
        let seen = Arc::clone(&seen);
        Box::new(move |e: &Entity| seen.lock().expect("lock").push(e.id.clone()))
    };
    let visited = store
        .visit(&tenant, Arc::new(of_types(&[T_ROOM, T_SENSOR])), visitor)
        .await
        .expect("visit");
    assert_eq!(visited, 2);
    assert_eq!(*seen.lock().expect("lock"), ["urn:x:a", "urn:x:b"]);
}
