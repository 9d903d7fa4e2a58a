//! Abuse limits, black box: slow headers and bodies, the concurrency bound, the rate per
//! client, the subscriptions and registrations a tenant may hold, and the memory bounds of
//! responses, queries and entities.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Reads what the server sends until it closes the connection or `limit` passes.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_requests_beyond_the_bound_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _rigel = rigel_command(dir.path(), port, free_port())
        .args(["--log-level", "error", "--header-timeout-ms", "500"])
        .args([
            "--body-timeout-ms",
            "4000",
            "--max-concurrent-requests",
            "1",
        ])
        .start();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;

    // Headers trickling in: the connection is closed within the header timeout.
    let mut slow_head = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    slow_head
        .write_all(b"GET /ngsi-ld/v1/types HT")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut slow_head, Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    // A body that never completes holds the one request slot: another request is 503 with
    // Retry-After meanwhile, and the slow one is 408 after the body timeout. The probe and
    // the slow request race for the slot (on a busy machine the server may read the slow
    // head late, or the probe may hold the slot when it arrives and it is refused), so the
    // pair is tried again until the slow request is the one holding it.
    let mut attempts = 0;
    let (mut slow_body, refused, asked) = loop {
        attempts += 1;
        let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        slow.write_all(
            b"POST /ngsi-ld/v1/entities HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\"",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let asked = Instant::now();
        let answer = client.get(format!("{base}/types")).send().await.unwrap();
        if answer.status() == 503 {
            break (slow, answer, asked);
        }
        let got = read_until_closed(&mut slow, Duration::from_millis(100)).await;
        assert!(
            attempts < 10,
            "the slow request never held the slot; its last answer: {got:?}"
        );
        drop(slow);
        // The slow request, refused or not, goes; let its slot (if it held one) free.
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(refused.headers().contains_key("retry-after"));
    let answer = read_until_closed(&mut slow_body, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "cut off {:?} after the probe",
        asked.elapsed()
    );
    // The slot is free again; probes were never counted.
    let health = format!("http://127.0.0.1:{port}/health/live");
    assert_eq!(client.get(&health).send().await.unwrap().status(), 200);
    let types = client.get(format!("{base}/types")).send().await.unwrap();
    assert_eq!(types.status(), 200, "after the slow request: {types:?}");
}

#[tokio::test]
async fn a_client_over_its_rate_is_answered_429_and_tenants_hold_bounded_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _rigel = rigel_command(dir.path(), port, free_port())
        .args([
            "--log-level",
            "error",
            "--rate-limit",
            "1",
            "--rate-burst",
            "40",
        ])
        .args(["--max-subscriptions-per-tenant", "1"])
        .args(["--max-registrations-per-tenant", "1"])
        .start();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;

    let subscription = |n: u32| {
        json!({
            "id": format!("urn:ngsi-ld:Subscription:{n}"), "type": "Subscription",
            "entities": [{"type": "Meter"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}
        })
    };
    let registration = |n: u32| {
        json!({
            "id": format!("urn:ngsi-ld:ContextSourceRegistration:{n}"),
            "type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": "Meter"}]}],
            "endpoint": "http://127.0.0.1:9"
        })
    };
    let subscriptions = format!("{base}/subscriptions");
    let registrations = format!("{base}/csourceRegistrations");
    assert_eq!(
        post_json(&client, &subscriptions, &subscription(1)).await,
        201
    );
    let over = client
        .post(&subscriptions)
        .json(&subscription(2))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 403);
    let problem: Value = over.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("1 subscriptions"),
        "{problem}"
    );
    // Another tenant has its own allowance.
    let other = client
        .post(&subscriptions)
        .header("NGSILD-Tenant", "other")
        .json(&subscription(2))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201);
    assert_eq!(
        post_json(&client, &registrations, &registration(1)).await,
        201
    );
    assert_eq!(
        post_json(&client, &registrations, &registration(2)).await,
        403
    );

    // Requests beyond the burst (what is left of 40, refilled at 1/s) are 429 with a
    // Retry-After, after which the client may go on.
    let mut refused = None;
    for _ in 0..60 {
        let r = client.get(format!("{base}/types")).send().await.unwrap();
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let refused = refused.expect("a 429 within 60 requests");
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let again = client.get(format!("{base}/types")).send().await.unwrap();
    assert_eq!(again.status(), 200);
}

/// The problem type and detail of a refused response.
async fn refusal(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let problem: Value = response.json().await.unwrap();
    let text = |k: &str| problem[k].as_str().unwrap_or_default().to_owned();
    (status, text("type"), text("detail"))
}

#[tokio::test]
async fn responses_and_queries_beyond_their_memory_bounds_are_refused_with_too_many_results() {
    const TOO_MANY: &str = "https://uri.etsi.org/ngsi-ld/errors/TooManyResults";
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _rigel = rigel_command(dir.path(), port, free_port())
        .args(["--log-level", "error"])
        .args(["--max-response-bytes", "200000"])
        .args(["--max-query-bytes", "2200000"])
        .start();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;

    // One entity whose body alone passes the response bound.
    let text = json!({
        "id": "urn:ngsi-ld:Note:big", "type": "Note",
        "text": {"type": "Property", "value": "x".repeat(300_000)},
        "small": {"type": "Property", "value": 1}
    });
    assert_eq!(
        post_json(&client, &format!("{base}/entities"), &text).await,
        201
    );
    let whole = client
        .get(format!("{base}/entities/urn:ngsi-ld:Note:big"))
        .send()
        .await
        .unwrap();
    let (status, kind, detail) = refusal(whole).await;
    assert_eq!((status, kind.as_str()), (403, TOO_MANY), "{detail}");
    assert!(detail.contains("--max-response-bytes"), "{detail}");
    let history = client
        .get(format!("{base}/temporal/entities/urn:ngsi-ld:Note:big"))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(history).await.0, 403);
    let picked = client
        .get(format!("{base}/entities/urn:ngsi-ld:Note:big?attrs=small"))
        .send()
        .await
        .unwrap();
    assert_eq!(picked.status(), 200);

    // Entities of 2,000 attributes (about 850 KB each decoded): a page of one (which reads
    // two, to tell whether there is a next page) fits the query bound, three do not,
    // however little of them the response shows.
    for n in 0..3 {
        let mut entity = json!({"id": format!("urn:ngsi-ld:Wide:{n}"), "type": "Wide"});
        for a in 0..2000 {
            entity[format!("a{a}")] = json!({"type": "Property", "value": a});
        }
        assert_eq!(
            post_json(&client, &format!("{base}/entities"), &entity).await,
            201
        );
    }
    let one = client
        .get(format!("{base}/entities?type=Wide&limit=1&attrs=a1"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let three = client
        .get(format!("{base}/entities?type=Wide&limit=3&attrs=a1"))
        .send()
        .await
        .unwrap();
    let (status, kind, detail) = refusal(three).await;
    assert_eq!((status, kind.as_str()), (403, TOO_MANY), "{detail}");
    assert!(detail.contains("--max-query-bytes"), "{detail}");
    let ordered = client
        .get(format!("{base}/entities?type=Wide&limit=1&orderBy=a5"))
        .send()
        .await
        .unwrap();
    let (status, _, detail) = refusal(ordered).await;
    assert_eq!(status, 403, "{detail}");
    let counted = client
        .get(format!("{base}/entities?type=Wide&limit=0&count=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(counted.status(), 200);
    assert_eq!(counted.headers()["ngsild-results-count"], "3");
}

/// An entity of `n` numbered attributes from `from` on, as a JSON body.
fn attributes(id: Option<&str>, from: usize, n: usize) -> Value {
    let mut body = json!({});
    if let Some(id) = id {
        body = json!({"id": id, "type": "Wide"});
    }
    for a in from..from + n {
        body[format!("a{a}")] = json!({"type": "Property", "value": a});
    }
    body
}

#[tokio::test]
async fn appends_that_would_grow_an_entity_past_its_bound_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // 2,000 attributes take about 850 KB decoded: two appends of 1,000 fit, a third not.
    let _rigel = rigel_command(dir.path(), port, free_port())
        .args(["--log-level", "error"])
        .args(["--max-entity-bytes", "1000000"])
        .start();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;
    let id = "urn:ngsi-ld:Wide:grows";
    let entity = attributes(Some(id), 0, 1000);
    assert_eq!(
        post_json(&client, &format!("{base}/entities"), &entity).await,
        201
    );
    let attrs = format!("{base}/entities/{id}/attrs");
    assert_eq!(
        post_json(&client, &attrs, &attributes(None, 1000, 1000)).await,
        204
    );
    let refused = client
        .post(&attrs)
        .json(&attributes(None, 2000, 1000))
        .send()
        .await
        .unwrap();
    let (status, kind, detail) = refusal(refused).await;
    assert_eq!(
        (status, kind.as_str()),
        (400, "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"),
        "{detail}"
    );
    assert!(detail.contains("--max-entity-bytes"), "{detail}");
    let kept = get_json(&client, &format!("{base}/entities/{id}?options=keyValues")).await;
    let count = kept.as_object().map_or(0, |o| o.len());
    assert_eq!(
        count,
        2 + 2000,
        "id, type and the 2,000 attributes before the refusal"
    );

    // A batch that would store one too large is refused as a whole, naming it.
    let batch = json!([attributes(Some("urn:ngsi-ld:Wide:batch"), 0, 2500)]);
    let refused = client
        .post(format!("{base}/entityOperations/upsert"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    let (status, _, detail) = refusal(refused).await;
    assert_eq!(status, 400);
    assert!(detail.contains("urn:ngsi-ld:Wide:batch"), "{detail}");
}
