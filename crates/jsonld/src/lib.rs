//! JSON-LD @context resolution for Rigel: the built-in NGSI-LD core context, remote
//! contexts fetched and cached with limits, term expansion/compaction, and the @context
//! store of clause 5.13 (Hosted, Cached and ImplicitlyCreated @contexts).
//!
//! Context processing (term definitions, prefixes, `@vocab`, arrays, nested remote
//! contexts, `@import`) is done by the `json-ld` crate, with a document loader over our
//! own fetcher. The processed result is flattened into plain hash tables
//! ([`ResolvedContext`]), so expansion and compaction are lookups.
//!
//! Core precedence (clause 5.5.7): user contexts are processed on top of the core context
//! (so they may use its prefixes, e.g. `ngsi-ld:`), then the core is applied with absolute
//! precedence: a user definition of a core term is ignored, and the core's `@vocab` is
//! the vocabulary.

mod core;
mod error;
mod fetch;
mod loader;
mod local_id;
mod manage;
mod persist;
mod resolved;
mod resolver;
mod sanitize;
mod shelf;
mod store;
mod stored;
mod tables;
mod usage;

pub use crate::core::{core_context, is_core_context_url, CORE_CONTEXT_URL};
pub use crate::error::JsonLdError;
pub use crate::fetch::FetchCounts;
pub use crate::resolved::ResolvedContext;
pub use crate::resolver::{ContextResolver, ResolverConfig};
pub use crate::shelf::ContextShelf;
pub use crate::stored::{ContextInfo, ContextKind};

#[cfg(test)]
mod tests;
