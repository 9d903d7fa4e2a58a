//! Tests of the scope query language (clause 4.19).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigel_model::ErrorKind;

use super::ScopeExpr;

fn hits(query: &str, scopes: &[&str]) -> bool {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    ScopeExpr::parse(query)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .matches(Some(&scopes))
}

#[test]
fn a_full_scope_matches_exactly() {
    assert!(hits(
        "/Madrid/Gardens/ParqueNorte",
        &["/Madrid/Gardens/ParqueNorte"]
    ));
    assert!(!hits("/Madrid/Gardens", &["/Madrid/Gardens/ParqueNorte"]));
    assert!(!hits("/Madrid/Gardens/ParqueNorte", &["/Madrid/Gardens"]));
}

#[test]
fn a_plus_matches_exactly_one_level() {
    assert!(hits("/Lyon/+/Centre", &["/Lyon/North/Centre"]));
    assert!(hits("/Lyon/+/Centre", &["/Other", "/Lyon/South/Centre"]));
    assert!(!hits("/Lyon/+/Centre", &["/Lyon/Centre"]));
    assert!(!hits("/Lyon/+/Centre", &["/Lyon/a/b/Centre"]));
}

#[test]
fn a_trailing_hash_matches_the_scope_and_everything_below() {
    assert!(hits("/CompanyA/#", &["/CompanyA"]));
    assert!(hits("/CompanyA/#", &["/CompanyA/Unit1/Team2"]));
    assert!(!hits("/CompanyA/#", &["/CompanyB/Unit1"]));
    assert!(!hits("/CompanyA/#", &["/CompanyAB"]));
}

#[test]
fn a_lone_hash_matches_any_non_empty_scope() {
    assert!(hits("/#", &["/x"]));
    assert!(!hits("/#", &[]));
    assert!(!ScopeExpr::parse("/#").unwrap().matches(None));
}

#[test]
fn an_entity_without_scope_matches_nothing() {
    assert!(!ScopeExpr::parse("/A").unwrap().matches(None));
}

#[test]
fn a_semicolon_needs_both_scopes() {
    let both = ["/Madrid/Districts", "/CompanyA"];
    assert!(hits("(/Madrid/Districts;/CompanyA)", &both));
    assert!(hits("/Madrid/Districts;/CompanyA", &both));
    assert!(!hits("(/Madrid/Districts;/CompanyA)", &["/CompanyA"]));
}

#[test]
fn a_comma_and_a_bar_both_mean_or() {
    for q in ["/A/B,/C", "/A/B|/C", "(/A/B;/X)|/C"] {
        assert!(hits(q, &["/C"]), "{q}");
        assert!(!hits(q, &["/A"]), "{q}");
    }
    assert!(hits("/A/B,/C", &["/A/B"]));
}

#[test]
fn the_leading_slash_is_optional_as_in_scopes() {
    assert!(hits(
        "(/Madrid/Districts;/CompanyA)|CompanyB",
        &["/CompanyB"]
    ));
    assert!(hits("/Madrid", &["Madrid"]));
}

#[test]
fn malformed_scope_queries_are_refused_at_their_position() {
    for (q, at) in [
        ("", 0),
        ("/", 1),
        ("/a//b", 3),
        ("/a,", 3),
        ("(/a;/b", 6),
        ("/a/#/b", 4),
        ("/a b", 3),
    ] {
        let e = ScopeExpr::parse(q).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadRequestData, "{q}");
        assert_eq!(e.position(), Some(at), "{q}: {e}");
    }
}

#[test]
fn pathological_scope_queries_are_too_complex() {
    let wide = vec!["/a"; 300].join(",");
    assert_eq!(
        ScopeExpr::parse(&wide).unwrap_err().kind(),
        ErrorKind::TooComplexQuery
    );
}
