//! Attribute paths (clause 4.9): sub-attributes, attribute members, trailing paths into
//! compound values, and the entity's system members.

use serde_json::json;

use super::{err, hits};
use crate::testkit::{entity, geo_prop, list_prop, prop, AttributeExt, EntityExt};

/// Clause 4.9 example 8.
#[test]
fn a_dotted_path_reaches_observed_at() {
    let e = entity("urn:a").with(
        "temperature",
        prop(json!(20)).observed("2017-12-24T12:30:00Z"),
    );
    assert!(hits("temperature.observedAt>=2017-12-24T12:00:00Z", &e));
    assert!(!hits("temperature.observedAt>=2018-01-01T00:00:00Z", &e));
    assert!(hits("temperature.observedAt", &e));
    assert!(!hits("temperature.unitCode", &e));
}

#[test]
fn attribute_members_are_addressable() {
    let e = entity("urn:a").with(
        "temperature",
        prop(json!(20))
            .unit("CEL")
            .dataset("urn:ds:1")
            .created("2020-01-01T00:00:00Z"),
    );
    assert!(hits(r#"temperature.unitCode=="CEL""#, &e));
    assert!(hits("temperature.datasetId==urn:ds:1", &e));
    assert!(hits("temperature.createdAt<2020-06-01T00:00:00Z", &e));
    assert!(!hits("temperature.modifiedAt", &e));
}

#[test]
fn a_member_has_no_sub_attributes() {
    assert!(err("a.observedAt.b")
        .to_string()
        .contains("no sub-attributes"));
    assert!(err("a.observedAt[b]").to_string().contains("trailing"));
}

#[test]
fn a_dotted_path_reaches_sub_attributes() {
    let e = entity("urn:a").with(
        "sensor",
        prop(json!(40)).sub(
            "rawdata",
            prop(json!(7)).sub("quality", prop(json!("good"))),
        ),
    );
    assert!(hits("sensor.rawdata==7", &e));
    assert!(hits(r#"sensor.rawdata.quality=="good""#, &e));
    assert!(!hits("sensor.missing", &e));
    assert!(hits("sensor.rawdata", &e));
}

/// Clause 4.9 example 9.
#[test]
fn a_trailing_path_reaches_into_a_compound_value() {
    let e = entity("urn:a").with(
        "address",
        prop(json!({"city": "Berlin", "street": "Ulrich Strasse"})),
    );
    assert!(hits(r#"address[city]=="Berlin""#, &e));
    assert!(!hits(r#"address[city]=="Paris""#, &e));
    assert!(hits("address[street]", &e));
    assert!(!hits("address[zip]", &e));
}

/// Clause 4.9 example 10.
#[test]
fn a_trailing_path_follows_a_sub_attribute_and_nested_members() {
    let e = entity("urn:a").with(
        "sensor",
        prop(json!(40)).sub(
            "rawdata",
            prop(json!({"airquality": {"particulate": 40, "PM20": 85}})),
        ),
    );
    assert!(hits("sensor.rawdata[airquality.particulate]==40", &e));
    assert!(hits("sensor.rawdata[airquality.PM20]>80", &e));
    assert!(!hits("sensor.rawdata[airquality.none]", &e));
}

#[test]
fn a_numeric_trailing_member_indexes_an_array() {
    let e = entity("urn:a")
        .with("stops", prop(json!([{"name": "A"}, {"name": "B"}])))
        .with("scores", list_prop(vec![json!(1), json!(2)]));
    assert!(hits(r#"stops[1.name]=="B""#, &e));
    assert!(!hits("stops[2.name]", &e));
    assert!(hits("scores[1]==2", &e));
}

#[test]
fn a_trailing_path_into_a_scalar_does_not_exist() {
    let e = entity("urn:a").with("name", prop(json!("x")));
    assert!(!hits("name[length]", &e));
}

#[test]
fn a_trailing_path_reaches_into_a_geo_property() {
    let e = entity("urn:a").with(
        "location",
        geo_prop(json!({"type": "Point", "coordinates": [8, 40]})),
    );
    assert!(hits(r#"location[type]=="Point""#, &e));
}

#[test]
fn top_level_created_at_and_modified_at_are_the_entity_s() {
    let e = entity("urn:a");
    assert!(hits("createdAt==2024-01-01T00:00:00Z", &e));
    assert!(hits("modifiedAt>2023-12-31T23:59:59Z", &e));
    assert!(!hits("createdAt>2024-01-01T00:00:00Z", &e));
    assert!(!hits(r#"createdAt=="2024""#, &e));
}

#[test]
fn the_entity_s_system_members_have_no_sub_paths() {
    assert!(err("createdAt.x").to_string().contains("no sub-attributes"));
}

#[test]
fn an_unclosed_trailing_path_is_refused() {
    assert_eq!(err("address[city==1").position(), Some(12));
    assert_eq!(err("address[]").position(), Some(8));
}

#[test]
fn compact_iri_attribute_names_are_accepted() {
    let e = entity("urn:a").with("ex:speed", prop(json!(3)));
    assert!(hits("ex:speed==3", &e));
}
