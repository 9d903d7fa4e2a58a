//! The shapes of q that clients typically send (as in the conformance suite for clause
//! 5.7.2), each against a small set of buildings.

use rigel_model::{Entity, ErrorKind};
use serde_json::json;

use super::{err, q};
use crate::testkit::{entity, prop, rel, AttributeExt, EntityExt};

fn buildings() -> Vec<Entity> {
    vec![
        entity("urn:ngsi-ld:Building:tower")
            .with("name", prop(json!("Tower Bridge")))
            .with(
                "airQualityLevel",
                prop(json!(3))
                    .unit("C62")
                    .observed("2021-05-05T10:00:00.000Z"),
            )
            .with("almostFull", prop(json!(false))),
        entity("urn:ngsi-ld:Building:dome")
            .with("name", prop(json!("Cathedral Dome")))
            .with(
                "airQualityLevel",
                prop(json!(5))
                    .unit("C62")
                    .observed("2021-06-06T10:00:00.000Z"),
            )
            .with("almostFull", prop(json!(true)))
            .with("locatedIn", rel(json!("urn:ngsi-ld:City:Florence"))),
        entity("urn:ngsi-ld:Building:hall")
            .with("name", prop(json!("Town Hall")))
            .with("almostFull", prop(json!(false))),
    ]
}

fn count(input: &str) -> usize {
    let expr = q(input);
    buildings().iter().filter(|e| expr.matches(e)).count()
}

#[test]
fn equality_on_a_quoted_name() {
    assert_eq!(count(r#"name=="Tower Bridge""#), 1);
}

#[test]
fn a_conjunction_of_a_name_and_a_boolean() {
    assert_eq!(count(r#"name=="Cathedral Dome";almostFull==true"#), 1);
    assert_eq!(count(r#"name=="Cathedral Dome";almostFull==false"#), 0);
}

#[test]
fn a_disjunction_of_a_name_and_a_boolean() {
    assert_eq!(count(r#"name=="Cathedral Dome"|almostFull==false"#), 3);
}

#[test]
fn a_grouped_disjunction_inside_a_conjunction() {
    assert_eq!(
        count(r#"(name=="Cathedral Dome"|name=="Tower Bridge");almostFull==false"#),
        1
    );
}

#[test]
fn a_number_equality_and_a_half_open_interval() {
    assert_eq!(count("airQualityLevel==5"), 1);
    assert_eq!(count("airQualityLevel>=3;airQualityLevel<5"), 1);
    assert_eq!(count("airQualityLevel>=3;airQualityLevel<7"), 2);
}

#[test]
fn a_relationship_compared_with_unquoted_uris() {
    assert_eq!(count("locatedIn==urn:ngsi-ld:City:Florence"), 1);
    assert_eq!(count("locatedIn==urn:ngsi-ld:City:Rome"), 0);
    assert_eq!(
        count("locatedIn==urn:ngsi-ld:City:Florence|locatedIn==urn:ngsi-ld:City:Rome"),
        1
    );
}

#[test]
fn an_observed_at_window() {
    assert_eq!(count("airQualityLevel.observedAt>=2021-06-01T00:00:00Z"), 1);
}

#[test]
fn a_bare_name_that_no_entity_has_is_valid_and_matches_nothing() {
    assert_eq!(count("invalidQuery"), 0);
}

#[test]
fn an_unbalanced_group_is_bad_request_data() {
    let e = err("(invalidQuery");
    assert_eq!(e.kind(), ErrorKind::BadRequestData);
    assert_eq!(e.position(), Some(13));
}
