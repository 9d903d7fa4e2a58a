//! Federation between real `rigel` processes (clause 4.3.6): a city broker in front of a
//! parking department's and a lighting department's, each its own process and data
//! directory; mocks stand in where a misbehaving source or an IoT agent is needed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{free_port, rigel_command, serve_http, wait_ready, Received, Running, Start};

/// A `rigel` process with its own data directory and alias.
struct Broker {
    base: String,
    root: String,
    _process: Running,
    _dir: tempfile::TempDir,
}

impl Broker {
    async fn start(alias: &str, client: &reqwest::Client) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let process = rigel_command(dir.path(), port, free_port())
            .args(["--log-level", "warn", "--alias", alias])
            .start();
        let root = format!("http://127.0.0.1:{port}");
        let base = format!("{root}/ngsi-ld/v1");
        wait_ready(client, &base).await;
        Self {
            base,
            root,
            _process: process,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

/// Registers `endpoint` at `broker`; the registration's id.
async fn register(client: &reqwest::Client, broker: &Broker, csr: Value) -> String {
    let (status, body, headers) =
        send(client.post(broker.url("/csourceRegistrations")).json(&csr)).await;
    assert_eq!(status, 201, "{body}");
    let location = headers["location"].to_str().unwrap();
    location.rsplit('/').next().unwrap().to_owned()
}

fn registration(endpoint: &str, mode: &str, information: Value, operations: &[&str]) -> Value {
    json!({
        "type": "ContextSourceRegistration",
        "information": [information],
        "endpoint": endpoint,
        "mode": mode,
        "operations": operations,
    })
}

fn entity(id: &str, kind: &str, attributes: Value) -> Value {
    let mut e = json!({"id": id, "type": kind});
    for (k, v) in attributes.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn property(value: Value) -> Value {
    json!({"type": "Property", "value": value})
}

/// Clause 4.3.6.2: each mode, through three processes. Inclusive: an entity split between
/// the city and the parking broker reads as one; exclusive: a lamp's `level` lives at the
/// lighting broker and an update there goes through the city; redirect: new bins are
/// created at the lighting broker only; auxiliary: the lighting broker fills in what the
/// city lacks without overriding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mode_works_across_three_brokers() {
    let client = reqwest::Client::new();
    let (city, parking, lighting) = tokio::join!(
        Broker::start("city", &client),
        Broker::start("parking", &client),
        Broker::start("lighting", &client)
    );
    let read = |broker: &Broker, path: &str| send(client.get(broker.url(path)));
    let create = |broker: &Broker, e: Value| send(client.post(broker.url("/entities")).json(&e));

    // Inclusive: the city knows the car's brand, the parking broker its spot.
    let car = "urn:ngsi-ld:Car:1";
    create(
        &city,
        entity(car, "Car", json!({"brand": property(json!("Volvo"))})),
    )
    .await;
    create(
        &parking,
        entity(car, "Car", json!({"spot": property(json!("A7"))})),
    )
    .await;
    let info = json!({"entities": [{"type": "Car"}]});
    register(
        &client,
        &city,
        registration(&parking.root, "inclusive", info, &["retrieveOps"]),
    )
    .await;
    let (status, merged, _) = read(&city, &format!("/entities/{car}")).await;
    assert_eq!(status, 200);
    assert_eq!(merged["brand"]["value"], "Volvo", "{merged}");
    assert_eq!(merged["spot"]["value"], "A7", "{merged}");

    // Exclusive: the lamp's level is the lighting broker's.
    let lamp = "urn:ngsi-ld:Lamp:1";
    create(
        &lighting,
        entity(lamp, "Lamp", json!({"level": property(json!(10))})),
    )
    .await;
    create(
        &city,
        entity(lamp, "Lamp", json!({"street": property(json!("Main"))})),
    )
    .await;
    let info = json!({"entities": [{"type": "Lamp", "id": lamp}], "propertyNames": ["level"]});
    register(
        &client,
        &city,
        registration(
            &lighting.root,
            "exclusive",
            info,
            &["updateOps", "retrieveOps"],
        ),
    )
    .await;
    let (status, _, _) = send(
        client
            .patch(city.url(&format!("/entities/{lamp}/attrs/level")))
            .json(&json!({"value": 80})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, there, _) = read(&lighting, &format!("/entities/{lamp}")).await;
    assert_eq!(there["level"]["value"], 80, "{there}");
    let (_, here, _) = read(&city, &format!("/entities/{lamp}?local=true")).await;
    assert!(here.get("level").is_none(), "{here}");
    let (_, whole, _) = read(&city, &format!("/entities/{lamp}")).await;
    assert_eq!(whole["level"]["value"], 80, "{whole}");
    assert_eq!(whole["street"]["value"], "Main", "{whole}");

    // Redirect: bins are the lighting broker's (a batch goes there as one).
    let info = json!({"entities": [{"type": "Bin"}]});
    let ops = ["redirectionOps", "createBatch"];
    register(
        &client,
        &city,
        registration(&lighting.root, "redirect", info, &ops),
    )
    .await;
    let bins = json!([
        entity(
            "urn:ngsi-ld:Bin:1",
            "Bin",
            json!({"fill": property(json!(40))})
        ),
        entity(
            "urn:ngsi-ld:Bin:2",
            "Bin",
            json!({"fill": property(json!(90))})
        )
    ]);
    let (status, ids, _) = send(
        client
            .post(city.url("/entityOperations/create"))
            .json(&bins),
    )
    .await;
    assert_eq!(status, 201, "{ids}");
    let (status, _, _) = read(&lighting, "/entities/urn:ngsi-ld:Bin:2").await;
    assert_eq!(status, 200);
    let (status, _, _) = read(&city, "/entities/urn:ngsi-ld:Bin:2?local=true").await;
    assert_eq!(status, 404);
    let (_, full, _) = read(&city, "/entities?type=Bin&q=fill>50").await;
    assert_eq!(full.as_array().map(Vec::len), Some(1), "{full}");

    // Auxiliary: the lighting broker's newer brand never beats the city's.
    let attributes = json!({"brand": property(json!("Saab")), "colour": property(json!("red"))});
    create(&lighting, entity(car, "Car", attributes)).await;
    let info = json!({"entities": [{"type": "Car"}]});
    register(
        &client,
        &city,
        registration(&lighting.root, "auxiliary", info, &["retrieveOps"]),
    )
    .await;
    let (_, merged, _) = read(&city, &format!("/entities/{car}")).await;
    assert_eq!(merged["colour"]["value"], "red", "{merged}");
    assert_eq!(merged["brand"]["value"], "Volvo", "{merged}");
}

/// Clauses 4.3.6.4 and 6.3.18: two brokers registered with each other (each registration
/// naming the other's alias) answer a query with both their entities, once, and quickly:
/// the request that comes back is not passed on again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_brokers_registered_with_each_other_do_not_loop() {
    let client = reqwest::Client::new();
    let (north, south) = tokio::join!(
        Broker::start("north", &client),
        Broker::start("south", &client)
    );
    let info = json!({"entities": [{"type": "Sensor"}]});
    let ops = ["retrieveOps", "redirectionOps"];
    let mut to_south = registration(&south.root, "inclusive", info.clone(), &ops);
    to_south["contextSourceAlias"] = json!("south");
    let mut to_north = registration(&north.root, "inclusive", info, &ops);
    to_north["contextSourceAlias"] = json!("north");
    register(&client, &north, to_south).await;
    register(&client, &south, to_north).await;
    for (broker, id) in [
        (&north, "urn:ngsi-ld:Sensor:n"),
        (&south, "urn:ngsi-ld:Sensor:s"),
    ] {
        let e = entity(id, "Sensor", json!({"t": property(json!(20))}));
        // local=true: each broker keeps its own sensor (inclusive would copy it over).
        let (status, _, _) = send(client.post(broker.url("/entities?local=true")).json(&e)).await;
        assert_eq!(status, 201);
    }
    let started = Instant::now();
    let (status, found, headers) = send(client.get(north.url("/entities?type=Sensor"))).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(found.as_array().map(Vec::len), Some(2), "{found}");
    assert!(headers.get("ngsild-warning").is_none(), "{headers:?}");
    // A write through one reaches the other once, and is not passed back.
    let (status, body, _) = send(
        client
            .patch(north.url("/entities/urn:ngsi-ld:Sensor:s/attrs"))
            .json(&json!({"t": property(json!(25))})),
    )
    .await;
    assert!(status == 204 || status == 207, "{status} {body}");
    let (_, there, _) = send(client.get(south.url("/entities/urn:ngsi-ld:Sensor:s"))).await;
    assert_eq!(there["t"]["value"], 25, "{there}");
}

/// A mock HTTP server answering each request with `answer(method, target)` (`None`: never
/// answer), recording what it received.
async fn start_mock(
    answer: fn(&str, &str) -> Option<(u16, String)>,
) -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let port = serve_http(move |request| {
        let reply = answer(&request.method, &request.target);
        log.lock().unwrap().push(request);
        Box::pin(async move { reply })
    })
    .await;
    (format!("http://127.0.0.1:{port}"), received)
}

/// Clause 6.3.17: a source that never answers costs its registration's timeout and no more,
/// one that answers something that is not NGSI-LD is discarded; both are warnings (199,
/// 111) next to the live source's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_broken_sources_cost_their_timeout_and_a_warning() {
    let client = reqwest::Client::new();
    let (city, parking) = tokio::join!(
        Broker::start("city", &client),
        Broker::start("parking", &client)
    );
    let (silent, _) = start_mock(|_, _| None).await;
    let (broken, _) = start_mock(|_, _| Some((200, "not json".to_owned()))).await;
    let spot = entity(
        "urn:ngsi-ld:Spot:1",
        "Spot",
        json!({"free": property(json!(true))}),
    );
    send(client.post(parking.url("/entities")).json(&spot)).await;
    let info = json!({"entities": [{"type": "Spot"}]});
    register(
        &client,
        &city,
        registration(&parking.root, "inclusive", info.clone(), &["retrieveOps"]),
    )
    .await;
    let mut slow = registration(&silent, "inclusive", info.clone(), &["retrieveOps"]);
    slow["management"] = json!({"timeout": 500});
    register(&client, &city, slow).await;
    register(
        &client,
        &city,
        registration(&broken, "inclusive", info, &["retrieveOps"]),
    )
    .await;

    let started = Instant::now();
    let (status, found, headers) = send(client.get(city.url("/entities?type=Spot"))).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    let warnings: Vec<&str> = headers
        .get_all("ngsild-warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("199 ")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with("111 ")),
        "{warnings:?}"
    );
}

/// Clauses 5.6.4.4 and 4.3.6.3, the IoT agent's case: a device's command attribute is
/// registered exclusively by its agent; a client's update of the command at the broker
/// reaches the agent as the same PATCH, with the registration's tenant, and the broker
/// answers 204.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_reaches_the_iot_agent_that_registered_it() {
    let client = reqwest::Client::new();
    let broker = Broker::start("city", &client).await;
    let (agent, received) = start_mock(|_, _| Some((204, String::new()))).await;
    let device = "urn:ngsi-ld:Valve:7";
    let state = entity(device, "Valve", json!({"open": property(json!(false))}));
    send(client.post(broker.url("/entities")).json(&state)).await;
    let info = json!({"entities": [{"type": "Valve", "id": device}], "propertyNames": ["toggle"]});
    let mut csr = registration(&agent, "exclusive", info, &["updateOps"]);
    csr["tenant"] = json!("water");
    register(&client, &broker, csr).await;

    let command = json!({"type": "Property", "value": "now"});
    let (status, body, _) = send(
        client
            .patch(broker.url(&format!("/entities/{device}/attrs/toggle")))
            .json(&command),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let call = &received[0];
    assert_eq!(call.method, "PATCH");
    assert_eq!(
        call.target,
        format!("/ngsi-ld/v1/entities/{device}/attrs/toggle")
    );
    let header = |name: &str| {
        call.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("ngsild-tenant"), Some("water"));
    assert!(
        header("via").is_some_and(|v| v.contains("city")),
        "{call:?}"
    );
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["value"], "now", "{sent}");
    // The broker keeps the device's state, not the command.
    let (_, here, _) =
        send(client.get(broker.url(&format!("/entities/{device}?local=true")))).await;
    assert!(here.get("toggle").is_none(), "{here}");
    assert_eq!(here["open"]["value"], false, "{here}");
}

/// Clause 4.3.6.6: a registration whose `contextSourceInfo` names a `jsonldContext` has
/// its source spoken to in that @context: the names of a forwarded query are compacted
/// with it and it travels in `Link`, whatever @context the client used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_with_its_own_context_gets_its_own_names() {
    let client = reqwest::Client::new();
    let broker = Broker::start("city", &client).await;
    let (source, received) = start_mock(|_, target| match target {
        "/client.jsonld" => Some((
            200,
            r#"{"@context": {"speed": "urn:x:velocity"}}"#.to_owned(),
        )),
        "/source.jsonld" => Some((
            200,
            r#"{"@context": {"velocidad": "urn:x:velocity"}}"#.to_owned(),
        )),
        _ => Some((200, "[]".to_owned())),
    })
    .await;
    let info = json!({"entities": [{"type": "Car"}]});
    let mut csr = registration(&source, "inclusive", info, &["retrieveOps"]);
    csr["contextSourceInfo"] =
        json!([{"key": "jsonldContext", "value": format!("{source}/source.jsonld")}]);
    register(&client, &broker, csr).await;
    let link = format!(
        "<{source}/client.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
    );
    let (status, _, _) = send(
        client
            .get(broker.url("/entities?type=Car&q=speed%3E5"))
            .header("Link", link),
    )
    .await;
    assert_eq!(status, 200);
    let received = received.lock().unwrap().clone();
    let query = received
        .iter()
        .find(|r| r.target.starts_with("/ngsi-ld/v1/entities"))
        .expect("the query reached the source");
    assert!(query.target.contains("q=velocidad%3E5"), "{}", query.target);
    let sent_link = query
        .headers
        .iter()
        .find(|(n, _)| n == "link")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(sent_link.contains("/source.jsonld"), "{sent_link}");
}

/// Clause 4.3.6.8: a source whose registration says it conforms to an older version of
/// the spec (`ngsildConformance`) gets payloads that version knows: a VocabProperty as a
/// Property, without the `observedAt` that 1.2 did not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_source_gets_payloads_of_its_version() {
    let client = reqwest::Client::new();
    let broker = Broker::start("city", &client).await;
    let (source, received) = start_mock(|_, _| Some((204, String::new()))).await;
    let device = "urn:ngsi-ld:Heater:1";
    let info = json!({"entities": [{"type": "Heater", "id": device}], "propertyNames": ["mode"]});
    let mut csr = registration(&source, "exclusive", info, &["updateOps"]);
    csr["contextSourceInfo"] = json!([{"key": "ngsildConformance", "value": "1.2"}]);
    register(&client, &broker, csr).await;
    let update = json!({"mode": {"type": "VocabProperty", "vocab": "eco", "observedAt": "2026-12-07T08:00:00Z"}});
    let (status, body, _) = send(
        client
            .patch(broker.url(&format!("/entities/{device}/attrs")))
            .json(&update),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let received = received.lock().unwrap().clone();
    let sent: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        sent["mode"],
        json!({"type": "Property", "value": "eco"}),
        "{sent}"
    );
}
