//! `write_history` writes the bytes of `render_history`, for every representation and option.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use rigel_broker::temporal::{EntityHistory, HistoryHeader, HistoryInstance};
use rigel_model::{Attribute, AttributeValue, IdentityTerms};
use serde_json::{json, Map};

use super::write_history;
use crate::representation::render_options;
use crate::request::Params;
use crate::temporal::{render_history, temporal_params};

fn at(minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, minute, 0).unwrap()
}

fn instance(n: u32, value: AttributeValue, dataset: Option<&str>) -> HistoryInstance {
    let mut sub = std::collections::BTreeMap::new();
    if n.is_multiple_of(2) {
        sub.insert(
            "https://example.org/accuracy".to_owned(),
            Attribute::new(AttributeValue::Property(json!(0.5))),
        );
    }
    HistoryInstance {
        instance_id: format!("urn:ngsi-ld:instance:{n}"),
        value: Attribute {
            dataset_id: dataset.map(str::to_owned),
            observed_at: (n != 3).then(|| format!("2026-01-01T12:{n:02}:00Z")),
            unit_code: (n == 1).then(|| "KMH".to_owned()),
            sub_attributes: sub,
            created_at: Some(at(n)),
            modified_at: Some(at(n + 1)),
            ..Attribute::new(value)
        },
        deleted_at: (n == 4).then(|| at(n)),
    }
}

fn history() -> EntityHistory {
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert(
        "https://example.org/speed".to_owned(),
        (0..5)
            .map(|n| instance(n, AttributeValue::Property(json!(n * 10)), None))
            .collect(),
    );
    attributes.insert(
        "https://example.org/parkedIn".to_owned(),
        vec![
            instance(
                1,
                AttributeValue::Relationship {
                    object: json!("urn:a"),
                    object_type: None,
                },
                Some("urn:ds:2"),
            ),
            instance(
                2,
                AttributeValue::Relationship {
                    object: json!("urn:b"),
                    object_type: None,
                },
                None,
            ),
        ],
    );
    let mut names = Map::new();
    names.insert("en".into(), json!("car"));
    names.insert("fr".into(), json!("voiture"));
    attributes.insert(
        "https://example.org/name".to_owned(),
        vec![instance(
            5,
            AttributeValue::LanguageProperty(names),
            Some("urn:ds:1"),
        )],
    );
    attributes.insert("https://example.org/empty".to_owned(), Vec::new());
    EntityHistory {
        header: HistoryHeader {
            id: "urn:ngsi-ld:Car:1".into(),
            types: vec![
                "https://example.org/Car".into(),
                "https://example.org/Vehicle".into(),
            ],
            scope: None,
            created_at: at(0),
            modified_at: at(9),
            deleted_at: Some(at(10)),
        },
        attributes,
    }
}

#[test]
fn written_history_is_byte_for_byte_the_rendered_one() {
    for query in [
        "",
        "options=sysAttrs",
        "options=temporalValues",
        "format=temporalValues&timeproperty=modifiedAt",
        "format=temporalValues&timeproperty=deletedAt&options=sysAttrs",
        "pick=https://example.org/speed,id",
        "omit=id,type",
        "pick=id",
        "lang=fr",
        "format=concise",
        "options=aggregatedValues&aggrMethods=totalCount,sum&aggrPeriodDuration=PT1H",
    ] {
        let pairs = serde_urlencoded::from_str(query).unwrap();
        let terms = IdentityTerms;
        let params = temporal_params(Params::from_pairs(pairs), false).unwrap();
        let opts = render_options(&params.rest, &terms).unwrap();
        let rendered = render_history(history(), &params, &terms, &opts);
        let mut written = Vec::new();
        let empty = write_history(&mut written, history(), &params, &terms, &opts);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            serde_json::to_string(&rendered).unwrap(),
            "{query}"
        );
        assert_eq!(empty, rendered.is_empty(), "{query}");
    }
}
