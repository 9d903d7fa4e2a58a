//! Retrieve Temporal Evolution of an Entity, distributed (clause 5.7.3.4): the local
//! evolution merged with those of the sources whose registration matches the entity and
//! offers `retrieveTemporal`. A registration with an observation or management interval
//! matches only when its interval meets the query's range (5.12); one without holds any
//! time. Each source is asked for every instance of the range; the merge keeps one instance
//! per dataset and instant (the latest modified; auxiliary sources only add instants nobody
//! else has), and `lastN`, the instance page or an aggregation are applied afterwards.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rigel_model::registration::operations::Operation;
use rigel_model::registration::{Mode, Registration};
use rigel_model::Tenant;
use rigel_query::registration::{Period, Wanted};
use rigel_storage::{EntityHistory, EntitySamples, HistoryQuery, Instance, TimeProperty};

use super::{
    call_to, cooling_down, passed_through, registered_attributes, warning, Distributed,
    Distribution, Federation, SourceTemporal, SourceWarning,
};
use crate::temporal::TemporalRead;
use crate::temporal_page;
use crate::{Broker, BrokerError};

/// One registration a temporal retrieval goes to, and what to ask it.
struct TemporalTarget {
    registration: Registration,
    query: HistoryQuery,
}

impl Broker {
    /// Retrieve Temporal Evolution of an Entity (5.7.3.4), distributed; `paged`: cut to the
    /// instance page (else every instance, as an aggregation needs).
    pub async fn retrieve_temporal_distributed(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
        paged: bool,
        distribution: &Distribution,
    ) -> Result<Distributed<TemporalRead>, BrokerError> {
        let mut warnings = Vec::new();
        let plan = self.temporal_sources(tenant, id, query, distribution, &mut warnings);
        let Some((federation, targets)) = plan else {
            let value = self.retrieve_temporal(tenant, id, query, paged).await?;
            return Ok(Distributed { value, warnings });
        };
        let mut history = self
            .merged_evolution(
                tenant,
                id,
                query,
                distribution,
                federation,
                &targets,
                &mut warnings,
            )
            .await?;
        let cut = if paged {
            temporal_page::narrow_to_probe(&mut history, query, self.instance_page);
            let mut histories = [history];
            let cut = temporal_page::cut(&mut histories, query, self.instance_page);
            let [cut_history] = histories;
            history = cut_history;
            cut
        } else {
            None
        };
        Ok(Distributed {
            value: TemporalRead { history, cut },
            warnings,
        })
    }

    /// The samples of an entity's evolution for an aggregation (4.5.19), merged with the
    /// sources' evolutions when registrations match.
    pub async fn retrieve_temporal_samples_distributed(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
        distribution: &Distribution,
    ) -> Result<Distributed<EntitySamples>, BrokerError> {
        let mut warnings = Vec::new();
        let plan = self.temporal_sources(tenant, id, query, distribution, &mut warnings);
        let Some((federation, targets)) = plan else {
            let value = self.retrieve_temporal_samples(tenant, id, query).await?;
            return Ok(Distributed { value, warnings });
        };
        let history = self
            .merged_evolution(
                tenant,
                id,
                query,
                distribution,
                federation,
                &targets,
                &mut warnings,
            )
            .await?;
        Ok(Distributed {
            value: EntitySamples::from_history(history, query.property),
            warnings,
        })
    }

    /// The local evolution and the sources', every instance of the range, merged and
    /// settled to what the query returns; a source that fails is a warning.
    #[allow(clippy::too_many_arguments)]
    async fn merged_evolution(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
        distribution: &Distribution,
        federation: &Federation,
        targets: &[TemporalTarget],
        warnings: &mut Vec<SourceWarning>,
    ) -> Result<EntityHistory, BrokerError> {
        let whole = HistoryQuery {
            first_n: None,
            ..query.clone()
        };
        let local = self.store.history(tenant, id, &whole).await?;
        let via = self.via_out(tenant, distribution, federation);
        let answers = futures::future::join_all(targets.iter().map(|target| {
            let call = call_to(&target.registration, &via, distribution, federation);
            let request = SourceTemporal {
                id,
                query: &target.query,
            };
            let sources = federation.sources.clone();
            async move { sources.retrieve_temporal(&call, &request).await }
        }))
        .await;
        let now = self.now();
        let mut merged = local;
        let mut auxiliary = Vec::new();
        for (target, answer) in targets.iter().zip(answers) {
            let reg = &target.registration;
            self.record_forward(tenant, reg, answer.is_ok(), now);
            match answer {
                Ok(Some(history)) if history.header.id == id => {
                    if reg.mode() == Mode::Auxiliary {
                        auxiliary.push(history);
                    } else {
                        merge_history(&mut merged, history, false, query.property);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(registration = %reg.id, endpoint = %reg.endpoint, "context source failed: {e}");
                    warnings.push(warning(reg, &e));
                }
            }
        }
        for history in auxiliary {
            merge_history(&mut merged, history, true, query.property);
        }
        let Some(mut history) = merged else {
            return Err(self.missing(tenant, id).await);
        };
        settle(&mut history, query);
        Ok(history)
    }

    /// The registrations a temporal retrieval of `id` goes to; `None` when it stays local.
    fn temporal_sources(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
        distribution: &Distribution,
        warnings: &mut Vec<SourceWarning>,
    ) -> Option<(&Federation, Vec<TemporalTarget>)> {
        let (federation, registry) = self.distributing(tenant, distribution, warnings)?;
        let ids = [id.to_owned()];
        let attributes = query.attrs.clone().unwrap_or_default();
        let anytime = Wanted {
            ids: Some(&ids),
            attributes: &attributes,
            ..Wanted::default()
        };
        let timed = Wanted {
            period: Some(Period {
                management: query.property != TimeProperty::ObservedAt,
                from: query.range.from,
                to: query.range.to,
            }),
            ..anytime
        };
        let now = self.now();
        let targets: Vec<TemporalTarget> = registry
            .matching(tenant, now, |reg| {
                reg.operation_set().contains(&Operation::RetrieveTemporal)
                    && !passed_through(reg, &distribution.via)
                    && (anytime.matches(reg) || timed.matches(reg))
            })
            .into_iter()
            .filter(|reg| !cooling_down(reg, now, warnings))
            .map(|reg| {
                let held = registered_attributes(&reg, &anytime);
                let query = HistoryQuery {
                    attrs: (!held.is_empty()).then_some(held),
                    first_n: None,
                    ..query.clone()
                };
                TemporalTarget {
                    registration: reg,
                    query,
                }
            })
            .collect();
        (!targets.is_empty()).then_some((federation, targets))
    }
}

/// A merged evolution reduced to what a query returns: the attributes and datasets asked
/// for, in time order, the last `lastN`; attributes left without instances removed.
pub(super) fn settle(history: &mut EntityHistory, query: &HistoryQuery) {
    for (name, instances) in history.attributes.iter_mut() {
        let asked = query.attrs.as_ref().is_none_or(|a| a.contains(name));
        instances.retain(|i| asked && query.takes_dataset(i.value.dataset_id.as_deref()));
        instances.sort_by_key(|i| instant(i, query.property));
        if let Some(n) = query.last_n {
            let skip = instances.len().saturating_sub(n);
            instances.drain(..skip);
        }
    }
    history
        .attributes
        .retain(|_, instances| !instances.is_empty());
}

/// The instant an instance is ordered and matched by.
pub(super) fn instant(instance: &Instance, property: TimeProperty) -> Option<DateTime<Utc>> {
    property
        .of(instance)
        .or(instance.value.modified_at)
        .or(instance.value.created_at)
}

/// Merges a source's evolution into the one held: types united, the earliest creation and
/// the latest change; per attribute one instance per dataset and instant, the latest
/// modified winning, except that auxiliary evolutions only add what is missing.
pub(super) fn merge_history(
    held: &mut Option<EntityHistory>,
    other: EntityHistory,
    auxiliary: bool,
    property: TimeProperty,
) {
    let Some(into) = held else {
        *held = Some(other);
        return;
    };
    for t in other.header.types {
        if !into.header.types.contains(&t) {
            into.header.types.push(t);
        }
    }
    if into.header.scope.is_none() {
        into.header.scope = other.header.scope;
    }
    into.header.created_at = into.header.created_at.min(other.header.created_at);
    into.header.modified_at = into.header.modified_at.max(other.header.modified_at);
    for (name, instances) in other.attributes {
        let list = into.attributes.entry(name).or_default();
        let mut at: BTreeMap<(Option<String>, Option<DateTime<Utc>>), usize> = list
            .iter()
            .enumerate()
            .map(|(i, x)| ((x.value.dataset_id.clone(), instant(x, property)), i))
            .collect();
        for instance in instances {
            let key = (
                instance.value.dataset_id.clone(),
                instant(&instance, property),
            );
            match at.get(&key) {
                None => {
                    at.insert(key, list.len());
                    list.push(instance);
                }
                Some(&i)
                    if !auxiliary && instance.value.modified_at > list[i].value.modified_at =>
                {
                    list[i] = instance;
                }
                Some(_) => {}
            }
        }
    }
}
