//! The `rigel` server: wires configuration, the embedded store, the broker and the HTTP API,
//! and runs the HTTP server until shutdown. Holds no business rules.

pub mod config;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{middleware, web, App, HttpServer};
use rigel_broker::{Broker, SystemClock};
use rigel_http_api::{AppState, Limits};
use rigel_jsonld::{ContextResolver, ResolverConfig};
use rigel_storage_embedded::{EmbeddedOptions, EmbeddedStore};
use rigel_subscriptions::{ServiceOptions, SubscriptionService};

pub use config::Config;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store in {dir}: {source}")]
    Store {
        dir: String,
        source: rigel_storage::StorageError,
    },
    #[error("cannot set up @context resolution: {0}")]
    Context(#[from] rigel_jsonld::JsonLdError),
    #[error("cannot start subscriptions: {0}")]
    Subscriptions(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A started server: its address and a handle to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub server: actix_web::dev::Server,
    store: Arc<EmbeddedStore>,
    subscriptions: SubscriptionService,
}

impl RunningServer {
    /// Stops accepting requests, lets in-flight ones finish, then closes the store.
    pub async fn stop(self) {
        self.server.handle().stop(true).await;
        self.subscriptions.shutdown().await;
        close_store(&self.store).await;
    }

    /// Runs until the server stops (SIGINT/SIGTERM), then closes the store.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.subscriptions.shutdown().await;
        close_store(&self.store).await;
        result
    }
}

async fn close_store(store: &EmbeddedStore) {
    if let Err(e) = store.close().await {
        tracing::error!("closing the store failed: {e}");
    }
}

/// Opens the store, loads the subscriptions and binds the HTTP server; the returned server is
/// already running. Must be called within a tokio runtime (notification delivery runs on it).
pub async fn start(config: &Config) -> Result<RunningServer, StartError> {
    let store = Arc::new(
        EmbeddedStore::open_with(&config.data_dir, store_options(config)).map_err(|source| {
            StartError::Store {
                dir: config.data_dir.display().to_string(),
                source,
            }
        })?,
    );
    let resolver = ContextResolver::new(ResolverConfig {
        fetch_timeout: config.context_timeout(),
        max_context_bytes: config.context_max_bytes,
        cached_context_lifetime: config.context_cache_lifetime(),
        hosted_dir: Some(config.contexts_dir()),
        ..ResolverConfig::default()
    })?;
    let clock = Arc::new(SystemClock);
    let subscriptions = SubscriptionService::new(
        store.clone(),
        store.clone(),
        resolver.clone(),
        clock.clone(),
        subscription_options(config),
    )
    .map_err(|e| StartError::Subscriptions(e.to_string()))?;
    let loaded = subscriptions
        .start()
        .await
        .map_err(|e| StartError::Subscriptions(e.to_string()))?;
    if loaded > 0 {
        tracing::info!(subscriptions = loaded, "subscriptions loaded");
    }
    let broker = Broker::new(store.clone(), clock).with_subscriptions(subscriptions.clone());
    let limits = Limits {
        max_body_bytes: config.max_body_bytes,
        max_uri_bytes: config.max_uri_bytes,
        default_page_size: config.default_page_size,
        max_page_size: config.max_page_size,
    };
    let state = web::Data::new(AppState::new(broker, resolver, limits));
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(middleware::from_fn(move |req, next| {
                rigel_http_api::edge(limits, req, next)
            }))
            .configure(rigel_http_api::configure)
    });
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    let addr = SocketAddr::new(config.bind, config.port);
    let server = server.bind(addr).map_err(|source| StartError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    let server = server.run();
    tracing::info!(addr = %bound, data_dir = %config.data_dir.display(), "NGSI-LD API listening at http://{bound}/ngsi-ld/v1");
    Ok(RunningServer {
        addr: bound,
        server,
        store,
        subscriptions,
    })
}

/// Notification delivery tuning from the configuration.
fn subscription_options(config: &Config) -> ServiceOptions {
    ServiceOptions {
        queue_capacity: config.notification_queue,
        delivery_timeout: std::time::Duration::from_millis(config.notification_timeout_ms),
        ..ServiceOptions::default()
    }
}

/// The embedded store's tuning from the configuration.
fn store_options(config: &Config) -> EmbeddedOptions {
    let mut options = EmbeddedOptions::default();
    options.entity_cache_bytes = config.entity_cache_bytes;
    options
}
