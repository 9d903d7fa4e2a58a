//! What each rule has done with the messages it matched, shown on the rule and in metrics:
//! every message is accounted for as applied or rejected (with the last reason).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The live counters of one rule.
#[derive(Debug, Default)]
pub struct RuleCounters {
    received: AtomicU64,
    applied: AtomicU64,
    rejected: AtomicU64,
    dead_lettered: AtomicU64,
    last_rejection: Mutex<Option<Rejection>>,
}

/// The last message a rule rejected.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub reason: String,
    pub topic: String,
    pub at: DateTime<Utc>,
}

/// A rule's counters at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountersSnapshot {
    /// Messages that matched the rule.
    pub received: u64,
    /// Messages whose writes are durable.
    pub applied: u64,
    /// Messages refused by the rule's checks or by the write.
    pub rejected: u64,
    /// Rejected messages republished to the dead-letter topic.
    pub dead_lettered: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rejection: Option<Rejection>,
}

impl RuleCounters {
    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn applied(&self) {
        self.applied.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, topic: &str, reason: &str) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        *self
            .last_rejection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Rejection {
            reason: reason.to_owned(),
            topic: topic.to_owned(),
            at: Utc::now(),
        });
    }

    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            received: self.received.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            last_rejection: self
                .last_rejection
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}
