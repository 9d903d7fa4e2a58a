//! Retrieve Entity, distributed (clause 5.7.1.4): the local entity merged with the copies
//! of the sources whose registration matches, each asked with the operation it offers
//! (`retrieveEntity`, else a query by id: `queryEntity`, then `queryBatch`).

use rigel_model::registration::operations::Operation;
use rigel_model::registration::Registration;
use rigel_model::{Entity, Tenant};
use rigel_query::registration::Wanted;
use rigel_query::TypeExpr;

use super::cache::Kept;
use super::{
    call_to, cooling_down, merge_into, passed_through, registered_attributes, registered_types,
    warning, within, Distributed, Distribution, Federation, RetrieveBy, SourceError,
    SourceRetrieve, SourceWarning,
};
use crate::{Broker, BrokerError};

impl Broker {
    /// Retrieve Entity (5.7.1.4), distributed: the local entity merged with what matching
    /// sources hold. `attributes` are the expanded names asked for (empty: all).
    pub async fn retrieve_distributed(
        &self,
        tenant: &Tenant,
        id: &str,
        types: Option<&[String]>,
        attributes: &[String],
        distribution: &Distribution,
    ) -> Result<Distributed<Entity>, BrokerError> {
        let local = self.store.get(tenant, id).await?.map(|v| v.value);
        let mut warnings = Vec::new();
        let plan = self.sources_for(tenant, id, types, attributes, distribution, &mut warnings);
        let Some((federation, targets)) = plan else {
            return self.local_only(tenant, id, types, local, warnings).await;
        };
        let via = self.via_out(tenant, distribution, federation);
        let now = self.now();
        let keys: Vec<String> = targets.iter().map(|t| t.key(id)).collect();
        let kept = self.kept_answers(targets.iter().map(|t| &t.registration).zip(&keys));
        let calls = targets.iter().zip(&kept).map(|(target, kept)| {
            let call = call_to(&target.registration, &via, distribution, federation);
            let request = SourceRetrieve {
                id,
                types: &target.types,
                attributes: &target.attributes,
                by: target.by,
            };
            let sources = federation.sources.clone();
            async move {
                match kept {
                    Some(Kept::Entity(entity)) => Ok(entity.clone()),
                    _ => sources.retrieve(&call, &request).await,
                }
            }
        });
        let answers = futures::future::join_all(calls).await;
        let mut merged = local;
        let mut auxiliary = Vec::new();
        for (((target, answer), kept), key) in targets.iter().zip(answers).zip(kept).zip(keys) {
            let reg = &target.registration;
            let fresh = answer.as_ref().ok().map(|e| Kept::Entity(e.clone()));
            self.account_read(tenant, reg, key, kept.is_some(), fresh, &mut warnings);
            // Only what the registration covers counts: its types, its attributes.
            let answer = answer.map(|found| found.and_then(|e| target.within(e)));
            match answer {
                Ok(None) => {}
                Ok(Some(entity)) if entity.id != id => warnings.push(warning(
                    reg,
                    &SourceError::Invalid(format!("answered with entity {}", entity.id)),
                )),
                Ok(Some(entity)) if reg.mode() == rigel_model::registration::Mode::Auxiliary => {
                    auxiliary.push(entity)
                }
                Ok(Some(entity)) => match &mut merged {
                    Some(held) => merge_into(held, entity, false, now),
                    None => merged = Some(entity),
                },
                Err(e) => {
                    tracing::warn!(registration = %reg.id, endpoint = %reg.endpoint, "context source failed: {e}");
                    warnings.push(warning(reg, &e));
                }
            }
        }
        for entity in auxiliary {
            match &mut merged {
                Some(held) => merge_into(held, entity, true, now),
                None => merged = Some(entity),
            }
        }
        match merged {
            Some(entity) if crate::has_any_type(&entity, types) => Ok(Distributed {
                value: entity,
                warnings,
            }),
            _ => Err(BrokerError::EntityNotFound(id.to_owned())),
        }
    }

    async fn local_only(
        &self,
        tenant: &Tenant,
        id: &str,
        types: Option<&[String]>,
        local: Option<Entity>,
        warnings: Vec<SourceWarning>,
    ) -> Result<Distributed<Entity>, BrokerError> {
        match local {
            Some(entity) if crate::has_any_type(&entity, types) => Ok(Distributed {
                value: entity,
                warnings,
            }),
            Some(_) => Err(BrokerError::EntityNotFound(id.to_owned())),
            None => Err(self.missing(tenant, id).await),
        }
    }

    /// The registrations a retrieval of `id` goes to, with what to ask each; `None` when
    /// it stays local.
    fn sources_for(
        &self,
        tenant: &Tenant,
        id: &str,
        types: Option<&[String]>,
        attributes: &[String],
        distribution: &Distribution,
        warnings: &mut Vec<SourceWarning>,
    ) -> Option<(&Federation, Vec<Target>)> {
        let (federation, registry) = self.distributing(tenant, distribution, warnings)?;
        let type_expr = types.map(|t| TypeExpr::any_of(t.to_vec()));
        let ids = [id.to_owned()];
        let wanted = Wanted {
            types: type_expr.as_ref(),
            ids: Some(&ids),
            attributes,
            ..Wanted::default()
        };
        let now = self.now();
        let targets: Vec<Target> = registry
            .matching(tenant, now, |reg| {
                wanted.matches(reg) && !passed_through(reg, &distribution.via)
            })
            .into_iter()
            .filter(|reg| !cooling_down(reg, now, warnings))
            .filter_map(|reg| Target::retrieve(reg, &wanted, types))
            .collect();
        (!targets.is_empty()).then_some((federation, targets))
    }
}

/// One registration a read goes to, and what to ask it.
struct Target {
    registration: Registration,
    types: Vec<String>,
    attributes: Vec<String>,
    by: RetrieveBy,
    /// The entity types the matching elements register.
    registered_types: Vec<String>,
}

impl Target {
    /// The retrieval for a matching registration: its entity types when the client named
    /// none, the attributes both sides name; `None` when it offers no way to retrieve.
    fn retrieve(reg: Registration, wanted: &Wanted<'_>, types: Option<&[String]>) -> Option<Self> {
        let operations = reg.operation_set();
        let by = if operations.contains(&Operation::RetrieveEntity) {
            RetrieveBy::Retrieve
        } else if operations.contains(&Operation::QueryEntity) {
            RetrieveBy::Query
        } else if operations.contains(&Operation::QueryBatch) {
            RetrieveBy::QueryBatch
        } else {
            return None;
        };
        let attributes = registered_attributes(&reg, wanted);
        let registered = registered_types(&reg, &[wanted]);
        let types = match types {
            Some(t) => t.to_vec(),
            // A retrieval needs no type; a query does.
            None if by == RetrieveBy::Retrieve => Vec::new(),
            None => registered.clone(),
        };
        Some(Self {
            registration: reg,
            types,
            attributes,
            by,
            registered_types: registered,
        })
    }

    /// What identifies the retrieval at its registration's source, for the cache.
    fn key(&self, id: &str) -> String {
        format!(
            "retrieve {} {id} {:?} {:?} {:?}",
            self.registration.id, self.types, self.attributes, self.by
        )
    }

    /// The part of a source's answer the registration covers.
    fn within(&self, entity: Entity) -> Option<Entity> {
        within(entity, &self.registered_types, &self.attributes)
    }
}
