//! The q parser (clause 4.9 grammar): precedence climbing over `|` and `;` with parentheses,
//! attribute paths (dotted, trailing `[...]`, linked `{...}`), operators and typed values.

use rigel_model::TermMap;

use crate::limits::{check_length, MAX_DEPTH, MAX_LIST_VALUES, MAX_TERMS};
use crate::path::{parse_value_path, read_name};
use crate::pattern;
use crate::scan::Scanner;
use crate::{Language, QueryError};

use super::ast::{Comparison, Literal, Node, Operand, Path, Term, Test, ValueTarget};
use super::literal::{classify, is_comparable, read_quoted, same_type, text};
use super::QOptions;

pub(super) struct Parsed {
    pub(super) root: Node,
    pub(super) linked_depth: usize,
}

pub(super) fn parse(
    input: &str,
    terms: &dyn TermMap,
    options: &QOptions<'_>,
) -> Result<Parsed, QueryError> {
    check_length(input, Language::Q)?;
    let mut p = Parser {
        sc: Scanner::new(input, Language::Q),
        terms,
        options,
        depth: 0,
        count: 0,
        linked_depth: 0,
    };
    p.sc.skip_ws();
    if p.sc.at_end() {
        return Err(p.sc.error("empty query"));
    }
    let root = p.or_expr()?;
    p.sc.skip_ws();
    if !p.sc.at_end() {
        let message = if p.sc.peek() == Some(')') {
            "')' without a matching '('"
        } else {
            "expected ';', '|' or the end of the query"
        };
        return Err(p.sc.error(message));
    }
    Ok(Parsed {
        root,
        linked_depth: p.linked_depth,
    })
}

struct Parser<'a, 't> {
    sc: Scanner<'a>,
    terms: &'t dyn TermMap,
    options: &'t QOptions<'t>,
    /// Current nesting of parentheses and braces.
    depth: usize,
    /// Query terms so far.
    count: usize,
    linked_depth: usize,
}

/// The operators of production `Operator`, `patternOp` and `notPatternOp`.
#[derive(Clone, Copy)]
enum Op {
    Equal,
    Unequal,
    Compare(Comparison),
    Pattern,
    NotPattern,
}

impl<'a> Parser<'a, '_> {
    fn or_expr(&mut self) -> Result<Node, QueryError> {
        let mut items = vec![self.and_expr()?];
        loop {
            self.sc.skip_ws();
            if !self.sc.eat('|') {
                break;
            }
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Node, QueryError> {
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
            Node::And(items)
        })
    }

    fn primary(&mut self) -> Result<Node, QueryError> {
        self.sc.skip_ws();
        if self.sc.peek() != Some('(') {
            return self.term();
        }
        let open = self.sc.pos();
        self.sc.bump();
        self.enter()?;
        let node = self.or_expr()?;
        self.sc.skip_ws();
        if !self.sc.eat(')') {
            let at = self.sc.char_pos(open);
            return Err(self
                .sc
                .error(format!("expected ')' closing the '(' at position {at}")));
        }
        self.depth -= 1;
        Ok(node)
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::too_complex(
                Language::Q,
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn term(&mut self) -> Result<Node, QueryError> {
        self.count += 1;
        if self.count > MAX_TERMS {
            return Err(QueryError::too_complex(
                Language::Q,
                format!("more than {MAX_TERMS} query terms"),
            ));
        }
        match self.sc.peek() {
            None => return Err(self.sc.error("expected a query term")),
            Some(c @ (';' | '|' | ')')) => {
                return Err(self.sc.error(format!("expected a query term before '{c}'")))
            }
            _ => {}
        }
        let (_, path) = self.path(true, 0)?;
        let test = self.test(&path)?;
        Ok(Node::Term(Box::new(Term { path, test })))
    }

    /// `AttrName{LinkedEntityPath}` or a value path. Inside braces an optional
    /// `Type(,Type)*:` hint comes first: the types the linked entity must have one of, returned
    /// for the enclosing linked path.
    fn path(&mut self, top: bool, level: usize) -> Result<(Vec<String>, Path), QueryError> {
        let mut hint = Vec::new();
        let mut name = read_name(&mut self.sc, top)?;
        if !top && matches!(self.sc.peek(), Some(',' | ':')) {
            hint.push(self.terms.expand(name).into_owned());
            while self.sc.eat(',') {
                hint.push(
                    self.terms
                        .expand(read_name(&mut self.sc, false)?)
                        .into_owned(),
                );
            }
            if !self.sc.eat(':') {
                return Err(self.sc.error("expected ':' after the entity type hint"));
            }
            name = read_name(&mut self.sc, false)?;
        }
        if self.sc.peek() == Some('{') {
            self.sc.bump();
            self.enter()?;
            self.linked_depth = self.linked_depth.max(level + 1);
            let (types, inner) = self.path(false, level + 1)?;
            if !self.sc.eat('}') {
                return Err(self.sc.error("expected '}' closing the linked entity path"));
            }
            self.depth -= 1;
            let relationship = self.terms.expand(name).into_owned();
            return Ok((
                hint,
                Path::Linked {
                    relationship,
                    types,
                    inner: Box::new(inner),
                },
            ));
        }
        let path = parse_value_path(&mut self.sc, name, self.terms, self.options.json_keys)?;
        let expand_values = path.attribute().is_some_and(|a| {
            self.options.expand_values.iter().any(|e| e == a)
                && !self.options.json_keys.iter().any(|j| j == a)
        });
        Ok((
            hint,
            Path::Value(ValueTarget {
                path,
                expand_values,
            }),
        ))
    }
}

/// The value path a term's test applies to (the innermost one of a linked path).
fn innermost(path: &Path) -> &ValueTarget {
    match path {
        Path::Value(v) => v,
        Path::Linked { inner, .. } => innermost(inner),
    }
}

impl<'a> Parser<'a, '_> {
    fn test(&mut self, path: &Path) -> Result<Test, QueryError> {
        self.sc.skip_ws();
        let op = if self.sc.eat_str("==") {
            Op::Equal
        } else if self.sc.eat_str("!=") {
            Op::Unequal
        } else if self.sc.eat_str("!~=") {
            Op::NotPattern
        } else if self.sc.eat_str("~=") {
            Op::Pattern
        } else if self.sc.eat_str(">=") {
            Op::Compare(Comparison::GreaterEq)
        } else if self.sc.eat_str(">") {
            Op::Compare(Comparison::Greater)
        } else if self.sc.eat_str("<=") {
            Op::Compare(Comparison::LessEq)
        } else if self.sc.eat_str("<") {
            Op::Compare(Comparison::Less)
        } else {
            return match self.sc.peek() {
                None | Some(';' | '|' | ')') => Ok(Test::Exists),
                Some('=') => Err(self.sc.error("'=' is not an operator, use '=='")),
                _ => Err(self.sc.error(
                    "expected an operator (==, !=, >, >=, <, <=, ~=, !~=), ';', '|' or ')'",
                )),
            };
        };
        self.sc.skip_ws();
        let terms = self.terms;
        let raw_json = innermost(path)
            .path
            .attribute()
            .is_some_and(|a| self.options.json_keys.iter().any(|j| j == a));
        // Literals are expanded like the values of the attribute they are compared with:
        // never for jsonKeys attributes, whose values are not JSON-LD.
        let expand = move |raw: &str| -> Option<String> {
            if raw_json || raw.is_empty() || raw.contains(char::is_whitespace) {
                return None;
            }
            let e = terms.expand(raw);
            (e != raw).then(|| e.into_owned())
        };
        match op {
            Op::Equal => Ok(Test::Equal(self.equality_operand(&expand)?)),
            Op::Unequal => Ok(Test::Unequal(self.equality_operand(&expand)?)),
            Op::Compare(c) => {
                let at = self.sc.pos();
                let literal = match self.range_or_value(&expand)? {
                    Operand::One(l) => l,
                    _ => return Err(self.sc.error_at(at, "a range needs == or !=")),
                };
                if !is_comparable(&literal) {
                    return Err(self.sc.error_at(
                        at,
                        "expected a number, a quoted string, a date, a time or a date-time",
                    ));
                }
                if self.sc.peek() == Some(',') {
                    return Err(self.sc.error("a value list needs == or !="));
                }
                if self.sc.starts_with("..") {
                    return Err(self.sc.error("a range needs == or !="));
                }
                Ok(Test::Compare(c, literal))
            }
            Op::Pattern => Ok(Test::Pattern(self.regex()?)),
            Op::NotPattern => Ok(Test::NotPattern(self.regex()?)),
        }
    }

    /// `CompEqualityValue`: a value, a URI, a `lo..hi` range or a `a,b,c` list.
    fn equality_operand(
        &mut self,
        expand: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Operand, QueryError> {
        let first = match self.range_or_value(expand)? {
            Operand::Range(lo, hi) => {
                self.sc.skip_ws();
                if self.sc.peek() == Some(',') {
                    return Err(self.sc.error("a range cannot be part of a value list"));
                }
                return Ok(Operand::Range(lo, hi));
            }
            Operand::One(l) => l,
            Operand::List(_) => return Err(self.sc.error("expected a value")),
        };
        self.sc.skip_ws();
        if self.sc.peek() != Some(',') {
            return Ok(Operand::One(first));
        }
        let mut items = vec![first];
        while self.sc.eat(',') {
            if items.len() >= MAX_LIST_VALUES {
                return Err(QueryError::too_complex(
                    Language::Q,
                    format!("a value list has more than {MAX_LIST_VALUES} values"),
                ));
            }
            items.push(self.value(expand)?);
            self.sc.skip_ws();
        }
        Ok(Operand::List(items))
    }

    /// One value, or a range `lo..hi` of two comparable values of the same type.
    fn range_or_value(
        &mut self,
        expand: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Operand, QueryError> {
        self.sc.skip_ws();
        let at = self.sc.pos();
        let lo = if self.sc.peek() == Some('"') {
            let s = read_quoted(&mut self.sc)?;
            let lo = Literal::Str(text(&s, expand));
            if !self.sc.eat_str("..") {
                return Ok(Operand::One(lo));
            }
            lo
        } else {
            let token = self.unquoted();
            if token.is_empty() {
                return Err(self.sc.error_at(at, "expected a value"));
            }
            let Some((l, h)) = token.split_once("..") else {
                return Ok(Operand::One(classify(token, expand)));
            };
            let lo = classify(l, expand);
            if !is_comparable(&lo) {
                // Not a range: a URI may contain "..".
                return Ok(Operand::One(classify(token, expand)));
            }
            if !h.is_empty() {
                let hi = classify(h, expand);
                return self.range(at, lo, hi);
            }
            lo
        };
        let hi = self.value(expand)?;
        self.range(at, lo, hi)
    }

    fn range(&self, at: usize, lo: Literal, hi: Literal) -> Result<Operand, QueryError> {
        if is_comparable(&hi) && same_type(&lo, &hi) {
            Ok(Operand::Range(lo, hi))
        } else {
            Err(self.sc.error_at(
                at,
                "a range needs two numbers, quoted strings, dates, times or date-times of the same type",
            ))
        }
    }

    /// One value (production `Value` or `URI`).
    fn value(&mut self, expand: &dyn Fn(&str) -> Option<String>) -> Result<Literal, QueryError> {
        self.sc.skip_ws();
        if self.sc.peek() == Some('"') {
            let s = read_quoted(&mut self.sc)?;
            return Ok(Literal::Str(text(&s, expand)));
        }
        let at = self.sc.pos();
        let token = self.unquoted();
        if token.is_empty() {
            return Err(self.sc.error_at(at, "expected a value"));
        }
        Ok(classify(token, expand))
    }

    /// An unquoted value runs to the next `,`, `;`, `|`, `)`, quote or space (a URI with one
    /// of those has to be quoted). So a comma is always a list separator here, and a
    /// fraction of a second needs the decimal point.
    fn unquoted(&mut self) -> &'a str {
        self.sc
            .take_while(|c| !(matches!(c, ',' | ';' | '|' | '"' | ')') || c.is_whitespace()))
    }

    /// A regular expression: a JSON string, or unquoted text running to the next `;`, `|` or
    /// unbalanced `)` outside its own groups and classes.
    fn regex(&mut self) -> Result<regex::Regex, QueryError> {
        self.sc.skip_ws();
        let at = self.sc.pos();
        let source = if self.sc.peek() == Some('"') {
            read_quoted(&mut self.sc)?
        } else {
            self.unquoted_regex().to_owned()
        };
        if source.is_empty() {
            return Err(self.sc.error_at(at, "expected a regular expression"));
        }
        pattern::compile(&source, Language::Q).map_err(|e| match e {
            QueryError::Invalid { message, .. } => self.sc.error_at(at, message),
            other => other,
        })
    }

    fn unquoted_regex(&mut self) -> &'a str {
        let start = self.sc.pos();
        let mut groups = 0usize;
        let mut escaped = false;
        // Inside a class: how many members so far (a `]` first is a member, not the end).
        let mut class: Option<usize> = None;
        while let Some(c) = self.sc.peek() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if let Some(n) = class {
                class = match c {
                    ']' if n > 0 => None,
                    '^' if n == 0 => Some(0),
                    _ => Some(n + 1),
                };
            } else {
                match c {
                    '[' => class = Some(0),
                    '(' => groups += 1,
                    ')' if groups > 0 => groups -= 1,
                    ')' => break,
                    ';' | '|' if groups == 0 => break,
                    _ => {}
                }
            }
            self.sc.bump();
        }
        self.sc.slice(start, self.sc.pos())
    }
}
