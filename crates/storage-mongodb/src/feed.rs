//! The change feed of a MongoDB deployment that several brokers share: one change stream
//! over the cluster, filtered to this broker's databases, reporting every committed entity
//! change (with the document before it, from MongoDB's pre-images) and every change to the
//! stored subscriptions and registrations, whichever process made it. The changes of one
//! transaction are reported together. An interrupted stream (the database away, a
//! failover) is opened again after the last change reported, so nothing is skipped while
//! the process lives (ADR 0006).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use mongodb::bson::{doc, Bson, Document, Timestamp};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::change_stream::ChangeStream;
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};
use mongodb::{Client, Database};
use rigel_model::Tenant;
use rigel_storage::{ChangeEvent, FeedSink, SubscriptionKey};
use serde::de::DeserializeOwned;

use crate::documents::{revision, Written};
use crate::{layout, select};

/// How long to wait before opening an interrupted stream again.
const REOPEN_AFTER: Duration = Duration::from_millis(500);

/// How far the live feed has reported: the resume token after the last change it handed to
/// the sink, and that change's cluster time. Leases record the token as the point a taking
/// process replays from; a replay stops at the time.
#[derive(Debug, Default, Clone)]
pub(crate) struct Position {
    pub(crate) token: Option<ResumeToken>,
    pub(crate) time: Option<Timestamp>,
}

pub(crate) type SharedPosition = Arc<Mutex<Position>>;

/// The change stream over the databases named by `prefix`, from after `resume`.
async fn open(
    client: &Client,
    prefix: &str,
    resume: Option<ResumeToken>,
) -> mongodb::error::Result<ChangeStream<ChangeStreamEvent<Document>>> {
    client
        .watch()
        .pipeline([doc! {"$match": {
            "ns.db": {"$regex": format!("^{}(-|$)", regex_escape(prefix))},
            "ns.coll": {"$in": [
                layout::ENTITIES,
                layout::SUBSCRIPTIONS,
                layout::REGISTRATIONS,
                layout::CONTEXTS,
            ]},
        }}])
        .full_document(FullDocumentType::UpdateLookup)
        .full_document_before_change(FullDocumentBeforeChangeType::WhenAvailable)
        .resume_after(resume)
        .await
}

/// Follows the cluster's changes to the databases named by `prefix`, reporting them to
/// `sink` and keeping `position` up to date, until aborted.
pub(crate) async fn follow(
    client: Client,
    prefix: String,
    sink: Arc<dyn FeedSink>,
    position: SharedPosition,
    written: Arc<Written>,
) {
    let mut feed = Feed::new(&client, prefix, sink, written, Mode::Live);
    // From the moment the feed starts (a lease taken before any change reads from here).
    let mut resume: Option<ResumeToken> = None;
    loop {
        let mut stream = match open(&client, &feed.prefix, resume.clone()).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!("change stream not open: {e}");
                tokio::time::sleep(REOPEN_AFTER).await;
                continue;
            }
        };
        if resume.is_none() {
            resume = stream.resume_token();
            lock(&position).token.clone_from(&resume);
        }
        loop {
            let event = match stream.next().await {
                Some(Ok(event)) => event,
                Some(Err(e)) => {
                    tracing::warn!("change stream interrupted, opening it again: {e}");
                    break;
                }
                None => break,
            };
            feed.take(event).await;
            // Report a transaction's changes together: keep taking what has already
            // arrived, and flush once nothing more is waiting.
            loop {
                match stream.next_if_any().await {
                    Ok(Some(event)) => feed.take(event).await,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("change stream interrupted, opening it again: {e}");
                        break;
                    }
                }
            }
            // Handed to the sink first, then recorded as reported.
            feed.flush();
            resume = stream.resume_token().or(resume);
            let mut at = lock(&position);
            at.token.clone_from(&resume);
            at.time = feed.last_time.or(at.time);
        }
        feed.flush();
        resume = stream.resume_token().or(resume);
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}

/// Replays to `sink.entities_replayed` the entity changes, and to
/// `sink.registration_replayed` the registration changes, of one subscription's tenant after
/// `from` up to the cluster time `until` (what the live feed has reported).
pub(crate) async fn replay(
    client: Client,
    prefix: String,
    sink: Arc<dyn FeedSink>,
    written: Arc<Written>,
    subscription: SubscriptionKey,
    from: ResumeToken,
    until: Option<Timestamp>,
) {
    let mut feed = Feed::new(
        &client,
        prefix,
        sink,
        written,
        Mode::Replay { subscription },
    );
    let mut stream = match open(&client, &feed.prefix, Some(from)).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::error!(
                "cannot replay the changes a subscription's previous deliverer left: {e}"
            );
            return;
        }
    };
    let mut replayed = 0usize;
    loop {
        match stream.next_if_any().await {
            Ok(Some(event)) => {
                if let (Some(until), Some(at)) = (until, event.cluster_time) {
                    if (at.time, at.increment) > (until.time, until.increment) {
                        break;
                    }
                }
                replayed += 1;
                feed.take(event).await;
            }
            Ok(None) => break,
            Err(e) => {
                tracing::error!("replay of a subscription's changes interrupted: {e}");
                break;
            }
        }
    }
    feed.flush();
    tracing::info!(replayed, "changes replayed for a subscription taken over");
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `s` with the characters regular expressions treat specially escaped.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What a feed reports.
enum Mode {
    /// Everything, to the sink's live methods.
    Live,
    /// One subscription's tenant's entity and registration changes, to `entities_replayed`
    /// and `registration_replayed`.
    Replay { subscription: SubscriptionKey },
}

struct Feed {
    main: Database,
    /// What this process wrote of subscriptions and registrations: their changes it has
    /// applied already.
    written: Arc<Written>,
    mode: Mode,
    /// The cluster time of the last change taken.
    last_time: Option<Timestamp>,
    prefix: String,
    sink: Arc<dyn FeedSink>,
    /// Database name -> tenant, learnt from the catalog.
    tenants: HashMap<String, Tenant>,
    /// Entity changes of the transaction being read.
    group: Vec<ChangeEvent>,
    group_key: Option<(Document, i64)>,
}

impl Feed {
    fn new(
        client: &Client,
        prefix: String,
        sink: Arc<dyn FeedSink>,
        written: Arc<Written>,
        mode: Mode,
    ) -> Self {
        Self {
            written,
            main: client.database(&prefix),
            mode,
            last_time: None,
            prefix,
            sink,
            tenants: HashMap::new(),
            group: Vec::new(),
            group_key: None,
        }
    }

    /// The tenant a database belongs to, from the catalog (where a tenant's first write
    /// entered it, in the same transaction).
    async fn tenant(&mut self, db: &str) -> Option<Tenant> {
        if db == self.prefix {
            return Some(Tenant::default_tenant());
        }
        if let Some(tenant) = self.tenants.get(db) {
            return Some(tenant.clone());
        }
        let entry = self
            .main
            .collection::<Document>(layout::TENANTS)
            .find_one(doc! {"db": db})
            .await
            .ok()??;
        let tenant = Tenant::named(entry.get_str("_id").ok()?).ok()?;
        self.tenants.insert(db.to_owned(), tenant.clone());
        Some(tenant)
    }

    async fn take(&mut self, event: ChangeStreamEvent<Document>) {
        let Some(ns) = &event.ns else {
            return;
        };
        let Some(coll) = ns.coll.clone() else {
            return;
        };
        self.last_time = event.cluster_time.or(self.last_time);
        let Some(tenant) = self.tenant(&ns.db).await else {
            tracing::warn!(database = %ns.db, "a change in a database of no known tenant");
            return;
        };
        if let Mode::Replay { subscription, .. } = &self.mode {
            let replayed = coll == layout::ENTITIES || coll == layout::REGISTRATIONS;
            if !replayed || subscription.0 != tenant {
                return;
            }
        }
        let Some(Bson::String(id)) = event.document_key.as_ref().and_then(|k| k.get("_id")) else {
            return;
        };
        let id = id.clone();
        let gone = matches!(event.operation_type, OperationType::Delete);
        match coll.as_str() {
            layout::ENTITIES => {
                let key = event.lsid.clone().zip(event.txn_number);
                if key.is_none() || key != self.group_key {
                    self.flush();
                    self.group_key = key;
                }
                let decode = |d: &Option<Document>| {
                    d.as_ref()
                        .and_then(|d| select::decode(d).ok())
                        .map(|v| Arc::new(v.value))
                };
                let previous = decode(&event.full_document_before_change);
                let current = if gone {
                    None
                } else {
                    decode(&event.full_document)
                };
                if previous.is_none() && current.is_none() {
                    return;
                }
                let at = event
                    .wall_time
                    .and_then(|t| chrono::DateTime::from_timestamp_millis(t.timestamp_millis()))
                    .unwrap_or_else(Utc::now);
                self.group.push(ChangeEvent {
                    tenant,
                    id,
                    previous,
                    current,
                    at,
                    seq: None,
                });
            }
            layout::REGISTRATIONS if matches!(self.mode, Mode::Replay { .. }) => {
                self.flush();
                // Every change, this process's own too: its deliverer may have died
                // before notifying any of them.
                if let Mode::Replay { subscription } = &self.mode {
                    let before = body(&event.full_document_before_change);
                    let after = if gone {
                        None
                    } else {
                        body(&event.full_document)
                    };
                    self.sink.registration_replayed(before, after, subscription);
                }
            }
            layout::SUBSCRIPTIONS | layout::REGISTRATIONS => {
                self.flush();
                // A deletion carries the removed document as its pre-image.
                let document = if gone {
                    &event.full_document_before_change
                } else {
                    &event.full_document
                };
                let rev = document.as_ref().map_or(0, revision);
                if !self.written.is_news(&coll, &tenant, &id, rev) {
                    return;
                }
                if coll == layout::SUBSCRIPTIONS {
                    let stored = if gone {
                        None
                    } else {
                        body(&event.full_document)
                    };
                    self.sink.subscription_changed(tenant, id, stored);
                } else {
                    let stored = if gone {
                        None
                    } else {
                        body(&event.full_document)
                    };
                    self.sink.registration_changed(tenant, id, stored);
                }
            }
            layout::CONTEXTS if tenant.is_default() => {
                self.flush();
                let record = if gone {
                    None
                } else {
                    body(&event.full_document)
                };
                self.sink.context_changed(id, record);
            }
            _ => {}
        }
    }

    /// Reports the entity changes gathered so far.
    fn flush(&mut self) {
        self.group_key = None;
        if self.group.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.group);
        match &self.mode {
            Mode::Live => self.sink.entities_changed(events),
            Mode::Replay { subscription, .. } => self.sink.entities_replayed(events, subscription),
        }
    }
}

/// The JSON body of a stored document.
fn body<T: DeserializeOwned>(document: &Option<Document>) -> Option<T> {
    let body = document.as_ref()?.get_str("body").ok()?;
    match serde_json::from_str(body) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!("a stored document in the change feed is unreadable: {e}");
            None
        }
    }
}
