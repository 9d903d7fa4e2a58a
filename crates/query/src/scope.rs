//! The Scope Query Language (clause 4.19): scope patterns `/a/b`, `+` for one level, a
//! trailing `/#` for a whole subtree, `/#` alone for any scope; `,` / `|` or, `;` and,
//! parentheses.

use crate::limits::{check_length, MAX_DEPTH, MAX_TERMS};
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum ScopeNode {
    Pattern(Pattern),
    And(Vec<ScopeNode>),
    Or(Vec<ScopeNode>),
}

/// A parsed scopeQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeExpr {
    root: ScopeNode,
}

impl ScopeExpr {
    /// Parses a scopeQ. The leading `/` of a pattern is optional, as it is in a scope
    /// (clause 4.18); levels are letters, digits, `_` and `-` (what entity scopes admit).
    pub fn parse(input: &str) -> Result<ScopeExpr, QueryError> {
        check_length(input, Language::Scope)?;
        let mut p = Parser {
            sc: Scanner::new(input, Language::Scope),
            depth: 0,
            count: 0,
        };
        let root = p.or_expr()?;
        p.sc.skip_ws();
        if !p.sc.at_end() {
            return Err(p.sc.error(if p.sc.peek() == Some(')') {
                "')' without a matching '('"
            } else {
                "expected ',', '|', ';' or the end of the scope query"
            }));
        }
        Ok(ScopeExpr { root })
    }

    /// Whether an entity with these scopes is selected; an entity without scopes never is.
    /// A pattern matches if any of the entity's scopes matches it; in a conjunction each
    /// pattern may be matched by a different scope.
    pub fn matches(&self, scope: Option<&[String]>) -> bool {
        let scopes = scope.unwrap_or(&[]);
        !scopes.is_empty() && self.root.matches(scopes)
    }
}

impl ScopeNode {
    fn matches(&self, scopes: &[String]) -> bool {
        match self {
            ScopeNode::Pattern(p) => scopes.iter().any(|s| p.matches(s)),
            ScopeNode::And(items) => items.iter().all(|n| n.matches(scopes)),
            ScopeNode::Or(items) => items.iter().any(|n| n.matches(scopes)),
        }
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

struct Parser<'a> {
    sc: Scanner<'a>,
    depth: usize,
    count: usize,
}

impl Parser<'_> {
    fn or_expr(&mut self) -> Result<ScopeNode, QueryError> {
        let mut items = vec![self.and_expr()?];
        loop {
            self.sc.skip_ws();
            if !(self.sc.eat(',') || self.sc.eat('|')) {
                break;
            }
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            ScopeNode::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<ScopeNode, QueryError> {
        let mut items = vec![self.primary()?];
        loop {
            self.sc.skip_ws();
            if !self.sc.eat(';') {
                break;
            }
            items.push(self.primary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            ScopeNode::And(items)
        })
    }

    fn primary(&mut self) -> Result<ScopeNode, QueryError> {
        self.sc.skip_ws();
        if self.sc.peek() == Some('(') {
            let open = self.sc.pos();
            self.sc.bump();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(QueryError::too_complex(
                    Language::Scope,
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
                Language::Scope,
                format!("more than {MAX_TERMS} scope patterns"),
            ));
        }
        self.pattern().map(ScopeNode::Pattern)
    }

    fn pattern(&mut self) -> Result<Pattern, QueryError> {
        let slash = self.sc.eat('/');
        if slash && self.sc.eat('#') {
            return Ok(Pattern {
                levels: Vec::new(),
                subtree: true,
            });
        }
        let mut levels = Vec::new();
        loop {
            if self.sc.eat('+') {
                levels.push(Level::Any);
            } else {
                let name = self
                    .sc
                    .take_while(|c| c.is_alphanumeric() || c == '_' || c == '-');
                if name.is_empty() {
                    return Err(self.sc.error("expected a scope level (a name or '+')"));
                }
                levels.push(Level::Name(name.to_owned()));
            }
            if !self.sc.eat('/') {
                return Ok(Pattern {
                    levels,
                    subtree: false,
                });
            }
            if self.sc.eat('#') {
                return Ok(Pattern {
                    levels,
                    subtree: true,
                });
            }
        }
    }
}
