//! The declarative entity query handed to storage backends: entity selectors (5.2.33),
//! `attrs`, the projected attributes, q, geoQ and scopeQ, all with expanded names. One
//! matcher for entity queries, purges, temporal queries and subscriptions; a backend
//! reads the parts it can serve from an index and evaluates the whole query on the
//! candidates it decodes.

use rigel_model::Entity;

use crate::{GeoQuery, IdPattern, QExpr, ScopeExpr, TypeExpr};

/// One entity selector (EntitySelector, 5.2.33): ids, an id pattern and a type selection,
/// all of which an entity must satisfy.
#[derive(Debug, Clone, Default)]
pub struct EntitySelector {
    pub ids: Option<Vec<String>>,
    pub id_pattern: Option<IdPattern>,
    pub types: Option<TypeExpr>,
}

impl EntitySelector {
    /// Whether the entity satisfies every part of the selector.
    pub fn matches(&self, entity: &Entity) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.contains(&entity.id))
            && self
                .id_pattern
                .as_ref()
                .is_none_or(|p| p.matches(&entity.id))
            && self.types.as_ref().is_none_or(|t| t.matches(&entity.types))
    }
}

/// What a query selects. Every name in it is a full IRI.
#[derive(Debug, Clone, Default)]
pub struct EntityQuery {
    /// An entity must satisfy one of them (none: no restriction).
    pub selectors: Vec<EntitySelector>,
    /// The entity must have at least one of these attributes (`attrs`).
    pub attrs: Option<Vec<String>>,
    /// The attributes a projection (`pick`) names: the entity must have at least one of
    /// them (clause 5.7.2.4), though they do not restrict the query on their own.
    pub projected: Option<Vec<String>>,
    pub q: Option<QExpr>,
    pub geo: Option<GeoQuery>,
    pub scope: Option<ScopeExpr>,
}

impl EntityQuery {
    /// Whether the query restricts the result enough to run without `local` (clause
    /// 5.7.2.4: a type selection, attributes, a q or a geoquery).
    pub fn is_restricted(&self) -> bool {
        self.selectors.iter().any(|s| s.types.is_some())
            || self.attrs.is_some()
            || self.q.is_some()
            || self.geo.is_some()
    }

    /// Whether the entity is one of the selected entities (the selectors alone).
    pub fn selects(&self, entity: &Entity) -> bool {
        self.selectors.is_empty() || self.selectors.iter().any(|s| s.matches(entity))
    }

    /// Whether an entity satisfies every condition of the query.
    pub fn matches(&self, entity: &Entity) -> bool {
        self.matches_with_q(entity, |q| q.matches(entity))
    }

    /// [`EntityQuery::matches`] with q's linked-entity terms taken to match: the
    /// candidates of a query that follows relationships (q has no negation of terms, so
    /// this is a superset of the matches).
    pub fn matches_assuming_links(&self, entity: &Entity) -> bool {
        self.matches_with_q(entity, |q| q.matches_assuming_links(entity))
    }

    /// Whether q has linked-entity terms (`rel{attr}`), which only Query Entities follows.
    pub fn has_linked_terms(&self) -> bool {
        self.q.as_ref().is_some_and(|q| q.linked_depth() > 0)
    }

    fn matches_with_q(&self, entity: &Entity, q_holds: impl Fn(&QExpr) -> bool) -> bool {
        self.selects(entity)
            && self
                .attrs
                .as_ref()
                .is_none_or(|attrs| attrs.iter().any(|a| entity.attributes.contains_key(a)))
            && self
                .projected
                .as_ref()
                .is_none_or(|attrs| attrs.iter().any(|a| entity.attributes.contains_key(a)))
            && self
                .scope
                .as_ref()
                .is_none_or(|s| s.matches(entity.scope.as_deref()))
            && self.q.as_ref().is_none_or(q_holds)
            && self.geo.as_ref().is_none_or(|g| g.matches(entity))
    }
}
