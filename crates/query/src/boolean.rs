//! The boolean grammar the type selection (4.17) and scope (4.19) languages share: terms
//! joined by `;` (and, binding tighter) and `,` / `|` (or), grouped with parentheses, with
//! bounded nesting and term count. Each language parses its own terms.

use crate::limits::{check_length, MAX_DEPTH, MAX_TERMS};
use crate::scan::Scanner;
use crate::QueryError;

/// A boolean expression over terms of one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bool<T> {
    Term(T),
    And(Vec<Bool<T>>),
    Or(Vec<Bool<T>>),
}

impl<T> Bool<T> {
    /// Evaluates the expression with `holds` deciding each term.
    pub(crate) fn eval(&self, holds: &impl Fn(&T) -> bool) -> bool {
        match self {
            Bool::Term(t) => holds(t),
            Bool::And(items) => items.iter().all(|n| n.eval(holds)),
            Bool::Or(items) => items.iter().any(|n| n.eval(holds)),
        }
    }
}

/// What a language tells the shared parser about itself, for its error messages.
pub(crate) struct Names {
    /// The terms, plural: "entity types".
    pub(crate) terms: &'static str,
    /// The whole input: "type selection".
    pub(crate) input: &'static str,
}

/// Parses a whole input; `term` reads one term at the scanner's position.
pub(crate) fn parse<T>(
    sc: &mut Scanner<'_>,
    names: &Names,
    term: &mut dyn FnMut(&mut Scanner<'_>) -> Result<T, QueryError>,
) -> Result<Bool<T>, QueryError> {
    let language = sc.language();
    check_length(sc.rest(), language)?;
    let mut p = Parser {
        names,
        term,
        depth: 0,
        count: 0,
    };
    let root = p.or_expr(sc)?;
    sc.skip_ws();
    if !sc.at_end() {
        return Err(sc.error(if sc.peek() == Some(')') {
            "')' without a matching '('".to_owned()
        } else {
            format!("expected ',', '|', ';' or the end of the {}", names.input)
        }));
    }
    Ok(root)
}

struct Parser<'n, 'f, T> {
    names: &'n Names,
    term: &'f mut dyn FnMut(&mut Scanner<'_>) -> Result<T, QueryError>,
    depth: usize,
    count: usize,
}

impl<T> Parser<'_, '_, T> {
    fn or_expr(&mut self, sc: &mut Scanner<'_>) -> Result<Bool<T>, QueryError> {
        let mut items = vec![self.and_expr(sc)?];
        loop {
            sc.skip_ws();
            if !(sc.eat(',') || sc.eat('|')) {
                break;
            }
            items.push(self.and_expr(sc)?);
        }
        Ok(join(items, Bool::Or))
    }

    fn and_expr(&mut self, sc: &mut Scanner<'_>) -> Result<Bool<T>, QueryError> {
        let mut items = vec![self.primary(sc)?];
        loop {
            sc.skip_ws();
            if !sc.eat(';') {
                break;
            }
            items.push(self.primary(sc)?);
        }
        Ok(join(items, Bool::And))
    }

    fn primary(&mut self, sc: &mut Scanner<'_>) -> Result<Bool<T>, QueryError> {
        sc.skip_ws();
        if sc.peek() == Some('(') {
            let open = sc.pos();
            sc.bump();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(QueryError::too_complex(
                    sc.language(),
                    format!("nested more than {MAX_DEPTH} levels deep"),
                ));
            }
            let node = self.or_expr(sc)?;
            sc.skip_ws();
            if !sc.eat(')') {
                let at = sc.char_pos(open);
                return Err(sc.error(format!("expected ')' closing the '(' at position {at}")));
            }
            self.depth -= 1;
            return Ok(node);
        }
        self.count += 1;
        if self.count > MAX_TERMS {
            return Err(QueryError::too_complex(
                sc.language(),
                format!("more than {MAX_TERMS} {}", self.names.terms),
            ));
        }
        (self.term)(sc).map(Bool::Term)
    }
}

fn join<T>(mut items: Vec<Bool<T>>, f: fn(Vec<Bool<T>>) -> Bool<T>) -> Bool<T> {
    if items.len() == 1 {
        items.remove(0)
    } else {
        f(items)
    }
}
