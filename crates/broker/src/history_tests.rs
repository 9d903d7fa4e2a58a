//! What entity writes record in the history, in the same commit (clauses 4.5.7, 4.5.8).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rigel_model::AttributeValue;
use rigel_storage::{HistoryChange, NewInstance};
use serde_json::json;

use crate::batch_tests::{broker_at, room, t0, t1, tenant, update, MemStore};

/// The instances each recorded change appended, as (attribute, value, deleted) triples.
fn appended(store: &MemStore) -> Vec<Vec<(String, serde_json::Value, bool)>> {
    store
        .history()
        .into_iter()
        .map(|(_, change)| match change {
            HistoryChange::Append { instances, .. } => instances
                .into_iter()
                .map(
                    |NewInstance {
                         attribute,
                         value,
                         deleted_at,
                     }| {
                        let v = match value.value {
                            AttributeValue::Property(v) => v,
                            other => json!(other.type_name()),
                        };
                        (attribute, v, deleted_at.is_some())
                    },
                )
                .collect(),
            other => panic!("entity writes only append, got {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn each_entity_write_records_what_it_changed_and_deletions_as_null() {
    let store = Arc::new(MemStore::default());
    let id = "urn:ngsi-ld:Room:h1";
    broker_at(&store, t0())
        .create_entity(&tenant(), room(id, 20))
        .await
        .unwrap();
    let later = broker_at(&store, t1());
    later
        .update_attributes(
            &tenant(),
            id,
            &update(json!({"temp": {"type": "Property", "value": 21}})),
            None,
        )
        .await
        .unwrap();
    later
        .delete_attribute(&tenant(), id, "temp", None, false, None)
        .await
        .unwrap();
    later.delete_entity(&tenant(), id, None).await.unwrap();
    assert_eq!(
        appended(&store),
        vec![
            vec![("temp".to_owned(), json!(20), false)],
            vec![("temp".to_owned(), json!(21), false)],
            vec![("temp".to_owned(), json!("urn:ngsi-ld:null"), true)],
            vec![],
        ]
    );
    let deleted = store.history().pop().map(|(_, c)| c);
    let Some(HistoryChange::Append { header, .. }) = deleted else {
        panic!("the entity deletion is recorded");
    };
    assert_eq!(header.deleted_at, Some(t1()));
}

#[tokio::test]
async fn a_broker_without_history_records_nothing() {
    let store = Arc::new(MemStore::default());
    broker_at(&store, t0())
        .with_history(false)
        .create_entity(&tenant(), room("urn:ngsi-ld:Room:h2", 20))
        .await
        .unwrap();
    assert!(store.history().is_empty());
}
