//! The OpenAPI document of the routes Rigel serves, generated with utoipa.

use actix_web::HttpResponse;
use utoipa::OpenApi;

/// The document. Paths are described next to their handlers' route table.
#[derive(OpenApi)]
#[openapi(info(title = "Rigel NGSI-LD API", description = "NGSI-LD (ETSI GS CIM 009 V1.9.1) context broker"))]
pub struct ApiDoc;

/// The OpenAPI document as JSON text, pretty-printed.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// GET /openapi.json
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document())
}
