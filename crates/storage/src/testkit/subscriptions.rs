//! Contract checks: durable subscriptions and their delivery counters, per tenant.
//!
//! `all_subscriptions` lists every tenant, so each check looks only at its own tenants (the
//! checks also pass side by side on one store). Durability across a restart is backend
//! specific (closing and reopening): backends test it in their own tests.

use std::collections::BTreeMap;

use chrono::Duration;
use rigel_model::codec::render::Format;
use rigel_model::subscription::{
    DeliveryOutcome, DeliveryStatus, Endpoint, Join, KeyValuePair, NotificationMedia,
    NotificationParams, Owner, SubscribedEntities, Subscription, SubscriptionGeoQuery,
    SubscriptionKind, SubscriptionTemporalQuery, Trigger,
};

use super::*;
use crate::SubscriptionStore;

/// A subscription with every field set (no `None`, no empty list), so a backend that drops
/// or mangles any field fails the round trip; public so backends can use it in their own
/// tests. Floats are exact binary fractions so they survive any text encoding.
pub fn sample_subscription(id: &str) -> Subscription {
    Subscription {
        id: id.to_owned(),
        subscription_name: Some("Hot rooms".to_owned()),
        description: Some("Rooms above 25 degrees".to_owned()),
        entities: vec![SubscribedEntities {
            id: Some("urn:ngsi-ld:Room:1".to_owned()),
            id_pattern: Some("urn:ngsi-ld:Room:.*".to_owned()),
            type_selection: "Room|Sensor".to_owned(),
        }],
        watched_attributes: Some(vec![A_TEMP.to_owned()]),
        notification_trigger: Some(vec![Trigger::AttributeUpdated, Trigger::EntityDeleted]),
        q: Some("temperature>25".to_owned()),
        geo_q: Some(SubscriptionGeoQuery {
            geometry: "Point".to_owned(),
            coordinates: json!([8.5, 47.25]),
            georel: "near;maxDistance==2000".to_owned(),
            geoproperty: Some("https://example.org/ns#position".to_owned()),
        }),
        scope_q: Some("/building/#".to_owned()),
        lang: Some("en".to_owned()),
        dataset_id: Some(vec!["@none".to_owned(), "urn:ngsi-ld:Dataset:1".to_owned()]),
        expand_values: Some("category".to_owned()),
        json_keys: Some("config".to_owned()),
        csf: Some("brand==Acme".to_owned()),
        local_only: Some(true),
        split_entities: Some(false),
        ngsild_conformance: Some("1.9.1".to_owned()),
        expires_at: Some(instant() + Duration::days(365)),
        is_active: true,
        throttling: Some(2.5),
        time_interval: Some(60.0),
        jsonld_context: "https://example.org/context.jsonld".to_owned(),
        jsonld_context_written: true,
        kind: SubscriptionKind::Entities,
        temporal_q: Some(SubscriptionTemporalQuery {
            timerel: "between".to_owned(),
            time_at: instant(),
            time_at_text: "2024-01-01T00:00:00Z".to_owned(),
            end_time_at: Some(instant() + Duration::days(1)),
            end_time_at_text: Some("2024-01-02T00:00:00.000Z".to_owned()),
            timeproperty: Some("modifiedAt".to_owned()),
        }),
        terms: BTreeMap::from([
            ("Room".to_owned(), T_ROOM.to_owned()),
            ("temperature".to_owned(), A_TEMP.to_owned()),
        ]),
        notification: NotificationParams {
            attributes: Some(vec![A_TEMP.to_owned()]),
            pick: Some(vec!["id".to_owned(), "temperature".to_owned()]),
            omit: Some(vec!["location".to_owned()]),
            format: Format::KeyValues,
            sys_attrs: true,
            show_changes: true,
            join: Some(Join::Inline),
            join_level: Some(2),
            endpoint: Endpoint {
                uri: "https://receiver.example.org/notify".to_owned(),
                accept: NotificationMedia::JsonLd,
                timeout_ms: Some(1500.0),
                cooldown_ms: Some(250.5),
                receiver_info: vec![KeyValuePair {
                    key: "Authorization".to_owned(),
                    value: "Bearer abc".to_owned(),
                }],
                notifier_info: vec![KeyValuePair {
                    key: "MQTT-QoS".to_owned(),
                    value: "1".to_owned(),
                }],
            },
        },
        created_at: instant(),
        modified_at: instant() + Duration::seconds(1),
        delivery: sample_status(3, 1),
        owner: Some(Owner {
            subject: "alice".to_owned(),
            roles: vec!["operator".to_owned(), "viewer".to_owned()],
        }),
    }
}

/// Delivery counters with every field set; `sent` and `failed` tell statuses apart.
pub fn sample_status(sent: u64, failed: u64) -> DeliveryStatus {
    let offset = i64::try_from(sent).unwrap_or(0);
    DeliveryStatus {
        times_sent: sent,
        times_failed: failed,
        last_notification: Some(instant() + Duration::seconds(offset + 2)),
        last_success: Some(instant() + Duration::seconds(offset + 1)),
        last_failure: Some(instant() + Duration::milliseconds(offset * 10 + 3)),
        outcome: Some(DeliveryOutcome::Failed),
        lost: failed + 7,
    }
}

/// The stored subscriptions of one tenant, in id order.
async fn subscriptions_of<S: SubscriptionStore>(store: &S, tenant: &Tenant) -> Vec<Subscription> {
    let mut own: Vec<Subscription> = store
        .all_subscriptions()
        .await
        .expect("all_subscriptions")
        .into_iter()
        .filter(|(t, _)| t == tenant)
        .map(|(_, s)| s)
        .collect();
    own.sort_by(|a, b| a.id.cmp(&b.id));
    own
}

async fn create_subscription<S: SubscriptionStore>(
    store: &S,
    tenant: &Tenant,
    subscription: &Subscription,
) {
    assert!(
        store
            .create_subscription(tenant, subscription)
            .await
            .expect("create_subscription"),
        "create of the fresh subscription {} in {tenant} returned false",
        subscription.id
    );
}

fn status_of(
    tenant: &Tenant,
    id: &str,
    status: DeliveryStatus,
) -> (Tenant, String, DeliveryStatus) {
    (tenant.clone(), id.to_owned(), status)
}

/// A created subscription is listed under its tenant, equal to what was stored (every
/// field, its kind and delivery counters included).
pub async fn created_subscription_is_listed_under_its_tenant<S: SubscriptionStore>(store: Arc<S>) {
    let tenant = named("sub-listed");
    let first = sample_subscription("urn:ngsi-ld:Subscription:listed-1");
    let mut second = sample_subscription("urn:ngsi-ld:Subscription:listed-2");
    second.delivery = DeliveryStatus::default();
    second.geo_q = None;
    second.kind = SubscriptionKind::Registrations;
    create_subscription(&*store, &tenant, &second).await;
    create_subscription(&*store, &tenant, &first).await;
    assert_eq!(subscriptions_of(&*store, &tenant).await, [first, second]);
}

/// Creating a subscription whose id the tenant already has returns false and leaves the
/// first one as it was.
pub async fn creating_a_duplicate_subscription_returns_false_and_keeps_the_first<
    S: SubscriptionStore,
>(
    store: Arc<S>,
) {
    let tenant = named("sub-duplicate");
    let first = sample_subscription("urn:ngsi-ld:Subscription:dup");
    create_subscription(&*store, &tenant, &first).await;
    let mut second = first.clone();
    second.description = Some("the second one".to_owned());
    second.is_active = false;
    second.delivery = sample_status(99, 99);
    let created = store
        .create_subscription(&tenant, &second)
        .await
        .expect("create_subscription");
    assert!(!created, "a duplicate create must return false");
    assert_eq!(subscriptions_of(&*store, &tenant).await, [first]);
}

/// The same id in other tenants (names sharing a prefix, and the default tenant) is another
/// subscription: created, replaced and deleted independently.
pub async fn the_same_subscription_id_in_another_tenant_is_independent<S: SubscriptionStore>(
    store: Arc<S>,
) {
    let id = "urn:ngsi-ld:Subscription:shared-id-probe";
    let tenants = [
        Tenant::default_tenant(),
        named("sub-iso"),
        named("sub-iso2"),
        named("sub-is"),
    ];
    for (i, tenant) in tenants.iter().enumerate() {
        let mut subscription = sample_subscription(id);
        subscription.description = Some(format!("tenant {i}"));
        create_subscription(&*store, tenant, &subscription).await;
    }
    let mut replaced = sample_subscription(id);
    replaced.description = Some("replaced in sub-iso2".to_owned());
    assert!(store
        .replace_subscription(&tenants[2], &replaced)
        .await
        .expect("replace_subscription"));
    assert!(store
        .delete_subscription(&tenants[1], id)
        .await
        .expect("delete_subscription"));

    assert!(subscriptions_of(&*store, &tenants[1]).await.is_empty());
    assert_eq!(subscriptions_of(&*store, &tenants[2]).await, [replaced]);
    for (i, tenant) in [(0, &tenants[0]), (3, &tenants[3])] {
        let own = subscriptions_of(&*store, tenant).await;
        let probes: Vec<_> = own.iter().filter(|s| s.id == id).collect();
        assert_eq!(probes.len(), 1, "tenant {tenant}");
        assert_eq!(probes[0].description, Some(format!("tenant {i}")));
    }
}

/// Replacing a subscription nobody created returns false and stores nothing.
pub async fn replacing_an_unknown_subscription_returns_false<S: SubscriptionStore>(store: Arc<S>) {
    let tenant = named("sub-replace-unknown");
    let replaced = store
        .replace_subscription(
            &tenant,
            &sample_subscription("urn:ngsi-ld:Subscription:nope"),
        )
        .await
        .expect("replace_subscription");
    assert!(
        !replaced,
        "replace of an unknown subscription must return false"
    );
    assert!(subscriptions_of(&*store, &tenant).await.is_empty());
}

/// A replaced subscription reads back as the replacement, changed fields and all.
pub async fn replacing_a_subscription_keeps_the_updated_fields<S: SubscriptionStore>(
    store: Arc<S>,
) {
    let tenant = named("sub-replace");
    let original = sample_subscription("urn:ngsi-ld:Subscription:replaced");
    create_subscription(&*store, &tenant, &original).await;
    let mut updated = original.clone();
    updated.is_active = false;
    updated.q = Some("temperature<10".to_owned());
    updated.watched_attributes = None;
    updated.notification.endpoint.uri = "mqtt://broker.example.org/topic".to_owned();
    updated.notification.format = Format::Concise;
    updated.modified_at = instant() + Duration::hours(1);
    updated.delivery = sample_status(10, 4);
    assert!(store
        .replace_subscription(&tenant, &updated)
        .await
        .expect("replace_subscription"));
    assert_eq!(subscriptions_of(&*store, &tenant).await, [updated]);
}

/// Deleting returns true while the subscription exists and false afterwards; it is gone from
/// the listing, and the tenant's other subscriptions stay.
pub async fn deleting_a_subscription_returns_true_then_false<S: SubscriptionStore>(store: Arc<S>) {
    let tenant = named("sub-delete");
    let doomed = sample_subscription("urn:ngsi-ld:Subscription:doomed");
    let kept = sample_subscription("urn:ngsi-ld:Subscription:kept");
    create_subscription(&*store, &tenant, &doomed).await;
    create_subscription(&*store, &tenant, &kept).await;
    let delete = || store.delete_subscription(&tenant, &doomed.id);
    assert!(delete().await.expect("delete_subscription"));
    assert!(!delete().await.expect("delete_subscription"));
    assert_eq!(subscriptions_of(&*store, &tenant).await, [kept]);
    assert!(!store
        .delete_subscription(&named("sub-delete-never"), "urn:ngsi-ld:Subscription:x")
        .await
        .expect("delete_subscription"));
}

/// Counters saved for a deleted (or never created) subscription are skipped: nothing comes
/// back to life, and the id can be created afresh with its own counters.
pub async fn status_saved_for_a_deleted_subscription_does_not_resurrect_it<S: SubscriptionStore>(
    store: Arc<S>,
) {
    let tenant = named("sub-resurrect");
    let gone = sample_subscription("urn:ngsi-ld:Subscription:gone");
    create_subscription(&*store, &tenant, &gone).await;
    assert!(store
        .delete_subscription(&tenant, &gone.id)
        .await
        .expect("delete_subscription"));
    store
        .save_delivery_status(vec![
            status_of(&tenant, &gone.id, sample_status(50, 5)),
            status_of(
                &tenant,
                "urn:ngsi-ld:Subscription:never",
                sample_status(1, 0),
            ),
        ])
        .await
        .expect("save_delivery_status");
    assert!(subscriptions_of(&*store, &tenant).await.is_empty());

    let mut again = sample_subscription(&gone.id);
    again.delivery = DeliveryStatus::default();
    create_subscription(&*store, &tenant, &again).await;
    assert_eq!(subscriptions_of(&*store, &tenant).await, [again]);
}

/// Saved counters show in the listing in place of the ones the subscription was created
/// with; the rest of the subscription is unchanged.
pub async fn saved_delivery_status_shows_in_all_subscriptions<S: SubscriptionStore>(store: Arc<S>) {
    let tenant = named("sub-status");
    let mut subscription = sample_subscription("urn:ngsi-ld:Subscription:counted");
    create_subscription(&*store, &tenant, &subscription).await;
    for sent in [20, 21] {
        let status = sample_status(sent, 2);
        store
            .save_delivery_status(vec![status_of(&tenant, &subscription.id, status.clone())])
            .await
            .expect("save_delivery_status");
        subscription.delivery = status;
        assert_eq!(
            subscriptions_of(&*store, &tenant).await,
            [subscription.clone()]
        );
    }
    store
        .save_delivery_status(Vec::new())
        .await
        .expect("saving no statuses succeeds");
    assert_eq!(subscriptions_of(&*store, &tenant).await, [subscription]);
}

/// One save carries the counters of several subscriptions across tenants; subscriptions not
/// in it keep theirs.
pub async fn delivery_statuses_of_several_subscriptions_save_at_once<S: SubscriptionStore>(
    store: Arc<S>,
) {
    let tenants = [named("sub-batch-a"), named("sub-batch-b")];
    let ids = [
        "urn:ngsi-ld:Subscription:batch-1",
        "urn:ngsi-ld:Subscription:batch-2",
        "urn:ngsi-ld:Subscription:batch-3",
    ];
    for tenant in &tenants {
        for id in ids {
            create_subscription(&*store, tenant, &sample_subscription(id)).await;
        }
    }
    store
        .save_delivery_status(vec![
            status_of(&tenants[0], ids[0], sample_status(100, 0)),
            status_of(&tenants[0], ids[2], sample_status(102, 2)),
            status_of(&tenants[1], ids[1], sample_status(201, 1)),
        ])
        .await
        .expect("save_delivery_status");
    let untouched = sample_subscription(ids[0]).delivery;
    let expected = [
        [
            sample_status(100, 0),
            untouched.clone(),
            sample_status(102, 2),
        ],
        [untouched.clone(), sample_status(201, 1), untouched],
    ];
    for (tenant, statuses) in tenants.iter().zip(expected) {
        let stored = subscriptions_of(&*store, tenant).await;
        let found: Vec<_> = stored.into_iter().map(|s| s.delivery).collect();
        assert_eq!(found, statuses, "tenant {tenant}");
    }
}

/// A replace after a status save stores the replacement's counters (the caller passes the
/// whole subscription, counters included), not the ones saved before it.
pub async fn replacing_after_a_status_save_keeps_the_replacements_counters<S: SubscriptionStore>(
    store: Arc<S>,
) {
    let tenant = named("sub-replace-status");
    let original = sample_subscription("urn:ngsi-ld:Subscription:replace-status");
    create_subscription(&*store, &tenant, &original).await;
    store
        .save_delivery_status(vec![status_of(&tenant, &original.id, sample_status(40, 4))])
        .await
        .expect("save_delivery_status");
    let mut replacement = original.clone();
    replacement.description = Some("replaced after a status save".to_owned());
    replacement.delivery = sample_status(41, 0);
    assert!(store
        .replace_subscription(&tenant, &replacement)
        .await
        .expect("replace_subscription"));
    assert_eq!(
        subscriptions_of(&*store, &tenant).await,
        [replacement.clone()]
    );
    // Later saves still apply on top of the replacement.
    store
        .save_delivery_status(vec![status_of(&tenant, &original.id, sample_status(42, 0))])
        .await
        .expect("save_delivery_status");
    replacement.delivery = sample_status(42, 0);
    assert_eq!(subscriptions_of(&*store, &tenant).await, [replacement]);
}

/// Creating a subscription in a named tenant makes the tenant exist (as an entity write
/// does); a create that returned false, a replace of an unknown subscription or a status
/// save for one do not.
pub async fn creating_a_subscription_registers_its_tenant<S>(store: Arc<S>)
where
    S: EntityStore + SubscriptionStore,
{
    let exists = |tenant: Tenant| {
        let store = Arc::clone(&store);
        async move { store.tenant_exists(&tenant).await.expect("tenant_exists") }
    };
    let untouched = named("sub-tenant-untouched");
    let probe = sample_subscription("urn:ngsi-ld:Subscription:tenant-probe");
    assert!(!store
        .replace_subscription(&untouched, &probe)
        .await
        .expect("replace_subscription"));
    store
        .save_delivery_status(vec![status_of(&untouched, &probe.id, sample_status(1, 1))])
        .await
        .expect("save_delivery_status");
    assert!(!store
        .delete_subscription(&untouched, &probe.id)
        .await
        .expect("delete_subscription"));
    assert!(!exists(untouched).await);

    let tenant = named("sub-tenant-created");
    assert!(!exists(tenant.clone()).await);
    create_subscription(&*store, &tenant, &probe).await;
    assert!(exists(tenant.clone()).await);
    assert!(store
        .delete_subscription(&tenant, &probe.id)
        .await
        .expect("delete_subscription"));
    assert!(exists(tenant).await, "a tenant is never removed");
}

/// Runs every subscription check, each on a fresh store from `make`.
pub async fn run_subscription_checks<S, F, Fut>(mut make: F)
where
    S: EntityStore + SubscriptionStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<S>>,
{
    created_subscription_is_listed_under_its_tenant(make().await).await;
    creating_a_duplicate_subscription_returns_false_and_keeps_the_first(make().await).await;
    the_same_subscription_id_in_another_tenant_is_independent(make().await).await;
    replacing_an_unknown_subscription_returns_false(make().await).await;
    replacing_a_subscription_keeps_the_updated_fields(make().await).await;
    deleting_a_subscription_returns_true_then_false(make().await).await;
    status_saved_for_a_deleted_subscription_does_not_resurrect_it(make().await).await;
    saved_delivery_status_shows_in_all_subscriptions(make().await).await;
    delivery_statuses_of_several_subscriptions_save_at_once(make().await).await;
    replacing_after_a_status_save_keeps_the_replacements_counters(make().await).await;
    creating_a_subscription_registers_its_tenant(make().await).await;
}
