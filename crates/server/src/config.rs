//! Configuration from command-line flags and environment variables (see docs/configuration.md).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Rigel, an NGSI-LD context broker.
#[derive(Debug, Clone, Parser)]
#[command(name = "rigel", version, about)]
pub struct Config {
    /// TCP port of the NGSI-LD API.
    #[arg(long, env = "RIGEL_PORT", default_value_t = 1026)]
    pub port: u16,

    /// Address to listen on.
    #[arg(long, env = "RIGEL_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// Directory of the embedded store (created if missing).
    #[arg(long, env = "RIGEL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Log filter, e.g. `info`, `rigel=debug,actix_web=info`.
    #[arg(long, env = "RIGEL_LOG", default_value = "info")]
    pub log_level: String,

    /// Largest accepted request body, in bytes (413 beyond).
    #[arg(long, env = "RIGEL_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Longest accepted request URI (path and query), in bytes (414 beyond).
    #[arg(long, env = "RIGEL_MAX_URI_BYTES", default_value_t = 8 * 1024)]
    pub max_uri_bytes: usize,

    /// Memory for decoded entities kept hot by the embedded store, in bytes (0 disables).
    #[arg(long, env = "RIGEL_ENTITY_CACHE_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub entity_cache_bytes: usize,

    /// Page size of a query that gives no `limit`.
    #[arg(long, env = "RIGEL_DEFAULT_PAGE_SIZE", default_value_t = 20)]
    pub default_page_size: usize,

    /// Largest `limit` a query may ask for (TooManyResults beyond).
    #[arg(long, env = "RIGEL_MAX_PAGE_SIZE", default_value_t = 1000)]
    pub max_page_size: usize,

    /// Timeout for fetching a remote @context, in milliseconds.
    #[arg(long, env = "RIGEL_CONTEXT_TIMEOUT_MS", default_value_t = 5000)]
    pub context_timeout_ms: u64,

    /// Largest accepted remote @context document, in bytes.
    #[arg(long, env = "RIGEL_CONTEXT_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub context_max_bytes: usize,

    /// How long a downloaded @context is used before it is downloaded again, in seconds,
    /// when its HTTP response gives no `Cache-Control` lifetime.
    #[arg(long, env = "RIGEL_CONTEXT_CACHE_SECS", default_value_t = 3600)]
    pub context_cache_secs: u64,

    /// Changes queued per subscription before further ones are dropped (and counted as lost
    /// on the subscription) while its endpoint falls behind.
    #[arg(long, env = "RIGEL_NOTIFICATION_QUEUE", default_value_t = 10_000)]
    pub notification_queue: usize,

    /// How long a notification may take before it counts as failed, in milliseconds, when
    /// the subscription's endpoint sets no `timeout`.
    #[arg(long, env = "RIGEL_NOTIFICATION_TIMEOUT_MS", default_value_t = 10_000)]
    pub notification_timeout_ms: u64,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "RIGEL_WORKERS")]
    pub workers: Option<usize>,
}

impl Config {
    pub fn context_timeout(&self) -> Duration {
        Duration::from_millis(self.context_timeout_ms)
    }

    pub fn context_cache_lifetime(&self) -> Duration {
        Duration::from_secs(self.context_cache_secs)
    }

    /// Where hosted @contexts are kept: `contexts` in the data directory.
    pub fn contexts_dir(&self) -> PathBuf {
        self.data_dir.join("contexts")
    }

    /// A configuration with defaults, for tests and embedding.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        let mut c = Self::parse_from(["rigel"]);
        c.data_dir = data_dir;
        c
    }
}
