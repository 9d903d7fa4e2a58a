//! Context Source Registration Subscriptions (clauses 5.11, 5.3.2, 5.3.3; HTTP 6.12, 6.13):
//! their resources, and the notifications registration changes send. Every test works in a
//! tenant of its own, so registrations of other tests (some match any type) stay out.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

const WAIT: Duration = Duration::from_secs(5);
/// How long a test watches for a notification that should not come.
const QUIET: Duration = Duration::from_millis(700);

/// A test's own tenant.
struct Tenant(String);

impl Tenant {
    fn new() -> Self {
        Self(unique_tenant())
    }

    fn on(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header("NGSILD-Tenant", &self.0)
    }

    async fn register(&self, body: &Value) {
        send(self.on(post("/csourceRegistrations")).json(body))
            .await
            .expect_status(201);
    }

    async fn update_registration(&self, id: &str, fragment: &Value) {
        send(
            self.on(patch(&format!("/csourceRegistrations/{id}")))
                .json(fragment),
        )
        .await
        .expect_status(204);
    }

    async fn unregister(&self, id: &str) {
        send(self.on(delete(&format!("/csourceRegistrations/{id}"))))
            .await
            .expect_status(204);
    }

    /// Creates a registration subscription, asserting 201; its id.
    async fn subscribe(&self, body: &Value) -> String {
        let reply = send(self.on(post("/csourceSubscriptions")).json(body))
            .await
            .expect_status(201);
        let location = reply.header("Location").expect("Location").to_owned();
        location
            .strip_prefix("/ngsi-ld/v1/csourceSubscriptions/")
            .unwrap_or_else(|| panic!("Location {location:?} is not a csourceSubscription"))
            .to_owned()
    }
}

fn csr_id(test: &str) -> String {
    format!("urn:ngsi-ld:ContextSourceRegistration:{test}-{}", nonce())
}

/// An inclusive registration of entities of `entity_type` holding `properties` (none:
/// every attribute).
fn registration(id: &str, entity_type: &str, properties: &[&str]) -> Value {
    crate::registrations::registration(id, entity_type, properties, "inclusive")
}

/// A registration subscription to sources of `entity_type`, notifying `receiver`.
fn subscription(entity_type: &str, receiver: &Receiver) -> Value {
    json!({
        "type": "Subscription",
        "entities": [{"type": entity_type}],
        "notification": {"endpoint": {"uri": receiver.url(), "accept": "application/json"}}
    })
}

/// The ids of the registrations a notification carries.
fn ids(notification: &Received) -> Vec<String> {
    notification
        .data()
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Clauses 5.11.2-5.11.6 and 6.12/6.13: create (201 and Location), retrieve (as written,
/// with its status and no entity-only members), query, update, delete (then 404); the
/// resource is not a subscription of `/subscriptions`, nor the other way round.
#[tokio::test]
async fn a_registration_subscription_has_a_resource_of_its_own() {
    let tenant = Tenant::new();
    let receiver = Receiver::start();
    let mut body = subscription("Building", &receiver);
    body["id"] = json!(format!("urn:ngsi-ld:Subscription:csr-crud-{}", nonce()));
    body["temporalQ"] = json!({"timerel": "after", "timeAt": "2020-06-01T22:07:00Z"});
    let id = tenant.subscribe(&body).await;
    assert_eq!(json!(id), body["id"]);

    let path = format!("/csourceSubscriptions/{id}");
    let read = send(tenant.on(get(&path))).await.expect_status(200).json();
    assert_eq!(read["entities"], body["entities"]);
    assert_eq!(read["temporalQ"], body["temporalQ"]);
    assert_eq!(read["status"], "active");
    assert!(read.get("notificationTrigger").is_none(), "{read}");
    assert!(read.get("jsonldContext").is_none(), "{read}");

    let entity_path = format!("/subscriptions/{id}");
    let other = send(tenant.on(get(&entity_path))).await;
    assert_problem(&other, 404, "ResourceNotFound");
    let listed = send(tenant.on(get("/subscriptions")))
        .await
        .expect_status(200);
    assert_eq!(listed.json(), json!([]));
    let listed = send(tenant.on(get("/csourceSubscriptions?count=true")))
        .await
        .expect_status(200);
    assert_eq!(listed.header("NGSILD-Results-Count"), Some("1"));
    assert_eq!(listed.json()[0]["id"], json!(id));

    let again = send(tenant.on(post("/csourceSubscriptions")).json(&body)).await;
    assert_problem(&again, 409, "AlreadyExists");

    send(tenant.on(patch(&path)).json(&json!({"isActive": false})))
        .await
        .expect_status(204);
    let read = send(tenant.on(get(&path))).await.expect_status(200).json();
    assert_eq!(read["status"], "paused");

    send(tenant.on(delete(&entity_path)))
        .await
        .expect_status(404);
    send(tenant.on(delete(&path))).await.expect_status(204);
    assert_problem(&send(tenant.on(get(&path))).await, 404, "ResourceNotFound");
}

/// Clauses 5.11.2.4 and 5.2.21: a body that breaks the Subscription data type, or a
/// temporal query that breaks clause 4.11, is BadRequestData.
#[tokio::test]
async fn an_invalid_registration_subscription_is_bad_request_data() {
    let receiver = Receiver::start();
    let valid = subscription("Building", &receiver);
    let mut no_notification = valid.clone();
    no_notification
        .as_object_mut()
        .unwrap()
        .remove("notification");
    let mut bad_temporal = valid.clone();
    bad_temporal["temporalQ"] = json!({"timerel": "between", "timeAt": "2020-06-01T22:07:00Z"});
    let mut empty_watched = valid.clone();
    empty_watched["watchedAttributes"] = json!([]);
    let mut expired = valid.clone();
    expired["expiresAt"] = json!("2001-01-01T00:00:00Z");
    for body in [no_notification, bad_temporal, empty_watched, expired] {
        let reply = send(post("/csourceSubscriptions").json(&body)).await;
        assert_problem(&reply, 400, "BadRequestData");
    }
}

/// Clauses 5.11.7 and 5.3.3: a registration that starts to match is notified as
/// `newlyMatching`, one updated that still matches as `updated`, one that stops matching as
/// `noLongerMatching`, and a deleted one as `noLongerMatching`; the notification is a
/// ContextSourceNotification of the subscription.
#[tokio::test]
async fn registration_changes_notify_with_their_trigger_reason() {
    let tenant = Tenant::new();
    let receiver = Receiver::start();
    let sub = tenant.subscribe(&subscription("Building", &receiver)).await;
    let first = csr_id("reasons-1");
    let second = csr_id("reasons-2");

    tenant
        .register(&registration(&first, "Building", &["name"]))
        .await;
    let got = receiver.expect(1, WAIT).await;
    let n = &got[0];
    assert_eq!(n.body["type"], "ContextSourceNotification");
    assert_eq!(n.body["subscriptionId"], json!(sub));
    assert_eq!(n.body["triggerReason"], "newlyMatching");
    assert!(n.body["notifiedAt"].is_string());
    assert_eq!(ids(n), [first.as_str()]);
    assert_eq!(
        n.data()[0]["information"][0]["entities"][0]["type"],
        json!(["Building"])
    );

    tenant
        .update_registration(&first, &json!({"description": "renamed"}))
        .await;
    let got = receiver.expect(2, WAIT).await;
    assert_eq!(got[1].body["triggerReason"], "updated");
    assert_eq!(got[1].data()[0]["description"], "renamed");

    let elsewhere = json!({"information": [{"entities": [{"type": "Vehicle"}]}]});
    tenant.update_registration(&first, &elsewhere).await;
    let got = receiver.expect(3, WAIT).await;
    assert_eq!(got[2].body["triggerReason"], "noLongerMatching");
    assert_eq!(ids(&got[2]), [first.as_str()]);

    // A registration that matches no longer is deleted without a word.
    tenant.unregister(&first).await;
    tenant
        .register(&registration(&second, "Building", &[]))
        .await;
    let got = receiver.expect(4, WAIT).await;
    assert_eq!(got[3].body["triggerReason"], "newlyMatching");
    assert_eq!(ids(&got[3]), [second.as_str()]);
    tenant.unregister(&second).await;
    let got = receiver.expect(5, WAIT).await;
    assert_eq!(got[4].body["triggerReason"], "noLongerMatching");
    assert_eq!(ids(&got[4]), [second]);
    assert_eq!(receiver.wait_for(6, QUIET).await.len(), 5);

    let path = format!("/csourceSubscriptions/{sub}");
    let read = send(tenant.on(get(&path))).await.expect_status(200).json();
    assert_eq!(read["notification"]["timesSent"], 5, "{read}");
    assert_eq!(read["notification"]["status"], "ok", "{read}");
}

/// Clauses 5.11.2.4, 5.11.3.4 and 5.11.7: a new subscription is notified of the registrations
/// matching then, with only their matching RegistrationInfo elements; so is one just
/// updated, with every registration its new selection matches.
#[tokio::test]
async fn a_new_or_updated_subscription_is_told_what_matches_then() {
    let tenant = Tenant::new();
    let receiver = Receiver::start();
    let building = csr_id("initial-building");
    let vehicle = csr_id("initial-vehicle");
    let mut both = registration(&building, "Building", &["name"]);
    both["information"]
        .as_array_mut()
        .unwrap()
        .push(json!({"entities": [{"type": "Shop"}]}));
    tenant.register(&both).await;
    tenant
        .register(&registration(&vehicle, "Vehicle", &[]))
        .await;

    let sub = tenant.subscribe(&subscription("Building", &receiver)).await;
    let got = receiver.expect(1, WAIT).await;
    assert_eq!(got[0].body["triggerReason"], "newlyMatching");
    assert_eq!(ids(&got[0]), [building.as_str()]);
    let information = got[0].data()[0]["information"].as_array().unwrap();
    assert_eq!(
        information.len(),
        1,
        "only the matching element: {information:?}"
    );

    let fragment = json!({"entities": [{"type": "Building"}, {"type": "Vehicle"}]});
    send(
        tenant
            .on(patch(&format!("/csourceSubscriptions/{sub}")))
            .json(&fragment),
    )
    .await
    .expect_status(204);
    let got = receiver.expect(2, WAIT).await;
    assert_eq!(got[1].body["triggerReason"], "newlyMatching");
    let mut notified = ids(&got[1]);
    notified.sort();
    let mut expected = vec![building, vehicle];
    expected.sort();
    assert_eq!(notified, expected);
}

/// Clause 5.11.2.4: watched attributes and notification attributes select the registration
/// elements that register one of them (or whole entities); a temporal query selects only
/// registrations with a time interval that meets it, and without one only those without.
#[tokio::test]
async fn attributes_and_time_select_the_registrations_notified() {
    let tenant = Tenant::new();
    let receiver = Receiver::start();
    let mut watching = subscription("Building", &receiver);
    watching["watchedAttributes"] = json!(["name"]);
    tenant.subscribe(&watching).await;
    let temporal_receiver = Receiver::start();
    let mut temporal = subscription("Building", &temporal_receiver);
    temporal["temporalQ"] = json!({"timerel": "after", "timeAt": "2020-06-01T00:00:00Z"});
    tenant.subscribe(&temporal).await;

    let other_attribute = csr_id("attrs-other");
    tenant
        .register(&registration(&other_attribute, "Building", &["height"]))
        .await;
    let named = csr_id("attrs-named");
    tenant
        .register(&registration(&named, "Building", &["name", "height"]))
        .await;
    let with_interval = csr_id("attrs-interval");
    let mut timed = registration(&with_interval, "Building", &["name"]);
    timed["observationInterval"] = json!({"startAt": "2021-01-01T00:00:00Z"});
    tenant.register(&timed).await;

    let got = receiver.expect(1, WAIT).await;
    assert_eq!(ids(&got[0]), [named]);
    assert_eq!(receiver.wait_for(2, QUIET).await.len(), 1);
    let got = temporal_receiver.expect(1, WAIT).await;
    assert_eq!(ids(&got[0]), [with_interval]);
    assert_eq!(temporal_receiver.wait_for(2, QUIET).await.len(), 1);
}

/// Clause 5.11.7: a periodic subscription is notified at creation and every interval of the
/// registrations that match, even none; a paused one is not notified.
#[tokio::test]
async fn a_periodic_subscription_is_notified_every_interval() {
    let tenant = Tenant::new();
    let receiver = Receiver::start();
    let mut periodic = subscription("Building", &receiver);
    periodic["timeInterval"] = json!(1);
    let sub = tenant.subscribe(&periodic).await;
    let got = receiver.expect(1, WAIT).await;
    assert_eq!(got[0].data().len(), 0);

    let csr = csr_id("periodic");
    tenant.register(&registration(&csr, "Building", &[])).await;
    let got = receiver
        .wait_until(WAIT, |r| r.last().is_some_and(|n| !n.data().is_empty()))
        .await;
    assert_eq!(ids(got.last().unwrap()), [csr]);

    send(
        tenant
            .on(patch(&format!("/csourceSubscriptions/{sub}")))
            .json(&json!({"isActive": false})),
    )
    .await
    .expect_status(204);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = receiver.received().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.received().len(),
        before,
        "a paused subscription is quiet"
    );
}
