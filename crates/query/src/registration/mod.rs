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

#[cfg(test)]
mod tests;

use rigel_model::registration::{EntityInfo, Registration, RegistrationInfo};

use crate::{IdPattern, TypeExpr};

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
}

impl Wanted<'_> {
    /// Whether `registration` may hold what is wanted.
    pub fn matches(&self, registration: &Registration) -> bool {
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
        registration.information.iter().any(|info| self.info(info))
    }

    fn info(&self, info: &RegistrationInfo) -> bool {
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
