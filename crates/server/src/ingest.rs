//! Device ingestion in the server (`docs/ingestion.md`): the rules of `--ingest-rules`
//! started with the broker, and `/ngsi-ld/ex/v1/ingestion/rules`, each rule with its
//! counters and connection state (admin right when authentication is on).

use std::path::Path;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use rigel_broker::Broker;
use rigel_egress::Egress;
use rigel_http_api::ApiError;
use rigel_ingest::{IngestSettings, Ingestion, RuleSpec};
use rigel_jsonld::ContextResolver;
use rigel_model::{ErrorKind, ModelError};

use crate::StartError;

/// The ingestion with the rules of `file` running (none without a file).
pub async fn start(
    file: Option<&Path>,
    broker: Broker,
    resolver: &ContextResolver,
    egress: Egress,
    alias: &str,
) -> Result<Ingestion, StartError> {
    let tls = rigel_subscriptions::deliver::mqtt::default_tls(egress.extra_roots())
        .map_err(StartError::Ingestion)?;
    let ingestion = Ingestion::new(
        broker,
        IngestSettings {
            client_id: client_id_prefix(alias),
            keep_alive: Duration::from_secs(30),
            tls: Some(tls),
            egress: Some(egress),
        },
    );
    let Some(file) = file else {
        return Ok(ingestion);
    };
    let specs = read_rules(file).map_err(StartError::Ingestion)?;
    let rules = rigel_ingest::ingestion::rules_from(specs)
        .map_err(|e| StartError::Ingestion(format!("{}: {e}", file.display())))?;
    let count = rules.len();
    for rule in rules {
        let id = rule.spec.id.clone();
        let terms = resolver
            .resolve(rule.spec.context.as_ref())
            .await
            .map_err(|e| StartError::Ingestion(format!("rule {id:?}: its @context: {e}")))?;
        ingestion
            .add(rule, terms)
            .await
            .map_err(|e| StartError::Ingestion(format!("rule {id:?}: {e}")))?;
    }
    tracing::info!(rules = count, file = %file.display(), "ingestion rules started");
    Ok(ingestion)
}

/// The rules of a file: a JSON array of rules, or an object with a `rules` array.
fn read_rules(file: &Path) -> Result<Vec<RuleSpec>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the ingestion rules {}: {e}", file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
    let rules = match value {
        serde_json::Value::Object(mut o) => o.remove("rules").unwrap_or_default(),
        other => other,
    };
    serde_json::from_value(rules).map_err(|e| format!("{}: {e}", file.display()))
}

/// MQTT client ids: `rigel` and a hash of the broker's alias, letters and digits only (what
/// every MQTT 3.1.1 server must accept), stable across restarts so that the MQTT broker
/// keeps the session.
fn client_id_prefix(alias: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    alias.hash(&mut hasher);
    format!("rigel{:08x}", hasher.finish() as u32)
}

/// The ingestion's resources.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ngsi-ld/ex/v1/ingestion/rules")
            .route(web::get().to(list))
            .default_service(web::route().to(not_built)),
    )
    .service(
        web::resource("/ngsi-ld/ex/v1/ingestion/rules/{id}")
            .route(web::get().to(one))
            .default_service(web::route().to(not_built)),
    );
}

async fn list(ingestion: web::Data<Ingestion>) -> HttpResponse {
    HttpResponse::Ok().json(ingestion.rules())
}

async fn one(
    ingestion: web::Data<Ingestion>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ingestion
        .rules()
        .into_iter()
        .find(|r| r.spec.id == *id)
        .map(|r| HttpResponse::Ok().json(r))
        .ok_or_else(|| {
            ApiError::Model(ModelError::new(
                ErrorKind::ResourceNotFound,
                format!("no ingestion rule {:?}", id.as_str()),
            ))
        })
}

/// Creating, changing and deleting rules through the API is not built yet: rules come from
/// `--ingest-rules`.
async fn not_built() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_supported(
        "ingestion rules are loaded from --ingest-rules at start; managing them through the \
         API is not built yet",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_short_alphanumeric_and_stable() {
        let a = client_id_prefix("urn:ngsi-ld:Broker:abc");
        assert_eq!(a, client_id_prefix("urn:ngsi-ld:Broker:abc"));
        assert!(a.len() <= 13 && a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
