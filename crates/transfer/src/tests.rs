//! Export and import between two memory stores: what goes out comes back whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rigel_model::{Attribute, AttributeValue, Entity, Tenant};
use rigel_storage::testkit::{sample_entity, sample_registration, sample_subscription};
use rigel_storage::{
    EntityStore, HistoryChange, HistoryHeader, HistoryQuery, NewInstance, RegistrationStore, Store,
    SubscriptionStore, WriteOp,
};
use rigel_storage_memory::MemoryStore;
use serde_json::json;

use crate::{export, import, Existing, ExportOptions, ImportOptions, ImportReport, Tally};

const SPEED: &str = "https://example.org/ns#speed";

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
}

fn tenant(name: &str) -> Tenant {
    Tenant::named(name).unwrap_or_default()
}

fn speed(value: f64, dataset: Option<&str>, secs: i64) -> Attribute {
    let mut a = Attribute::new(AttributeValue::Property(json!(value)));
    a.dataset_id = dataset.map(str::to_owned);
    a.created_at = Some(at(0));
    a.modified_at = Some(at(secs));
    a
}

fn car(id: &str) -> Entity {
    let mut e = sample_entity(id, &["https://example.org/ns#Car"]);
    e.attributes.insert(
        SPEED.to_owned(),
        vec![speed(50.0, None, 5), speed(48.0, Some("urn:gps"), 6)],
    );
    e
}

async fn put(store: &MemoryStore, tenant: &Tenant, entity: Entity) {
    let ops = vec![WriteOp::Put {
        entity,
        expect: rigel_storage::Expect::Absent,
    }];
    store.commit(tenant, ops).await.unwrap_or_default();
}

async fn record_history(store: &MemoryStore, tenant: &Tenant, id: &str, instances: usize) {
    let header = HistoryHeader {
        id: id.to_owned(),
        types: vec!["https://example.org/ns#Car".to_owned()],
        scope: None,
        created_at: at(0),
        modified_at: at(instances as i64),
        deleted_at: None,
    };
    let instances = (0..instances)
        .map(|i| NewInstance {
            attribute: SPEED.to_owned(),
            value: speed(i as f64, None, i as i64),
            deleted_at: None,
        })
        .collect();
    let change = HistoryChange::Append { header, instances };
    let ops = vec![WriteOp::Record {
        change,
        with_previous: false,
    }];
    store.commit(tenant, ops).await.unwrap_or_default();
}

/// Two tenants with entities, histories (one of an entity since deleted, one longer than a
/// record holds), a subscription and a registration.
async fn populated() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let city = tenant("city");
    put(&store, &Tenant::default_tenant(), car("urn:ngsi-ld:Car:1")).await;
    put(&store, &Tenant::default_tenant(), car("urn:ngsi-ld:Car:2")).await;
    put(&store, &city, car("urn:ngsi-ld:Car:1")).await;
    record_history(
        &store,
        &Tenant::default_tenant(),
        "urn:ngsi-ld:Car:1",
        1_200,
    )
    .await;
    record_history(&store, &city, "urn:ngsi-ld:Car:gone", 3).await;
    let subscription = sample_subscription("urn:ngsi-ld:Subscription:s1");
    store
        .create_subscription(&city, &subscription)
        .await
        .unwrap_or_default();
    let registration = sample_registration("urn:ngsi-ld:ContextSourceRegistration:r1");
    store
        .create_registration(&Tenant::default_tenant(), &registration)
        .await
        .unwrap_or_default();
    store
}

async fn exported(store: &dyn Store) -> String {
    let mut out = Vec::new();
    export(store, &ExportOptions::default(), &mut out)
        .await
        .unwrap_or_default();
    String::from_utf8(out).unwrap_or_default()
}

async fn imported(store: &dyn Store, text: &str, options: ImportOptions) -> ImportReport {
    match import(store, text.as_bytes(), options).await {
        Ok(report) => report,
        Err(e) => panic!("import failed: {e}"),
    }
}

/// The records of an export without its header (which names when it was made).
fn records(text: &str) -> Vec<&str> {
    text.lines().skip(1).collect()
}

fn created(n: usize) -> Tally {
    Tally {
        created: n,
        ..Tally::default()
    }
}

#[tokio::test]
async fn an_export_imported_into_an_empty_store_gives_back_every_record() {
    let source = populated().await;
    let text = exported(&*source).await;
    let target = MemoryStore::new();
    let report = imported(&target, &text, ImportOptions::default()).await;

    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let default = &report.tenants[&Tenant::default_tenant()];
    assert_eq!(default.entities, created(2));
    assert_eq!(default.histories, created(1));
    assert_eq!(default.instances, 1_200);
    assert_eq!(default.registrations, created(1));
    let city = &report.tenants[&tenant("city")];
    assert_eq!(city.entities, created(1));
    assert_eq!(city.histories, created(1));
    assert_eq!(city.subscriptions, created(1));
    assert_eq!(records(&exported(&target).await), records(&text));
}

#[tokio::test]
async fn imported_entities_keep_their_timestamps_and_dataset_instances() {
    let source = populated().await;
    let target = MemoryStore::new();
    imported(&target, &exported(&*source).await, ImportOptions::default()).await;

    let id = "urn:ngsi-ld:Car:2";
    let original = source
        .get(&Tenant::default_tenant(), id)
        .await
        .ok()
        .flatten();
    let copy = target
        .get(&Tenant::default_tenant(), id)
        .await
        .ok()
        .flatten();
    assert_eq!(copy.map(|c| c.value), original.map(|o| o.value));
    let history = target
        .history(
            &Tenant::default_tenant(),
            "urn:ngsi-ld:Car:1",
            &HistoryQuery::default(),
        )
        .await
        .ok()
        .flatten()
        .map(|h| h.attributes)
        .unwrap_or_default();
    let speeds: Vec<_> = history
        .get(SPEED)
        .map(|i| i.iter().map(|i| i.value.modified_at).collect())
        .unwrap_or_default();
    assert_eq!(speeds.len(), 1_200);
    assert_eq!(speeds.first(), Some(&Some(at(0))));
    assert_eq!(speeds.last(), Some(&Some(at(1_199))));
}

#[tokio::test]
async fn what_the_target_already_has_is_skipped_unless_replacing() {
    let source = populated().await;
    let text = exported(&*source).await;
    let target = MemoryStore::new();
    let mut changed = car("urn:ngsi-ld:Car:1");
    changed.attributes = BTreeMap::new();
    put(&target, &Tenant::default_tenant(), changed.clone()).await;

    let skipping = imported(&target, &text, ImportOptions::default()).await;
    let default = &skipping.tenants[&Tenant::default_tenant()];
    assert_eq!(default.entities.skipped, 1);
    assert_eq!(default.entities.created, 1);
    let kept = target
        .get(&Tenant::default_tenant(), "urn:ngsi-ld:Car:1")
        .await;
    assert_eq!(kept.ok().flatten().map(|v| v.value), Some(changed));

    let options = ImportOptions {
        existing: Existing::Replace,
        dry_run: false,
    };
    let replacing = imported(&target, &text, options).await;
    let default = &replacing.tenants[&Tenant::default_tenant()];
    assert_eq!(default.entities.replaced, 2);
    assert_eq!(default.histories.replaced, 1);
    assert_eq!(replacing.tenants[&tenant("city")].subscriptions.replaced, 1);
    assert_eq!(records(&exported(&target).await), records(&text));
}

#[tokio::test]
async fn a_dry_run_reports_what_an_import_would_do_and_writes_nothing() {
    let source = populated().await;
    let text = exported(&*source).await;
    let target = MemoryStore::new();
    let options = ImportOptions {
        existing: Existing::Skip,
        dry_run: true,
    };
    let dry = imported(&target, &text, options).await;
    let real = imported(&MemoryStore::new(), &text, ImportOptions::default()).await;

    assert!(dry.dry_run);
    assert_eq!(dry.tenants, real.tenants);
    assert_eq!(records(&exported(&target).await), Vec::<&str>::new());
}

#[tokio::test]
async fn a_bad_line_is_rejected_with_its_number_and_the_rest_is_imported() {
    let source = populated().await;
    let text = exported(&*source).await;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.insert(
        2,
        r#"{"kind":"entity","tenant":null,"entity":{"id":"no uri"}}"#.into(),
    );
    let not_a_uri = serde_json::to_string(&crate::Record::Entity {
        tenant: Tenant::default_tenant(),
        entity: sample_entity("not a uri", &["https://example.org/ns#Car"]),
    })
    .unwrap_or_default();
    lines.insert(3, not_a_uri);
    let target = MemoryStore::new();
    let report = imported(&target, &lines.join("\n"), ImportOptions::default()).await;

    let at: Vec<&str> = report.rejected.iter().map(|r| r.at.as_str()).collect();
    assert_eq!(at, ["line 3", "line 4"]);
    assert!(
        report.rejected[1].reason.contains("not a URI"),
        "{:?}",
        report.rejected
    );
    assert_eq!(
        report.tenants[&Tenant::default_tenant()].entities,
        created(2)
    );
}

#[tokio::test]
async fn input_that_is_not_an_export_is_refused_before_anything_is_written() {
    let target = MemoryStore::new();
    let entity = r#"{"kind":"entity","tenant":null,"entity":{}}"#;
    let refused = import(&target, entity.as_bytes(), ImportOptions::default()).await;
    assert!(matches!(refused, Err(crate::TransferError::NotAnExport(_))));
    let future = r#"{"format":"rigel-export","version":99,"exportedAt":"2026-01-01T00:00:00Z","source":"x"}"#;
    let refused = import(&target, future.as_bytes(), ImportOptions::default()).await;
    assert!(matches!(refused, Err(crate::TransferError::NotAnExport(m)) if m.contains("99")));
}
