//! Orion-LD documents (fixtures in the layout its documentation shows) imported into a
//! memory store.

use std::borrow::Cow;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rigel_model::subscription::parse::parse_subscription;
use rigel_model::subscription::{Subscription, SubscriptionKind};
use rigel_model::{AttributeValue, Entity, Tenant, TermMap};
use rigel_storage::{EntityStore, SubscriptionStore};
use rigel_storage_memory::MemoryStore;
use serde_json::{json, Map, Value};

use super::values::DEFAULT_VOCAB;
use super::{OrionLoader, SubscriptionParser};
use crate::{ImportOptions, ImportReport};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/orion-ld");
const CORE: &str = "https://uri.etsi.org/ngsi-ld/";

/// Terms of the default vocabulary, as a client without a @context of its own has them.
struct Vocab;

impl TermMap for Vocab {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        if term.contains(':') {
            Cow::Borrowed(term)
        } else {
            Cow::Owned(format!("{DEFAULT_VOCAB}{term}"))
        }
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(iri)
    }
}

struct Parser;

#[async_trait]
impl SubscriptionParser for Parser {
    async fn parse(
        &self,
        body: &Map<String, Value>,
        context: Option<&str>,
    ) -> Result<Subscription, String> {
        let context =
            context.unwrap_or("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld");
        parse_subscription(
            SubscriptionKind::Entities,
            body,
            &Vocab,
            context,
            Utc::now(),
            String::new,
        )
        .map_err(|e| e.to_string())
    }
}

fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{file}")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// Loads the fixture files into a new memory store: (collection, tenant, file).
async fn loaded(files: &[(&str, &str, &str)]) -> (MemoryStore, ImportReport) {
    let store = MemoryStore::new();
    let report = {
        let mut loader = OrionLoader::new(&store, ImportOptions::default(), &Parser);
        for (collection, tenant, file) in files {
            let tenant = Tenant::named(tenant).unwrap_or_default();
            for (i, doc) in documents(file).iter().enumerate() {
                let at = format!("{file} #{i}");
                let done = match *collection {
                    "entities" => loader.entity(&tenant, at, doc).await,
                    _ => loader.subscription(&tenant, at, doc).await,
                };
                assert!(done.is_ok());
            }
        }
        loader.finish().await.unwrap_or_default()
    };
    (store, report)
}

async fn entity(store: &MemoryStore, tenant: &str, id: &str) -> Entity {
    let tenant = Tenant::named(tenant).unwrap_or_default();
    match store.get(&tenant, id).await {
        Ok(Some(found)) => found.value,
        other => panic!("{id}: {other:?}"),
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

#[tokio::test]
async fn entities_keep_their_values_times_units_and_sub_attributes() {
    let (store, report) = loaded(&[("entities", "", "orion.entities.json")]).await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(
        report.tenants[&Tenant::default_tenant()].entities.created,
        4
    );

    let spot = entity(
        &store,
        "",
        "urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5",
    )
    .await;
    assert_eq!(spot.types, [format!("{DEFAULT_VOCAB}ParkingSpot")]);
    assert_eq!(spot.created_at, at("2024-06-01T10:00:00.250Z"));
    assert_eq!(spot.modified_at, at("2024-06-03T10:00:00.123Z"));
    let rate = &spot.instances(&format!("{DEFAULT_VOCAB}occupancyRate"))[0];
    assert_eq!(rate.value, AttributeValue::Property(json!(0.75)));
    assert_eq!(rate.unit_code.as_deref(), Some("P1"));
    assert_eq!(
        rate.observed_at.as_deref(),
        Some("2024-06-03T09:59:55.000Z")
    );
    assert_eq!(rate.modified_at, Some(at("2024-06-03T10:00:00.123Z")));
    let status = &spot.instances(&format!("{CORE}status"))[0];
    let provided_by = &status.sub_attributes[&format!("{DEFAULT_VOCAB}providedBy")];
    assert_eq!(
        provided_by.value,
        AttributeValue::Relationship {
            object: json!("urn:ngsi-ld:Device:parking-sensor-42"),
            object_type: None
        }
    );
    assert!(status
        .sub_attributes
        .contains_key(&format!("{DEFAULT_VOCAB}reliability")));
    let site = &spot.instances(&format!("{DEFAULT_VOCAB}refParkingSite"))[0];
    assert!(
        matches!(&site.value, AttributeValue::Relationship { object, .. } if object == "urn:ngsi-ld:OffStreetParking:downtown1")
    );
    let location = &spot.instances(&format!("{CORE}location"))[0];
    assert!(matches!(&location.value, AttributeValue::GeoProperty(g) if g["type"] == "Point"));

    let vehicle = entity(&store, "", "urn:ngsi-ld:Vehicle:A4567").await;
    let speed = &vehicle.instances("http://example.org/vehicle/speed")[0];
    assert_eq!(speed.unit_code.as_deref(), Some("KMH"));
    assert!(speed
        .sub_attributes
        .contains_key("http://example.org/vehicle/source"));
    let parked = &vehicle.instances("http://example.org/vehicle/isParked")[0];
    assert!(parked
        .sub_attributes
        .contains_key("http://example.org/vehicle/providedBy"));
}

#[tokio::test]
async fn entities_written_through_ngsiv2_are_imported_with_remarks() {
    let (store, report) = loaded(&[("entities", "", "orion.entities.json")]).await;
    let sensor = entity(&store, "", "urn:ngsi-ld:HumiditySensor:humidity001").await;
    assert_eq!(sensor.types, [format!("{DEFAULT_VOCAB}HumiditySensor")]);
    let humidity = &sensor.instances(&format!("{DEFAULT_VOCAB}humidity"))[0];
    assert_eq!(humidity.value, AttributeValue::Property(json!(41)));
    assert!(humidity
        .sub_attributes
        .contains_key(&format!("{DEFAULT_VOCAB}TimeInstant")));
    let remarks: Vec<&str> = report.remarks.iter().map(|r| r.reason.as_str()).collect();
    assert!(
        remarks.iter().any(|r| r.contains("NGSIv2 type \"Number\"")),
        "{remarks:?}"
    );
    assert!(
        remarks.iter().any(|r| r.contains("service path")),
        "{remarks:?}"
    );
}

#[tokio::test]
async fn each_tenant_database_becomes_a_tenant() {
    let (store, report) = loaded(&[
        ("entities", "", "orion.entities.json"),
        ("entities", "tenant1", "orion-tenant1.entities.json"),
    ])
    .await;
    assert_eq!(
        report.tenants[&Tenant::named("tenant1").unwrap_or_default()]
            .entities
            .created,
        2
    );
    let air = entity(
        &store,
        "tenant1",
        "urn:ngsi-ld:AirQualityObserved:madrid:01",
    )
    .await;
    let no2 = &air.instances(&format!("{DEFAULT_VOCAB}NO2"))[0];
    assert_eq!(no2.unit_code.as_deref(), Some("GQ"));
    let default = store
        .get(
            &Tenant::default_tenant(),
            "urn:ngsi-ld:AirQualityObserved:madrid:01",
        )
        .await;
    assert!(matches!(default, Ok(None)));
}

#[tokio::test]
async fn language_properties_and_dataset_instances_are_imported() {
    let (store, report) = loaded(&[("entities", "", "orion.entities.inferred.json")]).await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let city = entity(&store, "", "urn:ngsi-ld:City:001").await;
    assert!(matches!(&city.instances(&format!("{CORE}name"))[0].value,
        AttributeValue::LanguageProperty(map) if map["en"] == "Constantinople"));
    let station = entity(&store, "", "urn:ngsi-ld:WeatherStation:ws-07").await;
    let temperature = station.instances(&format!("{DEFAULT_VOCAB}temperature"));
    let datasets: Vec<Option<&str>> = temperature
        .iter()
        .map(|t| t.dataset_id.as_deref())
        .collect();
    assert_eq!(datasets, [None, Some("urn:ngsi-ld:Dataset:sensorB")]);
    assert_eq!(
        temperature[1].observed_at.as_deref(),
        Some("2024-06-04T11:20:55.000Z")
    );
}

#[tokio::test]
async fn subscriptions_keep_their_selectors_status_expiry_and_counters() {
    let (store, report) = loaded(&[("csubs", "", "orion.csubs.json")]).await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(
        report.tenants[&Tenant::default_tenant()]
            .subscriptions
            .created,
        3
    );
    let all = store.all_subscriptions().await.unwrap_or_default();
    let find = |id: &str| all.iter().map(|(_, s)| s).find(|s| s.id == id).cloned();

    let Some(occupancy) = find("urn:ngsi-ld:Subscription:665b1c2e9a7f3e0012ab34cd") else {
        panic!("not imported: {all:?}");
    };
    assert_eq!(
        occupancy.subscription_name.as_deref(),
        Some("Parking occupancy to QuantumLeap")
    );
    assert_eq!(occupancy.entities.len(), 2);
    assert_eq!(occupancy.q.as_deref(), Some("occupancyRate>0.5"));
    assert_eq!(occupancy.throttling, Some(5.0));
    assert_eq!(occupancy.expires_at, Some(at("2030-01-01T00:00:00Z")));
    assert_eq!(
        occupancy.jsonld_context,
        "https://example.org/ctx/parking-context.jsonld"
    );
    assert_eq!(occupancy.delivery.times_sent, 42);
    assert_eq!(
        occupancy.delivery.last_failure,
        Some(at("2024-06-02T10:00:01Z"))
    );
    assert_eq!(occupancy.created_at, at("2024-06-01T10:01:40Z"));
    assert!(occupancy.is_active);

    let Some(vehicle) = find("urn:ngsi-ld:Subscription:vehicle-mqtt-01") else {
        panic!("not imported: {all:?}");
    };
    assert!(!vehicle.is_active);
    assert_eq!(vehicle.expires_at, None);
    assert!(vehicle.notification.endpoint.uri.starts_with("mqtt://"));

    let Some(expired) = find("urn:ngsi-ld:Subscription:6601a0b2c3d4e5f601234567") else {
        panic!("not imported: {all:?}");
    };
    let geo = expired
        .geo_q
        .as_ref()
        .map(|g| serde_json::to_value(g).unwrap_or_default());
    assert!(format!("{geo:?}").contains("-3.8035"), "{geo:?}");
    assert!(expired.expires_at.is_some_and(|t| t < Utc::now()));
}

#[tokio::test]
async fn documents_without_an_id_or_an_endpoint_are_rejected_with_the_reason() {
    let store = MemoryStore::new();
    let mut loader = OrionLoader::new(&store, ImportOptions::default(), &Parser);
    let tenant = Tenant::default_tenant();
    let no_id = json!({"_id": {"type": "T"}, "attrs": {}});
    let no_reference = json!({"_id": "urn:ngsi-ld:Subscription:x", "entities": [{"type": "T"}]});
    assert!(loader.entity(&tenant, "e".into(), &no_id).await.is_ok());
    assert!(loader
        .subscription(&tenant, "s".into(), &no_reference)
        .await
        .is_ok());
    let report = loader.finish().await.unwrap_or_default();
    let reasons: Vec<&str> = report.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert!(reasons[0].contains("_id.id"), "{reasons:?}");
    assert!(reasons[1].contains("no reference"), "{reasons:?}");
}
