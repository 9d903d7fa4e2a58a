//! Matching registrations (clause 5.12): entities, attributes, dataset ids, sources passed.

// Tests fail by panicking; expect() names what was expected.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use rigel_model::registration::parse::parse_registration;
use rigel_model::registration::Registration;
use rigel_model::IdentityTerms;
use serde_json::{json, Value};

use super::Wanted;
use crate::{IdPattern, TypeExpr};

const VEHICLE: &str = "urn:t:Vehicle";
const BUS: &str = "urn:t:Bus";
const SPEED: &str = "urn:a:speed";
const OWNER: &str = "urn:a:owner";
const BRAND: &str = "urn:a:brand";

fn registration(information: Value, extra: Value) -> Registration {
    let mut body = json!({
        "type": "ContextSourceRegistration",
        "endpoint": "http://source.example.org",
        "information": information,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let body = body.as_object().unwrap().clone();
    parse_registration(&body, &IdentityTerms, chrono::Utc::now(), || {
        "urn:csr:1".into()
    })
    .expect("a valid registration")
}

fn types(t: &str) -> TypeExpr {
    TypeExpr::parse(t, &IdentityTerms).expect("type selection")
}

#[test]
fn types_select_entity_infos_and_ids_narrow_them() {
    let reg = registration(
        json!([{"entities": [{"type": VEHICLE, "id": "urn:v:1"}]}]),
        json!({}),
    );
    let vehicle = types(VEHICLE);
    let bus = types(BUS);
    let one = ["urn:v:1".to_owned()];
    let two = ["urn:v:2".to_owned()];
    assert!(Wanted {
        types: Some(&vehicle),
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(!Wanted {
        types: Some(&bus),
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(Wanted {
        types: Some(&vehicle),
        ids: Some(&one),
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(!Wanted {
        types: Some(&vehicle),
        ids: Some(&two),
        ..Wanted::default()
    }
    .matches(&reg));
    let pattern = IdPattern::parse("urn:v:.*").unwrap();
    assert!(Wanted {
        id_pattern: Some(&pattern),
        ..Wanted::default()
    }
    .matches(&reg));
    let other = IdPattern::parse("urn:x:.*").unwrap();
    assert!(!Wanted {
        id_pattern: Some(&other),
        ..Wanted::default()
    }
    .matches(&reg));
}

#[test]
fn a_registered_pattern_matches_ids_and_is_taken_to_overlap_other_patterns() {
    let reg = registration(
        json!([{"entities": [{"type": VEHICLE, "idPattern": "urn:v:.*"}]}]),
        json!({}),
    );
    let inside = ["urn:v:9".to_owned()];
    let outside = ["urn:w:9".to_owned()];
    assert!(Wanted {
        ids: Some(&inside),
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(!Wanted {
        ids: Some(&outside),
        ..Wanted::default()
    }
    .matches(&reg));
    let pattern = IdPattern::parse("urn:w:.*").unwrap();
    assert!(Wanted {
        id_pattern: Some(&pattern),
        ..Wanted::default()
    }
    .matches(&reg));
}

#[test]
fn attributes_match_registered_names_or_whole_entities() {
    let named = registration(
        json!([{"entities": [{"type": VEHICLE}], "propertyNames": [SPEED], "relationshipNames": [OWNER]}]),
        json!({}),
    );
    let whole = registration(json!([{"entities": [{"type": VEHICLE}]}]), json!({}));
    let speed = [SPEED.to_owned()];
    let owner = [OWNER.to_owned()];
    let brand = [BRAND.to_owned()];
    assert!(Wanted {
        attributes: &speed,
        ..Wanted::default()
    }
    .matches(&named));
    assert!(Wanted {
        attributes: &owner,
        ..Wanted::default()
    }
    .matches(&named));
    assert!(!Wanted {
        attributes: &brand,
        ..Wanted::default()
    }
    .matches(&named));
    assert!(Wanted {
        attributes: &brand,
        ..Wanted::default()
    }
    .matches(&whole));
    assert!(
        Wanted::default().matches(&named),
        "no attributes named: all of them"
    );
}

#[test]
fn one_matching_information_element_is_enough() {
    let reg = registration(
        json!([
            {"entities": [{"type": BUS}], "propertyNames": [BRAND]},
            {"propertyNames": [SPEED]}
        ]),
        json!({}),
    );
    let vehicle = types(VEHICLE);
    let speed = [SPEED.to_owned()];
    let brand = [BRAND.to_owned()];
    assert!(Wanted {
        types: Some(&vehicle),
        attributes: &speed,
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(!Wanted {
        types: Some(&vehicle),
        attributes: &brand,
        ..Wanted::default()
    }
    .matches(&reg));
}

#[test]
fn dataset_ids_must_meet_when_both_sides_name_some() {
    let reg = registration(
        json!([{"entities": [{"type": VEHICLE}]}]),
        json!({"datasetId": ["urn:ds:gps"]}),
    );
    let gps = ["urn:ds:gps".to_owned()];
    let obd = ["urn:ds:obd".to_owned()];
    assert!(Wanted {
        dataset_ids: Some(&gps),
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(!Wanted {
        dataset_ids: Some(&obd),
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(Wanted::default().matches(&reg));
}

#[test]
fn a_source_the_request_already_passed_never_matches() {
    let reg = registration(
        json!([{"entities": [{"type": VEHICLE}]}]),
        json!({"contextSourceAlias": "broker-b"}),
    );
    let visited = ["broker-a".to_owned(), "broker-b".to_owned()];
    let elsewhere = ["broker-a".to_owned()];
    assert!(!Wanted {
        visited: &visited,
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(Wanted {
        visited: &elsewhere,
        ..Wanted::default()
    }
    .matches(&reg));
}

#[test]
fn a_context_source_filter_reads_the_registrations_own_properties() {
    let reg = registration(
        json!([{"entities": [{"type": VEHICLE}]}]),
        json!({"urn:p:operator": "city", "urn:p:level": {"type": "Property", "value": 3}}),
    );
    let q = |text: &str| {
        crate::QExpr::parse(text, &IdentityTerms, &crate::QOptions::default()).expect("csf")
    };
    let city = q("urn:p:operator==\"city\"");
    let region = q("urn:p:operator==\"region\"");
    let high = q("urn:p:level>2");
    assert!(Wanted {
        csf: Some(&city),
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(!Wanted {
        csf: Some(&region),
        ..Wanted::default()
    }
    .matches(&reg));
    assert!(Wanted {
        csf: Some(&high),
        ..Wanted::default()
    }
    .matches(&reg));
}
