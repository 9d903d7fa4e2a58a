//! `rigel import --from orion-ld`: Orion-LD's subscriptions parsed as the API parses a new
//! subscription, their terms expanded with the @context Orion-LD kept for each (fetched
//! through the broker's outbound client, as any @context is).

use std::process::ExitCode;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rigel_egress::{Egress, EgressConfig};
use rigel_jsonld::{ContextResolver, ResolverConfig};
use rigel_model::subscription::parse::parse_subscription;
use rigel_model::subscription::{Subscription, SubscriptionKind};
use rigel_subscriptions::freeze_terms;
use rigel_transfer::orion::{import_orion_ld, SubscriptionParser};
use rigel_transfer::ImportOptions;
use serde_json::{Map, Value};

use super::{fail, reported};
use crate::backend::open_for_command;
use crate::Config;

/// The core @context, for subscriptions Orion-LD kept without one.
const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld";

pub(super) async fn import(
    config: &Config,
    url: &str,
    database: &str,
    options: ImportOptions,
) -> ExitCode {
    if !(url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")) {
        return fail(&format!(
            "--from orion-ld takes Orion-LD's MongoDB connection string, not {url:?}"
        ));
    }
    let parser = match Parser::new(config) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let store = match open_for_command(config).await {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    let done = import_orion_ld(url, database, &*store, &parser, options).await;
    let _ = store.close().await;
    match done {
        Ok(report) => reported(&report),
        Err(e) => fail(&format!("import failed: {e}")),
    }
}

/// Parses subscription bodies with the @context resolver the broker would use.
struct Parser {
    resolver: ContextResolver,
}

impl Parser {
    fn new(config: &Config) -> Result<Self, String> {
        let egress = Egress::new(EgressConfig {
            timeout: Duration::from_millis(config.forward_timeout_ms.max(1)),
            ..EgressConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let resolver = ContextResolver::with_egress(
            ResolverConfig {
                fetch_timeout: config.context_timeout(),
                max_context_bytes: config.context_max_bytes,
                cached_context_lifetime: config.context_cache_lifetime(),
                ..ResolverConfig::default()
            },
            egress,
        )
        .map_err(|e| e.to_string())?;
        Ok(Parser { resolver })
    }
}

#[async_trait]
impl SubscriptionParser for Parser {
    async fn parse(
        &self,
        body: &Map<String, Value>,
        context: Option<&str>,
    ) -> Result<Subscription, String> {
        let url = context.unwrap_or(CORE_CONTEXT);
        let terms = self
            .resolver
            .resolve(Some(&Value::String(url.to_owned())))
            .await
            .map_err(|e| format!("its @context {url}: {e}"))?;
        let mut subscription = parse_subscription(
            SubscriptionKind::Entities,
            body,
            terms.as_ref(),
            url,
            Utc::now(),
            String::new,
        )
        .map_err(|e| e.to_string())?;
        freeze_terms(&mut subscription, terms.as_ref()).map_err(|e| e.to_string())?;
        Ok(subscription)
    }
}
