//! The index lookups select a superset of the matches: every entity a query matches has
//! the entries its lookup asks for, over every attribute kind, operator and path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use crate::index::Lookup;
use crate::q::QOptions;
use crate::testkit::*;
use crate::{EntityQuery, GeoQuery, QExpr, ScopeExpr};
use rigel_model::{AttributeValue, Entity};

fn entities() -> Vec<Entity> {
    let mut with_sub = prop(json!(7));
    with_sub
        .sub_attributes
        .insert(iri("accuracy"), prop(json!(0.5)));
    let mut dataset = prop(json!(30));
    dataset.dataset_id = Some("urn:ngsi-ld:dataset:b".into());
    vec![
        entity("urn:e:1")
            .with("speed", prop(json!(12.5)))
            .with("speed", dataset)
            .with("name", prop(json!("Alpha")))
            .with("seen", prop(json!("2024-03-01T10:00:00Z")))
            .with("ok", prop(json!(true)))
            .with("owner", rel(json!("urn:o:1")))
            .with("level", with_sub)
            .scoped(&["/Madrid/Centro", "Paris"]),
        entity("urn:e:2")
            .with("speed", prop(json!([1, 2, {"@value": 3}])))
            .with("name", lang(json!({"en": "Bravo", "fr": ["Brave"]})))
            .with("kind", vocab(json!("https://example.org/Car")))
            .with("owners", list_rel(&["urn:o:2", "urn:o:3"]))
            .with("readings", list_prop(vec![json!(4), json!("x")]))
            .with("raw", json_prop(json!({"a": 1})))
            .with("seen", prop(json!("not a date")))
            .with(
                "location",
                geo_prop(json!({"type": "Point", "coordinates": [2.35, 48.85]})),
            ),
        entity("urn:e:3")
            .with(
                "location",
                geo_prop(
                    json!({"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}),
                ),
            )
            .with("speed", prop(json!(-0.0)))
            .scoped(&["/Madrid"]),
        entity("urn:e:4"),
    ]
}

fn q(text: &str) -> QExpr {
    QExpr::parse(text, &Terms, &QOptions::default()).expect("q")
}

/// Checks the query's matches, and returns how many there were (so that a check that
/// matches nothing is noticed).
fn assert_superset(query: &EntityQuery, described: &str) -> usize {
    let lookup = query.lookup();
    let mut matched = 0;
    for e in entities() {
        if query.matches(&e) {
            matched += 1;
            assert!(
                lookup.admits(&e),
                "{described}: {} matches but its lookup {lookup:?} does not admit it",
                e.id
            );
        }
    }
    matched
}

#[test]
fn every_q_match_is_admitted_by_its_lookup() {
    let texts = [
        "speed==12.5",
        "speed==30",
        "speed==3",
        "speed==0",
        "speed>10",
        "speed>=30",
        "speed<2",
        "speed<=1",
        "speed==1..3",
        "speed==29,30",
        "name==\"Alpha\"",
        "name==\"Bravo\"",
        "name==\"Brave\"",
        "name>\"Aa\"",
        "name==\"A\"..\"B\"",
        "seen==2024-03-01T10:00:00Z",
        "seen>2024-01-01T00:00:00Z",
        "seen<\"b\"",
        "ok==true",
        "owner==urn:o:1",
        "owner==\"urn:o:1\"",
        "owners==urn:o:3",
        "kind==Car",
        "kind==\"https://example.org/Car\"",
        "readings==4",
        "readings==\"x\"",
        "level.accuracy==0.5",
        "level.accuracy<1",
        "level==7",
        "speed==12.5;name==\"Alpha\"",
        "speed==99|name==\"Bravo\"",
        "(speed>100|owners==urn:o:2);kind==Car",
        "speed!=4",
        "name~=\"^A\"",
        "speed",
        "owner{name}==\"x\"",
        "speed.observedAt>2020-01-01T00:00:00Z",
        "raw[a]==1",
    ];
    let mut matched = 0;
    for text in texts {
        let query = EntityQuery {
            q: Some(q(text)),
            ..EntityQuery::default()
        };
        matched += usize::from(assert_superset(&query, text) > 0);
    }
    assert!(matched >= 30, "only {matched} q texts match anything");
}

#[test]
fn every_scope_match_is_admitted_by_its_lookup() {
    for text in [
        "/Madrid",
        "/Madrid/#",
        "/Madrid/+",
        "/+/Centro",
        "/#",
        "Paris",
        "/Madrid/Centro;/Paris",
        "/Nowhere|/Madrid/Centro",
    ] {
        let query = EntityQuery {
            scope: Some(ScopeExpr::parse(text).expect("scopeQ")),
            ..EntityQuery::default()
        };
        assert!(assert_superset(&query, text) > 0, "{text} matches nothing");
    }
}

#[test]
fn every_geo_match_is_admitted_by_its_lookup() {
    let location = iri("location");
    for (georel, geometry, coordinates) in [
        ("near;maxDistance==2000", "Point", "[2.36,48.85]"),
        ("near;maxDistance==200000", "Point", "[1.5,0.5]"),
        (
            "within",
            "Polygon",
            "[[[2,48],[3,48],[3,49],[2,49],[2,48]]]",
        ),
        ("intersects", "Point", "[0.5,0.5]"),
        ("disjoint", "Point", "[50,50]"),
        ("near;minDistance==10", "Point", "[2.35,48.85]"),
    ] {
        let query = EntityQuery {
            geo: Some(GeoQuery::parse(georel, geometry, coordinates, &location).expect("geoQ")),
            ..EntityQuery::default()
        };
        assert!(
            assert_superset(&query, georel) > 0,
            "{georel} matches nothing"
        );
    }
}

#[test]
fn lookups_narrow_what_an_index_can_serve_and_nothing_else() {
    let narrowing = EntityQuery {
        q: Some(q("speed>10;name~=\"A\"")),
        ..EntityQuery::default()
    };
    assert!(matches!(narrowing.lookup(), Lookup::Values { .. }));
    for text in ["speed!=1", "name~=\"A\"", "speed", "speed>1|name~=\"A\""] {
        let query = EntityQuery {
            q: Some(q(text)),
            ..EntityQuery::default()
        };
        assert_eq!(query.lookup(), Lookup::Unrestricted, "{text}");
    }
    // An entity without the value is not admitted.
    let query = EntityQuery {
        q: Some(q("speed==12.5")),
        ..EntityQuery::default()
    };
    let e = entity("urn:e:9").with("speed", attribute(AttributeValue::Property(json!(13))));
    assert!(!query.lookup().admits(&e));
}

#[test]
fn a_disc_never_rules_out_a_box_holding_a_point_within_its_radius() {
    use crate::index::Disc;
    let disc = Disc {
        center: [2.35, 48.85],
        radius: 1000.0,
    };
    // Points on rings around the centre, each in a small box (a fine geohash cell) and in
    // a larger one (a coarse cell) with the centre outside it.
    for step in 0..360 {
        let angle = f64::from(step).to_radians();
        for metres in [0.0, 500.0, 990.0, 1000.0] {
            let dlat = metres / 111_195.0 * angle.sin();
            let dlon = metres / (111_195.0 * 48.85_f64.to_radians().cos()) * angle.cos();
            let (lon, lat) = (2.35 + dlon, 48.85 + dlat);
            let small = [lon - 1e-5, lat - 1e-5, lon + 1e-5, lat + 1e-5];
            let large = [lon, lat, lon + 0.05, lat + 0.05];
            assert!(disc.may_meet(small), "{metres} m at {step} degrees");
            assert!(disc.may_meet(large), "{metres} m at {step} degrees");
        }
    }
    // A box 2 km away is ruled out; one across the centre is not.
    assert!(!disc.may_meet([2.38, 48.85, 2.39, 48.86]));
    assert!(disc.may_meet([2.30, 48.80, 2.40, 48.90]));
    // Wide discs, and discs near a pole, rule nothing out.
    let wide = Disc {
        center: [2.35, 48.85],
        radius: 200_000.0,
    };
    assert!(wide.may_meet([100.0, 10.0, 101.0, 11.0]));
    let polar = Disc {
        center: [0.0, 85.0],
        radius: 1000.0,
    };
    assert!(polar.may_meet([100.0, 10.0, 101.0, 11.0]));
}

#[test]
fn a_near_lookup_around_a_point_carries_its_disc() {
    let near = GeoQuery::parse(
        "near;maxDistance==1000",
        "Point",
        "[2.35,48.85]",
        &iri("location"),
    )
    .unwrap();
    match near.lookup() {
        Lookup::Area { disc: Some(d), .. } => {
            assert_eq!((d.center, d.radius), ([2.35, 48.85], 1000.0));
        }
        other => panic!("{other:?}"),
    }
    let within = GeoQuery::parse(
        "within",
        "Polygon",
        "[[[2.3,48.8],[2.4,48.8],[2.4,48.9],[2.3,48.8]]]",
        &iri("location"),
    )
    .unwrap();
    assert!(matches!(within.lookup(), Lookup::Area { disc: None, .. }));
}
