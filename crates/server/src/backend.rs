//! Opens the backend `--store` names: the embedded store in `--data-dir`, or a MongoDB
//! deployment by its connection string. The rest of the server sees only `dyn Store`.

use std::sync::Arc;
use std::time::Duration;

use rigel_storage::Store;
use rigel_storage_embedded::{EmbeddedOptions, EmbeddedStore};
use rigel_storage_mongodb::{MongoOptions, MongoStore};

use crate::metrics::Metrics;
use crate::{Config, StartError};

/// Opens the configured store; a MongoDB store that is unreachable is waited for.
pub(crate) async fn open(config: &Config, metrics: &Metrics) -> Result<Arc<dyn Store>, StartError> {
    open_with(config, metrics, true).await
}

/// Opens the configured store for a command: an unreachable database is an error at once.
pub(crate) async fn open_for_command(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    open_with(config, &Metrics::new(), false).await
}

async fn open_with(
    config: &Config,
    metrics: &Metrics,
    wait: bool,
) -> Result<Arc<dyn Store>, StartError> {
    let store = config.store.trim();
    if store.starts_with("mongodb://") || store.starts_with("mongodb+srv://") {
        let mut options = MongoOptions::new(store);
        options.database.clone_from(&config.mongo_database);
        options.timeout = Duration::from_millis(config.mongo_timeout_ms.max(1));
        options.deadline = Duration::from_millis(config.mongo_deadline_ms.max(1));
        let mongo = connect(options, store, wait).await?;
        tracing::info!(at = %redacted(store), database = %config.mongo_database, "MongoDB store");
        return Ok(Arc::new(mongo));
    }
    if store != "embedded" {
        return Err(StartError::StoreKind(store.to_owned()));
    }
    let embedded = EmbeddedStore::open_with(&config.data_dir, embedded_options(config, metrics))
        .map_err(|source| StartError::Store {
            at: config.data_dir.display().to_string(),
            source,
        })?;
    Ok(Arc::new(embedded))
}

/// Connects to MongoDB. A `patient` caller waits while it is unreachable (a broker started
/// before its database, or during a failover, comes up when the database does); any other
/// failure, or any failure of an impatient caller, stops the start.
async fn connect(
    options: MongoOptions,
    url: &str,
    patient: bool,
) -> Result<MongoStore, StartError> {
    let mut wait = Duration::from_millis(500);
    loop {
        match MongoStore::connect(options.clone()).await {
            Ok(store) => return Ok(store),
            Err(e) if patient && e.is_retryable() => {
                tracing::warn!(at = %redacted(url), error = %e, "MongoDB unreachable, retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
            Err(source) => {
                return Err(StartError::Store {
                    at: redacted(url),
                    source,
                })
            }
        }
    }
}

/// The embedded store's tuning from the configuration.
fn embedded_options(config: &Config, metrics: &Metrics) -> EmbeddedOptions {
    let mut options = EmbeddedOptions::default();
    options.entity_cache_bytes = config.entity_cache_bytes;
    options.value_index = config.value_index;
    options.checkpoint_interval = std::time::Duration::from_millis(config.checkpoint_interval_ms);
    options.observer = Some(metrics.store_observer());
    options
}

/// A connection string without its credentials, for logs and errors.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn credentials_never_reach_logs() {
        assert_eq!(
            redacted("mongodb://user:secret@db1:27017,db2/?replicaSet=rs0"),
            "mongodb://***@db1:27017,db2/?replicaSet=rs0"
        );
        assert_eq!(redacted("mongodb://db1/x"), "mongodb://db1/x");
    }
}
