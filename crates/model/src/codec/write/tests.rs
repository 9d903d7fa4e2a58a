//! The byte writer renders exactly what `render_entity` serializes, for every option.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::write_entity;
use crate::codec::parse::parse_entity;
use crate::codec::render::{
    render_entity, renders_nothing, Format, LangPreference, Projection, RenderOptions,
};
use crate::{Entity, TermMap};

/// Compacts `https://example.org/` IRIs to their last segment, like a small @context.
struct ExampleTerms;

impl TermMap for ExampleTerms {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        if term.contains(':') {
            Cow::Borrowed(term)
        } else {
            Cow::Owned(format!("https://example.org/{term}"))
        }
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(iri.strip_prefix("https://example.org/").unwrap_or(iri))
    }
}

fn entities() -> Vec<Entity> {
    let now = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    let docs = [
        json!({
            "id": "urn:ngsi-ld:T:1", "type": ["T", "U"], "scope": "/a/b",
            "p": [
                {"type": "Property", "value": 1.0, "unitCode": "CEL", "observedAt": "2024-01-01T00:00:00Z",
                 "sub": {"type": "Property", "value": "x", "deeper": {"type": "Relationship", "object": "urn:a:1"}}},
                {"type": "Property", "value": {"a": [1, "é\"\n"]}, "datasetId": "urn:ds:1"}
            ],
            "typed": {"type": "Property", "value": {"type": "looks like a node"}},
            "list": {"type": "Property", "value": [{"k": 1}]},
            "nul": {"type": "Property", "value": "null-like"},
            "r": {"type": "Relationship", "object": ["urn:ngsi-ld:X:1", "urn:ngsi-ld:X:2"], "objectType": "X"},
            "g": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.5, 2.0]}},
            "l": [{"type": "LanguageProperty", "languageMap": {"en": "yes", "fr-CA": "oui"}},
                  {"type": "LanguageProperty", "languageMap": {}, "datasetId": "urn:ds:empty"}],
            "v": {"type": "VocabProperty", "vocab": ["Ok", "https://elsewhere.org/x"]},
            "j": {"type": "JsonProperty", "json": {"id": "not-expanded"}},
            "lp": {"type": "ListProperty", "valueList": [1, [2, 3]], "expiresAt": "2030-01-01T00:00:00Z"},
            "lr": {"type": "ListRelationship", "objectList": [{"object": "urn:a:1"}, {"object": "urn:a:2"}], "objectType": ["A", "B"]},
        }),
        json!({"id": "urn:ngsi-ld:T:2", "type": "T"}),
        json!({"id": "urn:ngsi-ld:T:3", "type": "T", "scope": ["/x", "/y"],
               "only": {"type": "Property", "value": true, "valueType": "xsd:boolean"}}),
    ];
    docs.iter()
        .map(|d| parse_entity(d.as_object().unwrap(), &ExampleTerms, now).unwrap())
        .collect()
}

fn option_sets() -> Vec<RenderOptions> {
    let projections = [
        Projection::default(),
        Projection {
            keep: Some(HashSet::from(["https://example.org/p".to_owned()])),
            ..Projection::default()
        },
        Projection {
            drop: HashSet::from([
                "https://example.org/r".to_owned(),
                "https://uri.etsi.org/ngsi-ld/scope".to_owned(),
            ]),
            drop_id: true,
            drop_type: true,
            ..Projection::default()
        },
        Projection {
            keep: Some(HashSet::new()),
            drop_id: true,
            drop_type: true,
            ..Projection::default()
        },
    ];
    let mut sets = Vec::new();
    for format in [Format::Normalized, Format::Concise, Format::KeyValues] {
        for sys_attrs in [false, true] {
            for lang in [None, Some("fr;q=0.5,en"), Some("de"), Some("*")] {
                for projection in &projections {
                    sets.push(RenderOptions {
                        format,
                        sys_attrs,
                        lang: lang.map(LangPreference::parse),
                        projection: projection.clone(),
                    });
                }
            }
        }
    }
    sets
}

#[test]
fn bytes_equal_the_serialized_rendering_for_every_option() {
    let mut compared = 0;
    for entity in entities() {
        for opts in option_sets() {
            let rendered: Map<String, Value> = render_entity(&entity, &ExampleTerms, &opts);
            let mut bytes = Vec::new();
            let empty = write_entity(&mut bytes, &entity, &ExampleTerms, &opts);
            assert_eq!(
                String::from_utf8(bytes).unwrap(),
                serde_json::to_string(&rendered).unwrap(),
                "entity {} with {opts:?}",
                entity.id
            );
            assert_eq!(empty, rendered.is_empty());
            assert_eq!(renders_nothing(&entity, &opts), rendered.is_empty());
            compared += 1;
        }
    }
    assert_eq!(compared, 3 * 96);
}

#[test]
fn the_writer_appends_to_what_the_buffer_holds() {
    let entity = &entities()[1];
    let mut bytes = b"[".to_vec();
    write_entity(&mut bytes, entity, &ExampleTerms, &RenderOptions::default());
    assert_eq!(bytes, br#"[{"id":"urn:ngsi-ld:T:2","type":"T"}"#);
}

#[test]
fn text_escapes_exactly_what_serde_json_escapes() {
    for s in [
        "",
        "plain",
        "quote\"d",
        "back\\slash",
        "tab\t",
        "\u{1}",
        "é/ü\u{7f}",
        "a\nb",
    ] {
        let mut bytes = Vec::new();
        super::text(&mut bytes, s);
        assert_eq!(bytes, serde_json::to_vec(s).unwrap(), "{s:?}");
    }
}
