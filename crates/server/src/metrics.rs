//! Prometheus metrics, served on the admin port at `/metrics` (OpenMetrics text): requests by
//! route, method and status with latency histograms; store commits, group sizes, sync and
//! checkpoint latencies, cache hits; notifications sent, failed and lost, and the queue depth
//! of every subscription; remote @context downloads; readiness and build information.
//!
//! Request and store metrics are recorded as they happen; the rest is read from the live
//! components when the metrics are scraped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use rigel_jsonld::ContextResolver;
use rigel_storage::Store;
use rigel_storage::{BackendHealth, StoreObserver};
use rigel_subscriptions::SubscriptionService;

use crate::version::BuildInfo;

/// Labels of a request metric. `route` is the route template (`/ngsi-ld/v1/entities/{entityId}`),
/// never the raw path, so the number of series stays bounded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

/// The metrics registry and the metrics recorded as things happen.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    store: Arc<StoreMetrics>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "rigel_http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            // 0.25 ms to about 8 s.
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        registry.register(
            "rigel_http_request_duration_seconds",
            "Time from receiving a request to having its response ready",
            latency.clone(),
        );
        let store = Arc::new(StoreMetrics::default());
        store.register(&mut registry);
        Self {
            registry,
            requests,
            latency,
            store,
        }
    }

    /// What the store reports its commits to.
    pub fn store_observer(&self) -> Arc<dyn StoreObserver> {
        self.store.clone()
    }

    /// Records one answered request.
    pub fn request(&self, labels: &RequestLabels, took: Duration) {
        self.latency
            .get_or_create(labels)
            .observe(took.as_secs_f64());
        self.requests.get_or_create(labels).inc();
    }

    /// Adds the metrics read from live components at scrape time.
    pub fn watch(&mut self, live: LiveState) {
        self.registry.register_collector(Box::new(live));
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Group commits and checkpoints of the store, as the store reports them.
#[derive(Debug)]
struct StoreMetrics {
    commits: Counter,
    failed: Counter,
    writes: Counter,
    group_size: Histogram,
    sync: Histogram,
    checkpoint: Histogram,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            commits: Counter::default(),
            failed: Counter::default(),
            writes: Counter::default(),
            // 1 to 1024 commit calls per group.
            group_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            // 50 µs to about 1.6 s.
            sync: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            checkpoint: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
        }
    }
}

impl StoreMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "rigel_store_commits",
            "Entity commit calls made durable (each answered after its group's sync)",
            self.commits.clone(),
        );
        registry.register(
            "rigel_store_failed_commits",
            "Commit calls that failed with a storage error",
            self.failed.clone(),
        );
        registry.register(
            "rigel_store_writes",
            "Entity writes (puts and deletes) applied by durable commits",
            self.writes.clone(),
        );
        registry.register(
            "rigel_store_group_commit_size",
            "Commit calls sharing one transaction and one sync",
            self.group_size.clone(),
        );
        registry.register(
            "rigel_store_sync_duration_seconds",
            "Time of a group commit's durable write (write-ahead log append and fsync)",
            self.sync.clone(),
        );
        registry.register(
            "rigel_store_checkpoint_duration_seconds",
            "Time of a checkpoint (durable commit of the store file)",
            self.checkpoint.clone(),
        );
    }
}

impl StoreObserver for StoreMetrics {
    fn group_committed(&self, requests: usize, writes: usize, sync: Duration) {
        self.commits.inc_by(requests as u64);
        self.writes.inc_by(writes as u64);
        self.group_size.observe(requests as f64);
        if !sync.is_zero() {
            self.sync.observe(sync.as_secs_f64());
        }
    }

    fn group_failed(&self, requests: usize) {
        self.failed.inc_by(requests as u64);
    }

    fn checkpointed(&self, took: Duration) {
        self.checkpoint.observe(took.as_secs_f64());
    }
}

/// The components whose state is read at each scrape.
pub struct LiveState {
    /// Set once the ingestion runs.
    pub ingestion: Arc<std::sync::OnceLock<rigel_ingest::Ingestion>>,
    pub store: Arc<dyn Store>,
    pub subscriptions: SubscriptionService,
    pub resolver: ContextResolver,
    pub build: BuildInfo,
    pub started: Instant,
}

impl std::fmt::Debug for LiveState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveState").finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    tenant: String,
    subscription: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    git_hash: String,
    ngsi_ld: String,
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for LiveState {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let ready = self.store.health() == BackendHealth::Ready;
        gauge(
            &mut encoder,
            "rigel_ready",
            "1 when the store is open and takes writes",
            i64::from(ready),
        )?;
        gauge(
            &mut encoder,
            "rigel_uptime_seconds",
            "Seconds since the broker started",
            i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX),
        )?;
        let counters = self.store.counters();
        counter(
            &mut encoder,
            "rigel_store_cache_hits",
            "Entity reads served from the decoded-entity cache",
            counters.cache_hits,
        )?;
        counter(
            &mut encoder,
            "rigel_store_cache_misses",
            "Entity reads that decoded a stored record",
            counters.cache_misses,
        )?;

        let delivery = self.subscriptions.delivery_report();
        counter(
            &mut encoder,
            "rigel_notifications_sent",
            "Notifications sent (delivered or failed) since the start",
            delivery.sent,
        )?;
        counter(
            &mut encoder,
            "rigel_notifications_failed",
            "Notifications whose delivery failed since the start",
            delivery.failed,
        )?;
        counter(
            &mut encoder,
            "rigel_notifications_lost",
            "Changes never notified: dropped from a full queue, or left at shutdown",
            delivery.lost,
        )?;
        gauge(
            &mut encoder,
            "rigel_subscriptions",
            "Live subscriptions",
            i64::try_from(delivery.queues.len()).unwrap_or(i64::MAX),
        )?;
        let mut queues = encoder.encode_descriptor(
            "rigel_notification_queue_depth",
            "Changes waiting to be notified, per subscription",
            None,
            MetricType::Gauge,
        )?;
        for q in delivery.queues {
            let labels = QueueLabels {
                tenant: q.tenant.name().unwrap_or("").to_owned(),
                subscription: q.subscription,
            };
            ConstGauge::new(i64::try_from(q.queued).unwrap_or(i64::MAX))
                .encode(queues.encode_family(&labels)?)?;
        }

        if let Some(ingestion) = self.ingestion.get() {
            let mut family = encoder.encode_descriptor(
                "rigel_ingest_messages",
                "MQTT messages matched by each ingestion rule, by outcome (received: all; \
                 applied: written durably; rejected: refused with a reason; dead_lettered: \
                 republished to the rule's dead-letter topic)",
                None,
                MetricType::Counter,
            )?;
            for rule in ingestion.rules() {
                let c = &rule.counters;
                for (outcome, n) in [
                    ("received", c.received),
                    ("applied", c.applied),
                    ("rejected", c.rejected),
                    ("dead_lettered", c.dead_lettered),
                ] {
                    let labels = RuleLabels {
                        rule: rule.spec.id.clone(),
                        outcome,
                    };
                    ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
                }
            }
        }

        let fetches = self.resolver.fetch_counts();
        let mut family = encoder.encode_descriptor(
            "rigel_context_fetches",
            "Remote @context downloads, by outcome",
            None,
            MetricType::Counter,
        )?;
        for (outcome, n) in [("ok", fetches.succeeded), ("error", fetches.failed)] {
            ConstCounter::new(n).encode(family.encode_family(&OutcomeLabels { outcome })?)?;
        }

        let mut build = encoder.encode_descriptor(
            "rigel_build_info",
            "The running build: version, commit and NGSI-LD version",
            None,
            MetricType::Gauge,
        )?;
        let labels = BuildLabels {
            version: self.build.version.to_owned(),
            git_hash: self.build.git_hash.to_owned(),
            ngsi_ld: self.build.ngsi_ld.to_owned(),
        };
        ConstGauge::new(1).encode(build.encode_family(&labels)?)?;
        Ok(())
    }
}
