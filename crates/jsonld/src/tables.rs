//! Plain hash tables extracted from a json-ld processed context, so that expansion and
//! compaction are lookups.

use std::collections::HashMap;

use json_ld::context::BindingRef;
use json_ld::{Id, Term, ValidId};

/// Term definitions of one processed context (the core, or the user part of a context).
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// Term -> IRI mapping (an IRI, a blank node id, or a keyword such as `@id`).
    pub(crate) terms: HashMap<Box<str>, Box<str>>,
    /// Terms usable as the prefix of a compact IRI (JSON-LD 1.1 prefix flag) -> IRI.
    pub(crate) prefixes: HashMap<Box<str>, Box<str>>,
    /// IRI -> the term compaction picks for it (shortest, then lexicographically first).
    pub(crate) reverse: HashMap<Box<str>, Box<str>>,
}

impl Tables {
    /// Extracts the definitions of `context`, leaving out terms for which `skip_term` is
    /// true and reverse entries for IRIs for which `skip_iri` is true.
    ///
    /// Terms mapped to `null` are left out: they fall back to `@vocab` expansion like an
    /// undefined term (a broker must produce an IRI for every attribute name).
    pub(crate) fn from_context(
        context: &json_ld::Context,
        skip_term: impl Fn(&str) -> bool,
        skip_iri: impl Fn(&str) -> bool,
    ) -> Self {
        let mut tables = Self::default();
        for binding in context.definitions() {
            let BindingRef::Normal(key, definition) = binding else {
                continue;
            };
            let term = key.as_str();
            if skip_term(term) {
                continue;
            }
            let mapping = match &definition.value {
                Some(Term::Keyword(keyword)) => keyword.into_str(),
                Some(Term::Id(Id::Valid(ValidId::Iri(iri)))) => iri.as_str(),
                Some(Term::Id(Id::Valid(ValidId::Blank(blank)))) => blank.as_str(),
                Some(Term::Id(Id::Invalid(_))) | Some(Term::Null) | None => continue,
            };
            tables.terms.insert(term.into(), mapping.into());
            if definition.prefix {
                tables.prefixes.insert(term.into(), mapping.into());
            }
            let is_iri = !mapping.starts_with('@');
            if is_iri && !definition.reverse_property && !skip_iri(mapping) {
                let better = match tables.reverse.get(mapping) {
                    Some(current) => is_better_term(term, current),
                    None => true,
                };
                if better {
                    tables.reverse.insert(mapping.into(), term.into());
                }
            }
        }
        tables
    }
}

/// Compaction's choice among several terms for one IRI: shortest, then lexicographically least.
fn is_better_term(candidate: &str, current: &str) -> bool {
    (candidate.len(), candidate) < (current.len(), current)
}

/// True when `s` is a syntactically valid IRI scheme (RFC 3987): `ALPHA *( ALPHA / DIGIT /
/// "+" / "-" / "." )`. Used to tell an absolute IRI (`urn:x`) from a vocabulary-relative term.
pub(crate) fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_then_lexicographically_first_term_wins() {
        assert!(is_better_term("ab", "abc"));
        assert!(is_better_term("ab", "ac"));
        assert!(!is_better_term("ac", "ab"));
        assert!(!is_better_term("abc", "zz"));
    }

    #[test]
    fn schemes_are_recognised() {
        assert!(is_scheme("urn"));
        assert!(is_scheme("http"));
        assert!(is_scheme("a+b-c.d1"));
        assert!(!is_scheme(""));
        assert!(!is_scheme("1abc"));
        assert!(!is_scheme("my term"));
    }
}
