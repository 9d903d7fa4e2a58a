//! Attribute-level operations: append, update, partial update, replace, delete, and merge
//! (clauses 5.6.2-5.6.5, 5.6.17, 5.6.19).

use rigel_model::codec::parse::{Fragment, Patch};
use rigel_model::{Attribute, Tenant};
use serde_json::{Map, Value};

use crate::{merge, Broker, BrokerError};

/// The parsed body of an append, update or merge: attributes plus entity-level members.
#[derive(Debug, Clone, Default)]
pub struct AttributeUpdate {
    pub attributes: Fragment,
    /// Entity types to add (expanded).
    pub types: Vec<String>,
    /// New scopes; `Some(empty)` removes the scope.
    pub scope: Option<Vec<String>>,
}

/// The parsed body and options of a Merge Entity.
#[derive(Debug, Clone, Default)]
pub struct EntityMerge {
    /// Expanded attribute names -> expanded attribute JSON (see `expand_attribute_json`).
    pub attributes: Map<String, Value>,
    /// Entity types to add (expanded).
    pub types: Vec<String>,
    /// New scopes; `Some(empty)` removes the scope.
    pub scope: Option<Vec<String>>,
    pub options: merge::MergeOptions,
}

/// Which attributes an update changed and which it did not, with reasons (clause 5.2.18).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateResult {
    pub updated: Vec<String>,
    pub not_updated: Vec<(String, String)>,
}

impl UpdateResult {
    pub(crate) fn not_updated(&mut self, name: &str, reason: &str) {
        self.not_updated.push((name.to_owned(), reason.to_owned()));
    }

    pub fn is_complete(&self) -> bool {
        self.not_updated.is_empty()
    }
}

impl Broker {
    /// Append Entity Attributes (5.6.3); with `overwrite` false existing ones are kept.
    pub async fn append_attributes(
        &self,
        tenant: &Tenant,
        id: &str,
        update: &AttributeUpdate,
        overwrite: bool,
        types: Option<&[String]>,
    ) -> Result<UpdateResult, BrokerError> {
        let now = self.clock.now();
        self.modify(tenant, id, types, |mut e| {
            let r = merge::apply_update(&mut e, update, overwrite, false, now);
            Ok((Some(e), r))
        })
        .await
    }

    /// Update Entity Attributes (5.6.2): replaces matching instances, adds the others.
    /// Every write takes the operation's `type` selector: an entity without one of those
    /// types is `ResourceNotFound`.
    pub async fn update_attributes(
        &self,
        tenant: &Tenant,
        id: &str,
        update: &AttributeUpdate,
        types: Option<&[String]>,
    ) -> Result<UpdateResult, BrokerError> {
        let now = self.clock.now();
        self.modify(tenant, id, types, |mut e| {
            let r = merge::apply_update(&mut e, update, true, true, now);
            Ok((Some(e), r))
        })
        .await
    }

    /// Merge Entity (5.6.17).
    pub async fn merge_entity(
        &self,
        tenant: &Tenant,
        id: &str,
        merge: &EntityMerge,
        types: Option<&[String]>,
    ) -> Result<(), BrokerError> {
        let now = self.clock.now();
        self.modify(tenant, id, types, |mut e| {
            merge::apply_merge(
                &mut e,
                &merge.attributes,
                &merge.types,
                merge.scope.as_deref(),
                &merge.options,
                now,
            )?;
            Ok((Some(e), ()))
        })
        .await
    }

    /// Partial Attribute Update (5.6.4). `fragment` is the expanded attribute JSON.
    pub async fn partial_attribute_update(
        &self,
        tenant: &Tenant,
        id: &str,
        attribute: &str,
        fragment: &Value,
        types: Option<&[String]>,
    ) -> Result<(), BrokerError> {
        let now = self.clock.now();
        self.modify(tenant, id, types, |mut e| {
            if merge::apply_partial(&mut e, attribute, fragment, now)? {
                Ok((Some(e), ()))
            } else {
                Err(attribute_missing(id, attribute))
            }
        })
        .await
    }

    /// Replace Attribute (5.6.19): the instance with the same datasetId must exist.
    pub async fn replace_attribute(
        &self,
        tenant: &Tenant,
        id: &str,
        attribute: &str,
        instances: &[Attribute],
        types: Option<&[String]>,
    ) -> Result<(), BrokerError> {
        let now = self.clock.now();
        self.modify(tenant, id, types, |mut e| {
            let existing = e.instances(attribute);
            if instances
                .iter()
                .any(|new| !existing.iter().any(|old| old.dataset_id == new.dataset_id))
            {
                return Err(attribute_missing(id, attribute));
            }
            let update = AttributeUpdate {
                attributes: Fragment::from([(
                    attribute.to_owned(),
                    instances.iter().cloned().map(Patch::Set).collect(),
                )]),
                ..Default::default()
            };
            merge::apply_update(&mut e, &update, true, false, now);
            Ok((Some(e), ()))
        })
        .await
    }

    /// Delete Attribute (5.6.5).
    pub async fn delete_attribute(
        &self,
        tenant: &Tenant,
        id: &str,
        attribute: &str,
        dataset_id: Option<&str>,
        delete_all: bool,
        types: Option<&[String]>,
    ) -> Result<(), BrokerError> {
        let now = self.clock.now();
        self.modify(tenant, id, types, |mut e| {
            if merge::delete_attribute(&mut e, attribute, dataset_id, delete_all, now) {
                Ok((Some(e), ()))
            } else {
                Err(attribute_missing(id, attribute))
            }
        })
        .await
    }
}

impl Broker {
    /// Removes the scope of an entity (Delete Attribute on `scope`).
    pub async fn delete_scope(
        &self,
        tenant: &Tenant,
        id: &str,
        types: Option<&[String]>,
    ) -> Result<(), BrokerError> {
        let now = self.clock.now();
        self.modify(tenant, id, types, |mut e| {
            if e.scope.take().is_none() {
                return Err(attribute_missing(id, "scope"));
            }
            e.modified_at = now;
            Ok((Some(e), ()))
        })
        .await
    }
}

fn attribute_missing(id: &str, attribute: &str) -> BrokerError {
    BrokerError::AttributeNotFound {
        entity: id.to_owned(),
        attribute: attribute.to_owned(),
    }
}
