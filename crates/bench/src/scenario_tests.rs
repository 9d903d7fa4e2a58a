//! Behaviour of the scenarios' requests and of the seeding requests (types, batches, values).

use super::*;
use crate::ledger::MAX_CAPACITY;

fn plan() -> Plan {
    Plan::new("rtest".into(), 1_000, 100)
}

#[test]
fn scenario_names_round_trip() {
    for s in Scenario::EVERY {
        assert_eq!(Scenario::from_name(s.name()), Some(s));
    }
    assert_eq!(Scenario::from_name("nope"), None);
}

#[test]
fn query_parameters_are_percent_encoded() {
    assert_eq!(
        percent_encode("owner==\"urn:ngsi-ld:Owner:3\""),
        "owner%3D%3D%22urn%3Angsi-ld%3AOwner%3A3%22"
    );
    assert_eq!(percent_encode("mileage>10;status"), "mileage%3E10%3Bstatus");
}

#[test]
fn requests_target_the_standard_resources() {
    let p = plan();
    let mut rng = Rng::new(1);
    let r = p.request(Scenario::Create, &mut rng, Some(3), 7);
    assert_eq!(
        (r.method.clone(), r.path.as_str()),
        (Method::POST, "/entities")
    );
    let body = String::from_utf8_lossy(r.body.as_deref().unwrap_or_default()).into_owned();
    assert!(
        body.contains("\"id\":\"urn:ngsi-ld:BenchVehicle:rtest-cw3-7\""),
        "{body}"
    );

    let r = p.request(Scenario::Retrieve, &mut rng, Some(0), 0);
    assert_eq!(r.method, Method::GET);
    assert!(
        r.path
            .starts_with("/entities/urn:ngsi-ld:BenchVehicle:rtest-s"),
        "{}",
        r.path
    );

    let r = p.request(Scenario::UpdatePartial, &mut rng, Some(0), 0);
    assert_eq!(r.method, Method::PATCH);
    assert!(r.path.ends_with("/attrs/mileage"));

    let r = p.request(Scenario::QueryValue, &mut rng, Some(0), 0);
    assert!(
        r.path
            .starts_with("/entities?type=BenchVehicle&q=mileage%3E"),
        "{}",
        r.path
    );
    assert!(
        r.path.ends_with("%3Bstatus%3D%3D%22ok%22&limit=20"),
        "{}",
        r.path
    );

    let r = p.request(Scenario::BatchUpsert, &mut rng, None, 0);
    assert_eq!(r.path, "/entityOperations/upsert");
    let body: serde_json::Value =
        serde_json::from_slice(r.body.as_deref().unwrap_or_default()).unwrap_or_default();
    assert_eq!(body.as_array().map(Vec::len), Some(100));
}

#[test]
fn ids_are_unique_per_worker_and_sequence() {
    let p = plan();
    let mut rng = Rng::new(2);
    let mut ids = std::collections::HashSet::new();
    for w in [None, Some(0), Some(1), Some(10)] {
        for seq in [0, 1, 11] {
            let r = p.request(Scenario::Create, &mut rng, w, seq);
            let body: serde_json::Value =
                serde_json::from_slice(r.body.as_deref().unwrap_or_default()).unwrap_or_default();
            assert!(ids.insert(body["id"].as_str().unwrap_or_default().to_owned()));
        }
    }
}

fn json(r: &Request) -> serde_json::Value {
    serde_json::from_slice(r.body.as_deref().unwrap_or_default()).unwrap_or_default()
}

#[test]
fn queries_ask_for_the_first_of_several_types() {
    let mut rng = Rng::new(3);
    let one = plan();
    let five = plan().with_types(5);
    for scenario in [Scenario::QueryValue, Scenario::QueryRelationship] {
        let r = one.request(scenario, &mut rng, Some(0), 0);
        assert!(
            r.path.starts_with("/entities?type=BenchVehicle&q="),
            "{}",
            r.path
        );
        let r = five.request(scenario, &mut rng, Some(0), 0);
        assert!(
            r.path.starts_with("/entities?type=BenchVehicle0&q="),
            "{}",
            r.path
        );
    }
}

#[test]
fn query_descriptions_name_the_queried_type_and_the_type_count() {
    let one = plan();
    assert_eq!(
        Scenario::QueryValue.describe(&one),
        "GET /entities?type=BenchVehicle&q=mileage>X;status==\"ok\"&limit=20"
    );
    let ten = plan().with_types(10);
    assert_eq!(
        Scenario::QueryRelationship.describe(&ten),
        "GET /entities?type=BenchVehicle0&q=owner==\"urn:ngsi-ld:Owner:N\"&limit=20 (1 of 10 types)"
    );
    assert_eq!(Scenario::Retrieve.describe(&ten), "GET /entities/{id}");
}

#[test]
fn seeding_one_by_one_posts_each_entity_with_its_type() {
    let mut rng = Rng::new(4);
    let r = plan().seed_request(7, &mut rng);
    assert_eq!(
        (r.method.clone(), r.path.as_str()),
        (Method::POST, "/entities")
    );
    let e = json(&r);
    assert_eq!(e["id"], "urn:ngsi-ld:BenchVehicle:rtest-s7");
    assert_eq!(e["type"], "BenchVehicle");

    let e = json(&plan().with_types(5).seed_request(7, &mut rng));
    assert_eq!(e["id"], "urn:ngsi-ld:BenchVehicle:rtest-s7");
    assert_eq!(e["type"], "BenchVehicle2");
}

#[test]
fn seeding_in_batches_creates_consecutive_entities_of_cycling_types() {
    let mut rng = Rng::new(5);
    let p = plan().with_types(5).with_seed_batch(100);
    let (r, n) = p.seed_batch_request(200, &mut rng);
    assert_eq!(n, 100);
    assert_eq!(
        (r.method.clone(), r.path.as_str()),
        (Method::POST, "/entityOperations/create")
    );
    let arr = json(&r).as_array().cloned().unwrap_or_default();
    assert_eq!(arr.len(), 100);
    assert_eq!(arr[0]["id"], "urn:ngsi-ld:BenchVehicle:rtest-s200");
    assert_eq!(arr[0]["type"], "BenchVehicle0");
    assert_eq!(arr[99]["id"], "urn:ngsi-ld:BenchVehicle:rtest-s299");
    assert_eq!(arr[99]["type"], "BenchVehicle4");
}

#[test]
fn the_last_seeding_batch_stops_at_the_seed_count() {
    let mut rng = Rng::new(6);
    let p = Plan::new("rtest".into(), 250, 100).with_seed_batch(100);
    let (r, n) = p.seed_batch_request(200, &mut rng);
    assert_eq!(n, 50);
    let arr = json(&r).as_array().cloned().unwrap_or_default();
    assert_eq!(arr.len(), 50);
    assert_eq!(arr[49]["id"], "urn:ngsi-ld:BenchVehicle:rtest-s249");
}

#[test]
fn the_queried_type_gets_varied_mileage_and_mostly_ok_status() {
    let mut rng = Rng::new(7);
    let p = Plan::new("rtest".into(), 5_000, 100)
        .with_types(5)
        .with_seed_batch(1_000);
    let mut queried = Vec::new();
    for start in (0..p.seed_count).step_by(1_000) {
        let (r, _) = p.seed_batch_request(start, &mut rng);
        let arr = json(&r).as_array().cloned().unwrap_or_default();
        queried.extend(arr.into_iter().filter(|e| e["type"] == "BenchVehicle0"));
    }
    assert_eq!(queried.len(), 1_000);
    let mileages: Vec<u64> = queried
        .iter()
        .filter_map(|e| e["mileage"]["value"].as_u64())
        .collect();
    let low = mileages.iter().filter(|m| **m < MILEAGE_MAX / 2).count();
    assert!((400..600).contains(&low), "{low} of 1000 below half");
    assert!(mileages.iter().all(|m| *m < MILEAGE_MAX));
    let ok = queried
        .iter()
        .filter(|e| e["status"]["value"] == "ok")
        .count();
    assert!((620..780).contains(&ok), "{ok} of 1000 ok");
}

#[test]
fn all_is_every_scenario_but_notify_the_temporal_ones_and_ingest() {
    assert!(!Scenario::ALL.contains(&Scenario::Notify));
    assert!(!Scenario::ALL.contains(&Scenario::Ingest));
    assert_eq!(Scenario::from_name("ingest"), Some(Scenario::Ingest));
    assert!(Scenario::TEMPORAL
        .iter()
        .all(|t| !Scenario::ALL.contains(t)));
    assert_eq!(
        Scenario::ALL.len() + 1 + Scenario::TEMPORAL.len() + 1,
        Scenario::EVERY.len()
    );
    assert_eq!(Scenario::from_name("notify"), Some(Scenario::Notify));
    let names: Vec<&str> = Scenario::TEMPORAL.map(Scenario::name).to_vec();
    assert_eq!(
        names,
        ["temporal-lastn", "temporal-range", "temporal-aggregate"]
    );
    for t in Scenario::TEMPORAL {
        assert!(Scenario::EVERY.contains(&t));
        assert_eq!(t.seeding(), Seeding::Temporal);
    }
    assert_eq!(Scenario::Create.seeding(), Seeding::Nothing);
    assert_eq!(Scenario::Retrieve.seeding(), Seeding::Entities);
    assert_eq!(Scenario::Notify.seeding(), Seeding::Entities);
}

#[test]
fn notify_updates_take_the_entities_of_the_subscribed_type_in_turn() {
    let mut rng = Rng::new(8);
    let p = Plan::new("rtest".into(), 10, 100).with_types(3);
    assert_eq!(p.notified_count(), 4);
    let ids: Vec<String> = (0..5)
        .map(|seq| p.request(Scenario::Notify, &mut rng, Some(0), seq).path)
        .collect();
    let id = |i: u64| format!("/entities/{}/attrs/mileage", p.seeded_id(i));
    assert_eq!(ids, [id(0), id(3), id(6), id(9), id(0)]);
    for i in [0, 3, 6, 9] {
        assert_eq!(p.seeded_type(i), "BenchVehicle0");
    }
}

#[test]
fn notify_updates_write_a_value_naming_the_update_above_every_seeded_value() {
    let mut rng = Rng::new(9);
    let p = plan();
    assert!(p.value_base >= 1_000_000_000);
    assert!(p.value_base > MILEAGE_MAX);
    for seq in [0, 1, 12_345] {
        let r = p.request(Scenario::Notify, &mut rng, Some(1), seq);
        assert_eq!(r.method, Method::PATCH);
        let body = json(&r);
        assert_eq!(body["value"].as_u64(), Some(p.value_base + seq));
        assert!(body["observedAt"].is_string());
    }
}

#[test]
fn value_bases_differ_between_runs_and_stay_exact_in_json_numbers() {
    let bases: std::collections::HashSet<u64> = (0..50)
        .map(|i| Plan::new(format!("r{i:x}"), 1, 1).value_base)
        .collect();
    assert!(bases.len() > 45, "{}", bases.len());
    assert!(bases.iter().all(|b| b % 1_000_000_000 == 0));
    assert!(bases.iter().all(|b| *b + MAX_CAPACITY < 1 << 53));
}

#[test]
fn a_subscription_watches_the_queried_type_and_notifies_its_own_path() {
    let p = plan().with_types(4).with_subscriptions(10);
    let r = p.subscription_request(7, "http://127.0.0.1:4000/");
    assert_eq!(
        (r.method.clone(), r.path.as_str()),
        (Method::POST, "/subscriptions")
    );
    let s = json(&r);
    assert_eq!(s["id"], "urn:ngsi-ld:Subscription:rtest-n7");
    assert_eq!(s["id"], p.subscription_id(7));
    assert_eq!(s["type"], "Subscription");
    assert_eq!(
        s["entities"],
        serde_json::json!([{"type": "BenchVehicle0"}])
    );
    let n = &s["notification"];
    assert_eq!(n["endpoint"]["uri"], "http://127.0.0.1:4000/notify/7");
    assert_eq!(n["endpoint"]["accept"], "application/json");
    assert_eq!(n["format"], "normalized");
    assert_eq!(
        Scenario::Notify.describe(&p),
        "PATCH /entities/{id}/attrs/mileage, 10 subscription(s) on type BenchVehicle0, 250 entities"
    );
}

fn temporal_plan() -> Plan {
    Plan::new("rtest".into(), 20, 100).with_temporal(100_000, 2_000)
}

#[test]
fn temporal_seeding_posts_every_chunk_of_every_entity_once() {
    let p = Plan::new("rtest".into(), 3, 100).with_temporal(2_500, 1_000);
    assert_eq!(p.temporal_chunks(), 3);
    assert_eq!(p.temporal_requests(), 9);
    assert_eq!(p.temporal_total(), 3 * 2_500 * 5);
    let mut rng = Rng::new(1);
    let mut seen = std::collections::BTreeMap::new();
    let mut instances = 0;
    for n in 0..p.temporal_requests() {
        let (r, carried) = p.temporal_seed_request(n, &mut rng);
        assert_eq!(
            (r.method.clone(), r.path.as_str()),
            (Method::POST, "/temporal/entities")
        );
        let e = json(&r);
        assert_eq!(e["type"], "BenchVehicle");
        let id = e["id"].as_str().unwrap_or_default().to_owned();
        let speed = e["speed"].as_array().cloned().unwrap_or_default();
        assert_eq!(carried, speed.len() as u64 * 5);
        instances += carried;
        let first = speed
            .first()
            .and_then(|i| i["observedAt"].as_str())
            .unwrap_or_default()
            .to_owned();
        seen.entry(id)
            .or_insert_with(Vec::new)
            .push((first, speed.len()));
    }
    assert_eq!(instances, p.temporal_total());
    assert_eq!(seen.len(), 3);
    for (id, mut chunks) in seen {
        assert!(id.starts_with("urn:ngsi-ld:BenchVehicle:rtest-t"), "{id}");
        chunks.sort();
        assert_eq!(
            chunks,
            [
                (temporal::instant(0), 1_000),
                (temporal::instant(1_000), 1_000),
                (temporal::instant(2_000), 500)
            ]
        );
    }
}

#[test]
fn the_first_temporal_seeding_requests_create_every_entity() {
    let p = Plan::new("rtest".into(), 4, 100).with_temporal(10, 5);
    let mut rng = Rng::new(2);
    let ids: Vec<serde_json::Value> = (0..4)
        .map(|n| json(&p.temporal_seed_request(n, &mut rng).0)["id"].clone())
        .collect();
    let want: Vec<String> = (0..4).map(|i| p.temporal_id(i)).collect();
    assert_eq!(ids, want);
}

#[test]
fn temporal_lastn_reads_the_last_100_instances_of_every_attribute() {
    let p = temporal_plan();
    let mut rng = Rng::new(3);
    let r = p.request(Scenario::TemporalLastN, &mut rng, Some(0), 0);
    assert_eq!(r.method, Method::GET);
    assert!(r.body.is_none());
    assert!(
        r.path
            .starts_with("/temporal/entities/urn:ngsi-ld:BenchVehicle:rtest-t"),
        "{}",
        r.path
    );
    assert!(
        r.path
            .ends_with("?lastN=100&attrs=speed,fuelLevel,temperature,mileage,rpm"),
        "{}",
        r.path
    );
    let values = p.with_temporal_values(true);
    let r = values.request(Scenario::TemporalLastN, &mut rng, Some(0), 0);
    assert!(r.path.ends_with("&format=temporalValues"), "{}", r.path);
    assert_eq!(
        Scenario::TemporalLastN.instances_per_request(&values),
        Some(500)
    );
}

#[test]
fn temporal_range_reads_one_attribute_over_a_ten_minute_window_of_the_seeded_range() {
    let p = temporal_plan();
    let mut rng = Rng::new(4);
    let mut attrs = std::collections::HashSet::new();
    for seq in 0..200 {
        let r = p.request(Scenario::TemporalRange, &mut rng, Some(1), seq);
        let (_, query) = r.path.split_once('?').unwrap_or_default();
        let params: std::collections::HashMap<&str, &str> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        assert_eq!(params.get("timerel"), Some(&"between"));
        let at = |name: &str| {
            params
                .get(name)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp())
                .unwrap_or_default()
        };
        let (from, to) = (at("timeAt"), at("endTimeAt"));
        assert_eq!(to - from, 600, "{}", r.path);
        assert!(from >= temporal::START_SECS, "{}", r.path);
        assert!(to <= temporal::START_SECS + 100_000, "{}", r.path);
        attrs.insert(params.get("attrs").copied().unwrap_or_default().to_owned());
    }
    assert_eq!(attrs.len(), 5, "{attrs:?}");
    assert_eq!(Scenario::TemporalRange.instances_per_request(&p), Some(600));
    let short = p.clone().with_temporal(100, 100);
    assert_eq!(
        Scenario::TemporalRange.instances_per_request(&short),
        Some(100)
    );
}

#[test]
fn temporal_aggregate_covers_one_attributes_whole_seeded_range_per_hour() {
    let p = temporal_plan();
    let mut rng = Rng::new(5);
    let r = p.request(Scenario::TemporalAggregate, &mut rng, Some(0), 0);
    assert!(
        r.path.contains(concat!(
            "?format=aggregatedValues&aggrMethods=avg,min,max,sum&aggrPeriodDuration=PT1H",
            "&timerel=between&timeAt=2026-01-01T00:00:00Z&endTimeAt=2026-01-02T03:46:40Z&attrs="
        )),
        "{}",
        r.path
    );
    assert_eq!(
        Scenario::TemporalAggregate.instances_per_request(&p),
        Some(100_000)
    );
    assert_eq!(Scenario::Retrieve.instances_per_request(&p), None);
}

#[test]
fn temporal_descriptions_name_the_request_and_the_seeded_history() {
    let p = temporal_plan();
    assert_eq!(
        Scenario::TemporalLastN.describe(&p),
        "GET /temporal/entities/{id}?lastN=100&attrs=speed,fuelLevel,temperature,mileage,rpm (20 entities, 100000 instances per attribute)"
    );
    assert_eq!(
        Scenario::TemporalRange.describe(&p),
        "GET /temporal/entities/{id}?timerel=between&timeAt=T&endTimeAt=T+10min&attrs=A (600 of 100000 instances per attribute, 20 entities)"
    );
    assert!(Scenario::TemporalAggregate
        .describe(&p)
        .ends_with("&attrs=A (all 100000 instances, 20 entities)"));
}

#[test]
fn geo_and_ordered_queries_ask_the_first_type() {
    let mut rng = Rng::new(5);
    let ten = plan().with_types(10);
    let geo = ten.request(Scenario::QueryGeo, &mut rng, Some(0), 0);
    assert!(
        geo.path.starts_with(
            "/entities?type=BenchVehicle0&georel=near%3BmaxDistance%3D%3D1000&geometry=Point&coordinates=%5B2."
        ),
        "{}",
        geo.path
    );
    let order = ten.request(Scenario::QueryOrder, &mut rng, Some(0), 0);
    assert_eq!(
        order.path,
        "/entities?type=BenchVehicle0&orderBy=mileage&limit=20"
    );
}
