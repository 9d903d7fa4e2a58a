//! Health probes and the metrics endpoint: served on the admin port (`/health/live`,
//! `/health/ready`, `/metrics`), so that probes do not queue behind API load, and on the API
//! port under `/health` unless `--api-health false`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use rigel_storage::BackendHealth;
use rigel_storage::Store;
use serde_json::json;

use crate::metrics::Metrics;

/// What the probes look at.
pub struct Health {
    store: Arc<dyn Store>,
    /// Set when shutdown begins: the broker is alive but should get no new traffic.
    draining: AtomicBool,
}

impl Health {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            draining: AtomicBool::new(false),
        }
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// `None` when ready, else why not.
    pub fn not_ready(&self) -> Option<String> {
        if self.draining.load(Ordering::Relaxed) {
            return Some("shutting down".to_owned());
        }
        match self.store.health() {
            BackendHealth::Ready => None,
            BackendHealth::WritesRefused(reason) => {
                Some(format!("the store refuses writes: {reason}"))
            }
            BackendHealth::Unreachable(reason) => {
                Some(format!("the database is unreachable: {reason}"))
            }
            BackendHealth::Closed => Some("the store is closed".to_owned()),
        }
    }
}

/// Shared by the admin and API servers.
pub struct Operations {
    pub health: Health,
    pub metrics: Metrics,
}

/// `GET /health/live`: the process serves HTTP.
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// `GET /health/ready`: 200 only when the store is open and takes writes and the broker is
/// not shutting down; 503 otherwise.
async fn ready(ops: web::Data<Operations>) -> HttpResponse {
    match ops.health.not_ready() {
        None => HttpResponse::Ok().json(json!({"status": "ready"})),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not ready", "reason": reason})),
    }
}

/// `GET /metrics`: every metric in the OpenMetrics text format.
async fn metrics(ops: web::Data<Operations>) -> HttpResponse {
    match ops.metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// `/health` with `/live`, `/ready` (also `/health` itself) and `/metrics`.
pub fn health_scope() -> actix_web::Scope {
    web::scope("/health")
        .route("", web::get().to(ready))
        .route("/live", web::get().to(live))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
}

/// The admin server's routes: the health scope and `/metrics`.
pub fn configure_admin(cfg: &mut web::ServiceConfig) {
    cfg.service(health_scope())
        .route("/metrics", web::get().to(metrics));
}
