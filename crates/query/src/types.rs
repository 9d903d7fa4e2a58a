//! The Entity Type Selection Language (clause 4.17): types joined by `,` or `|` (or) and
//! `;` (and), grouped with parentheses; each type a name (expanded) or a URI.

use rigel_model::validate::is_valid_name;
use rigel_model::TermMap;

use crate::limits::{check_length, MAX_DEPTH, MAX_TERMS};
use crate::scan::Scanner;
use crate::{Language, QueryError};

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, PartialEq, Eq)]
enum TypeNode {
    /// An expanded type IRI.
    Type(String),
    And(Vec<TypeNode>),
    Or(Vec<TypeNode>),
}

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
        check_length(input, Language::EntityType)?;
        let mut p = Parser {
            sc: Scanner::new(input, Language::EntityType),
            terms,
            depth: 0,
            count: 0,
        };
        let root = p.or_expr()?;
        p.sc.skip_ws();
        if !p.sc.at_end() {
            return Err(p.sc.error(if p.sc.peek() == Some(')') {
                "')' without a matching '('"
            } else {
                "expected ',', '|', ';' or the end of the type selection"
            }));
        }
        Ok(TypeExpr { root })
    }

    /// Whether an entity with these (expanded) types is selected.
    pub fn matches(&self, types: &[String]) -> bool {
        self.root.matches(types)
    }

    /// Type IRIs such that every matching entity has at least one of them, for an index
    /// lookup: the union over an or, the smallest operand's set for an and. Sorted,
    /// deduplicated.
    pub fn index_types(&self) -> Vec<String> {
        let mut set = self.root.index_types();
        set.sort();
        set.dedup();
        set
    }

    /// Whether the selection is a plain list `T1,T2,...` (an or of types, or one type).
    pub fn is_simple_list(&self) -> bool {
        match &self.root {
            TypeNode::Type(_) => true,
            TypeNode::Or(items) => items.iter().all(|n| matches!(n, TypeNode::Type(_))),
            TypeNode::And(_) => false,
        }
    }
}

impl TypeNode {
    fn matches(&self, types: &[String]) -> bool {
        match self {
            TypeNode::Type(t) => types.iter().any(|x| x == t),
            TypeNode::And(items) => items.iter().all(|n| n.matches(types)),
            TypeNode::Or(items) => items.iter().any(|n| n.matches(types)),
        }
    }

    fn index_types(&self) -> Vec<String> {
        match self {
            TypeNode::Type(t) => vec![t.clone()],
            TypeNode::Or(items) => items.iter().flat_map(TypeNode::index_types).collect(),
            TypeNode::And(items) => {
                let mut sets: Vec<Vec<String>> = items.iter().map(TypeNode::index_types).collect();
                sets.iter_mut().for_each(|s| {
                    s.sort();
                    s.dedup();
                });
                sets.into_iter().min_by_key(Vec::len).unwrap_or_default()
            }
        }
    }
}

struct Parser<'a, 't> {
    sc: Scanner<'a>,
    terms: &'t dyn TermMap,
    depth: usize,
    count: usize,
}

impl Parser<'_, '_> {
    fn or_expr(&mut self) -> Result<TypeNode, QueryError> {
        let mut items = vec![self.and_expr()?];
        loop {
            self.sc.skip_ws();
            if !(self.sc.eat(',') || self.sc.eat('|')) {
                break;
            }
            items.push(self.and_expr()?);
        }
        Ok(join(items, TypeNode::Or))
    }

    fn and_expr(&mut self) -> Result<TypeNode, QueryError> {
        let mut items = vec![self.primary()?];
        loop {
            self.sc.skip_ws();
            if !self.sc.eat(';') {
                break;
            }
            items.push(self.primary()?);
        }
        Ok(join(items, TypeNode::And))
    }

    fn primary(&mut self) -> Result<TypeNode, QueryError> {
        self.sc.skip_ws();
        if self.sc.peek() == Some('(') {
            let open = self.sc.pos();
            self.sc.bump();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(QueryError::too_complex(
                    Language::EntityType,
                    format!("nested more than {MAX_DEPTH} levels deep"),
                ));
            }
            let node = self.or_expr()?;
            self.sc.skip_ws();
            if !self.sc.eat(')') {
                let at = self.sc.char_pos(open);
                return Err(self
                    .sc
                    .error(format!("expected ')' closing the '(' at position {at}")));
            }
            self.depth -= 1;
            return Ok(node);
        }
        self.count += 1;
        if self.count > MAX_TERMS {
            return Err(QueryError::too_complex(
                Language::EntityType,
                format!("more than {MAX_TERMS} entity types"),
            ));
        }
        let at = self.sc.pos();
        let name = self
            .sc
            .take_while(|c| !matches!(c, ',' | '|' | ';' | '(' | ')') && !c.is_whitespace());
        if name.is_empty() {
            return Err(self.sc.error("expected an entity type"));
        }
        if !is_valid_name(name) {
            return Err(self.sc.error_at(
                at,
                format!("{name:?} is neither a valid type name nor a URI"),
            ));
        }
        Ok(TypeNode::Type(self.terms.expand(name).into_owned()))
    }
}

fn join(mut items: Vec<TypeNode>, f: fn(Vec<TypeNode>) -> TypeNode) -> TypeNode {
    if items.len() == 1 {
        items.remove(0)
    } else {
        f(items)
    }
}
