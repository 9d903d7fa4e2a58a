//! What a Context Source Registration Subscription asks of registrations (clauses 5.11.2.4
//! and 5.12), compiled once: its entity selectors, the attributes it names, its dataset
//! ids, temporal query, geoquery, scope query, `q` and `csf`.
//!
//! The attributes are `watchedAttributes` together with `notification.attributes`: a
//! registration element matches when it registers one of them or registers whole entities,
//! and with neither list every attribute matches. The temporal query selects registrations
//! with a time interval that meets it; without one, only registrations without time
//! intervals match. `q` and `csf` are both read against the registration's Context Source
//! Properties (5.11.2.4 names a context source filter and a context source query).

use std::sync::Arc;

use rigel_model::registration::Registration;
use rigel_model::subscription::{Subscription, SubscriptionTemporalQuery};
use rigel_model::TermMap;
use rigel_query::registration::{properties_of, Period, Wanted};
use rigel_query::{EntityQuery, EntitySelector, QExpr, QOptions, QueryError};

use crate::compile::Compiled;

/// The compiled registration selection of one subscription.
#[derive(Debug)]
pub struct RegistrationMatcher {
    /// Entity selectors, `q`, geoQ and scopeQ, compiled as for an entity subscription.
    selection: Arc<EntityQuery>,
    attributes: Vec<String>,
    dataset_ids: Option<Vec<String>>,
    period: Option<Period>,
    csf: Option<QExpr>,
}

impl RegistrationMatcher {
    /// Compiles the subscription's texts with `terms` (a recording map at creation, the
    /// frozen terms afterwards).
    pub fn compile(sub: &Subscription, terms: &dyn TermMap) -> Result<Self, QueryError> {
        let compiled = Compiled::compile(sub, terms)?;
        let mut attributes: Vec<String> = Vec::new();
        for name in sub
            .watched_attributes
            .iter()
            .chain(&sub.notification.attributes)
            .flatten()
        {
            if !attributes.contains(name) {
                attributes.push(name.clone());
            }
        }
        let csf = sub
            .csf
            .as_deref()
            .map(|f| QExpr::parse(f, terms, &QOptions::default()))
            .transpose()?;
        Ok(Self {
            selection: compiled.selection(),
            attributes,
            dataset_ids: sub.dataset_id.clone(),
            period: sub.temporal_q.as_ref().map(period),
            csf,
        })
    }

    /// The registration as notified to the subscription: only its RegistrationInfo elements
    /// that match (clause 5.11.7); `None` when the registration does not match.
    pub fn filter(&self, registration: &Registration) -> Option<Registration> {
        let unselected = [None];
        let selectors: Vec<Option<&EntitySelector>> = if self.selection.selectors.is_empty() {
            unselected.to_vec()
        } else {
            self.selection.selectors.iter().map(Some).collect()
        };
        let wanted: Vec<Wanted<'_>> = selectors.into_iter().map(|s| self.wanted(s)).collect();
        if !wanted[0].admits(registration) {
            return None;
        }
        if let Some(q) = &self.selection.q {
            if !q.matches(&properties_of(registration)) {
                return None;
            }
        }
        let information: Vec<_> = registration
            .information
            .iter()
            .filter(|info| wanted.iter().any(|w| w.matches_info(info)))
            .cloned()
            .collect();
        if information.is_empty() {
            return None;
        }
        Some(Registration {
            information,
            ..registration.clone()
        })
    }

    fn wanted<'a>(&'a self, selector: Option<&'a EntitySelector>) -> Wanted<'a> {
        Wanted {
            types: selector.and_then(|s| s.types.as_ref()),
            ids: selector.and_then(|s| s.ids.as_deref()),
            id_pattern: selector.and_then(|s| s.id_pattern.as_ref()),
            attributes: &self.attributes,
            dataset_ids: self.dataset_ids.as_deref(),
            visited: &[],
            period: self.period,
            geo: self.selection.geo.as_ref(),
            scope: self.selection.scope.as_ref(),
            csf: self.csf.as_ref(),
        }
    }
}

/// The period a `temporalQ` asks about, and against which interval (clause 5.11.2.4).
fn period(t: &SubscriptionTemporalQuery) -> Period {
    let management = t.timeproperty.as_deref().is_some_and(|p| p != "observedAt");
    let (from, to) = match t.timerel.as_str() {
        "before" => (None, Some(t.time_at)),
        "after" => (Some(t.time_at), None),
        _ => (Some(t.time_at), t.end_time_at),
    };
    Period {
        management,
        from,
        to,
    }
}
