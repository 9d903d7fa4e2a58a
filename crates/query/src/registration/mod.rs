//! Matching Context Source Registrations against what a request asks for (clause 5.12):
//! its entities (a type selection, ids, an id pattern) and attributes, its dataset ids,
//! and the context sources it already passed through.
//!
//! A registration matches when one of its RegistrationInfo elements does. Its entity part
//! matches when the request names no entities, the element registers none, or one of its
//! EntityInfo elements has a type the selection accepts and an id or pattern compatible
//! with the request's (two patterns are taken to overlap). Its attribute part matches when
//! the request names no attributes, the element registers whole entities (no property or
//! relationship names), or they share a name.
//!
//! Discovery (clause 5.10.2.4) adds: without a temporal query only registrations without a
//! time interval, with one only those whose interval meets it; a geoquery against the
//! registration's location (or observation or operation space) that matches or may
//! contain matches; a scopeQ against its scopes; a context source filter (`csf`, the q
//! language) against its Context Source Properties, each read as a Property with the
//! value written (or the `value` of a written Property object).

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use rigel_model::codec::parse::parse_scope;
use rigel_model::registration::{EntityInfo, Registration, RegistrationInfo, TimeInterval};
use rigel_model::{Attribute, AttributeValue, Entity};
use serde_json::Value;

use crate::{GeoQuery, IdPattern, QExpr, ScopeExpr, TypeExpr};

/// The GeoProperty a geoquery names by default, and the registration's other spaces.
const LOCATION: &str = "https://uri.etsi.org/ngsi-ld/location";
const OBSERVATION_SPACE: &str = "https://uri.etsi.org/ngsi-ld/observationSpace";
const OPERATION_SPACE: &str = "https://uri.etsi.org/ngsi-ld/operationSpace";

/// A temporal query on registrations: the period it asks about, against the observation
/// interval (`observedAt`) or the management interval (`createdAt`, `modifiedAt`,
/// `deletedAt`).
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub management: bool,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Period {
    /// Whether the interval shares an instant with the period (its ends included).
    fn meets(&self, interval: &TimeInterval) -> bool {
        self.to.is_none_or(|to| interval.start_at <= to)
            && match (self.from, interval.end_at) {
                (Some(from), Some(end)) => end >= from,
                _ => true,
            }
    }
}

/// What a request asks for, as far as registrations are concerned. Names are expanded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wanted<'a> {
    pub types: Option<&'a TypeExpr>,
    pub ids: Option<&'a [String]>,
    pub id_pattern: Option<&'a IdPattern>,
    /// Expanded attribute names; empty: every attribute.
    pub attributes: &'a [String],
    /// The request's `datasetId`s, if it names any (`@none` is the default instance).
    pub dataset_ids: Option<&'a [String]>,
    /// Aliases of the context sources the request already passed through (`Via`).
    pub visited: &'a [String],
    /// Discovery: the temporal query, if any.
    pub period: Option<Period>,
    /// Discovery: the geoquery, if any.
    pub geo: Option<&'a GeoQuery>,
    /// Discovery: the scopeQ, if any.
    pub scope: Option<&'a ScopeExpr>,
    /// Discovery: the context source filter (`csf`), if any.
    pub csf: Option<&'a QExpr>,
}

impl Wanted<'_> {
    /// Whether `registration` may hold what is wanted.
    pub fn matches(&self, registration: &Registration) -> bool {
        self.admits(registration)
            && registration
                .information
                .iter()
                .any(|info| self.matches_info(info))
    }

    /// The conditions on the registration as a whole: not a source the request passed
    /// through, its dataset ids, and the discovery conditions (time, place, scope, `csf`).
    pub fn admits(&self, registration: &Registration) -> bool {
        if registration
            .context_source_alias
            .as_ref()
            .is_some_and(|alias| self.visited.contains(alias))
        {
            return false;
        }
        if let (Some(wanted), Some(held)) = (self.dataset_ids, &registration.dataset_id) {
            if !wanted.iter().any(|d| held.contains(d)) {
                return false;
            }
        }
        self.discovered(registration)
    }

    /// The discovery conditions: time, place and scope.
    fn discovered(&self, reg: &Registration) -> bool {
        let timely = match &self.period {
            None => reg.observation_interval.is_none() && reg.management_interval.is_none(),
            Some(period) => {
                let interval = if period.management {
                    &reg.management_interval
                } else {
                    &reg.observation_interval
                };
                interval.as_ref().is_some_and(|i| period.meets(i))
            }
        };
        let placed = self.geo.is_none_or(|geo| {
            let area = match geo.geoproperty() {
                LOCATION => &reg.location,
                OBSERVATION_SPACE => &reg.observation_space,
                OPERATION_SPACE => &reg.operation_space,
                _ => &None,
            };
            area.as_ref().is_some_and(|a| geo.may_contain_match(a))
        });
        let scoped = self.scope.is_none_or(|expr| {
            let scopes = reg.scope.as_ref().and_then(|v| parse_scope(v).ok());
            expr.matches(scopes.as_deref())
        });
        let filtered = self.csf.is_none_or(|csf| csf.matches(&properties_of(reg)));
        timely && placed && scoped && filtered
    }

    /// Whether one RegistrationInfo element of a registration matches the entities and
    /// attributes wanted.
    pub fn matches_info(&self, info: &RegistrationInfo) -> bool {
        let entities = match &info.entities {
            None => true,
            Some(entities) => !self.names_entities() || entities.iter().any(|e| self.entity(e)),
        };
        entities && self.attributes_of(info)
    }

    fn names_entities(&self) -> bool {
        self.types.is_some() || self.ids.is_some() || self.id_pattern.is_some()
    }

    fn entity(&self, info: &EntityInfo) -> bool {
        if self.types.is_some_and(|t| !t.matches(&info.types)) {
            return false;
        }
        if self.ids.is_none() && self.id_pattern.is_none() {
            return true;
        }
        let registered_pattern = info
            .id_pattern
            .as_deref()
            .and_then(|p| IdPattern::parse(p).ok());
        match (&info.id, &info.id_pattern) {
            (None, None) => true,
            // An id wins over a pattern (clause 5.2.8).
            (Some(id), _) => {
                self.ids.is_some_and(|ids| ids.contains(id))
                    || self.id_pattern.is_some_and(|p| p.matches(id))
            }
            (None, Some(_)) => {
                self.id_pattern.is_some()
                    || self.ids.is_some_and(|ids| {
                        registered_pattern
                            .as_ref()
                            .is_some_and(|p| ids.iter().any(|id| p.matches(id)))
                    })
            }
        }
    }

    fn attributes_of(&self, info: &RegistrationInfo) -> bool {
        if self.attributes.is_empty() {
            return true;
        }
        let registered = info
            .property_names
            .iter()
            .chain(&info.relationship_names)
            .flatten();
        let mut registered = registered.peekable();
        if registered.peek().is_none() {
            return true;
        }
        registered.any(|name| self.attributes.contains(name))
    }
}

/// A registration's Context Source Properties as the attributes of an entity, for `csf`.
pub fn properties_of(reg: &Registration) -> Entity {
    let attributes = reg
        .properties
        .iter()
        .map(|(name, written)| {
            let value = match written {
                Value::Object(obj) if obj.get("type") == Some(&Value::from("Property")) => {
                    obj.get("value").cloned().unwrap_or(Value::Null)
                }
                other => other.clone(),
            };
            (
                name.clone(),
                vec![Attribute::new(AttributeValue::Property(value))],
            )
        })
        .collect();
    Entity {
        id: reg.id.clone(),
        types: vec!["https://uri.etsi.org/ngsi-ld/ContextSourceRegistration".to_owned()],
        scope: None,
        attributes,
        created_at: reg.created_at,
        modified_at: reg.modified_at,
    }
}
