//! Reading an Orion-LD database over the MongoDB protocol: which databases are its tenants,
//! and their documents as relaxed Extended JSON for the conversion.

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Client;
use rigel_model::Tenant;
use rigel_storage::Store;

use super::{OrionLoader, SubscriptionParser};
use crate::import::{ImportOptions, ImportReport};
use crate::TransferError;

/// Imports every tenant of the Orion-LD deployment at `url` whose default database is
/// `database` (Orion-LD's `-db`, `orion` unless changed) into `store`.
pub async fn import_orion_ld(
    url: &str,
    database: &str,
    store: &dyn Store,
    parser: &dyn SubscriptionParser,
    options: ImportOptions,
) -> Result<ImportReport, TransferError> {
    let client = Client::with_uri_str(url).await.map_err(source)?;
    let mut loader = OrionLoader::new(store, options, parser);
    for (name, tenant) in tenants(&client, database).await? {
        let db = client.database(&name);
        let mut entities = db
            .collection::<Document>("entities")
            .find(doc! {})
            .await
            .map_err(source)?;
        while let Some(document) = entities.try_next().await.map_err(source)? {
            let at = at(&name, "entities", &document);
            loader.entity(&tenant, at, &json(document)).await?;
        }
        let mut subscriptions = db
            .collection::<Document>("csubs")
            .find(doc! {})
            .await
            .map_err(source)?;
        while let Some(document) = subscriptions.try_next().await.map_err(source)? {
            let at = at(&name, "csubs", &document);
            loader.subscription(&tenant, at, &json(document)).await?;
        }
        let registrations = db
            .collection::<Document>("registrations")
            .count_documents(doc! {})
            .await
            .map_err(source)?;
        if registrations > 0 {
            loader.left_out(
                format!("{name}.registrations"),
                format!("{registrations} context source registrations not imported (their layout in Orion-LD is not documented); register them again"),
            );
        }
    }
    loader.finish().await
}

/// The databases of the deployment's tenants, with their tenants: `database` itself (the
/// default tenant) and `database-<tenant>`.
async fn tenants(client: &Client, database: &str) -> Result<Vec<(String, Tenant)>, TransferError> {
    let prefix = format!("{database}-");
    let mut found = Vec::new();
    for name in client.list_database_names().await.map_err(source)? {
        let tenant = if name == database {
            Tenant::default_tenant()
        } else if let Some(t) = name.strip_prefix(&prefix) {
            match Tenant::named(t) {
                Ok(t) => t,
                Err(_) => continue,
            }
        } else {
            continue;
        };
        found.push((name, tenant));
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    if found.is_empty() {
        return Err(TransferError::Source(format!(
            "no Orion-LD database named {database:?} or {prefix}<tenant> on this server"
        )));
    }
    Ok(found)
}

/// Where a document came from, for the report: database, collection and `_id`.
fn at(database: &str, collection: &str, document: &Document) -> String {
    let id = match document.get("_id") {
        Some(Bson::Document(key)) => key.get_str("id").unwrap_or("?").to_owned(),
        Some(Bson::String(id)) => id.clone(),
        Some(other) => other.to_string(),
        None => "?".to_owned(),
    };
    format!("{database}.{collection} {id}")
}

fn json(document: Document) -> serde_json::Value {
    Bson::Document(document).into_relaxed_extjson()
}

fn source(e: mongodb::error::Error) -> TransferError {
    TransferError::Source(e.to_string())
}
