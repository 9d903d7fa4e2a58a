//! The ingestion at run time: one MQTT connection per broker the rules name, each with a
//! task that maps what arrives in batches and writes it through the broker (ordinary
//! writes: they notify subscribers and feed the history), then acknowledges it.
//!
//! Guarantees: a QoS 1/2 message is acknowledged only once its writes are durable (or it
//! was rejected and accounted for), so a crash before that makes the broker send it again
//! (the session is persistent). A write that fails for a reason that may pass (the store
//! unavailable) is retried with back-off, holding the batch: the MQTT broker then holds
//! back further messages. A rejected message is counted on its rule, logged with the
//! reason, and republished to the rule's dead-letter topic when it has one (`worker.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rigel_broker::Broker;
use rigel_model::TermMap;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::broker_url::BrokerUrl;
use crate::client::{self, Client, ConnectOptions};
use crate::counters::{CountersSnapshot, RuleCounters};
use crate::rule::{Rule, RuleSpec};
use crate::worker::{spawn_outgoing, Worker};

/// Messages waiting for the processing task; beyond it the connection stops reading.
const QUEUE: usize = 2048;

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
    /// The shared subscription group of rules that name none (`RuleSpec::share_group`):
    /// set when several brokers share one store, so that each message is written once.
    pub share_group: Option<String>,
}

/// A rule in force, with its counters.
pub struct ActiveRule {
    pub rule: Rule,
    pub(crate) terms: Terms,
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
pub(crate) struct Connection {
    pub rules: Mutex<Vec<Arc<ActiveRule>>>,
    pub state: Mutex<ConnectionState>,
    pub client: std::sync::OnceLock<Client>,
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
        if self.contains(&rule.spec.id) {
            return Err(format!("a rule {:?} exists already", rule.spec.id));
        }
        let rule = match (&rule.spec.share_group, &self.inner.settings.share_group) {
            (None, Some(group)) => rule.with_share_group(group)?,
            _ => rule,
        };
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
                let (filter, qos) = (active.rule.subscription.clone(), active.rule.qos);
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
            } else if !others
                .iter()
                .any(|r| r.rule.subscription == removed.rule.subscription)
            {
                if let Err(e) = client.unsubscribe(&removed.rule.subscription).await {
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

    /// Whether a rule `id` is in force.
    fn contains(&self, id: &str) -> bool {
        let connections = self
            .inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connections.values().any(|c| {
            c.rules
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|r| r.rule.spec.id == id)
        })
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

/// A client id per broker: the prefix and a hash of the broker's address and user, the
/// same from one run (and one build) to the next, so the MQTT broker keeps the session.
fn client_id(prefix: &str, key: &BrokerUrl) -> String {
    let a = &key.authority;
    let port = a.port.to_string();
    let user = a.username.as_deref().unwrap_or_default();
    let parts = [a.host.as_str(), port.as_str(), user];
    format!("{prefix}{:08x}", fnv1a(parts.join("\n").as_bytes()) as u32)
}

/// The prefix of this broker's MQTT client ids: `rigel` and a hash of its alias, letters
/// and digits only (what every MQTT 3.1.1 server must accept), 21 characters with the
/// broker hash after it.
pub fn client_id_prefix(alias: &str) -> String {
    format!("rigel{:08x}", fnv1a(alias.as_bytes()) as u32)
}

/// FNV-1a: a hash that does not change between builds or Rust versions (the standard
/// library's may), since client ids must outlive upgrades.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Checks rule specs into rules; an id given twice, or a rule that cannot work, is an error
/// naming the rule.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_short_alphanumeric_and_fixed() {
        let prefix = client_id_prefix("urn:ngsi-ld:Broker:abc");
        // Pinned: a change would lose every MQTT session at the next upgrade.
        assert_eq!(prefix, "rigel2c42c069");
        let url = BrokerUrl::parse("mqtt://u@h:1883", None).unwrap();
        let id = client_id(&prefix, &url);
        assert!(
            id.len() <= 23 && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{id}"
        );
        assert_eq!(id, client_id(&prefix, &url));
    }
}
