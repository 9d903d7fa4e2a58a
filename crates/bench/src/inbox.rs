//! What the notify scenario's receiver does with a notification: counts it per subscription
//! (each subscription posts to its own path, `/notify/{k}`), reads the updated value of every
//! entity in `data`, books its receipt in the [`Ledger`] and records the delay since the
//! update was sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use crate::ledger::Ledger;
use crate::receiver::Handler;
use crate::stats::Histogram;

/// Path prefix of the subscriptions' endpoints; the subscription's index follows.
pub const NOTIFY_PATH: &str = "/notify/";

/// Only what the receiver reads of a notification; the rest is skipped unparsed.
#[derive(Deserialize)]
struct Notification {
    #[serde(default)]
    data: Vec<Notified>,
}

/// An entity of `data`: the updated attribute, by its compacted name or fully expanded.
#[derive(Deserialize)]
struct Notified {
    #[serde(
        default,
        alias = "https://uri.etsi.org/ngsi-ld/default-context/mileage"
    )]
    mileage: Option<Attribute>,
}

#[derive(Deserialize)]
struct Attribute {
    #[serde(default)]
    value: Option<Value>,
}

/// Counts of one subscription's endpoint.
#[derive(Debug, Default)]
pub struct Counts {
    /// Notifications (HTTP requests).
    pub notifications: AtomicU64,
    /// Entities in their `data`.
    pub entities: AtomicU64,
}

/// The receiver's side of the notify scenario.
pub struct Inbox {
    ledger: Arc<Ledger>,
    /// The value written by update `seq` is `base + seq`.
    base: u64,
    pub per_subscription: Vec<Counts>,
    /// Entity-notifications over all subscriptions (for progress and draining).
    pub entities: Arc<AtomicU64>,
    /// Notifications whose body is not a notification the receiver can read.
    pub malformed: AtomicU64,
    /// Notified entities without a value this run wrote.
    pub unknown: AtomicU64,
    /// Requests to other paths or with other methods.
    pub strays: AtomicU64,
    /// Microseconds from the ledger's epoch to the last receipt, plus one (0: none yet).
    last_receipt: AtomicU64,
    epoch: Instant,
    delays: Mutex<Histogram>,
}

impl Inbox {
    pub fn new(ledger: Arc<Ledger>, base: u64, subscriptions: usize, epoch: Instant) -> Self {
        Self {
            ledger,
            base,
            per_subscription: (0..subscriptions).map(|_| Counts::default()).collect(),
            entities: Arc::new(AtomicU64::new(0)),
            malformed: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            strays: AtomicU64::new(0),
            last_receipt: AtomicU64::new(0),
            epoch,
            delays: Mutex::new(Histogram::new()),
        }
    }

    /// Update-to-receipt delays recorded so far.
    pub fn delays(&self) -> Histogram {
        self.delays
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Notifications received over all subscriptions.
    pub fn notifications(&self) -> u64 {
        self.per_subscription
            .iter()
            .map(|c| c.notifications.load(Ordering::Relaxed))
            .sum()
    }

    /// When the last notification arrived, if any did.
    pub fn last_receipt(&self) -> Option<Instant> {
        let us = self.last_receipt.load(Ordering::Relaxed).checked_sub(1)?;
        Some(self.epoch + std::time::Duration::from_micros(us))
    }

    /// The update sequence number a notified value stands for.
    fn seq(&self, value: Option<&Value>) -> Option<u64> {
        value?.as_u64()?.checked_sub(self.base)
    }

    fn book(&self, counts: &Counts, body: &[u8], at: Instant) {
        counts.notifications.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(at.saturating_duration_since(self.epoch).as_micros())
            .unwrap_or(u64::MAX - 1);
        self.last_receipt.fetch_max(us + 1, Ordering::Relaxed);
        let notification: Notification = match serde_json::from_slice(body) {
            Ok(n) => n,
            Err(_) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let n = notification.data.len() as u64;
        counts.entities.fetch_add(n, Ordering::Relaxed);
        self.entities.fetch_add(n, Ordering::Relaxed);
        let mut delays = Vec::with_capacity(notification.data.len());
        for entity in &notification.data {
            let value = entity.mileage.as_ref().and_then(|a| a.value.as_ref());
            match self
                .seq(value)
                .and_then(|seq| self.ledger.received(seq, at))
            {
                Some(delay) => delays.push(delay),
                None => {
                    self.unknown.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !delays.is_empty() {
            let mut h = self.delays.lock().unwrap_or_else(|p| p.into_inner());
            for d in delays {
                h.record(d);
            }
        }
    }
}

impl Handler for Inbox {
    fn handle(&self, method: &str, path: &str, body: &[u8], at: Instant) -> u16 {
        let index = path
            .strip_prefix(NOTIFY_PATH)
            .and_then(|k| k.parse::<usize>().ok());
        match index.and_then(|k| self.per_subscription.get(k)) {
            Some(counts) if method == "POST" => {
                self.book(counts, body, at);
                200
            }
            Some(_) => {
                self.strays.fetch_add(1, Ordering::Relaxed);
                405
            }
            None => {
                self.strays.fetch_add(1, Ordering::Relaxed);
                404
            }
        }
    }
}

#[cfg(test)]
#[path = "inbox_tests.rs"]
mod tests;
