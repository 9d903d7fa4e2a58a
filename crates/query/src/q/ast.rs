//! The typed tree of a parsed q expression (clause 4.9): names expanded, literals typed,
//! regexes compiled. Public so that backends can translate q into their own queries.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use regex::Regex;

use crate::path::ValuePath;

/// A boolean combination of query terms; `;` binds tighter than `|`.
#[derive(Debug, Clone)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Term(Box<Term>),
}

/// One predicate: a path and what its target must satisfy.
#[derive(Debug, Clone)]
pub struct Term {
    pub path: Path,
    pub test: Test,
}

/// Where the target element is: in the entity itself, or in the entities a relationship
/// links to (`rel{[T1,T2:]path}`, clause 4.9 examples 13 and 14).
#[derive(Debug, Clone)]
pub enum Path {
    Value(ValueTarget),
    Linked {
        /// The relationship's expanded IRI.
        relationship: String,
        /// Expanded entity types the linked entity must have one of (empty: any).
        types: Vec<String>,
        inner: Box<Path>,
    },
}

/// A value path with the per-attribute options of the request.
#[derive(Debug, Clone)]
pub struct ValueTarget {
    pub path: ValuePath,
    /// The attribute is listed in `expandValues`: string targets also match the expanded
    /// literal.
    pub expand_values: bool,
}

/// What the target must satisfy.
#[derive(Debug, Clone)]
pub enum Test {
    /// The bare attribute path: the target element exists.
    Exists,
    Equal(Operand),
    Unequal(Operand),
    Compare(Comparison, Literal),
    Pattern(Regex),
    NotPattern(Regex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Greater,
    GreaterEq,
    Less,
    LessEq,
}

/// The right-hand side of `==` / `!=`.
#[derive(Debug, Clone)]
pub enum Operand {
    One(Literal),
    List(Vec<Literal>),
    /// Both bounds included.
    Range(Literal, Literal),
}

/// A typed query value (production `Value` / `URI`).
#[derive(Debug, Clone)]
pub enum Literal {
    Number(f64),
    Bool(bool),
    /// A quoted JSON string.
    Str(Text),
    /// An unquoted URI, or a bare term meant to be expanded (`expandValues`).
    Word(Text),
    DateTime(DateTime<Utc>),
    Date(NaiveDate),
    Time(NaiveTime),
}

/// A string literal with its expansion against the request's @context, computed at parse
/// time for VocabProperty targets and `expandValues` attributes.
#[derive(Debug, Clone)]
pub struct Text {
    pub raw: String,
    /// Present when the expansion differs from `raw`.
    pub expanded: Option<String>,
}
