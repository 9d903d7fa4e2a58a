//! The notify scenario's bookkeeping: one slot per update (by its sequence number) holding
//! when it was sent, how it was answered and how many notifications carried it, from which
//! the update-to-receipt delays and the sent-versus-received audit come.
//!
//! Lock-free: the update workers and the receiver's connections touch slots concurrently;
//! slots live in fixed-size chunks allocated on first use, so memory follows the updates sent.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;

const CHUNK_BITS: u32 = 16;
const CHUNK: u64 = 1 << CHUNK_BITS;

/// Most updates one ledger books (about 4 GiB of slots, far beyond any run's rate × duration).
pub const MAX_CAPACITY: u64 = 1 << 28;

/// An update's answer (0 while there is none).
const ACKED: u8 = 1;
const FAILED: u8 = 2;

#[derive(Default)]
struct Slot {
    /// Microseconds since the ledger's epoch, plus one; 0 while the update is not sent.
    sent: AtomicU64,
    answer: AtomicU8,
    receipts: AtomicU32,
}

/// Every update of one run, by sequence number `0..capacity`.
pub struct Ledger {
    epoch: Instant,
    chunks: Box<[OnceLock<Box<[Slot]>>]>,
}

/// What became of the updates, against `per_update` expected receipts for each acknowledged one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub sent: u64,
    /// Answered 2xx.
    pub acked: u64,
    /// Answered otherwise, or not at all (transport error, timeout).
    pub not_acked: u64,
    /// `acked × per_update`.
    pub expected: u64,
    /// Receipts of acknowledged updates, at most `per_update` counted per update.
    pub received: u64,
    /// `expected − received`: acknowledged updates some subscription never notified.
    pub lost: u64,
    /// Acknowledged updates with at least one receipt missing.
    pub updates_short: u64,
    /// Receipts beyond `per_update` for one update.
    pub duplicates: u64,
    /// Receipts of updates that were not acknowledged (the broker may still have applied them).
    pub received_not_acked: u64,
}

impl Ledger {
    /// A ledger for sequence numbers below `capacity` (capped at [`MAX_CAPACITY`]), timing
    /// from `epoch`.
    pub fn new(epoch: Instant, capacity: u64) -> Self {
        let chunks = capacity.clamp(1, MAX_CAPACITY).div_ceil(CHUNK);
        Self {
            epoch,
            chunks: (0..chunks).map(|_| OnceLock::new()).collect(),
        }
    }

    /// How many sequence numbers the ledger can book.
    pub fn capacity(&self) -> u64 {
        self.chunks.len() as u64 * CHUNK
    }

    fn split(seq: u64) -> (usize, usize) {
        ((seq >> CHUNK_BITS) as usize, (seq & (CHUNK - 1)) as usize)
    }

    /// The slot of `seq` if its chunk exists.
    fn slot(&self, seq: u64) -> Option<&Slot> {
        let (chunk, i) = Self::split(seq);
        self.chunks.get(chunk)?.get()?.get(i)
    }

    fn slot_or_insert(&self, seq: u64) -> Option<&Slot> {
        let (chunk, i) = Self::split(seq);
        let chunk = self
            .chunks
            .get(chunk)?
            .get_or_init(|| (0..CHUNK).map(|_| Slot::default()).collect());
        chunk.get(i)
    }

    /// Books update `seq` as sent at `at`; false when `seq` is beyond the capacity.
    pub fn sent(&self, seq: u64, at: Instant) -> bool {
        let Some(slot) = self.slot_or_insert(seq) else {
            return false;
        };
        let us = u64::try_from(at.saturating_duration_since(self.epoch).as_micros())
            .unwrap_or(u64::MAX - 1);
        slot.sent.store(us + 1, Ordering::Release);
        true
    }

    /// Books the answer to update `seq`: acknowledged (2xx) or not.
    pub fn answered(&self, seq: u64, acked: bool) {
        if let Some(slot) = self.slot(seq) {
            let answer = if acked { ACKED } else { FAILED };
            slot.answer.store(answer, Ordering::Relaxed);
        }
    }

    /// Books one receipt of update `seq` at `at`: the delay since it was sent, or `None` when
    /// no such update was sent (a value this run did not write).
    pub fn received(&self, seq: u64, at: Instant) -> Option<Duration> {
        let slot = self.slot(seq)?;
        let sent = slot.sent.load(Ordering::Acquire).checked_sub(1)?;
        slot.receipts.fetch_add(1, Ordering::Relaxed);
        let sent_at = self.epoch + Duration::from_micros(sent);
        Some(at.saturating_duration_since(sent_at))
    }

    /// Counts what became of the updates sent, each acknowledged one expected `per_update` times.
    pub fn audit(&self, per_update: u32) -> Audit {
        let mut a = Audit::default();
        let per = u64::from(per_update);
        for chunk in self.chunks.iter().filter_map(OnceLock::get) {
            for slot in chunk.iter() {
                if slot.sent.load(Ordering::Acquire) == 0 {
                    continue;
                }
                a.sent += 1;
                let receipts = u64::from(slot.receipts.load(Ordering::Relaxed));
                if slot.answer.load(Ordering::Relaxed) == ACKED {
                    a.acked += 1;
                    a.received += receipts.min(per);
                    a.duplicates += receipts.saturating_sub(per);
                    if receipts < per {
                        a.updates_short += 1;
                    }
                } else {
                    a.not_acked += 1;
                    a.received_not_acked += receipts;
                }
            }
        }
        a.expected = a.acked * per;
        a.lost = a.expected - a.received;
        a
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
