//! Core context, expansion and compaction behaviour through the public API (no network).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;
use std::sync::Arc;

use rigel_model::TermMap;
use serde_json::{json, Value};

use crate::{
    core_context, is_core_context_url, ContextResolver, ResolvedContext, ResolverConfig,
    CORE_CONTEXT_URL,
};

const NGSI_LD: &str = "https://uri.etsi.org/ngsi-ld/";
const DEFAULT: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
const UNVERSIONED_CORE: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";

fn resolver() -> ContextResolver {
    ContextResolver::new(ResolverConfig::default()).unwrap()
}

async fn resolve(user: Value) -> Arc<ResolvedContext> {
    resolver().resolve(Some(&user)).await.unwrap()
}

// ---------------------------------------------------------------------------------------
// The core context and its URLs.

#[test]
fn built_in_core_context_is_the_published_v1_9_document() {
    let context = core_context()["@context"].as_object().unwrap();
    assert_eq!(context["@vocab"], DEFAULT);
    assert_eq!(context["ngsi-ld"], NGSI_LD);
    assert_eq!(context["@protected"], true);
    assert_eq!(context.len(), 212);
    assert!(CORE_CONTEXT_URL.ends_with("ngsi-ld-core-context-v1.9.jsonld"));
}

#[test]
fn every_published_core_url_is_an_alias_of_the_built_in_context() {
    for url in [
        CORE_CONTEXT_URL,
        UNVERSIONED_CORE,
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.1.jsonld",
        "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
        "https://uri.etsi.org/ngsi-ld/ngsi-ld-core-context.jsonld",
        "https://uri.etsi.org/ngsi-ld/ngsi-ld-core-context-v1.7.jsonld",
    ] {
        assert!(is_core_context_url(url), "{url}");
    }
}

#[test]
fn other_urls_on_the_core_host_are_not_core_aliases() {
    for url in [
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-non-existing.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.x.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld?x=1",
        "https://uri.etsi.org/ngsi-ld/v2/ngsi-ld-core-context.jsonld",
        "https://example.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        "ftp://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    ] {
        assert!(!is_core_context_url(url), "{url}");
    }
}

#[tokio::test]
async fn unversioned_core_url_is_the_built_in_context() {
    let resolver = resolver();
    let resolved = resolver
        .resolve(Some(&json!(UNVERSIONED_CORE)))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&resolved, &resolver.core()));
}

#[tokio::test]
async fn array_of_only_core_urls_and_null_are_the_same_as_no_user_context() {
    let resolver = resolver();
    for user in [
        json!([CORE_CONTEXT_URL, UNVERSIONED_CORE]),
        json!([]),
        Value::Null,
    ] {
        let resolved = resolver.resolve(Some(&user)).await.unwrap();
        assert!(Arc::ptr_eq(&resolved, &resolver.core()), "{user}");
    }
    assert!(Arc::ptr_eq(
        &resolver.resolve(None).await.unwrap(),
        &resolver.core()
    ));
}

// ---------------------------------------------------------------------------------------
// Expansion and compaction with the core context only.

#[test]
fn core_terms_and_undefined_terms_expand_as_json_ld_vocab_relative_iris() {
    let core = resolver().core();
    let cases = [
        ("name", format!("{DEFAULT}name")),
        ("location", format!("{NGSI_LD}location")),
        ("createdAt", format!("{NGSI_LD}createdAt")),
        ("Property", format!("{NGSI_LD}Property")),
        ("object", format!("{NGSI_LD}hasObject")),
        ("Point", "https://purl.org/geojson/vocab#Point".to_owned()),
        (
            "description",
            "http://purl.org/dc/terms/description".to_owned(),
        ),
        ("ngsi-ld:foo", format!("{NGSI_LD}foo")),
        (
            "urn:ngsi-ld:Vehicle:A1",
            "urn:ngsi-ld:Vehicle:A1".to_owned(),
        ),
        ("http://example.org/x", "http://example.org/x".to_owned()),
        ("type", "@type".to_owned()),
        ("@id", "@id".to_owned()),
        ("my term", format!("{DEFAULT}my term")),
    ];
    for (term, iri) in cases {
        assert_eq!(core.expand(term), iri, "{term}");
    }
}

#[test]
fn core_iris_compact_to_terms_vocab_names_or_compact_iris() {
    let core = resolver().core();
    let cases = [
        (format!("{DEFAULT}name"), "name"),
        (format!("{NGSI_LD}location"), "location"),
        (format!("{NGSI_LD}hasObject"), "object"),
        (format!("{NGSI_LD}foo"), "ngsi-ld:foo"),
        (
            "https://purl.org/geojson/vocab#foo".to_owned(),
            "geojson:foo",
        ),
        ("http://example.org/x".to_owned(), "http://example.org/x"),
        (
            "urn:ngsi-ld:Vehicle:A1".to_owned(),
            "urn:ngsi-ld:Vehicle:A1",
        ),
        // `location` is a core term mapped elsewhere, so the vocab name would not round-trip;
        // the `ngsi-ld` prefix still applies.
        (
            format!("{DEFAULT}location"),
            "ngsi-ld:default-context/location",
        ),
    ];
    for (iri, term) in cases {
        assert_eq!(core.compact(&iri), term, "{iri}");
    }
}

#[test]
fn every_core_term_compacts_back_to_itself_unless_it_shares_its_iri() {
    let core = resolver().core();
    let context = core_context()["@context"].as_object().unwrap();
    let mut by_iri = std::collections::HashMap::<String, usize>::new();
    for term in context.keys().filter(|t| !t.starts_with('@')) {
        *by_iri.entry(core.expand(term).into_owned()).or_default() += 1;
    }
    for term in context.keys().filter(|t| !t.starts_with('@')) {
        let iri = core.expand(term);
        if iri.starts_with('@') || by_iri[iri.as_ref()] > 1 {
            continue;
        }
        assert_eq!(core.compact(&iri), term.as_str(), "{term} -> {iri}");
    }
}

#[test]
fn core_terms_and_vocab_names_need_no_allocation() {
    let core = resolver().core();
    assert!(matches!(core.expand("location"), Cow::Borrowed(_)));
    assert!(matches!(core.expand("urn:x:y"), Cow::Borrowed(_)));
    assert!(matches!(
        core.compact(&format!("{NGSI_LD}location")),
        Cow::Borrowed(_)
    ));
    assert!(matches!(
        core.compact(&format!("{DEFAULT}speed")),
        Cow::Borrowed("speed")
    ));
}

// ---------------------------------------------------------------------------------------
// Inline user contexts.

#[tokio::test]
async fn user_term_compacts_back_to_the_term() {
    let resolved = resolve(json!({
        "Vehicle": "https://example.org/vocab#Vehicle",
        "speed": {"@id": "https://example.org/vocab#speed", "@type": "@id"},
        "isParked": "ngsi-ld:isParked",
        "fuel": "fuelLevel"
    }))
    .await;
    let expected = [
        ("Vehicle", "https://example.org/vocab#Vehicle".to_owned()),
        ("speed", "https://example.org/vocab#speed".to_owned()),
        ("isParked", format!("{NGSI_LD}isParked")),
        ("fuel", format!("{DEFAULT}fuelLevel")),
    ];
    for (term, iri) in expected {
        assert_eq!(resolved.expand(term), iri, "{term}");
        assert_eq!(resolved.compact(&iri), term, "{iri}");
        assert!(matches!(resolved.expand_ref(term), Cow::Borrowed(_)));
        assert!(matches!(resolved.compact_ref(&iri), Cow::Borrowed(_)));
    }
    assert!(!resolved.is_core_only());
}

#[tokio::test]
async fn several_terms_for_one_iri_compact_to_the_shortest_then_first() {
    let resolved = resolve(json!({
        "vehicleSpeed": "https://example.org/speed",
        "spd": "https://example.org/speed",
        "abc": "https://example.org/speed"
    }))
    .await;
    assert_eq!(resolved.compact("https://example.org/speed"), "abc");
    assert_eq!(resolved.expand("vehicleSpeed"), "https://example.org/speed");
}

#[tokio::test]
async fn user_prefixes_expand_compact_iris_and_the_longest_prefix_compacts() {
    let resolved = resolve(json!({
        "ex": "https://example.org/",
        "exv": "https://example.org/vocab/"
    }))
    .await;
    assert_eq!(resolved.expand("ex:a"), "https://example.org/a");
    assert_eq!(resolved.expand("exv:b"), "https://example.org/vocab/b");
    assert_eq!(resolved.compact("https://example.org/vocab/b"), "exv:b");
    assert_eq!(resolved.compact("https://example.org/a"), "ex:a");
    // An undefined prefix is an IRI scheme: the value is already absolute.
    assert_eq!(resolved.expand("other:c"), "other:c");
}

#[tokio::test]
async fn protected_core_term_cannot_be_redefined_by_user_context() {
    // Clause 5.5.7: the core has absolute precedence wherever it appears; redefinitions of
    // core terms are ignored, not rejected.
    for user in [
        json!([CORE_CONTEXT_URL, {"location": "https://example.org/location", "brand": "https://example.org/brand"}]),
        json!([{"location": "https://example.org/location", "brand": "https://example.org/brand"}, CORE_CONTEXT_URL]),
        json!({"location": "https://example.org/location", "brand": "https://example.org/brand", "ngsi-ld": "https://example.org/"}),
    ] {
        let resolved = resolve(user.clone()).await;
        assert_eq!(
            resolved.expand("location"),
            format!("{NGSI_LD}location"),
            "{user}"
        );
        assert_eq!(
            resolved.expand("ngsi-ld:x"),
            format!("{NGSI_LD}x"),
            "{user}"
        );
        assert_eq!(
            resolved.expand("brand"),
            "https://example.org/brand",
            "{user}"
        );
        assert_eq!(resolved.compact(&format!("{NGSI_LD}location")), "location");
    }
}

#[tokio::test]
async fn user_vocab_does_not_replace_the_core_vocab() {
    let resolved = resolve(json!({"@vocab": "https://example.org/"})).await;
    assert_eq!(resolved.expand("brandName"), format!("{DEFAULT}brandName"));
    assert_eq!(resolved.vocab(), DEFAULT);
}

#[tokio::test]
async fn scoped_contexts_in_user_contexts_are_ignored() {
    let resolved = resolve(json!({
        "address": {"@id": "https://example.org/address", "@context": "http://unreachable.invalid/ctx.jsonld"}
    }))
    .await;
    assert_eq!(resolved.expand("address"), "https://example.org/address");
}
