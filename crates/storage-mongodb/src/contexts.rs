//! Served @contexts shared by the brokers of a deployment (`rigel_storage::SharedContexts`):
//! one document per @context in the default tenant's database, `{_id: local id, body:
//! JSON}`; the change feed tells every broker of those another one adds or deletes.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::doc;
use rigel_storage::{SharedContexts, StorageError};
use serde_json::Value;

use crate::error::storage_error;
use crate::{layout, MongoStore};

#[async_trait]
impl SharedContexts for MongoStore {
    async fn all_contexts(&self) -> Result<Vec<(String, Value)>, StorageError> {
        self.serving()?;
        let mut cursor = self
            .main()
            .collection::<mongodb::bson::Document>(layout::CONTEXTS)
            .find(doc! {})
            .await
            .map_err(storage_error)?;
        let mut all = Vec::new();
        while let Some(document) = cursor.try_next().await.map_err(storage_error)? {
            let id = document
                .get_str("_id")
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            let body = document
                .get_str("body")
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            let record = serde_json::from_str(body)
                .map_err(|e| StorageError::Corrupt(format!("shared @context {id}: {e}")))?;
            all.push((id.to_owned(), record));
        }
        Ok(all)
    }

    async fn put_context(&self, local_id: &str, record: &Value) -> Result<(), StorageError> {
        self.serving()?;
        let body = record.to_string();
        self.bounded(async {
            self.main()
                .collection::<mongodb::bson::Document>(layout::CONTEXTS)
                .replace_one(doc! {"_id": local_id}, doc! {"_id": local_id, "body": body})
                .upsert(true)
                .await
                .map(|_| ())
                .map_err(storage_error)
        })
        .await
    }

    async fn delete_context(&self, local_id: &str) -> Result<(), StorageError> {
        self.serving()?;
        self.bounded(async {
            self.main()
                .collection::<mongodb::bson::Document>(layout::CONTEXTS)
                .delete_one(doc! {"_id": local_id})
                .await
                .map(|_| ())
                .map_err(storage_error)
        })
        .await
    }
}
