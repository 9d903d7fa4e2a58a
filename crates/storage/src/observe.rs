//! What a backend tells the server about itself: whether it can take writes (readiness), and
//! measurements of its work (metrics), so that `server` needs no concrete backend to report
//! them.

use std::time::Duration;

/// Whether a backend can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendHealth {
    /// Open, reads and writes are served.
    Ready,
    /// Open, but writes are refused until a restart (the reason is for the operator).
    WritesRefused(String),
    /// The backend's database cannot be reached (a server database that is down or failing
    /// over); requests fail until it returns, and the backend reconnects by itself.
    Unreachable(String),
    /// Closed: nothing is served.
    Closed,
}

/// Counters a backend keeps, read when metrics are collected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendCounters {
    /// Reads answered from the backend's cache of decoded entities.
    pub cache_hits: u64,
    /// Reads that had to decode a stored record.
    pub cache_misses: u64,
}

/// Receives measurements as a backend makes them. Calls come from the backend's own threads
/// and must be quick (a counter or a histogram update).
pub trait StoreObserver: std::fmt::Debug + Send + Sync + 'static {
    /// A group commit made `requests` commit calls holding `writes` applied writes durable;
    /// `sync` is the time its durable step (the fsync) took.
    fn group_committed(&self, requests: usize, writes: usize, sync: Duration);
    /// A group commit failed; its `requests` callers got the error.
    fn group_failed(&self, requests: usize);
    /// A checkpoint (making the backend's main file durable) took `took`.
    fn checkpointed(&self, took: Duration);
}
