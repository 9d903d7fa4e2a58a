//! What each fuzz target of `fuzz/` (cargo fuzz, libFuzzer) runs on its input: the query
//! languages (q, geoQ, scopeQ, type selections, orderBy), entity parsing, @context
//! processing, and the embedded store's record codec and log replay. A target must never
//! panic, hang or exhaust memory, whatever the input; where an input parses, the result is
//! also used (evaluated, rendered, re-encoded), so later stages see fuzzed values too. The
//! corpus the fuzzer built is replayed by this crate's test on every CI run.

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use rigel_model::codec::parse::parse_entity;
use rigel_model::codec::render::{render_entity, RenderOptions};
use rigel_model::{Entity, IdentityTerms};
use rigel_query::q::QOptions;
use rigel_query::{GeoQuery, OrderBy, QExpr, ScopeExpr, TypeExpr};
use serde_json::{json, Value};

/// What a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (the names of `fuzz/fuzz_targets/*.rs` and of the corpus
/// directories).
pub const TARGETS: &[(&str, Target)] = &[
    ("q", q),
    ("geoq", geoq),
    ("scopeq", scopeq),
    ("types", types),
    ("order_by", order_by),
    ("entity", entity),
    ("context", context),
    ("record", record),
    ("log", log),
];

/// Text of at most 64 KiB (the API refuses longer URIs and bodies anyway).
fn text(data: &[u8]) -> Option<&str> {
    (data.len() <= 64 * 1024)
        .then(|| std::str::from_utf8(data).ok())
        .flatten()
}

/// An entity with values of every common kind, for fuzzed expressions to run against.
fn sample() -> &'static Entity {
    static SAMPLE: OnceLock<Entity> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let body = json!({
            "id": "urn:ngsi-ld:Room:1", "type": "Room", "scope": ["/city/north", "/b"],
            "temperature": {"type": "Property", "value": 21.5, "unitCode": "CEL",
                "observedAt": "2026-12-01T10:00:00Z",
                "accuracy": {"type": "Property", "value": 0.5}},
            "name": {"type": "Property", "value": "Room one"},
            "tags": {"type": "Property", "value": ["a", "b", 3]},
            "config": {"type": "Property", "value": {"mode": "eco", "levels": [1, 2]}},
            "open": {"type": "Property", "value": true},
            "at": {"type": "Property", "value": {"@type": "DateTime", "@value": "2026-12-01T10:00:00Z"}},
            "in": {"type": "Relationship", "object": "urn:ngsi-ld:Building:7"},
            "label": {"type": "LanguageProperty", "languageMap": {"en": "one", "de": "eins"}},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [8.5, 47.25]}},
            "area": {"type": "GeoProperty", "value": {"type": "Polygon",
                "coordinates": [[[8.0, 47.0], [9.0, 47.0], [9.0, 48.0], [8.0, 47.0]]]}}
        });
        let Value::Object(map) = body else {
            unreachable!("a literal object")
        };
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).single().unwrap_or_default();
        parse_entity(&map, &IdentityTerms, now).unwrap_or_else(|e| panic!("the sample: {e}"))
    })
}

pub fn q(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let options = QOptions {
        expand_values: &[],
        json_keys: &[],
    };
    if let Ok(expr) = QExpr::parse(input, &IdentityTerms, &options) {
        let _ = expr.matches(sample());
        let _ = expr.matches_assuming_links(sample());
    }
}

/// `georel`, `geometry` and `coordinates` on three lines.
pub fn geoq(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let mut lines = input.splitn(3, '\n');
    let (georel, geometry, coordinates) = (
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
    );
    for property in ["location", "area"] {
        if let Ok(query) = GeoQuery::parse(georel, geometry, coordinates, property) {
            let _ = query.matches(sample());
        }
    }
}

pub fn scopeq(data: &[u8]) {
    let Some(input) = text(data) else { return };
    if let Ok(expr) = ScopeExpr::parse(input) {
        let _ = expr.matches(sample().scope.as_deref());
        let _ = expr.matches(None);
    }
}

pub fn types(data: &[u8]) {
    let Some(input) = text(data) else { return };
    if let Ok(expr) = TypeExpr::parse(input, &IdentityTerms) {
        let _ = expr.matches(&sample().types);
        let _ = expr.index_types();
    }
}

pub fn order_by(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let _ = OrderBy::parse(input, &IdentityTerms);
}

/// A JSON body parsed as an entity; one that parses renders, and survives the store's
/// record codec.
pub fn entity(data: &[u8]) {
    if data.len() > 256 * 1024 {
        return;
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let now = Utc
        .with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .unwrap_or_default();
    if let Ok(parsed) = parse_entity(&body, &IdentityTerms, now) {
        let _ = render_entity(&parsed, &IdentityTerms, &RenderOptions::default());
        rigel_storage_embedded::fuzzing::record_round_trip(&parsed);
    }
}

/// A JSON value used as a request's @context; one that resolves expands and compacts terms.
/// Remote @contexts are not reachable (the fetch times out at once).
pub fn context(data: &[u8]) {
    if data.len() > 64 * 1024 {
        return;
    }
    let Ok(user) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (runtime, resolver) = resolver();
    let resolved = runtime.block_on(resolver.resolve(Some(&user)));
    if let Ok(resolved) = resolved {
        use rigel_model::TermMap;
        for term in ["type", "temperature", "Room", "location", "@id", ""] {
            let iri = resolved.expand(term).into_owned();
            let _ = resolved.compact(&iri);
        }
    }
}

fn resolver() -> &'static (tokio::runtime::Runtime, rigel_jsonld::ContextResolver) {
    static RESOLVER: OnceLock<(tokio::runtime::Runtime, rigel_jsonld::ContextResolver)> =
        OnceLock::new();
    RESOLVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a runtime: {e}"));
        let config = rigel_jsonld::ResolverConfig {
            fetch_timeout: std::time::Duration::from_millis(1),
            hosted_dir: None,
            ..rigel_jsonld::ResolverConfig::default()
        };
        let resolver = runtime
            .block_on(async {
                let egress = rigel_egress::Egress::new(rigel_egress::EgressConfig {
                    timeout: std::time::Duration::from_millis(1),
                    policy: rigel_egress::EgressPolicy::default(),
                    ..rigel_egress::EgressConfig::default()
                })
                .map_err(|e| e.to_string())?;
                rigel_jsonld::ContextResolver::with_egress(config, egress)
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|e| panic!("a resolver: {e}"));
        (runtime, resolver)
    })
}

pub fn record(data: &[u8]) {
    rigel_storage_embedded::fuzzing::decode_record(data);
}

pub fn log(data: &[u8]) {
    rigel_storage_embedded::fuzzing::replay_log(data);
}

#[cfg(test)]
mod tests;
