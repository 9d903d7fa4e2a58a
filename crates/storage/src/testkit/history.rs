//! Contract checks: the attribute history (append in the commit, time-range and lastN reads,
//! instance edits and deletes, forgetting, tenant isolation).

use super::*;
use crate::{
    DatasetSelector, HistoryChange, HistoryHeader, HistoryQuery, NewInstance, TimeProperty,
    TimeRange,
};

const T_VEHICLE: &str = "https://example.org/ns#Vehicle";
const A_SPEED: &str = "https://example.org/ns#speed";
const A_FUEL: &str = "https://example.org/ns#fuel";

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_600_000_000 + minute * 60, 0).unwrap()
}

fn header(id: &str) -> HistoryHeader {
    HistoryHeader {
        id: id.to_owned(),
        types: vec![T_VEHICLE.to_owned()],
        scope: None,
        created_at: at(0),
        modified_at: at(0),
        deleted_at: None,
    }
}

/// An instance of `attribute` with `value` observed at minute `minute`.
fn observed(attribute: &str, value: i64, minute: i64, dataset: Option<&str>) -> NewInstance {
    let mut a = attribute_of(AttributeValue::Property(json!(value)));
    a.observed_at = Some(at(minute).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    a.dataset_id = dataset.map(str::to_owned);
    NewInstance {
        attribute: attribute.to_owned(),
        value: a,
        deleted_at: None,
    }
}

fn attribute_of(value: AttributeValue) -> Attribute {
    attribute(value)
}

fn record(change: HistoryChange, with_previous: bool) -> WriteOp {
    WriteOp::Record {
        change,
        with_previous,
    }
}

fn append(id: &str, instances: Vec<NewInstance>) -> WriteOp {
    record(
        HistoryChange::Append {
            header: header(id),
            instances,
        },
        false,
    )
}

fn values(history: &crate::EntityHistory, attribute: &str) -> Vec<i64> {
    history
        .attributes
        .get(attribute)
        .map(|all| {
            all.iter()
                .filter_map(|i| match &i.value.value {
                    AttributeValue::Property(v) => v.as_i64(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn read<S: EntityStore>(
    store: &S,
    tenant: &Tenant,
    id: &str,
    q: &HistoryQuery,
) -> crate::EntityHistory {
    store
        .history(tenant, id, q)
        .await
        .expect("history")
        .expect("the entity has a history")
}

/// Instances appended out of time order read back in observedAt order, per attribute; a
/// time range keeps `from` and drops `to`; lastN keeps the latest.
pub async fn history_reads_by_time_range_and_last_n<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Vehicle:history-range";
    let instances = vec![
        observed(A_SPEED, 30, 30, None),
        observed(A_SPEED, 10, 10, None),
        observed(A_SPEED, 20, 20, None),
        observed(A_FUEL, 5, 15, None),
    ];
    assert_eq!(
        commit_one(&*store, &tenant, append(id, instances)).await,
        WriteOutcome::Applied { version: 0 }
    );
    let all = read(&*store, &tenant, id, &HistoryQuery::default()).await;
    assert_eq!(values(&all, A_SPEED), [10, 20, 30]);
    assert_eq!(values(&all, A_FUEL), [5]);
    assert_eq!(all.header.types, [T_VEHICLE]);
    let between = HistoryQuery {
        range: TimeRange {
            from: Some(at(10)),
            to: Some(at(30)),
        },
        ..HistoryQuery::default()
    };
    let read_between = read(&*store, &tenant, id, &between).await;
    assert_eq!(
        values(&read_between, A_SPEED),
        [10, 20],
        "from inclusive, to exclusive"
    );
    let last = HistoryQuery {
        last_n: Some(2),
        attrs: Some(vec![A_SPEED.to_owned()]),
        ..HistoryQuery::default()
    };
    let read_last = read(&*store, &tenant, id, &last).await;
    assert_eq!(values(&read_last, A_SPEED), [20, 30]);
    assert!(
        !read_last.attributes.contains_key(A_FUEL),
        "attrs narrows the read"
    );
    let first = HistoryQuery {
        first_n: Some(2),
        ..HistoryQuery::default()
    };
    let read_first = read(&*store, &tenant, id, &first).await;
    assert_eq!(
        values(&read_first, A_SPEED),
        [10, 20],
        "first_n pages forwards"
    );
    let default_only = HistoryQuery {
        datasets: Some(vec![None]),
        ..HistoryQuery::default()
    };
    let read_default = read(&*store, &tenant, id, &default_only).await;
    assert_eq!(values(&read_default, A_SPEED), [10, 20, 30]);
    let other_dataset = HistoryQuery {
        datasets: Some(vec![Some("urn:ngsi-ld:Dataset:none".to_owned())]),
        ..HistoryQuery::default()
    };
    let read_other = read(&*store, &tenant, id, &other_dataset).await;
    assert!(
        read_other.attributes.is_empty(),
        "datasets narrows the read to the instances of those datasets"
    );
    let by_creation = HistoryQuery {
        property: TimeProperty::DeletedAt,
        range: TimeRange {
            from: Some(at(0)),
            to: None,
        },
        ..HistoryQuery::default()
    };
    let none_deleted = read(&*store, &tenant, id, &by_creation).await;
    assert!(
        none_deleted.attributes.is_empty(),
        "with a range, instances without a deletedAt do not match"
    );
}

/// A record bound to the write before it applies only if that write applied.
pub async fn a_bound_record_follows_the_fate_of_its_write<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Vehicle:history-bound";
    create(&*store, &tenant, sample_entity(id, &[T_VEHICLE])).await;
    let change = HistoryChange::Append {
        header: header(id),
        instances: vec![observed(A_SPEED, 1, 1, None)],
    };
    let outcomes = store
        .commit(
            &tenant,
            vec![
                put(sample_entity(id, &[T_VEHICLE]), Expect::Absent),
                record(change.clone(), true),
                put(sample_entity(id, &[T_VEHICLE]), Expect::Any),
                record(change, true),
            ],
        )
        .await
        .expect("commit");
    assert_eq!(outcomes[0], WriteOutcome::Conflict);
    assert_eq!(outcomes[1], WriteOutcome::Conflict, "its write conflicted");
    assert!(matches!(outcomes[2], WriteOutcome::Applied { .. }));
    assert_eq!(outcomes[3], WriteOutcome::Applied { version: 0 });
    let history = read(&*store, &tenant, id, &HistoryQuery::default()).await;
    assert_eq!(
        values(&history, A_SPEED),
        [1],
        "only the bound record of the applied write"
    );
}

/// Appends merge the header: types add up, the first creation stays.
pub async fn appends_add_types_to_the_header<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Vehicle:history-types";
    commit_one(&*store, &tenant, append(id, vec![])).await;
    let mut second = header(id);
    second.types = vec![T_ROOM.to_owned()];
    second.created_at = at(5);
    second.modified_at = at(5);
    let change = HistoryChange::Append {
        header: second,
        instances: vec![],
    };
    commit_one(&*store, &tenant, record(change, false)).await;
    let found = store
        .history_header(&tenant, id)
        .await
        .expect("header")
        .expect("exists");
    assert_eq!(found.types, [T_VEHICLE, T_ROOM]);
    assert_eq!(found.created_at, at(0));
    assert_eq!(found.modified_at, at(5));
}

/// One instance is replaced (keeping its id) or forgotten by its id; an unknown id is a
/// conflict.
pub async fn instances_are_replaced_and_forgotten_by_id<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Vehicle:history-edit";
    let instances = vec![observed(A_SPEED, 1, 1, None), observed(A_SPEED, 2, 2, None)];
    commit_one(&*store, &tenant, append(id, instances)).await;
    let before = read(&*store, &tenant, id, &HistoryQuery::default()).await;
    let first = before.attributes[A_SPEED][0].instance_id.clone();
    let second = before.attributes[A_SPEED][1].instance_id.clone();
    assert_ne!(first, second, "instance ids are unique");
    let corrected = observed(A_SPEED, 7, 3, None).value;
    let replace = HistoryChange::ReplaceInstance {
        id: id.to_owned(),
        attribute: A_SPEED.to_owned(),
        instance_id: first.clone(),
        value: corrected,
    };
    assert_eq!(
        commit_one(&*store, &tenant, record(replace, false)).await,
        WriteOutcome::Applied { version: 0 }
    );
    let after = read(&*store, &tenant, id, &HistoryQuery::default()).await;
    assert_eq!(
        values(&after, A_SPEED),
        [2, 7],
        "re-filed under its new observedAt"
    );
    assert_eq!(
        after.attributes[A_SPEED][1].instance_id, first,
        "the id is kept"
    );
    let forget = HistoryChange::ForgetInstance {
        id: id.to_owned(),
        attribute: A_SPEED.to_owned(),
        instance_id: second,
    };
    commit_one(&*store, &tenant, record(forget.clone(), false)).await;
    let left = read(&*store, &tenant, id, &HistoryQuery::default()).await;
    assert_eq!(values(&left, A_SPEED), [7]);
    assert_eq!(
        commit_one(&*store, &tenant, record(forget, false)).await,
        WriteOutcome::Conflict,
        "forgetting it again finds nothing"
    );
}

/// An attribute's instances are forgotten by dataset or all at once; the whole history
/// goes with its header.
pub async fn attributes_and_entities_are_forgotten<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Vehicle:history-forget";
    let ds = "urn:ngsi-ld:dataset:a";
    let instances = vec![
        observed(A_SPEED, 1, 1, None),
        observed(A_SPEED, 2, 2, Some(ds)),
        observed(A_FUEL, 3, 3, None),
    ];
    commit_one(&*store, &tenant, append(id, instances)).await;
    let by_dataset = HistoryChange::ForgetAttribute {
        id: id.to_owned(),
        attribute: A_SPEED.to_owned(),
        datasets: DatasetSelector::One(Some(ds.to_owned())),
    };
    commit_one(&*store, &tenant, record(by_dataset, false)).await;
    let left = read(&*store, &tenant, id, &HistoryQuery::default()).await;
    assert_eq!(values(&left, A_SPEED), [1]);
    let all = HistoryChange::ForgetAttribute {
        id: id.to_owned(),
        attribute: A_SPEED.to_owned(),
        datasets: DatasetSelector::All,
    };
    commit_one(&*store, &tenant, record(all.clone(), false)).await;
    assert_eq!(
        commit_one(&*store, &tenant, record(all, false)).await,
        WriteOutcome::Conflict
    );
    let forget = HistoryChange::Forget { id: id.to_owned() };
    commit_one(&*store, &tenant, record(forget.clone(), false)).await;
    assert!(store
        .history(&tenant, id, &HistoryQuery::default())
        .await
        .expect("history")
        .is_none());
    assert_eq!(
        commit_one(&*store, &tenant, record(forget, false)).await,
        WriteOutcome::Conflict
    );
}

/// Headers list in id order, by source, and never across tenants.
pub async fn history_headers_list_by_source_and_tenant<S: EntityStore>(store: Arc<S>) {
    let tenant = named("historyheaders");
    for n in ["c", "a", "b"] {
        let id = format!("urn:ngsi-ld:Vehicle:hh-{n}");
        commit_one(
            &*store,
            &tenant,
            append(&id, vec![observed(A_SPEED, 1, 1, None)]),
        )
        .await;
    }
    let ids = |headers: Vec<HistoryHeader>| headers.into_iter().map(|h| h.id).collect::<Vec<_>>();
    let all = store
        .history_headers(&tenant, &crate::Source::All, None, 10)
        .await
        .expect("headers");
    assert_eq!(
        ids(all),
        [
            "urn:ngsi-ld:Vehicle:hh-a",
            "urn:ngsi-ld:Vehicle:hh-b",
            "urn:ngsi-ld:Vehicle:hh-c"
        ]
    );
    let after = store
        .history_headers(
            &tenant,
            &crate::Source::All,
            Some("urn:ngsi-ld:Vehicle:hh-a"),
            1,
        )
        .await
        .expect("headers");
    assert_eq!(ids(after), ["urn:ngsi-ld:Vehicle:hh-b"]);
    let typed = store
        .history_headers(
            &tenant,
            &crate::Source::Types(vec![T_ROOM.to_owned()]),
            None,
            10,
        )
        .await
        .expect("headers");
    assert!(typed.is_empty());
    let other = store
        .history_headers(&named("historyheaders2"), &crate::Source::All, None, 10)
        .await
        .expect("headers");
    assert!(other.is_empty(), "another tenant sees nothing");
}

/// Runs every history check.
pub async fn run_history_checks<S, F, Fut>(mut make: F)
where
    S: EntityStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<S>>,
{
    history_reads_by_time_range_and_last_n(make().await).await;
    a_bound_record_follows_the_fate_of_its_write(make().await).await;
    appends_add_types_to_the_header(make().await).await;
    instances_are_replaced_and_forgotten_by_id(make().await).await;
    attributes_and_entities_are_forgotten(make().await).await;
    history_headers_list_by_source_and_tenant(make().await).await;
    trimming_keeps_the_latest_and_the_recent(make().await).await;
    samples_are_the_instances_reduced_to_time_dataset_and_value(make().await).await;
    the_header_keeps_the_latest_modification_of_the_entity(make().await).await;
}

/// Writes of an entity with their bound records: every read of the header shows the
/// latest modifiedAt, and the deletion's once the entity is gone.
pub async fn the_header_keeps_the_latest_modification_of_the_entity<S: EntityStore>(store: Arc<S>) {
    let tenant = named("historymodified");
    let id = "urn:ngsi-ld:Vehicle:history-modified";
    for minute in [1, 2, 3] {
        let mut entity = sample_entity(id, &[T_VEHICLE]);
        entity.created_at = at(1);
        entity.modified_at = at(minute);
        let mut h = header(id);
        h.created_at = at(1);
        h.modified_at = at(minute);
        let change = HistoryChange::Append {
            header: h,
            instances: vec![observed(A_SPEED, minute, minute, None)],
        };
        let outcomes = store
            .commit(
                &tenant,
                vec![put(entity, Expect::Any), record(change, true)],
            )
            .await
            .expect("commit");
        assert_eq!(outcomes[1], WriteOutcome::Applied { version: 0 });
    }
    let modified = |h: &HistoryHeader| (h.modified_at, h.deleted_at);
    let by_id = store.history_header(&tenant, id).await.expect("header");
    assert_eq!(by_id.as_ref().map(modified), Some((at(3), None)));
    let history = read(&*store, &tenant, id, &HistoryQuery::default()).await;
    assert_eq!(modified(&history.header), (at(3), None));
    let listed = store
        .history_headers(&tenant, &crate::Source::All, None, 10)
        .await
        .expect("headers");
    assert_eq!(
        listed.iter().map(modified).collect::<Vec<_>>(),
        [(at(3), None)]
    );

    let mut gone = header(id);
    gone.created_at = at(1);
    gone.modified_at = at(4);
    gone.deleted_at = Some(at(4));
    let change = HistoryChange::Append {
        header: gone,
        instances: vec![],
    };
    store
        .commit(
            &tenant,
            vec![
                WriteOp::Delete {
                    id: id.to_owned(),
                    expect: Expect::Any,
                },
                record(change, true),
            ],
        )
        .await
        .expect("delete");
    let by_id = store.history_header(&tenant, id).await.expect("header");
    assert_eq!(by_id.as_ref().map(modified), Some((at(4), Some(at(4)))));
}

/// A read of samples returns what the same read of instances holds, reduced: the time of
/// the query's property, the dataset and the value, deletions left out.
pub async fn samples_are_the_instances_reduced_to_time_dataset_and_value<S: EntityStore>(
    store: Arc<S>,
) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Vehicle:history-samples";
    let mut deletion = observed(A_SPEED, 0, 4, None);
    deletion.deleted_at = Some(at(5));
    let mut precise = observed(A_FUEL, 7, 0, None);
    precise.value.observed_at = Some("2020-09-13T12:26:40.123456Z".into());
    let mut created = observed(A_FUEL, 8, 0, None);
    created.value.observed_at = None;
    created.value.created_at = Some(at(9));
    created.value.modified_at = Some(at(9));
    let instances = vec![
        observed(A_SPEED, 30, 3, None),
        observed(A_SPEED, 10, 1, Some("urn:ngsi-ld:Dataset:x")),
        deletion,
        precise,
        created,
    ];
    commit_one(&*store, &tenant, append(id, instances)).await;
    let queries = [
        HistoryQuery::default(),
        HistoryQuery {
            range: TimeRange {
                from: Some(at(1)),
                to: Some(at(4)),
            },
            ..HistoryQuery::default()
        },
        HistoryQuery {
            last_n: Some(1),
            datasets: Some(vec![None]),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            property: TimeProperty::CreatedAt,
            range: TimeRange {
                from: Some(at(0)),
                to: None,
            },
            ..HistoryQuery::default()
        },
    ];
    for q in queries {
        let instances = read(&*store, &tenant, id, &q).await;
        let samples = store
            .history_samples(&tenant, id, &q)
            .await
            .expect("samples")
            .expect("the entity has a history");
        assert_eq!(
            samples,
            crate::EntitySamples::from_history(instances, q.property),
            "{q:?}"
        );
    }
}

/// Retention forgets instances filed before a time and beyond the latest N per attribute.
pub async fn trimming_keeps_the_latest_and_the_recent<S: EntityStore>(store: Arc<S>) {
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:Vehicle:history-trim";
    let instances = (1..=5)
        .map(|m| observed(A_SPEED, m, m, None))
        .chain([observed(A_FUEL, 9, 1, None)])
        .collect();
    commit_one(&*store, &tenant, append(id, instances)).await;
    let trim = |older_than, keep_last| {
        record(
            HistoryChange::Trim {
                id: id.to_owned(),
                older_than,
                keep_last,
            },
            false,
        )
    };
    commit_one(&*store, &tenant, trim(None, Some(3))).await;
    let kept = read(&*store, &tenant, id, &HistoryQuery::default()).await;
    assert_eq!(values(&kept, A_SPEED), [3, 4, 5]);
    assert_eq!(
        values(&kept, A_FUEL),
        [9],
        "each attribute keeps its own latest"
    );
    commit_one(&*store, &tenant, trim(Some(at(4)), None)).await;
    let recent = read(&*store, &tenant, id, &HistoryQuery::default()).await;
    assert_eq!(values(&recent, A_SPEED), [4, 5]);
    assert!(!recent.attributes.contains_key(A_FUEL));
    assert_eq!(
        commit_one(&*store, &tenant, trim(Some(at(4)), None)).await,
        WriteOutcome::Conflict,
        "nothing left to trim"
    );
}
