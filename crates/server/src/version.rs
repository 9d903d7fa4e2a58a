//! `GET /version`: the build, in the shape Orion-LD answers it (client libraries call it to
//! check the connection, and tools that look for an Orion-LD broker read its
//! `orionld version` key), plus Rigel's own version and the NGSI-LD version it implements.

use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use serde_json::json;

/// The NGSI-LD specification version Rigel implements (ETSI GS CIM 009).
pub const NGSI_LD_VERSION: &str = "1.9.1";

/// The Orion-LD release whose client-visible API Rigel answers for, reported under
/// `orionld version` so that clients that check it accept Rigel (docs/conformance.md).
pub const ORIONLD_COMPATIBLE_VERSION: &str = "1.6.0";

/// The Orion (NGSIv2) version Orion-LD reports beside its own.
pub const ORION_COMPATIBLE_VERSION: &str = "1.15.0-next";

/// What was built, from the build script.
#[derive(Debug, Clone, Copy)]
pub struct BuildInfo {
    pub version: &'static str,
    pub git_hash: &'static str,
    /// Seconds since the Unix epoch when the build script ran.
    pub built_at: i64,
    pub ngsi_ld: &'static str,
}

impl BuildInfo {
    pub fn current() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION"),
            git_hash: env!("RIGEL_GIT_HASH"),
            built_at: env!("RIGEL_BUILD_EPOCH").parse().unwrap_or(0),
            ngsi_ld: NGSI_LD_VERSION,
        }
    }

    fn built_at_text(&self) -> String {
        chrono::DateTime::from_timestamp(self.built_at, 0)
            .map_or_else(|| "unknown".to_owned(), |t| t.to_rfc3339())
    }
}

/// When the broker started, for `uptime`.
#[derive(Debug, Clone, Copy)]
pub struct Started(pub Instant);

/// Orion's uptime text: `D d, H h, M m, S s`.
fn uptime_text(up: Duration) -> String {
    let s = up.as_secs();
    format!(
        "{} d, {} h, {} m, {} s",
        s / 86_400,
        s / 3_600 % 24,
        s / 60 % 60,
        s % 60
    )
}

/// The body of `GET /version`.
pub fn version_document(build: &BuildInfo, up: Duration) -> serde_json::Value {
    let built = build.built_at_text();
    json!({
        "orionld version": ORIONLD_COMPATIBLE_VERSION,
        "orion version": ORION_COMPATIBLE_VERSION,
        "uptime": uptime_text(up),
        "git_hash": build.git_hash,
        "compile_time": built,
        "compiled_by": "cargo",
        "compiled_in": "rigel",
        "release_date": built,
        "doc": "https://www.etsi.org/committee/cim",
        "rigel version": build.version,
        "ngsi-ld version": build.ngsi_ld,
    })
}

/// `GET /statistics`, Orion's: how long the broker has run (client libraries read it as a
/// second connection check).
pub async fn statistics(started: web::Data<Started>) -> HttpResponse {
    let up = started.0.elapsed().as_secs();
    HttpResponse::Ok().json(json!({"uptime_in_secs": up, "measuring_interval_in_secs": up}))
}

/// `GET /version`.
pub async fn version(started: web::Data<Started>) -> HttpResponse {
    HttpResponse::Ok().json(version_document(&BuildInfo::current(), started.0.elapsed()))
}
