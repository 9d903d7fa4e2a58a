//! Query Temporal Evolution of Entities, distributed (clause 5.7.4.4): the local matches and
//! those of every registration offering `queryTemporal` whose entities, attributes and time
//! interval match, merged by id and instant as a temporal retrieval merges them, then
//! paged over entities (ascending id, or descending) and over instances.

use std::collections::BTreeMap;

use rigel_model::registration::operations::Operation;
use rigel_model::registration::{Mode, Registration};
use rigel_model::Tenant;
use rigel_query::registration::{Period, Wanted};
use rigel_storage::{EntityHistory, TimeProperty};

use super::query::{registered_ids, wanted_by, with_q_attributes, MAX_FROM_SOURCE};
use super::temporal::{merge_history, settle};
use super::{
    call_to, cooling_down, passed_through, registered_attributes, registered_types, warning,
    ClientQuery, Distributed, Distribution, Federation, SourceQuery, SourceTemporalQuery,
    SourceWarning,
};
use crate::temporal::{TemporalPage, TemporalQuery};
use crate::temporal_page;
use crate::{Broker, BrokerError};

/// One registration a temporal query goes to.
struct Target {
    registration: Registration,
    attributes: Vec<String>,
    ids: Vec<String>,
    types: Vec<String>,
}

impl Broker {
    /// Query Temporal Evolution of Entities (5.7.4.4), distributed: `client` is what the
    /// sources get besides the typed query.
    pub async fn query_temporal_distributed(
        &self,
        tenant: &Tenant,
        query: &TemporalQuery,
        client: &ClientQuery,
        distribution: &Distribution,
    ) -> Result<Distributed<TemporalPage>, BrokerError> {
        let mut warnings = Vec::new();
        let plan = self.temporal_query_targets(tenant, query, distribution, &mut warnings);
        let Some((federation, targets)) = plan else {
            let value = self.query_temporal(tenant, query).await?;
            return Ok(Distributed { value, warnings });
        };
        let want = query
            .offset
            .saturating_add(query.limit)
            .saturating_add(1)
            .min(MAX_FROM_SOURCE);
        // Every instance of the range of the first matches, here and at each source.
        let whole = TemporalQuery {
            entities: query.entities.clone(),
            history: rigel_storage::HistoryQuery {
                first_n: None,
                ..query.history.clone()
            },
            offset: 0,
            limit: want,
            count: false,
            paged: false,
            descending: false,
        };
        let local = match self.query_temporal(tenant, &whole).await {
            Ok(page) => page.entities,
            Err(BrokerError::NonexistentTenant(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let via = self.via_out(tenant, distribution, federation);
        let answers = futures::future::join_all(targets.iter().map(|target| {
            let call = call_to(&target.registration, &via, distribution, federation);
            let sources = federation.sources.clone();
            let request = SourceTemporalQuery {
                entities: SourceQuery {
                    query: &query.entities,
                    extra: &client.extra,
                    attributes: &target.attributes,
                    ids: &target.ids,
                    batch: false,
                    limit: want,
                },
                history: &whole.history,
            };
            async move { sources.query_temporal(&call, &request).await }
        }))
        .await;
        let now = self.now();
        let mut merged: BTreeMap<String, Option<EntityHistory>> = local
            .into_iter()
            .map(|h| (h.header.id.clone(), Some(h)))
            .collect();
        let mut auxiliary = Vec::new();
        for (target, answer) in targets.iter().zip(answers) {
            let reg = &target.registration;
            self.record_forward(tenant, reg, answer.is_ok(), now);
            match answer {
                Ok(histories) => {
                    let covered = histories.into_iter().filter_map(|h| target.within(h));
                    if reg.mode() == Mode::Auxiliary {
                        auxiliary.extend(covered);
                    } else {
                        for history in covered {
                            let held = merged.entry(history.header.id.clone()).or_default();
                            merge_history(held, history, false, query.history.property);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(registration = %reg.id, endpoint = %reg.endpoint, "context source failed: {e}");
                    warnings.push(warning(reg, &e));
                }
            }
        }
        for history in auxiliary {
            let held = merged.entry(history.header.id.clone()).or_default();
            merge_history(held, history, true, query.history.property);
        }
        let mut matches: Vec<EntityHistory> = merged
            .into_values()
            .flatten()
            .map(|mut h| {
                settle(&mut h, &query.history);
                h
            })
            .filter(|h| !h.attributes.is_empty())
            .collect();
        if query.descending {
            matches.reverse();
        }
        let total = matches.len();
        let mut page = TemporalPage {
            more: total > query.offset.saturating_add(query.limit),
            total: query.count.then_some(total),
            entities: matches
                .into_iter()
                .skip(query.offset)
                .take(query.limit)
                .collect(),
            cut: None,
        };
        if query.paged {
            for history in &mut page.entities {
                temporal_page::narrow_to_probe(history, &query.history, self.instance_page);
            }
            page.cut = temporal_page::cut(&mut page.entities, &query.history, self.instance_page);
        }
        Ok(Distributed {
            value: page,
            warnings,
        })
    }

    /// The registrations a temporal query goes to; `None` when it stays local.
    fn temporal_query_targets(
        &self,
        tenant: &Tenant,
        query: &TemporalQuery,
        distribution: &Distribution,
        warnings: &mut Vec<SourceWarning>,
    ) -> Option<(&Federation, Vec<Target>)> {
        if query.entities.has_linked_terms() {
            return None;
        }
        let (federation, registry) = self.distributing(tenant, distribution, warnings)?;
        let attributes = with_q_attributes(
            query.entities.attrs.clone().unwrap_or_default(),
            &query.entities,
        );
        let anytime = wanted_by(&query.entities, &attributes);
        let period = Period {
            management: query.history.property != TimeProperty::ObservedAt,
            from: query.history.range.from,
            to: query.history.range.to,
        };
        let timed: Vec<Wanted<'_>> = anytime
            .iter()
            .map(|w| Wanted {
                period: Some(period),
                ..*w
            })
            .collect();
        let now = self.now();
        let client_ids = query.entities.selectors.iter().any(|s| s.ids.is_some());
        let targets: Vec<Target> = registry
            .matching(tenant, now, |reg| {
                reg.operation_set().contains(&Operation::QueryTemporal)
                    && !passed_through(reg, &distribution.via)
                    && anytime.iter().chain(&timed).any(|w| w.matches(reg))
            })
            .into_iter()
            .filter(|reg| !cooling_down(reg, now, warnings))
            .map(|reg| {
                let matching: Vec<&Wanted<'_>> = anytime
                    .iter()
                    .chain(&timed)
                    .filter(|w| w.matches(&reg))
                    .collect();
                let whole = matching
                    .iter()
                    .any(|w| registered_attributes(&reg, w).is_empty());
                let held: Vec<String> = matching
                    .iter()
                    .flat_map(|w| registered_attributes(&reg, w))
                    .collect();
                Target {
                    attributes: if whole { Vec::new() } else { held },
                    ids: if client_ids {
                        Vec::new()
                    } else {
                        registered_ids(&reg, &anytime)
                    },
                    types: registered_types(&reg, &matching),
                    registration: reg,
                }
            })
            .collect();
        (!targets.is_empty()).then_some((federation, targets))
    }
}

impl Target {
    /// The part of an evolution the source answered that the registration covers: none
    /// when it has none of its types, else only the attributes it registers.
    fn within(&self, mut history: EntityHistory) -> Option<EntityHistory> {
        let typed =
            self.types.is_empty() || history.header.types.iter().any(|t| self.types.contains(t));
        if !typed {
            return None;
        }
        if !self.attributes.is_empty() {
            history
                .attributes
                .retain(|name, _| self.attributes.contains(name));
        }
        Some(history)
    }
}
