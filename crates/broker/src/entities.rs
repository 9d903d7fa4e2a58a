//! Entity-level operations: create, retrieve, delete, replace (clauses 5.6.1, 5.6.6, 5.6.18, 5.7.1).

use rigel_model::{Entity, Tenant};
use rigel_storage::{Expect, WriteOp};

use crate::{Broker, BrokerError};

impl Broker {
    /// Create Entity: stores a new entity; `AlreadyExists` when the id is taken.
    pub async fn create_entity(
        &self,
        tenant: &Tenant,
        mut entity: Entity,
    ) -> Result<(), BrokerError> {
        let now = self.clock.now();
        stamp_new(&mut entity, now);
        let id = entity.id.clone();
        if self
            .commit_one(
                tenant,
                WriteOp::Put {
                    entity,
                    expect: Expect::Absent,
                },
                None,
            )
            .await?
        {
            Ok(())
        } else {
            Err(BrokerError::AlreadyExists(id))
        }
    }

    /// Retrieve Entity: the entity, which must have one of `types` when given.
    pub async fn retrieve_entity(
        &self,
        tenant: &Tenant,
        id: &str,
        types: Option<&[String]>,
    ) -> Result<Entity, BrokerError> {
        let entity = self.load(tenant, id).await?.value;
        if !crate::has_any_type(&entity, types) {
            return Err(BrokerError::EntityNotFound(id.to_owned()));
        }
        Ok(entity)
    }

    /// Delete Entity.
    pub async fn delete_entity(
        &self,
        tenant: &Tenant,
        id: &str,
        types: Option<&[String]>,
    ) -> Result<(), BrokerError> {
        self.modify(tenant, id, types, |_| Ok((None, ()))).await
    }

    /// Replace Entity: every attribute is replaced by those of `replacement`; `createdAt` stays.
    pub async fn replace_entity(
        &self,
        tenant: &Tenant,
        replacement: Entity,
        types: Option<&[String]>,
    ) -> Result<(), BrokerError> {
        let now = self.clock.now();
        let id = replacement.id.clone();
        self.modify(tenant, &id, types, |old| {
            let mut next = replacement.clone();
            stamp_new(&mut next, now);
            next.created_at = old.created_at;
            Ok((Some(next), ()))
        })
        .await
    }
}

/// Sets the system timestamps of a freshly written entity and all its attributes.
pub(crate) fn stamp_new(entity: &mut Entity, now: chrono::DateTime<chrono::Utc>) {
    entity.created_at = now;
    entity.modified_at = now;
    for instance in entity.attributes.values_mut().flatten() {
        crate::merge::stamp(instance, now, None);
    }
}
