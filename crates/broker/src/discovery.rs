//! Discovery (clauses 5.7.5-5.7.12): the entity types and attributes in use in a tenant,
//! with their details. Names are full IRIs; the HTTP layer compacts them.
//!
//! Types in use come from the type index (one seek per type). Details (attribute names,
//! counts, kinds) are gathered from the entities themselves, in the store's read of each
//! type, so their cost grows with the entities a request describes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rigel_model::{Entity, Tenant};
use rigel_query::{EntityQuery, EntitySelector, TypeExpr};

use crate::{Broker, BrokerError};

/// An entity type with the attributes its entities have (EntityType, 5.2.25, and
/// EntityTypeInfo, 5.2.26).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TypeDetails {
    pub type_iri: String,
    pub entity_count: usize,
    /// Attribute IRI -> the attribute kinds seen ("Property", "Relationship", ...).
    pub attributes: BTreeMap<String, BTreeSet<&'static str>>,
}

/// An attribute name with where it is used (Attribute, 5.2.28).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttributeDetails {
    pub attribute_iri: String,
    /// Attribute instances with this name.
    pub attribute_count: usize,
    pub attribute_types: BTreeSet<&'static str>,
    pub type_names: BTreeSet<String>,
}

/// Visits the entities `query` selects inside the store's read without returning them.
async fn visit(
    broker: &Broker,
    tenant: &Tenant,
    query: EntityQuery,
    see: impl FnMut(&Entity) + Send + 'static,
) -> Result<(), BrokerError> {
    broker
        .store
        .visit(tenant, Arc::new(query), Box::new(see))
        .await?;
    Ok(())
}

impl Broker {
    async fn existing_tenant(&self, tenant: &Tenant) -> Result<(), BrokerError> {
        if self.store.tenant_exists(tenant).await? {
            Ok(())
        } else {
            Err(BrokerError::NonexistentTenant(tenant.to_string()))
        }
    }

    /// Retrieve Available Entity Types (5.7.5): the types in use, in IRI order.
    pub async fn entity_types(&self, tenant: &Tenant) -> Result<Vec<String>, BrokerError> {
        self.existing_tenant(tenant).await?;
        Ok(self.store.types_in_use(tenant).await?)
    }

    /// Retrieve Details of Available Entity Types (5.7.6) or of one type (5.7.7, `only`).
    pub async fn entity_type_details(
        &self,
        tenant: &Tenant,
        only: Option<&str>,
    ) -> Result<Vec<TypeDetails>, BrokerError> {
        self.existing_tenant(tenant).await?;
        let types = match only {
            Some(t) => vec![t.to_owned()],
            None => self.store.types_in_use(tenant).await?,
        };
        let details: Arc<Mutex<BTreeMap<String, TypeDetails>>> = Arc::default();
        let wanted = Arc::new(types.clone());
        {
            let details = Arc::clone(&details);
            let of_types = EntityQuery {
                selectors: vec![EntitySelector {
                    types: Some(TypeExpr::any_of(types)),
                    ..EntitySelector::default()
                }],
                ..EntityQuery::default()
            };
            visit(self, tenant, of_types, move |e| {
                let Ok(mut details) = details.lock() else {
                    return;
                };
                for t in e.types.iter().filter(|t| wanted.contains(t)) {
                    let entry = details.entry(t.clone()).or_insert_with(|| TypeDetails {
                        type_iri: t.clone(),
                        ..TypeDetails::default()
                    });
                    entry.entity_count += 1;
                    for (name, instances) in &e.attributes {
                        let kinds = entry.attributes.entry(name.clone()).or_default();
                        kinds.extend(instances.iter().map(|i| i.value.type_name()));
                    }
                }
            })
            .await?;
        }
        let details = std::mem::take(&mut *details.lock().map_err(|_| poisoned())?);
        Ok(details.into_values().collect())
    }

    /// Retrieve Available Attributes (5.7.8) and their details (5.7.9), or one attribute's
    /// details (5.7.10, `only`): every attribute name used by an entity of the tenant.
    pub async fn attribute_details(
        &self,
        tenant: &Tenant,
        only: Option<&str>,
    ) -> Result<Vec<AttributeDetails>, BrokerError> {
        self.existing_tenant(tenant).await?;
        let details: Arc<Mutex<BTreeMap<String, AttributeDetails>>> = Arc::default();
        let only = only.map(str::to_owned);
        {
            let details = Arc::clone(&details);
            visit(self, tenant, EntityQuery::default(), move |e| {
                let Ok(mut details) = details.lock() else {
                    return;
                };
                for (name, instances) in &e.attributes {
                    if only.as_ref().is_some_and(|o| o != name) {
                        continue;
                    }
                    let entry = details
                        .entry(name.clone())
                        .or_insert_with(|| AttributeDetails {
                            attribute_iri: name.clone(),
                            ..AttributeDetails::default()
                        });
                    entry.attribute_count += instances.len();
                    entry
                        .attribute_types
                        .extend(instances.iter().map(|i| i.value.type_name()));
                    entry.type_names.extend(e.types.iter().cloned());
                }
            })
            .await?;
        }
        let details = std::mem::take(&mut *details.lock().map_err(|_| poisoned())?);
        Ok(details.into_values().collect())
    }
}

fn poisoned() -> BrokerError {
    BrokerError::Storage(rigel_storage::StorageError::Io(
        "a discovery scan failed midway".into(),
    ))
}
