//! Queries pushed down to MongoDB: each entity document carries `ix`, the values a value
//! index files for it (`rigel_query::index::entries`: numbers, strings, instants, booleans,
//! relationship objects, scopes, and the box of every GeoProperty value, per attribute and
//! sub-attribute), and a query's `Lookup` (a superset of its matches over those values)
//! becomes a MongoDB filter over them. Candidates are read with that filter and the whole
//! query is still evaluated on each, so the answer is the one an evaluation over every
//! entity gives (ADR 0006).
//!
//! `ix` elements: `{a: attribute, s: sub-attribute (absent at the top level), and one of
//! n: number, t: text, d: instant in Unix microseconds, b: boolean, or x0/y0/x1/y1: a box}`.

use std::ops::Bound;

use mongodb::bson::{doc, Bson, Document};
use rigel_model::Entity;
use rigel_query::index::{entries, Key, Lookup, ValueRange};

/// The `ix` array of an entity.
pub(crate) fn index_fields(entity: &Entity) -> Bson {
    let mut fields: Vec<Document> = Vec::new();
    entries(entity, &mut |attribute, sub, key| {
        let mut field = doc! {"a": attribute};
        if let Some(sub) = sub {
            field.insert("s", sub);
        }
        match key {
            Key::Number(x) => field.insert("n", x),
            Key::Text(t) => field.insert("t", t),
            Key::DateTime(t) => field.insert("d", t.timestamp_micros()),
            Key::Bool(b) => field.insert("b", b),
            Key::Area([x0, y0, x1, y1]) => {
                field.insert("x0", x0);
                field.insert("y0", y0);
                field.insert("x1", x1);
                field.insert("y1", y1)
            }
        };
        if !fields.contains(&field) {
            fields.push(field);
        }
    });
    Bson::Array(fields.into_iter().map(Bson::Document).collect())
}

/// The filter of a lookup's candidates; `None` when it does not narrow them.
pub(crate) fn filter(lookup: &Lookup) -> Option<Document> {
    match lookup {
        Lookup::Unrestricted => None,
        Lookup::And(items) => {
            let parts: Vec<Document> = items.iter().filter_map(filter).collect();
            (!parts.is_empty()).then(|| doc! {"$and": parts})
        }
        Lookup::Or(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                // A part that does not narrow makes the whole disjunction not narrow.
                parts.push(filter(item)?);
            }
            (!parts.is_empty()).then(|| doc! {"$or": parts})
        }
        Lookup::Values {
            attribute,
            sub_attribute,
            ranges,
        } => {
            let mut element = doc! {"a": attribute};
            element.insert("s", sub_attribute.clone().map_or(Bson::Null, Bson::String));
            let alternatives: Vec<Document> = ranges.iter().map(range).collect();
            match alternatives.as_slice() {
                [] => return Some(doc! {"_id": {"$exists": false}}),
                [one] => element.extend(one.clone()),
                _ => {
                    element.insert("$or", alternatives);
                }
            }
            Some(doc! {"ix": {"$elemMatch": element}})
        }
        // The boxes that meet `bounds`; the disc is left to the evaluation.
        Lookup::Area {
            attribute, bounds, ..
        } => {
            let [x0, y0, x1, y1] = *bounds;
            Some(doc! {"ix": {"$elemMatch": {
                "a": attribute,
                "s": Bson::Null,
                "x0": {"$lte": x1},
                "x1": {"$gte": x0},
                "y0": {"$lte": y1},
                "y1": {"$gte": y0},
            }}})
        }
    }
}

/// The condition on one `ix` element for a range of values.
fn range(r: &ValueRange) -> Document {
    fn bounds<T: Into<Bson> + Clone>(lo: &Bound<T>, hi: &Bound<T>) -> Document {
        let mut d = Document::new();
        match lo {
            Bound::Included(v) => {
                d.insert("$gte", v.clone());
            }
            Bound::Excluded(v) => {
                d.insert("$gt", v.clone());
            }
            Bound::Unbounded => {
                d.insert("$exists", true);
            }
        }
        match hi {
            Bound::Included(v) => {
                d.insert("$lte", v.clone());
            }
            Bound::Excluded(v) => {
                d.insert("$lt", v.clone());
            }
            Bound::Unbounded => {}
        }
        d
    }
    match r {
        ValueRange::Number(lo, hi) => doc! {"n": bounds(lo, hi)},
        ValueRange::Text(lo, hi) => doc! {"t": bounds(lo, hi)},
        // Instants are stored to the microsecond: the bounds widen to whole microseconds
        // (the evaluation cuts exactly).
        ValueRange::DateTime(lo, hi) => {
            let micros = |b: &Bound<chrono::DateTime<chrono::Utc>>, up: bool| match b {
                Bound::Included(t) | Bound::Excluded(t) => {
                    let m = t.timestamp_micros();
                    let exact = i64::from(t.timestamp_subsec_nanos() % 1000 == 0);
                    Bound::Included(if up { m + 1 - exact } else { m })
                }
                Bound::Unbounded => Bound::Unbounded,
            };
            doc! {"d": bounds(&micros(lo, false), &micros(hi, true))}
        }
        ValueRange::Bool(b) => doc! {"b": *b},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disjunction_with_an_unrestricted_part_does_not_narrow() {
        let values = Lookup::Values {
            attribute: "https://example.org/a".into(),
            sub_attribute: None,
            ranges: vec![ValueRange::Bool(true)],
        };
        assert!(filter(&Lookup::Or(vec![values.clone(), Lookup::Unrestricted])).is_none());
        assert!(filter(&Lookup::Or(vec![values.clone(), values])).is_some());
    }

    #[test]
    fn top_level_values_exclude_sub_attribute_values() {
        let lookup = Lookup::Values {
            attribute: "https://example.org/a".into(),
            sub_attribute: None,
            ranges: vec![ValueRange::Number(Bound::Excluded(5.0), Bound::Unbounded)],
        };
        let f = filter(&lookup).unwrap_or_default();
        assert_eq!(
            f,
            doc! {"ix": {"$elemMatch": {"a": "https://example.org/a", "s": Bson::Null, "n": {"$gt": 5.0, }}}}
        );
    }
}
