//! Tests of the entity type selection language (clause 4.17).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigel_model::ErrorKind;

use super::TypeExpr;
use crate::testkit::{iri, Terms};

fn parse(input: &str) -> TypeExpr {
    TypeExpr::parse(input, &Terms).unwrap_or_else(|e| panic!("{input}: {e}"))
}

fn types(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| iri(n)).collect()
}

#[test]
fn one_type_matches_entities_having_it_among_others() {
    let t = parse("Building");
    assert!(t.matches(&types(&["Building"])));
    assert!(t.matches(&types(&["Shop", "Building"])));
    assert!(!t.matches(&types(&["Shop"])));
}

#[test]
fn a_comma_and_a_bar_both_mean_or() {
    for input in ["Building,House", "Building|House"] {
        let t = parse(input);
        assert!(t.matches(&types(&["House"])));
        assert!(t.matches(&types(&["Building"])));
        assert!(!t.matches(&types(&["Shop"])));
        assert!(t.is_simple_list());
    }
}

#[test]
fn a_semicolon_in_parentheses_means_and() {
    let t = parse("(Home;Vehicle)");
    assert!(t.matches(&types(&["Vehicle", "Home"])));
    assert!(!t.matches(&types(&["Home"])));
    assert!(!t.is_simple_list());
}

#[test]
fn and_groups_combine_with_or() {
    for input in [
        "(Home;Vehicle)|Motorhome",
        "(Home;Vehicle),Motorhome",
        "Home;Vehicle,Motorhome",
    ] {
        let t = parse(input);
        assert!(t.matches(&types(&["Motorhome"])), "{input}");
        assert!(t.matches(&types(&["Home", "Vehicle"])), "{input}");
        assert!(!t.matches(&types(&["Home"])), "{input}");
    }
}

#[test]
fn full_uris_are_taken_as_they_are() {
    let t = parse("https://example.org/Building,urn:type:Shop");
    assert!(t.matches(&types(&["Building"])));
    assert!(t.matches(&["urn:type:Shop".to_owned()]));
    assert!(t.is_simple_list());
}

#[test]
fn a_uri_with_a_fragment_is_one_type() {
    let t = parse("https://example.org/context#Building");
    assert!(t.matches(&["https://example.org/context#Building".to_owned()]));
    assert_eq!(t.index_types(), ["https://example.org/context#Building"]);
}

#[test]
fn index_types_of_an_or_is_the_union() {
    assert_eq!(parse("B,A|B").index_types(), types(&["A", "B"]));
}

#[test]
fn index_types_of_an_and_is_its_smallest_operand() {
    assert_eq!(parse("(A;B)").index_types(), types(&["A"]));
    assert_eq!(parse("((X|Y);Z)").index_types(), types(&["Z"]));
    assert_eq!(parse("(A;B),C").index_types(), types(&["A", "C"]));
}

#[test]
fn empty_operands_are_refused_at_their_position() {
    let e = TypeExpr::parse("A,,B", &Terms).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequestData);
    assert_eq!(e.position(), Some(2));
    assert_eq!(TypeExpr::parse("", &Terms).unwrap_err().position(), Some(0));
    assert_eq!(
        TypeExpr::parse("(A;B", &Terms).unwrap_err().position(),
        Some(4)
    );
    assert_eq!(
        TypeExpr::parse("A)", &Terms).unwrap_err().position(),
        Some(1)
    );
}

#[test]
fn names_that_are_neither_terms_nor_uris_are_refused() {
    let e = TypeExpr::parse("Good,Bad=Type", &Terms).unwrap_err();
    assert_eq!(e.position(), Some(5));
}

#[test]
fn pathological_type_selections_are_too_complex() {
    let deep = "(".repeat(50) + "A" + &")".repeat(50);
    assert_eq!(
        TypeExpr::parse(&deep, &Terms).unwrap_err().kind(),
        ErrorKind::TooComplexQuery
    );
    let wide = vec!["A"; 300].join(",");
    assert_eq!(
        TypeExpr::parse(&wide, &Terms).unwrap_err().kind(),
        ErrorKind::TooComplexQuery
    );
}
