//! Tests of entity ordering (clause 4.23).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigel_model::{Entity, ErrorKind};
use serde_json::{json, Value};

use super::OrderBy;
use crate::testkit::{entity, geo_prop, prop, AttributeExt, EntityExt, Terms};

fn order(spec: &str) -> OrderBy {
    OrderBy::parse(spec, &Terms).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// The ids of `entities` once sorted by `spec`.
fn sorted(spec: &OrderBy, mut entities: Vec<Entity>) -> Vec<String> {
    entities.sort_by(|a, b| spec.compare(a, b));
    entities.into_iter().map(|e| e.id).collect()
}

fn named(id: &str, name: &str, rank: i64, created: &str) -> Entity {
    let mut e = entity(id).with(
        "name",
        prop(json!(name))
            .created(created)
            .sub("rank", prop(json!(rank))),
    );
    e.created_at = crate::testkit::at(created);
    e
}

/// Three entities created in the order b, a, c whose names sort a, b, c and whose
/// `name.rank` sorts c, b, a.
fn trio() -> Vec<Entity> {
    vec![
        named("urn:b", "Bravo", 2, "2024-01-01T00:00:00Z"),
        named("urn:a", "alpha", 3, "2024-01-02T00:00:00Z"),
        named("urn:c", "Charlie", 1, "2024-01-03T00:00:00Z"),
    ]
}

#[test]
fn an_attribute_orders_ascending_by_default() {
    assert_eq!(sorted(&order("name"), trio()), ["urn:a", "urn:b", "urn:c"]);
    assert_eq!(
        sorted(&order("name;asc"), trio()),
        ["urn:a", "urn:b", "urn:c"]
    );
}

#[test]
fn desc_reverses_the_order() {
    assert_eq!(
        sorted(&order("name;desc"), trio()),
        ["urn:c", "urn:b", "urn:a"]
    );
}

#[test]
fn the_entity_members_id_type_and_created_at_can_order() {
    assert_eq!(sorted(&order("id"), trio()), ["urn:a", "urn:b", "urn:c"]);
    assert_eq!(
        sorted(&order("createdAt"), trio()),
        ["urn:b", "urn:a", "urn:c"]
    );
    assert_eq!(
        sorted(&order("type,id;desc"), trio()),
        ["urn:c", "urn:b", "urn:a"]
    );
}

#[test]
fn scope_orders_by_the_first_scope() {
    let es = vec![
        entity("urn:1").scoped(&["/b"]),
        entity("urn:2"),
        entity("urn:3").scoped(&["/a", "/z"]),
    ];
    assert_eq!(sorted(&order("scope"), es), ["urn:3", "urn:1", "urn:2"]);
}

#[test]
fn attribute_paths_reach_members_and_sub_attributes() {
    assert_eq!(
        sorted(&order("name.createdAt"), trio()),
        ["urn:b", "urn:a", "urn:c"]
    );
    assert_eq!(
        sorted(&order("name.rank"), trio()),
        ["urn:c", "urn:b", "urn:a"]
    );
}

#[test]
fn later_terms_break_ties() {
    let mut es = trio();
    es.push(named("urn:d", "Bravo", 0, "2024-02-01T00:00:00Z"));
    assert_eq!(
        sorted(&order("name,name.rank;desc"), es.clone()),
        ["urn:a", "urn:b", "urn:d", "urn:c"]
    );
    assert_eq!(
        sorted(&order("type;asc,name.rank;desc,name;asc"), es),
        ["urn:a", "urn:b", "urn:c", "urn:d"]
    );
}

#[test]
fn a_trailing_path_orders_by_a_member_of_a_compound_value() {
    let es = vec![
        entity("urn:1").with("address", prop(json!({"city": "Paris"}))),
        entity("urn:2").with("address", prop(json!({"city": "Berlin"}))),
    ];
    assert_eq!(sorted(&order("address[city]"), es), ["urn:2", "urn:1"]);
}

#[test]
fn entities_without_the_attribute_come_last_in_both_directions() {
    let mut es = trio();
    es.insert(0, entity("urn:none"));
    assert_eq!(
        sorted(&order("name"), es.clone()).last().unwrap(),
        "urn:none"
    );
    assert_eq!(sorted(&order("name;desc"), es).last().unwrap(), "urn:none");
}

#[test]
fn mixed_datatypes_follow_the_comparison_order() {
    let values: [(&str, Value); 8] = [
        ("urn:dt", json!("2020-01-01T00:00:00Z")),
        ("urn:date", json!("2020-01-01")),
        ("urn:time", json!("10:00:00Z")),
        ("urn:bool", json!(true)),
        ("urn:array", json!([1, 2])),
        ("urn:object", json!({"a": 1})),
        ("urn:string", json!("text")),
        ("urn:number", json!(7)),
    ];
    let es = values
        .into_iter()
        .map(|(id, v)| entity(id).with("value", prop(v)))
        .collect();
    assert_eq!(
        sorted(&order("value"), es),
        [
            "urn:number",
            "urn:string",
            "urn:object",
            "urn:array",
            "urn:bool",
            "urn:time",
            "urn:date",
            "urn:dt"
        ]
    );
}

#[test]
fn numbers_order_numerically_and_strings_ignore_case_first() {
    let es = vec![
        entity("urn:10").with("v", prop(json!(10))),
        entity("urn:9").with("v", prop(json!(9.5))),
        entity("urn:neg").with("v", prop(json!(-1))),
    ];
    assert_eq!(sorted(&order("v"), es), ["urn:neg", "urn:9", "urn:10"]);
    let es = vec![
        entity("urn:B").with("v", prop(json!("B"))),
        entity("urn:a").with("v", prop(json!("a"))),
        entity("urn:A").with("v", prop(json!("A"))),
    ];
    assert_eq!(sorted(&order("v"), es), ["urn:a", "urn:A", "urn:B"]);
}

#[test]
fn sort_keys_order_like_compare() {
    let spec = order("name.rank;desc,id");
    let es = trio();
    for a in &es {
        for b in &es {
            assert_eq!(spec.sort_key(a).cmp(&spec.sort_key(b)), spec.compare(a, b));
        }
    }
}

fn at(id: &str, x: f64, y: f64) -> Entity {
    entity(id).with(
        "location",
        geo_prop(json!({"type": "Point", "coordinates": [x, y]})),
    )
}

#[test]
fn dist_asc_orders_by_distance_from_the_origin_with_non_geo_entities_after() {
    let spec =
        OrderBy::parse_with_origin("location;dist-asc", &Terms, None, Some("[8,40]")).unwrap();
    let es = vec![
        entity("urn:nowhere"),
        at("urn:far", 9.0, 41.0),
        entity("urn:text").with("location", prop(json!("here"))),
        at("urn:near", 8.01, 40.0),
    ];
    assert_eq!(
        sorted(&spec, es),
        ["urn:near", "urn:far", "urn:text", "urn:nowhere"]
    );
}

#[test]
fn dist_desc_orders_farthest_first() {
    let spec =
        OrderBy::parse_with_origin("location;dist-desc", &Terms, Some("Point"), Some("[8,40]"))
            .unwrap();
    let es = vec![at("urn:near", 8.01, 40.0), at("urn:far", 9.0, 41.0)];
    assert_eq!(sorted(&spec, es), ["urn:far", "urn:near"]);
}

#[test]
fn distance_is_measured_from_any_origin_geometry() {
    let spec = OrderBy::parse_with_origin(
        "location;dist-asc",
        &Terms,
        Some("LineString"),
        Some("[[8,40],[9,42],[9,45],[8,40]]"),
    )
    .unwrap();
    let es = vec![at("urn:off", 0.0, 0.0), at("urn:on", 9.0, 43.0)];
    assert_eq!(sorted(&spec, es), ["urn:on", "urn:off"]);
    // Without orderGeometry a nesting of two means a LineString.
    OrderBy::parse_with_origin("location;dist-asc", &Terms, None, Some("[[8,40],[9,42]]")).unwrap();
}

#[test]
fn distance_ordering_needs_an_origin() {
    let e = OrderBy::parse("location;dist-asc", &Terms).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequestData);
    let e = OrderBy::parse_with_origin("location;dist-asc", &Terms, Some("Point"), Some("[8"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequestData);
    let e = OrderBy::parse_with_origin("location;dist-asc", &Terms, Some("Square"), Some("[8,40]"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequestData);
}

#[test]
fn an_origin_is_ignored_without_distance_ordering() {
    OrderBy::parse_with_origin("name", &Terms, Some("Point"), Some("not json")).unwrap();
}

#[test]
fn malformed_order_by_is_refused_at_its_position() {
    for (spec, at) in [
        ("", 0),
        ("name;", 5),
        ("name;up", 5),
        ("name,,id", 5),
        ("name,", 5),
        ("name id", 5),
        ("id;dist-asc", 3),
        ("name.sub;dist-asc", 9),
    ] {
        let e = OrderBy::parse(spec, &Terms).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadRequestData, "{spec}");
        assert_eq!(e.position(), Some(at), "{spec}: {e}");
    }
}

#[test]
fn an_ordering_on_id_alone_is_told_with_its_direction() {
    assert_eq!(order("id").on_id_only(), Some(false));
    assert_eq!(order("id;desc").on_id_only(), Some(true));
    assert_eq!(order("id;desc,id").on_id_only(), Some(true));
    assert_eq!(order("name").on_id_only(), None);
    assert_eq!(order("id,name").on_id_only(), None);
    assert_eq!(order("type;asc").on_id_only(), None);
}
