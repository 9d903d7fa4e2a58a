//! The ingestion at run time: one MQTT connection per broker the rules name, each with a
//! task that maps what arrives in batches and writes it through the broker (ordinary
//! writes: they notify subscribers and feed the history), then acknowledges it.
//!
//! Guarantees: a QoS 1/2 message is acknowledged only once its writes are durable (or it
//! was rejected and accounted for), so a crash before that makes the broker send it again
//! (the session is persistent). A write that fails for a reason that may pass (the store
//! unavailable) is retried with back-off, holding the batch: the MQTT broker then holds
//! back further messages. A rejected message is counted on its rule, logged with the
//! reason, and republished to the rule's dead-letter topic when it has one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rigel_broker::{Broker, UpsertMode};
use rigel_model::{Entity, Tenant, TermMap};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::broker_url::BrokerUrl;
use crate::client::{self, Ack, Client, ConnectOptions, Event, Incoming};
use crate::counters::{CountersSnapshot, RuleCounters};
use crate::map::map_message;
use crate::rule::{Rule, RuleSpec};

/// Messages mapped and written together at most: large batches spread the cost of a commit
/// (512 gave 12,200 messages/s, 2,048 gave 15,700 in `docs/performance.md`) ...
const BATCH_MAX: usize = 2048;
/// ... and the most payload bytes a batch gathers (messages may be up to 1 MiB each).
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Messages waiting for the processing task; beyond it the connection stops reading.
const QUEUE: usize = 2048;
/// The longest pause between attempts of a write that failed.
const LONGEST_RETRY: Duration = Duration::from_secs(10);

/// The @context terms a rule expands names with.
pub type Terms = Arc<dyn TermMap + Send + Sync>;

/// How the ingestion connects.
#[derive(Clone)]
pub struct IngestSettings {
    /// Prefix of the MQTT client ids (a broker keeps a persistent session per client id:
    /// keep it stable across restarts, and distinct between brokers of one deployment).
    pub client_id: String,
    pub keep_alive: Duration,
    /// TLS for `mqtts://` brokers.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The outbound policy the brokers' addresses are checked against; `None`: any.
    pub egress: Option<rigel_egress::Egress>,
}

/// A rule in force, with its counters.
pub struct ActiveRule {
    pub rule: Rule,
    terms: Terms,
    pub counters: RuleCounters,
}

/// A rule as reported: its spec (password hidden), counters and connection state.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleReport {
    #[serde(flatten)]
    pub spec: RuleSpec,
    pub counters: CountersSnapshot,
    pub connection: ConnectionState,
}

/// Whether a rule's broker connection is up.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum ConnectionState {
    Connecting,
    Connected,
    Disconnected { reason: String },
}

/// The rules of one broker connection, its state and its client.
struct Connection {
    rules: Mutex<Vec<Arc<ActiveRule>>>,
    state: Mutex<ConnectionState>,
    client: std::sync::OnceLock<Client>,
}

/// The running ingestion.
#[derive(Clone)]
pub struct Ingestion {
    inner: Arc<Inner>,
}

struct Inner {
    broker: Broker,
    settings: IngestSettings,
    connections: Mutex<HashMap<BrokerUrl, Arc<Connection>>>,
}

impl Ingestion {
    pub fn new(broker: Broker, settings: IngestSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                broker,
                settings,
                connections: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Starts applying `rule` (its broker connected if it is not yet). Fails when the
    /// egress policy refuses the broker's address, or a rule of that id runs already.
    pub async fn add(&self, rule: Rule, terms: Terms) -> Result<(), String> {
        if self.rules().iter().any(|r| r.spec.id == rule.spec.id) {
            return Err(format!("a rule {:?} exists already", rule.spec.id));
        }
        let host = self.admitted_host(&rule.broker).await?;
        let active = Arc::new(ActiveRule {
            rule,
            terms,
            counters: RuleCounters::default(),
        });
        let key = active.rule.broker.clone();
        let existing = self
            .inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        match existing {
            Some(connection) => {
                let (filter, qos) = (active.rule.filter.clone(), active.rule.qos);
                connection
                    .rules
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(active);
                // Subscribed again at every reconnection; now for a connection that is up.
                if let Some(client) = connection.client.get() {
                    if let Err(e) = client.subscribe(filter.as_str(), qos).await {
                        tracing::warn!(error = %e, "ingestion: subscribe failed");
                    }
                }
            }
            None => {
                let connection = Arc::new(Connection {
                    rules: Mutex::new(vec![active]),
                    state: Mutex::new(ConnectionState::Connecting),
                    client: std::sync::OnceLock::new(),
                });
                self.inner
                    .connections
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key.clone(), Arc::clone(&connection));
                self.start(key, host, connection);
            }
        }
        Ok(())
    }

    /// Stops applying the rule `id`: its topic filter is unsubscribed unless another rule of
    /// the connection uses it, and a connection left without rules is closed (the MQTT
    /// broker keeps its session: a rule added again later gets what arrived meanwhile, for
    /// as long as the broker keeps sessions). Whether there was such a rule.
    pub async fn remove(&self, id: &str) -> bool {
        let connections: Vec<(BrokerUrl, Arc<Connection>)> = self
            .inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, c)| (k.clone(), Arc::clone(c)))
            .collect();
        for (key, connection) in connections {
            let (removed, others) = {
                let mut rules = connection
                    .rules
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let Some(at) = rules.iter().position(|r| r.rule.spec.id == id) else {
                    continue;
                };
                let removed = rules.remove(at);
                (removed, rules.clone())
            };
            let Some(client) = connection.client.get() else {
                return true;
            };
            if others.is_empty() {
                self.inner
                    .connections
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
                client.disconnect().await;
            } else if !others.iter().any(|r| r.rule.filter == removed.rule.filter) {
                if let Err(e) = client.unsubscribe(removed.rule.filter.as_str()).await {
                    tracing::warn!(error = %e, "ingestion: unsubscribe failed");
                }
            }
            return true;
        }
        false
    }

    /// Disconnects from every broker (at shutdown). Messages not yet acknowledged stay with
    /// the MQTT brokers' sessions, and come again at the next start.
    pub async fn shutdown(&self) {
        let connections: Vec<Arc<Connection>> = self
            .inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for connection in connections {
            if let Some(client) = connection.client.get() {
                client.disconnect().await;
            }
            *connection
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = ConnectionState::Disconnected {
                reason: "shut down".into(),
            };
        }
    }

    /// Every rule in force, with its counters and connection state.
    pub fn rules(&self) -> Vec<RuleReport> {
        let connections = self
            .inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut reports: Vec<RuleReport> = connections
            .values()
            .flat_map(|c| {
                let state = c
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let rules = c
                    .rules
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                rules.into_iter().map(move |r| RuleReport {
                    spec: RuleSpec {
                        broker: r.rule.broker.redacted(),
                        ..r.rule.spec.clone()
                    },
                    counters: r.counters.snapshot(),
                    connection: state.clone(),
                })
            })
            .collect();
        reports.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        reports
    }

    async fn admitted_host(&self, url: &BrokerUrl) -> Result<String, String> {
        let Some(egress) = &self.inner.settings.egress else {
            return Ok(url.bare_host().to_owned());
        };
        let addrs = egress
            .resolve(&url.authority.host, url.authority.port)
            .await
            .map_err(|e| format!("broker {}: {e}", url.redacted()))?;
        match addrs.first() {
            Some(addr) if !url.authority.tls => Ok(addr.ip().to_string()),
            _ => Ok(url.bare_host().to_owned()),
        }
    }

    /// Connects to one broker and runs its processing task.
    fn start(&self, key: BrokerUrl, host: String, connection: Arc<Connection>) {
        let (events_tx, events) = mpsc::channel(QUEUE);
        let settings = &self.inner.settings;
        let client = client::connect(
            ConnectOptions {
                client_id: client_id(&settings.client_id, &key),
                url: key.clone(),
                host,
                keep_alive: settings.keep_alive,
                tls: settings.tls.clone(),
            },
            events_tx,
        );
        let _ = connection.client.set(client.clone());
        let outgoing = spawn_outgoing(client.clone());
        let worker = Worker {
            broker: self.inner.broker.clone(),
            connection,
            client,
            outgoing,
        };
        tokio::spawn(worker.run(events));
    }
}

/// A stable client id per broker: the prefix and a hash of the broker's address and user.
fn client_id(prefix: &str, key: &BrokerUrl) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let a = &key.authority;
    (&a.host, a.port, &a.username).hash(&mut hasher);
    format!("{prefix}{:08x}", hasher.finish() as u32)
}

/// What goes back to the broker, in order: acknowledgements and dead letters.
enum Outgoing {
    Ack(Ack),
    Publish { topic: String, payload: Vec<u8> },
}

/// A task that sends acknowledgements and dead letters in order, so that the processing
/// task never waits on the connection's request queue (which only the polling task
/// drains).
fn spawn_outgoing(client: Client) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let sent = match &out {
                Outgoing::Ack(ack) => client.ack(ack).await,
                Outgoing::Publish { topic, payload } => {
                    client.publish(topic, payload.clone()).await
                }
            };
            if let Err(e) = sent {
                tracing::warn!(error = %e, "ingestion: acknowledgement or dead letter not sent");
            }
        }
    });
    tx
}

/// The processing task of one connection.
struct Worker {
    broker: Broker,
    connection: Arc<Connection>,
    client: Client,
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

/// A message's writes, for one rule.
struct Planned {
    message: usize,
    rule: Arc<ActiveRule>,
    entities: Vec<Entity>,
}

impl Worker {
    async fn run(self, mut events: mpsc::Receiver<Event>) {
        let mut batch = Vec::with_capacity(BATCH_MAX);
        while let Some(event) = events.recv().await {
            let mut bytes = self.note(event, &mut batch).await;
            while batch.len() < BATCH_MAX && bytes < BATCH_BYTES {
                match events.try_recv() {
                    Ok(event) => bytes += self.note(event, &mut batch).await,
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.process(std::mem::take(&mut batch)).await;
            }
        }
    }

    /// Takes in one event: a message joins the batch (its payload size is returned).
    async fn note(&self, event: Event, batch: &mut Vec<Incoming>) -> usize {
        match event {
            Event::Message(m) => {
                let size = m.payload.len();
                batch.push(*m);
                return size;
            }
            Event::Connected => {
                self.set_state(ConnectionState::Connected);
                let rules = self.rules();
                for active in rules {
                    let rule = &active.rule;
                    if let Err(e) = self.client.subscribe(rule.filter.as_str(), rule.qos).await {
                        tracing::warn!(rule = %rule.spec.id, error = %e, "ingestion: subscribe failed");
                    }
                }
            }
            Event::Failed(reason) => {
                let was_up = matches!(self.state(), ConnectionState::Connected);
                if was_up {
                    tracing::warn!(error = %reason, "ingestion: MQTT connection lost; reconnecting");
                }
                self.set_state(ConnectionState::Disconnected { reason });
            }
        }
        0
    }

    fn rules(&self) -> Vec<Arc<ActiveRule>> {
        self.connection
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn state(&self) -> ConnectionState {
        self.connection
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_state(&self, state: ConnectionState) {
        *self
            .connection
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// Maps, writes and acknowledges one batch.
    async fn process(&self, messages: Vec<Incoming>) {
        let rules = self.rules();
        let now = self.broker.now();
        let mut planned: Vec<Planned> = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            for active in rules
                .iter()
                .filter(|r| r.rule.filter.matches(&message.topic))
            {
                active.counters.received();
                match map_message(
                    &active.rule,
                    &*active.terms,
                    &message.topic,
                    &message.payload,
                    now,
                ) {
                    Ok(entities) => planned.push(Planned {
                        message: i,
                        rule: Arc::clone(active),
                        entities,
                    }),
                    Err(reason) => self.reject(active, message, &reason),
                }
            }
        }
        self.write(&messages, planned).await;
        for message in messages {
            let _ = self.outgoing.send(Outgoing::Ack(message.ack));
        }
    }

    /// Writes the planned entities, per tenant, in rounds in which each entity appears
    /// once (so that every observation reaches the history), in message order.
    async fn write(&self, messages: &[Incoming], planned: Vec<Planned>) {
        let mut by_tenant: BTreeMap<Tenant, Vec<&Planned>> = BTreeMap::new();
        for p in &planned {
            by_tenant.entry(p.rule.rule.tenant()).or_default().push(p);
        }
        for (tenant, plans) in by_tenant {
            // Every entity of a plan, tagged with its plan.
            let mut rounds: Vec<Vec<(usize, &Entity)>> = Vec::new();
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (k, plan) in plans.iter().enumerate() {
                for entity in &plan.entities {
                    let round = seen.entry(entity.id.as_str()).or_insert(0);
                    if rounds.len() <= *round {
                        rounds.push(Vec::new());
                    }
                    rounds[*round].push((k, entity));
                    *round += 1;
                }
            }
            let mut failed: HashMap<usize, String> = HashMap::new();
            for round in rounds {
                let entities: Vec<Entity> = round.iter().map(|(_, e)| (*e).clone()).collect();
                let result = self.upsert(&tenant, entities).await;
                for error in result.errors {
                    for (k, entity) in &round {
                        if entity.id == error.entity_id {
                            failed.entry(*k).or_insert_with(|| error.error.detail());
                        }
                    }
                }
            }
            for (k, plan) in plans.iter().enumerate() {
                match failed.get(&k) {
                    Some(reason) => self.reject(&plan.rule, &messages[plan.message], reason),
                    None => plan.rule.counters.applied(),
                }
            }
        }
    }

    /// Batch upsert (Update mode: attributes not in the message are kept), retried with
    /// back-off while it fails as a whole.
    async fn upsert(&self, tenant: &Tenant, entities: Vec<Entity>) -> rigel_broker::BatchResult {
        let mut pause = Duration::from_millis(100);
        loop {
            match self
                .broker
                .upsert_entities(tenant, entities.clone(), UpsertMode::Update)
                .await
            {
                Ok(result) => return result,
                Err(e) => {
                    tracing::warn!(error = %e, "ingestion: write failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_RETRY);
                }
            }
        }
    }

    /// Accounts for a rejected message: counted, logged, dead-lettered.
    fn reject(&self, active: &ActiveRule, message: &Incoming, reason: &str) {
        let rule = &active.rule;
        active.counters.rejected(&message.topic, reason);
        tracing::warn!(rule = %rule.spec.id, topic = %message.topic, reason, "ingestion: message rejected");
        if let Some(topic) = &rule.dead_letter {
            let payload = match std::str::from_utf8(&message.payload) {
                Ok(text) => serde_json::Value::String(text.to_owned()),
                Err(_) => serde_json::Value::Null,
            };
            let letter = serde_json::json!({
                "rule": rule.spec.id,
                "topic": message.topic,
                "reason": reason,
                "payload": payload,
                "rejectedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            });
            if self
                .outgoing
                .send(Outgoing::Publish {
                    topic: topic.clone(),
                    payload: letter.to_string().into_bytes(),
                })
                .is_ok()
            {
                active.counters.dead_lettered();
            }
        }
    }
}

/// Builds the ingestion's rules from specs, with the terms each expands names with.
pub fn rules_from(specs: Vec<RuleSpec>) -> Result<Vec<Rule>, String> {
    let mut ids = std::collections::HashSet::new();
    specs
        .into_iter()
        .map(|spec| {
            if !ids.insert(spec.id.clone()) {
                return Err(format!("rule {:?} is given twice", spec.id));
            }
            let id = spec.id.clone();
            Rule::new(spec).map_err(|e| format!("rule {id:?}: {e}"))
        })
        .collect()
}
