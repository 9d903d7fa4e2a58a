//! Entity ordering (clause 4.23): the `orderBy` language (4.23.3), the datatype comparison
//! order (4.23.2) and ordering by Haversine distance from `orderFrom` (4.23.1).

use std::cmp::Ordering;

use ::geo::Geometry;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rigel_model::{AttributeValue, Entity, TermMap};
use serde_json::Value;

use crate::geo::{build, from_geojson, geometry_distance, reference_geometry, Kind};
use crate::limits::{check_length, MAX_POSITIONS, MAX_TERMS};
use crate::path::{parse_value_path, read_name, Root, Target, ValuePath};
use crate::scan::Scanner;
use crate::temporal::{parse_date, parse_date_time, parse_time};
use crate::{Language, QueryError};

#[cfg(test)]
mod tests;

/// What an ordering term sorts by.
#[derive(Debug, Clone)]
enum Member {
    Id,
    Type,
    Scope,
    Path(ValuePath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Asc,
    Desc,
    DistAsc,
    DistDesc,
}

#[derive(Debug, Clone)]
struct Term {
    member: Member,
    direction: Direction,
}

/// A parsed `orderBy`: terms applied one after the other.
#[derive(Debug, Clone)]
pub struct OrderBy {
    terms: Vec<Term>,
    /// The `orderFrom` geometry, for `dist-asc` / `dist-desc`.
    origin: Option<Geometry<f64>>,
}

impl OrderBy {
    /// Parses `orderBy` without a reference location: `dist-asc` / `dist-desc` are refused
    /// (clause 5.7.2.4: ordering by distance needs a location).
    pub fn parse(input: &str, terms: &dyn TermMap) -> Result<OrderBy, QueryError> {
        Self::parse_with_origin(input, terms, None, None)
    }

    /// Parses `orderBy` with `orderGeometry` (default: inferred from how deep the
    /// coordinates nest, a position being a Point) and `orderFrom` (coordinates as JSON
    /// text).
    pub fn parse_with_origin(
        input: &str,
        terms: &dyn TermMap,
        order_geometry: Option<&str>,
        order_from: Option<&str>,
    ) -> Result<OrderBy, QueryError> {
        check_length(input, Language::OrderBy)?;
        let parsed = parse_terms(input, terms)?;
        let by_distance = parsed
            .iter()
            .any(|t| matches!(t.direction, Direction::DistAsc | Direction::DistDesc));
        let origin = match (order_from, by_distance) {
            (Some(from), true) => Some(origin(order_geometry, from)?),
            (None, true) => {
                return Err(QueryError::invalid(
                    Language::OrderBy,
                    "ordering by distance needs a location (orderFrom)",
                ))
            }
            (_, false) => None,
        };
        Ok(OrderBy {
            terms: parsed,
            origin,
        })
    }

    /// The attribute path (attribute and optional sub-attribute IRI) of an ascending ordering
    /// on one attribute value, which a value index can serve: numbers come first in the
    /// datatype order of clause 4.23.2, so the smallest numbers of the index are the first
    /// entities of the order. `None` for anything else.
    pub fn ascending_path(&self) -> Option<(&str, Option<&str>)> {
        let [term] = self.terms.as_slice() else {
            return None;
        };
        let Member::Path(path) = &term.member else {
            return None;
        };
        if term.direction != Direction::Asc || path.trailing.is_some() {
            return None;
        }
        let Root::Attribute(attribute) = &path.root else {
            return None;
        };
        match path.steps.as_slice() {
            [] => Some((attribute, None)),
            [crate::path::Step::Sub(sub)] => Some((attribute, Some(sub))),
            _ => None,
        }
    }

    /// The number an entity sorts by under an ordering on one member, when it sorts by a
    /// number (see [`OrderBy::ascending_path`]).
    pub fn sort_number(&self, entity: &Entity) -> Option<f64> {
        let [term] = self.terms.as_slice() else {
            return None;
        };
        match value_of(&term.member, entity) {
            Some(SortValue::Number(x)) => Some(x),
            _ => None,
        }
    }

    /// `Some(descending)` when the ordering is on `id` alone, the only member the temporal
    /// API orders by (5.7.4.4); `None` when a term names another member or a distance.
    pub fn on_id_only(&self) -> Option<bool> {
        let first = self.terms.first()?;
        let descending = first.direction == Direction::Desc;
        // Later terms on id cannot change an order by id.
        self.terms
            .iter()
            .all(|t| {
                matches!(t.member, Member::Id)
                    && matches!(t.direction, Direction::Asc | Direction::Desc)
            })
            .then_some(descending)
    }

    /// Orders two entities.
    pub fn compare(&self, a: &Entity, b: &Entity) -> Ordering {
        self.terms
            .iter()
            .map(|t| self.part(t, a).cmp(&self.part(t, b)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// The entity's key: keys order as [`OrderBy::compare`] orders entities, so a caller can
    /// compute them once per entity (`sort_by_cached_key`).
    pub fn sort_key(&self, entity: &Entity) -> SortKey {
        SortKey(self.terms.iter().map(|t| self.part(t, entity)).collect())
    }

    fn part(&self, term: &Term, entity: &Entity) -> KeyPart {
        let descending = matches!(term.direction, Direction::Desc | Direction::DistDesc);
        let distance = match (&self.origin, term.direction, &term.member) {
            (Some(origin), Direction::DistAsc | Direction::DistDesc, Member::Path(p)) => {
                distance_of(p, entity, origin)
            }
            _ => None,
        };
        let (group, value) = match distance {
            Some(d) => (Group::Geo, Some(SortValue::Number(d))),
            None => {
                let value = value_of(&term.member, entity);
                let group = if value.is_some() {
                    Group::Value
                } else {
                    Group::Missing
                };
                (group, value)
            }
        };
        KeyPart {
            group,
            value,
            descending,
        }
    }
}

/// The orderFrom geometry.
fn origin(order_geometry: Option<&str>, from: &str) -> Result<Geometry<f64>, QueryError> {
    let coordinates: Value = serde_json::from_str(from).map_err(|e| {
        QueryError::invalid(
            Language::OrderBy,
            format!("orderFrom is not a JSON array of positions: {e}"),
        )
    })?;
    let relabel = |e: QueryError| match e {
        QueryError::Invalid { message, .. } => QueryError::invalid(Language::OrderBy, message),
        other => other,
    };
    match order_geometry {
        Some(g) => reference_geometry(g, &coordinates).map_err(relabel),
        None => {
            let kind = Kind::from_depth(&coordinates).ok_or_else(|| {
                QueryError::invalid(
                    Language::OrderBy,
                    "orderFrom is not a GeoJSON coordinates array",
                )
            })?;
            build(kind, &coordinates, MAX_POSITIONS)
                .map_err(|m| QueryError::invalid(Language::OrderBy, format!("orderFrom: {m}")))
        }
    }
}

/// `OrderingTerm = AttrName *1(;direction) *(, OrderingTerm)` with attribute paths as in
/// clause 4.9 and the entity members `id`, `type`, `scope` (clause 6.4.3.2).
fn parse_terms(input: &str, terms: &dyn TermMap) -> Result<Vec<Term>, QueryError> {
    let mut sc = Scanner::new(input, Language::OrderBy);
    let mut out = Vec::new();
    loop {
        if out.len() >= MAX_TERMS {
            return Err(QueryError::too_complex(
                Language::OrderBy,
                format!("more than {MAX_TERMS} ordering terms"),
            ));
        }
        sc.skip_ws();
        let name = read_name(&mut sc, true)?;
        let member = match (name, sc.peek()) {
            ("id", None | Some(';' | ',')) => Member::Id,
            ("type", None | Some(';' | ',')) => Member::Type,
            ("scope", None | Some(';' | ',')) => Member::Scope,
            _ => Member::Path(parse_value_path(&mut sc, name, terms, &[])?),
        };
        let mut direction = Direction::Asc;
        if sc.eat(';') {
            let at = sc.pos();
            direction = match sc.take_while(|c| c.is_ascii_alphabetic() || c == '-') {
                "asc" => Direction::Asc,
                "desc" => Direction::Desc,
                "dist-asc" => Direction::DistAsc,
                "dist-desc" => Direction::DistDesc,
                _ => return Err(sc.error_at(at, "expected asc, desc, dist-asc or dist-desc")),
            };
            let geo = matches!(&member, Member::Path(p) if matches!(p.root, Root::Attribute(_)) && p.steps.is_empty() && p.trailing.is_none());
            if matches!(direction, Direction::DistAsc | Direction::DistDesc) && !geo {
                return Err(sc.error_at(at, "distance ordering needs a GeoProperty name"));
            }
        }
        out.push(Term { member, direction });
        sc.skip_ws();
        if sc.at_end() {
            return Ok(out);
        }
        if !sc.eat(',') {
            return Err(sc.error("expected ';', ',' or the end of orderBy"));
        }
    }
}

/// Metres from `origin` to the GeoProperty's geometry (default instance first).
fn distance_of(path: &ValuePath, entity: &Entity, origin: &Geometry<f64>) -> Option<f64> {
    let instances = entity.instances(path.attribute()?);
    let geometry = |i: &rigel_model::Attribute| match &i.value {
        AttributeValue::GeoProperty(v) => from_geojson(v),
        _ => None,
    };
    let g = instances
        .iter()
        .find(|i| i.dataset_id.is_none())
        .and_then(geometry)
        .or_else(|| instances.iter().find_map(geometry))?;
    Some(geometry_distance(&g, origin))
}

fn value_of(member: &Member, entity: &Entity) -> Option<SortValue> {
    match member {
        Member::Id => Some(SortValue::text(&entity.id)),
        Member::Type => entity.types.iter().min().map(|t| SortValue::text(t)),
        Member::Scope => entity
            .scope
            .as_ref()
            .and_then(|s| s.first())
            .map(|s| SortValue::text(s)),
        Member::Path(p) => p.sort_target(entity).map(target_value),
    }
}

fn target_value(target: Target<'_>) -> SortValue {
    match target {
        Target::Json(v) => json_value(v),
        Target::List(items) => SortValue::Array(Value::from(items.to_vec()).to_string()),
        Target::Object(v) | Target::Vocab(v) => json_value(v),
        Target::ObjectList(ids) => SortValue::Array(Value::from(ids.to_vec()).to_string()),
        Target::Language(map, Some(tag)) => map.get(tag).map_or(SortValue::Null, json_value),
        Target::Language(map, None) => SortValue::Object(Value::Object(map.clone()).to_string()),
        Target::Instant(t) => SortValue::DateTime(t),
        Target::Text(s) => text_value(s),
    }
}

fn json_value(v: &Value) -> SortValue {
    match v {
        Value::Null => SortValue::Null,
        Value::Bool(b) => SortValue::Bool(*b),
        Value::Number(n) => n.as_f64().map_or(SortValue::Null, SortValue::Number),
        Value::String(s) => text_value(s),
        Value::Array(_) => SortValue::Array(v.to_string()),
        Value::Object(map) => match map.get("@value") {
            Some(inner) => json_value(inner),
            None => SortValue::Object(v.to_string()),
        },
    }
}

/// Strings that are DateTimes, Dates or Times sort as such (clause 4.23.2).
fn text_value(s: &str) -> SortValue {
    if let Some(t) = parse_date_time(s) {
        SortValue::DateTime(t)
    } else if let Some(d) = parse_date(s) {
        SortValue::Date(d)
    } else if let Some(t) = parse_time(s) {
        SortValue::Time(t)
    } else {
        SortValue::text(s)
    }
}

/// One entity's sort key for an [`OrderBy`].
#[derive(Debug, Clone)]
pub struct SortKey(Vec<KeyPart>);

impl PartialEq for SortKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for SortKey {}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// Distance-ordered GeoProperties first, then values, then entities without the member,
/// whatever the direction (clause 4.23.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Geo,
    Value,
    Missing,
}

#[derive(Debug, Clone)]
struct KeyPart {
    group: Group,
    value: Option<SortValue>,
    descending: bool,
}

impl PartialEq for KeyPart {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for KeyPart {}

impl PartialOrd for KeyPart {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyPart {
    fn cmp(&self, other: &Self) -> Ordering {
        self.group.cmp(&other.group).then_with(|| {
            let o = match (&self.value, &other.value) {
                (Some(a), Some(b)) => a.compare(b),
                _ => Ordering::Equal,
            };
            if self.descending {
                o.reverse()
            } else {
                o
            }
        })
    }
}

/// A value in the datatype comparison order of clause 4.23.2 (variant order = rank).
#[derive(Debug, Clone)]
enum SortValue {
    Number(f64),
    /// Compared case-insensitively first, approximating the ICU root collation clause
    /// 4.23.1 asks for; the folded form is computed once per key.
    String {
        folded: String,
        raw: String,
    },
    Object(String),
    Array(String),
    Bool(bool),
    Time(NaiveTime),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Null,
}

impl SortValue {
    fn text(s: &str) -> SortValue {
        SortValue::String {
            folded: s.to_lowercase(),
            raw: s.to_owned(),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            SortValue::Number(_) => 0,
            SortValue::String { .. } => 1,
            SortValue::Object(_) => 2,
            SortValue::Array(_) => 3,
            SortValue::Bool(_) => 4,
            SortValue::Time(_) => 5,
            SortValue::Date(_) => 6,
            SortValue::DateTime(_) => 7,
            SortValue::Null => 8,
        }
    }

    fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortValue::Number(a), SortValue::Number(b)) => a.total_cmp(b),
            (
                SortValue::String { folded, raw },
                SortValue::String {
                    folded: other_folded,
                    raw: other_raw,
                },
            ) => folded
                .cmp(other_folded)
                // Among strings equal but for case, lower case first.
                .then_with(|| other_raw.cmp(raw)),
            (SortValue::Object(a), SortValue::Object(b))
            | (SortValue::Array(a), SortValue::Array(b)) => a.cmp(b),
            (SortValue::Bool(a), SortValue::Bool(b)) => a.cmp(b),
            (SortValue::Time(a), SortValue::Time(b)) => a.cmp(b),
            (SortValue::Date(a), SortValue::Date(b)) => a.cmp(b),
            (SortValue::DateTime(a), SortValue::DateTime(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}
