//! Tests of entity id patterns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigel_model::ErrorKind;

use super::IdPattern;

fn parse(p: &str) -> IdPattern {
    IdPattern::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn a_pattern_matches_anywhere_in_the_id() {
    let p = parse("urn:ngsi-ld:Building:.*");
    assert!(p.matches("urn:ngsi-ld:Building:1"));
    assert!(!p.matches("urn:ngsi-ld:Vehicle:1"));
    assert!(parse("downtown").matches("urn:ngsi-ld:Parking:downtown-2"));
}

#[test]
fn anchors_restrict_the_match() {
    assert!(parse(".*downtown$").matches("urn:x:downtown"));
    assert!(!parse(".*downtown$").matches("urn:x:downtown2"));
    assert!(!parse("^downtown").matches("urn:x:downtown"));
}

#[test]
fn an_invalid_pattern_is_bad_request_data() {
    for p in ["invalid_entity_id_pattern**", "(unclosed", "[z-a]"] {
        let e = IdPattern::parse(p).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadRequestData, "{p}");
    }
}

#[test]
fn an_oversized_pattern_is_too_complex() {
    let e = IdPattern::parse(r"(\w{50}){50}").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooComplexQuery);
}

#[test]
fn the_literal_prefix_of_an_anchored_pattern_is_its_leading_literal() {
    assert_eq!(
        parse("^urn:ngsi-ld:Building:.*").literal_prefix(),
        "urn:ngsi-ld:Building:"
    );
    assert_eq!(parse(r"^urn:x\.y:[0-9]+").literal_prefix(), "urn:x.y:");
    assert_eq!(parse("^urn:ab?c").literal_prefix(), "urn:a");
    assert_eq!(parse("^urn:ab+c").literal_prefix(), "urn:ab");
    assert_eq!(parse(r"^urn:\d").literal_prefix(), "urn:");
}

#[test]
fn patterns_without_a_known_prefix_have_an_empty_one() {
    for p in [
        "urn:ngsi-ld:Building:.*",
        "^a|^b",
        "(?i)^urn",
        "^(urn)",
        ".*",
    ] {
        assert_eq!(parse(p).literal_prefix(), "", "{p}");
    }
}

#[test]
fn every_id_with_the_literal_prefix_can_match() {
    let p = parse("^urn:shop:[0-9]+$");
    let prefix = p.literal_prefix();
    for id in ["urn:shop:1", "urn:shop:42"] {
        assert!(id.starts_with(&prefix) && p.matches(id));
    }
}
