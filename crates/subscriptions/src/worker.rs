//! The delivery worker of one subscription: drains its queue, applies throttling and
//! cooldown, builds and sends notifications, sends periodic ones, and keeps the counters.
//! One worker per subscription, so a slow or dead endpoint only delays its own subscription.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rigel_jsonld::ResolvedContext;
use rigel_model::subscription::{DeliveryOutcome, SubscriptionStatus};
use rigel_storage::Selection;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::join::Linked;
use crate::notification::{NotificationBuilder, Pending, Piece};
use crate::registry::Shared;
use crate::service::Inner;

pub(crate) async fn run(
    inner: Arc<Inner>,
    shared: Arc<Shared>,
    mut queue: mpsc::Receiver<Pending>,
) {
    let mut ticker = periodic(shared.config.time_interval, false);
    loop {
        tokio::select! {
            job = queue.recv() => {
                let Some(first) = job else { return };
                let mut batch = vec![first];
                while batch.len() < inner.options.max_entities_per_notification {
                    match queue.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                notify_changes(&inner, &shared, &batch).await;
                // The changes (and their outbox receipts) go before they count as settled:
                // whoever waits for the queues to settle then finds them booked as done.
                let n = batch.len();
                drop(batch);
                inner.settle(&shared, n);
            }
            _ = tick(&mut ticker) => notify_periodically(&inner, &shared).await,
        }
        if shared.retired.load(Ordering::Relaxed) && queue.is_empty() && ticker.is_none() {
            return;
        }
    }
}

/// The ticker of a periodic subscription (`timeInterval` seconds), if it is one; its first
/// tick is at once when `now`, else after one period.
pub(crate) fn periodic(time_interval: Option<f64>, now: bool) -> Option<tokio::time::Interval> {
    time_interval
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|secs| {
            let period = Duration::from_secs_f64(secs.max(0.001));
            let start = tokio::time::Instant::now() + if now { Duration::ZERO } else { period };
            let mut t = tokio::time::interval_at(start, period);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        })
}

pub(crate) async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Whether a notification may go out now: active, out of the throttling window and of the
/// cooldown after a failure.
pub(crate) fn may_notify(shared: &Shared, now: DateTime<Utc>) -> bool {
    let config = &shared.config;
    if shared.retired.load(Ordering::Relaxed) || config.status(now) != SubscriptionStatus::Active {
        return false;
    }
    let delivery = shared.delivery();
    let within = |since: Option<DateTime<Utc>>, seconds: f64| {
        since.is_some_and(|t| {
            (now - t).num_microseconds().unwrap_or(i64::MAX) < (seconds * 1e6) as i64
        })
    };
    if let Some(throttling) = config.throttling {
        if within(delivery.last_notification, throttling) {
            return false;
        }
    }
    if let Some(cooldown) = config.notification.endpoint.cooldown_ms {
        if delivery.outcome == Some(DeliveryOutcome::Failed)
            && within(delivery.last_failure, cooldown / 1000.0)
        {
            return false;
        }
    }
    true
}

pub(crate) async fn context(inner: &Inner, shared: &Shared) -> Arc<ResolvedContext> {
    let url = Value::String(shared.config.jsonld_context.clone());
    match inner.resolver.resolve(Some(&url)).await {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::warn!(
                subscription = %shared.config.id,
                "the subscription's @context is not available, notifying with the core context: {e}"
            );
            inner.resolver.core()
        }
    }
}

async fn notify_changes(inner: &Inner, shared: &Shared, batch: &[Pending]) {
    let now = inner.clock.now();
    if !may_notify(shared, now) {
        return;
    }
    let ctx = context(inner, shared).await;
    let builder = NotificationBuilder::new(&shared.config, ctx.as_ref());
    let mut entities: Vec<Piece> = Vec::with_capacity(batch.len());
    let mut seen = HashSet::new();
    for pending in batch {
        if shared.config.notification.join.is_none() {
            entities.extend(builder.render_change_shared(pending, shared.render_key));
        } else if let Some(rendered) = builder.render_change(pending) {
            let entity = pending.event.current.as_deref();
            entities.extend(joined(inner, shared, &builder, rendered, entity, &mut seen).await);
        }
    }
    if entities.is_empty() {
        return;
    }
    let outgoing = builder.notification(&shared.tenant, entities, now);
    send(inner, shared, outgoing, now).await;
}

async fn notify_periodically(inner: &Inner, shared: &Arc<Shared>) {
    let now = inner.clock.now();
    if !inner.holds(&shared.tenant, &shared.config.id) || !may_notify(shared, now) {
        return;
    }
    let selection = Selection::new(shared.compiled.selection(), inner.options.periodic_limit);
    let matches: Vec<_> = match inner.entities.select(&shared.tenant, selection).await {
        Ok(selected) => selected.entities.into_iter().map(|e| e.value).collect(),
        Err(e) => {
            tracing::warn!(subscription = %shared.config.id, "periodic notification query failed: {e}");
            return;
        }
    };
    if matches.is_empty() {
        return;
    }
    let ctx = context(inner, shared).await;
    let builder = NotificationBuilder::new(&shared.config, ctx.as_ref());
    let mut entities = Vec::with_capacity(matches.len());
    let mut seen = HashSet::new();
    for entity in &matches {
        let rendered = builder.render(entity);
        entities.extend(joined(inner, shared, &builder, rendered, Some(entity), &mut seen).await);
    }
    let outgoing = builder.notification(&shared.tenant, entities, now);
    send(inner, shared, outgoing, now).await;
}

/// A notified entity with its linked entities when the subscription asks for a join.
async fn joined(
    inner: &Inner,
    shared: &Shared,
    builder: &NotificationBuilder<'_>,
    rendered: Map<String, Value>,
    entity: Option<&rigel_model::Entity>,
    seen: &mut HashSet<String>,
) -> Vec<Piece> {
    let notification = &shared.config.notification;
    let objects = match (notification.join, entity) {
        (Some(join), Some(entity)) => {
            let level = notification.join_level.unwrap_or(1);
            let linked = Linked {
                store: inner.entities.as_ref(),
                tenant: &shared.tenant,
                builder,
            };
            linked
                .with_linked(entity, rendered, join, level, seen)
                .await
        }
        _ => vec![rendered],
    };
    objects.into_iter().map(Piece::Object).collect()
}

pub(crate) async fn send(
    inner: &Inner,
    shared: &Shared,
    outgoing: crate::deliver::Outgoing,
    now: DateTime<Utc>,
) {
    let endpoint = &shared.config.notification.endpoint;
    let timeout = endpoint
        .timeout_ms
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .map_or(inner.options.delivery_timeout, |ms| {
            Duration::from_secs_f64(ms / 1000.0)
        });
    let gate = inner.options.gate.as_ref();
    let result = match gate.map(|g| g.may_notify(&shared.config, &shared.tenant)) {
        Some(Err(reason)) => Err(crate::deliver::DeliveryError::Withheld(reason)),
        _ => inner.deliverer.send(endpoint, &outgoing, timeout).await,
    };
    let done = inner.clock.now();
    {
        let mut delivery = shared.delivery.lock().unwrap_or_else(|p| p.into_inner());
        delivery.times_sent += 1;
        delivery.last_notification = Some(now);
        let total = match &result {
            Ok(()) => &inner.totals.sent,
            Err(_) => &inner.totals.failed,
        };
        total.fetch_add(1, Ordering::Relaxed);
        match &result {
            Ok(()) => {
                delivery.last_success = Some(done);
                delivery.outcome = Some(DeliveryOutcome::Ok);
            }
            Err(_) => {
                delivery.times_failed += 1;
                delivery.last_failure = Some(done);
                delivery.outcome = Some(DeliveryOutcome::Failed);
            }
        }
    }
    if let Err(e) = result {
        tracing::warn!(subscription = %shared.config.id, endpoint = %endpoint.uri, "notification failed: {e}");
    }
    inner.mark_dirty(shared);
}
