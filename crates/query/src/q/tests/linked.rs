//! Linked-entity terms (clause 4.9 examples 13 and 14): `rel{path}` and `rel{Type:path}`.

use std::collections::HashMap;

use rigel_model::Entity;
use serde_json::json;

use super::{err, q};
use crate::testkit::{entity, list_rel, prop, rel, EntityExt};

fn world() -> (Entity, HashMap<String, Entity>) {
    let station = entity("urn:station:1")
        .typed(&["WeatherStation"])
        .with("sensor", rel(json!("urn:device:1")))
        .with("backups", list_rel(&["urn:device:2", "urn:missing"]));
    let device = entity("urn:device:1")
        .typed(&["Device"])
        .with("humidity", prop(json!(40)))
        .with("maker", rel(json!("urn:org:1")));
    let backup = entity("urn:device:2")
        .typed(&["Sensor"])
        .with("humidity", prop(json!(55)));
    let org = entity("urn:org:1")
        .typed(&["Organization"])
        .with("name", prop(json!("ACME")));
    let linked = [device, backup, org]
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    (station, linked)
}

#[test]
fn a_linked_term_evaluates_on_the_related_entity() {
    let (station, linked) = world();
    assert!(q("sensor{humidity}==40").matches_with(&station, &linked));
    assert!(!q("sensor{humidity}==41").matches_with(&station, &linked));
    assert!(q("sensor{humidity}").matches_with(&station, &linked));
}

#[test]
fn a_type_hint_restricts_the_linked_entities() {
    let (station, linked) = world();
    assert!(q("sensor{Device:humidity}==40").matches_with(&station, &linked));
    assert!(!q("sensor{Sensor:humidity}==40").matches_with(&station, &linked));
    assert!(q("sensor{Sensor,Device:humidity}==40").matches_with(&station, &linked));
}

#[test]
fn linked_terms_nest_and_follow_list_relationships() {
    let (station, linked) = world();
    assert!(q(r#"sensor{maker{Organization:name}}=="ACME""#).matches_with(&station, &linked));
    assert!(q("backups{humidity}>50").matches_with(&station, &linked));
    assert_eq!(q("sensor{maker{name}}").linked_depth(), 2);
    assert_eq!(q("a==1").linked_depth(), 0);
}

#[test]
fn without_linked_entities_a_linked_term_does_not_match() {
    let (station, _) = world();
    assert!(!q("sensor{humidity}==40").matches(&station));
    assert!(q("sensor{humidity}==40|sensor").matches(&station));
}

#[test]
fn malformed_linked_paths_are_refused() {
    assert_eq!(err("sensor{humidity==40").position(), Some(15));
    assert_eq!(err("sensor{}").position(), Some(7));
    assert_eq!(err("sensor{{humidity}}").position(), Some(7));
    assert_eq!(err("sensor{Device humidity}").position(), Some(13));
}

#[test]
fn a_first_pass_assumes_linked_terms_and_lists_the_ids_to_fetch_level_by_level() {
    let (station, all) = world();
    let expr = q(r#"sensor{maker{name}}=="ACME";temperature>10|backups{humidity}>50"#);
    assert!(expr.matches_assuming_links(&station));
    assert!(!q("sensor{humidity}==40;temperature>10").matches_assuming_links(&station));
    let mut known: HashMap<String, Entity> = HashMap::new();
    let mut wanted = std::collections::BTreeSet::new();
    expr.linked_ids(&station, &known, &mut wanted);
    assert_eq!(
        wanted.iter().map(String::as_str).collect::<Vec<_>>(),
        ["urn:device:1", "urn:device:2", "urn:missing"]
    );
    for id in &wanted {
        if let Some(e) = all.get(id) {
            known.insert(id.clone(), e.clone());
        }
    }
    let mut next = std::collections::BTreeSet::new();
    expr.linked_ids(&station, &known, &mut next);
    // urn:missing does not exist: asked for again, which the caller remembers.
    assert_eq!(
        next.iter().map(String::as_str).collect::<Vec<_>>(),
        ["urn:missing", "urn:org:1"]
    );
}
