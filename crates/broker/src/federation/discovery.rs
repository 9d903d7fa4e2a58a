//! Discovery, distributed (clause 5.7.11): the entity types and attributes in local use,
//! merged with those of every registration's source that offers the discovery operation
//! (`retrieveEntityTypes`, `retrieveEntityTypeDetails`, `retrieveEntityTypeInfo`,
//! `retrieveAttrTypes`, `retrieveAttrTypeDetails`, `retrieveAttrTypeInfo`). The spec
//! leaves the choice between what registrations declare ("possibly available") and asking
//! the sources; asking gives the accurate lists. Counts are added up: an entity two sources
//! both hold counts twice (5.7.11 allows estimates). A failing source is a warning.

use std::collections::BTreeMap;

use rigel_model::registration::Mode;
use rigel_model::Tenant;
use rigel_query::registration::Wanted;
use rigel_query::TypeExpr;

use super::{
    call_to, cooling_down, passed_through, warning, Discovered, Distributed, Distribution,
    SourceDiscovery,
};
use crate::discovery::{AttributeDetails, TypeDetails};
use crate::{Broker, BrokerError};

impl Broker {
    /// Entity types in use (5.7.5-5.7.7) here and at the sources: the list
    /// (`SourceDiscovery::Types`, only names), their details, or one type's information.
    pub async fn types_distributed(
        &self,
        tenant: &Tenant,
        ask: SourceDiscovery<'_>,
        distribution: &Distribution,
    ) -> Result<Distributed<Vec<TypeDetails>>, BrokerError> {
        let local = match ask {
            SourceDiscovery::Types => self.entity_types(tenant).await.map(|types| {
                types
                    .into_iter()
                    .map(|type_iri| TypeDetails {
                        type_iri,
                        ..TypeDetails::default()
                    })
                    .collect()
            }),
            SourceDiscovery::TypeInfo(only) => self.entity_type_details(tenant, Some(only)).await,
            _ => self.entity_type_details(tenant, None).await,
        };
        let (local, remote) = self.discover(tenant, ask, distribution, local).await?;
        let mut merged: BTreeMap<String, TypeDetails> = BTreeMap::new();
        for found in local
            .into_iter()
            .chain(remote.value.into_iter().flat_map(|d| match d {
                Discovered::Types(types) => types,
                Discovered::Attributes(_) => Vec::new(),
            }))
        {
            if matches!(ask, SourceDiscovery::TypeInfo(only) if only != found.type_iri) {
                continue;
            }
            let held = merged
                .entry(found.type_iri.clone())
                .or_insert_with(|| TypeDetails {
                    type_iri: found.type_iri.clone(),
                    ..TypeDetails::default()
                });
            held.entity_count += found.entity_count;
            for (name, kinds) in found.attributes {
                held.attributes.entry(name).or_default().extend(kinds);
            }
        }
        Ok(Distributed {
            value: merged.into_values().collect(),
            warnings: remote.warnings,
        })
    }

    /// Attributes in use (5.7.8-5.7.10) here and at the sources: the list, their details,
    /// or one attribute's information.
    pub async fn attributes_distributed(
        &self,
        tenant: &Tenant,
        ask: SourceDiscovery<'_>,
        distribution: &Distribution,
    ) -> Result<Distributed<Vec<AttributeDetails>>, BrokerError> {
        let only = match ask {
            SourceDiscovery::AttributeInfo(only) => Some(only),
            _ => None,
        };
        let local = self.attribute_details(tenant, only).await;
        let (local, remote) = self.discover(tenant, ask, distribution, local).await?;
        let mut merged: BTreeMap<String, AttributeDetails> = BTreeMap::new();
        for found in local
            .into_iter()
            .chain(remote.value.into_iter().flat_map(|d| match d {
                Discovered::Attributes(attributes) => attributes,
                Discovered::Types(_) => Vec::new(),
            }))
        {
            if only.is_some_and(|only| only != found.attribute_iri) {
                continue;
            }
            let held = merged
                .entry(found.attribute_iri.clone())
                .or_insert_with(|| AttributeDetails {
                    attribute_iri: found.attribute_iri.clone(),
                    ..AttributeDetails::default()
                });
            held.attribute_count += found.attribute_count;
            held.attribute_types.extend(found.attribute_types);
            held.type_names.extend(found.type_names);
        }
        Ok(Distributed {
            value: merged.into_values().collect(),
            warnings: remote.warnings,
        })
    }

    /// Asks every matching registration's source; the local part (empty when the tenant
    /// is not held here but a source answered) and the sources' answers.
    async fn discover<T>(
        &self,
        tenant: &Tenant,
        ask: SourceDiscovery<'_>,
        distribution: &Distribution,
        local: Result<Vec<T>, BrokerError>,
    ) -> Result<(Vec<T>, Distributed<Vec<Discovered>>), BrokerError> {
        let mut warnings = Vec::new();
        let mut answers = Vec::new();
        if let Some((federation, registry)) = self.distributing(tenant, distribution, &mut warnings)
        {
            let types = match ask {
                SourceDiscovery::TypeInfo(only) => Some(TypeExpr::any_of(vec![only.to_owned()])),
                _ => None,
            };
            let attributes = match ask {
                SourceDiscovery::AttributeInfo(only) => vec![only.to_owned()],
                _ => Vec::new(),
            };
            let wanted = Wanted {
                types: types.as_ref(),
                attributes: &attributes,
                ..Wanted::default()
            };
            let now = self.now();
            let operation = ask.operation();
            let targets: Vec<_> = registry
                .matching(tenant, now, |reg| {
                    reg.mode() != Mode::Auxiliary
                        && reg.operation_set().contains(&operation)
                        && !passed_through(reg, &distribution.via)
                        && wanted.matches(reg)
                })
                .into_iter()
                .filter(|reg| !cooling_down(reg, now, &mut warnings))
                .collect();
            let via = self.via_out(tenant, distribution, federation);
            let replies = futures::future::join_all(targets.iter().map(|reg| {
                let call = call_to(reg, &via, distribution, federation);
                let sources = federation.sources.clone();
                async move { sources.discover(&call, ask).await }
            }))
            .await;
            for (reg, reply) in targets.iter().zip(replies) {
                self.record_forward(tenant, reg, reply.is_ok(), now);
                match reply {
                    Ok(found) => answers.push(found),
                    Err(e) => {
                        tracing::warn!(registration = %reg.id, endpoint = %reg.endpoint, "context source failed: {e}");
                        warnings.push(warning(reg, &e));
                    }
                }
            }
        }
        let local = match local {
            Ok(local) => local,
            Err(BrokerError::NonexistentTenant(_)) if !answers.is_empty() => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok((
            local,
            Distributed {
                value: answers,
                warnings,
            },
        ))
    }
}
