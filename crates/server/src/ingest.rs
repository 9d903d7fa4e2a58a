//! Device ingestion in the server (`docs/ingestion.md`): the rules of `--ingest-rules` and
//! those made through the API (kept in the data directory, `saved.rs`) started with the
//! broker, and `/ngsi-ld/ex/v1/ingestion/rules` to list, create, replace and delete rules,
//! each shown with its counters and connection state (admin right when authentication is
//! on).

mod saved;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use rigel_broker::Broker;
use rigel_egress::Egress;
use rigel_http_api::ApiError;
use rigel_ingest::{IngestSettings, Ingestion, Rule, RuleSpec};
use rigel_jsonld::ContextResolver;
use rigel_model::{ErrorKind, ModelError};
use tokio::sync::Mutex;

use crate::StartError;
use saved::SavedRules;

const RULES_PATH: &str = "/ngsi-ld/ex/v1/ingestion/rules";

/// What the rules resources work with.
pub struct IngestApi {
    pub ingestion: Ingestion,
    resolver: ContextResolver,
    /// Rules of `--ingest-rules`: changed by editing the file, not through the API.
    from_file: BTreeSet<String>,
    /// Rules made through the API; the lock also makes changes one at a time.
    saved: Mutex<SavedRules>,
}

/// Where the server finds its rules.
pub struct Sources<'a> {
    pub file: Option<&'a Path>,
    pub data_dir: &'a Path,
    pub alias: &'a str,
    /// Whether other brokers may share the store (several replicas over MongoDB).
    pub replicas: bool,
}

/// The ingestion with the rules of the file and of the data directory running.
pub async fn start(
    sources: Sources<'_>,
    broker: Broker,
    resolver: &ContextResolver,
    egress: Egress,
) -> Result<IngestApi, StartError> {
    let tls = rigel_subscriptions::deliver::mqtt::default_tls(egress.extra_roots())
        .map_err(StartError::Ingestion)?;
    let ingestion = Ingestion::new(
        broker,
        IngestSettings {
            client_id: rigel_ingest::ingestion::client_id_prefix(sources.alias),
            keep_alive: Duration::from_secs(30),
            tls: Some(tls),
            egress: Some(egress),
            // Brokers sharing a store share each rule's messages: each is written once.
            share_group: sources.replicas.then(|| "rigel".to_owned()),
        },
    );
    let from_file = match sources.file {
        Some(file) => read_rules(file).map_err(StartError::Ingestion)?,
        None => Vec::new(),
    };
    let saved = SavedRules::load(sources.data_dir).map_err(StartError::Ingestion)?;
    let file_ids = from_file.iter().map(|s| s.id.clone()).collect();
    let specs: Vec<RuleSpec> = from_file
        .into_iter()
        .chain(saved.rules.values().cloned())
        .collect();
    let rules = rigel_ingest::ingestion::rules_from(specs).map_err(StartError::Ingestion)?;
    let count = rules.len();
    for rule in rules {
        let id = rule.spec.id.clone();
        start_rule(&ingestion, resolver, rule)
            .await
            .map_err(|e| StartError::Ingestion(format!("rule {id:?}: {e}")))?;
    }
    if count > 0 {
        tracing::info!(rules = count, "ingestion rules started");
    }
    Ok(IngestApi {
        ingestion,
        resolver: resolver.clone(),
        from_file: file_ids,
        saved: Mutex::new(saved),
    })
}

/// Resolves the rule's @context and starts it.
async fn start_rule(
    ingestion: &Ingestion,
    resolver: &ContextResolver,
    rule: Rule,
) -> Result<(), ApiError> {
    let terms = resolver.resolve(rule.spec.context.as_ref()).await?;
    ingestion.add(rule, terms).await.map_err(ApiError::bad_data)
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

/// The ingestion's resources.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(RULES_PATH)
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(
                web::route().to(|| async {
                    Err::<HttpResponse, _>(ApiError::MethodNotAllowed("GET, POST"))
                }),
            ),
    )
    .service(
        web::resource(format!("{RULES_PATH}/{{id}}"))
            .route(web::get().to(one))
            .route(web::put().to(replace))
            .route(web::delete().to(delete))
            .default_service(web::route().to(|| async {
                Err::<HttpResponse, _>(ApiError::MethodNotAllowed("GET, PUT, DELETE"))
            })),
    );
}

async fn list(api: web::Data<IngestApi>) -> HttpResponse {
    HttpResponse::Ok().json(api.ingestion.rules())
}

fn not_found(id: &str) -> ApiError {
    ApiError::Model(ModelError::new(
        ErrorKind::ResourceNotFound,
        format!("no ingestion rule {id:?}"),
    ))
}

async fn one(api: web::Data<IngestApi>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    api.ingestion
        .rules()
        .into_iter()
        .find(|r| r.spec.id == *id)
        .map(|r| HttpResponse::Ok().json(r))
        .ok_or_else(|| not_found(&id))
}

/// A rule from a request body, checked.
fn rule_of(body: &[u8], id: Option<&str>) -> Result<Rule, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_request(format!("the body is not JSON: {e}")))?;
    if let (Some(id), Some(object)) = (id, value.as_object_mut()) {
        match object.get("id").and_then(|v| v.as_str()) {
            Some(given) if given != id => {
                return Err(ApiError::bad_data(format!(
                    "the body's id {given:?} is not the rule's id {id:?}"
                )))
            }
            _ => {
                object.insert("id".into(), id.into());
            }
        }
    }
    let spec: RuleSpec =
        serde_json::from_value(value).map_err(|e| ApiError::bad_data(e.to_string()))?;
    Rule::new(spec).map_err(ApiError::bad_data)
}

/// A failure to save the rules: the client is told only that the log has it.
fn internal(reason: String) -> ApiError {
    ApiError::Model(ModelError::new(ErrorKind::InternalError, reason))
}

fn from_file(id: &str) -> ApiError {
    ApiError::not_supported(format!(
        "rule {id:?} comes from --ingest-rules: change it in that file"
    ))
}

/// POST: a new rule, running at once and kept across restarts.
async fn create(api: web::Data<IngestApi>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let rule = rule_of(&body, None)?;
    let id = rule.spec.id.clone();
    let mut saved = api.saved.lock().await;
    if api.from_file.contains(&id) || saved.rules.contains_key(&id) {
        return Err(ApiError::Model(ModelError::new(
            ErrorKind::AlreadyExists,
            format!("an ingestion rule {id:?} exists already"),
        )));
    }
    let spec = rule.spec.clone();
    start_rule(&api.ingestion, &api.resolver, rule).await?;
    saved.rules.insert(id.clone(), spec);
    if let Err(e) = saved.save() {
        saved.rules.remove(&id);
        api.ingestion.remove(&id).await;
        return Err(internal(e));
    }
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{RULES_PATH}/{id}")))
        .finish())
}

/// PUT: the rule replaced as a whole (its counters start again).
async fn replace(
    api: web::Data<IngestApi>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if api.from_file.contains(id.as_str()) {
        return Err(from_file(&id));
    }
    let rule = rule_of(&body, Some(&id))?;
    let mut saved = api.saved.lock().await;
    let Some(old) = saved.rules.get(id.as_str()).cloned() else {
        return Err(not_found(&id));
    };
    let spec = rule.spec.clone();
    api.ingestion.remove(&id).await;
    if let Err(e) = start_rule(&api.ingestion, &api.resolver, rule).await {
        // The old rule runs again; the new one was refused.
        if let Ok(back) = Rule::new(old) {
            let _ = start_rule(&api.ingestion, &api.resolver, back).await;
        }
        return Err(e);
    }
    saved.rules.insert(id.to_string(), spec);
    saved.save().map_err(internal)?;
    Ok(HttpResponse::NoContent().finish())
}

/// DELETE: the rule stopped and forgotten.
async fn delete(
    api: web::Data<IngestApi>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if api.from_file.contains(id.as_str()) {
        return Err(from_file(&id));
    }
    let mut saved = api.saved.lock().await;
    if saved.rules.remove(id.as_str()).is_none() {
        return Err(not_found(&id));
    }
    api.ingestion.remove(&id).await;
    saved.save().map_err(internal)?;
    Ok(HttpResponse::NoContent().finish())
}
