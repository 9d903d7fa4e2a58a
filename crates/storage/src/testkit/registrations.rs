//! Contract checks: durable Context Source Registrations and their forwarding status, per
//! tenant.
//!
//! `all_registrations` lists every tenant, so each check looks only at its own tenants (the
//! checks also pass side by side on one store). Durability across a restart is backend
//! specific: backends test it in their own tests.

use std::collections::BTreeMap;

use chrono::Duration;
use rigel_model::registration::{
    EntityInfo, ForwardingStatus, KeyValuePair, ManagementInfo, Mode, Registration,
    RegistrationInfo, TimeInterval,
};

use super::*;
use crate::RegistrationStore;

/// A registration with every field set (no `None`, no empty list), so a backend that drops
/// or mangles any field fails the round trip; public so backends can use it in their own
/// tests. Floats are exact binary fractions so they survive any text encoding.
pub fn sample_registration(id: &str) -> Registration {
    Registration {
        id: id.to_owned(),
        registration_name: Some("Parking".to_owned()),
        description: Some("The parking department's broker".to_owned()),
        information: vec![RegistrationInfo {
            entities: Some(vec![EntityInfo {
                id: Some("urn:ngsi-ld:Room:1".to_owned()),
                id_pattern: Some("urn:ngsi-ld:Room:.*".to_owned()),
                types: vec![T_ROOM.to_owned(), T_SENSOR.to_owned()],
                type_list: true,
            }]),
            property_names: Some(vec![A_TEMP.to_owned()]),
            relationship_names: Some(vec!["https://example.org/ns#isIn".to_owned()]),
        }],
        tenant: Some("parking".to_owned()),
        observation_interval: Some(TimeInterval {
            start_at: instant(),
            end_at: Some(instant() + Duration::days(1)),
            start_text: instant().to_rfc3339(),
            end_text: Some((instant() + Duration::days(1)).to_rfc3339()),
        }),
        management_interval: Some(TimeInterval {
            start_at: instant(),
            end_at: None,
            start_text: instant().to_rfc3339(),
            end_text: None,
        }),
        location: Some(json!({"type": "Point", "coordinates": [2.5, 48.75]})),
        observation_space: Some(json!({"type": "Point", "coordinates": [2.25, 48.5]})),
        operation_space: Some(json!({"type": "Point", "coordinates": [2.0, 48.25]})),
        expires_at: Some(instant() + Duration::days(365)),
        expires_at_text: Some((instant() + Duration::days(365)).to_rfc3339()),
        endpoint: "http://parking.example.org:1026".to_owned(),
        context_source_info: Some(vec![KeyValuePair {
            key: "Authorization".to_owned(),
            value: "Bearer abc".to_owned(),
        }]),
        context_source_alias: Some("parking".to_owned()),
        scope: Some(json!(["/Paris/Parking"])),
        mode: Some(Mode::Exclusive),
        operations: Some(vec!["retrieveOps".to_owned(), "updateOps".to_owned()]),
        refresh_rate: Some("PT1M".to_owned()),
        management: Some(ManagementInfo {
            local_only: Some(true),
            timeout: Some(1500.0),
            cooldown: Some(250.5),
            cache_duration: Some("PT10S".to_owned()),
        }),
        dataset_id: Some(vec!["@none".to_owned(), "urn:ngsi-ld:Dataset:1".to_owned()]),
        properties: BTreeMap::from([(
            "https://example.org/ns#operator".to_owned(),
            json!({"name": "city", "since": 2020}),
        )]),
        created_at: instant(),
        modified_at: instant() + Duration::seconds(5),
        status: ForwardingStatus {
            times_sent: 7,
            times_failed: 2,
            last_success: Some(instant() + Duration::seconds(10)),
            last_failure: Some(instant() + Duration::seconds(3)),
        },
    }
}

/// The registrations `all_registrations` lists for one tenant, by id.
async fn registrations_of<S: RegistrationStore>(
    store: &S,
    tenant: &Tenant,
) -> BTreeMap<String, Registration> {
    store
        .all_registrations()
        .await
        .expect("all_registrations")
        .into_iter()
        .filter(|(t, _)| t == tenant)
        .map(|(_, r)| (r.id.clone(), r))
        .collect()
}

/// A created registration reads back whole, under its tenant only.
pub async fn created_registration_reads_back_whole_under_its_tenant<
    S: EntityStore + RegistrationStore,
>(
    store: Arc<S>,
) {
    let tenant = named("csr-create");
    let other = named("csr-create-other");
    let reg = sample_registration("urn:ngsi-ld:ContextSourceRegistration:c1");
    assert!(store
        .create_registration(&tenant, &reg)
        .await
        .expect("create"));
    let listed = registrations_of(&*store, &tenant).await;
    assert_eq!(listed.get(&reg.id), Some(&reg));
    assert!(registrations_of(&*store, &other).await.is_empty());
    assert!(
        store.tenant_exists(&tenant).await.expect("tenant_exists"),
        "a registration makes its tenant exist"
    );
}

/// A second create with the same id in a tenant changes nothing; another tenant may use it.
pub async fn a_duplicate_registration_id_is_refused_within_a_tenant_only<
    S: EntityStore + RegistrationStore,
>(
    store: Arc<S>,
) {
    let tenant = named("csr-duplicate");
    let other = named("csr-duplicate-other");
    let first = sample_registration("urn:ngsi-ld:ContextSourceRegistration:d1");
    let mut second = first.clone();
    second.endpoint = "http://elsewhere.example.org".to_owned();
    assert!(store
        .create_registration(&tenant, &first)
        .await
        .expect("create"));
    assert!(!store
        .create_registration(&tenant, &second)
        .await
        .expect("duplicate"));
    assert_eq!(
        registrations_of(&*store, &tenant).await[&first.id].endpoint,
        first.endpoint
    );
    assert!(store
        .create_registration(&other, &second)
        .await
        .expect("other tenant"));
    assert_eq!(
        registrations_of(&*store, &other).await[&first.id].endpoint,
        second.endpoint
    );
}

/// Replacing and deleting answer whether the registration was there; a replacement keeps
/// the stored forwarding status.
pub async fn registrations_are_replaced_and_deleted_when_present<
    S: EntityStore + RegistrationStore,
>(
    store: Arc<S>,
) {
    let tenant = named("csr-replace");
    let reg = sample_registration("urn:ngsi-ld:ContextSourceRegistration:r1");
    assert!(!store
        .replace_registration(&tenant, &reg)
        .await
        .expect("replace unknown"));
    assert!(registrations_of(&*store, &tenant).await.is_empty());
    store
        .create_registration(&tenant, &reg)
        .await
        .expect("create");
    let mut changed = reg.clone();
    changed.description = None;
    changed.mode = Some(Mode::Redirect);
    // A replacement's forwarding status is not taken: the stored one stays.
    changed.status = ForwardingStatus::default();
    assert!(store
        .replace_registration(&tenant, &changed)
        .await
        .expect("replace"));
    changed.status = reg.status.clone();
    assert_eq!(registrations_of(&*store, &tenant).await[&reg.id], changed);
    assert!(store
        .delete_registration(&tenant, &reg.id)
        .await
        .expect("delete"));
    assert!(!store
        .delete_registration(&tenant, &reg.id)
        .await
        .expect("delete again"));
    assert!(registrations_of(&*store, &tenant).await.is_empty());
}

/// Forwarding counts add up (also when added concurrently, as brokers sharing a store do),
/// times take the later, the sums show in the listing, and counts never bring back a
/// deleted registration.
pub async fn forwarding_counts_add_up_for_existing_registrations_only<
    S: EntityStore + RegistrationStore + 'static,
>(
    store: Arc<S>,
) {
    let tenant = named("csr-status");
    let kept = sample_registration("urn:ngsi-ld:ContextSourceRegistration:s1");
    let gone = sample_registration("urn:ngsi-ld:ContextSourceRegistration:s2");
    store
        .create_registration(&tenant, &kept)
        .await
        .expect("create");
    store
        .create_registration(&tenant, &gone)
        .await
        .expect("create");
    store
        .delete_registration(&tenant, &gone.id)
        .await
        .expect("delete");
    // The sample has sent 7, failed 2, succeeded at +10 s and failed at +3 s.
    let counted = ForwardingStatus {
        times_sent: 40,
        times_failed: 1,
        last_success: Some(instant() + Duration::seconds(60)),
        last_failure: Some(instant() + Duration::seconds(1)),
    };
    store
        .add_forwarding_status(vec![
            (tenant.clone(), kept.id.clone(), counted.clone()),
            (tenant.clone(), gone.id.clone(), counted.clone()),
        ])
        .await
        .expect("add");
    let adders: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let tenant = tenant.clone();
            let id = kept.id.clone();
            tokio::spawn(async move {
                let one = ForwardingStatus {
                    times_sent: 1,
                    ..ForwardingStatus::default()
                };
                store
                    .add_forwarding_status(vec![(tenant, id, one)])
                    .await
                    .expect("add concurrently");
            })
        })
        .collect();
    for adder in adders {
        adder.await.expect("adder");
    }
    let listed = registrations_of(&*store, &tenant).await;
    assert_eq!(listed.len(), 1, "the deleted registration stays deleted");
    assert_eq!(
        listed[&kept.id].status,
        ForwardingStatus {
            times_sent: 7 + 40 + 8,
            times_failed: 2 + 1,
            last_success: Some(instant() + Duration::seconds(60)),
            last_failure: Some(instant() + Duration::seconds(3)),
        }
    );
    store
        .add_forwarding_status(Vec::new())
        .await
        .expect("nothing to add");
}

/// Runs every registration check, each on a fresh store from `make`.
pub async fn run_registration_checks<S, F, Fut>(mut make: F)
where
    S: EntityStore + RegistrationStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<S>>,
{
    created_registration_reads_back_whole_under_its_tenant(make().await).await;
    a_duplicate_registration_id_is_refused_within_a_tenant_only(make().await).await;
    registrations_are_replaced_and_deleted_when_present(make().await).await;
    forwarding_counts_add_up_for_existing_registrations_only(make().await).await;
}
