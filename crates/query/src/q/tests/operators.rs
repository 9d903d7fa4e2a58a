//! Operators and typed values (clause 4.9): equality, lists, ranges, ordering, patterns,
//! existence, and how each attribute kind supplies its target value.

use serde_json::json;

use super::{hits, q, q_with};
use crate::q::QOptions;
use crate::testkit::{
    entity, iri, json_prop, lang, list_prop, list_rel, prop, rel, vocab, EntityExt,
};

#[test]
fn a_bare_attribute_matches_entities_that_have_it() {
    let e = entity("urn:a").with("temperature", prop(json!(20)));
    assert!(hits("temperature", &e));
    assert!(!hits("humidity", &e));
}

#[test]
fn equality_compares_numbers_numerically() {
    let e = entity("urn:a").with("temperature", prop(json!(20)));
    assert!(hits("temperature==20", &e));
    assert!(hits("temperature==20.0", &e));
    assert!(hits("temperature==2e1", &e));
    assert!(!hits("temperature==21", &e));
}

#[test]
fn equality_compares_quoted_strings_exactly() {
    let e = entity("urn:a").with("brandName", prop(json!("Mercedes Benz")));
    assert!(hits(r#"brandName=="Mercedes Benz""#, &e));
    assert!(!hits(r#"brandName=="mercedes benz""#, &e));
}

#[test]
fn quoted_strings_decode_json_escapes() {
    let e = entity("urn:a").with("text", prop(json!("say \"hi\"\n")));
    assert!(hits(r#"text=="say \"hi\"\n""#, &e));
}

#[test]
fn booleans_match_booleans_only() {
    let e = entity("urn:a")
        .with("almostFull", prop(json!(false)))
        .with("label", prop(json!("false")));
    assert!(hits("almostFull==false", &e));
    assert!(!hits("almostFull==true", &e));
    assert!(!hits("label==false", &e));
}

#[test]
fn a_type_mismatch_never_matches_equality_and_always_matches_inequality() {
    let e = entity("urn:a").with("temperature", prop(json!("20")));
    assert!(!hits("temperature==20", &e));
    assert!(hits("temperature!=20", &e));
}

#[test]
fn inequality_needs_the_attribute() {
    let e = entity("urn:a");
    assert!(!hits(r#"brandName!="Mercedes""#, &e));
}

#[test]
fn inequality_matches_different_values() {
    let e = entity("urn:a").with("brandName", prop(json!("Volvo")));
    assert!(hits(r#"brandName!="Mercedes""#, &e));
    assert!(!hits(r#"brandName!="Volvo""#, &e));
}

#[test]
fn ordering_operators_compare_numbers() {
    let e = entity("urn:a").with("speed", prop(json!(50)));
    assert!(hits("speed>49", &e));
    assert!(!hits("speed>50", &e));
    assert!(hits("speed>=50", &e));
    assert!(hits("speed<51", &e));
    assert!(!hits("speed<50", &e));
    assert!(hits("speed<=50", &e));
    assert!(hits("speed>-1.5e2", &e));
}

#[test]
fn ordering_operators_compare_strings_by_code_point() {
    let e = entity("urn:a").with("name", prop(json!("Berlin")));
    assert!(hits(r#"name>"Amsterdam""#, &e));
    assert!(hits(r#"name<"berlin""#, &e));
    assert!(!hits("name>5", &e));
}

#[test]
fn a_range_matches_values_between_its_bounds_inclusive() {
    let at = |v: i64| entity("urn:a").with("temperature", prop(json!(v)));
    assert!(hits("temperature==10..20", &at(10)));
    assert!(hits("temperature==10..20", &at(15)));
    assert!(hits("temperature==10..20", &at(20)));
    assert!(!hits("temperature==10..20", &at(21)));
    assert!(hits("temperature!=10..20", &at(9)));
    assert!(!hits("temperature!=10..20", &at(10)));
}

#[test]
fn a_range_of_quoted_strings_compares_strings() {
    let e = entity("urn:a").with("code", prop(json!("m")));
    assert!(hits(r#"code=="a".."z""#, &e));
    assert!(!hits(r#"code=="n".."z""#, &e));
}

#[test]
fn a_range_of_date_times_compares_instants() {
    let e = entity("urn:a").with("due", prop(json!("2021-06-01T12:00:00.000Z")));
    assert!(hits("due==2021-01-01T00:00:00Z..2021-12-31T23:59:59Z", &e));
    assert!(!hits("due==2022-01-01T00:00:00Z..2022-12-31T00:00:00Z", &e));
}

#[test]
fn a_value_list_matches_any_listed_value() {
    let e = entity("urn:a").with("color", prop(json!("red")));
    assert!(hits(r#"color=="black","red""#, &e));
    assert!(!hits(r#"color=="black","blue""#, &e));
    assert!(hits(r#"color!="black","blue""#, &e));
    assert!(!hits(r#"color!="black","red""#, &e));
}

#[test]
fn a_value_list_may_mix_types() {
    let e = entity("urn:a").with("level", prop(json!(3)));
    assert!(hits(r#"level=="three",3,true"#, &e));
}

#[test]
fn an_array_value_matches_if_it_includes_the_value() {
    let e = entity("urn:a").with("color", prop(json!(["blue", "red", "green"])));
    assert!(hits(r#"color=="red""#, &e));
    assert!(!hits(r#"color!="red""#, &e));
    assert!(hits(r#"color!="black""#, &e));
    assert!(hits(r#"color=="black","red""#, &e));
    assert!(!hits(r#"color!="black","green""#, &e));
}

#[test]
fn ordering_on_an_array_value_matches_if_any_element_does() {
    let e = entity("urn:a").with("readings", prop(json!([1, 5, 9])));
    assert!(hits("readings>8", &e));
    assert!(!hits("readings>9", &e));
}

#[test]
fn date_times_compare_as_instants_whatever_their_precision() {
    let e = entity("urn:a").with("seen", prop(json!("2020-09-09T16:40:00.000Z")));
    assert!(hits("seen==2020-09-09T16:40:00Z", &e));
    assert!(hits("seen>2020-09-09T16:39:59.999Z", &e));
    assert!(hits("seen<2020-09-09T18:40:00+01:00", &e));
    assert!(!hits("seen>2020-09-09T16:40:00.5Z", &e));
}

#[test]
fn a_json_ld_typed_value_compares_by_its_value() {
    let e = entity("urn:a").with(
        "seen",
        prop(json!({"@type": "DateTime", "@value": "2020-01-01T00:00:00Z"})),
    );
    assert!(hits("seen>=2020-01-01T00:00:00Z", &e));
}

#[test]
fn dates_and_times_compare_temporally() {
    let e = entity("urn:a")
        .with("day", prop(json!("2021-03-04")))
        .with("opens", prop(json!("08:30:00Z")));
    assert!(hits("day>2021-03-03", &e));
    assert!(hits("day==2021-03-04", &e));
    assert!(!hits("day<2021-03-04", &e));
    assert!(hits("opens<09:00:00Z", &e));
    assert!(hits("opens==08:30:00.000Z", &e));
    // A date is not a date-time: different types never match.
    assert!(!hits("day==2021-03-04T00:00:00Z", &e));
}

#[test]
fn a_pattern_matches_strings_anywhere_unless_anchored() {
    let e = entity("urn:a").with("name", prop(json!("Eiffel Tower")));
    assert!(hits("name~=Tower", &e));
    assert!(hits("name~=^Eiffel", &e));
    assert!(!hits("name~=^Tower", &e));
    assert!(hits("name~=(?i)eiffel", &e));
    assert!(hits(r#"name~="^Eiffel T.*r$""#, &e));
}

#[test]
fn a_pattern_may_contain_alternation_inside_a_group() {
    let e = entity("urn:a").with("name", prop(json!("Pisa Tower")));
    assert!(hits("name~=(Eiffel|Pisa);name", &e));
    assert!(hits("(name~=(Eiffel|Pisa) Tower)", &e));
    assert!(hits("name~=[;|]|name~=Pisa", &e));
}

#[test]
fn a_pattern_never_matches_a_non_string() {
    let e = entity("urn:a").with("count", prop(json!(12)));
    assert!(!hits("count~=1", &e));
    assert!(!hits("count!~=x", &e));
}

#[test]
fn a_negated_pattern_matches_strings_outside_the_language() {
    let e = entity("urn:a").with("name", prop(json!("Eiffel Tower")));
    assert!(hits("name!~=Pisa", &e));
    assert!(!hits("name!~=Tower", &e));
    assert!(!hits("other!~=Tower", &e));
}

#[test]
fn a_relationship_compares_its_object() {
    let e = entity("urn:a").with("locatedIn", rel(json!("urn:ngsi-ld:City:Pisa")));
    assert!(hits("locatedIn==urn:ngsi-ld:City:Pisa", &e));
    assert!(hits(r#"locatedIn=="urn:ngsi-ld:City:Pisa""#, &e));
    assert!(!hits("locatedIn==urn:ngsi-ld:City:Paris", &e));
    assert!(hits("locatedIn!=urn:ngsi-ld:City:Paris", &e));
    assert!(hits(
        "locatedIn==urn:ngsi-ld:City:Paris,urn:ngsi-ld:City:Pisa",
        &e
    ));
}

#[test]
fn a_relationship_does_not_match_other_operators() {
    let e = entity("urn:a").with("locatedIn", rel(json!("urn:ngsi-ld:City:Pisa")));
    assert!(!hits(r#"locatedIn>"urn:a""#, &e));
    assert!(!hits("locatedIn~=Pisa", &e));
    assert!(!hits("locatedIn!~=Paris", &e));
}

#[test]
fn a_relationship_with_several_objects_matches_any() {
    let e = entity("urn:a").with("owns", rel(json!(["urn:x:1", "urn:x:2"])));
    assert!(hits("owns==urn:x:2", &e));
    assert!(!hits("owns!=urn:x:2", &e));
}

#[test]
fn a_list_relationship_compares_its_object_list() {
    let e = entity("urn:a").with("route", list_rel(&["urn:stop:1", "urn:stop:2"]));
    assert!(hits("route==urn:stop:2", &e));
    assert!(hits("route!=urn:stop:3", &e));
    assert!(!hits("route!=urn:stop:1", &e));
}

#[test]
fn a_list_property_matches_if_its_value_list_includes_the_value() {
    let e = entity("urn:a").with("scores", list_prop(vec![json!(3), json!(7)]));
    assert!(hits("scores==7", &e));
    assert!(hits("scores>6", &e));
    assert!(!hits("scores==5", &e));
}

#[test]
fn a_language_property_matches_any_language_by_default() {
    let e = entity("urn:a").with(
        "color",
        lang(json!({"fr": "rouge", "en": "red", "de": ["rot", "rote"]})),
    );
    assert!(hits(r#"color=="red""#, &e));
    assert!(hits(r#"color[*]=="rote""#, &e));
    assert!(!hits(r#"color[*]!="rouge""#, &e));
    assert!(hits(r#"color[*]!="black""#, &e));
}

#[test]
fn a_language_property_can_be_restricted_to_one_language() {
    let e = entity("urn:a").with("color", lang(json!({"fr": "rouge", "en": ["red", "cat"]})));
    assert!(hits(r#"color[en]=="red""#, &e));
    assert!(!hits(r#"color[fr]=="red""#, &e));
    assert!(hits(r#"color[fr]!="red""#, &e));
    assert!(!hits(r#"color[de]!="red""#, &e));
    assert!(hits("color[fr]~=^rou", &e));
}

#[test]
fn a_vocab_property_compares_with_the_expanded_literal() {
    let e = entity("urn:a").with("gender", vocab(json!(iri("Male"))));
    assert!(hits("gender==Male", &e));
    assert!(hits(r#"gender=="Male""#, &e));
    assert!(hits(&format!("gender=={}", iri("Male")), &e));
    assert!(!hits("gender==Female", &e));
    assert!(hits("gender!=Female", &e));
}

#[test]
fn expand_values_compares_property_strings_expanded_too() {
    let stored = entity("urn:a").with("category", prop(json!(iri("commercial"))));
    let plain = entity("urn:b").with("category", prop(json!("commercial")));
    let names = [iri("category")];
    let options = QOptions {
        expand_values: &names,
        json_keys: &[],
    };
    let expr = q_with("category==commercial", &options);
    assert!(expr.matches(&stored));
    assert!(expr.matches(&plain));
    assert!(!q("category==commercial").matches(&stored));
}

#[test]
fn json_keys_attributes_are_never_expanded() {
    let e = entity("urn:a").with("category", prop(json!(iri("commercial"))));
    let names = [iri("category")];
    let options = QOptions {
        expand_values: &names,
        json_keys: &names,
    };
    assert!(!q_with("category==commercial", &options).matches(&e));
}

#[test]
fn a_json_property_compares_its_json() {
    let e = entity("urn:a").with("config", json_prop(json!({"value": "Overstay 60 minutes"})));
    let names = [iri("config")];
    let options = QOptions {
        expand_values: &[],
        json_keys: &names,
    };
    assert!(q_with(r#"config[value]=="Overstay 60 minutes""#, &options).matches(&e));
    assert!(hits(r#"config[value]=="Overstay 60 minutes""#, &e));
}

#[test]
fn any_instance_of_a_multi_instance_attribute_may_match() {
    use crate::testkit::AttributeExt;
    let e = entity("urn:a")
        .with("speed", prop(json!(10)))
        .with("speed", prop(json!(90)).dataset("urn:ds:gps"));
    assert!(hits("speed>80", &e));
    assert!(hits("speed<20", &e));
    assert!(!hits("speed>100", &e));
}

#[test]
fn unquoted_words_compare_as_strings() {
    let e = entity("urn:a").with("status", prop(json!("open")));
    assert!(hits("status==open", &e));
    assert!(hits("status==closed,open", &e));
}
