//! NGSI-LD domain model: entities, attribute kinds, tenants and the spec's error vocabulary.
//! No I/O, no async, no HTTP, no JSON-LD processing (only the abstract [`TermMap`]).

pub mod clock;
pub mod codec;
pub mod entity;
pub mod error;
mod footprint;
mod members;
pub mod registration;
pub mod subscription;
pub mod tenant;
pub mod terms;
pub mod validate;

pub use clock::{Clock, SystemClock};
pub use entity::{Attribute, AttributeValue, Attributes, Entity, ATTRIBUTE_KINDS, SCOPE_IRI};
pub use error::{ErrorKind, ModelError};
pub use tenant::Tenant;
pub use terms::{IdentityTerms, TermMap};
