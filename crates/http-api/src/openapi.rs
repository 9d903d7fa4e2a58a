//! The OpenAPI document of the routes Rigel serves, generated with utoipa.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::routes::{
    attributes, batch, contexts, csource_subscriptions, entities, entity_maps, identity,
    registrations, subscriptions,
};

/// The document. Paths are described next to their handlers' route table.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rigel NGSI-LD API",
        description = "NGSI-LD (ETSI GS CIM 009 V1.9.1) context broker"
    ),
    paths(
        entities::create_entity,
        entities::retrieve_entity,
        entities::delete_entity,
        entities::replace_entity,
        entities::merge_entity,
        attributes::append_attributes,
        attributes::update_attributes,
        attributes::partial_attribute_update,
        attributes::replace_attribute,
        attributes::delete_attribute,
        batch::create_batch,
        batch::upsert_batch,
        batch::update_batch,
        batch::delete_batch,
        batch::merge_batch,
        contexts::add_context,
        contexts::list_contexts,
        contexts::serve_context,
        contexts::delete_context,
        subscriptions::create_subscription,
        subscriptions::query_subscriptions,
        subscriptions::retrieve_subscription,
        subscriptions::update_subscription,
        subscriptions::delete_subscription,
        registrations::create_registration,
        registrations::query_registrations,
        registrations::retrieve_registration,
        registrations::update_registration,
        registrations::delete_registration,
        csource_subscriptions::create_csource_subscription,
        csource_subscriptions::query_csource_subscriptions,
        csource_subscriptions::retrieve_csource_subscription,
        csource_subscriptions::update_csource_subscription,
        csource_subscriptions::delete_csource_subscription,
        identity::retrieve_source_identity,
        entity_maps::retrieve_entity_map,
        entity_maps::update_entity_map,
        entity_maps::delete_entity_map,
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as JSON text, pretty-printed.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// GET /openapi.json
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

#[cfg(test)]
mod tests {
    /// Set `RIGEL_UPDATE_OPENAPI=1` to rewrite the committed copy after changing routes.
    #[test]
    fn committed_openapi_document_is_current() {
        let generated = super::document() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/openapi.json");
        if std::env::var_os("RIGEL_UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "spec/openapi.json is stale: run `RIGEL_UPDATE_OPENAPI=1 cargo test -p rigel-http-api openapi`"
        );
    }
}
