//! Entity representations of Retrieve Entity (clauses 4.5, 6.3.7, 6.3.11, 6.3.15): normalized,
//! concise, simplified, system attributes, pick/omit, language filter and GeoJSON.

use serde_json::{json, Value};

use crate::harness::*;

fn sorted_keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Clause 6.3.7: `format=normalized` is the normalized representation, which is the default.
#[tokio::test]
async fn format_normalized_equals_the_default_representation() {
    let id = unique_id("repr-normalized");
    let entity = all_kinds_entity(&id);
    create(&entity).await;
    let normalized = retrieve(&id, "?format=normalized").await;
    assert_same_entity(&normalized, &entity);
    assert_same_entity(&retrieve(&id, "").await, &normalized);
}

/// Clauses 4.5.4 and 6.3.7: the simplified (keyValues) representation holds only values:
/// Property values, Relationship objects, GeoJSON geometries, `languageMap`, `vocab` and
/// `json` wrappers, ListProperty arrays and ListRelationship URI arrays.
#[tokio::test]
async fn keyvalues_renders_values_only() {
    let id = unique_id("repr-keyvalues");
    create(&all_kinds_entity(&id)).await;
    let e = retrieve(&id, "?format=keyValues").await;
    assert_eq!(e["id"], json!(id));
    assert_eq!(e["type"], json!("Vehicle"));
    assert_eq!(e["brandName"], json!("Mercedes"));
    assert_eq!(e["speed"], json!(80));
    assert_eq!(
        e["isParked"],
        json!("urn:ngsi-ld:OffStreetParking:Downtown1")
    );
    assert_eq!(
        e["passengers"],
        json!(["urn:ngsi-ld:Person:Alice", "urn:ngsi-ld:Person:Bob"])
    );
    assert_eq!(
        e["location"],
        json!({"type": "Point", "coordinates": [-8.5, 41.2]})
    );
    assert_eq!(
        e["street"],
        json!({"languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}})
    );
    assert_eq!(e["category"], json!({"vocab": "nonCommercial"}));
    assert_eq!(
        e["ticket"],
        json!({"json": {"id": "85a6cc52-0589-45f9", "value": "Overstay 60 minutes"}})
    );
    assert_eq!(e["tyreTreadDepths"], json!([300, 300, 120, 6]));
    assert_eq!(
        e["route"],
        json!(["urn:ngsi-ld:City:Antwerp", "urn:ngsi-ld:City:Rotterdam"])
    );
    assert_eq!(e["temperature"], json!(21.5));
    assert_eq!(sorted_keys(&e).len(), 13, "nothing else: {e}");
}

/// Clause 6.3.7: `format=simplified`, `format=keyValues` and the deprecated
/// `options=keyValues` all select the simplified representation.
#[tokio::test]
async fn simplified_keyvalues_and_options_keyvalues_are_synonyms() {
    let id = create_sample("repr-synonyms").await;
    let simplified = retrieve(&id, "?format=simplified").await;
    assert_eq!(simplified["speed"], json!(80));
    assert_eq!(retrieve(&id, "?format=keyValues").await, simplified);
    assert_eq!(retrieve(&id, "?options=keyValues").await, simplified);
}

/// Clause 4.5.4 (multi-attribute case): a simplified attribute with several instances is
/// `{"dataset": {"@none": default, datasetId: value, ...}}`.
#[tokio::test]
async fn keyvalues_of_a_multi_instance_attribute_is_a_dataset_map() {
    let id = unique_id("repr-keyvalues-dataset");
    create(&json!({
        "id": id,
        "type": "Vehicle",
        "name": [
            {"type": "Property", "value": "David Robert Jones"},
            {"type": "Property", "value": "David Bowie", "datasetId": "urn:ngsi-ld:datasetId:001"}
        ]
    }))
    .await;
    let e = retrieve(&id, "?format=keyValues").await;
    assert_eq!(
        e["name"],
        json!({"dataset": {"@none": "David Robert Jones", "urn:ngsi-ld:datasetId:001": "David Bowie"}})
    );
}

/// Clauses 4.5.2.3, 4.5.3.3, 4.5.18.3, 4.5.20.3, 4.5.21.3, 4.5.22.3 and 4.5.24.3: the concise
/// representation drops every attribute `type`; a Property without sub-attributes is its
/// bare value, a GeoProperty without sub-attributes its bare geometry.
#[tokio::test]
async fn concise_omits_types() {
    let id = unique_id("repr-concise");
    create(&all_kinds_entity(&id)).await;
    let e = retrieve(&id, "?format=concise").await;
    assert_eq!(e["type"], json!("Vehicle"));
    assert_eq!(e["brandName"], json!("Mercedes"));
    assert_eq!(
        e["speed"],
        json!({"value": 80, "unitCode": "KMH", "observedAt": "2024-03-14T01:59:26.535Z"})
    );
    assert_eq!(
        e["isParked"],
        json!({
            "object": "urn:ngsi-ld:OffStreetParking:Downtown1",
            "observedAt": "2017-07-29T12:00:04Z",
            "providedBy": {"object": "urn:ngsi-ld:Person:Bob"}
        })
    );
    assert_eq!(
        e["passengers"],
        json!({"object": ["urn:ngsi-ld:Person:Alice", "urn:ngsi-ld:Person:Bob"]})
    );
    assert_eq!(
        e["location"],
        json!({"type": "Point", "coordinates": [-8.5, 41.2]})
    );
    assert_eq!(
        e["street"],
        json!({"languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}})
    );
    assert_eq!(e["category"], json!({"vocab": "nonCommercial"}));
    assert_eq!(
        e["ticket"],
        json!({"json": {"id": "85a6cc52-0589-45f9", "value": "Overstay 60 minutes"}})
    );
    assert_eq!(
        e["tyreTreadDepths"],
        json!({"valueList": [300, 300, 120, 6], "unitCode": "MMT"})
    );
    assert_eq!(
        e["temperature"],
        json!({"value": 21.5, "accuracy": {"value": 0.5, "unitCode": "CEL"}})
    );
    // Clause 4.5.22.3 allows either form for the items of a concise objectList.
    let route = e["route"]
        .as_object()
        .expect("a concise ListRelationship is an object");
    assert!(route.get("type").is_none(), "no type in concise: {e}");
    let targets: Vec<&str> = route["objectList"]
        .as_array()
        .expect("objectList")
        .iter()
        .map(|item| {
            item.as_str()
                .or_else(|| item["object"].as_str())
                .expect("a URI")
        })
        .collect();
    assert_eq!(
        targets,
        ["urn:ngsi-ld:City:Antwerp", "urn:ngsi-ld:City:Rotterdam"]
    );
}

/// Clauses 6.3.11 and 4.8: `options=sysAttrs` adds `createdAt` and `modifiedAt` (DateTimes,
/// clause 4.6.3) to the entity and its attributes; they are absent otherwise.
#[tokio::test]
async fn sysattrs_adds_created_and_modified_at() {
    let id = create_sample("repr-sysattrs").await;
    let e = retrieve(&id, "?options=sysAttrs").await;
    for (what, node) in [
        ("entity", &e),
        ("speed", &e["speed"]),
        ("owner", &e["owner"]),
    ] {
        let created = instant(
            node.get("createdAt")
                .unwrap_or_else(|| panic!("{what} has createdAt: {e}")),
        );
        let modified = instant(
            node.get("modifiedAt")
                .unwrap_or_else(|| panic!("{what} has modifiedAt: {e}")),
        );
        assert!(
            modified >= created,
            "{what}: modifiedAt {modified} before createdAt {created}"
        );
    }
    let plain = retrieve(&id, "").await;
    assert!(
        plain.get("createdAt").is_none() && plain["speed"].get("createdAt").is_none(),
        "{plain}"
    );
}

/// Clauses 4.21 and 5.7.1.5: `pick` reduces the entity to the listed members (`id`, `type`
/// and attribute names); `omit` removes the listed members.
#[tokio::test]
async fn pick_and_omit_select_members() {
    let id = create_sample("repr-pick-omit").await;
    let picked = retrieve(&id, "?pick=id,speed").await;
    assert_eq!(sorted_keys(&picked), ["id", "speed"]);
    assert_eq!(picked["speed"]["value"], json!(80));

    let omitted = retrieve(&id, "?omit=type,speed").await;
    assert_eq!(
        sorted_keys(&omitted),
        ["brandName", "id", "location", "owner", "street"]
    );
}

/// Clauses 4.15 and 5.7.1.5: with `lang`, a LanguageProperty becomes a Property whose value
/// is the string of that language, with a non-reified `lang` naming the language.
#[tokio::test]
async fn lang_selects_one_language_of_a_language_property() {
    let id = create_sample("repr-lang").await;
    let e = retrieve(&id, "?lang=nl").await;
    assert_eq!(
        e["street"],
        json!({"type": "Property", "value": "Grote Markt", "lang": "nl"})
    );
}

/// Clauses 4.15 and 5.7.1.5: when no language matches, one language is still chosen and
/// named in `lang`.
#[tokio::test]
async fn lang_without_a_match_still_returns_one_language() {
    let id = create_sample("repr-lang-fallback").await;
    let street = retrieve(&id, "?lang=de").await["street"].clone();
    assert_eq!(street["type"], json!("Property"), "{street}");
    let chosen = (street["lang"].as_str(), street["value"].as_str());
    assert!(
        matches!(
            chosen,
            (Some("fr"), Some("Grand Place")) | (Some("nl"), Some("Grote Markt"))
        ),
        "one of the languages is chosen: {street}"
    );
}

/// Clauses 4.5.16.2, 6.3.6 and 6.3.15: with `Accept: application/geo+json` the entity is a
/// GeoJSON Feature: `id`, `type` "Feature", `geometry` from `location`, `properties` holding
/// the entity type and its attributes; without a Prefer header the @context is in the body.
#[tokio::test]
async fn geojson_accept_renders_a_feature() {
    let id = create_sample("repr-geojson").await;
    let reply = send(get(&format!("/entities/{id}")).accept("application/geo+json"))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/geo+json");
    let f = reply.json();
    assert_eq!(f["type"], json!("Feature"));
    assert_eq!(f["id"], json!(id));
    assert_eq!(
        f["geometry"],
        json!({"type": "Point", "coordinates": [-8.5, 41.2]})
    );
    assert_eq!(f["properties"]["type"], json!("Vehicle"));
    assert_eq!(
        f["properties"]["brandName"],
        json!({"type": "Property", "value": "Mercedes"})
    );
    assert_eq!(f["properties"]["location"]["type"], json!("GeoProperty"));
    assert!(
        f.get("@context").is_some(),
        "the Feature carries @context when Prefer is absent: {f}"
    );
}

/// Clause 6.3.6: GeoJSON with `Prefer: body=json` moves the @context into a `Link` header.
#[tokio::test]
async fn geojson_with_prefer_body_json_links_the_context() {
    let id = create_sample("repr-geojson-prefer").await;
    let reply = send(
        get(&format!("/entities/{id}"))
            .accept("application/geo+json")
            .header("Prefer", "body=json"),
    )
    .await
    .expect_status(200);
    assert!(reply.json().get("@context").is_none(), "{}", reply.body);
    let link = reply.header("link").expect("a Link header");
    assert!(link.contains(JSONLD_CONTEXT_REL), "{link}");
}

/// Clauses 4.5.16.1 and 6.3.15: `geometryProperty` selects the GeoProperty used as geometry.
#[tokio::test]
async fn geojson_geometry_property_selects_the_geometry() {
    let id = unique_id("repr-geojson-geometry");
    let mut entity = sample_entity(&id);
    entity["destination"] =
        json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}});
    create(&entity).await;
    let reply = send(
        get(&format!("/entities/{id}?geometryProperty=destination")).accept("application/geo+json"),
    )
    .await;
    let f = reply.expect_status(200).json();
    assert_eq!(
        f["geometry"],
        json!({"type": "Point", "coordinates": [2.35, 48.85]})
    );
}

/// Clause 4.5.16.1: an entity without the selected GeoProperty has a `null` geometry.
#[tokio::test]
async fn geojson_of_an_entity_without_location_has_null_geometry() {
    let id = unique_id("repr-geojson-null");
    create(&json!({"id": id, "type": "Vehicle", "speed": {"type": "Property", "value": 1}})).await;
    let f = send(get(&format!("/entities/{id}")).accept("application/geo+json"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(f["type"], json!("Feature"));
    assert!(
        f.get("geometry").is_some_and(Value::is_null),
        "geometry is present and null: {f}"
    );
}

/// Clauses 4.5.17.1 and 6.3.7: GeoJSON plus keyValues is the simplified Feature whose
/// properties are plain values.
#[tokio::test]
async fn geojson_keyvalues_renders_a_simplified_feature() {
    let id = create_sample("repr-geojson-kv").await;
    let f = send(get(&format!("/entities/{id}?format=keyValues")).accept("application/geo+json"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(f["type"], json!("Feature"));
    assert_eq!(
        f["geometry"],
        json!({"type": "Point", "coordinates": [-8.5, 41.2]})
    );
    assert_eq!(f["properties"]["type"], json!("Vehicle"));
    assert_eq!(f["properties"]["speed"], json!(80));
    assert_eq!(f["properties"]["owner"], json!("urn:ngsi-ld:Person:Alice"));
}
