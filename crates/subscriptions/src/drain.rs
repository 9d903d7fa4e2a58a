//! What notification delivery reports to operators (totals and queue depths, for metrics)
//! and the drain at shutdown: queued changes are delivered before the broker stops, and
//! whatever the grace period cannot deliver is counted as lost on its subscription.

use std::sync::atomic::Ordering;

use rigel_model::Tenant;
use tokio::time::Instant;

use crate::service::SubscriptionService;

/// Notification delivery at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Notifications sent (successfully or not) since the start.
    pub sent: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
    /// Changes dropped because a subscription's queue was full, or left undelivered at
    /// shutdown, since the start.
    pub lost: u64,
    /// Every live subscription and the changes waiting in its queue.
    pub queues: Vec<QueueDepth>,
}

/// The backlog of one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    pub tenant: Tenant,
    pub subscription: String,
    pub queued: usize,
}

impl SubscriptionService {
    /// Delivery totals and the queue depth of every subscription.
    pub fn delivery_report(&self) -> DeliveryReport {
        let inner = self.inner();
        let mut queues: Vec<QueueDepth> = inner
            .registry_snapshot()
            .into_iter()
            .map(|shared| QueueDepth {
                tenant: shared.tenant.clone(),
                subscription: shared.config.id.clone(),
                queued: shared.queued.load(Ordering::Relaxed),
            })
            .collect();
        queues.sort_by(|a, b| (&a.tenant, &a.subscription).cmp(&(&b.tenant, &b.subscription)));
        DeliveryReport {
            sent: inner.totals.sent.load(Ordering::Relaxed),
            failed: inner.totals.failed.load(Ordering::Relaxed),
            lost: inner.totals.lost.load(Ordering::Relaxed),
            queues,
        }
    }

    /// Changes queued for notification and not yet dealt with, over every subscription.
    pub fn pending(&self) -> usize {
        self.inner().totals.pending.load(Ordering::Acquire)
    }

    /// Waits until every queued change has been notified, or until `deadline`. Changes still
    /// queued then are counted as lost on their subscriptions (and logged), so that none
    /// disappears uncounted, unless the store keeps them in its outbox for the next start; call [`SubscriptionService::shutdown`] afterwards to save the
    /// counters. Returns how many were left undelivered. New changes must have stopped
    /// arriving (the API no longer accepts requests).
    pub async fn drain(&self, deadline: Instant) -> usize {
        let inner = self.inner();
        loop {
            let settled = inner.settled.notified();
            if self.pending() == 0 {
                return 0;
            }
            // `settled` was created before the check, so the last settle cannot be missed.
            tokio::select! {
                _ = settled => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        // With an outbox, what is still queued stays noted there and is offered again at
        // the next start: it is not lost.
        let kept = inner.receipts.issued();
        inner.receipts.close();
        let mut undelivered = 0;
        for shared in inner.registry_snapshot() {
            let shared = &*shared;
            let left = shared.queued.load(Ordering::Acquire);
            if left == 0 {
                continue;
            }
            undelivered += left;
            if kept {
                tracing::warn!(
                    subscription = %shared.config.id,
                    undelivered = left,
                    "shutting down with changes not yet notified; kept in the outbox for the next start"
                );
            } else {
                inner.count_lost(shared, left as u64);
                tracing::warn!(
                    subscription = %shared.config.id,
                    undelivered = left,
                    "shutting down with changes not yet notified; counted as lost"
                );
            }
        }
        undelivered
    }
}
