//! The Entity Type Selection Language (clause 4.17): types joined by `,` or `|` (or) and
//! `;` (and), grouped with parentheses; each type a name (expanded) or a URI.

use rigel_model::validate::is_valid_name;
use rigel_model::TermMap;

use crate::boolean::{self, Bool, Names};
use crate::scan::Scanner;
use crate::{Language, QueryError};

#[cfg(test)]
mod tests;

/// Terms are expanded type IRIs.
type TypeNode = Bool<String>;

const NAMES: Names = Names {
    terms: "entity types",
    input: "type selection",
};

/// A parsed entity type selection, every type expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeExpr {
    root: TypeNode,
}

impl TypeExpr {
    /// Parses a `type` parameter, expanding each type with `terms`. `;` binds tighter than
    /// `,` / `|`; clause 4.17 asks for parentheses around a conjunction, but one without them
    /// is unambiguous and accepted.
    pub fn parse(input: &str, terms: &dyn TermMap) -> Result<TypeExpr, QueryError> {
        let mut sc = Scanner::new(input, Language::EntityType);
        let root = boolean::parse(&mut sc, &NAMES, &mut |sc| type_name(sc, terms))?;
        Ok(TypeExpr { root })
    }

    /// The selection of any of these (expanded) types; none selects nothing.
    pub fn any_of(types: Vec<String>) -> TypeExpr {
        TypeExpr {
            root: Bool::Or(types.into_iter().map(Bool::Term).collect()),
        }
    }

    pub(crate) fn root(&self) -> &Bool<String> {
        &self.root
    }

    /// Whether an entity with these (expanded) types is selected.
    pub fn matches(&self, types: &[String]) -> bool {
        self.root.eval(&|t| types.contains(t))
    }

    /// Type IRIs such that every matching entity has at least one of them, for an index
    /// lookup: the union over an or, the smallest operand's set for an and. Sorted,
    /// deduplicated.
    pub fn index_types(&self) -> Vec<String> {
        let mut set = index_types(&self.root);
        set.sort();
        set.dedup();
        set
    }

    /// Whether the selection is a plain list `T1,T2,...` (an or of types, or one type).
    pub fn is_simple_list(&self) -> bool {
        match &self.root {
            Bool::Term(_) => true,
            Bool::Or(items) => items.iter().all(|n| matches!(n, Bool::Term(_))),
            Bool::And(_) => false,
        }
    }
}

/// See [`TypeExpr::index_types`].
fn index_types(node: &TypeNode) -> Vec<String> {
    match node {
        Bool::Term(t) => vec![t.clone()],
        Bool::Or(items) => items.iter().flat_map(index_types).collect(),
        Bool::And(items) => {
            let mut sets: Vec<Vec<String>> = items.iter().map(index_types).collect();
            sets.iter_mut().for_each(|s| {
                s.sort();
                s.dedup();
            });
            sets.into_iter().min_by_key(Vec::len).unwrap_or_default()
        }
    }
}

/// One type: a name (expanded with the @context) or a URI.
fn type_name(sc: &mut Scanner<'_>, terms: &dyn TermMap) -> Result<String, QueryError> {
    let at = sc.pos();
    let name = sc.take_while(|c| !matches!(c, ',' | '|' | ';' | '(' | ')') && !c.is_whitespace());
    if name.is_empty() {
        return Err(sc.error("expected an entity type"));
    }
    if !is_valid_name(name) {
        return Err(sc.error_at(
            at,
            format!("{name:?} is neither a valid type name nor a URI"),
        ));
    }
    Ok(terms.expand(name).into_owned())
}
