//! Tests of the geoquery language (clause 4.10): every georel, every geometry type on the
//! query and on the entity side, parse errors, and search bounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigel_model::{Entity, ErrorKind};
use serde_json::{json, Value};

use super::GeoQuery;
use crate::testkit::{entity, geo_prop, iri, prop, AttributeExt, EntityExt};

fn located(geometry: Value) -> Entity {
    entity("urn:e").with("location", geo_prop(geometry))
}

fn point(x: f64, y: f64) -> Entity {
    located(json!({"type": "Point", "coordinates": [x, y]}))
}

fn query(georel: &str, geometry: &str, coordinates: &str) -> GeoQuery {
    GeoQuery::parse(georel, geometry, coordinates, &iri("location"))
        .unwrap_or_else(|e| panic!("{georel} {geometry} {coordinates}: {e}"))
}

fn hits(georel: &str, geometry: &str, coordinates: &str, e: &Entity) -> bool {
    query(georel, geometry, coordinates).matches(e)
}

fn refused(georel: &str, geometry: &str, coordinates: &str) -> crate::QueryError {
    GeoQuery::parse(georel, geometry, coordinates, &iri("location"))
        .expect_err("the geoquery should be refused")
}

/// A 0.1 degree square with its south-west corner at (10, 45).
const SQUARE: &str = "[[[10,45],[10.1,45],[10.1,45.1],[10,45.1],[10,45]]]";

#[test]
fn near_max_distance_matches_points_within_the_distance() {
    // 0.01 degree of latitude is about 1112 m.
    let e = point(10.0, 45.01);
    assert!(hits("near;maxDistance==1200", "Point", "[10,45]", &e));
    assert!(!hits("near;maxDistance==1000", "Point", "[10,45]", &e));
}

#[test]
fn near_min_distance_matches_points_farther_than_the_distance() {
    let e = point(10.0, 45.01);
    assert!(hits("near;minDistance==1000", "Point", "[10,45]", &e));
    assert!(!hits("near;minDistance==1200", "Point", "[10,45]", &e));
}

#[test]
fn near_max_distance_needs_the_whole_target_inside_the_buffer() {
    let line = located(json!({"type": "LineString", "coordinates": [[10, 45], [10, 45.02]]}));
    assert!(hits("near;maxDistance==2300", "Point", "[10,45]", &line));
    assert!(!hits("near;maxDistance==1200", "Point", "[10,45]", &line));
}

#[test]
fn near_measures_to_the_nearest_point_of_a_reference_shape() {
    // 0.01 degree north of the square's northern edge.
    let e = point(10.05, 45.11);
    assert!(hits("near;maxDistance==1200", "Polygon", SQUARE, &e));
    assert!(hits("near;minDistance==1000", "Polygon", SQUARE, &e));
    assert!(!hits(
        "near;minDistance==1000",
        "Polygon",
        SQUARE,
        &point(10.05, 45.05)
    ));
}

#[test]
fn near_min_distance_measures_between_shapes() {
    let line =
        located(json!({"type": "LineString", "coordinates": [[10.05, 45.11], [10.05, 45.2]]}));
    assert!(hits("near;minDistance==1000", "Polygon", SQUARE, &line));
    assert!(!hits("near;minDistance==1200", "Polygon", SQUARE, &line));
}

#[test]
fn within_matches_targets_inside_the_reference() {
    assert!(hits("within", "Polygon", SQUARE, &point(10.05, 45.05)));
    assert!(!hits("within", "Polygon", SQUARE, &point(10.2, 45.05)));
    let inner = located(
        json!({"type": "Polygon", "coordinates": [[[10.02, 45.02], [10.04, 45.02], [10.04, 45.04], [10.02, 45.02]]]}),
    );
    assert!(hits("within", "Polygon", SQUARE, &inner));
}

#[test]
fn contains_matches_targets_containing_the_reference() {
    let square = located(
        json!({"type": "Polygon", "coordinates": serde_json::from_str::<Value>(SQUARE).unwrap()}),
    );
    assert!(hits("contains", "Point", "[10.05,45.05]", &square));
    assert!(!hits("contains", "Point", "[10.5,45.05]", &square));
    assert!(hits(
        "contains",
        "Point",
        "[10.05,45.05]",
        &point(10.05, 45.05)
    ));
    // A ring with a repeated vertex is still a valid reference.
    assert!(hits(
        "contains",
        "Polygon",
        "[[[10.02,45.02],[10.02,45.02],[10.04,45.02],[10.04,45.04],[10.02,45.02]]]",
        &square
    ));
}

#[test]
fn intersects_and_disjoint_are_complementary() {
    let line =
        located(json!({"type": "LineString", "coordinates": [[9.9, 45.05], [10.05, 45.05]]}));
    assert!(hits("intersects", "Polygon", SQUARE, &line));
    assert!(!hits("disjoint", "Polygon", SQUARE, &line));
    let far = point(11.0, 46.0);
    assert!(!hits("intersects", "Polygon", SQUARE, &far));
    assert!(hits("disjoint", "Polygon", SQUARE, &far));
}

#[test]
fn equals_matches_the_same_geometry() {
    assert!(hits("equals", "Point", "[10.5, 45.5]", &point(10.5, 45.5)));
    assert!(!hits("equals", "Point", "[10.5, 45.5]", &point(10.5, 45.6)));
    // The same ring from another starting vertex is topologically equal.
    let square = located(
        json!({"type": "Polygon", "coordinates": [[[10.1, 45], [10.1, 45.1], [10, 45.1], [10, 45], [10.1, 45]]]}),
    );
    assert!(hits("equals", "Polygon", SQUARE, &square));
}

#[test]
fn equals_matches_an_identical_self_intersecting_polygon() {
    let bow_tie = "[[[0,0],[1,1],[1,0],[0,1],[0,0]]]";
    let e = located(
        json!({"type": "Polygon", "coordinates": serde_json::from_str::<Value>(bow_tie).unwrap()}),
    );
    assert!(hits("equals", "Polygon", bow_tie, &e));
}

#[test]
fn overlaps_needs_shared_interior_and_neither_inside_the_other() {
    let shifted = located(
        json!({"type": "Polygon", "coordinates": [[[10.05, 45.05], [10.15, 45.05], [10.15, 45.15], [10.05, 45.15], [10.05, 45.05]]]}),
    );
    assert!(hits("overlaps", "Polygon", SQUARE, &shifted));
    let inner = located(
        json!({"type": "Polygon", "coordinates": [[[10.02, 45.02], [10.04, 45.02], [10.04, 45.04], [10.02, 45.02]]]}),
    );
    assert!(!hits("overlaps", "Polygon", SQUARE, &inner));
}

#[test]
fn every_geometry_type_works_as_a_reference() {
    let e = point(10.05, 45.05);
    assert!(hits(
        "intersects",
        "LineString",
        "[[10.05,45],[10.05,45.1]]",
        &e
    ));
    assert!(hits(
        "intersects",
        "MultiPoint",
        "[[1,1],[10.05,45.05]]",
        &e
    ));
    assert!(hits(
        "intersects",
        "MultiLineString",
        "[[[0,0],[1,1]],[[10.05,45],[10.05,46]]]",
        &e
    ));
    assert!(hits(
        "within",
        "MultiPolygon",
        &format!("[[[[0,0],[1,0],[1,1],[0,0]]],{SQUARE}]"),
        &e
    ));
    assert!(!hits(
        "within",
        "MultiPolygon",
        "[[[[0,0],[1,0],[1,1],[0,0]]]]",
        &e
    ));
}

#[test]
fn every_geometry_type_works_as_a_target() {
    let targets = [
        json!({"type": "LineString", "coordinates": [[10.01, 45.01], [10.02, 45.02]]}),
        json!({"type": "MultiPoint", "coordinates": [[10.01, 45.01], [10.02, 45.02]]}),
        json!({"type": "MultiLineString", "coordinates": [[[10.01, 45.01], [10.02, 45.02]]]}),
        json!({"type": "MultiPolygon", "coordinates": [[[[10.01, 45.01], [10.02, 45.01], [10.02, 45.02], [10.01, 45.01]]]]}),
        json!({"type": "Point", "coordinates": [10.01, 45.01, 120.5]}),
    ];
    for t in targets {
        assert!(
            hits("within", "Polygon", SQUARE, &located(t.clone())),
            "{t}"
        );
        assert!(
            !hits("disjoint", "Polygon", SQUARE, &located(t.clone())),
            "{t}"
        );
    }
}

#[test]
fn an_entity_without_the_geoproperty_never_matches() {
    let e = entity("urn:e");
    assert!(!hits("disjoint", "Polygon", SQUARE, &e));
    let not_geo = entity("urn:e").with("location", prop(json!("here")));
    assert!(!hits("disjoint", "Polygon", SQUARE, &not_geo));
}

#[test]
fn any_instance_of_the_geoproperty_may_match() {
    let e = point(0.0, 0.0).with(
        "location",
        geo_prop(json!({"type": "Point", "coordinates": [10.05, 45.05]})).dataset("urn:ds:2"),
    );
    assert!(hits("within", "Polygon", SQUARE, &e));
}

#[test]
fn the_geoproperty_can_be_another_attribute() {
    let e = entity("urn:e").with(
        "observationSpace",
        geo_prop(json!({"type": "Point", "coordinates": [8, 40]})),
    );
    let g = GeoQuery::parse(
        "near;maxDistance==10",
        "Point",
        "[8,40]",
        &iri("observationSpace"),
    )
    .unwrap();
    assert!(g.matches(&e));
    assert_eq!(g.geoproperty(), iri("observationSpace"));
}

#[test]
fn coordinates_may_come_as_json() {
    let g = GeoQuery::from_parts(
        "within",
        "Polygon",
        &serde_json::from_str(SQUARE).unwrap(),
        &iri("location"),
    )
    .unwrap();
    assert!(g.matches(&point(10.05, 45.05)));
    let g = GeoQuery::from_parts("within", "Polygon", &json!(SQUARE), &iri("location")).unwrap();
    assert!(g.matches(&point(10.05, 45.05)));
}

#[test]
fn an_unknown_georel_is_bad_request_data() {
    let e = refused("invalid", "Point", "[8,40]");
    assert_eq!(e.kind(), ErrorKind::BadRequestData);
    assert_eq!(e.position(), Some(0));
}

#[test]
fn a_malformed_near_is_refused_at_its_position() {
    assert_eq!(refused("near", "Point", "[8,40]").position(), Some(4));
    assert_eq!(
        refused("near;distance==5", "Point", "[8,40]").position(),
        Some(5)
    );
    assert_eq!(
        refused("near;maxDistance=5", "Point", "[8,40]").position(),
        Some(16)
    );
    assert_eq!(
        refused("near;maxDistance==0", "Point", "[8,40]").position(),
        Some(18)
    );
    assert_eq!(
        refused("near;maxDistance==-5", "Point", "[8,40]").position(),
        Some(18)
    );
    assert_eq!(refused("within;x", "Point", "[8,40]").position(), Some(6));
}

#[test]
fn unsupported_geometry_types_are_refused() {
    for g in ["GeometryCollection", "point", "Circle"] {
        let e = refused("within", g, "[8,40]");
        assert_eq!(e.kind(), ErrorKind::BadRequestData);
        assert!(e.to_string().contains(g), "{e}");
    }
}

#[test]
fn malformed_coordinates_are_refused() {
    for (geometry, coordinates) in [
        ("Point", "8,40"),
        ("Point", "[8]"),
        ("Point", "[\"8\",40]"),
        ("Point", "[181,40]"),
        ("Point", "[8,91]"),
        ("LineString", "[[8,40]]"),
        ("Polygon", "[[[0,0],[1,0],[1,1],[0,0.5]]]"),
        ("Polygon", "[[[0,0],[1,0],[0,0]]]"),
        ("MultiPoint", "[]"),
        ("Polygon", "[8,40]"),
    ] {
        let e = refused("intersects", geometry, coordinates);
        assert_eq!(
            e.kind(),
            ErrorKind::BadRequestData,
            "{geometry} {coordinates}"
        );
    }
}

#[test]
fn a_geometry_with_too_many_positions_is_too_complex() {
    let positions: Vec<String> = (0..20_000)
        .map(|i| format!("[{},0]", f64::from(i) / 1000.0))
        .collect();
    let e = refused(
        "intersects",
        "LineString",
        &format!("[{}]", positions.join(",")),
    );
    assert_eq!(e.kind(), ErrorKind::TooComplexQuery);
}

#[test]
fn search_bounds_cover_the_reference_grown_by_the_distance() {
    let [min_lon, min_lat, max_lon, max_lat] = query("near;maxDistance==1112", "Point", "[10,45]")
        .search_bounds()
        .unwrap();
    assert!(min_lat < 44.99 && min_lat > 44.98, "{min_lat}");
    assert!(max_lat > 45.01 && max_lat < 45.02, "{max_lat}");
    // A degree of longitude is shorter at 45 degrees north, so the box is wider.
    assert!(min_lon < 9.986 && max_lon > 10.014, "{min_lon} {max_lon}");
    assert_eq!(
        query("within", "Polygon", SQUARE).search_bounds(),
        Some([10.0, 45.0, 10.1, 45.1])
    );
}

#[test]
fn search_bounds_are_unbounded_for_disjoint_and_min_distance() {
    assert_eq!(query("disjoint", "Point", "[8,40]").search_bounds(), None);
    assert_eq!(
        query("near;minDistance==5", "Point", "[8,40]").search_bounds(),
        None
    );
}

#[test]
fn search_bounds_span_every_longitude_near_a_pole_or_the_antimeridian() {
    let b = query("near;maxDistance==5000", "Point", "[179.99,0]")
        .search_bounds()
        .unwrap();
    assert_eq!((b[0], b[2]), (-180.0, 180.0));
    let b = query("near;maxDistance==5000", "Point", "[0,89.99]")
        .search_bounds()
        .unwrap();
    assert_eq!((b[0], b[2], b[3]), (-180.0, 180.0, 90.0));
}
