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
struct Pattern {
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

impl Pattern {
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
