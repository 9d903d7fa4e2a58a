//! The abstract term mapping the model needs from a JSON-LD context, without knowing JSON-LD.

use std::borrow::Cow;

/// Maps short terms to full IRIs and back. Implemented by the `jsonld` crate for a
/// resolved @context; the model only ever sees this interface.
pub trait TermMap: Send + Sync {
    /// Expands a term used as a property name or a type (vocabulary-relative expansion:
    /// term definitions, compact IRIs `prefix:suffix`, absolute IRIs, then `@vocab`).
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str>;

    /// Compacts a full IRI to the shortest term the context allows (a term, a compact
    /// IRI, a @vocab-relative name), or returns it unchanged.
    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str>;
}

/// The identity mapping: every term is already a full IRI. Useful in tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityTerms;

impl TermMap for IdentityTerms {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(term)
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(iri)
    }
}
