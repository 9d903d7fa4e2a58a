//! Parsed queries written back in their languages (clauses 4.9, 4.17, 4.19), names compacted
//! with a @context: what a request passed on to a context source carries (clause 4.3.6.1),
//! rebuilt from the typed query rather than copied from the client's text. In q, `;` binds
//! tighter than `|`, so only an or inside an and is parenthesised.

use chrono::SecondsFormat;
use rigel_model::TermMap;

use crate::boolean::Bool;
use crate::path::{Member, Root, Step, ValuePath};
use crate::q::ast::{Comparison, Literal, Node, Operand, Path, Term, Test};
use crate::{EntityQuery, EntitySelector, QExpr, ScopeExpr, TypeExpr};

/// A number as JSON writes it: integers without a fraction.
pub(crate) fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A type or scope selection: a conjunction inside a disjunction is parenthesised, as
/// clause 4.17 writes it; a disjunction inside a conjunction must be.
fn boolean<T>(node: &Bool<T>, term: &dyn Fn(&T) -> String, nested: bool) -> String {
    let group = |items: &[Bool<T>], sep: &str| {
        let text = items
            .iter()
            .map(|n| boolean(n, term, true))
            .collect::<Vec<_>>()
            .join(sep);
        if nested && items.len() > 1 {
            format!("({text})")
        } else {
            text
        }
    };
    match node {
        Bool::Term(t) => term(t),
        Bool::And(items) => group(items, ";"),
        Bool::Or(items) => group(items, ","),
    }
}

impl TypeExpr {
    /// The selection again, each type compacted with `terms`: `Building,Vehicle`.
    pub fn render(&self, terms: &dyn TermMap) -> String {
        boolean(
            self.root(),
            &|t: &String| terms.compact(t).into_owned(),
            false,
        )
    }
}

impl ScopeExpr {
    /// The scope query again: `/Madrid/+,/Berlin/#`.
    pub fn render(&self) -> String {
        boolean(self.root(), &|p| p.render(), false)
    }
}

impl QExpr {
    /// The q expression again, attribute names compacted with `terms`.
    pub fn render(&self, terms: &dyn TermMap) -> String {
        node(self.root(), terms, false)
    }
}

fn node(n: &Node, terms: &dyn TermMap, inside_and: bool) -> String {
    match n {
        Node::Term(t) => term(t, terms),
        Node::And(items) => items
            .iter()
            .map(|n| node(n, terms, true))
            .collect::<Vec<_>>()
            .join(";"),
        Node::Or(items) => {
            let text = items
                .iter()
                .map(|n| node(n, terms, false))
                .collect::<Vec<_>>()
                .join("|");
            if inside_and && items.len() > 1 {
                format!("({text})")
            } else {
                text
            }
        }
    }
}

fn term(t: &Term, terms: &dyn TermMap) -> String {
    let test = match &t.test {
        Test::Exists => String::new(),
        Test::Equal(op) => format!("=={}", operand(op)),
        Test::Unequal(op) => format!("!={}", operand(op)),
        Test::Compare(c, l) => {
            let sign = match c {
                Comparison::Greater => ">",
                Comparison::GreaterEq => ">=",
                Comparison::Less => "<",
                Comparison::LessEq => "<=",
            };
            format!("{sign}{}", literal(l))
        }
        Test::Pattern(re) => format!("~={}", re.as_str()),
        Test::NotPattern(re) => format!("!~={}", re.as_str()),
    };
    format!("{}{test}", path(&t.path, terms))
}

fn path(p: &Path, terms: &dyn TermMap) -> String {
    match p {
        Path::Value(target) => value_path(&target.path, terms),
        Path::Linked {
            relationship,
            types,
            inner,
        } => {
            let hint = if types.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = types
                    .iter()
                    .map(|t| terms.compact(t).into_owned())
                    .collect();
                format!("{}:", names.join(","))
            };
            format!(
                "{}{{{hint}{}}}",
                terms.compact(relationship),
                path(inner, terms)
            )
        }
    }
}

/// An attribute path: `name(.sub)*(.member)?([key(.key)*])?`.
pub(crate) fn value_path(p: &ValuePath, terms: &dyn TermMap) -> String {
    let mut text = match &p.root {
        Root::Attribute(iri) => terms.compact(iri).into_owned(),
        Root::CreatedAt => "createdAt".to_owned(),
        Root::ModifiedAt => "modifiedAt".to_owned(),
    };
    for step in &p.steps {
        text.push('.');
        match step {
            Step::Sub(iri) => text.push_str(&terms.compact(iri)),
            Step::Member(m) => text.push_str(member(*m)),
        }
    }
    if let Some(keys) = &p.trailing {
        let keys: Vec<&str> = keys.iter().map(|k| k.raw.as_str()).collect();
        text.push_str(&format!("[{}]", keys.join(".")));
    }
    text
}

fn member(m: Member) -> &'static str {
    match m {
        Member::ObservedAt => "observedAt",
        Member::CreatedAt => "createdAt",
        Member::ModifiedAt => "modifiedAt",
        Member::UnitCode => "unitCode",
        Member::DatasetId => "datasetId",
        Member::ExpiresAt => "expiresAt",
    }
}

fn operand(op: &Operand) -> String {
    match op {
        Operand::One(l) => literal(l),
        Operand::List(items) => items.iter().map(literal).collect::<Vec<_>>().join(","),
        Operand::Range(low, high) => format!("{}..{}", literal(low), literal(high)),
    }
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Number(n) => number(*n),
        Literal::Bool(b) => b.to_string(),
        Literal::Str(text) => serde_json::Value::String(text.raw.clone()).to_string(),
        Literal::Word(text) => text.raw.clone(),
        Literal::DateTime(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        Literal::Date(d) => d.format("%Y-%m-%d").to_string(),
        Literal::Time(t) => t.format("%H:%M:%S%.f").to_string(),
    }
}

impl EntitySelector {
    /// The selector as query parameters: `type`, `id` and `idPattern`.
    pub fn render(&self, terms: &dyn TermMap) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(types) = &self.types {
            params.push(("type", types.render(terms)));
        }
        if let Some(ids) = &self.ids {
            params.push(("id", ids.join(",")));
        }
        if let Some(pattern) = &self.id_pattern {
            params.push(("idPattern", pattern.as_str().to_owned()));
        }
        params
    }
}

impl EntityQuery {
    /// The query's conditions other than its selectors as query parameters: `attrs`, `q`,
    /// the geoquery and `scopeQ`, names compacted with `terms`.
    pub fn render_conditions(&self, terms: &dyn TermMap) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(attrs) = &self.attrs {
            let names: Vec<String> = attrs
                .iter()
                .map(|a| terms.compact(a).into_owned())
                .collect();
            params.push(("attrs", names.join(",")));
        }
        if let Some(q) = &self.q {
            params.push(("q", q.render(terms)));
        }
        if let Some(geo) = &self.geo {
            params.extend(geo.render(terms));
        }
        if let Some(scope) = &self.scope {
            params.push(("scopeQ", scope.render()));
        }
        params
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
