//! Request bodies: the BenchVehicle entity template and the update fragments, as JSON text.
//!
//! Bodies are written straight into a `String` (every interpolated value is a number or an
//! id made of URI-safe characters, so nothing needs escaping): the generator shares the
//! cores with the broker and must stay cheap. The tests parse them back to check the shape.

use std::borrow::Cow;
use std::fmt::Write;

use chrono::{SecondsFormat, Utc};

use crate::rng::Rng;

/// The entity type of the template (the seeded entities' only type unless `--types` > 1).
pub const ENTITY_TYPE: &str = "BenchVehicle";

/// The type of the `index`-th of entities spread over `types` types: `BenchVehicle` when
/// there is one type, else `BenchVehicle{index % types}` (`BenchVehicle0`, `BenchVehicle1`, ...).
pub fn entity_type(index: u64, types: u64) -> Cow<'static, str> {
    if types <= 1 {
        Cow::Borrowed(ENTITY_TYPE)
    } else {
        Cow::Owned(format!("{ENTITY_TYPE}{}", index % types))
    }
}

const BRANDS: [&str; 6] = ["Volvo", "Renault", "Fiat", "Skoda", "Tesla", "Toyota"];

/// The current time as an NGSI-LD DateTime (UTC, milliseconds).
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The id of a template entity: `urn:ngsi-ld:BenchVehicle:{run}-{tag}{n}`.
pub fn entity_id(run: &str, tag: &str, n: u64) -> String {
    format!("urn:ngsi-ld:{ENTITY_TYPE}:{run}-{tag}{n}")
}

/// The owner a relationship points to.
pub fn owner_id(n: u64) -> String {
    format!("urn:ngsi-ld:Owner:{n}")
}

/// Mostly "ok", so `status=="ok"` selects about 70 % of the entities.
pub fn status(rng: &mut Rng) -> &'static str {
    match rng.below(10) {
        0..=6 => "ok",
        7 | 8 => "maintenance",
        _ => "broken",
    }
}

/// A position in the area the template's vehicles are spread over (central Paris).
pub fn random_position(rng: &mut Rng) -> (f64, f64) {
    let lon = rng.range_f64(2.25, 2.42);
    let lat = rng.range_f64(48.81, 48.90);
    (lon, lat)
}

/// Upper bound (exclusive) of the mileage values.
pub const MILEAGE_MAX: u64 = 200_000;

/// Appends one template entity: 6 Properties (`speed` and `fuelLevel` with two datasetId
/// instances each, `temperature` with an `accuracy` sub-property, `brand`, `mileage`,
/// `status`), the Relationship `owner` and the GeoProperty `location`.
pub fn write_vehicle(
    out: &mut String,
    (id, ty): (&str, &str),
    rng: &mut Rng,
    owners: u64,
    now: &str,
) {
    let brand = BRANDS
        .get(rng.below(BRANDS.len() as u64) as usize)
        .unwrap_or(&"Volvo");
    let mileage = rng.below(MILEAGE_MAX);
    let status = status(rng);
    let gps = rng.range_f64(0.0, 130.0);
    let obd = (gps + rng.range_f64(-2.0, 2.0)).max(0.0);
    let fuel = rng.range_f64(0.0, 1.0);
    let temperature = rng.range_f64(-10.0, 40.0);
    let owner = rng.below(owners.max(1));
    let (lon, lat) = random_position(rng);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        concat!(
            r#"{{"id":"{id}","type":"{ty}","#,
            r#""brand":{{"type":"Property","value":"{brand}"}},"#,
            r#""mileage":{{"type":"Property","value":{mileage},"observedAt":"{now}"}},"#,
            r#""status":{{"type":"Property","value":"{status}"}},"#,
            r#""speed":["#,
            r#"{{"type":"Property","value":{gps:.1},"unitCode":"KMH","observedAt":"{now}","datasetId":"urn:ngsi-ld:dataset:gps"}},"#,
            r#"{{"type":"Property","value":{obd:.1},"unitCode":"KMH","observedAt":"{now}","datasetId":"urn:ngsi-ld:dataset:obd"}}],"#,
            r#""fuelLevel":["#,
            r#"{{"type":"Property","value":{fuel:.2},"datasetId":"urn:ngsi-ld:dataset:sensor"}},"#,
            r#"{{"type":"Property","value":{fuel_est:.2},"datasetId":"urn:ngsi-ld:dataset:estimate"}}],"#,
            r#""temperature":{{"type":"Property","value":{temperature:.1},"unitCode":"CEL","observedAt":"{now}","#,
            r#""accuracy":{{"type":"Property","value":0.5}}}},"#,
            r#""owner":{{"type":"Relationship","object":"{owner}"}},"#,
            r#""location":{{"type":"GeoProperty","value":{{"type":"Point","coordinates":[{lon:.5},{lat:.5}]}}}}}}"#,
        ),
        id = id,
        ty = ty,
        brand = brand,
        mileage = mileage,
        now = now,
        status = status,
        gps = gps,
        obd = obd,
        fuel = fuel,
        fuel_est = (fuel * 0.97).min(1.0),
        temperature = temperature,
        owner = owner_id(owner),
        lon = lon,
        lat = lat,
    );
}

/// One template entity (id and type) as a body of its own.
pub fn vehicle(entity: (&str, &str), rng: &mut Rng, owners: u64) -> String {
    let mut out = String::with_capacity(1024);
    write_vehicle(&mut out, entity, rng, owners, &now());
    out
}

/// A JSON array of template entities, given as (id, type) pairs (the body of a batch operation).
pub fn vehicles<'a>(
    entities: impl IntoIterator<Item = (&'a str, &'a str)>,
    rng: &mut Rng,
    owners: u64,
) -> String {
    let now = now();
    let mut out = String::with_capacity(100 * 1024);
    out.push('[');
    for (i, entity) in entities.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_vehicle(&mut out, entity, rng, owners, &now);
    }
    out.push(']');
    out
}

/// The body of a partial attribute update of `mileage` (PATCH .../attrs/mileage).
pub fn mileage_fragment(rng: &mut Rng) -> String {
    mileage_value_fragment(rng.below(MILEAGE_MAX))
}

/// The same with a given value.
pub fn mileage_value_fragment(value: u64) -> String {
    format!(r#"{{"value":{value},"observedAt":"{}"}}"#, now())
}

/// The body of an Update Attributes request (PATCH .../attrs): status, mileage, temperature.
pub fn update_attrs_fragment(rng: &mut Rng) -> String {
    let now = now();
    format!(
        concat!(
            r#"{{"status":{{"type":"Property","value":"{status}"}},"#,
            r#""mileage":{{"type":"Property","value":{mileage},"observedAt":"{now}"}},"#,
            r#""temperature":{{"type":"Property","value":{temperature:.1},"unitCode":"CEL","observedAt":"{now}","#,
            r#""accuracy":{{"type":"Property","value":0.5}}}}}}"#,
        ),
        status = status(rng),
        mileage = rng.below(MILEAGE_MAX),
        now = now,
        temperature = rng.range_f64(-10.0, 40.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(s: &str) -> Value {
        match serde_json::from_str(s) {
            Ok(v) => v,
            Err(e) => panic!("invalid JSON ({e}): {s}"),
        }
    }

    fn assert_property(v: &Value) {
        assert_eq!(v["type"], "Property", "{v}");
        assert!(v.get("value").is_some(), "{v}");
    }

    fn assert_date_time(v: &Value) {
        let s = v.as_str().unwrap_or_default();
        assert!(chrono::DateTime::parse_from_rfc3339(s).is_ok(), "{s}");
    }

    #[test]
    fn the_vehicle_template_is_a_normalized_ngsi_ld_entity() {
        let mut rng = Rng::new(3);
        let id = entity_id("r1", "s", 42);
        let e = parse(&vehicle((&id, ENTITY_TYPE), &mut rng, 100));
        assert_eq!(e["id"], "urn:ngsi-ld:BenchVehicle:r1-s42");
        assert_eq!(e["type"], "BenchVehicle");
        let obj = e.as_object().map(|o| o.len()).unwrap_or(0);
        assert_eq!(obj, 10, "id, type and 8 attributes");

        for name in ["brand", "mileage", "status", "temperature"] {
            assert_property(&e[name]);
        }
        assert!(e["brand"]["value"].is_string());
        assert!(e["mileage"]["value"].is_u64());
        assert!(e["status"]["value"].is_string());
        assert_date_time(&e["mileage"]["observedAt"]);

        for (name, datasets) in [
            (
                "speed",
                ["urn:ngsi-ld:dataset:gps", "urn:ngsi-ld:dataset:obd"],
            ),
            (
                "fuelLevel",
                ["urn:ngsi-ld:dataset:sensor", "urn:ngsi-ld:dataset:estimate"],
            ),
        ] {
            let instances = e[name].as_array().cloned().unwrap_or_default();
            assert_eq!(instances.len(), 2, "{name}");
            for (inst, ds) in instances.iter().zip(datasets) {
                assert_property(inst);
                assert!(inst["value"].is_number());
                assert_eq!(inst["datasetId"], ds);
            }
        }
        assert_date_time(&e["speed"][0]["observedAt"]);

        assert_property(&e["temperature"]["accuracy"]);
        assert_eq!(e["temperature"]["unitCode"], "CEL");

        assert_eq!(e["owner"]["type"], "Relationship");
        let owner = e["owner"]["object"].as_str().unwrap_or_default();
        assert!(owner.starts_with("urn:ngsi-ld:Owner:"), "{owner}");
        let n: u64 = owner
            .rsplit(':')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        assert!(n < 100);

        assert_eq!(e["location"]["type"], "GeoProperty");
        assert_eq!(e["location"]["value"]["type"], "Point");
        let coords = e["location"]["value"]["coordinates"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(coords.len(), 2);
        assert!(coords.iter().all(Value::is_number));
    }

    #[test]
    fn values_vary_between_entities() {
        let mut rng = Rng::new(9);
        let bodies: Vec<Value> = (0..50)
            .map(|i| {
                parse(&vehicle(
                    (&entity_id("r", "c", i), ENTITY_TYPE),
                    &mut rng,
                    10,
                ))
            })
            .collect();
        let mileages: std::collections::HashSet<u64> = bodies
            .iter()
            .filter_map(|b| b["mileage"]["value"].as_u64())
            .collect();
        assert!(mileages.len() > 40);
        let statuses: std::collections::HashSet<&str> = bodies
            .iter()
            .filter_map(|b| b["status"]["value"].as_str())
            .collect();
        assert!(statuses.contains("ok") && statuses.len() > 1);
    }

    #[test]
    fn a_batch_body_is_an_array_of_entities_with_distinct_ids() {
        let mut rng = Rng::new(5);
        let ids: Vec<String> = (0..100).map(|i| entity_id("r", "b0-", i)).collect();
        let entities = ids.iter().map(|id| (id.as_str(), ENTITY_TYPE));
        let arr = parse(&vehicles(entities, &mut rng, 10));
        let arr = arr.as_array().cloned().unwrap_or_default();
        assert_eq!(arr.len(), 100);
        let distinct: std::collections::HashSet<&str> =
            arr.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(distinct.len(), 100);
    }

    #[test]
    fn one_type_keeps_the_template_type_and_several_cycle_by_index() {
        assert_eq!(entity_type(0, 1), "BenchVehicle");
        assert_eq!(entity_type(7, 1), "BenchVehicle");
        assert_eq!(entity_type(7, 0), "BenchVehicle");
        let five: Vec<_> = (0..7).map(|i| entity_type(i, 5)).collect();
        assert_eq!(
            five,
            [
                "BenchVehicle0",
                "BenchVehicle1",
                "BenchVehicle2",
                "BenchVehicle3",
                "BenchVehicle4",
                "BenchVehicle0",
                "BenchVehicle1"
            ]
        );
    }

    #[test]
    fn a_vehicle_carries_the_type_it_is_given() {
        let mut rng = Rng::new(4);
        let e = parse(&vehicle(
            ("urn:ngsi-ld:BenchVehicle:x", "BenchVehicle3"),
            &mut rng,
            1,
        ));
        assert_eq!(e["type"], "BenchVehicle3");
        assert_eq!(e["id"], "urn:ngsi-ld:BenchVehicle:x");
    }

    #[test]
    fn update_fragments_are_valid_attribute_fragments() {
        let mut rng = Rng::new(11);
        let m = parse(&mileage_fragment(&mut rng));
        assert!(m["value"].is_u64());
        assert_date_time(&m["observedAt"]);

        let u = parse(&update_attrs_fragment(&mut rng));
        for name in ["status", "mileage", "temperature"] {
            assert_property(&u[name]);
        }
        assert_property(&u["temperature"]["accuracy"]);
        assert_eq!(u.as_object().map(|o| o.len()), Some(3));
    }
}
