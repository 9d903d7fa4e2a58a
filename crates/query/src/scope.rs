//! The Scope Query Language (clause 4.19): scope patterns `/a/b`, `+` for one level, a
//! trailing `/#` for a whole subtree, `/#` alone for any scope; `,` / `|` or, `;` and,
//! parentheses.

use crate::boolean::{self, Bool, Names};
use crate::scan::Scanner;
use crate::{Language, QueryError};

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Name(String),
    /// `+`: exactly one level, any name.
    Any,
}

/// One scope pattern. No levels with `subtree` is `/#`: any (non-empty) scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    levels: Vec<Level>,
    /// A trailing `/#`: the scope itself and every scope below it.
    subtree: bool,
}

const NAMES: Names = Names {
    terms: "scope patterns",
    input: "scope query",
};

/// A parsed scopeQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeExpr {
    root: Bool<Pattern>,
}

impl ScopeExpr {
    /// Parses a scopeQ. The leading `/` of a pattern is optional, as it is in a scope
    /// (clause 4.18); levels are letters, digits, `_` and `-` (what entity scopes admit).
    pub fn parse(input: &str) -> Result<ScopeExpr, QueryError> {
        let mut sc = Scanner::new(input, Language::Scope);
        let root = boolean::parse(&mut sc, &NAMES, &mut pattern)?;
        Ok(ScopeExpr { root })
    }

    /// Whether an entity with these scopes is selected; an entity without scopes never is.
    /// A pattern matches if any of the entity's scopes matches it; in a conjunction each
    /// pattern may be matched by a different scope.
    pub fn matches(&self, scope: Option<&[String]>) -> bool {
        let scopes = scope.unwrap_or(&[]);
        !scopes.is_empty() && self.root.eval(&|p| scopes.iter().any(|s| p.matches(s)))
    }
}

impl ScopeExpr {
    /// The scopes (as [`crate::index::normal_scope`] files them under the scope IRI) every
    /// match has one of, for a value index.
    pub fn lookup(&self) -> crate::index::Lookup {
        node_lookup(&self.root)
    }
}

fn node_lookup(node: &Bool<Pattern>) -> crate::index::Lookup {
    use crate::index::Lookup;
    match node {
        Bool::Term(p) => p.lookup(),
        Bool::And(items) => Lookup::and(items.iter().map(node_lookup).collect()),
        Bool::Or(items) => Lookup::or(items.iter().map(node_lookup).collect()),
    }
}

impl ScopeExpr {
    pub(crate) fn root(&self) -> &Bool<Pattern> {
        &self.root
    }
}

impl Pattern {
    /// The pattern as written in a scopeQ.
    pub(crate) fn render(&self) -> String {
        let mut text: String = self
            .levels
            .iter()
            .map(|level| match level {
                Level::Name(name) => format!("/{name}"),
                Level::Any => "/+".to_owned(),
            })
            .collect();
        if self.subtree {
            text.push_str("/#");
        }
        text
    }

    /// The scopes the pattern can match: itself, or the scopes under the levels before a
    /// `+` or a `/#`.
    fn lookup(&self) -> crate::index::Lookup {
        use crate::index::{Lookup, ValueRange};
        use std::ops::Bound;
        let mut named = String::new();
        let mut open = self.subtree;
        for level in &self.levels {
            match level {
                Level::Name(name) => {
                    named.push('/');
                    named.push_str(name);
                }
                Level::Any => {
                    open = true;
                    break;
                }
            }
        }
        if named.is_empty() {
            return Lookup::Unrestricted;
        }
        let exact = || {
            ValueRange::Text(
                Bound::Included(named.clone()),
                Bound::Included(named.clone()),
            )
        };
        // Every scope below `named`: from "named/" up to "named0" ('0' follows '/').
        let below = ValueRange::Text(
            Bound::Included(format!("{named}/")),
            Bound::Excluded(format!("{named}0")),
        );
        let all_named = self.levels.iter().all(|l| matches!(l, Level::Name(_)));
        let ranges = match (all_named, open) {
            (true, false) => vec![exact()],
            (true, true) => vec![exact(), below],
            (false, _) => vec![below],
        };
        Lookup::Values {
            attribute: rigel_model::SCOPE_IRI.to_owned(),
            sub_attribute: None,
            ranges,
        }
    }

    fn matches(&self, scope: &str) -> bool {
        let mut parts = scope.strip_prefix('/').unwrap_or(scope).split('/');
        for level in &self.levels {
            match (parts.next(), level) {
                (None, _) | (Some(""), _) => return false,
                (Some(part), Level::Name(name)) if part != name => return false,
                _ => {}
            }
        }
        self.subtree || parts.next().is_none()
    }
}

/// One scope pattern; the leading `/` is optional.
fn pattern(sc: &mut Scanner<'_>) -> Result<Pattern, QueryError> {
    let slash = sc.eat('/');
    if slash && sc.eat('#') {
        return Ok(Pattern {
            levels: Vec::new(),
            subtree: true,
        });
    }
    let mut levels = Vec::new();
    loop {
        if sc.eat('+') {
            levels.push(Level::Any);
        } else {
            let name = sc.take_while(|c| c.is_alphanumeric() || c == '_' || c == '-');
            if name.is_empty() {
                return Err(sc.error("expected a scope level (a name or '+')"));
            }
            levels.push(Level::Name(name.to_owned()));
        }
        if !sc.eat('/') {
            return Ok(Pattern {
                levels,
                subtree: false,
            });
        }
        if sc.eat('#') {
            return Ok(Pattern {
                levels,
                subtree: true,
            });
        }
    }
}
