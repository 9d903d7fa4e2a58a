//! Behaviour of the temporal bodies, paths and the seeding read-back check.

use super::*;

fn parse(s: &str) -> Value {
    match serde_json::from_str(s) {
        Ok(v) => v,
        Err(e) => panic!("invalid JSON ({e}): {s}"),
    }
}

#[test]
fn instances_are_one_second_apart_from_the_start_of_2026() {
    assert_eq!(instant(0), "2026-01-01T00:00:00Z");
    assert_eq!(instant(1), "2026-01-01T00:00:01Z");
    assert_eq!(instant(3_600), "2026-01-01T01:00:00Z");
    assert_eq!(instant(100_000), "2026-01-02T03:46:40Z");
    assert!(!instant(MAX_INSTANCES).is_empty());
    assert_eq!(instant(u64::MAX), "");
}

#[test]
fn a_body_carries_the_same_instants_for_every_numeric_attribute() {
    let mut rng = Rng::new(1);
    let e = parse(&body(
        ("urn:ngsi-ld:BenchVehicle:r-t0", "BenchVehicle"),
        10,
        13,
        &mut rng,
    ));
    assert_eq!(e["id"], "urn:ngsi-ld:BenchVehicle:r-t0");
    assert_eq!(e["type"], "BenchVehicle");
    assert_eq!(e.as_object().map(|o| o.len()), Some(2 + ATTRIBUTES.len()));
    for name in ATTRIBUTES {
        let instances = e[name].as_array().cloned().unwrap_or_default();
        assert_eq!(instances.len(), 3, "{name}");
        for (k, inst) in (10..13).zip(&instances) {
            assert_eq!(inst["type"], "Property", "{inst}");
            assert!(inst["value"].is_number(), "{inst}");
            assert_eq!(inst["observedAt"], instant(k), "{inst}");
            assert_eq!(inst.as_object().map(|o| o.len()), Some(3), "{inst}");
        }
    }
}

#[test]
fn values_stay_in_each_attributes_range_and_vary() {
    let mut rng = Rng::new(2);
    let e = parse(&body(("urn:x", "T"), 0, 1_000, &mut rng));
    let values = |name: &str| -> Vec<f64> {
        e[name]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["value"].as_f64()).collect())
            .unwrap_or_default()
    };
    for (name, lo, hi) in [
        ("speed", 0.0, 130.0),
        ("fuelLevel", 0.0, 1.0),
        ("temperature", -10.0, 40.0),
        ("mileage", 0.0, MILEAGE_MAX as f64),
        ("rpm", 600.0, 6_000.0),
    ] {
        let v = values(name);
        assert_eq!(v.len(), 1_000, "{name}");
        assert!(v.iter().all(|x| (lo..=hi).contains(x)), "{name}");
        let distinct: std::collections::HashSet<u64> = v.iter().map(|x| x.to_bits()).collect();
        assert!(distinct.len() > 100, "{name}: {}", distinct.len());
    }
}

#[test]
fn the_largest_chunk_stays_under_the_body_size_aimed_at() {
    let mut rng = Rng::new(3);
    let id = "urn:ngsi-ld:BenchVehicle:r1234567890abc-t9999999";
    let from = MAX_INSTANCES - MAX_CHUNK;
    let b = body((id, "BenchVehicle"), from, MAX_INSTANCES, &mut rng);
    let per_instance = (b.len() - id.len()) as f64 / (MAX_CHUNK as f64 * 5.0);
    assert!(per_instance <= MAX_INSTANCE_BYTES as f64, "{per_instance}");
    assert!(b.len() < 1_500_000, "{}", b.len());
    assert_eq!(
        parse(&b)["rpm"].as_array().map(Vec::len),
        Some(MAX_CHUNK as usize)
    );
}

#[test]
fn an_empty_range_gives_attributes_without_instances() {
    let mut rng = Rng::new(4);
    let e = parse(&body(("urn:x", "T"), 5, 5, &mut rng));
    assert_eq!(e["speed"], serde_json::json!([]));
}

#[test]
fn paths_ask_the_temporal_api_for_lastn_a_window_and_an_hourly_aggregation() {
    assert_eq!(
        last_n_path("urn:x", false),
        "/temporal/entities/urn:x?lastN=100&attrs=speed,fuelLevel,temperature,mileage,rpm"
    );
    assert!(last_n_path("urn:x", true).ends_with("rpm&format=temporalValues"));
    assert_eq!(
        range_path("urn:x", "speed", 60, false),
        "/temporal/entities/urn:x?timerel=between&timeAt=2026-01-01T00:01:00Z&endTimeAt=2026-01-01T00:11:00Z&attrs=speed"
    );
    assert_eq!(
        aggregate_path("urn:x", "rpm", 7_200),
        concat!(
            "/temporal/entities/urn:x?format=aggregatedValues&aggrMethods=avg,min,max,sum",
            "&aggrPeriodDuration=PT1H&timerel=between&timeAt=2026-01-01T00:00:00Z",
            "&endTimeAt=2026-01-01T02:00:00Z&attrs=rpm"
        )
    );
}

#[test]
fn windows_start_anywhere_they_fit_in_the_seeded_range() {
    let mut rng = Rng::new(5);
    let starts: Vec<u64> = (0..2_000).map(|_| window_start(1_000, &mut rng)).collect();
    assert!(starts.iter().all(|s| *s <= 400));
    assert!(starts.contains(&0) && starts.contains(&400));
    assert_eq!(window_start(600, &mut rng), 0);
    assert_eq!(window_start(10, &mut rng), 0);
}

fn last_n_answer(per_attribute: u64, last: u64) -> String {
    let mut e = serde_json::Map::new();
    e.insert("id".into(), "urn:x".into());
    e.insert("type".into(), "BenchVehicle".into());
    for name in ATTRIBUTES {
        let instances: Vec<Value> = (last + 1 - per_attribute..=last)
            .rev()
            .map(|k| serde_json::json!({"type": "Property", "value": 1, "observedAt": instant(k)}))
            .collect();
        e.insert(name.into(), Value::Array(instances));
    }
    Value::Object(e).to_string()
}

#[test]
fn the_read_back_accepts_the_last_instances_in_any_order() {
    let found = check_last_n(last_n_answer(100, 999).as_bytes(), 1_000);
    assert_eq!(
        found,
        Ok("100 instances of each of the 5 attributes, the latest at 2026-01-01T00:16:39Z".into())
    );
    assert!(check_last_n(last_n_answer(20, 19).as_bytes(), 20).is_ok());
    let one = serde_json::json!({
        "id": "urn:x", "type": "T",
        "speed": {"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00.000Z"},
        "fuelLevel": [{"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00Z"}],
        "temperature": [{"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00Z"}],
        "mileage": [{"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00Z"}],
        "rpm": [{"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00Z"}]
    });
    assert!(check_last_n(one.to_string().as_bytes(), 1).is_ok());
}

#[test]
fn the_read_back_says_what_is_missing() {
    let short = check_last_n(last_n_answer(50, 999).as_bytes(), 1_000);
    assert_eq!(short, Err("speed has 50 instances, 100 expected".into()));
    let stale = check_last_n(last_n_answer(100, 500).as_bytes(), 1_000);
    assert!(
        stale
            .as_ref()
            .is_err_and(|e| e.contains("2026-01-01T00:16:39Z expected")),
        "{stale:?}"
    );
    let missing = check_last_n(br#"{"id":"urn:x","type":"T"}"#, 10);
    assert_eq!(missing, Err("attribute speed is missing".into()));
    assert!(check_last_n(b"<html>", 10).is_err());
}
