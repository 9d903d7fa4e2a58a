//! The processing task of one connection: maps batches of messages under the rules, writes
//! them through the broker, then acknowledges them; rejected messages are counted, logged
//! and dead-lettered. Acknowledgements and dead letters go out in order through a task of
//! their own.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use rigel_broker::{Broker, UpsertMode};
use rigel_model::{Entity, Tenant};
use tokio::sync::mpsc;

use crate::client::{Ack, Client, Event, Incoming};
use crate::ingestion::{ActiveRule, Connection, ConnectionState};
use crate::map::map_message;

/// Messages mapped and written together at most: large batches spread the cost of a commit
/// (512 gave 12,200 messages/s, 2,048 gave 15,700 in `docs/performance.md`) ...
const BATCH_MAX: usize = 2048;
/// ... and the most payload bytes a batch gathers (messages may be up to 1 MiB each).
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// The longest pause between attempts of a write that failed.
const LONGEST_RETRY: Duration = Duration::from_secs(10);

/// What goes back to the broker, in order: acknowledgements and dead letters.
pub(crate) enum Outgoing {
    Ack(Ack),
    Publish { topic: String, payload: Vec<u8> },
}

/// A task that sends acknowledgements and dead letters in order, so that the processing
/// task never waits on the connection's request queue (which only the polling task
/// drains).
pub(crate) fn spawn_outgoing(client: Client) -> mpsc::UnboundedSender<Outgoing> {
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
pub(crate) struct Worker {
    pub broker: Broker,
    pub connection: Arc<Connection>,
    pub client: Client,
    pub outgoing: mpsc::UnboundedSender<Outgoing>,
}

/// A message's writes, for one rule.
struct Planned {
    message: usize,
    rule: Arc<ActiveRule>,
    entities: Vec<Entity>,
}

impl Worker {
    pub(crate) async fn run(self, mut events: mpsc::Receiver<Event>) {
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
                    if let Err(e) = self.client.subscribe(&rule.subscription, rule.qos).await {
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
        let mut by_tenant: BTreeMap<Tenant, Vec<Planned>> = BTreeMap::new();
        for p in planned {
            by_tenant
                .entry(p.rule.rule.tenant.clone())
                .or_default()
                .push(p);
        }
        for (tenant, mut plans) in by_tenant {
            // Every entity of a plan (moved out of it), tagged with its plan.
            let mut rounds: Vec<Vec<(usize, Entity)>> = Vec::new();
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (k, plan) in plans.iter_mut().enumerate() {
                for entity in std::mem::take(&mut plan.entities) {
                    let round = seen.entry(entity.id.clone()).or_insert(0);
                    if rounds.len() <= *round {
                        rounds.push(Vec::new());
                    }
                    rounds[*round].push((k, entity));
                    *round += 1;
                }
            }
            let mut failed: HashMap<usize, String> = HashMap::new();
            for round in rounds {
                let (tags, entities): (Vec<(usize, String)>, Vec<Entity>) = round
                    .into_iter()
                    .map(|(k, e)| ((k, e.id.clone()), e))
                    .unzip();
                let result = self.upsert(&tenant, entities).await;
                for error in result.errors {
                    for (k, id) in &tags {
                        if *id == error.entity_id {
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
                .upsert_entities(tenant, &entities, UpsertMode::Update)
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
        if let Some(topic) = &rule.spec.dead_letter_topic {
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
