//! The @context management operations (clause 5.13) on the resolver's store: Add, List,
//! Serve, Delete and Reload, and the ImplicitlyCreated @contexts other use cases need.

use std::sync::Arc;

use chrono::Utc;
use json_ld::context_processing::{Options, Process};
use serde_json::{json, Value};

use crate::error::JsonLdError;
use crate::loader::{processing_error, OfflineLoader};
use crate::local_id::new_local_id;
use crate::persist::StoredContext;
use crate::resolver::{local_context, ContextResolver};
use crate::sanitize::prepare_document;
use crate::store::{Found, ServedEntry};
use crate::stored::{ContextInfo, ContextKind};

impl ContextResolver {
    /// Add @context (clause 5.13.2): stores the `@context` member of `payload` (other
    /// members are dropped) as a Hosted @context, durably when the resolver has a
    /// directory. A payload that is not an object with `@context` is `InvalidRequest`; an
    /// invalid @context is `BadRequestData` (5.5.4). The contexts it references are not
    /// fetched here: they are when the hosted @context is first used.
    pub async fn add_context(&self, payload: &Value) -> Result<ContextInfo, JsonLdError> {
        let context = payload
            .as_object()
            .and_then(|o| o.get("@context"))
            .ok_or_else(|| {
                JsonLdError::NotAContextDocument(
                    "the payload must be a JSON object with an \"@context\" member".into(),
                )
            })?;
        self.store_served(ContextKind::Hosted, context).await
    }

    /// Stores `context` as an ImplicitlyCreated @context (clause 5.13.1), e.g. the @context
    /// array of a subscription whose notifications must link to one URL. An identical one
    /// already stored is reused.
    pub async fn add_implicit_context(&self, context: &Value) -> Result<ContextInfo, JsonLdError> {
        let document = json!({ "@context": context });
        if let Some(existing) = self.inner().store.implicit_with(&document) {
            return Ok(existing.info());
        }
        self.store_served(ContextKind::ImplicitlyCreated, context)
            .await
    }

    /// List @contexts (clause 5.13.3): every stored @context of `kind` (all when `None`),
    /// the built-in core @context included, as a Cached one.
    pub fn list_contexts(&self, kind: Option<ContextKind>) -> Vec<ContextInfo> {
        self.inner().store.list(kind)
    }

    /// List @contexts as a tenant sees them: the Cached ones only when that tenant's
    /// requests named their URL ([`ContextResolver::note_tenant_use`]); the others all.
    pub fn list_contexts_for(
        &self,
        kind: Option<ContextKind>,
        tenant: Option<&str>,
    ) -> Vec<ContextInfo> {
        let usage = &self.inner().usage;
        self.list_contexts(kind)
            .into_iter()
            .filter(|c| match (&c.kind, &c.origin) {
                (ContextKind::Cached, Some(url)) => usage.used(tenant, url),
                _ => true,
            })
            .collect()
    }

    /// Notes that a request of `tenant` named the remote @contexts of `user` (its user
    /// @context, as written).
    pub fn note_tenant_use(&self, tenant: Option<&str>, user: Option<&Value>) {
        self.inner().usage.note(tenant, user);
    }

    /// Serve @context with details (clause 5.13.4): the metadata of the @context with local
    /// id `id` (or, for a Cached one, original URL `id`).
    pub fn context_details(&self, id: &str) -> Result<ContextInfo, JsonLdError> {
        let store = &self.inner().store;
        let found = store.find(id).ok_or_else(|| unknown(id))?;
        Ok(store.info(&found))
    }

    /// Serve @context (clause 5.13.4): the document (`{"@context": ...}`) of a Hosted or
    /// ImplicitlyCreated @context; a Cached one is `OperationNotSupported`.
    pub fn serve_context(&self, id: &str) -> Result<Value, JsonLdError> {
        match self.inner().store.find(id).ok_or_else(|| unknown(id))? {
            Found::Served(entry) => Ok(entry.document.clone()),
            Found::Core | Found::Cached(_) => Err(JsonLdError::NotServed(format!(
                "{id} is a Cached @context: only its details are served"
            ))),
        }
    }

    /// Delete @context (clause 5.13.5, without reload): removes the entry (durably for a
    /// served one). The built-in core @context cannot be deleted (`BadRequestData`).
    /// Requests resolved afterwards no longer use the removed content.
    pub async fn delete_context(&self, id: &str) -> Result<(), JsonLdError> {
        let inner = self.inner();
        match inner.store.find(id).ok_or_else(|| unknown(id))? {
            Found::Core => {
                return Err(JsonLdError::NotAllowed(
                    "the NGSI-LD core @context is built into the broker and cannot be deleted"
                        .into(),
                ))
            }
            Found::Served(entry) => {
                if let Some(dir) = &inner.dir {
                    let dir = Arc::clone(dir);
                    let local_id = entry.local_id.clone();
                    blocking(move || dir.remove(&local_id)).await?;
                }
                if let Some(shelf) = &inner.shelf {
                    shelf
                        .remove(&entry.local_id)
                        .await
                        .map_err(JsonLdError::Storage)?;
                }
                inner.store.remove_served(&entry.local_id);
            }
            Found::Cached(entry) => inner.store.remove_cached(&entry.url),
        }
        self.forget_resolutions();
        Ok(())
    }

    /// Reload @context (clause 5.13.5 with reload): downloads a Cached @context again and
    /// replaces the stored copy, which stays as it was if the download fails or is invalid
    /// (`LdContextNotAvailable`). Reload applies to Cached @contexts only: any other
    /// identifier is `BadRequestData`. The built-in core @context is the one this broker
    /// implements, so reloading it succeeds without downloading anything.
    pub async fn reload_context(&self, id: &str) -> Result<(), JsonLdError> {
        let inner = self.inner();
        let entry = match inner.store.find(id) {
            Some(Found::Core) => return Ok(()),
            Some(Found::Cached(entry)) => entry,
            Some(Found::Served(_)) | None => {
                return Err(JsonLdError::NotAllowed(format!(
                    "only Cached @contexts can be reloaded, and {id} does not identify one"
                )))
            }
        };
        let fetched = inner.fetcher.fetch(&entry.url).await.map_err(|e| match e {
            JsonLdError::Invalid(reason) => JsonLdError::NotAvailable {
                url: entry.url.clone(),
                reason,
            },
            other => other,
        })?;
        let lifetime = fetched.max_age.unwrap_or(inner.cached_lifetime);
        inner
            .store
            .insert_cached(&entry.url, fetched, lifetime, Utc::now());
        self.forget_resolutions();
        Ok(())
    }

    /// Another broker sharing the shelf added (`Some`, the record as shelved) or deleted
    /// (`None`) a served @context: this broker serves and uses it, or no longer does.
    pub fn shelved(&self, local_id: &str, record: Option<Value>) {
        let inner = self.inner();
        match record.map(serde_json::from_value::<StoredContext>) {
            None => {
                inner.store.remove_served(local_id);
                self.forget_resolutions();
            }
            Some(Ok(stored)) if stored.kind.is_served() && stored.local_id == local_id => {
                if matches!(inner.store.find(local_id), Some(Found::Served(_))) {
                    return;
                }
                match prepare_document(stored.document.get("@context").unwrap_or(&Value::Null)) {
                    Ok(prepared) => {
                        inner.store.insert_served(ServedEntry::new(
                            stored.local_id,
                            stored.kind,
                            stored.created_at,
                            stored.document,
                            prepared,
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(context = %local_id, "a shared @context is invalid: {e}")
                    }
                }
            }
            Some(_) => tracing::warn!(context = %local_id, "a shared @context is unreadable"),
        }
    }

    /// Validates `context` and stores it as a served entry of `kind`.
    async fn store_served(
        &self,
        kind: ContextKind,
        context: &Value,
    ) -> Result<ContextInfo, JsonLdError> {
        self.check_offline(context).await?;
        let prepared = prepare_document(context)
            .map_err(|e| JsonLdError::Invalid(format!("the @context is invalid: {e}")))?;
        let stored = StoredContext {
            local_id: new_local_id(),
            kind,
            created_at: Utc::now(),
            document: json!({ "@context": context }),
        };
        if let Some(dir) = &self.inner().dir {
            let dir = Arc::clone(dir);
            let record = stored.clone();
            blocking(move || dir.write(&record)).await?;
        }
        if let Some(shelf) = &self.inner().shelf {
            let record = serde_json::to_value(&stored)
                .map_err(|e| JsonLdError::Storage(format!("cannot encode a @context: {e}")))?;
            shelf
                .put(&stored.local_id, record)
                .await
                .map_err(JsonLdError::Storage)?;
        }
        let entry = ServedEntry::new(
            stored.local_id,
            stored.kind,
            stored.created_at,
            stored.document,
            prepared,
        );
        Ok(self.inner().store.insert_served(entry).info())
    }

    /// Processes `context` on top of the core with every referenced context taken as
    /// empty: checks its own term definitions and that its references are absolute URLs.
    async fn check_offline(&self, context: &Value) -> Result<(), JsonLdError> {
        let core = &self.inner().core_data.active;
        local_context(context)?
            .process_full(&mut (), core, &OfflineLoader, None, Options::default(), ())
            .await
            .map_err(processing_error)?;
        Ok(())
    }
}

fn unknown(id: &str) -> JsonLdError {
    JsonLdError::UnknownContext(id.to_owned())
}

/// Runs file I/O off the async runtime.
async fn blocking<F>(work: F) -> Result<(), JsonLdError>
where
    F: FnOnce() -> Result<(), JsonLdError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| JsonLdError::Storage(format!("the storage task failed: {e}")))?
}
