//! Query Entities (clauses 4.9, 4.10, 4.12, 4.17, 4.19, 4.23, 5.7.2, 6.3.10, 6.3.13,
//! 6.4.3.2, 6.23): selectors, every q operator, georels, scopes, paging and counting.
//! Each test seeds its own tenant, so results are exact.

use serde_json::{json, Value};

use crate::harness::*;

/// Three rooms and a sensor in a fresh tenant; returns the tenant.
async fn seed() -> String {
    let tenant = unique_tenant();
    let entities = [
        json!({"id": "urn:ngsi-ld:Room:1", "type": "Room",
            "temperature": {"type": "Property", "value": 21.5, "observedAt": "2024-01-01T10:00:00Z",
                "accuracy": {"type": "Property", "value": 0.5}},
            "name": {"type": "Property", "value": "kitchen"},
            "open": {"type": "Property", "value": true},
            "config": {"type": "Property", "value": {"mode": "eco", "levels": {"max": 3}}},
            "inBuilding": {"type": "Relationship", "object": "urn:ngsi-ld:Building:A"},
            "installedAt": {"type": "Property", "value": {"@type": "DateTime", "@value": "2020-05-01T00:00:00Z"}},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}},
            "scope": "/France/Paris"}),
        json!({"id": "urn:ngsi-ld:Room:2", "type": "Room",
            "temperature": {"type": "Property", "value": 25},
            "name": {"type": "Property", "value": "living room"},
            "open": {"type": "Property", "value": false},
            "config": {"type": "Property", "value": {"mode": "comfort", "levels": {"max": 5}}},
            "inBuilding": {"type": "Relationship", "object": "urn:ngsi-ld:Building:B"},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.36, 48.86]}},
            "scope": ["/France/Paris", "/Public"]}),
        json!({"id": "urn:ngsi-ld:Room:3", "type": "Room",
            "temperature": {"type": "Property", "value": 18},
            "name": {"type": "Property", "value": "cellar"},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [4.83, 45.76]}},
            "scope": "/France/Lyon"}),
        json!({"id": "urn:ngsi-ld:Sensor:1", "type": ["Sensor", "Device"],
            "temperature": {"type": "Property", "value": 30},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}}}),
    ];
    for entity in entities {
        send(post("/entities").tenant(&tenant).json(&entity))
            .await
            .expect_status(201);
    }
    tenant
}

/// Runs GET /entities with the given parameters in a tenant; returns the reply.
async fn query(tenant: &str, params: &[(&str, &str)]) -> Reply {
    send(get("/entities").tenant(tenant).query(params)).await
}

/// The ids of a successful query, in response order.
async fn ids(tenant: &str, params: &[(&str, &str)]) -> Vec<String> {
    let reply = query(tenant, params).await.expect_status(200);
    ids_of(&reply.json())
}

fn ids_of(body: &Value) -> Vec<String> {
    body.as_array()
        .expect("a JSON array of entities")
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Clause 5.7.2.4: entities of the type, in id order; an unknown type matches nothing.
#[tokio::test]
async fn querying_by_type_returns_exactly_the_entities_of_that_type() {
    let t = seed().await;
    assert_eq!(
        ids(&t, &[("type", "Room")]).await,
        [
            "urn:ngsi-ld:Room:1",
            "urn:ngsi-ld:Room:2",
            "urn:ngsi-ld:Room:3"
        ]
    );
    assert!(ids(&t, &[("type", "Unknown")]).await.is_empty());
}

/// Clause 4.17: `,` and `|` are or, `;` is and, parentheses group.
#[tokio::test]
async fn type_selection_language_combines_types() {
    let t = seed().await;
    assert_eq!(ids(&t, &[("type", "Room,Sensor")]).await.len(), 4);
    assert_eq!(
        ids(&t, &[("type", "Sensor;Device")]).await,
        ["urn:ngsi-ld:Sensor:1"]
    );
    assert!(ids(&t, &[("type", "Room;Device")]).await.is_empty());
    assert_eq!(
        ids(&t, &[("type", "(Sensor;Device)|Unknown")]).await,
        ["urn:ngsi-ld:Sensor:1"]
    );
}

/// Clause 5.7.2.4: a query with no type, attrs, q or geoquery is BadRequestData.
#[tokio::test]
async fn a_query_without_any_restriction_is_400() {
    let t = seed().await;
    assert_problem(&query(&t, &[]).await, 400, "BadRequestData");
    assert_problem(
        &query(&t, &[("id", "urn:ngsi-ld:Room:1")]).await,
        400,
        "BadRequestData",
    );
    // local=true lifts the restriction.
    assert_eq!(ids(&t, &[("local", "true")]).await.len(), 4);
}

/// Clause 5.7.2.4: ids and idPattern narrow the result; an id that is not a URI is 400.
#[tokio::test]
async fn ids_and_id_patterns_select_entities() {
    let t = seed().await;
    assert_eq!(
        ids(
            &t,
            &[
                ("type", "Room,Sensor"),
                ("id", "urn:ngsi-ld:Room:2,urn:ngsi-ld:Sensor:1")
            ]
        )
        .await,
        ["urn:ngsi-ld:Room:2", "urn:ngsi-ld:Sensor:1"]
    );
    assert_eq!(
        ids(
            &t,
            &[("type", "Room"), ("idPattern", "^urn:ngsi-ld:Room:[12]$")]
        )
        .await,
        ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"]
    );
    assert_problem(
        &query(&t, &[("type", "Room"), ("id", "not a uri")]).await,
        400,
        "BadRequestData",
    );
    assert_problem(
        &query(&t, &[("type", "Room"), ("idPattern", "([")]).await,
        400,
        "BadRequestData",
    );
}

/// Clause 5.7.2.4: with attrs, only entities having one of them match, reduced to them.
#[tokio::test]
async fn attrs_select_entities_having_them_and_project_the_result() {
    let t = seed().await;
    let reply = query(&t, &[("attrs", "open")]).await.expect_status(200);
    let body = reply.json();
    assert_eq!(ids_of(&body), ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"]);
    assert!(body[0].get("temperature").is_none());
    assert_eq!(body[0]["open"]["value"], json!(true));
}

/// Clause 4.9: comparisons on numbers, strings and booleans.
#[tokio::test]
async fn q_compares_numbers_strings_and_booleans() {
    let t = seed().await;
    let q = |expr: &'static str| [("type", "Room,Sensor"), ("q", expr)];
    assert_eq!(
        ids(&t, &q("temperature>21")).await,
        [
            "urn:ngsi-ld:Room:1",
            "urn:ngsi-ld:Room:2",
            "urn:ngsi-ld:Sensor:1"
        ]
    );
    assert_eq!(
        ids(&t, &q("temperature>=25")).await,
        ["urn:ngsi-ld:Room:2", "urn:ngsi-ld:Sensor:1"]
    );
    assert_eq!(ids(&t, &q("temperature<20")).await, ["urn:ngsi-ld:Room:3"]);
    assert_eq!(ids(&t, &q("temperature<=18")).await, ["urn:ngsi-ld:Room:3"]);
    assert_eq!(ids(&t, &q("temperature==25")).await, ["urn:ngsi-ld:Room:2"]);
    assert_eq!(
        ids(&t, &q("name!=\"kitchen\"")).await,
        ["urn:ngsi-ld:Room:2", "urn:ngsi-ld:Room:3"]
    );
    assert_eq!(
        ids(&t, &q("name==\"cellar\"")).await,
        ["urn:ngsi-ld:Room:3"]
    );
    assert_eq!(ids(&t, &q("open==true")).await, ["urn:ngsi-ld:Room:1"]);
}

/// Clause 4.9: ranges, value lists, patterns and existence.
#[tokio::test]
async fn q_supports_ranges_lists_patterns_and_existence() {
    let t = seed().await;
    let q = |expr: &'static str| [("type", "Room,Sensor"), ("q", expr)];
    assert_eq!(
        ids(&t, &q("temperature==18..22")).await,
        ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:3"]
    );
    assert_eq!(
        ids(&t, &q("temperature==18,30")).await,
        ["urn:ngsi-ld:Room:3", "urn:ngsi-ld:Sensor:1"]
    );
    assert_eq!(ids(&t, &q("name~=\"^c.*\"")).await, ["urn:ngsi-ld:Room:3"]);
    assert_eq!(
        ids(&t, &q("name!~=\"room\"")).await,
        ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:3"]
    );
    assert_eq!(
        ids(&t, &q("open")).await,
        ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"]
    );
}

/// Clause 4.9: `;` is and, `|` is or, parentheses group.
#[tokio::test]
async fn q_combines_terms_with_and_or_and_parentheses() {
    let t = seed().await;
    let q = |expr: &'static str| [("type", "Room"), ("q", expr)];
    assert_eq!(
        ids(&t, &q("temperature>20;open==false")).await,
        ["urn:ngsi-ld:Room:2"]
    );
    assert_eq!(
        ids(&t, &q("temperature<20|open==true")).await,
        ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:3"]
    );
    assert_eq!(
        ids(&t, &q("(temperature<20|open==true);name==\"cellar\"")).await,
        ["urn:ngsi-ld:Room:3"]
    );
}

/// Clause 4.9: dotted paths reach sub-attributes, brackets reach into JSON values,
/// relationships compare their object.
#[tokio::test]
async fn q_follows_sub_attribute_and_json_paths_and_relationships() {
    let t = seed().await;
    let q = |expr: &'static str| [("type", "Room"), ("q", expr)];
    assert_eq!(
        ids(&t, &q("temperature.accuracy<1")).await,
        ["urn:ngsi-ld:Room:1"]
    );
    assert_eq!(
        ids(&t, &q("config[mode]==\"comfort\"")).await,
        ["urn:ngsi-ld:Room:2"]
    );
    assert_eq!(
        ids(&t, &q("config[levels.max]>4")).await,
        ["urn:ngsi-ld:Room:2"]
    );
    assert_eq!(
        ids(&t, &q("inBuilding==urn:ngsi-ld:Building:A")).await,
        ["urn:ngsi-ld:Room:1"]
    );
    assert_eq!(
        ids(&t, &q("temperature.observedAt>=2023-12-31T00:00:00Z")).await,
        ["urn:ngsi-ld:Room:1"]
    );
}

/// Clause 4.9: a malformed q is BadRequestData naming where it went wrong.
#[tokio::test]
async fn a_malformed_q_is_400_naming_the_position() {
    let t = seed().await;
    let reply = query(&t, &[("type", "Room"), ("q", "temperature>>3")]).await;
    let problem = assert_problem(&reply, 400, "BadRequestData");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("position"),
        "{problem}"
    );
    assert_problem(
        &query(&t, &[("type", "Room"), ("q", "(temperature>3")]).await,
        400,
        "BadRequestData",
    );
}

/// Clause 4.10: near with maxDistance and minDistance, in metres.
#[tokio::test]
async fn geo_near_selects_by_distance() {
    let t = seed().await;
    let near = |rel: &'static str| {
        [
            ("type", "Room"),
            ("georel", rel),
            ("geometry", "Point"),
            ("coordinates", "[2.35,48.85]"),
        ]
    };
    assert_eq!(
        ids(&t, &near("near;maxDistance==2000")).await,
        ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"]
    );
    assert_eq!(
        ids(&t, &near("near;maxDistance==10")).await,
        ["urn:ngsi-ld:Room:1"]
    );
    assert_eq!(
        ids(&t, &near("near;minDistance==2000")).await,
        ["urn:ngsi-ld:Room:3"]
    );
}

/// Clause 4.10: within, intersects, disjoint, equals and contains against a polygon or point.
#[tokio::test]
async fn geo_relations_compare_geometries() {
    let t = seed().await;
    let paris = "[[[2.3,48.8],[2.4,48.8],[2.4,48.9],[2.3,48.9],[2.3,48.8]]]";
    let geo = |rel: &'static str, geometry: &'static str, coords: &'static str| {
        [
            ("type", "Room"),
            ("georel", rel),
            ("geometry", geometry),
            ("coordinates", coords),
        ]
    };
    let both = ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"];
    assert_eq!(ids(&t, &geo("within", "Polygon", paris)).await, both);
    assert_eq!(ids(&t, &geo("intersects", "Polygon", paris)).await, both);
    assert_eq!(
        ids(&t, &geo("disjoint", "Polygon", paris)).await,
        ["urn:ngsi-ld:Room:3"]
    );
    assert_eq!(
        ids(&t, &geo("equals", "Point", "[4.83,45.76]")).await,
        ["urn:ngsi-ld:Room:3"]
    );
    assert!(ids(&t, &geo("contains", "Polygon", paris)).await.is_empty());
}

/// Clause 4.10: an incomplete or invalid geoquery is BadRequestData.
#[tokio::test]
async fn an_invalid_geoquery_is_400() {
    let t = seed().await;
    for params in [
        vec![
            ("type", "Room"),
            ("georel", "near;maxDistance==10"),
            ("geometry", "Point"),
        ],
        vec![
            ("type", "Room"),
            ("georel", "nearby"),
            ("geometry", "Point"),
            ("coordinates", "[1,2]"),
        ],
        vec![
            ("type", "Room"),
            ("georel", "within"),
            ("geometry", "Polygon"),
            ("coordinates", "[1,2]"),
        ],
        vec![
            ("type", "Room"),
            ("georel", "within"),
            ("geometry", "Circle"),
            ("coordinates", "[1,2]"),
        ],
    ] {
        assert_problem(&query(&t, &params).await, 400, "BadRequestData");
    }
}

/// Clause 4.19: scope queries with exact scopes, `+` and `#`.
#[tokio::test]
async fn scope_queries_match_entity_scopes() {
    let t = seed().await;
    let scoped = |s: &'static str| [("type", "Room"), ("scopeQ", s)];
    assert_eq!(
        ids(&t, &scoped("/France/Lyon")).await,
        ["urn:ngsi-ld:Room:3"]
    );
    assert_eq!(ids(&t, &scoped("/France/#")).await.len(), 3);
    assert_eq!(
        ids(&t, &scoped("/Public,/France/Lyon")).await,
        ["urn:ngsi-ld:Room:2", "urn:ngsi-ld:Room:3"]
    );
    assert_eq!(
        ids(&t, &scoped("/+/Paris")).await,
        ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"]
    );
}

/// Clauses 6.3.10 and 6.3.13: limit and offset page through the matches; count gives the
/// total in NGSILD-Results-Count; Link headers point at the next and previous pages.
#[tokio::test]
async fn paging_and_counting_walk_the_result_set() {
    let t = seed().await;
    let reply = query(&t, &[("type", "Room"), ("limit", "2"), ("count", "true")])
        .await
        .expect_status(200);
    assert_eq!(reply.header("NGSILD-Results-Count"), Some("3"));
    assert_eq!(
        ids_of(&reply.json()),
        ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"]
    );
    let links = reply.header("Link").unwrap_or_default().to_owned();
    let all_links: Vec<String> = reply.headers_all("Link");
    assert!(
        all_links
            .iter()
            .any(|l| l.contains("rel=\"next\"") && l.contains("offset=2")),
        "{links} {all_links:?}"
    );
    let reply = query(&t, &[("type", "Room"), ("limit", "2"), ("offset", "2")])
        .await
        .expect_status(200);
    assert_eq!(ids_of(&reply.json()), ["urn:ngsi-ld:Room:3"]);
    let all_links = reply.headers_all("Link");
    assert!(
        all_links.iter().any(|l| l.contains("rel=\"prev\"")),
        "{all_links:?}"
    );
    assert!(
        !all_links.iter().any(|l| l.contains("rel=\"next\"")),
        "{all_links:?}"
    );
}

/// Clause 6.3.13: limit=0 with count returns only the count; without count it is 400;
/// a limit above the maximum is TooManyResults.
#[tokio::test]
async fn limit_edges_are_enforced() {
    let t = seed().await;
    let reply = query(&t, &[("type", "Room"), ("limit", "0"), ("count", "true")])
        .await
        .expect_status(200);
    assert_eq!(reply.json(), json!([]));
    assert_eq!(reply.header("NGSILD-Results-Count"), Some("3"));
    assert_problem(
        &query(&t, &[("type", "Room"), ("limit", "0")]).await,
        400,
        "BadRequestData",
    );
    assert_problem(
        &query(&t, &[("type", "Room"), ("limit", "-1")]).await,
        400,
        "BadRequestData",
    );
    assert_problem(
        &query(&t, &[("type", "Room"), ("limit", "100000")]).await,
        403,
        "TooManyResults",
    );
}

/// Clause 4.23: orderBy sorts by attribute value, ascending or descending. Rigel holds no
/// context source registrations, so every query is executed on local information only.
#[tokio::test]
async fn order_by_sorts_the_matches() {
    let t = seed().await;
    assert_eq!(
        ids(
            &t,
            &[
                ("type", "Room"),
                ("local", "true"),
                ("orderBy", "temperature")
            ]
        )
        .await,
        [
            "urn:ngsi-ld:Room:3",
            "urn:ngsi-ld:Room:1",
            "urn:ngsi-ld:Room:2"
        ]
    );
    assert_eq!(
        ids(
            &t,
            &[
                ("type", "Room"),
                ("local", "true"),
                ("orderBy", "temperature;desc")
            ]
        )
        .await,
        [
            "urn:ngsi-ld:Room:2",
            "urn:ngsi-ld:Room:1",
            "urn:ngsi-ld:Room:3"
        ]
    );
    assert_eq!(
        ids(
            &t,
            &[
                ("type", "Room,Sensor"),
                ("orderBy", "temperature;desc"),
                ("limit", "2")
            ]
        )
        .await,
        ["urn:ngsi-ld:Sensor:1", "urn:ngsi-ld:Room:2"]
    );
    assert_problem(
        &query(&t, &[("type", "Room"), ("orderBy", "temperature;sideways")]).await,
        400,
        "BadRequestData",
    );
}

/// Clause 5.7.2.4: attrs naming only entity members (id, type) restricts nothing, so the
/// query is too wide.
#[tokio::test]
async fn attrs_of_only_system_members_is_a_too_wide_query() {
    let t = seed().await;
    assert_problem(
        &query(&t, &[("attrs", "id,type")]).await,
        400,
        "BadRequestData",
    );
}

/// Clause 5.7.2.4: an entity matches a projection only when it has one of the picked
/// attributes.
#[tokio::test]
async fn pick_keeps_only_entities_having_a_picked_attribute() {
    let t = seed().await;
    let body = query(&t, &[("type", "Room,Sensor"), ("pick", "open,name")])
        .await
        .expect_status(200)
        .json();
    // The sensor has neither attribute; the rooms are reduced to the picked ones.
    assert_eq!(body.as_array().map(Vec::len), Some(3));
    assert_eq!(body[2]["name"]["value"], "cellar");
    assert!(body[0].get("id").is_none() && body[0].get("temperature").is_none());
    // With an entity member picked, every entity shows something and matches.
    let body = query(&t, &[("type", "Room,Sensor"), ("pick", "id,open")])
        .await
        .expect_status(200)
        .json();
    assert_eq!(ids_of(&body).len(), 4);
}

/// Clause 6.3.15: with Accept application/geo+json the result is a FeatureCollection.
#[tokio::test]
async fn geojson_queries_return_a_feature_collection() {
    let t = seed().await;
    let reply = send(
        get("/entities")
            .tenant(&t)
            .accept("application/geo+json")
            .query(&[("type", "Sensor")]),
    )
    .await
    .expect_status(200);
    let body = reply.json();
    assert_eq!(body["type"], "FeatureCollection");
    assert_eq!(body["features"][0]["id"], "urn:ngsi-ld:Sensor:1");
    assert_eq!(body["features"][0]["geometry"]["type"], "Point");
}

/// Clause 6.23.3.1: POST /entityOperations/query takes a Query body with entity selectors.
#[tokio::test]
async fn posting_a_query_selects_like_get() {
    let t = seed().await;
    let body = json!({
        "type": "Query",
        "entities": [{"type": "Sensor"}, {"id": "urn:ngsi-ld:Room:3", "type": "Room"}],
        "q": "temperature>10",
    });
    let reply = send(post("/entityOperations/query").tenant(&t).json(&body))
        .await
        .expect_status(200);
    assert_eq!(
        ids_of(&reply.json()),
        ["urn:ngsi-ld:Room:3", "urn:ngsi-ld:Sensor:1"]
    );
    let geo = json!({
        "type": "Query",
        "entities": [{"type": "Room"}],
        "geoQ": {"georel": "near;maxDistance==10", "geometry": "Point", "coordinates": [2.35, 48.85]},
    });
    let reply = send(post("/entityOperations/query").tenant(&t).json(&geo))
        .await
        .expect_status(200);
    assert_eq!(ids_of(&reply.json()), ["urn:ngsi-ld:Room:1"]);
    let wrong = json!({"type": "Subscription", "entities": [{"type": "Room"}]});
    assert_problem(
        &send(post("/entityOperations/query").tenant(&t).json(&wrong)).await,
        400,
        "BadRequestData",
    );
}

/// Clause 5.6.21: purging deletes every match and nothing else.
#[tokio::test]
async fn purging_deletes_the_matching_entities() {
    let t = seed().await;
    send(
        delete("/entities")
            .tenant(&t)
            .query(&[("type", "Room"), ("q", "temperature>20")]),
    )
    .await
    .expect_status(204);
    assert_eq!(
        ids(&t, &[("type", "Room,Sensor")]).await,
        ["urn:ngsi-ld:Room:3", "urn:ngsi-ld:Sensor:1"]
    );
    assert_problem(
        &send(delete("/entities").tenant(&t)).await,
        400,
        "BadRequestData",
    );
    assert_problem(
        &send(
            delete("/entities")
                .tenant(&t)
                .query(&[("id", "urn:ngsi-ld:Room:3")]),
        )
        .await,
        400,
        "BadRequestData",
    );
}

/// Clause 5.6.21.4: with keep, every other attribute is deleted; an id with a keep list is
/// restriction enough.
#[tokio::test]
async fn purging_with_keep_deletes_every_other_attribute() {
    let t = seed().await;
    send(
        delete("/entities")
            .tenant(&t)
            .query(&[("id", "urn:ngsi-ld:Room:1"), ("keep", "name")]),
    )
    .await
    .expect_status(204);
    let room = send(get("/entities/urn:ngsi-ld:Room:1").tenant(&t))
        .await
        .expect_status(200)
        .json();
    let mut members: Vec<&String> = room.as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["id", "name", "scope", "type"]);
}

/// Clause 5.6.21.4: with drop, only the listed attributes are deleted from the matches.
#[tokio::test]
async fn purging_with_drop_deletes_only_those_attributes() {
    let t = seed().await;
    send(
        delete("/entities")
            .tenant(&t)
            .query(&[("type", "Room"), ("drop", "name,open")]),
    )
    .await
    .expect_status(204);
    let body = query(&t, &[("type", "Room")])
        .await
        .expect_status(200)
        .json();
    assert_eq!(ids_of(&body).len(), 3);
    assert!(body
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e.get("name").is_none() && e.get("open").is_none()));
    assert!(body[0].get("temperature").is_some());
}

/// Clauses 5.7.5-5.7.7: the types in use, their details, and one type's information.
#[tokio::test]
async fn discovery_lists_entity_types_and_their_attributes() {
    let t = seed().await;
    let list = send(get("/types").tenant(&t))
        .await
        .expect_status(200)
        .json();
    assert_eq!(list["type"], "EntityTypeList");
    assert_eq!(list["typeList"], json!(["Device", "Room", "Sensor"]));
    let details = send(get("/types?details=true").tenant(&t))
        .await
        .expect_status(200)
        .json();
    let sensor = details
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["typeName"] == "Sensor")
        .expect("Sensor described");
    assert_eq!(sensor["type"], "EntityType");
    assert_eq!(sensor["attributeNames"], json!(["location", "temperature"]));
    let room = send(get("/types/Room").tenant(&t))
        .await
        .expect_status(200)
        .json();
    assert_eq!(room["type"], "EntityTypeInfo");
    assert_eq!(room["entityCount"], 3);
    assert!(room["attributeDetails"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["attributeName"] == "inBuilding"
            && a["attributeTypes"] == json!(["Relationship"])));
    assert_problem(
        &send(get("/types/Nothing").tenant(&t)).await,
        404,
        "ResourceNotFound",
    );
}

/// Clauses 5.7.8-5.7.10: the attributes in use, their details, and one attribute's information.
#[tokio::test]
async fn discovery_lists_attributes_and_where_they_are_used() {
    let t = seed().await;
    let list = send(get("/attributes").tenant(&t))
        .await
        .expect_status(200)
        .json();
    assert_eq!(list["type"], "AttributeList");
    let names = list["attributeList"].as_array().unwrap();
    assert!(names.contains(&json!("temperature")) && names.contains(&json!("inBuilding")));
    let temperature = send(get("/attributes/temperature").tenant(&t))
        .await
        .expect_status(200)
        .json();
    assert_eq!(temperature["type"], "Attribute");
    assert_eq!(temperature["attributeCount"], 4);
    assert_eq!(
        temperature["typeNames"],
        json!(["Device", "Room", "Sensor"])
    );
    assert_eq!(temperature["attributeTypes"], json!(["Property"]));
    assert_problem(
        &send(get("/attributes/nothing").tenant(&t)).await,
        404,
        "ResourceNotFound",
    );
}

/// Clause 6.3.14: querying an unknown tenant is NonexistentTenant.
#[tokio::test]
async fn querying_an_unknown_tenant_is_404() {
    let reply = query(&unique_tenant(), &[("type", "Room")]).await;
    assert_problem(&reply, 404, "NonexistentTenant");
}

/// Weather stations whose sensors (and their makers) are other entities (clause 4.9
/// examples 13 and 14); returns the tenant.
async fn seed_linked() -> String {
    let tenant = unique_tenant();
    let rel = |id: &str| json!({"type": "Relationship", "object": id});
    let num = |v: i64| json!({"type": "Property", "value": v});
    let entities = [
        json!({"id": "urn:ngsi-ld:WeatherStation:1", "type": "WeatherStation",
            "sensor": rel("urn:ngsi-ld:Device:1"), "altitude": num(100)}),
        json!({"id": "urn:ngsi-ld:WeatherStation:2", "type": "WeatherStation",
            "sensor": rel("urn:ngsi-ld:Device:2"), "altitude": num(900)}),
        json!({"id": "urn:ngsi-ld:WeatherStation:3", "type": "WeatherStation",
            "sensor": rel("urn:ngsi-ld:Device:missing"), "altitude": num(50)}),
        json!({"id": "urn:ngsi-ld:WeatherStation:4", "type": "WeatherStation",
            "backups": {"type": "ListRelationship",
                "objectList": [{"object": "urn:ngsi-ld:Device:2"}, {"object": "urn:ngsi-ld:Sensor:9"}]}}),
        json!({"id": "urn:ngsi-ld:Device:1", "type": "Device",
            "humidity": num(40), "maker": rel("urn:ngsi-ld:Organization:acme")}),
        json!({"id": "urn:ngsi-ld:Device:2", "type": "Device", "humidity": num(41)}),
        json!({"id": "urn:ngsi-ld:Sensor:9", "type": "Sensor", "humidity": num(40)}),
        json!({"id": "urn:ngsi-ld:Organization:acme", "type": "Organization",
            "name": {"type": "Property", "value": "ACME"}}),
    ];
    for entity in entities {
        send(post("/entities").tenant(&tenant).json(&entity))
            .await
            .expect_status(201);
    }
    tenant
}

#[tokio::test]
async fn linked_entity_terms_follow_relationships_to_the_related_entities() {
    let tenant = seed_linked().await;
    let station = |n: &str| format!("urn:ngsi-ld:WeatherStation:{n}");
    for (q, expected) in [
        ("sensor{humidity}==40", vec![station("1")]),
        ("sensor{humidity}>40", vec![station("2")]),
        ("sensor{Device:humidity}==40", vec![station("1")]),
        ("sensor{Sensor:humidity}==40", vec![]),
        ("sensor{humidity}", vec![station("1"), station("2")]),
        (r#"sensor{maker{name}}=="ACME""#, vec![station("1")]),
        (
            r#"sensor{maker{Organization:name}}=="ACME";altitude<50"#,
            vec![],
        ),
        (
            "altitude<60|sensor{humidity}==41",
            vec![station("2"), station("3")],
        ),
        ("backups{Sensor:humidity}==40", vec![station("4")]),
        ("backups{humidity}==41", vec![station("4")]),
    ] {
        let params = [
            ("type", "WeatherStation"),
            ("q", q),
            ("join", "inline"),
            ("joinLevel", "2"),
        ];
        let found = ids(&tenant, &params).await;
        assert_eq!(found, expected, "{q}");
    }
    // Linked Entity retrieval must be asked for, as deep as the terms go (5.7.2.4).
    for params in [
        vec![("type", "WeatherStation"), ("q", "sensor{humidity}==40")],
        vec![
            ("type", "WeatherStation"),
            ("q", "sensor{humidity}==40"),
            ("join", "@none"),
        ],
        vec![
            ("type", "WeatherStation"),
            ("q", "sensor{maker{name}}"),
            ("join", "flat"),
        ],
    ] {
        assert_problem(&query(&tenant, &params).await, 400, "BadRequestData");
    }
    let reply = query(
        &tenant,
        &[
            ("type", "WeatherStation"),
            ("q", "sensor{humidity}"),
            ("join", "inline"),
            ("count", "true"),
            ("limit", "1"),
            ("offset", "1"),
        ],
    )
    .await
    .expect_status(200);
    assert_eq!(reply.header("NGSILD-Results-Count"), Some("2"));
    assert_eq!(ids_of(&reply.json()), [station("2")]);
}

#[tokio::test]
async fn operations_that_do_not_follow_linked_terms_say_so() {
    let tenant = seed_linked().await;
    let purge = send(
        delete("/entities")
            .tenant(&tenant)
            .query(&[("type", "WeatherStation"), ("q", "sensor{humidity}==40")]),
    )
    .await;
    assert_problem(&purge, 422, "OperationNotSupported");
    let temporal = send(get("/temporal/entities").tenant(&tenant).query(&[
        ("type", "WeatherStation"),
        ("q", "sensor{humidity}==40"),
        ("timerel", "after"),
        ("timeAt", "2000-01-01T00:00:00Z"),
    ]))
    .await;
    assert_problem(&temporal, 422, "OperationNotSupported");
    let subscription = json!({"type": "Subscription", "entities": [{"type": "WeatherStation"}],
        "q": "sensor{humidity}==40",
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}});
    let reply = send(post("/subscriptions").tenant(&tenant).json(&subscription)).await;
    assert_problem(&reply, 422, "OperationNotSupported");
    // Nothing was purged.
    assert_eq!(ids(&tenant, &[("type", "WeatherStation")]).await.len(), 4);
}
