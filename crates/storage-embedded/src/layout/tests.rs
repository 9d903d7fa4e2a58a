//! Key encoding and record format: order, prefix ranges and unambiguity.

// Tests fail by panicking; expect() names what was expected.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use rigel_model::Tenant;

use super::*;

fn named(name: &str) -> Tenant {
    Tenant::named(name).expect("valid tenant name")
}

#[test]
fn keys_under_a_prefix_sort_in_id_order() {
    let prefix = type_prefix(&tenant_prefix(&named("t")), "https://e.org/T");
    let mut keys: Vec<Vec<u8>> = ["urn:c", "urn:a", "urn:b", "urn:a:1"]
        .iter()
        .map(|id| type_key(&tenant_prefix(&named("t")), "https://e.org/T", id))
        .collect();
    keys.sort();
    let ids: Vec<String> = keys
        .iter()
        .map(|k| id_after_prefix(k, &prefix).expect("key under prefix"))
        .collect();
    assert_eq!(ids, ["urn:a", "urn:a:1", "urn:b", "urn:c"]);
}

#[test]
fn a_type_sharing_a_prefix_with_another_falls_outside_its_range() {
    let tenant = tenant_prefix(&Tenant::default_tenant());
    let prefix = type_prefix(&tenant, "T");
    let end = prefix_end(&prefix);
    let inside = type_key(&tenant, "T", "urn:x");
    for other in ["Ta", "T\u{0}", "T\u{1}", "S", "U"] {
        let outside = type_key(&tenant, other, "urn:x");
        assert!(
            !(prefix.as_slice() <= outside.as_slice() && outside.as_slice() < end.as_slice()),
            "type {other:?} leaked into the range of T"
        );
    }
    assert!(prefix.as_slice() <= inside.as_slice() && inside.as_slice() < end.as_slice());
}

#[test]
fn tenants_sharing_a_prefix_get_disjoint_ranges() {
    let a = tenant_prefix(&named("a"));
    let ab = tenant_prefix(&named("ab"));
    let default = tenant_prefix(&Tenant::default_tenant());
    let key_ab = entity_key(&ab, "urn:x");
    let key_default = entity_key(&default, "urn:x");
    let end_a = prefix_end(&a);
    assert!(!(a.as_slice() <= key_ab.as_slice() && key_ab.as_slice() < end_a.as_slice()));
    assert!(!(a.as_slice() <= key_default.as_slice() && key_default.as_slice() < end_a.as_slice()));
    assert_ne!(a, default);
}

#[test]
fn escaped_components_keep_byte_order() {
    let mut encoded: Vec<(Vec<u8>, &str)> = ["", "\u{0}", "\u{1}", "\u{2}", "a", "a\u{0}", "ab"]
        .iter()
        .map(|s| {
            let mut buf = Vec::new();
            push_component(&mut buf, s);
            (buf, *s)
        })
        .collect();
    encoded.sort();
    let order: Vec<&str> = encoded.iter().map(|(_, s)| *s).collect();
    assert_eq!(order, ["", "\u{0}", "\u{1}", "\u{2}", "a", "a\u{0}", "ab"]);
}

#[test]
fn a_record_round_trips_its_version_and_entity() {
    let entity = rigel_storage::testkit::sample_entity("urn:x:1", &["urn:t:T", "urn:t:U"]);
    let mut record = encode_record(&entity);
    set_record_version(&mut record, 0x0102_0304_0506_0708);
    let (version, body) = split_record(&record).expect("valid record");
    assert_eq!(version, 0x0102_0304_0506_0708);
    assert!(matches!(body, Body::Binary(_)));
    assert_eq!(body.types().expect("types"), ["urn:t:T", "urn:t:U"]);
    assert_eq!(body.decode().expect("entity"), entity);
}

#[test]
fn a_format_1_json_record_is_still_read() {
    let entity = rigel_storage::testkit::sample_entity("urn:x:1", &["urn:t:T"]);
    let mut record = vec![RECORD_FORMAT_JSON, 0, 0, 0, 0, 0, 0, 0, 9];
    serde_json::to_writer(&mut record, &entity).expect("JSON");
    let (version, body) = split_record(&record).expect("valid record");
    assert_eq!(version, 9);
    assert!(matches!(body, Body::Json(_)));
    assert_eq!(body.types().expect("types"), ["urn:t:T"]);
    assert_eq!(body.decode().expect("entity"), entity);
}

#[test]
fn an_unknown_record_format_is_reported_as_corrupt() {
    let mut record = encode_record(&rigel_storage::testkit::sample_entity("urn:x:1", &["T"]));
    record[0] = 9;
    assert!(matches!(
        split_record(&record),
        Err(StorageError::Corrupt(_))
    ));
    assert!(matches!(
        split_record(&[1, 2]),
        Err(StorageError::Corrupt(_))
    ));
    assert!(matches!(split_record(&[]), Err(StorageError::Corrupt(_))));
}
