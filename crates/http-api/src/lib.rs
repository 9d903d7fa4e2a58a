//! Rigel's NGSI-LD HTTP binding (clause 6): the route table, extractors, content negotiation,
//! ProblemDetails and the OpenAPI document. Handlers are thin: extract, call the broker, respond.

pub mod context;
pub mod distribution;
pub mod filters;
pub mod guard;
pub mod linked;
pub mod negotiation;
pub mod openapi;
pub mod problem;
pub mod projection;
pub mod representation;
pub mod request;
pub mod routes;
pub mod temporal;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use rigel_broker::Broker;
use rigel_jsonld::ContextResolver;

pub use problem::ApiError;
use routes::{
    attributes as attr, batch, contexts as ctx, csource_subscriptions as csubs, discovery,
    entities as ent, query, registrations as regs, subscriptions as subs, temporal as tmp,
    unsupported,
};

/// Request limits enforced before any parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_uri_bytes: usize,
    /// Page size of a query without `limit` (clause 5.5.9).
    pub default_page_size: usize,
    /// Largest `limit` accepted; beyond it a query is `TooManyResults`.
    pub max_page_size: usize,
    /// How long a request body may take to arrive in full; beyond it 408.
    pub body_timeout: std::time::Duration,
    /// Largest response body; a response that would be larger is `TooManyResults`.
    pub max_response_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            max_uri_bytes: 8 * 1024,
            default_page_size: 20,
            max_page_size: 1000,
            body_timeout: std::time::Duration::from_secs(30),
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub broker: Broker,
    pub resolver: ContextResolver,
    pub limits: Limits,
    /// Batch requests processed at once. A batch holds every entity of its body decoded at
    /// once (about 16 KB each for a 2.7 KB entity), so 64 concurrent batches of 100 took
    /// 200 MiB. Two per core keep the cores busy while other batches wait for their fsync;
    /// more add memory, not throughput.
    bulk: tokio::sync::Semaphore,
}

impl AppState {
    pub fn new(broker: Broker, resolver: ContextResolver, limits: Limits) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            broker,
            resolver,
            limits,
            bulk: tokio::sync::Semaphore::new(8 * cores),
        }
    }

    /// Waits for a turn to process a batch request; `None` only if the semaphore is closed,
    /// which it never is.
    pub async fn bulk_permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.bulk.acquire().await.ok()
    }

    /// The time used for provisional timestamps while parsing (the broker sets the final ones).
    pub fn broker_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.broker.now()
    }
}

/// The API base path.
pub const BASE_PATH: &str = "/ngsi-ld/v1";

/// Answers 405 with the methods a resource allows.
fn allow(methods: &'static str) -> actix_web::Route {
    web::route()
        .to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed(methods)) })
}

/// The route table, reading like the spec's resource list (clause 6.2).
pub fn configure(cfg: &mut web::ServiceConfig) {
    const ID: &str = "{entityId:[^/]*}";
    const ATTR: &str = "{attrId:[^/]*}";
    // A Cached @context may be named by its original URL, escaped or not.
    const CONTEXT_ID: &str = "{contextId:.+}";
    cfg.route("/openapi.json", web::get().to(openapi::serve))
        .service(
            web::scope(BASE_PATH)
                // A trailing slash on any path was removed at the edge (see `edge`).
                .service(
                    web::resource("/entities")
                        .route(web::post().to(ent::create_entity))
                        .route(web::get().to(query::query_entities))
                        .route(web::delete().to(query::purge_entities))
                        .route(web::put().to(ent::missing_entity_id))
                        .route(web::patch().to(ent::missing_entity_id))
                        .default_service(allow("GET, POST, DELETE")),
                )
                .service(
                    web::resource(format!("/entities/{ID}"))
                        .route(web::get().to(ent::retrieve_entity))
                        .route(web::delete().to(ent::delete_entity))
                        .route(web::put().to(ent::replace_entity))
                        .route(web::patch().to(ent::merge_entity))
                        .default_service(allow("GET, DELETE, PUT, PATCH")),
                )
                .service(
                    web::resource(format!("/entities/{ID}/attrs"))
                        .route(web::post().to(attr::append_attributes))
                        .route(web::patch().to(attr::update_attributes))
                        .default_service(allow("POST, PATCH")),
                )
                .service(
                    web::resource(format!("/entities/{ID}/attrs/{ATTR}"))
                        .route(web::patch().to(attr::partial_attribute_update))
                        .route(web::put().to(attr::replace_attribute))
                        .route(web::delete().to(attr::delete_attribute))
                        .default_service(allow("PATCH, PUT, DELETE")),
                )
                .service(
                    web::resource("/entityOperations/create")
                        .route(web::post().to(batch::create_batch))
                        .default_service(allow("POST")),
                )
                .service(
                    web::resource("/entityOperations/upsert")
                        .route(web::post().to(batch::upsert_batch))
                        .default_service(allow("POST")),
                )
                .service(
                    web::resource("/entityOperations/update")
                        .route(web::post().to(batch::update_batch))
                        .default_service(allow("POST")),
                )
                .service(
                    web::resource("/entityOperations/delete")
                        .route(web::post().to(batch::delete_batch))
                        .default_service(allow("POST")),
                )
                .service(
                    web::resource("/entityOperations/merge")
                        .route(web::post().to(batch::merge_batch))
                        .default_service(allow("POST")),
                )
                .service(
                    web::resource("/jsonldContexts")
                        .route(web::post().to(ctx::add_context))
                        .route(web::get().to(ctx::list_contexts))
                        .route(web::delete().to(ctx::missing_context_id))
                        .default_service(allow("GET, POST")),
                )
                .service(
                    web::resource(format!("/jsonldContexts/{CONTEXT_ID}"))
                        .route(web::get().to(ctx::serve_context))
                        .route(web::delete().to(ctx::delete_context))
                        .default_service(allow("GET, DELETE")),
                )
                .service(
                    web::resource("/entityOperations/query")
                        .route(web::post().to(query::query_entities_post))
                        .default_service(allow("POST")),
                )
                .service(
                    web::resource("/subscriptions")
                        .route(web::post().to(subs::create_subscription))
                        .route(web::get().to(subs::query_subscriptions))
                        .default_service(allow("GET, POST")),
                )
                .service(
                    web::resource("/subscriptions/{subscriptionId}")
                        .route(web::get().to(subs::retrieve_subscription))
                        .route(web::patch().to(subs::update_subscription))
                        .route(web::delete().to(subs::delete_subscription))
                        .default_service(allow("GET, PATCH, DELETE")),
                )
                .service(
                    web::resource("/csourceRegistrations")
                        .route(web::post().to(regs::create_registration))
                        .route(web::get().to(regs::query_registrations))
                        .default_service(allow("GET, POST")),
                )
                .service(
                    web::resource("/csourceRegistrations/{registrationId}")
                        .route(web::get().to(regs::retrieve_registration))
                        .route(web::patch().to(regs::update_registration))
                        .route(web::delete().to(regs::delete_registration))
                        .default_service(allow("GET, PATCH, DELETE")),
                )
                .service(
                    web::resource("/csourceSubscriptions")
                        .route(web::post().to(csubs::create_csource_subscription))
                        .route(web::get().to(csubs::query_csource_subscriptions))
                        .default_service(allow("GET, POST")),
                )
                .service(
                    web::resource("/csourceSubscriptions/{subscriptionId}")
                        .route(web::get().to(csubs::retrieve_csource_subscription))
                        .route(web::patch().to(csubs::update_csource_subscription))
                        .route(web::delete().to(csubs::delete_csource_subscription))
                        .default_service(allow("GET, PATCH, DELETE")),
                )
                .service(
                    web::resource("/types")
                        .route(web::get().to(discovery::retrieve_entity_types))
                        .default_service(allow("GET")),
                )
                .service(
                    web::resource("/types/{type}")
                        .route(web::get().to(discovery::retrieve_entity_type_info))
                        .default_service(allow("GET")),
                )
                .service(
                    web::resource("/temporal/entities")
                        .route(web::post().to(tmp::upsert_temporal))
                        .route(web::get().to(tmp::query_temporal))
                        .default_service(allow("GET, POST")),
                )
                .service(
                    web::resource(format!("/temporal/entities/{ID}"))
                        .route(web::get().to(tmp::retrieve_temporal))
                        .route(web::delete().to(tmp::delete_temporal))
                        .default_service(allow("GET, DELETE")),
                )
                .service(
                    web::resource(format!("/temporal/entities/{ID}/attrs"))
                        .route(web::post().to(tmp::add_temporal_attributes))
                        .default_service(allow("POST")),
                )
                .service(
                    web::resource(format!("/temporal/entities/{ID}/attrs/{ATTR}"))
                        .route(web::delete().to(tmp::delete_temporal_attribute))
                        .default_service(allow("DELETE")),
                )
                .service(
                    web::resource(format!(
                        "/temporal/entities/{ID}/attrs/{ATTR}/{{instanceId}}"
                    ))
                    .route(web::patch().to(tmp::modify_temporal_instance))
                    .route(web::delete().to(tmp::delete_temporal_instance))
                    .default_service(allow("PATCH, DELETE")),
                )
                .service(
                    web::resource("/temporal/entityOperations/query")
                        .route(web::post().to(tmp::query_temporal_post))
                        .default_service(allow("POST")),
                )
                .service(
                    web::resource("/attributes")
                        .route(web::get().to(discovery::retrieve_attributes))
                        .default_service(allow("GET")),
                )
                .service(
                    web::resource("/attributes/{attrId}")
                        .route(web::get().to(discovery::retrieve_attribute_info))
                        .default_service(allow("GET")),
                )
                .service(
                    web::resource("/entityMaps/{entityMapId}")
                        .route(web::get().to(routes::entity_maps::retrieve_entity_map))
                        .route(web::patch().to(routes::entity_maps::update_entity_map))
                        .route(web::delete().to(routes::entity_maps::delete_entity_map))
                        .default_service(allow("GET, PATCH, DELETE")),
                )
                .service(
                    web::resource("/info/sourceIdentity")
                        .route(web::get().to(routes::identity::retrieve_source_identity))
                        .default_service(allow("GET")),
                )
                .default_service(web::to(unsupported::not_implemented)),
        );
}

/// Middleware at the edge: refuses over-long request URIs with 414 before routing, removes a
/// trailing slash from the path (clients write collections both ways), and echoes the
/// `NGSILD-Tenant` header in responses (clause 6.3.14), and `Fiware-Service` likewise.
pub async fn edge(
    limits: Limits,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let len = req.uri().path().len() + req.uri().query().map_or(0, str::len);
    trim_trailing_slash(&mut req);
    if len > limits.max_uri_bytes {
        let response = problem::problem(
            rigel_model::ErrorKind::BadRequestData,
            "the request URI is too long",
        );
        let mut response = response;
        *response.status_mut() = actix_web::http::StatusCode::URI_TOO_LONG;
        return Ok(req.into_response(response));
    }
    // Orion-LD users name the tenant with Fiware-Service and get it back the same way.
    let echoed = ECHOED_TENANT_HEADERS.map(|name| (name, req.headers().get(name).cloned()));
    let mut response = next.call(req).await?.map_into_boxed_body();
    for (name, value) in echoed {
        if let Some(value) = value {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static(name),
                value,
            );
        }
    }
    Ok(response)
}

/// The tenant headers a response repeats (lower case, as `HeaderName::from_static` wants).
const ECHOED_TENANT_HEADERS: [&str; 2] = ["ngsild-tenant", "fiware-service"];

/// Where a trailing slash belongs to the resource name: a @context named by its URL.
const CONTEXT_PREFIX: &str = "/ngsi-ld/v1/jsonldContexts/";

/// The path without its trailing slashes, when it has any and they are not part of a name.
fn path_without_trailing_slash(path: &str) -> Option<&str> {
    if path.len() <= 1 || !path.ends_with('/') {
        return None;
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed
        .strip_prefix(CONTEXT_PREFIX)
        .is_some_and(|id| !id.is_empty())
    {
        return None;
    }
    Some(if trimmed.is_empty() { "/" } else { trimmed })
}

/// Rewrites the request's path without a trailing slash before routing, so every route
/// answers with and without one.
fn trim_trailing_slash(req: &mut ServiceRequest) {
    let Some(path) = path_without_trailing_slash(req.uri().path()) else {
        return;
    };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = req.head().uri.clone().into_parts();
    let Ok(pq) = actix_web::http::uri::PathAndQuery::try_from(path_and_query) else {
        return;
    };
    parts.path_and_query = Some(pq);
    if let Ok(uri) = actix_web::http::Uri::from_parts(parts) {
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::path_without_trailing_slash as trim;

    #[test]
    fn a_trailing_slash_is_removed_from_resource_paths() {
        assert_eq!(trim("/ngsi-ld/v1/entities/"), Some("/ngsi-ld/v1/entities"));
        assert_eq!(
            trim("/ngsi-ld/v1/entityOperations/upsert//"),
            Some("/ngsi-ld/v1/entityOperations/upsert")
        );
        assert_eq!(
            trim("/ngsi-ld/v1/jsonldContexts/"),
            Some("/ngsi-ld/v1/jsonldContexts")
        );
        assert_eq!(trim("/version/"), Some("/version"));
    }

    #[test]
    fn paths_without_a_trailing_slash_and_context_urls_are_kept() {
        assert_eq!(trim("/ngsi-ld/v1/entities"), None);
        assert_eq!(trim("/"), None);
        assert_eq!(
            trim("/ngsi-ld/v1/jsonldContexts/http://example.org/ctx/"),
            None
        );
    }
}
