//! Change reporting: every committed write reaches the change listener with its previous
//! and new state, before the write is acknowledged, and nothing is reported for writes
//! that did not apply or for tenants nobody listens to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use rigel_model::Tenant;
use rigel_storage::{ChangeEvent, ChangeListener};

use crate::batch_tests::{broker_at, room, t0, t1, tenant, update, MemStore};
use crate::query::{EntityQuery, Purge};
use crate::{Broker, UpsertMode};

/// Records every reported change; listens to every tenant but `ignored`.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<ChangeEvent>>,
    ignored: Option<Tenant>,
}

impl ChangeListener for Recorder {
    fn wants(&self, tenant: &Tenant) -> bool {
        self.ignored.as_ref() != Some(tenant)
    }

    fn changed(&self, events: Vec<ChangeEvent>) {
        self.events.lock().unwrap().extend(events);
    }
}

impl Recorder {
    /// (id, had a previous state, has a new state) of each event so far.
    fn shapes(&self) -> Vec<(String, bool, bool)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| (e.id.clone(), e.previous.is_some(), e.current.is_some()))
            .collect()
    }
}

fn observed(recorder: &Arc<Recorder>) -> Broker {
    let store = Arc::new(MemStore::default());
    broker_at(&store, t1()).with_change_listener(recorder.clone())
}

fn temp_of(e: &rigel_model::Entity) -> serde_json::Value {
    match &e.attributes["temp"][0].value {
        rigel_model::AttributeValue::Property(v) => v.clone(),
        other => panic!("temp is not a Property: {other:?}"),
    }
}

#[tokio::test]
async fn creating_updating_and_deleting_an_entity_reports_each_change_with_both_states() {
    let recorder = Arc::new(Recorder::default());
    let broker = observed(&recorder);
    broker
        .create_entity(&tenant(), room("urn:r:1", 20))
        .await
        .unwrap();
    broker
        .update_attributes(
            &tenant(),
            "urn:r:1",
            &update(serde_json::json!({"temp": {"type": "Property", "value": 21}})),
            None,
        )
        .await
        .unwrap();
    broker
        .delete_entity(&tenant(), "urn:r:1", None)
        .await
        .unwrap();
    assert_eq!(
        recorder.shapes(),
        vec![
            ("urn:r:1".to_owned(), false, true),
            ("urn:r:1".to_owned(), true, true),
            ("urn:r:1".to_owned(), true, false),
        ]
    );
    let events = recorder.events.lock().unwrap();
    assert_eq!(temp_of(events[1].previous.as_ref().unwrap()), 20);
    assert_eq!(temp_of(events[1].current.as_ref().unwrap()), 21);
    assert_eq!(events[1].at, t1());
}

#[tokio::test]
async fn a_write_that_does_not_apply_reports_nothing() {
    let recorder = Arc::new(Recorder::default());
    let broker = observed(&recorder);
    broker
        .create_entity(&tenant(), room("urn:r:2", 20))
        .await
        .unwrap();
    assert!(broker
        .create_entity(&tenant(), room("urn:r:2", 30))
        .await
        .is_err());
    assert_eq!(recorder.shapes().len(), 1);
}

#[tokio::test]
async fn a_batch_reports_one_change_per_entity_it_wrote() {
    let recorder = Arc::new(Recorder::default());
    let broker = observed(&recorder);
    broker
        .create_entity(&tenant(), room("urn:r:a", 1))
        .await
        .unwrap();
    broker
        .upsert_entities(
            &tenant(),
            &[room("urn:r:a", 2), room("urn:r:b", 3), room("urn:r:a", 4)],
            UpsertMode::Replace,
        )
        .await
        .unwrap();
    let shapes = recorder.shapes();
    assert_eq!(shapes.len(), 3, "{shapes:?}");
    assert!(shapes.contains(&("urn:r:a".to_owned(), true, true)));
    assert!(shapes.contains(&("urn:r:b".to_owned(), false, true)));
    let events = recorder.events.lock().unwrap();
    let a = events.iter().rfind(|e| e.id == "urn:r:a").unwrap();
    assert_eq!(temp_of(a.previous.as_ref().unwrap()), 1);
    assert_eq!(temp_of(a.current.as_ref().unwrap()), 4);
}

#[tokio::test]
async fn purging_reports_each_deleted_entity() {
    let recorder = Arc::new(Recorder::default());
    let broker = observed(&recorder);
    for i in 0..3 {
        broker
            .create_entity(&tenant(), room(&format!("urn:r:p{i}"), i))
            .await
            .unwrap();
    }
    let purged = broker
        .purge_entities(&tenant(), EntityQuery::default(), Purge::Entities)
        .await
        .unwrap();
    assert_eq!(purged, 3);
    let deletions = recorder
        .shapes()
        .into_iter()
        .filter(|(_, before, after)| *before && !*after)
        .count();
    assert_eq!(deletions, 3);
}

#[tokio::test]
async fn a_tenant_the_listener_does_not_want_is_not_reported() {
    let recorder = Arc::new(Recorder {
        ignored: Some(tenant()),
        ..Recorder::default()
    });
    let store = Arc::new(MemStore::default());
    let broker = broker_at(&store, t0()).with_change_listener(recorder.clone());
    broker
        .create_entity(&tenant(), room("urn:r:q", 1))
        .await
        .unwrap();
    assert!(recorder.shapes().is_empty());
}
