//! Registrations in the broker: rival exclusive registrations racing for the same entity
//! and attribute cannot both pass the mode rules, an expired registration is gone, and the
//! forwarding counts of brokers sharing a store add up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rigel_model::registration::parse::parse_registration;
use rigel_model::registration::Registration;
use rigel_model::{Clock, IdentityTerms, Tenant};
use rigel_storage::{EntityStore, RegistrationStore};
use rigel_storage_memory::MemoryStore;
use serde_json::json;

use crate::{Broker, BrokerError, Registry};

#[derive(Debug)]
struct At(DateTime<Utc>);

impl Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn exclusive(id: &str, expires: Option<DateTime<Utc>>) -> Registration {
    let mut body = json!({
        "id": id,
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "urn:t:Vehicle", "id": "urn:v:1"}], "propertyNames": ["urn:a:speed"]}],
        "endpoint": "http://source.example.org",
        "mode": "exclusive"
    });
    if let Some(at) = expires {
        body["expiresAt"] = json!(at.to_rfc3339());
    }
    parse_registration(
        body.as_object().unwrap(),
        &IdentityTerms,
        start(),
        || unreachable!(),
    )
    .expect("valid")
}

async fn broker(store: &Arc<MemoryStore>, now: DateTime<Utc>) -> Broker {
    let registry = Registry::load(Arc::clone(store) as Arc<dyn RegistrationStore>)
        .await
        .expect("load");
    Broker::new(Arc::clone(store) as Arc<dyn EntityStore>, Arc::new(At(now)))
        .with_registrations(Arc::new(registry))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rival_exclusive_registrations_racing_cannot_both_pass() {
    let store = Arc::new(MemoryStore::new());
    let broker = Arc::new(broker(&store, start()).await);
    let tenant = Tenant::default_tenant();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let broker = Arc::clone(&broker);
            let tenant = tenant.clone();
            tokio::spawn(async move {
                broker
                    .create_registration(&tenant, exclusive(&format!("urn:csr:{i}"), None))
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => created += 1,
            Err(BrokerError::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.all_registrations().await.expect("list").len(), 1);
}

#[tokio::test]
async fn an_expired_registration_is_gone_and_deleted() {
    let store = Arc::new(MemoryStore::new());
    let tenant = Tenant::default_tenant();
    let soon = start() + Duration::minutes(1);
    broker(&store, start())
        .await
        .create_registration(&tenant, exclusive("urn:csr:short", Some(soon)))
        .await
        .expect("created");
    let later = broker(&store, soon + Duration::seconds(1)).await;
    assert!(matches!(
        later.retrieve_registration(&tenant, "urn:csr:short").await,
        Err(BrokerError::RegistrationNotFound(_))
    ));
    // A rival may take its place, and the expired one leaves the store.
    later
        .create_registration(&tenant, exclusive("urn:csr:next", None))
        .await
        .expect("the expired registration no longer conflicts");
    let stored: Vec<String> = store
        .all_registrations()
        .await
        .expect("list")
        .into_iter()
        .map(|(_, r)| r.id)
        .collect();
    assert_eq!(stored, ["urn:csr:next"]);
}

/// Two brokers sharing a store forward under the same registration: each adds what it
/// counted to the stored status, so the stored counts are the sum, and each shows the
/// stored counts with its own unsaved ones added.
#[tokio::test]
async fn forwarding_counts_of_brokers_sharing_a_store_add_up() {
    let store = Arc::new(MemoryStore::new());
    let tenant = Tenant::default_tenant();
    let id = "urn:ngsi-ld:ContextSourceRegistration:shared";
    store
        .create_registration(&tenant, &exclusive(id, None))
        .await
        .expect("create");
    let load = || async {
        Registry::load(Arc::clone(&store) as Arc<dyn RegistrationStore>)
            .await
            .expect("load")
    };
    let (a, b) = (load().await, load().await);
    let shown = |registry: &Registry| {
        registry.matching(&tenant, start(), |_| true)[0]
            .status
            .clone()
    };
    let at = start() + Duration::seconds(1);
    for _ in 0..3 {
        a.record(&tenant, id, true, at);
    }
    b.record(&tenant, id, true, at);
    b.record(&tenant, id, false, at + Duration::seconds(1));
    b.save_status().await;
    let stored = || async {
        store
            .all_registrations()
            .await
            .expect("list")
            .into_iter()
            .find(|(_, r)| r.id == id)
            .expect("stored")
            .1
    };
    // A hears of B's save before saving its own: B's counts and its own unsaved three.
    a.stored_changed(&tenant, id, Some(stored().await));
    assert_eq!(shown(&a).times_sent, 2 + 3);
    assert_eq!(shown(&a).times_failed, 1);
    a.save_status().await;
    let both = stored().await.status;
    assert_eq!((both.times_sent, both.times_failed), (5, 1));
    assert_eq!(both.last_success, Some(at));
    assert_eq!(both.last_failure, Some(at + Duration::seconds(1)));
    // Nothing is added twice.
    a.save_status().await;
    b.save_status().await;
    assert_eq!(stored().await.status.times_sent, 5);
    b.stored_changed(&tenant, id, Some(stored().await));
    assert_eq!(shown(&b), both);
}
