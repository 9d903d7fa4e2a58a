//! Grammar coverage and syntax errors (clause 4.9).

use rigel_model::ErrorKind;
use serde_json::json;

use super::{err, hits, q};
use crate::testkit::{entity, iri, prop, EntityExt};
use crate::Language;

/// Clause 4.9: AND takes precedence over OR.
#[test]
fn and_binds_tighter_than_or() {
    let e = entity("urn:a").with("a", prop(json!(1)));
    // a==1 | (b==1 ; c==1): true through the first operand.
    assert!(hits("a==1|b==1;c==1", &e));
    // (a==1 | b==1) ; c==1 would be false.
    assert!(!hits("(a==1|b==1);c==1", &e));
}

/// Clause 4.9, production QueryTermAssoc and example 6.
#[test]
fn parentheses_nest() {
    let e = entity("urn:a")
        .with("speed", prop(json!(60)))
        .with("brandName", prop(json!("Mercedes")));
    assert!(hits(r#"((speed>50|rpm>3000);brandName=="Mercedes")"#, &e));
    assert!(!hits(r#"((speed>70|rpm>3000);brandName=="Mercedes")"#, &e));
}

#[test]
fn spaces_between_tokens_are_tolerated() {
    let e = entity("urn:a").with("a", prop(json!(1)));
    assert!(hits(" a == 1 ; ( a >= 0 | b ) ", &e));
}

#[test]
fn an_empty_query_is_refused() {
    let e = err("");
    assert_eq!(e.kind(), ErrorKind::BadRequestData);
    assert_eq!(e.position(), Some(0));
    assert_eq!(e.language(), Language::Q);
}

#[test]
fn an_unclosed_parenthesis_is_reported_where_the_input_ends() {
    let e = err("(a==1;b==2");
    assert_eq!(e.position(), Some(10));
    assert!(
        e.to_string().contains("closing the '(' at position 0"),
        "{e}"
    );
}

#[test]
fn a_stray_closing_parenthesis_is_reported_at_its_position() {
    assert_eq!(err("a==1)").position(), Some(4));
}

#[test]
fn consecutive_logical_operators_are_refused_at_the_second() {
    assert_eq!(err("a==1;;b==2").position(), Some(5));
    assert_eq!(err("a==1|;b").position(), Some(5));
}

#[test]
fn a_query_cannot_start_or_end_with_a_logical_operator() {
    assert_eq!(err(";a").position(), Some(0));
    assert_eq!(err("a|").position(), Some(2));
}

#[test]
fn a_single_equals_sign_is_not_an_operator() {
    let e = err("a=1");
    assert_eq!(e.position(), Some(1));
    assert!(e.to_string().contains("'=='"), "{e}");
}

#[test]
fn a_missing_value_is_refused() {
    assert_eq!(err("a==").position(), Some(3));
    assert_eq!(err("a>;b").position(), Some(2));
}

#[test]
fn an_attribute_name_must_start_with_a_letter() {
    assert_eq!(err("1a==1").position(), Some(0));
    assert_eq!(err("a.==1").position(), Some(2));
}

#[test]
fn an_unterminated_string_is_reported_at_its_opening_quote() {
    let e = err(r#"name=="Eiffel"#);
    assert_eq!(e.position(), Some(6));
    assert!(e.to_string().contains("unterminated"), "{e}");
}

#[test]
fn error_positions_count_characters_not_bytes() {
    // "né" is two characters but three bytes.
    assert_eq!(err("né==1)").position(), Some(5));
}

#[test]
fn an_error_message_names_the_offending_text() {
    let e = err("a==1 b==2");
    assert!(e.to_string().contains("at position 5"), "{e}");
    assert!(e.to_string().contains("\"b==2\""), "{e}");
}

#[test]
fn ordering_operators_need_a_comparable_value() {
    assert_eq!(err("a>true").position(), Some(2));
    assert_eq!(err("a<urn:x").position(), Some(2));
}

#[test]
fn value_lists_and_ranges_need_equality_operators() {
    assert!(err("a>1,2").to_string().contains("== or !="));
    assert!(err("a>1..2").to_string().contains("== or !="));
}

#[test]
fn range_bounds_must_share_a_type() {
    assert_eq!(err(r#"a==1.."z""#).position(), Some(3));
    assert_eq!(err("a==2020-01-01..5").position(), Some(3));
}

#[test]
fn a_range_cannot_be_part_of_a_list() {
    assert!(err("a==1..2,5").to_string().contains("range"));
}

#[test]
fn an_invalid_regular_expression_is_bad_request_data_at_its_position() {
    let e = err("a~=(unclosed");
    assert_eq!(e.kind(), ErrorKind::BadRequestData);
    assert_eq!(e.position(), Some(3));
}

#[test]
fn attributes_lists_the_top_level_names_sorted_without_system_members() {
    let expr = q(
        "zeta==1;(alpha.observedAt>2020-01-01T00:00:00Z|createdAt>2020-01-01T00:00:00Z);rel{beta}",
    );
    assert_eq!(
        expr.attributes(),
        vec![iri("alpha"), iri("rel"), iri("zeta")]
    );
    assert!(q("createdAt>2020-01-01T00:00:00Z").attributes().is_empty());
}

/// Guarding against pathological input: TooComplexQuery.
#[test]
fn a_very_long_query_is_too_complex() {
    let input = "a==1;".repeat(4000) + "a==1";
    assert_eq!(err(&input).kind(), ErrorKind::TooComplexQuery);
}

#[test]
fn deep_nesting_is_too_complex() {
    let input = "(".repeat(100) + "a" + &")".repeat(100);
    assert_eq!(err(&input).kind(), ErrorKind::TooComplexQuery);
    let ok = "(".repeat(20) + "a" + &")".repeat(20);
    q(&ok);
}

#[test]
fn too_many_terms_are_too_complex() {
    let input = vec!["a"; 300].join("|");
    assert_eq!(err(&input).kind(), ErrorKind::TooComplexQuery);
}

#[test]
fn a_huge_value_list_is_too_complex() {
    let input = format!("a=={}", vec!["1"; 2000].join(","));
    assert_eq!(err(&input).kind(), ErrorKind::TooComplexQuery);
}

#[test]
fn a_regular_expression_too_big_to_compile_is_too_complex() {
    let e = err(r"a~=(\w{100}){100}");
    assert_eq!(e.kind(), ErrorKind::TooComplexQuery, "{e}");
}

#[test]
fn a_long_attribute_path_is_too_complex() {
    let input = vec!["a"; 40].join(".");
    assert_eq!(err(&input).kind(), ErrorKind::TooComplexQuery);
}

#[test]
fn stacked_repetitions_in_a_pattern_are_refused() {
    assert_eq!(err("a~=x**").kind(), ErrorKind::BadRequestData);
    assert_eq!(err("a~=x+*").position(), Some(3));
    q("a~=x*?y");
    q(r"a~=\**");
}
