//! Contract checks: ordering within a commit, partial conflicts, concurrent commits.

use std::collections::BTreeSet;

use super::*;

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
