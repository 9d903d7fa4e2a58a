//! Authentication and rights, black box: a broker requiring tokens from an issuer whose keys
//! the test makes and serves (JWKS over HTTP), calls with and without the right per tenant,
//! expiry, key rotation, and notifications withheld once a creator may no longer read.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rigel_auth::testing::{epoch_in, TestIssuer};
use serde_json::{json, Value};

use crate::common::*;

const ISSUER: &str = "https://idp.example.org/realms/city";

/// The issuer's key set, served at `/jwks` of the returned port; the test may change it.
async fn serve_jwks(issuer: &TestIssuer) -> (u16, Arc<Mutex<Value>>) {
    let jwks = Arc::new(Mutex::new(issuer.jwks()));
    let served = jwks.clone();
    let port = serve_http(move |_| {
        let body = served.lock().unwrap().to_string();
        Box::pin(async move { Some((200, body)) })
    })
    .await;
    (port, jwks)
}

/// A broker requiring tokens of `ISSUER` for audience `rigel`, roles in
/// `realm_access.roles`, with `grants`.
fn secured_rigel(dir: &Path, port: u16, jwks_port: u16, grants: &str) -> Running {
    rigel_command(dir, port, free_port())
        .args(["--log-level", "warn", "--auth-issuer", ISSUER])
        .args(["--auth-audience", "rigel"])
        .args([
            "--auth-jwks-url",
            &format!("http://127.0.0.1:{jwks_port}/jwks"),
        ])
        .args(["--auth-roles-claim", "realm_access.roles"])
        .args(["--auth-jwks-refresh-secs", "0"])
        .args(["--auth-grant", grants])
        .start()
}

fn claims(subject: &str, roles: &[&str], expires_in: i64) -> Value {
    json!({
        "iss": ISSUER, "aud": ["rigel", "other"], "sub": subject,
        "exp": epoch_in(expires_in), "iat": epoch_in(-1),
        "realm_access": {"roles": roles},
    })
}

const GRANTS: &str =
    "reader=read@city writer=read,write@city subscriber=read,subscribe@city admin=all@*";

/// A request's status with a bearer token and a tenant.
async fn status(request: reqwest::RequestBuilder, token: Option<&str>, tenant: &str) -> u16 {
    let request = match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    };
    let request = if tenant.is_empty() {
        request
    } else {
        request.header("NGSILD-Tenant", tenant)
    };
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn calls_need_a_valid_token_whose_roles_hold_the_right_over_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let mut issuer = TestIssuer::new();
    issuer.add_ed25519("k1");
    let (jwks_port, jwks) = serve_jwks(&issuer).await;
    let port = free_port();
    let _rigel = secured_rigel(dir.path(), port, jwks_port, GRANTS);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;
    let token = |roles: &[&str]| issuer.token("k1", &claims("alice", roles, 300));
    let (reader, writer, subscriber, admin) = (
        token(&["reader"]),
        token(&["writer"]),
        token(&["subscriber"]),
        token(&["admin"]),
    );
    let entities = format!("{base}/entities");
    let query = || client.get(format!("{entities}?type=Meter"));
    let create = |id: &str| client.post(&entities).json(&meter(id, 1));

    // No token, a malformed one, an expired one: 401 with the challenge.
    let anonymous = query()
        .header("NGSILD-Tenant", "city")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let problem: Value = anonymous.json().await.unwrap();
    assert_eq!(problem["title"], "Unauthorized");
    assert_eq!(status(query(), Some("not.a.token"), "city").await, 401);
    let expired = issuer.token("k1", &claims("alice", &["admin"], -120));
    let refused = query().bearer_auth(&expired).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    // The version document and the health probes stay open.
    let version = client.get(format!("http://127.0.0.1:{port}/version"));
    assert_eq!(status(version, None, "").await, 200);
    // So do the console's files (they hold no data: its pages call the API with a token).
    let console = client.get(format!("http://127.0.0.1:{port}/console/"));
    let expected = if rigel_console::missing().is_some() {
        404
    } else {
        200
    };
    assert_eq!(status(console, None, "").await, expected);

    // write
    assert_eq!(
        status(create("urn:ngsi-ld:Meter:1"), Some(&writer), "city").await,
        201
    );
    // read
    assert_eq!(status(query(), Some(&reader), "city").await, 200);
    assert_eq!(status(query(), Some(&reader), "town").await, 403);
    assert_eq!(status(query(), Some(&reader), "").await, 403);
    assert_eq!(
        status(create("urn:ngsi-ld:Meter:r"), Some(&reader), "city").await,
        403
    );
    assert_eq!(
        status(create("urn:ngsi-ld:Meter:2"), Some(&writer), "town").await,
        403
    );
    let purge = || client.delete(format!("{entities}?type=Meter"));
    assert_eq!(status(purge(), Some(&writer), "city").await, 403);
    // subscribe
    let subscription = json!({
        "type": "Subscription", "entities": [{"type": "Meter"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}
    });
    let subscribe = || {
        client
            .post(format!("{base}/subscriptions"))
            .json(&subscription)
    };
    assert_eq!(status(subscribe(), Some(&writer), "city").await, 403);
    assert_eq!(status(subscribe(), Some(&subscriber), "city").await, 201);
    let listing = client.get(format!("{base}/subscriptions"));
    assert_eq!(status(listing, Some(&reader), "city").await, 403);
    // admin: purge, @contexts, registrations, on any tenant
    let registration = json!({
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Meter"}]}],
        "endpoint": "http://127.0.0.1:9"
    });
    let register = || {
        client
            .post(format!("{base}/csourceRegistrations"))
            .json(&registration)
    };
    assert_eq!(status(register(), Some(&writer), "city").await, 403);
    assert_eq!(status(register(), Some(&admin), "city").await, 201);
    assert_eq!(status(purge(), Some(&admin), "city").await, 204);
    let context = json!({"@context": {"reading": "https://example.org/reading"}});
    let host = || client.post(format!("{base}/jsonldContexts")).json(&context);
    assert_eq!(status(host(), Some(&writer), "city").await, 403);
    assert_eq!(status(host(), Some(&admin), "").await, 201);

    // A rotated key: the issuer publishes k2 and withdraws k1; a token signed with k2 makes
    // the broker read the key set again, after which k1's tokens are refused.
    issuer.add_es256("k2").withdraw("k1");
    *jwks.lock().unwrap() = issuer.jwks();
    let rotated = issuer.token("k2", &claims("alice", &["reader"], 300));
    assert_eq!(status(query(), Some(&rotated), "city").await, 200);
    assert_eq!(status(query(), Some(&reader), "city").await, 401);
}

#[tokio::test]
async fn notifications_stop_once_their_creator_may_no_longer_read_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let mut issuer = TestIssuer::new();
    issuer.add_ed25519("k1");
    let (jwks_port, _jwks) = serve_jwks(&issuer).await;
    let (receiver, received) = start_receiver(Duration::ZERO).await;
    let port = free_port();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let admin = issuer.token("k1", &claims("root", &["admin"], 600));
    let subscriber = issuer.token("k1", &claims("sam", &["subscriber"], 600));
    let update = |n: u64| {
        client
            .patch(format!("{base}/entities/urn:ngsi-ld:Meter:1/attrs"))
            .json(&json!({"reading": {"type": "Property", "value": n}}))
    };

    let mut rigel = secured_rigel(dir.path(), port, jwks_port, GRANTS);
    wait_ready(&client, &base).await;
    let create = client
        .post(format!("{base}/entities"))
        .json(&meter("urn:ngsi-ld:Meter:1", 0));
    assert_eq!(status(create, Some(&admin), "city").await, 201);
    let subscription = json!({
        "id": "urn:ngsi-ld:Subscription:sam", "type": "Subscription",
        "entities": [{"type": "Meter"}],
        "notification": {"endpoint": {"uri": format!("http://127.0.0.1:{receiver}/notify")}}
    });
    let subscribe = client
        .post(format!("{base}/subscriptions"))
        .json(&subscription);
    assert_eq!(status(subscribe, Some(&subscriber), "city").await, 201);
    assert_eq!(status(update(1), None, "city").await, 401);
    assert_eq!(status(update(1), Some(&admin), "city").await, 204);
    wait_for(|| received.lock().unwrap().len() == 1).await;
    terminate_cleanly(&mut rigel).await;

    // The subscriber's role loses read: the recorded creator's notifications are withheld
    // and counted as failures.
    let _rigel = secured_rigel(
        dir.path(),
        port,
        jwks_port,
        "subscriber=subscribe@city admin=all@*",
    );
    wait_ready(&client, &base).await;
    assert_eq!(status(update(2), Some(&admin), "city").await, 204);
    let url = format!("{base}/subscriptions/urn:ngsi-ld:Subscription:sam");
    let shown = delivery_status(|| {
        client
            .get(&url)
            .bearer_auth(&admin)
            .header("NGSILD-Tenant", "city")
    })
    .await;
    assert_eq!(shown, "failed");
    assert_eq!(received.lock().unwrap().len(), 1, "nothing more was sent");
}

/// A subscription's `notification.status` once it is `failed`, or after 5 s.
async fn delivery_status(get: impl Fn() -> reqwest::RequestBuilder) -> Value {
    let mut status = Value::Null;
    for _ in 0..100 {
        let shown: Value = get().send().await.unwrap().json().await.unwrap();
        status = shown["notification"]["status"].clone();
        if status == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    status
}

async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not done within 5 s");
}

/// The `detail` of a 400 answered to a POST, or the status when it is not a 400.
async fn refusal(client: &reqwest::Client, url: &str, body: &Value) -> String {
    let r = client.post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    let text: Value = r.json().await.unwrap_or(Value::Null);
    if status == 400 {
        text["detail"].as_str().unwrap_or_default().to_owned()
    } else {
        format!("status {status}: {text}")
    }
}

fn subscription_to(uri: &str) -> Value {
    json!({
        "type": "Subscription", "entities": [{"type": "Meter"}],
        "notification": {"endpoint": {"uri": uri}}
    })
}

#[tokio::test]
async fn the_egress_policy_refuses_each_range_and_scheme_and_the_allow_list_lets_a_receiver_through(
) {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, received) = start_receiver(Duration::ZERO).await;
    let port = free_port();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    // The default policy: no allow-list.
    let strict = || {
        rigel_command(dir.path(), port, free_port())
            .env_remove("RIGEL_EGRESS_ALLOW")
            .args(["--log-level", "warn"])
            .start()
    };
    let mut rigel = strict();
    wait_ready(&client, &base).await;
    let subscriptions = format!("{base}/subscriptions");
    for (uri, rule) in [
        (format!("http://127.0.0.1:{receiver}/notify"), "loopback"),
        (format!("http://localhost:{receiver}/notify"), "resolves to"),
        ("http://[::1]:9/notify".to_owned(), "loopback"),
        ("http://10.1.2.3/notify".to_owned(), "private"),
        ("http://192.168.0.10/notify".to_owned(), "private"),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "link-local",
        ),
        ("http://[fd00:ec2::254]/".to_owned(), "cloud metadata"),
        ("http://0.0.0.0:9/".to_owned(), "unspecified"),
        ("mqtt://127.0.0.1:1883/notify".to_owned(), "loopback"),
        ("ftp://example.org/notify".to_owned(), "ftp"),
    ] {
        let detail = refusal(&client, &subscriptions, &subscription_to(&uri)).await;
        assert!(detail.contains(rule), "{uri}: {detail}");
    }
    let registration = json!({
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Meter"}]}],
        "endpoint": format!("http://127.0.0.1:{receiver}")
    });
    let detail = refusal(
        &client,
        &format!("{base}/csourceRegistrations"),
        &registration,
    )
    .await;
    assert!(detail.contains("loopback"), "{detail}");
    // An @context on a refused address is not fetched.
    let linked = client
        .get(format!("{base}/entities?type=Meter"))
        .header(
            "Link",
            format!(r#"<http://127.0.0.1:{receiver}/ctx.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json""#),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 504);
    let problem: Value = linked.json().await.unwrap();
    assert!(problem["type"]
        .as_str()
        .unwrap()
        .ends_with("LdContextNotAvailable"));
    assert!(
        problem["detail"].as_str().unwrap().contains("loopback"),
        "{problem}"
    );
    // A reload signal without TLS changes nothing (and does not stop the broker).
    signal(&rigel, "HUP");
    tokio::time::sleep(Duration::from_millis(200)).await;
    terminate_cleanly(&mut rigel).await;

    // The allow-list lets the local receiver through.
    let mut rigel = rigel_command(dir.path(), port, free_port())
        .env_remove("RIGEL_EGRESS_ALLOW")
        .args(["--log-level", "warn", "--egress-allow", "127.0.0.1"])
        .start();
    wait_ready(&client, &base).await;
    let mut sub = subscription_to(&format!("http://127.0.0.1:{receiver}/notify"));
    sub["id"] = json!("urn:ngsi-ld:Subscription:local");
    assert_eq!(post_json(&client, &subscriptions, &sub).await, 201);
    let entities = format!("{base}/entities");
    assert_eq!(
        post_json(&client, &entities, &meter("urn:ngsi-ld:Meter:1", 1)).await,
        201
    );
    wait_for(|| received.lock().unwrap().len() == 1).await;
    terminate_cleanly(&mut rigel).await;

    // Refused at delivery time (the policy changed since): a failure on the subscription.
    let _rigel = strict();
    wait_ready(&client, &base).await;
    assert_eq!(
        post_json(&client, &entities, &meter("urn:ngsi-ld:Meter:2", 2)).await,
        201
    );
    let url = format!("{subscriptions}/urn:ngsi-ld:Subscription:local");
    assert_eq!(delivery_status(|| client.get(&url)).await, "failed");
    assert_eq!(received.lock().unwrap().len(), 1);
}

/// A self-signed certificate for `localhost` and its key, as PEM.
fn self_signed() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (made.cert.pem(), made.key_pair.serialize_pem())
}

/// A client trusting only `cert_pem`.
fn trusting(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// Whether `url` answers 200 to a client trusting only `cert_pem` (a fresh connection).
async fn served_with(cert_pem: &str, url: &str) -> bool {
    matches!(trusting(cert_pem).get(url).send().await, Ok(r) if r.status() == 200)
}

/// Whether `url` comes to answer 200 to a client trusting only `cert_pem` within 10 s.
async fn eventually_served_with(cert_pem: &str, url: &str) -> bool {
    for _ in 0..200 {
        if served_with(cert_pem, url).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn the_api_and_admin_ports_serve_https_and_a_renewed_certificate_is_read_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let (port, admin) = (free_port(), free_port());
    let rigel = rigel_command(&dir.path().join("data"), port, admin)
        .args(["--log-level", "warn", "--admin-tls"])
        .arg("--tls-cert")
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path)
        .start();
    let types = format!("https://localhost:{port}/ngsi-ld/v1/types");
    assert!(
        eventually_served_with(&cert, &types).await,
        "the API answers over HTTPS"
    );
    let probe = format!("https://localhost:{admin}/health/live");
    assert!(served_with(&cert, &probe).await, "the admin port too");
    let plain = reqwest::Client::new()
        .get(format!("http://localhost:{port}/ngsi-ld/v1/types"))
        .send()
        .await;
    assert!(plain.map_or(true, |r| r.status() != 200), "no plain HTTP");

    // A hosted @context served over HTTPS is fetched by another broker that trusts the
    // certificate through --tls-ca-file, and not by one that does not.
    let context = json!({"@context": {"reading": "https://example.org/ns#reading"}});
    let hosted = trusting(&cert)
        .post(format!(
            "https://localhost:{port}/ngsi-ld/v1/jsonldContexts"
        ))
        .json(&context)
        .send()
        .await
        .unwrap();
    assert_eq!(hosted.status(), 201);
    let context_url = hosted.headers()["location"].to_str().unwrap().to_owned();
    let context_url = if context_url.starts_with("http") {
        context_url
    } else {
        format!("https://localhost:{port}{context_url}")
    };
    let link = format!(
        r#"<{context_url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json""#
    );
    for (trusts, expected) in [(true, 200), (false, 504)] {
        let other_dir = tempfile::tempdir().unwrap();
        let other_port = free_port();
        let mut command = rigel_command(other_dir.path(), other_port, free_port());
        command.args(["--log-level", "error"]);
        if trusts {
            command.arg("--tls-ca-file").arg(&cert_path);
        }
        let _other = command.start();
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{other_port}/ngsi-ld/v1");
        wait_ready(&client, &base).await;
        let r = client
            .get(format!("{base}/types"))
            .header("Link", &link)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "trusting the CA: {trusts}");
    }

    // Renewed files and SIGHUP: new connections get the new certificate.
    let (renewed, renewed_key) = self_signed();
    std::fs::write(&cert_path, &renewed).unwrap();
    std::fs::write(&key_path, &renewed_key).unwrap();
    assert!(
        !served_with(&renewed, &types).await,
        "not before the signal"
    );
    signal(&rigel, "HUP");
    assert!(
        eventually_served_with(&renewed, &types).await,
        "the renewed certificate is served"
    );
    assert!(!served_with(&cert, &types).await, "the old one no longer");
    // Unreadable files on the next SIGHUP: the certificate in use stays.
    std::fs::write(&key_path, "not a key").unwrap();
    signal(&rigel, "HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(served_with(&renewed, &types).await);
}
