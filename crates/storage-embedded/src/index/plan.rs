//! The planner's index reads: the candidate ids a [`Lookup`] selects from the value index
//! for the types a query is restricted to, or "too many" once they pass a budget (then a
//! scan of the type in id order, which stops at the first page, is the cheaper plan).
//!
//! A conjunction reads its parts one after another, each with a budget no larger than the
//! smallest set found so far, and intersects the sets it could read in full; a disjunction
//! unites its parts' sets. Every set is a superset of the matches, so the caller evaluates
//! the whole query on each candidate.

use std::collections::BTreeSet;
use std::ops::Bound;

use rigel_query::index::{Disc, Lookup, ValueRange};
use rigel_storage::StorageError;

use super::ids::IdSet;
use super::overlay::IndexRows;
use super::tiles::TileIds;
use super::{
    cells, instant_bytes, number_bytes, path_part, text_bytes, type_part, MAX_TEXT, TAG_BOOL,
    TAG_DATE_TIME, TAG_GEO, TAG_NUMBER, TAG_TEXT,
};
use crate::layout;

/// How many times the budget a geospatial read may use.
const GEO_BUDGET_FACTOR: usize = 4;

/// The share of its tiles' area a box must cover for its tiles to be read without a probe.
const DIRECT_SHARE: f64 = 0.25;

/// Whether a cell with box `b` may hold a geometry meeting the query box `bounds` (and
/// the `disc` of a `near;maxDistance`).
pub(crate) fn may_hold(b: [f64; 4], bounds: [f64; 4], disc: Option<Disc>) -> bool {
    rigel_query::index::boxes_meet(b, bounds) && disc.is_none_or(|d| d.may_meet(b))
}

/// What an index read found.
#[derive(Debug)]
pub(crate) enum Found {
    /// The candidate ids (in no particular order until sealed; `IdSet::ascending` reads
    /// them in id order either way).
    Ids(IdSet),
    /// More index entries than the budget, and, where the read could tell, about how many
    /// times that budget a whole read would take (a geospatial read sees how much of its
    /// area the rows it read came from).
    TooMany { budgets: Option<f64> },
}

impl Found {
    const TOO_MANY: Found = Found::TooMany { budgets: None };
}

/// The value index, read in one snapshot for one tenant and a set of types.
pub(crate) struct IndexReader<'a> {
    pub rows: &'a IndexRows<'a>,
    pub tenant_prefix: &'a [u8],
    pub types: &'a [String],
}

impl IndexReader<'_> {
    /// The candidates of `lookup`, reading at most `budget` index entries; `None` when the
    /// lookup does not narrow anything.
    pub(crate) fn candidates(
        &self,
        lookup: &Lookup,
        budget: usize,
    ) -> Result<Option<Found>, StorageError> {
        match lookup {
            Lookup::Unrestricted => Ok(None),
            Lookup::Values {
                attribute,
                sub_attribute,
                ranges,
            } => {
                let mut ids = IdSet::default();
                let mut read = 0usize;
                for range in ranges {
                    let (tag, lo, hi) = encoded_range(range);
                    let path = path_part(attribute, sub_attribute.as_deref(), tag);
                    if !self.read_range(&path, &lo, &hi, budget, &mut read, &mut ids)? {
                        return Ok(Some(Found::TOO_MANY));
                    }
                }
                Ok(Some(Found::Ids(ids)))
            }
            Lookup::Area {
                attribute,
                bounds,
                disc,
            } => self.area(attribute, *bounds, *disc, budget),
            Lookup::And(items) => {
                let mut best: Option<IdSet> = None;
                let mut narrowed = false;
                // The fewest budgets a part would take bounds the whole.
                let mut budgets: Option<f64> = None;
                for item in ordered(items) {
                    let limit = best.as_ref().map_or(budget, |b| b.len().min(budget));
                    match self.candidates(item, limit)? {
                        None => {}
                        Some(Found::TooMany { budgets: part }) => {
                            narrowed = true;
                            budgets = match (budgets, part) {
                                (Some(a), Some(b)) => Some(a.min(b)),
                                (a, b) => a.or(b),
                            };
                        }
                        Some(Found::Ids(ids)) => {
                            narrowed = true;
                            let ids = ids.seal();
                            best = Some(match best {
                                None => ids,
                                Some(b) => b.intersection(&ids),
                            });
                        }
                    }
                }
                Ok(match (best, narrowed) {
                    (Some(ids), _) => Some(Found::Ids(ids)),
                    (None, true) => Some(Found::TooMany { budgets }),
                    (None, false) => None,
                })
            }
            Lookup::Or(items) => {
                let mut all = IdSet::default();
                for item in items {
                    let left = budget.saturating_sub(all.len());
                    match self.candidates(item, left)? {
                        None => return Ok(None),
                        Some(Found::TooMany { .. }) => return Ok(Some(Found::TOO_MANY)),
                        Some(Found::Ids(ids)) => all.extend(&ids),
                    }
                }
                Ok(Some(Found::Ids(all)))
            }
        }
    }

    /// The candidates of a box on a GeoProperty: the rows of the cells covering it, of the
    /// cells inside those and of the cells holding them. Past the budget, tells how many
    /// budgets the whole cover would take, from the share of its area already read.
    fn area(
        &self,
        attribute: &str,
        bounds: [f64; 4],
        disc: Option<Disc>,
        budget: usize,
    ) -> Result<Option<Found>, StorageError> {
        // A cell holds a candidate when it meets the box (and the disc).
        let near = move |b: [f64; 4]| may_hold(b, bounds, disc);
        let cover = cells::cover(bounds, &near);
        if cover.is_empty() {
            return Ok(None);
        }
        let path = path_part(attribute, None, TAG_GEO);
        let mut ids = IdSet::default();
        let mut read = 0usize;
        // A scan that evaluates geometries costs more per entity than one that compares
        // values, so the index may read more before giving way to it.
        let budget = budget.saturating_mul(GEO_BUDGET_FACTOR);
        // A row whose cell does not meet the box cannot hold a match. (Its distance to the
        // disc costs more to work out per row than reading the entity for the few rows it
        // would rule out; the cover already leaves out the cells outside the disc.)
        let meets = move |cell: &[u8]| {
            std::str::from_utf8(cell)
                .ok()
                .and_then(cells::cell_box)
                .is_none_or(|b| rigel_query::index::boxes_meet(b, bounds))
        };
        let every = |_: &[u8]| true;
        let areas: Vec<f64> = cover.iter().map(|c| cells::area_in(c, bounds)).collect();
        let total: f64 = areas.iter().sum();
        let mut done = 0.0;
        // Cells inside (or equal to) a covering cell: its hash extends theirs.
        for (cell, &area) in cover.iter().zip(&areas) {
            let lo = Bound::Included(cell.as_bytes().to_vec());
            let hi = Bound::Excluded(layout::prefix_end_bytes(cell.as_bytes()));
            // Every row under a cell inside the box meets it.
            let keep: &dyn Fn(&[u8]) -> bool = if cells::inside(cell, bounds) {
                &every
            } else {
                &meets
            };
            if !self.read_kept(&path, lo, hi, budget, &mut read, &mut ids, keep)? {
                // The cell being read counts for half its area.
                let seen = done + area / 2.0;
                let budgets = (seen > 0.0).then(|| total / seen);
                return Ok(Some(Found::TooMany { budgets }));
            }
            done += area;
        }
        // Cells holding a covering cell: the proper prefixes of its hash.
        let mut holders: BTreeSet<&str> = BTreeSet::new();
        for cell in &cover {
            holders.extend((0..cell.len()).filter_map(|n| cell.get(..n)));
        }
        for holder in holders {
            let exact = Bound::Included(holder.as_bytes().to_vec());
            if !self.read_range(&path, &exact, &exact, budget, &mut read, &mut ids)? {
                return Ok(Some(Found::TOO_MANY));
            }
        }
        Ok(Some(Found::Ids(ids)))
    }

    /// The candidates of a lone box lookup in id order from the tile rows, when that should
    /// read fewer rows than the box's cell rows, for a page that needs `wanted` matches.
    /// Without a `probe` (its unscaled budget, and how many times that the whole read
    /// would take) only when the box covers at least [`DIRECT_SHARE`] of its tiles: then
    /// even reading every tile row costs a few times the box's rows at worst.
    pub(crate) fn tile_ids(
        &self,
        lookup: &Lookup,
        after: Option<&[u8]>,
        wanted: usize,
        probe: Option<(usize, f64)>,
    ) -> Result<Option<TileIds>, StorageError> {
        let Lookup::Area {
            attribute,
            bounds,
            disc,
        } = lookup
        else {
            return Ok(None);
        };
        let (bounds, disc) = (*bounds, *disc);
        let near = move |b: [f64; 4]| may_hold(b, bounds, disc);
        let Some((tiles, share)) = cells::tiles(bounds, &near) else {
            return Ok(None);
        };
        let worth_it = match probe {
            None => share >= DIRECT_SHARE,
            Some((budget, budgets)) => {
                let box_rows = budgets * budget.saturating_mul(GEO_BUDGET_FACTOR) as f64;
                let slots = tiles.len() * self.types.len();
                super::tiles::worth_it(slots, share, disc.is_some(), box_rows, wanted)
            }
        };
        if !worth_it {
            return Ok(None);
        }
        TileIds::new(
            self.rows,
            self.tenant_prefix,
            self.types,
            attribute,
            &tiles,
            bounds,
            disc,
            after,
        )
        .map(Some)
    }

    /// Reads the ids of the entries whose (encoded) value lies between `lo` and `hi`, for
    /// every type; false once more than `budget` entries were read in all.
    fn read_range(
        &self,
        path: &[u8],
        lo: &Bound<Vec<u8>>,
        hi: &Bound<Vec<u8>>,
        budget: usize,
        read: &mut usize,
        ids: &mut IdSet,
    ) -> Result<bool, StorageError> {
        // A value's keys are `escaped value ‖ 0x00 ‖ id`; the keys of greater values start
        // at `escaped value ‖ 0x01`.
        let encoded = |v: &Vec<u8>| {
            let mut c = Vec::with_capacity(v.len() + 2);
            layout::push_bytes_component(&mut c, v);
            c
        };
        let lo = match lo {
            Bound::Included(v) => Bound::Included(encoded(v)),
            Bound::Excluded(v) => Bound::Included(layout::prefix_end(&encoded(v))),
            Bound::Unbounded => Bound::Unbounded,
        };
        let hi = match hi {
            Bound::Included(v) => Bound::Excluded(layout::prefix_end(&encoded(v))),
            Bound::Excluded(v) => Bound::Excluded(encoded(v)),
            Bound::Unbounded => Bound::Unbounded,
        };
        self.read_raw(path, lo, hi, budget, read, ids)
    }

    /// Reads the ids of the entries whose value bytes (escaped, as in the key) lie between
    /// `lo` and `hi`, for every type.
    fn read_raw(
        &self,
        path: &[u8],
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        budget: usize,
        read: &mut usize,
        ids: &mut IdSet,
    ) -> Result<bool, StorageError> {
        self.read_kept(path, lo, hi, budget, read, ids, &|_| true)
    }

    /// [`IndexReader::read_raw`] keeping only the rows whose value bytes `keep` accepts
    /// (every row read counts against the budget).
    #[allow(clippy::too_many_arguments)]
    fn read_kept(
        &self,
        path: &[u8],
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        budget: usize,
        read: &mut usize,
        ids: &mut IdSet,
        keep: &dyn Fn(&[u8]) -> bool,
    ) -> Result<bool, StorageError> {
        for type_iri in self.types {
            let mut prefix = type_part(self.tenant_prefix, type_iri);
            prefix.extend_from_slice(path);
            let start = match &lo {
                Bound::Unbounded => Bound::Included([prefix.as_slice()].concat()),
                Bound::Included(v) => Bound::Included([prefix.as_slice(), v].concat()),
                Bound::Excluded(v) => Bound::Excluded([prefix.as_slice(), v].concat()),
            };
            let end = match &hi {
                Bound::Unbounded => Bound::Excluded(layout::prefix_end_bytes(&prefix)),
                Bound::Included(v) => Bound::Included([prefix.as_slice(), v].concat()),
                Bound::Excluded(v) => Bound::Excluded([prefix.as_slice(), v].concat()),
            };
            let range = self.rows.range(
                start.as_ref().map(Vec::as_slice),
                end.as_ref().map(Vec::as_slice),
            )?;
            for key in range {
                let key = key?;
                *read += 1;
                if *read > budget {
                    return Ok(false);
                }
                let key = key.value();
                let rest = key.get(prefix.len()..).unwrap_or_default();
                let end = layout::component_len(rest)?;
                // The value bytes (without the terminator), then the raw id.
                let (value, id) = rest.split_at(end);
                if keep(value.get(..end - 1).unwrap_or_default()) {
                    ids.push(id);
                }
            }
        }
        Ok(true)
    }
}

/// The parts of a conjunction, the likely most selective first: equalities (one value or
/// a few) before ranges, geometry last.
fn ordered(items: &[Lookup]) -> Vec<&Lookup> {
    let mut sorted: Vec<&Lookup> = items.iter().collect();
    sorted.sort_by_key(|l| match l {
        Lookup::Values { ranges, .. } if ranges.iter().all(is_point) => 0,
        Lookup::Values { .. } => 2,
        Lookup::Area { .. } => 1,
        Lookup::Or(_) => 3,
        Lookup::And(_) | Lookup::Unrestricted => 4,
    });
    sorted
}

fn is_point(range: &ValueRange) -> bool {
    match range {
        ValueRange::Bool(_) => true,
        ValueRange::Number(Bound::Included(a), Bound::Included(b)) => a == b,
        ValueRange::Text(Bound::Included(a), Bound::Included(b)) => a == b,
        ValueRange::DateTime(Bound::Included(a), Bound::Included(b)) => a == b,
        _ => false,
    }
}

/// The tag and the bounds of a range as value bytes.
fn encoded_range(range: &ValueRange) -> (u8, Bound<Vec<u8>>, Bound<Vec<u8>>) {
    fn map<T>(b: &Bound<T>, f: impl Fn(&T) -> Vec<u8>) -> Bound<Vec<u8>> {
        match b {
            Bound::Included(x) => Bound::Included(f(x)),
            Bound::Excluded(x) => Bound::Excluded(f(x)),
            Bound::Unbounded => Bound::Unbounded,
        }
    }
    match range {
        ValueRange::Number(lo, hi) => (
            TAG_NUMBER,
            map(lo, |x| number_bytes(*x).to_vec()),
            map(hi, |x| number_bytes(*x).to_vec()),
        ),
        ValueRange::Text(lo, hi) => (TAG_TEXT, text_bound(lo), text_bound(hi)),
        ValueRange::DateTime(lo, hi) => (
            TAG_DATE_TIME,
            map(lo, |t| instant_bytes(*t).to_vec()),
            map(hi, |t| instant_bytes(*t).to_vec()),
        ),
        ValueRange::Bool(b) => {
            let v = vec![u8::from(*b)];
            (TAG_BOOL, Bound::Included(v.clone()), Bound::Included(v))
        }
    }
}

/// A string bound over indexed (truncated) strings: a truncated bound is included, since
/// strings beyond it may share its indexed prefix.
fn text_bound(bound: &Bound<String>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(s) => Bound::Included(text_bytes(s).to_vec()),
        Bound::Excluded(s) if s.len() >= MAX_TEXT => Bound::Included(text_bytes(s).to_vec()),
        Bound::Excluded(s) => Bound::Excluded(s.as_bytes().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
