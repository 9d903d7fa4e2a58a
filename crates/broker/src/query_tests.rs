//! The query memory bound: a query holding more is refused with `TooManyResults`, and a purge
//! shrinks its batches to stay under it, so it still deletes every match.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::batch_tests::{broker_at, room, t0, tenant, MemStore};
use crate::query::{EntityQuery, Paging, Purge};
use crate::BrokerError;

/// Five rooms, and a bound that holds two and a half of them.
async fn rooms_and_bound() -> (Arc<MemStore>, usize) {
    let store = Arc::new(MemStore::default());
    let broker = broker_at(&store, t0());
    for i in 0..5 {
        broker
            .create_entity(&tenant(), room(&format!("urn:r:{i}"), i))
            .await
            .unwrap();
    }
    let each = room("urn:r:0", 0).footprint();
    (store, each * 5 / 2)
}

#[tokio::test]
async fn a_query_holding_more_than_the_memory_bound_is_too_many_results() {
    let (store, bound) = rooms_and_bound().await;
    let broker = broker_at(&store, t0()).with_query_memory(bound);
    let page = |limit| Paging {
        offset: 0,
        limit,
        count: false,
    };
    let two = broker
        .query_entities(&tenant(), EntityQuery::default(), None, page(2))
        .await
        .unwrap();
    assert_eq!(two.entities.len(), 2);
    let all = broker
        .query_entities(&tenant(), EntityQuery::default(), None, page(5))
        .await;
    match all {
        Err(BrokerError::TooManyResults(detail)) => {
            assert!(detail.contains("--max-query-bytes"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn purging_more_than_the_memory_bound_holds_still_deletes_every_match() {
    let (store, _) = rooms_and_bound().await;
    // Less than one room: batches shrink to single entities, each purged.
    let broker = broker_at(&store, t0()).with_query_memory(10);
    let purged = broker
        .purge_entities(&tenant(), EntityQuery::default(), Purge::Entities)
        .await
        .unwrap();
    assert_eq!(purged, 5);
}
