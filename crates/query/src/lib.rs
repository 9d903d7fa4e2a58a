//! NGSI-LD query languages as pure parsers, typed ASTs and evaluators over [`rigel_model::Entity`]:
//! q (clause 4.9), entity type selection (4.17), scopeQ (4.19), geoQ (4.10), orderBy (4.23)
//! and idPattern. No I/O, no async, no storage: callers parse once and evaluate per entity.
//!
//! Every name a query mentions is expanded with the request's [`rigel_model::TermMap`] at
//! parse time, and everything evaluation needs (regexes, numbers, instants, geometries) is
//! precompiled, so `matches` allocates nothing on its hot path for scalar comparisons.

pub mod aggregate;
pub mod error;
pub mod geo;
pub mod id_pattern;
pub mod index;
pub mod order;
pub mod path;
pub mod q;
pub mod registration;
pub mod scope;
pub mod selection;
pub mod types;

mod boolean;
mod limits;
mod pattern;
mod render;
mod scan;
mod temporal;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use error::{Language, QueryError};
pub use geo::GeoQuery;
pub use id_pattern::IdPattern;
pub use order::{OrderBy, SortKey};
pub use q::{LinkedEntities, QExpr, QOptions};
pub use scope::ScopeExpr;
pub use selection::{EntityQuery, EntitySelector};
pub use types::TypeExpr;
