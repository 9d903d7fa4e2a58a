//! Contract checks: whatever a backend reads its candidates from (indexes, key ranges, a
//! scan), a selection answers exactly what evaluating the query on every entity answers,
//! over every attribute kind, operator, path, scope and geometry, with paging and counts.

use std::ops::Range;

use super::selection::{ids_and_total, ids_of, of_types, q};
use super::*;
use crate::Selection;
use rigel_query::{EntityQuery, GeoQuery, ScopeExpr};

/// 64 bytes of a longer string.
const LONG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

const T_CAR: &str = "https://example.org/ns#Car";
const T_BUS: &str = "https://example.org/ns#Bus";
const T_STOP: &str = "https://example.org/ns#Stop";

fn ex(name: &str) -> String {
    format!("https://example.org/ns#{name}")
}

fn prop(value: serde_json::Value) -> Attribute {
    attribute(AttributeValue::Property(value))
}

/// A fleet with values of every kind, spread so that queries select few, many or none.
fn fleet(n: usize) -> Vec<Entity> {
    (0..n)
        .map(|i| {
            let ty = [T_CAR, T_BUS, T_STOP][i % 3];
            let mut e = sample_entity(&format!("urn:fleet:{i:04}"), &[ty]);
            let mut put = |name: &str, a: Attribute| {
                e.attributes.entry(ex(name)).or_default().push(a);
            };
            if i % 11 == 0 {
                // Sorts after every number.
                put("speed", prop(json!("fast")));
            } else {
                put("speed", prop(json!((i * 7 % 101) as f64 - 20.5)));
            }
            if i % 4 == 0 {
                let mut second = prop(json!(i % 13));
                second.dataset_id = Some("urn:ngsi-ld:dataset:obd".into());
                put("speed", second);
            }
            put("status", prop(json!(["ok", "broken", "maintenance"][i % 3])));
            if i % 13 != 0 {
                put("mileage", prop(json!((i * 37 % 50) * 1000)));
            }
            // Long strings that share their first 64 bytes and differ after them.
            put("note", prop(json!(format!("{}{:02}", LONG, i % 7))));
            put("active", prop(json!(i % 5 != 0)));
            put(
                "serviced",
                prop(json!(format!("2024-0{}-1{}T08:00:00Z", 1 + i % 9, i % 10))),
            );
            put(
                "owner",
                attribute(AttributeValue::Relationship {
                    object: json!(format!("urn:owner:{}", i % 17)),
                    object_type: None,
                }),
            );
            if i % 6 == 0 {
                put(
                    "tags",
                    prop(json!(["red", {"@value": "blue"}, 3, i % 2 == 0])),
                );
            }
            let mut temperature = prop(json!(15 + (i % 20) as i64));
            temperature
                .sub_attributes
                .insert(ex("accuracy"), prop(json!((i % 4) as f64 / 4.0)));
            put("temperature", temperature);
            let (lon, lat) = (2.0 + (i % 23) as f64 * 0.01, 48.0 + (i % 19) as f64 * 0.01);
            let geometry = if i % 10 == 0 {
                json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.05, lat], [lon + 0.05, lat + 0.05], [lon, lat + 0.05], [lon, lat]]]})
            } else {
                json!({"type": "Point", "coordinates": [lon, lat]})
            };
            e.attributes.insert(
                "https://uri.etsi.org/ngsi-ld/location".into(),
                vec![attribute(AttributeValue::GeoProperty(geometry))],
            );
            if i % 3 != 2 {
                e.scope = Some(vec![format!("/City{}/District{}", i % 2, i % 5)]);
            }
            e
        })
        .collect()
}

/// The queries compared: q over every kind and operator, scopeQ, geoQ, and combinations.
fn queries() -> Vec<(String, EntityQuery)> {
    let q_texts = [
        "ex:speed>50",
        "ex:speed<=-10",
        "ex:speed==3",
        "ex:speed==0..12",
        "ex:speed==5,7,9",
        "ex:status==\"ok\"",
        "ex:status==\"ok\";ex:speed>20",
        "ex:status==\"broken\"|ex:mileage<5000",
        "ex:status>\"c\"",
        "ex:mileage>=250000",
        "ex:mileage==42000",
        "ex:active==false",
        "ex:serviced>2024-05-01T00:00:00Z",
        "ex:serviced==2024-03-12T08:00:00Z",
        "ex:owner==urn:owner:3",
        "ex:owner==\"urn:owner:4\";ex:speed>0",
        "ex:tags==\"blue\"",
        "ex:tags==3",
        "ex:tags==true",
        "ex:temperature.ex:accuracy==0.5",
        "ex:temperature.ex:accuracy>0.6;ex:temperature<20",
        "ex:speed!=3",
        "ex:status~=\"^b\"",
        "(ex:speed>90|ex:speed<-15);ex:active==true",
        "ex:nothing==1",
    ];
    let long_texts = [
        format!("ex:note==\"{LONG}03\""),
        format!("ex:note>\"{LONG}04\""),
        format!("ex:note<\"{LONG}02\""),
        format!("ex:note>\"{LONG}\""),
        format!("ex:note<=\"{LONG}\""),
        format!("ex:note==\"{LONG}\""),
    ];
    let mut all: Vec<(String, EntityQuery)> = Vec::new();
    for text in q_texts
        .iter()
        .copied()
        .chain(long_texts.iter().map(String::as_str))
    {
        for (types, label) in [
            (vec![T_CAR, T_BUS, T_STOP], "all types"),
            (vec![T_BUS], "Bus"),
        ] {
            let mut query = of_types(&types);
            query.q = Some(q(text));
            all.push((format!("{label}: q={text}"), query));
        }
        let untyped = EntityQuery {
            q: Some(q(text)),
            ..EntityQuery::default()
        };
        all.push((format!("no type: q={text}"), untyped));
    }
    for scope in [
        "/City0",
        "/City1/#",
        "/City0/District2",
        "/+/District3",
        "/#",
        "/City1/District1;/City1/#",
    ] {
        let mut query = of_types(&[T_CAR, T_BUS]);
        query.scope = Some(ScopeExpr::parse(scope).expect("scopeQ"));
        all.push((format!("scopeQ={scope}"), query));
    }
    let location = "https://uri.etsi.org/ngsi-ld/location";
    for (georel, geometry, coordinates) in [
        ("near;maxDistance==1500", "Point", "[2.1,48.1]"),
        ("near;maxDistance==100", "Point", "[2.05,48.05]"),
        (
            "within",
            "Polygon",
            "[[[2.0,48.0],[2.1,48.0],[2.1,48.08],[2.0,48.08],[2.0,48.0]]]",
        ),
        ("intersects", "Point", "[2.02,48.02]"),
        ("near;minDistance==5000", "Point", "[2.1,48.1]"),
        ("disjoint", "Point", "[2.0,48.0]"),
    ] {
        let mut query = of_types(&[T_CAR, T_BUS, T_STOP]);
        query.geo = Some(GeoQuery::parse(georel, geometry, coordinates, location).expect("geoQ"));
        query.q = Some(q("ex:speed>0"));
        all.push((format!("geoQ={georel} {coordinates}"), query));
    }
    all
}

/// Every query answers, page by page and counted, what the evaluator answers over every
/// entity of the tenant.
pub async fn queries_answer_what_evaluating_every_entity_answers<S: EntityStore>(store: Arc<S>) {
    let tenant = named("query-equivalence");
    let entities = fleet(240);
    for chunk in entities.chunks(60) {
        let ops = chunk
            .iter()
            .cloned()
            .map(|e| put(e, Expect::Absent))
            .collect();
        store.commit(&tenant, ops).await.expect("commit");
    }
    let mut matched_some = 0;
    for (described, query) in queries() {
        let expected: Vec<&str> = entities
            .iter()
            .filter(|e| query.matches(e))
            .map(|e| e.id.as_str())
            .collect();
        matched_some += usize::from(!expected.is_empty());
        let query = Arc::new(query);
        for window in [0..usize::MAX, 0..5, 3..10] {
            let Range { start, end } = window;
            let limit = end.saturating_sub(start);
            let selection = Selection {
                offset: start,
                count: true,
                ..Selection::new(Arc::clone(&query), limit)
            };
            let (ids, total) = ids_and_total(&*store, &tenant, selection).await;
            let want: Vec<&str> = expected.iter().copied().skip(start).take(limit).collect();
            assert_eq!(ids, want, "{described}, offset {start} limit {limit}");
            assert_eq!(total, Some(expected.len()), "{described}: count");
        }
        // Keyset paging resumes past the first match.
        if let Some(first) = expected.first() {
            let selection = Selection {
                after: Some((*first).to_owned()),
                ..Selection::new(Arc::clone(&query), usize::MAX)
            };
            let ids = ids_of(&*store, &tenant, selection).await;
            assert_eq!(ids, expected[1..], "{described}, after {first}");
        }
    }
    assert!(
        matched_some >= 60,
        "only {matched_some} queries match anything"
    );

    // Ordered: the page of the matches sorted by the order, ties in id order.
    for order_text in [
        "ex:speed",
        "ex:mileage",
        "ex:speed;desc",
        "ex:status",
        "ex:temperature.ex:accuracy",
    ] {
        let order = Arc::new(
            rigel_query::OrderBy::parse(order_text, &super::selection::KitTerms).expect("orderBy"),
        );
        for (types, q_text) in [
            (vec![T_BUS], None),
            (vec![T_BUS], Some("ex:active==true")),
            (vec![T_CAR, T_STOP], Some("ex:speed>0")),
            (vec![T_STOP], Some("ex:owner==urn:owner:3")),
        ] {
            let mut query = of_types(&types);
            query.q = q_text.map(q);
            let mut expected: Vec<&Entity> = entities.iter().filter(|e| query.matches(e)).collect();
            expected.sort_by_cached_key(|e| order.sort_key(e));
            let query = Arc::new(query);
            for (offset, limit) in [(0, 5), (0, usize::MAX), (7, 4), (60, 10)] {
                let selection = Selection {
                    offset,
                    count: true,
                    order: Some(Arc::clone(&order)),
                    ..Selection::new(Arc::clone(&query), limit)
                };
                let selected = store.select(&tenant, selection).await.expect("select");
                let ids: Vec<&str> = selected
                    .entities
                    .iter()
                    .map(|v| v.value.id.as_str())
                    .collect();
                let want: Vec<&str> = expected
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(|e| e.id.as_str())
                    .collect();
                assert_eq!(
                    ids, want,
                    "orderBy={order_text} {q_text:?} offset {offset} limit {limit}"
                );
                assert_eq!(
                    selected.total,
                    Some(expected.len()),
                    "orderBy={order_text}: count"
                );
            }
        }
    }

    // Writes move entities in and out of the answers.
    let mut changed = entities[0].clone();
    changed
        .attributes
        .insert(ex("status"), vec![prop(json!("scrapped"))]);
    changed.attributes.remove(&ex("owner"));
    changed.types = vec![T_BUS.to_owned()];
    commit_one(&*store, &tenant, put(changed, Expect::Any)).await;
    commit_one(&*store, &tenant, delete(&entities[3].id, Expect::Any)).await;
    let mut scrapped = of_types(&[T_BUS]);
    scrapped.q = Some(q("ex:status==\"scrapped\""));
    let mut owned = of_types(&[T_CAR, T_BUS, T_STOP]);
    owned.q = Some(q("ex:owner==urn:owner:0|ex:owner==urn:owner:3"));
    let mut was_car = of_types(&[T_CAR]);
    was_car.q = Some(q("ex:status==\"ok\""));
    let ids = |query: EntityQuery| {
        let store = Arc::clone(&store);
        let tenant = tenant.clone();
        async move {
            store
                .select(&tenant, Selection::new(Arc::new(query), usize::MAX))
                .await
                .expect("select")
                .entities
                .into_iter()
                .map(|v| v.value.id.clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(scrapped).await, ["urn:fleet:0000"]);
    let owners = ids(owned).await;
    assert!(
        !owners.contains(&"urn:fleet:0000".to_owned()),
        "a removed relationship still matches"
    );
    assert!(
        !owners.contains(&"urn:fleet:0003".to_owned()),
        "a deleted entity still matches"
    );
    assert!(
        !ids(was_car).await.contains(&"urn:fleet:0000".to_owned()),
        "a removed type still matches"
    );
}

/// A dense area: 3,000 points (a few with two locations, a few large polygons) over about
/// 4 km by 6 km, and 600 more within about 100 m of one spot, of two types, in a
/// deterministic scatter.
fn dense_area() -> Vec<Entity> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..3600)
        .map(|i| {
            let ty = [T_CAR, T_BUS][i % 2];
            // Ids out of step with positions, so that id order is not space order.
            let mut e = sample_entity(&format!("urn:dense:{:05}", (i * 7919) % 10007), &[ty]);
            let (lon, lat) = if i < 3000 {
                (2.30 + next() * 0.055, 48.84 + next() * 0.055)
            } else {
                (2.3258 + next() * 0.0024, 48.8642 + next() * 0.0016)
            };
            let geometry = if i % 250 == 0 {
                json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.03, lat], [lon + 0.03, lat + 0.02], [lon, lat + 0.02], [lon, lat]]]})
            } else {
                json!({"type": "Point", "coordinates": [lon, lat]})
            };
            let mut locations = vec![attribute(AttributeValue::GeoProperty(geometry))];
            if i % 40 == 0 {
                let mut second = attribute(AttributeValue::GeoProperty(
                    json!({"type": "Point", "coordinates": [2.3 + next() * 0.055, 48.84]}),
                ));
                second.dataset_id = Some("urn:ngsi-ld:dataset:second".into());
                locations.push(second);
            }
            e.attributes
                .insert("https://uri.etsi.org/ngsi-ld/location".into(), locations);
            e.attributes
                .insert(ex("rank"), vec![prop(json!((i % 10) as i64))]);
            e
        })
        .collect()
}

/// Pages of geospatial queries over a dense area, where a backend may read its candidates
/// tile by tile in id order: each page, resumed by offset or after an id, is what the
/// evaluator answers, with and without a q term.
pub async fn dense_geo_pages_answer_what_evaluating_every_entity_answers<S: EntityStore>(
    store: Arc<S>,
) {
    let tenant = named("dense-geo");
    let entities = dense_area();
    for chunk in entities.chunks(500) {
        let ops = chunk
            .iter()
            .cloned()
            .map(|e| put(e, Expect::Absent))
            .collect();
        store.commit(&tenant, ops).await.expect("commit");
    }
    let location = "https://uri.etsi.org/ngsi-ld/location";
    let mut queries = Vec::new();
    for (georel, geometry, coordinates) in [
        ("near;maxDistance==1000", "Point", "[2.33,48.87]"),
        ("near;maxDistance==2000", "Point", "[2.31,48.85]"),
        ("near;maxDistance==300", "Point", "[2.32,48.86]"),
        ("near;maxDistance==120", "Point", "[2.327,48.865]"),
        ("near;maxDistance==1500", "Point", "[2.355,48.895]"),
        (
            "within",
            "Polygon",
            "[[[2.31,48.85],[2.34,48.85],[2.34,48.87],[2.31,48.87],[2.31,48.85]]]",
        ),
        (
            "intersects",
            "Polygon",
            "[[[2.30,48.84],[2.33,48.84],[2.32,48.86],[2.30,48.84]]]",
        ),
    ] {
        for (types, q_text) in [
            (vec![T_CAR], None),
            (vec![T_CAR, T_BUS], None),
            (vec![T_BUS], Some("ex:rank<3")),
        ] {
            let mut query = of_types(&types);
            query.geo =
                Some(GeoQuery::parse(georel, geometry, coordinates, location).expect("geoQ"));
            query.q = q_text.map(q);
            queries.push((
                format!("{georel} {coordinates} {types:?} {q_text:?}"),
                query,
            ));
        }
    }
    let mut dense = 0;
    for (described, query) in queries {
        let mut expected: Vec<&str> = entities
            .iter()
            .filter(|e| query.matches(e))
            .map(|e| e.id.as_str())
            .collect();
        expected.sort_unstable();
        dense += usize::from(expected.len() > 100);
        let query = Arc::new(query);
        for (offset, limit) in [(0, 20), (20, 20), (0, 1), (95, 30)] {
            let selection = Selection {
                offset,
                ..Selection::new(Arc::clone(&query), limit)
            };
            let ids = ids_of(&*store, &tenant, selection).await;
            let want: Vec<&str> = expected.iter().copied().skip(offset).take(limit).collect();
            assert_eq!(ids, want, "{described}, offset {offset} limit {limit}");
        }
        if let Some(after) = expected.get(10) {
            let selection = Selection {
                after: Some((*after).to_owned()),
                ..Selection::new(Arc::clone(&query), 20)
            };
            let ids = ids_of(&*store, &tenant, selection).await;
            let want: Vec<&str> = expected.iter().copied().skip(11).take(20).collect();
            assert_eq!(ids, want, "{described}, after {after}");
        }
    }
    assert!(
        dense >= 8,
        "only {dense} queries match more than 100 entities"
    );
}
