//! The value index changes no answer: the same queries over the same entities return the
//! same bodies and counts from the broker under test (index on) and from a second broker
//! with `--value-index false`, for every q operator, scopeQ, geoQ, orderBy and paging.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

/// A fleet of vehicles, lots and sensors with values of every kind.
fn fleet() -> Vec<Value> {
    (0..180)
        .map(|i| {
            let ty = ["Vehicle", "ParkingLot", "Sensor"][i % 3];
            let (lon, lat) = (2.30 + (i % 17) as f64 * 0.005, 48.80 + (i % 13) as f64 * 0.005);
            let status = ["free", "occupied", "closed"][i % 3];
            let category = ["street", "garage"][i % 2];
            let mut e = json!({
                "id": format!("urn:ngsi-ld:{ty}:idx-{i:03}"),
                "type": ty,
                "speed": [
                    {"type": "Property", "value": (i * 7 % 101) as f64 - 20.5},
                    {"type": "Property", "value": i % 13, "datasetId": "urn:ngsi-ld:dataset:obd"}
                ],
                "status": {"type": "Property", "value": status},
                "capacity": {"type": "Property", "value": i * 10,
                    "accuracy": {"type": "Property", "value": (i % 4) as f64 / 4.0}},
                "open": {"type": "Property", "value": i % 5 != 0},
                "checkedAt": {"type": "Property", "value": {"@type": "DateTime",
                    "@value": format!("2024-0{}-1{}T08:00:00Z", 1 + i % 9, i % 10)}},
                "operator": {"type": "Relationship", "object": format!("urn:ngsi-ld:Company:{}", i % 11)},
                "category": {"type": "VocabProperty", "vocab": category},
                "name": {"type": "LanguageProperty", "languageMap": {"en": format!("Lot {i}"), "fr": format!("Parc {i}")}},
                "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
            });
            if i % 4 != 3 {
                e["scope"] = json!(format!("/Paris/District{}", i % 6));
            }
            if i % 9 == 0 {
                e["tags"] = json!({"type": "ListProperty", "valueList": ["ev", i % 2 == 0, 4]});
            }
            e
        })
        .collect()
}

/// Creates the fleet in a fresh tenant of a broker.
async fn seed(base: &dyn Fn(&str) -> String, tenant: &str) {
    for chunk in fleet().chunks(60) {
        let reply = send(
            client()
                .request(Method::POST, base("/entityOperations/create"))
                .tenant(tenant)
                .json(&chunk),
        )
        .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
}

#[tokio::test]
async fn answers_are_the_same_with_and_without_the_value_index() {
    let Some(unindexed) = unindexed_target() else {
        return;
    };
    let tenant = unique_tenant();
    seed(&url, &tenant).await;
    seed(&|p| unindexed.url(p), &tenant).await;
    let queries: Vec<Vec<(&str, &str)>> = vec![
        vec![("type", "Vehicle"), ("q", "speed>40")],
        vec![("type", "Vehicle,Sensor"), ("q", "speed<=-10")],
        vec![("type", "ParkingLot"), ("q", "speed==3")],
        vec![("type", "ParkingLot"), ("q", "speed==0..12;open==true")],
        vec![("type", "Sensor"), ("q", "speed==5,7,9|status==\"closed\"")],
        vec![
            ("type", "ParkingLot"),
            ("q", "status==\"occupied\";capacity>500"),
        ],
        vec![("type", "Vehicle"), ("q", "status>\"c\"")],
        vec![("type", "Vehicle"), ("q", "capacity.accuracy==0.5")],
        vec![("type", "Vehicle"), ("q", "checkedAt>2024-05-01T00:00:00Z")],
        vec![
            ("type", "Vehicle"),
            ("q", "checkedAt==2024-03-12T08:00:00Z"),
        ],
        vec![("type", "Sensor"), ("q", "operator==urn:ngsi-ld:Company:3")],
        vec![
            ("type", "Vehicle,ParkingLot,Sensor"),
            ("q", "operator==\"urn:ngsi-ld:Company:4\";speed>0"),
        ],
        vec![("type", "Vehicle"), ("q", "category==street")],
        vec![("type", "ParkingLot"), ("q", "name==\"Lot 10\"")],
        vec![("type", "Vehicle"), ("q", "tags==\"ev\"")],
        vec![("type", "Vehicle"), ("q", "speed!=3")],
        vec![("type", "Vehicle"), ("q", "status~=\"^o\"")],
        vec![("type", "Vehicle"), ("q", "nothing==1")],
        vec![("q", "operator==urn:ngsi-ld:Company:5")],
        vec![
            ("type", "Vehicle,ParkingLot"),
            ("scopeQ", "/Paris/District1"),
        ],
        vec![("type", "Vehicle,ParkingLot"), ("scopeQ", "/Paris/#")],
        vec![("type", "Sensor"), ("scopeQ", "/+/District2")],
        vec![
            ("type", "Vehicle,ParkingLot,Sensor"),
            ("georel", "near;maxDistance==400"),
            ("geometry", "Point"),
            ("coordinates", "[2.32,48.82]"),
        ],
        vec![
            ("type", "ParkingLot"),
            ("georel", "within"),
            ("geometry", "Polygon"),
            (
                "coordinates",
                "[[[2.30,48.80],[2.33,48.80],[2.33,48.83],[2.30,48.83],[2.30,48.80]]]",
            ),
        ],
        vec![
            ("type", "Sensor"),
            ("georel", "near;minDistance==2000"),
            ("geometry", "Point"),
            ("coordinates", "[2.32,48.82]"),
        ],
        vec![
            ("type", "Vehicle"),
            ("q", "capacity>300"),
            ("orderBy", "capacity;desc"),
        ],
        vec![
            ("type", "ParkingLot"),
            ("q", "speed>0"),
            ("orderBy", "speed"),
            ("offset", "3"),
        ],
        vec![
            ("type", "Vehicle"),
            ("q", "speed>0"),
            ("limit", "5"),
            ("offset", "4"),
        ],
        vec![
            ("type", "Sensor"),
            ("q", "open==false"),
            ("attrs", "status"),
        ],
    ];
    let mut nonempty = 0;
    for params in queries {
        let mut params = params.clone();
        params.push(("count", "true"));
        if !params.iter().any(|(k, _)| *k == "limit") {
            params.push(("limit", "1000"));
        }
        let indexed = send(get("/entities").tenant(&tenant).query(&params)).await;
        let plain = send(
            client()
                .get(unindexed.url("/entities"))
                .tenant(&tenant)
                .query(&params),
        )
        .await;
        assert_eq!(indexed.status, 200, "{params:?}: {:?}", indexed.body);
        assert_eq!(indexed.json(), plain.json(), "{params:?}");
        assert_eq!(
            indexed.header("NGSILD-Results-Count"),
            plain.header("NGSILD-Results-Count"),
            "{params:?}"
        );
        nonempty += usize::from(indexed.json().as_array().is_some_and(|a| !a.is_empty()));
    }
    assert!(nonempty >= 24, "only {nonempty} queries found anything");
}
