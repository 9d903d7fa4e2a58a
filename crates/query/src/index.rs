//! What a value index can answer: the entries an entity files in it (its values at every
//! indexable path) and, for a query, a [`Lookup`] over those entries that selects a superset
//! of the query's matches. Both follow the evaluators' semantics (q, scopeQ, geoQ), so a
//! backend that takes its candidates from a lookup and evaluates the whole query on them
//! answers exactly what an evaluation over every entity answers.
//!
//! Indexable paths: a top-level attribute and one sub-attribute level below it (every
//! instance, whatever its datasetId), and the entity's scopes under [`SCOPE_IRI`].
//! Indexed values: numbers, strings (and, for strings that are DateTimes, their instant),
//! booleans, relationship objects, vocab IRIs, language-map strings, and the bounding box
//! of every GeoProperty value.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use geo::BoundingRect;
use rigel_model::{Attribute, AttributeValue, Entity, SCOPE_IRI};
use serde_json::Value;

use crate::path::{Root, Step, ValuePath};
use crate::q::ast::{Comparison, Literal, Node, Operand, Path, Term, Test};
use crate::temporal::parse_date_time;
use crate::{EntityQuery, GeoQuery, QExpr, ScopeExpr};

/// One indexed value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key<'a> {
    Number(f64),
    Text(&'a str),
    DateTime(DateTime<Utc>),
    Bool(bool),
    /// The `[min_lon, min_lat, max_lon, max_lat]` box of a GeoProperty value.
    Area([f64; 4]),
}

/// Calls `f` with every (attribute, sub-attribute, value) an entity files in a value index.
/// The same value may be reported more than once.
pub fn entries(entity: &Entity, f: &mut dyn FnMut(&str, Option<&str>, Key<'_>)) {
    for (name, instances) in &entity.attributes {
        for instance in instances {
            values(&instance.value, &mut |key| f(name, None, key));
            for (sub, attribute) in &instance.sub_attributes {
                sub_values(attribute, &mut |key| f(name, Some(sub), key));
            }
        }
    }
    for scope in entity.scope.iter().flatten() {
        let normal = normal_scope(scope);
        f(SCOPE_IRI, None, Key::Text(&normal));
    }
}

fn sub_values(attribute: &Attribute, f: &mut dyn FnMut(Key<'_>)) {
    values(&attribute.value, f);
}

/// The values q compares of one attribute instance.
fn values(value: &AttributeValue, f: &mut dyn FnMut(Key<'_>)) {
    match value {
        AttributeValue::Property(v) | AttributeValue::JsonProperty(v) => json(v, true, f),
        AttributeValue::ListProperty(items) => items.iter().for_each(|v| json(v, false, f)),
        AttributeValue::GeoProperty(v) => {
            if let Some(rect) = crate::geo::shape::from_geojson(v).and_then(|g| g.bounding_rect()) {
                f(Key::Area([
                    rect.min().x,
                    rect.min().y,
                    rect.max().x,
                    rect.max().y,
                ]));
            }
        }
        AttributeValue::Relationship { object, .. } => strings(object, f),
        AttributeValue::ListRelationship { object_list, .. } => {
            object_list.iter().for_each(|s| f(Key::Text(s)));
        }
        AttributeValue::VocabProperty(v) => strings(v, f),
        AttributeValue::LanguageProperty(map) => map.values().for_each(|v| strings(v, f)),
    }
}

/// A JSON target: a scalar (a `@value` object stands for its value), or with `arrays` the
/// scalars of an array (q matches arrays element-wise, one level deep).
fn json(v: &Value, arrays: bool, f: &mut dyn FnMut(Key<'_>)) {
    let v = match v {
        Value::Object(map) => map.get("@value").unwrap_or(v),
        _ => v,
    };
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                f(Key::Number(x));
            }
        }
        Value::String(s) => {
            f(Key::Text(s));
            if let Some(t) = parse_date_time(s) {
                f(Key::DateTime(t));
            }
        }
        Value::Bool(b) => f(Key::Bool(*b)),
        Value::Array(items) if arrays => items.iter().for_each(|v| json(v, false, f)),
        _ => {}
    }
}

fn strings(v: &Value, f: &mut dyn FnMut(Key<'_>)) {
    match v {
        Value::String(s) => f(Key::Text(s)),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .for_each(|s| f(Key::Text(s))),
        _ => {}
    }
}

/// A scope as filed: with its leading `/` (clause 4.18 makes it optional in queries).
pub fn normal_scope(scope: &str) -> String {
    format!("/{}", scope.strip_prefix('/').unwrap_or(scope))
}

/// A range of indexed values of one kind.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRange {
    Number(Bound<f64>, Bound<f64>),
    Text(Bound<String>, Bound<String>),
    DateTime(Bound<DateTime<Utc>>, Bound<DateTime<Utc>>),
    Bool(bool),
}

impl ValueRange {
    fn text(s: &str) -> Self {
        Self::Text(Bound::Included(s.to_owned()), Bound::Included(s.to_owned()))
    }
}

/// Which entries every match of a query has: a superset of the matches, or no restriction.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The index cannot narrow the candidates.
    Unrestricted,
    /// Entities with a value in one of `ranges` at the path.
    Values {
        attribute: String,
        sub_attribute: Option<String>,
        ranges: Vec<ValueRange>,
    },
    /// Entities with a GeoProperty value whose box intersects `bounds` (and, for
    /// `near;maxDistance` around a point, may come within the `disc`).
    Area {
        attribute: String,
        bounds: [f64; 4],
        disc: Option<Disc>,
    },
    /// Entities in every one of them.
    And(Vec<Lookup>),
    /// Entities in any one of them.
    Or(Vec<Lookup>),
}

impl Lookup {
    /// The conjunction, without its unrestricted parts.
    pub fn and(items: Vec<Lookup>) -> Lookup {
        let mut kept: Vec<Lookup> = items
            .into_iter()
            .filter(|l| *l != Lookup::Unrestricted)
            .collect();
        match kept.len() {
            0 => Lookup::Unrestricted,
            1 => kept.pop().unwrap_or(Lookup::Unrestricted),
            _ => Lookup::And(kept),
        }
    }

    /// The disjunction: unrestricted when any part is.
    pub fn or(mut items: Vec<Lookup>) -> Lookup {
        if items.is_empty() || items.contains(&Lookup::Unrestricted) {
            return Lookup::Unrestricted;
        }
        if items.len() == 1 {
            return items.pop().unwrap_or(Lookup::Unrestricted);
        }
        Lookup::Or(items)
    }
}

impl Lookup {
    /// Whether the entity has the entries the lookup asks for: what an index read would
    /// find it by (for a backend without an index, and for tests).
    pub fn admits(&self, entity: &Entity) -> bool {
        match self {
            Lookup::Unrestricted => true,
            Lookup::And(items) => items.iter().all(|l| l.admits(entity)),
            Lookup::Or(items) => items.iter().any(|l| l.admits(entity)),
            Lookup::Values {
                attribute,
                sub_attribute,
                ranges,
            } => {
                let mut found = false;
                entries(entity, &mut |a, sub, key| {
                    found = found
                        || (a == attribute
                            && sub == sub_attribute.as_deref()
                            && ranges.iter().any(|r| r.holds(key)));
                });
                found
            }
            Lookup::Area {
                attribute,
                bounds,
                disc,
            } => {
                let mut found = false;
                entries(entity, &mut |a, sub, key| {
                    found = found
                        || (a == attribute
                            && sub.is_none()
                            && matches!(key, Key::Area(b) if boxes_meet(b, *bounds)
                                && disc.is_none_or(|d| d.may_meet(b))));
                });
                found
            }
        }
    }
}

/// The points within `radius` metres of `center` (`[lon, lat]`) on the sphere `near`
/// measures on: a geometry matching `near;maxDistance` around a point lies in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Disc {
    pub center: [f64; 2],
    pub radius: f64,
}

impl Disc {
    /// Farthest from the equator, and largest, a disc is used to rule out boxes: beyond,
    /// the nearest point of a longitude/latitude box is no longer where it is clamped to.
    const MAX_LATITUDE: f64 = 80.0;
    const MAX_RADIUS: f64 = 100_000.0;

    /// Whether some point of the `[min_lon, min_lat, max_lon, max_lat]` box may lie in the
    /// disc. Never false for a box that has such a point: the distance to the box's point
    /// nearest the centre in longitude and latitude is compared with the radius grown by
    /// 1 % and 10 m, and discs far from the equator or wider than 100 km rule nothing out.
    pub fn may_meet(&self, b: [f64; 4]) -> bool {
        let [lon, lat] = self.center;
        if self.radius > Self::MAX_RADIUS
            || lat.abs() > Self::MAX_LATITUDE
            || b[1].abs().max(b[3].abs()) > Self::MAX_LATITUDE
        {
            return true;
        }
        let nearest = [lon.clamp(b[0], b[2]), lat.clamp(b[1], b[3])];
        crate::geo::haversine([lon, lat], nearest) <= self.radius * 1.01 + 10.0
    }
}

/// Whether two `[min_x, min_y, max_x, max_y]` boxes intersect (edges included).
pub fn boxes_meet(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

impl ValueRange {
    /// Whether an indexed value falls in the range.
    pub fn holds(&self, key: Key<'_>) -> bool {
        fn within<T: PartialOrd + ?Sized>(x: &T, lo: Bound<&T>, hi: Bound<&T>) -> bool {
            let above = match lo {
                Bound::Included(l) => x >= l,
                Bound::Excluded(l) => x > l,
                Bound::Unbounded => true,
            };
            let below = match hi {
                Bound::Included(h) => x <= h,
                Bound::Excluded(h) => x < h,
                Bound::Unbounded => true,
            };
            above && below
        }
        match (self, key) {
            (ValueRange::Number(lo, hi), Key::Number(x)) => within(&x, lo.as_ref(), hi.as_ref()),
            (ValueRange::Text(lo, hi), Key::Text(x)) => within(
                x,
                lo.as_ref().map(String::as_str),
                hi.as_ref().map(String::as_str),
            ),
            (ValueRange::DateTime(lo, hi), Key::DateTime(x)) => {
                within(&x, lo.as_ref(), hi.as_ref())
            }
            (ValueRange::Bool(b), Key::Bool(x)) => *b == x,
            _ => false,
        }
    }
}

impl EntityQuery {
    /// What a value index can select of this query (q, scopeQ and geoQ; the selectors
    /// are served by the id and type indexes).
    pub fn lookup(&self) -> Lookup {
        Lookup::and(vec![
            self.q.as_ref().map_or(Lookup::Unrestricted, QExpr::lookup),
            self.scope
                .as_ref()
                .map_or(Lookup::Unrestricted, ScopeExpr::lookup),
            self.geo
                .as_ref()
                .map_or(Lookup::Unrestricted, GeoQuery::lookup),
        ])
    }
}

impl QExpr {
    /// The entries every match of the expression has (linked-entity terms, existence,
    /// negations and patterns do not narrow).
    pub fn lookup(&self) -> Lookup {
        node_lookup(self.root())
    }
}

fn node_lookup(node: &Node) -> Lookup {
    match node {
        Node::And(items) => Lookup::and(items.iter().map(node_lookup).collect()),
        Node::Or(items) => Lookup::or(items.iter().map(node_lookup).collect()),
        Node::Term(term) => term_lookup(term).unwrap_or(Lookup::Unrestricted),
    }
}

fn term_lookup(term: &Term) -> Option<Lookup> {
    let Path::Value(target) = &term.path else {
        return None;
    };
    let (attribute, sub_attribute) = indexed_path(&target.path)?;
    let ranges = match &term.test {
        Test::Equal(Operand::One(l)) => points(l)?,
        Test::Equal(Operand::List(ls)) => {
            let mut all = Vec::new();
            for l in ls {
                all.extend(points(l)?);
            }
            all
        }
        Test::Equal(Operand::Range(lo, hi)) => {
            vec![range(Bound::Included(lo), Bound::Included(hi))?]
        }
        Test::Compare(c, l) => vec![match c {
            Comparison::Greater => range(Bound::Excluded(l), Bound::Unbounded)?,
            Comparison::GreaterEq => range(Bound::Included(l), Bound::Unbounded)?,
            Comparison::Less => range(Bound::Unbounded, Bound::Excluded(l))?,
            Comparison::LessEq => range(Bound::Unbounded, Bound::Included(l))?,
        }],
        Test::Exists | Test::Unequal(_) | Test::Pattern(_) | Test::NotPattern(_) => return None,
    };
    Some(Lookup::Values {
        attribute,
        sub_attribute,
        ranges,
    })
}

/// A top-level attribute, or one sub-attribute below it, without member access.
fn indexed_path(path: &ValuePath) -> Option<(String, Option<String>)> {
    let Root::Attribute(attribute) = &path.root else {
        return None;
    };
    if path.trailing.is_some() {
        return None;
    }
    match path.steps.as_slice() {
        [] => Some((attribute.clone(), None)),
        [Step::Sub(sub)] => Some((attribute.clone(), Some(sub.clone()))),
        _ => None,
    }
}

/// The values `==` a literal can match (strings as written and expanded).
fn points(l: &Literal) -> Option<Vec<ValueRange>> {
    Some(match l {
        Literal::Number(x) => vec![ValueRange::Number(Bound::Included(*x), Bound::Included(*x))],
        Literal::Bool(b) => vec![ValueRange::Bool(*b)],
        Literal::Str(t) | Literal::Word(t) => {
            let mut all = vec![ValueRange::text(&t.raw)];
            all.extend(t.expanded.as_deref().map(ValueRange::text));
            all
        }
        Literal::DateTime(t) => vec![ValueRange::DateTime(
            Bound::Included(*t),
            Bound::Included(*t),
        )],
        Literal::Date(_) | Literal::Time(_) => return None,
    })
}

/// The values between two bounds, when both are of one indexed kind that orders.
fn range(lo: Bound<&Literal>, hi: Bound<&Literal>) -> Option<ValueRange> {
    let kind = match (lo, hi) {
        (Bound::Included(l) | Bound::Excluded(l), _)
        | (_, Bound::Included(l) | Bound::Excluded(l)) => l,
        _ => return None,
    };
    match kind {
        Literal::Number(_) => Some(ValueRange::Number(
            map_bound(lo, |l| match l {
                Literal::Number(x) => Some(*x),
                _ => None,
            })?,
            map_bound(hi, |l| match l {
                Literal::Number(x) => Some(*x),
                _ => None,
            })?,
        )),
        Literal::Str(_) => Some(ValueRange::Text(
            map_bound(lo, |l| match l {
                Literal::Str(t) => Some(t.raw.clone()),
                _ => None,
            })?,
            map_bound(hi, |l| match l {
                Literal::Str(t) => Some(t.raw.clone()),
                _ => None,
            })?,
        )),
        Literal::DateTime(_) => Some(ValueRange::DateTime(
            map_bound(lo, |l| match l {
                Literal::DateTime(t) => Some(*t),
                _ => None,
            })?,
            map_bound(hi, |l| match l {
                Literal::DateTime(t) => Some(*t),
                _ => None,
            })?,
        )),
        _ => None,
    }
}

fn map_bound<T>(b: Bound<&Literal>, f: impl Fn(&Literal) -> Option<T>) -> Option<Bound<T>> {
    Some(match b {
        Bound::Included(l) => Bound::Included(f(l)?),
        Bound::Excluded(l) => Bound::Excluded(f(l)?),
        Bound::Unbounded => Bound::Unbounded,
    })
}

impl GeoQuery {
    /// The box every match's geometry intersects, when the relation bounds it.
    pub fn lookup(&self) -> Lookup {
        match self.search_bounds() {
            Some(bounds) => Lookup::Area {
                attribute: self.geoproperty().to_owned(),
                bounds,
                disc: self.disc(),
            },
            None => Lookup::Unrestricted,
        }
    }
}

#[cfg(test)]
mod tests;
