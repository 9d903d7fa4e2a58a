//! Importing an Orion-LD database: its `entities` and `csubs` documents, of the default
//! tenant's database and of every `<database>-<tenant>` one, converted into Rigel records
//! and written through a [`Loader`]. The layout is the one Orion-LD's documentation and
//! public issue threads show (docs/migration.md says which parts and versions).

pub mod entity;
mod read;
pub mod subscription;
pub mod values;

use std::collections::BTreeMap;

use async_trait::async_trait;
use rigel_model::subscription::Subscription;
use rigel_model::Tenant;
use serde_json::{Map, Value};

use crate::format::Record;
use crate::import::{ImportOptions, ImportReport, Loader};
use crate::TransferError;
use rigel_storage::Store;

pub use read::import_orion_ld;

/// Turns an NGSI-LD Subscription body into a subscription, its terms expanded with the
/// @context Orion-LD kept for it (`None`: the core @context). What the server provides with
/// its @context resolver.
#[async_trait]
pub trait SubscriptionParser: Send + Sync {
    async fn parse(
        &self,
        body: &Map<String, Value>,
        context: Option<&str>,
    ) -> Result<Subscription, String>;
}

/// Converts Orion-LD documents and loads the records.
pub struct OrionLoader<'a> {
    loader: Loader<'a>,
    parser: &'a dyn SubscriptionParser,
    /// Per tenant, entities written through the NGSIv2 API under a service path.
    service_paths: BTreeMap<Tenant, usize>,
}

impl<'a> OrionLoader<'a> {
    pub fn new(
        store: &'a dyn Store,
        options: ImportOptions,
        parser: &'a dyn SubscriptionParser,
    ) -> Self {
        OrionLoader {
            loader: Loader::new(store, options),
            parser,
            service_paths: BTreeMap::new(),
        }
    }

    /// One document of an `entities` collection.
    pub async fn entity(
        &mut self,
        tenant: &Tenant,
        at: String,
        doc: &Value,
    ) -> Result<(), TransferError> {
        let converted = match entity::entity(doc) {
            Ok(c) => c,
            Err(why) => {
                self.loader.reject(at, why);
                return Ok(());
            }
        };
        for remark in converted.remarks {
            self.loader.remark(at.clone(), remark);
        }
        if converted.service_path.is_some() {
            *self.service_paths.entry(tenant.clone()).or_default() += 1;
        }
        let record = Record::Entity {
            tenant: tenant.clone(),
            entity: converted.entity,
        };
        self.loader.load(at, record).await
    }

    /// One document of a `csubs` collection.
    pub async fn subscription(
        &mut self,
        tenant: &Tenant,
        at: String,
        doc: &Value,
    ) -> Result<(), TransferError> {
        let orion = match subscription::subscription(doc) {
            Ok(s) => s,
            Err(why) => {
                self.loader.reject(at, why);
                return Ok(());
            }
        };
        for remark in &orion.remarks {
            self.loader.remark(at.clone(), remark.clone());
        }
        let mut parsed = match self
            .parser
            .parse(&orion.body, orion.context.as_deref())
            .await
        {
            Ok(s) => s,
            Err(why) => {
                self.loader.reject(at, why);
                return Ok(());
            }
        };
        if let Some(t) = orion.created_at {
            parsed.created_at = t;
        }
        parsed.modified_at = orion.modified_at.unwrap_or(parsed.created_at);
        parsed.expires_at = orion.expires_at;
        parsed.is_active = orion.is_active;
        parsed.delivery = orion.delivery;
        let record = Record::Subscription {
            tenant: tenant.clone(),
            subscription: parsed,
        };
        self.loader.load(at, record).await
    }

    /// Notes what is left out of a tenant, with the reason.
    pub fn left_out(&mut self, at: String, what: String) {
        self.loader.remark(at, what);
    }

    pub async fn finish(mut self) -> Result<ImportReport, TransferError> {
        for (tenant, n) in std::mem::take(&mut self.service_paths) {
            self.loader.remark(
                format!("tenant {tenant}"),
                format!("{n} entities were written through the NGSIv2 API under a service path other than /; imported without it"),
            );
        }
        self.loader.finish().await
    }
}

#[cfg(test)]
mod tests;
