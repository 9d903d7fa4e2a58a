//! Entity versions without a shared counter: a hybrid clock per process, so that a version
//! is above the one it replaces and above every version handed out before by this process,
//! and, being at least the current microsecond, above the versions an entity deleted and
//! created again had (ADR 0006). No document of the database is a hot spot for them. The
//! microsecond is the database's (`clock.rs`), which every process sharing it agrees on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock::DatabaseClock;

#[derive(Debug, Default)]
pub(crate) struct Versions {
    last: AtomicU64,
    clock: Arc<DatabaseClock>,
}

impl Versions {
    /// Versions at least the microsecond `clock` tells.
    pub(crate) fn new(clock: Arc<DatabaseClock>) -> Self {
        Self {
            last: AtomicU64::new(0),
            clock,
        }
    }

    /// A version above `previous`, above every one this process handed out before, and at
    /// least the current Unix microsecond.
    pub(crate) fn next(&self, previous: u64) -> u64 {
        let now = u64::try_from(self.clock.now().timestamp_micros()).unwrap_or(0);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1).max(previous + 1);
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_and_exceed_the_previous_one() {
        let versions = Versions::default();
        let a = versions.next(0);
        let b = versions.next(0);
        assert!(b > a);
        let far = u64::MAX / 2;
        assert!(versions.next(far) > far);
        assert!(versions.next(0) > far);
    }
}
