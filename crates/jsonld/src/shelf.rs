//! Served @contexts (Hosted, ImplicitlyCreated) kept where several brokers share them, a
//! server database, instead of in this broker's directory: the resolver writes and removes
//! them there, loads them all at start, and hears through [`crate::ContextResolver::shelved`]
//! of those other brokers add or delete.

use async_trait::async_trait;
use serde_json::Value;

/// Where served @contexts are shared. Records are opaque JSON to it (the resolver's
/// `StoredContext`), keyed by local id.
#[async_trait]
pub trait ContextShelf: Send + Sync + 'static {
    /// Every record, with its local id.
    async fn all(&self) -> Result<Vec<(String, Value)>, String>;
    /// Stores a record durably before it returns.
    async fn put(&self, local_id: &str, record: Value) -> Result<(), String>;
    /// Removes a record durably; removing a missing one succeeds.
    async fn remove(&self, local_id: &str) -> Result<(), String>;
}
