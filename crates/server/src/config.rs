//! Configuration from command-line flags and environment variables (see docs/configuration.md).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser, ValueEnum};

/// Rigel, an NGSI-LD context broker.
#[derive(Debug, Clone, Parser)]
#[command(name = "rigel", version, about = "Rigel, an NGSI-LD context broker")]
pub struct Config {
    /// A command to run instead of the broker (export, import); none runs the broker.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// TCP port of the NGSI-LD API (Orion-LD: ORIONLD_PORT).
    #[arg(long, env = "RIGEL_PORT", default_value_t = 1026)]
    pub port: u16,

    /// Address to listen on (Orion-LD: ORIONLD_LOCALIP).
    #[arg(long, env = "RIGEL_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// TCP port of the admin server: health probes and Prometheus metrics (0 picks a free
    /// port).
    #[arg(long, env = "RIGEL_ADMIN_PORT", default_value_t = 9026)]
    pub admin_port: u16,

    /// Address the admin server listens on.
    #[arg(long, env = "RIGEL_ADMIN_BIND", default_value = "0.0.0.0")]
    pub admin_bind: IpAddr,

    /// Also serve the health probes and metrics on the API port under /health.
    #[arg(long, env = "RIGEL_API_HEALTH", default_value_t = true, action = ArgAction::Set)]
    pub api_health: bool,

    /// Log one line per request (method, path, tenant, status, latency, bytes, request id).
    #[arg(long, env = "RIGEL_REQUEST_LOG", default_value_t = true, action = ArgAction::Set)]
    pub request_log: bool,

    /// Log line format: text or json.
    #[arg(long, env = "RIGEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// On SIGTERM or SIGINT, how long in-flight requests and queued notifications may take
    /// before the broker closes anyway, in seconds.
    #[arg(long, env = "RIGEL_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,

    /// Directory of the embedded store (created if missing); with a MongoDB store, it holds
    /// the hosted @contexts only.
    #[arg(long, global = true, env = "RIGEL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Where entities, history, subscriptions and registrations are kept: `embedded` (the
    /// store in `--data-dir`) or a MongoDB connection string (`mongodb://host/?replicaSet=rs0`,
    /// `mongodb+srv://...`; ADR 0006).
    #[arg(long, global = true, env = "RIGEL_STORE", default_value = "embedded")]
    pub store: String,

    /// With a MongoDB store: the default tenant's database, and the prefix of the other
    /// tenants' databases (`<name>-<tenant>`).
    #[arg(
        long,
        global = true,
        env = "RIGEL_MONGO_DATABASE",
        default_value = "rigel"
    )]
    pub mongo_database: String,

    /// With a MongoDB store: how long a request waits for a usable database server before it
    /// fails with 503 (milliseconds).
    #[arg(
        long,
        global = true,
        env = "RIGEL_MONGO_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub mongo_timeout_ms: u64,

    /// With a MongoDB store: how long one read or commit may take in all before the request
    /// fails with 503 (milliseconds); a database too slow to answer counts as away.
    #[arg(
        long,
        global = true,
        env = "RIGEL_MONGO_DEADLINE_MS",
        default_value_t = 15000
    )]
    pub mongo_deadline_ms: u64,

    /// Log filter, e.g. `info`, `rigel=debug,actix_web=info` (Orion-LD: ORIONLD_LOG_LEVEL,
    /// NONE, FATAL, ERROR, WARN, INFO or DEBUG).
    #[arg(long, global = true, env = "RIGEL_LOG", default_value = "info")]
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

    /// Keep the value index of the embedded store (attribute values, relationship objects,
    /// scopes, geohash cells) and answer queries from it; `false` drops it (ADR 0004).
    #[arg(long, env = "RIGEL_VALUE_INDEX", default_value_t = true, action = ArgAction::Set)]
    pub value_index: bool,

    /// Longest time, in milliseconds, between a write to the embedded store and the
    /// checkpoint that makes its database file durable, writes the value-index rows held in
    /// memory into it and empties the write-ahead log (writes are durable in the log before
    /// they are acknowledged). Longer: fewer, larger checkpoints (cheaper per write), a
    /// longer log to replay after a crash.
    #[arg(long, env = "RIGEL_CHECKPOINT_INTERVAL_MS", default_value_t = 1000)]
    pub checkpoint_interval_ms: u64,

    /// Page size of a query that gives no `limit`.
    #[arg(long, env = "RIGEL_DEFAULT_PAGE_SIZE", default_value_t = 20)]
    pub default_page_size: usize,

    /// Largest `limit` a query may ask for (TooManyResults beyond).
    #[arg(long, env = "RIGEL_MAX_PAGE_SIZE", default_value_t = 1000)]
    pub max_page_size: usize,

    /// Timeout for fetching a remote @context, in milliseconds (Orion-LD:
    /// ORIONLD_CONTEXT_DOWNLOAD_TIMEOUT).
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
    /// the subscription's endpoint sets no `timeout` (Orion-LD: ORIONLD_HTTP_TIMEOUT).
    #[arg(long, env = "RIGEL_NOTIFICATION_TIMEOUT_MS", default_value_t = 10_000)]
    pub notification_timeout_ms: u64,

    /// Keep the history of every entity change for the temporal API (`false`: entity writes
    /// record nothing; the temporal API still serves what was recorded or provided).
    #[arg(long, env = "RIGEL_HISTORY", default_value_t = true, action = ArgAction::Set)]
    pub history: bool,

    /// Forget history instances older than this many seconds (0: keep them forever). The
    /// age is that of the instance's observedAt, or of when it was recorded.
    #[arg(long, env = "RIGEL_HISTORY_MAX_AGE_SECS", default_value_t = 0)]
    pub history_max_age_secs: u64,

    /// Keep at most this many instances per attribute of an entity (0: no bound).
    #[arg(long, env = "RIGEL_HISTORY_MAX_INSTANCES", default_value_t = 0)]
    pub history_max_instances: usize,

    /// How often the retention sweep runs, in seconds.
    #[arg(long, env = "RIGEL_HISTORY_SWEEP_SECS", default_value_t = 60)]
    pub history_sweep_secs: u64,

    /// At most this many instances per attribute in one temporal response; a larger range
    /// is answered 206 Partial Content with a Content-Range saying where to go on (6.3.10).
    #[arg(long, env = "RIGEL_TEMPORAL_PAGE_SIZE", default_value_t = rigel_broker::temporal::DEFAULT_INSTANCE_PAGE, value_parser = clap::value_parser!(usize))]
    pub temporal_page_size: usize,

    /// How long a request forwarded to a context source may take, in milliseconds, when its
    /// registration sets no `management.timeout`.
    #[arg(long, env = "RIGEL_FORWARD_TIMEOUT_MS", default_value_t = 3000)]
    pub forward_timeout_ms: u64,

    /// This broker's alias as a context source (clause 5.2.40): its pseudonym in the `Via`
    /// of forwarded requests, by which loops are found. Default: generated once and kept in
    /// the data directory (`alias`).
    #[arg(long, env = "RIGEL_ALIAS")]
    pub alias: Option<String>,

    /// A JSON file of ingestion rules (MQTT topics turned into entity writes,
    /// docs/ingestion.md), started with the broker.
    #[arg(long, env = "RIGEL_INGEST_RULES")]
    pub ingest_rules: Option<PathBuf>,

    /// Serve the web console at /console (docs/console.md).
    #[arg(long, env = "RIGEL_CONSOLE", default_value_t = true, action = ArgAction::Set)]
    pub console: bool,

    /// A tile server for the console's map, as a URL template
    /// (`https://tile.example.org/{z}/{x}/{y}.png`); without one the map is drawn on a plain
    /// background and needs no internet.
    #[arg(long, env = "RIGEL_CONSOLE_TILES")]
    pub console_tiles: Option<String>,

    /// The attribution the tile server asks to be shown on the map.
    #[arg(long, env = "RIGEL_CONSOLE_TILES_ATTRIBUTION")]
    pub console_tiles_attribution: Option<String>,

    /// HTTP worker threads (default: one per core; Orion-LD: ORIONLD_TRQ_POOL_SIZE).
    #[arg(long, env = "RIGEL_WORKERS")]
    pub workers: Option<usize>,

    #[command(flatten)]
    pub auth: crate::auth::AuthOptions,

    #[command(flatten)]
    pub egress: crate::outbound::EgressOptions,

    #[command(flatten)]
    pub tls: crate::tls::TlsOptions,

    #[command(flatten)]
    pub limits: crate::limits::LimitOptions,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Orion-LD's environment variables that Rigel reads when neither the flag nor the RIGEL_
/// variable is given: (Orion-LD variable, Rigel argument id).
pub const ORIONLD_SYNONYMS: &[(&str, &str)] = &[
    ("ORIONLD_PORT", "port"),
    ("ORIONLD_LOCALIP", "bind"),
    ("ORIONLD_LOG_LEVEL", "log_level"),
    ("ORIONLD_CONTEXT_DOWNLOAD_TIMEOUT", "context_timeout_ms"),
    ("ORIONLD_HTTP_TIMEOUT", "notification_timeout_ms"),
    ("ORIONLD_TRQ_POOL_SIZE", "workers"),
];

/// Commands run on the store of `--store`/`--data-dir` instead of starting the broker.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Writes tenants of the store as NDJSON records: entities, their history,
    /// subscriptions and registrations (docs/deployment.md). The embedded store can be
    /// exported only while no broker has it open.
    Export {
        /// Only this tenant (repeat for several; '' is the default tenant); every tenant
        /// without it.
        #[arg(long = "tenant")]
        tenants: Vec<String>,
        /// Leave the temporal history out.
        #[arg(long)]
        without_history: bool,
        /// The file to write; standard output without it.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Writes records into the store: a Rigel export, or (with `--from orion-ld`) the
    /// entities and subscriptions of every tenant of an Orion-LD database
    /// (docs/migration.md).
    Import {
        /// The export file (`-` for standard input), or with `--from orion-ld` the
        /// connection string of Orion-LD's MongoDB.
        source: String,
        /// What `source` is.
        #[arg(long, value_enum, default_value_t = ImportFrom::Rigel)]
        from: ImportFrom,
        /// Report what the import would do and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replace entities, histories, subscriptions and registrations the store already
        /// has (they are left as they are without it).
        #[arg(long)]
        replace: bool,
        /// With `--from orion-ld`: Orion-LD's database name (its `-db`), the default
        /// tenant's database and the prefix of the other tenants' (`<name>-<tenant>`).
        #[arg(long, default_value = "orion")]
        orion_database: String,
    },
}

/// What an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFrom {
    /// A file written by `rigel export`.
    Rigel,
    /// An Orion-LD MongoDB deployment, by its connection string.
    OrionLd,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub reason: String,
}

impl Config {
    /// The configuration from the command line and the environment, with Orion-LD's
    /// variables as synonyms; exits with usage on bad flags (like `Parser::parse`).
    pub fn load() -> Result<Self, ConfigError> {
        let matches = Self::command().get_matches();
        let mut config = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        config.apply_orionld(&matches, |name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Fills options that were left at their defaults from Orion-LD's variables (`env`
    /// looks one up).
    pub fn apply_orionld(
        &mut self,
        matches: &ArgMatches,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for (variable, id) in ORIONLD_SYNONYMS {
            let defaulted = matches
                .value_source(id)
                .is_none_or(|s| s == ValueSource::DefaultValue);
            let Some(value) = env(variable).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            if !defaulted {
                continue;
            }
            let bad = |reason: &str| ConfigError {
                variable,
                value: value.clone(),
                reason: reason.to_owned(),
            };
            let number = || value.trim().parse::<i64>().map_err(|_| bad("not a number"));
            match *id {
                "port" => {
                    self.port = value.trim().parse().map_err(|_| bad("not a TCP port"))?;
                }
                "bind" => {
                    self.bind = value.trim().parse().map_err(|_| bad("not an IP address"))?;
                }
                "log_level" => {
                    self.log_level = orionld_log_level(&value)
                        .ok_or_else(|| bad("expected NONE, FATAL, ERROR, WARN, INFO or DEBUG"))?;
                }
                // Orion-LD's -1 or 0 mean "the default".
                "context_timeout_ms" => {
                    if let Ok(ms @ 1..) = number() {
                        self.context_timeout_ms = ms.unsigned_abs();
                    }
                }
                "notification_timeout_ms" => {
                    if let Ok(ms @ 1..) = number() {
                        self.notification_timeout_ms = ms.unsigned_abs();
                    }
                }
                "workers" => {
                    if let Ok(n @ 1..) = number() {
                        self.workers = usize::try_from(n).ok();
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

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

/// Orion-LD's log level names as a `tracing` filter.
fn orionld_log_level(level: &str) -> Option<String> {
    let filter = match level.trim().to_ascii_uppercase().as_str() {
        "NONE" => "off",
        "FATAL" | "ERROR" => "error",
        "WARN" | "WARNING" => "warn",
        "INFO" => "info",
        "DEBUG" => "debug",
        _ => return None,
    };
    Some(filter.to_owned())
}
