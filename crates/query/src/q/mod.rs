//! The NGSI-LD Query Language (clause 4.9): `q`, with `expandValues` and `jsonKeys`.
//!
//! Semantics decided here (clause 4.9 leaves them to the implementation or is terse):
//! - The target of an attribute is its `value` (Property, GeoProperty), `json`
//!   (JsonProperty), `valueList` (ListProperty), `object` (Relationship), `objectList`
//!   (ListRelationship), `vocab` (VocabProperty, already expanded) or the strings of its
//!   `languageMap` (LanguageProperty; `attr[en]` picks one language, `attr[*]` any).
//! - A multi-instance attribute matches if any instance matches; an array target matches
//!   `==`, ordering operators, ranges and `~=` if any element does, and `!=` / `!~=` if no
//!   element matches `==` / `~=`.
//! - `!=` and `!~=` need the target to exist; `!~=` needs a string target.
//! - Relationship and ListRelationship targets only support `==` and `!=`.
//! - Values compare by type: numbers numerically, DateTime literals as instants against
//!   stored date-time strings, Date and Time likewise, strings by code point. A type
//!   mismatch never matches `==` (so it matches `!=`).
//! - `attr.observedAt`, `.createdAt`, `.modifiedAt`, `.unitCode`, `.datasetId`,
//!   `.expiresAt` address the attribute's members; a top-level `createdAt` / `modifiedAt`
//!   the entity's.
//! - A trailing `[a.b]` is ECMAScript member access into the value; numeric members index
//!   arrays. Member names are looked up as written and, except for jsonKeys attributes and
//!   JsonProperty values, also expanded.
//! - Unquoted words (URIs or terms) are compared as strings: as written, and also expanded
//!   against VocabProperty targets and for `expandValues` attributes.
//! - `rel{[T:]path}` follows the relationship to the linked entities through a
//!   [`LinkedEntities`]; without one such terms do not match.
//! - `~=` uses search semantics (POSIX `regexec`): the pattern may match anywhere; anchor
//!   with `^...$` for whole values.

pub mod ast;
mod eval;
mod literal;
mod parse;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rigel_model::{Entity, TermMap};

use crate::QueryError;

use ast::{Node, Path};
use eval::Links;

/// The request options that shape a q expression (clause 4.9, 6.4.3.2).
#[derive(Debug, Default, Clone, Copy)]
pub struct QOptions<'a> {
    /// `expandValues`: expanded attribute IRIs whose string values are compared as
    /// expanded terms too.
    pub expand_values: &'a [String],
    /// `jsonKeys`: expanded attribute IRIs whose values are raw JSON, never expanded.
    pub json_keys: &'a [String],
}

/// Access to the entities relationships point at, for linked-entity terms
/// (`sensor{humidity}==40`, clause 4.9 examples 13 and 14).
pub trait LinkedEntities {
    /// The entity with this id, if it exists and the query may see it.
    fn entity(&self, id: &str) -> Option<Cow<'_, Entity>>;
}

impl LinkedEntities for HashMap<String, Entity> {
    fn entity(&self, id: &str) -> Option<Cow<'_, Entity>> {
        self.get(id).map(Cow::Borrowed)
    }
}

impl LinkedEntities for HashMap<String, Arc<Entity>> {
    fn entity(&self, id: &str) -> Option<Cow<'_, Entity>> {
        self.get(id).map(|e| Cow::Borrowed(&**e))
    }
}

impl LinkedEntities for BTreeMap<String, Entity> {
    fn entity(&self, id: &str) -> Option<Cow<'_, Entity>> {
        self.get(id).map(Cow::Borrowed)
    }
}

/// A parsed q expression: names expanded, values typed, regexes compiled.
#[derive(Debug, Clone)]
pub struct QExpr {
    root: Node,
    attributes: Vec<String>,
    linked_depth: usize,
}

impl QExpr {
    /// Parses `input` (already percent-decoded), expanding attribute names with `terms`.
    pub fn parse(
        input: &str,
        terms: &dyn TermMap,
        options: &QOptions<'_>,
    ) -> Result<QExpr, QueryError> {
        let parsed = parse::parse(input, terms, options)?;
        let mut attributes = Vec::new();
        collect_attributes(&parsed.root, &mut attributes);
        attributes.sort();
        attributes.dedup();
        Ok(QExpr {
            root: parsed.root,
            attributes,
            linked_depth: parsed.linked_depth,
        })
    }

    /// The expression's tree, for a backend that translates q into its own query.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// Whether `entity` satisfies the expression. Linked-entity terms do not match.
    pub fn matches(&self, entity: &Entity) -> bool {
        self.root.eval(entity, Links::Absent)
    }

    /// Whether `entity` satisfies the expression, following relationships through `linked`.
    pub fn matches_with(&self, entity: &Entity, linked: &dyn LinkedEntities) -> bool {
        self.root.eval(entity, Links::Given(linked))
    }

    /// Whether `entity` may satisfy the expression: linked-entity terms are taken to match.
    /// q has no negation of terms, so this holds for every entity that matches once the
    /// linked entities are known (a first pass over candidates).
    pub fn matches_assuming_links(&self, entity: &Entity) -> bool {
        self.root.eval(entity, Links::Assumed)
    }

    /// Adds to `out` the ids of the entities the linked-entity terms need from `entity`
    /// that `known` does not hold yet (following the ones it holds); called once per
    /// level of [`QExpr::linked_depth`] with what was fetched added to `known`.
    pub fn linked_ids(
        &self,
        entity: &Entity,
        known: &dyn LinkedEntities,
        out: &mut BTreeSet<String>,
    ) {
        self.root.linked_ids(entity, known, out);
    }

    /// The expanded top-level attribute IRIs the expression reads (entity system members
    /// such as `createdAt` excluded), sorted; for planning and the "at least one
    /// non-system attribute" rule of clause 5.7.2.4.
    pub fn attributes(&self) -> Vec<String> {
        self.attributes.clone()
    }

    /// How many relationships deep linked-entity terms go (0: none), to check against
    /// `joinLevel` (clause 5.7.2.4).
    pub fn linked_depth(&self) -> usize {
        self.linked_depth
    }
}

fn collect_attributes(node: &Node, out: &mut Vec<String>) {
    match node {
        Node::And(items) | Node::Or(items) => {
            items.iter().for_each(|n| collect_attributes(n, out));
        }
        Node::Term(term) => match &term.path {
            Path::Value(v) => out.extend(v.path.attribute().map(str::to_owned)),
            Path::Linked { relationship, .. } => out.push(relationship.clone()),
        },
    }
}
