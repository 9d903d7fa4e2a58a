//! Evaluation of a parsed q expression against one entity (clause 4.9 semantics; the
//! decisions are listed in the module documentation of `q`).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use regex::Regex;
use rigel_model::{AttributeValue, Entity};
use serde_json::Value;

use crate::path::Target;
use crate::temporal::{parse_date, parse_date_time, parse_time};

use super::ast::{Comparison, Literal, Node, Operand, Path, Test, Text};
use super::LinkedEntities;

/// How linked-entity terms (`rel{path}`) are evaluated.
#[derive(Clone, Copy)]
pub(super) enum Links<'a> {
    /// They do not match.
    Absent,
    /// They are taken to match: a superset of the matches, for a first pass whose
    /// candidates tell which entities to fetch.
    Assumed,
    /// They follow the relationships to these entities.
    Given(&'a dyn LinkedEntities),
}

impl Node {
    pub(super) fn eval(&self, entity: &Entity, linked: Links<'_>) -> bool {
        match self {
            Node::And(items) => items.iter().all(|n| n.eval(entity, linked)),
            Node::Or(items) => items.iter().any(|n| n.eval(entity, linked)),
            Node::Term(term) => term.path.eval(&term.test, entity, linked),
        }
    }
}

impl Path {
    fn eval(&self, test: &Test, entity: &Entity, linked: Links<'_>) -> bool {
        match self {
            Path::Value(v) => v
                .path
                .any_target(entity, &mut |t| test.holds(t, v.expand_values)),
            Path::Linked {
                relationship,
                types,
                inner,
            } => {
                let linked = match linked {
                    Links::Absent => return false,
                    Links::Assumed => return true,
                    Links::Given(linked) => linked,
                };
                let follow = |id: &str| {
                    linked.entity(id).is_some_and(|target| {
                        (types.is_empty() || target.types.iter().any(|t| types.contains(t)))
                            && inner.eval(test, &target, Links::Given(linked))
                    })
                };
                targets(entity, relationship).any(follow)
            }
        }
    }

    fn linked_ids(&self, entity: &Entity, known: &dyn LinkedEntities, out: &mut BTreeSet<String>) {
        let Path::Linked {
            relationship,
            types,
            inner,
        } = self
        else {
            return;
        };
        for id in targets(entity, relationship) {
            match known.entity(id) {
                Some(target) => {
                    if types.is_empty() || target.types.iter().any(|t| types.contains(t)) {
                        inner.linked_ids(&target, known, out);
                    }
                }
                None => {
                    out.insert(id.to_owned());
                }
            }
        }
    }
}

impl Node {
    /// Adds to `out` the ids the linked-entity terms reach from `entity` that `known` does
    /// not hold, going on through the entities it does hold.
    pub(super) fn linked_ids(
        &self,
        entity: &Entity,
        known: &dyn LinkedEntities,
        out: &mut BTreeSet<String>,
    ) {
        match self {
            Node::And(items) | Node::Or(items) => {
                items.iter().for_each(|n| n.linked_ids(entity, known, out));
            }
            Node::Term(term) => term.path.linked_ids(entity, known, out),
        }
    }
}

/// The ids a relationship (or list relationship) of `entity` points at, every instance.
fn targets<'e>(entity: &'e Entity, relationship: &str) -> impl Iterator<Item = &'e str> {
    entity.instances(relationship).iter().flat_map(
        |instance| -> Box<dyn Iterator<Item = &'e str> + 'e> {
            match &instance.value {
                AttributeValue::Relationship { object, .. } => match object {
                    Value::String(id) => Box::new(std::iter::once(id.as_str())),
                    Value::Array(ids) => Box::new(ids.iter().filter_map(Value::as_str)),
                    _ => Box::new(std::iter::empty()),
                },
                AttributeValue::ListRelationship { object_list, .. } => {
                    Box::new(object_list.iter().map(String::as_str))
                }
                _ => Box::new(std::iter::empty()),
            }
        },
    )
}

/// One comparable element of a target.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    /// A JSON value that is not an array.
    Json(&'a Value),
    /// A relationship object.
    Uri(&'a str),
    /// An expanded vocab IRI.
    Vocab(&'a str),
    /// One string of a language map.
    Lang(&'a str),
    Instant(DateTime<Utc>),
    Text(&'a str),
}

/// Whether `f` holds for any element of the target (arrays match element-wise).
fn any_scalar(target: Target<'_>, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
    match target {
        Target::Json(Value::Array(items)) => items.iter().any(|v| f(Scalar::Json(v))),
        Target::Json(v) => f(Scalar::Json(v)),
        Target::List(items) => items.iter().any(|v| f(Scalar::Json(v))),
        Target::Object(v) => strings(v).any(|s| f(Scalar::Uri(s))),
        Target::ObjectList(ids) => ids.iter().any(|s| f(Scalar::Uri(s))),
        Target::Vocab(v) => strings(v).any(|s| f(Scalar::Vocab(s))),
        Target::Language(map, Some(tag)) => map
            .get(tag)
            .is_some_and(|v| strings(v).any(|s| f(Scalar::Lang(s)))),
        Target::Language(map, None) => map.values().any(|v| strings(v).any(|s| f(Scalar::Lang(s)))),
        Target::Instant(t) => f(Scalar::Instant(t)),
        Target::Text(s) => f(Scalar::Text(s)),
    }
}

/// The strings of a string-or-array-of-strings value.
fn strings(v: &Value) -> impl Iterator<Item = &str> {
    let (one, many) = match v {
        Value::String(s) => (Some(s.as_str()), None),
        Value::Array(items) => (None, Some(items.iter().filter_map(Value::as_str))),
        _ => (None, None),
    };
    one.into_iter().chain(many.into_iter().flatten())
}

/// A JSON-LD value object (`{"@type": ..., "@value": ...}`) stands for its value.
fn unwrap_typed(v: &Value) -> &Value {
    match v {
        Value::Object(map) => map.get("@value").unwrap_or(v),
        _ => v,
    }
}

impl Test {
    fn holds(&self, target: Target<'_>, expand_values: bool) -> bool {
        match self {
            Test::Exists => true,
            Test::Equal(operand) => operand.holds(target, expand_values),
            Test::Unequal(operand) => !operand.holds(target, expand_values),
            Test::Compare(c, literal) => any_scalar(target, &mut |s| {
                compare(s, literal).is_some_and(|o| c.accepts(o))
            }),
            Test::Pattern(re) => matches_pattern(target, re),
            Test::NotPattern(re) => {
                any_scalar(target, &mut |s| text_of(s).is_some()) && !matches_pattern(target, re)
            }
        }
    }
}

fn matches_pattern(target: Target<'_>, re: &Regex) -> bool {
    any_scalar(target, &mut |s| text_of(s).is_some_and(|t| re.is_match(t)))
}

impl Comparison {
    /// Whether `target.cmp(literal) == o` satisfies the operator.
    fn accepts(self, o: Ordering) -> bool {
        match self {
            Comparison::Greater => o == Ordering::Greater,
            Comparison::GreaterEq => o != Ordering::Less,
            Comparison::Less => o == Ordering::Less,
            Comparison::LessEq => o != Ordering::Greater,
        }
    }
}

impl Operand {
    fn holds(&self, target: Target<'_>, expand_values: bool) -> bool {
        match self {
            Operand::One(l) => any_scalar(target, &mut |s| equal(s, l, expand_values)),
            Operand::List(ls) => any_scalar(target, &mut |s| {
                ls.iter().any(|l| equal(s, l, expand_values))
            }),
            Operand::Range(lo, hi) => any_scalar(target, &mut |s| {
                compare(s, lo).is_some_and(|o| o != Ordering::Less)
                    && compare(s, hi).is_some_and(|o| o != Ordering::Greater)
            }),
        }
    }
}

/// The string a pattern applies to; relationships only support `==` and `!=` (clause 4.9).
fn text_of(s: Scalar<'_>) -> Option<&str> {
    match s {
        Scalar::Json(v) => unwrap_typed(v).as_str(),
        Scalar::Vocab(t) | Scalar::Lang(t) | Scalar::Text(t) => Some(t),
        Scalar::Uri(_) | Scalar::Instant(_) => None,
    }
}

fn equal(s: Scalar<'_>, l: &Literal, expand_values: bool) -> bool {
    match s {
        Scalar::Json(v) => match (unwrap_typed(v), l) {
            (Value::Number(n), Literal::Number(x)) => n.as_f64() == Some(*x),
            (Value::Bool(b), Literal::Bool(x)) => b == x,
            (Value::String(t), _) => string_equal(t, l, expand_values),
            _ => false,
        },
        Scalar::Text(t) => string_equal(t, l, expand_values),
        Scalar::Lang(t) => string_equal(t, l, false),
        Scalar::Uri(t) => text_literal(l).is_some_and(|x| text_equal(t, x, expand_values)),
        // Stored vocab is expanded, so the literal is compared expanded (clause 4.9).
        Scalar::Vocab(t) => text_literal(l).is_some_and(|x| text_equal(t, x, true)),
        Scalar::Instant(t) => matches!(l, Literal::DateTime(x) if t == *x),
    }
}

fn text_literal(l: &Literal) -> Option<&Text> {
    match l {
        Literal::Str(t) | Literal::Word(t) => Some(t),
        _ => None,
    }
}

fn text_equal(target: &str, l: &Text, expanded_too: bool) -> bool {
    l.raw == target || (expanded_too && l.expanded.as_deref() == Some(target))
}

fn string_equal(target: &str, l: &Literal, expand_values: bool) -> bool {
    match l {
        Literal::Str(t) | Literal::Word(t) => text_equal(target, t, expand_values),
        Literal::DateTime(x) => parse_date_time(target) == Some(*x),
        Literal::Date(x) => parse_date(target) == Some(*x),
        Literal::Time(x) => parse_time(target) == Some(*x),
        Literal::Number(_) | Literal::Bool(_) => false,
    }
}

/// `target` compared with `l`, if their types agree.
fn compare(s: Scalar<'_>, l: &Literal) -> Option<Ordering> {
    match s {
        Scalar::Json(v) => match (unwrap_typed(v), l) {
            (Value::Number(n), Literal::Number(x)) => n.as_f64()?.partial_cmp(x),
            (Value::String(t), _) => string_compare(t, l),
            _ => None,
        },
        Scalar::Text(t) | Scalar::Lang(t) | Scalar::Vocab(t) => string_compare(t, l),
        Scalar::Uri(_) => None,
        Scalar::Instant(t) => match l {
            Literal::DateTime(x) => Some(t.cmp(x)),
            _ => None,
        },
    }
}

fn string_compare(target: &str, l: &Literal) -> Option<Ordering> {
    match l {
        Literal::Str(t) => Some(target.cmp(t.raw.as_str())),
        Literal::DateTime(x) => Some(parse_date_time(target)?.cmp(x)),
        Literal::Date(x) => Some(parse_date(target)?.cmp(x)),
        Literal::Time(x) => Some(parse_time(target)?.cmp(x)),
        Literal::Word(_) | Literal::Number(_) | Literal::Bool(_) => None,
    }
}
