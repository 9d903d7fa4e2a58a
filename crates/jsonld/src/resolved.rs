//! A resolved @context (user context + core context) and its term expansion/compaction.

use std::borrow::Cow;
use std::fmt;

use rigel_model::TermMap;

use crate::core::CoreData;
use crate::tables::{is_scheme, Tables};

/// The effective @context of one request: the user context with the core context
/// applied last (core terms take precedence, clause 5.5.7).
///
/// Built by [`crate::ContextResolver`]; immutable and shared behind an `Arc`.
pub struct ResolvedContext {
    core: &'static CoreData,
    /// User-defined terms that the core does not define.
    user: Tables,
}

/// Where a lookup found its answer; lets both the `TermMap` methods (tied to the input's
/// lifetime) and the `*_ref` methods (tied to `self` too) share one lookup.
enum Found<'s, 'i> {
    /// The input, or a part of it.
    Input(&'i str),
    /// A string owned by the process-wide core tables.
    Core(&'static str),
    /// A string owned by this context's user tables.
    User(&'s str),
    /// A string that had to be built.
    Built(String),
}

impl ResolvedContext {
    pub(crate) fn new(core: &'static CoreData, user: Tables) -> Self {
        Self { core, user }
    }

    /// True when no user term is in effect (no user context, or one that only repeats the
    /// core context or defines only core terms).
    pub fn is_core_only(&self) -> bool {
        self.user.terms.is_empty()
    }

    /// The vocabulary mapping (`@vocab`) used for terms without a definition.
    pub fn vocab(&self) -> &str {
        &self.core.vocab
    }

    /// Like [`TermMap::expand`], but the result may borrow from `self`, so it never
    /// allocates for a term defined in the context (core or user).
    pub fn expand_ref<'s>(&'s self, term: &'s str) -> Cow<'s, str> {
        match self.find_expansion(term) {
            Found::Input(s) | Found::Core(s) | Found::User(s) => Cow::Borrowed(s),
            Found::Built(s) => Cow::Owned(s),
        }
    }

    /// Like [`TermMap::compact`], but the result may borrow from `self`, so it never
    /// allocates for an IRI that has a term in the context (core or user).
    pub fn compact_ref<'s>(&'s self, iri: &'s str) -> Cow<'s, str> {
        match self.find_compaction(iri) {
            Found::Input(s) | Found::Core(s) | Found::User(s) => Cow::Borrowed(s),
            Found::Built(s) => Cow::Owned(s),
        }
    }

    fn term_iri<'i>(&self, term: &str) -> Option<Found<'_, 'i>> {
        if let Some(iri) = self.core.tables.terms.get(term) {
            return Some(Found::Core(iri));
        }
        self.user.terms.get(term).map(|iri| Found::User(iri))
    }

    fn is_term(&self, term: &str) -> bool {
        self.core.tables.terms.contains_key(term) || self.user.terms.contains_key(term)
    }

    fn prefix_iri(&self, prefix: &str) -> Option<&str> {
        self.core
            .tables
            .prefixes
            .get(prefix)
            .or_else(|| self.user.prefixes.get(prefix))
            .map(|iri| &**iri)
    }

    /// JSON-LD 1.1 IRI expansion with `vocab = true`.
    fn find_expansion<'i>(&self, term: &'i str) -> Found<'_, 'i> {
        // Keywords and keyword-like strings are not terms.
        if term.is_empty() || term.starts_with('@') {
            return Found::Input(term);
        }
        if let Some(found) = self.term_iri(term) {
            return found;
        }
        if let Some((prefix, suffix)) = term.split_once(':') {
            // A blank node id, or `scheme://...`: already absolute.
            if prefix == "_" || suffix.starts_with("//") {
                return Found::Input(term);
            }
            if let Some(prefix_iri) = self.prefix_iri(prefix) {
                return Found::Built(format!("{prefix_iri}{suffix}"));
            }
            if is_scheme(prefix) {
                return Found::Input(term);
            }
        }
        Found::Built(format!("{}{term}", self.core.vocab))
    }

    /// IRI compaction: a term, then a `@vocab`-relative name, then a compact IRI, else the IRI.
    fn find_compaction<'i>(&self, iri: &'i str) -> Found<'_, 'i> {
        if iri.is_empty() || iri.starts_with('@') {
            return Found::Input(iri);
        }
        if let Some(term) = self.core.tables.reverse.get(iri) {
            return Found::Core(term);
        }
        if let Some(term) = self.user.reverse.get(iri) {
            return Found::User(term);
        }
        if let Some(rest) = iri.strip_prefix(self.core.vocab.as_str()) {
            if self.is_plain_vocab_suffix(rest) {
                return Found::Input(rest);
            }
        }
        match self.best_compact_iri(iri) {
            Some(compact) => Found::Built(compact),
            None => Found::Input(iri),
        }
    }

    /// True when `rest` expands back to `@vocab` + `rest`.
    fn is_plain_vocab_suffix(&self, rest: &str) -> bool {
        if rest.is_empty() || rest.starts_with('@') || self.is_term(rest) {
            return false;
        }
        match rest.split_once(':') {
            // `a:b` would be read as a compact IRI or an absolute IRI unless `a` is neither
            // a prefix nor a scheme.
            Some((prefix, suffix)) => {
                prefix != "_"
                    && !suffix.starts_with("//")
                    && self.prefix_iri(prefix).is_none()
                    && !is_scheme(prefix)
            }
            None => true,
        }
    }

    /// The compact IRI `prefix:suffix` with the longest matching prefix IRI (then the
    /// shortest, lexicographically least result), skipping candidates that are terms.
    ///
    /// This is JSON-LD compaction, core prefixes included (`ngsi-ld:default-context/x` for a
    /// default-vocabulary IRI whose short name means something else in the request's
    /// context), which is what the ETSI conformance suite expects, rather than the full IRI.
    fn best_compact_iri(&self, iri: &str) -> Option<String> {
        // User tables never hold a term the core defines, so no user prefix is shadowed.
        let prefixes = self.core.tables.prefixes.iter().chain(&self.user.prefixes);
        let mut best: Option<(usize, String)> = None;
        for (prefix, prefix_iri) in prefixes {
            let Some(suffix) = iri.strip_prefix(&**prefix_iri) else {
                continue;
            };
            if suffix.is_empty() || suffix.starts_with("//") {
                continue;
            }
            let candidate = format!("{prefix}:{suffix}");
            if self.is_term(&candidate) {
                continue;
            }
            let better = match &best {
                None => true,
                Some((matched, current)) => {
                    (
                        std::cmp::Reverse(prefix_iri.len()),
                        candidate.len(),
                        &candidate,
                    ) < (std::cmp::Reverse(*matched), current.len(), current)
                }
            };
            if better {
                best = Some((prefix_iri.len(), candidate));
            }
        }
        best.map(|(_, compact)| compact)
    }
}

impl TermMap for ResolvedContext {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        self.expand_ref(term)
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        self.compact_ref(iri)
    }
}

impl fmt::Debug for ResolvedContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedContext")
            .field("user_terms", &self.user.terms.len())
            .field("user_prefixes", &self.user.prefixes.len())
            .finish_non_exhaustive()
    }
}
