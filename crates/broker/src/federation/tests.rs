//! The `Via` hops of distributed requests, and the merge of an entity's copies.

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use rigel_model::{Attribute, AttributeValue, Entity};
use serde_json::json;

use super::{merge_into, Hop};

#[test]
fn via_hops_read_back_as_written_with_their_tenant() {
    let hops = [
        Hop {
            alias: "rigel-a".into(),
            tenant: None,
        },
        Hop {
            alias: "rigel-b".into(),
            tenant: Some("city".into()),
        },
    ];
    let text = hops.iter().map(Hop::render).collect::<Vec<_>>().join(", ");
    assert_eq!(text, "1.1 rigel-a, 1.1 rigel-b (NGSILD-Tenant: city)");
    assert_eq!(Hop::parse_all(&text), hops);
    let proxy = Hop::parse_all("HTTP/1.1 proxy.example:8080 (Apache/2.4), 1.0 fred");
    assert_eq!(proxy[0].alias, "proxy.example:8080");
    assert_eq!(proxy[0].tenant, None);
    assert_eq!(proxy[1].alias, "fred");
    assert!(Hop::parse_all("garbage").is_empty());
}

fn entity(types: &[&str], attributes: Vec<(&str, Attribute)>) -> Entity {
    let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    Entity {
        id: "urn:e:1".into(),
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        scope: None,
        attributes: attributes
            .into_iter()
            .map(|(n, a)| (n.to_owned(), vec![a]))
            .collect(),
        created_at: at,
        modified_at: at,
    }
}

fn reading(value: i64, observed: Option<&str>, modified: Option<u32>) -> Attribute {
    let mut a = Attribute::new(AttributeValue::Property(json!(value)));
    a.observed_at = observed.map(str::to_owned);
    a.modified_at = modified.map(|d| Utc.with_ymd_and_hms(2024, 1, d, 0, 0, 0).unwrap());
    a
}

fn speed(e: &Entity) -> serde_json::Value {
    match &e.attributes["speed"][0].value {
        AttributeValue::Property(v) => v.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_merge_keeps_the_latest_observation_then_the_latest_change() {
    let now = Utc::now();
    let mut held = entity(
        &["T"],
        vec![("speed", reading(1, Some("2024-02-01T00:00:00Z"), Some(9)))],
    );
    merge_into(
        &mut held,
        entity(
            &["U"],
            vec![("speed", reading(2, Some("2024-03-01T00:00:00Z"), Some(1)))],
        ),
        false,
        now,
    );
    assert_eq!(speed(&held), json!(2));
    assert_eq!(held.types, ["T", "U"]);
    merge_into(
        &mut held,
        entity(&["T"], vec![("speed", reading(3, None, Some(20)))]),
        false,
        now,
    );
    assert_eq!(
        speed(&held),
        json!(2),
        "an observation beats no observation"
    );
    let mut unobserved = entity(&["T"], vec![("speed", reading(4, None, Some(2)))]);
    merge_into(
        &mut unobserved,
        entity(&["T"], vec![("speed", reading(5, None, Some(3)))]),
        false,
        now,
    );
    assert_eq!(speed(&unobserved), json!(5));
}

#[test]
fn auxiliary_copies_only_fill_gaps() {
    let now = Utc::now();
    let mut held = entity(&["T"], vec![("speed", reading(1, None, Some(1)))]);
    merge_into(
        &mut held,
        entity(
            &["T"],
            vec![
                ("speed", reading(9, Some("2030-01-01T00:00:00Z"), Some(28))),
                ("brand", reading(7, None, None)),
            ],
        ),
        true,
        now,
    );
    assert_eq!(speed(&held), json!(1));
    assert!(held.attributes.contains_key("brand"));
}
