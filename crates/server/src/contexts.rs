//! Served @contexts on a store several brokers share: the resolver's shelf is the store's
//! `SharedContexts`, so an @context added through one broker is served and used by all.

use std::sync::Arc;

use async_trait::async_trait;
use rigel_jsonld::ContextShelf;
use rigel_storage::Store;
use serde_json::Value;

/// The store as the resolver's shelf (only for a store with `shared_contexts`).
pub(crate) struct StoreShelf(pub Arc<dyn Store>);

impl StoreShelf {
    fn shared(&self) -> Result<&dyn rigel_storage::SharedContexts, String> {
        self.0
            .shared_contexts()
            .ok_or_else(|| "the store does not share @contexts".to_owned())
    }
}

#[async_trait]
impl ContextShelf for StoreShelf {
    async fn all(&self) -> Result<Vec<(String, Value)>, String> {
        self.shared()?
            .all_contexts()
            .await
            .map_err(|e| e.to_string())
    }

    async fn put(&self, local_id: &str, record: Value) -> Result<(), String> {
        self.shared()?
            .put_context(local_id, &record)
            .await
            .map_err(|e| e.to_string())
    }

    async fn remove(&self, local_id: &str) -> Result<(), String> {
        self.shared()?
            .delete_context(local_id)
            .await
            .map_err(|e| e.to_string())
    }
}
