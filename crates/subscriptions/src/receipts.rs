//! Receipts for changes the store noted in its outbox (`rigel_storage::Outbox`): each queued
//! copy of such a change holds its receipt, and when the last copy is dropped (notified,
//! throttled, dropped from a full queue, or matched by no subscription at all) the change's
//! sequence number is booked as done, for the server to forget in the outbox. Once the book
//! is closed at shutdown, nothing more is booked: the changes still queued then stay in the
//! outbox and are offered again at the next start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The sequence numbers of changes dealt with, not yet forgotten in the outbox.
#[derive(Debug, Default)]
pub(crate) struct Receipts {
    done: Mutex<Vec<u64>>,
    closed: AtomicBool,
    /// Whether any receipt was issued (the store keeps an outbox).
    issued: AtomicBool,
}

impl Receipts {
    /// A receipt for the change numbered `seq`.
    pub(crate) fn issue(self: &Arc<Self>, seq: u64) -> Arc<Receipt> {
        self.issued.store(true, Ordering::Relaxed);
        Arc::new(Receipt {
            seq,
            book: self.clone(),
        })
    }

    /// The changes dealt with since the last call.
    pub(crate) fn take(&self) -> Vec<u64> {
        std::mem::take(&mut *self.done.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Books nothing from now on.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn issued(&self) -> bool {
        self.issued.load(Ordering::Relaxed)
    }
}

/// Held by every queued copy of one noted change.
#[derive(Debug)]
pub(crate) struct Receipt {
    seq: u64,
    book: Arc<Receipts>,
}

impl Drop for Receipt {
    fn drop(&mut self) {
        if !self.book.closed.load(Ordering::Acquire) {
            let mut done = self.book.done.lock().unwrap_or_else(|p| p.into_inner());
            done.push(self.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_done_when_its_last_copy_is_dropped_and_not_after_the_book_closes() {
        let book = Arc::new(Receipts::default());
        let first = book.issue(1);
        let copy = first.clone();
        drop(first);
        assert!(book.take().is_empty());
        drop(copy);
        drop(book.issue(2));
        assert_eq!(book.take(), [1, 2]);
        let queued = book.issue(3);
        book.close();
        drop(queued);
        assert!(book.take().is_empty());
    }
}
