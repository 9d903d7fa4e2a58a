//! Queries written back as their languages say (clauses 4.9, 4.10, 4.17, 4.19): what a
//! client wrote comes back the same, or in an equivalent normal form that parses to the
//! same query.

#![allow(clippy::unwrap_used)]

use crate::testkit::Terms;
use crate::{GeoQuery, QExpr, QOptions, ScopeExpr, TypeExpr};

fn q(input: &str) -> String {
    QExpr::parse(input, &Terms, &QOptions::default())
        .unwrap()
        .render(&Terms)
}

#[test]
fn q_expressions_come_back_as_written() {
    for written in [
        "speed>50",
        "speed>=50.5",
        "brandName==\"Mercedes\"",
        "brandName!=\"A \\\"quoted\\\" name\"",
        "speed==1,2,3",
        "speed==10..20",
        "isParked==urn:ngsi-ld:OffStreetParking:Downtown1",
        "speed>50;brandName==\"Fiat\"",
        "speed>50|brandName==\"Fiat\"",
        "(speed>50|speed<10);brandName",
        "speed.observedAt>=2018-12-04T12:00:00Z",
        "speed.accuracy<0.5",
        "data[temperature.max]>30",
        "name~=(?i)fia.*",
        "name!~=^x",
        "isParked{brandName}==\"Fiat\"",
        "isParked{Garage,Street:capacity}>5",
        "when==2020-01-01",
        "at<12:30:00",
        "open==true",
    ] {
        assert_eq!(q(written), written);
    }
}

#[test]
fn equivalent_spellings_come_back_in_one_normal_form() {
    assert_eq!(q("speed>50.0"), "speed>50");
    assert_eq!(q("(speed>50)"), "speed>50");
    assert_eq!(q("a;(b;c)"), "a;b;c");
    assert_eq!(
        q("createdAt>2020-01-01T00:00:00.5Z"),
        "createdAt>2020-01-01T00:00:00.500Z"
    );
    let normal = q("speed>5|b;c");
    assert_eq!(normal, "speed>5|b;c");
    assert_eq!(q(&normal), normal, "a normal form parses to itself");
}

#[test]
fn type_and_scope_selections_come_back_as_written() {
    for written in [
        "Vehicle",
        "Building,Vehicle",
        "(Car;Electric),Bus",
        "Car;(Red,Blue)",
    ] {
        let parsed = TypeExpr::parse(written, &Terms).unwrap();
        assert_eq!(parsed.render(&Terms), written);
    }
    assert_eq!(
        TypeExpr::parse("Car|Bus", &Terms).unwrap().render(&Terms),
        "Car,Bus"
    );
    for written in [
        "/Madrid",
        "/Madrid/+/Centro,/Berlin/#",
        "/#",
        "/a;/b",
        "(/a;/b),/c",
    ] {
        assert_eq!(ScopeExpr::parse(written).unwrap().render(), written);
    }
}

#[test]
fn a_geoquery_comes_back_as_its_parameters() {
    let near = GeoQuery::parse(
        "near;maxDistance==2000",
        "Point",
        "[8.5, 40]",
        "https://uri.etsi.org/ngsi-ld/location",
    )
    .unwrap();
    assert_eq!(
        near.render(&Terms),
        [
            ("georel", "near;maxDistance==2000".to_owned()),
            ("geometry", "Point".to_owned()),
            ("coordinates", "[8.5,40]".to_owned()),
        ]
    );
    let within = GeoQuery::parse(
        "within",
        "Polygon",
        "[[[0,0],[1,0],[1,1],[0,0]]]",
        &format!("{}area", crate::testkit::EX),
    )
    .unwrap();
    let params = within.render(&Terms);
    assert_eq!(params[0], ("georel", "within".to_owned()));
    assert_eq!(params[3], ("geoproperty", "area".to_owned()));
}
