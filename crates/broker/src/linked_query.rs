//! Query Entities with linked-entity terms in q (`sensor{humidity}==40`, clause 4.9
//! examples 13 and 14): a first pass selects the candidates with those terms taken to
//! match, the entities their relationships point at are then fetched level by level, and
//! q is evaluated again following the relationships. The candidates are held in memory,
//! bounded as an ordered query's matches are.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use rigel_model::{Entity, Tenant};
use rigel_query::OrderBy;
use rigel_storage::Links;

use crate::query::{page, EntityQuery, Paging, QueryResult, MAX_ORDERED_MATCHES};
use crate::{Broker, BrokerError};

impl Broker {
    /// [`Broker::query_entities`] for a q with linked-entity terms.
    pub(crate) async fn query_linked(
        &self,
        tenant: &Tenant,
        query: EntityQuery,
        order: Option<OrderBy>,
        paging: Paging,
    ) -> Result<QueryResult, BrokerError> {
        let query = Arc::new(query);
        let advice = "narrow a query with linked-entity terms with a type, attrs or other q terms";
        let candidates = self
            .all_matches(tenant, Arc::clone(&query), Links::Assume, advice)
            .await?;
        let Some(q) = query.q.as_ref() else {
            return Ok(page(candidates, order.as_ref(), paging));
        };
        let mut linked: HashMap<String, Arc<Entity>> = HashMap::new();
        let mut missing: HashSet<String> = HashSet::new();
        for _ in 0..q.linked_depth() {
            let mut wanted = BTreeSet::new();
            for e in &candidates {
                q.linked_ids(e, &linked, &mut wanted);
            }
            wanted.retain(|id| !missing.contains(id));
            if wanted.is_empty() {
                break;
            }
            if linked.len() + wanted.len() > MAX_ORDERED_MATCHES {
                return Err(BrokerError::TooManyResults(format!(
                    "the relationships lead to more than {MAX_ORDERED_MATCHES} entities; {advice}"
                )));
            }
            let ids: Vec<String> = wanted.into_iter().collect();
            let found = self.store.get_many(tenant, &ids).await?;
            for (id, entity) in ids.into_iter().zip(found) {
                match entity {
                    Some(v) => {
                        linked.insert(id, Arc::new(v.value));
                    }
                    None => {
                        missing.insert(id);
                    }
                }
            }
        }
        let matches = candidates
            .into_iter()
            .filter(|e| q.matches_with(e, &linked))
            .collect();
        Ok(page(matches, order.as_ref(), paging))
    }
}
