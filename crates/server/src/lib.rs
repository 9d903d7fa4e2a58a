//! The `rigel` server: wires configuration, the embedded store, the broker, the HTTP API and
//! the admin server (health, metrics), and runs them until a graceful shutdown. Holds no
//! business rules.

mod access;
pub mod auth;
mod backend;
pub mod commands;
pub mod config;
mod console;
mod contexts;
mod health;
mod ingest;
mod limits;
mod metrics;
mod outbound;
mod outbox;
mod replicas;
mod retention;
mod shutdown;
pub mod tls;
mod version;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{middleware, web, App, HttpServer};
use rigel_broker::federation::Federation;
use rigel_broker::{Broker, SystemClock};
use rigel_egress::{Egress, EgressConfig};
use rigel_forward::HttpSources;
use rigel_http_api::{AppState, Limits};
use rigel_jsonld::{ContextResolver, ResolverConfig};
use rigel_storage::Store;
use rigel_subscriptions::{ServiceOptions, SubscriptionService};

pub use access::route_template;
pub use config::{Command, Config, ConfigError, ImportFrom, LogFormat};
pub use shutdown::Stopped;
pub use version::{version_document, BuildInfo, NGSI_LD_VERSION, ORIONLD_COMPATIBLE_VERSION};

use access::AccessLog;
use health::{Health, Operations};
use metrics::{LiveState, Metrics};
use version::Started;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store at {at}: {source}")]
    Store {
        at: String,
        source: rigel_storage::StorageError,
    },
    #[error("unknown store {0:?}: --store takes `embedded` or a mongodb:// connection string")]
    StoreKind(String),
    #[error("cannot set up @context resolution: {0}")]
    Context(#[from] rigel_jsonld::JsonLdError),
    #[error("cannot start subscriptions: {0}")]
    Subscriptions(String),
    #[error("cannot start the ingestion: {0}")]
    Ingestion(String),
    #[error("cannot read the changes the last run left to notify: {0}")]
    Outbox(rigel_storage::StorageError),
    #[error("cannot load the context source registrations: {0}")]
    Registrations(rigel_storage::StorageError),
    #[error("cannot set up calls to context sources: {0}")]
    Federation(String),
    #[error("--egress-allow: {0}")]
    Egress(String),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("cannot set up authentication: {0}")]
    Auth(#[from] auth::AuthSetupError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A started server: its addresses and what a shutdown must stop, in order.
pub struct RunningServer {
    /// The NGSI-LD API.
    pub addr: SocketAddr,
    /// The admin server (health probes, metrics).
    pub admin_addr: SocketAddr,
    /// Runs the API server until it stops (the server is a future: it serves while polled).
    api: tokio::task::JoinHandle<std::io::Result<()>>,
    api_handle: actix_web::dev::ServerHandle,
    admin_handle: actix_web::dev::ServerHandle,
    store: Arc<dyn Store>,
    subscriptions: SubscriptionService,
    /// Context Source Registrations: their forwarding status is saved at shutdown.
    registry: Arc<rigel_broker::Registry>,
    /// MQTT ingestion: disconnected at shutdown.
    ingestion: rigel_ingest::Ingestion,
    operations: web::Data<Operations>,
    grace: Duration,
}

/// Opens the store, loads the subscriptions and binds the API and admin servers; the returned
/// server is already running. Must be called within an actix system (tokio runtime).
pub async fn start(config: &Config) -> Result<RunningServer, StartError> {
    let started = Instant::now();
    let mut metrics = Metrics::new();
    let store = backend::open(config, &metrics).await?;
    // One outbound client for every call the broker makes: @context downloads,
    // notifications and requests forwarded to context sources.
    let egress = Egress::new(EgressConfig {
        timeout: Duration::from_millis(config.forward_timeout_ms.max(1)),
        policy: config.egress.policy().map_err(StartError::Egress)?,
        extra_roots: tls::extra_roots(&config.tls)?,
        ..EgressConfig::default()
    })
    .map_err(|e| StartError::Federation(e.to_string()))?;
    let resolver_config = ResolverConfig {
        fetch_timeout: config.context_timeout(),
        max_context_bytes: config.context_max_bytes,
        cached_context_lifetime: config.context_cache_lifetime(),
        hosted_dir: Some(config.contexts_dir()),
        ..ResolverConfig::default()
    };
    let resolver = if store.shared_contexts().is_some() {
        // Brokers sharing the store share their served @contexts through it.
        let shelf = Arc::new(contexts::StoreShelf(store.clone()));
        ContextResolver::with_shelf(resolver_config, egress.clone(), shelf).await?
    } else {
        ContextResolver::with_egress(resolver_config, egress.clone())?
    };
    let verifier = auth::verifier(&config.auth).await?;
    let clock = Arc::new(SystemClock);
    let subscriptions = SubscriptionService::new(
        store.clone(),
        store.clone(),
        resolver.clone(),
        clock.clone(),
        ServiceOptions {
            egress: Some(egress.clone()),
            gate: verifier
                .clone()
                .map(|v| Arc::new(auth::OwnerGate(v)) as Arc<dyn rigel_subscriptions::NotifyGate>),
            ..subscription_options(config)
        },
    )
    .map_err(|e| StartError::Subscriptions(e.to_string()))?;
    let registry = Arc::new(
        rigel_broker::Registry::load(store.clone())
            .await
            .map_err(StartError::Registrations)?,
    );
    subscriptions.set_registration_source(registry.clone());
    let loaded = subscriptions
        .start()
        .await
        .map_err(|e| StartError::Subscriptions(e.to_string()))?;
    if loaded > 0 {
        tracing::info!(subscriptions = loaded, "subscriptions loaded");
    }
    let ingestion_metrics = Arc::new(std::sync::OnceLock::new());
    metrics.watch(LiveState {
        ingestion: Arc::clone(&ingestion_metrics),
        store: store.clone(),
        subscriptions: subscriptions.clone(),
        resolver: resolver.clone(),
        build: BuildInfo::current(),
        started,
    });
    let operations = web::Data::new(Operations {
        health: Health::new(store.clone()),
        metrics,
    });
    let federation = federation(config, egress.clone(), resolver.clone())?;
    actix_web::rt::spawn(save_forwarding_status(registry.clone()));
    let broker = Broker::new(store.clone(), clock);
    let broker = if let Some(shared) = store.shared() {
        // Several brokers may share this store: changes reach subscriptions through its
        // feed (this broker's own too), and leases say which subscriptions it delivers.
        shared.follow(Arc::new(replicas::Feed {
            subscriptions: subscriptions.clone(),
            registry: registry.clone(),
            contexts: resolver.clone(),
        }));
        replicas::hold_once(&store, &subscriptions).await;
        actix_web::rt::spawn(replicas::hold_leases(store.clone(), subscriptions.clone()));
        broker.with_subscriptions_fed_by_store(subscriptions.clone())
    } else if store.outbox().is_some() {
        // Changes are noted in the store's outbox with their writes; what the last run
        // left there undelivered is offered again now.
        outbox::replay(&store, &subscriptions).await?;
        actix_web::rt::spawn(outbox::forget_done(store.clone(), subscriptions.clone()));
        broker
            .with_subscriptions(subscriptions.clone())
            .with_change_outbox()
    } else {
        broker.with_subscriptions(subscriptions.clone())
    };
    let broker = broker
        .with_registrations(registry.clone())
        .with_federation(federation)
        .with_history(config.history)
        .with_instance_page(config.temporal_page_size)
        .with_quotas(rigel_broker::Quotas {
            subscriptions: config.limits.max_subscriptions_per_tenant,
            registrations: config.limits.max_registrations_per_tenant,
        })
        .with_query_memory(config.limits.max_query_bytes)
        .with_entity_memory(config.limits.max_entity_bytes);
    if let Some(retention) = retention::Retention::from_config(config) {
        actix_web::rt::spawn(retention::run(broker.clone(), retention));
    }
    let limits = Limits {
        max_body_bytes: config.max_body_bytes,
        max_uri_bytes: config.max_uri_bytes,
        default_page_size: config.default_page_size,
        max_page_size: config.max_page_size,
        body_timeout: Duration::from_millis(config.limits.body_timeout_ms.max(1)),
        max_response_bytes: config.limits.max_response_bytes,
    };
    let admission = limits::Admission::new(&config.limits);
    actix_web::rt::spawn(limits::sweep(admission.clone()));
    let alias = alias(config).map_err(|e| StartError::Ingestion(e.to_string()))?;
    let ingestion = ingest::start(
        ingest::Sources {
            file: config.ingest_rules.as_deref(),
            data_dir: &config.data_dir,
            alias: &alias,
            replicas: store.shared().is_some(),
        },
        broker.clone(),
        &resolver,
        egress,
    )
    .await?;
    let _ = ingestion_metrics.set(ingestion.ingestion.clone());
    let running_ingestion = ingestion.ingestion.clone();
    let ingestion = web::Data::new(ingestion);
    let state = web::Data::new(AppState::new(broker, resolver, limits));
    let started_at = web::Data::new(Started(started));
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let log = AccessLog {
        enabled: config.request_log,
    };
    let api_health = config.api_health;
    let console = config.console.then(|| {
        console::Mounted::new(console::ConsoleSettings {
            tiles: config.console_tiles.clone(),
            tiles_attribution: config.console_tiles_attribution.clone(),
        })
    });
    if let (Some(_), Some(reason)) = (&console, rigel_console::missing()) {
        tracing::warn!("the web console is not in this binary: {reason}");
    }
    let api_ops = operations.clone();
    let mut api = HttpServer::new(move || {
        let verifier = verifier.clone();
        let admission = admission.clone();
        let app = App::new()
            .app_data(state.clone())
            .app_data(ingestion.clone())
            .app_data(api_ops.clone())
            .app_data(started_at.clone())
            .wrap(middleware::from_fn(move |req, next| {
                rigel_http_api::guard::guard(verifier.clone(), req, next)
            }))
            .wrap(middleware::from_fn(move |req, next| {
                rigel_http_api::edge(limits, req, next)
            }))
            .wrap(middleware::from_fn(move |req, next| {
                limits::admit(admission.clone(), req, next)
            }))
            .wrap(middleware::from_fn(move |req, next| {
                access::observe(log, req, next)
            }))
            .route("/version", web::get().to(version::version))
            .route("/statistics", web::get().to(version::statistics));
        let app = if api_health {
            app.service(health::health_scope())
        } else {
            app
        };
        let app = match &console {
            Some(mounted) => app.configure(console::configure(mounted.clone())),
            None => app,
        };
        app.configure(ingest::configure)
            .configure(rigel_http_api::configure)
    })
    .disable_signals()
    .shutdown_timeout(config.shutdown_grace_secs)
    .client_request_timeout(Duration::from_millis(
        config.limits.header_timeout_ms.max(1),
    ))
    .keep_alive(Duration::from_secs(config.limits.keep_alive_secs));
    let workers = config.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    // actix bounds connections per worker.
    api = api.workers(workers).max_connections(
        config
            .limits
            .max_connections
            .div_ceil(workers.max(1))
            .max(1),
    );
    let certificate = match (&config.tls.tls_cert, &config.tls.tls_key) {
        (Some(cert), Some(key)) => Some(tls::Certificate::load(cert, key)?),
        _ => None,
    };
    actix_web::rt::spawn(tls::reload_on_sighup(certificate.clone()));
    let addr = SocketAddr::new(config.bind, config.port);
    let bind_error = |addr: SocketAddr| {
        move |source| StartError::Bind {
            addr: addr.to_string(),
            source,
        }
    };
    let api = match &certificate {
        Some(c) => api.bind_rustls_0_23(addr, c.server_config()?),
        None => api.bind(addr),
    }
    .map_err(bind_error(addr))?;
    let bound = api.addrs().first().copied().unwrap_or(addr);

    let admin_ops = operations.clone();
    let admin_addr = SocketAddr::new(config.admin_bind, config.admin_port);
    let admin = HttpServer::new(move || {
        App::new()
            .app_data(admin_ops.clone())
            .configure(health::configure_admin)
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1);
    let admin = match certificate.as_ref().filter(|_| config.tls.admin_tls) {
        Some(c) => admin.bind_rustls_0_23(admin_addr, c.server_config()?),
        None => admin.bind(admin_addr),
    }
    .map_err(bind_error(admin_addr))?;
    let admin_bound = admin.addrs().first().copied().unwrap_or(admin_addr);
    let scheme = if certificate.is_some() {
        "https"
    } else {
        "http"
    };
    let admin_scheme = if certificate.is_some() && config.tls.admin_tls {
        "https"
    } else {
        "http"
    };

    let api = api.run();
    let api_handle = api.handle();
    let api = actix_web::rt::spawn(api);
    let admin = admin.run();
    let admin_handle = admin.handle();
    actix_web::rt::spawn(admin);
    tracing::info!(addr = %bound, data_dir = %config.data_dir.display(), "NGSI-LD API listening at {scheme}://{bound}/ngsi-ld/v1");
    tracing::info!(addr = %admin_bound, "health probes and metrics at {admin_scheme}://{admin_bound}/health/ready and /metrics");
    Ok(RunningServer {
        addr: bound,
        admin_addr: admin_bound,
        api,
        api_handle,
        admin_handle,
        store,
        subscriptions,
        registry,
        ingestion: running_ingestion,
        operations,
        grace,
    })
}

/// Adds the forwarding counts of registrations to the store every second (as subscriptions'
/// delivery counters are saved), until the process ends; shutdown saves the last ones.
async fn save_forwarding_status(registry: Arc<rigel_broker::Registry>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        registry.save_status().await;
    }
}

/// How the broker calls context sources, and who it is to them.
fn federation(
    config: &Config,
    egress: Egress,
    resolver: ContextResolver,
) -> Result<Federation, StartError> {
    let timeout = Duration::from_millis(config.forward_timeout_ms.max(1));
    Ok(Federation {
        sources: Arc::new(HttpSources::new(egress).with_resolver(resolver)),
        alias: alias(config).map_err(|e| StartError::Federation(e.to_string()))?,
        timeout,
    })
}

/// The configured alias, else the one kept in the data directory (made on first start).
fn alias(config: &Config) -> std::io::Result<String> {
    if let Some(alias) = &config.alias {
        return Ok(alias.clone());
    }
    let path = config.data_dir.join("alias");
    match std::fs::read_to_string(&path) {
        Ok(kept) if !kept.trim().is_empty() => Ok(kept.trim().to_owned()),
        Ok(_) | Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let made = format!("rigel-{:x}{:x}", nanos, std::process::id());
            std::fs::create_dir_all(&config.data_dir)?;
            std::fs::write(&path, format!("{made}\n"))?;
            Ok(made)
        }
    }
}

fn subscription_options(config: &Config) -> ServiceOptions {
    ServiceOptions {
        queue_capacity: config.notification_queue,
        delivery_timeout: std::time::Duration::from_millis(config.notification_timeout_ms),
        ..ServiceOptions::default()
    }
}
