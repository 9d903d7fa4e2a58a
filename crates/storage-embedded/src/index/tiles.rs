//! Geospatial candidates in id order from the tile rows (see the module above): the rows of
//! the tiles a query box meets, and of the larger cells holding them, merged by id; a row is
//! kept when its cell meets the box and the disc. A page of a dense area is then found
//! after a few dozen rows, where reading the box's cell rows takes all of them and a sort.
//!
//! It is chosen over the cell rows when it should read fewer rows ([`worth_it`]): when
//! the box covers a fair share of its tiles and holds more matches than the page needs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;

use rigel_query::index::Disc;
use rigel_storage::StorageError;

use super::overlay::{IndexRows, Rows};
use super::plan::may_hold;
use super::{cells, path_part, type_part, TAG_TILE};
use crate::layout;

/// A seek costs about as much as reading this many rows.
const SEEK_ROWS: f64 = 8.0;

/// The ids of the tile rows that may hold a match, ascending, each once.
pub(crate) struct TileIds {
    /// Per range: its key prefix (up to the id) and the tile (or holding cell) it lists.
    ranges: Vec<(Vec<u8>, Vec<u8>, Rows)>,
    heads: BinaryHeap<Reverse<(Vec<u8>, usize)>>,
    last: Option<Vec<u8>>,
    bounds: [f64; 4],
    disc: Option<Disc>,
}

/// Whether reading `tiles` tiles (the box covering `share` of their area) in id order
/// should take fewer rows than reading the box's cell rows, about `box_rows` of them, for
/// a page that needs `wanted` matches.
pub(crate) fn worth_it(tiles: usize, share: f64, disc: bool, box_rows: f64, wanted: usize) -> bool {
    // A disc fills about π/4 of its box.
    let fill = if disc {
        std::f64::consts::FRAC_PI_4
    } else {
        1.0
    };
    let matches = box_rows * fill;
    let density = share * fill;
    if density <= 0.0 {
        return false;
    }
    // Slots: the tiles and the (at most 6) cells holding them.
    let seeks = (tiles + cells::TILE_PRECISION) as f64 * SEEK_ROWS;
    let tile_rows = if matches >= wanted as f64 {
        wanted as f64 / density
    } else {
        box_rows / share.max(f64::EPSILON)
    };
    tile_rows + seeks < box_rows
}

impl TileIds {
    /// The merge of the tile rows of `attribute` for `types` over `tiles`, after `after`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rows: &IndexRows<'_>,
        tenant_prefix: &[u8],
        types: &[String],
        attribute: &str,
        tiles: &[String],
        bounds: [f64; 4],
        disc: Option<Disc>,
        after: Option<&[u8]>,
    ) -> Result<Self, StorageError> {
        // The tiles, and the cells holding them: the proper prefixes of their hashes.
        let mut listed: Vec<&str> = tiles.iter().map(String::as_str).collect();
        for tile in tiles {
            listed.extend((0..tile.len()).filter_map(|n| tile.get(..n)));
        }
        listed.sort_unstable();
        listed.dedup();
        let path = path_part(attribute, None, TAG_TILE);
        let mut merged = Self {
            ranges: Vec::with_capacity(types.len() * listed.len()),
            heads: BinaryHeap::new(),
            last: None,
            bounds,
            disc,
        };
        for type_iri in types {
            let mut base = type_part(tenant_prefix, type_iri);
            base.extend_from_slice(&path);
            for tile in &listed {
                let mut prefix = base.clone();
                layout::push_component(&mut prefix, tile);
                let end = layout::prefix_end(&prefix);
                // Keys of ids above `after` start at `after ‖ 0x01`: the rows of `after`
                // itself continue with 0x00.
                let start = after.map(|id| [prefix.as_slice(), id, &[1]].concat());
                let lo = match &start {
                    Some(key) => Bound::Included(key.as_slice()),
                    None => Bound::Included(prefix.as_slice()),
                };
                let range = rows.range(lo, Bound::Excluded(end.as_slice()))?;
                merged
                    .ranges
                    .push((prefix, tile.as_bytes().to_vec(), range));
                merged.advance(merged.ranges.len() - 1)?;
            }
        }
        Ok(merged)
    }

    /// Pulls the next kept row of one range onto the heap.
    fn advance(&mut self, slot: usize) -> Result<(), StorageError> {
        let Some((prefix, tile, range)) = self.ranges.get_mut(slot) else {
            return Ok(());
        };
        for key in range.by_ref() {
            let key = key?;
            let rest = key.value().get(prefix.len()..).unwrap_or_default();
            let Some(end) = rest.iter().rposition(|&b| b == 0) else {
                return Err(StorageError::Corrupt("tile row without its cell".into()));
            };
            let (id, cell_rest) = (&rest[..end], &rest[end + 1..]);
            let cell = [tile.as_slice(), cell_rest].concat();
            let keep = std::str::from_utf8(&cell)
                .ok()
                .and_then(cells::cell_box)
                .is_none_or(|b| may_hold(b, self.bounds, self.disc));
            if keep {
                self.heads.push(Reverse((id.to_vec(), slot)));
                return Ok(());
            }
        }
        Ok(())
    }
}

impl Iterator for TileIds {
    type Item = Result<Vec<u8>, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Reverse((id, slot)) = self.heads.pop()?;
            if let Err(e) = self.advance(slot) {
                return Some(Err(e));
            }
            if self.last.as_ref() != Some(&id) {
                self.last = Some(id.clone());
                return Some(Ok(id));
            }
        }
    }
}
