//! Geohash cells (the `geohash` crate) for the geospatial part of the value index: an
//! entity's geometry is filed under the smallest cell that holds its bounding box (a point
//! under its full-precision cell), and a query box is covered by a few cells of one
//! precision, the cells along its edge split once more so that less area outside the box is
//! read. A geometry intersecting the query box is then filed under a covering cell,
//! a cell inside one (its hash extends the covering hash) or a cell holding one (its hash
//! is a prefix of the covering hash), which is what the planner reads.

use geohash::{encode, Coord};

/// The finest precision used: 9 characters, cells of about 5 m.
pub(crate) const MAX_PRECISION: usize = 9;

/// The most cells a query box is covered by.
const MAX_COVER: usize = 32;

/// The precision of tiles: 6 characters, cells of about 1.2 km by 0.6 km at the equator
/// (0.8 km by 0.6 km at 49°). Tile rows list a tile's geometries in id order.
pub(crate) const TILE_PRECISION: usize = 6;

/// The most tiles a query reads in id order at once.
pub(crate) const MAX_TILES: usize = 48;

/// The geohash of the smallest cell holding the box `[min_lon, min_lat, max_lon, max_lat]`
/// (empty: the whole world).
pub(crate) fn cell_of([min_x, min_y, max_x, max_y]: [f64; 4]) -> String {
    let low = hash(min_x, min_y, MAX_PRECISION);
    let high = hash(max_x, max_y, MAX_PRECISION);
    let common = low
        .bytes()
        .zip(high.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    low[..common].to_owned()
}

fn hash(lon: f64, lat: f64, precision: usize) -> String {
    let lon = lon.clamp(-180.0, 180.0);
    let lat = lat.clamp(-90.0, 90.0);
    encode(Coord { x: lon, y: lat }, precision).unwrap_or_default()
}

/// The `[min_lon, min_lat, max_lon, max_lat]` box of a cell (`None` for the empty hash,
/// the whole world, or an invalid one).
pub(crate) fn cell_box(cell: &str) -> Option<[f64; 4]> {
    if cell.is_empty() {
        return None;
    }
    let rect = geohash::decode_bbox(cell).ok()?;
    Some([rect.min().x, rect.min().y, rect.max().x, rect.max().y])
}

/// Whether the cell lies wholly inside the box.
pub(crate) fn inside(cell: &str, bounds: [f64; 4]) -> bool {
    cell_box(cell).is_some_and(|b| {
        b[0] >= bounds[0] && b[1] >= bounds[1] && b[2] <= bounds[2] && b[3] <= bounds[3]
    })
}

/// The area (in square degrees) of the part of the box the cell covers.
pub(crate) fn area_in(cell: &str, bounds: [f64; 4]) -> f64 {
    let b = cell_box(cell).unwrap_or([-180.0, -90.0, 180.0, 90.0]);
    let w = b[2].min(bounds[2]) - b[0].max(bounds[0]);
    let h = b[3].min(bounds[3]) - b[1].max(bounds[1]);
    w.max(0.0) * h.max(0.0)
}

/// The width and height in degrees of a cell of this precision.
fn cell_size(precision: usize) -> (f64, f64) {
    let bits = 5 * precision as i32;
    let lon_bits = (bits + 1) / 2;
    let lat_bits = bits / 2;
    (360.0 / 2f64.powi(lon_bits), 180.0 / 2f64.powi(lat_bits))
}

/// At most [`MAX_COVER`] cells of one precision that together cover the box, as fine as
/// that allows, without the cells whose box `near` rules out; empty when even
/// one-character cells would be too many (a box spanning much of the world): then nothing
/// narrows the search.
pub(crate) fn cover(bounds: [f64; 4], near: &dyn Fn([f64; 4]) -> bool) -> Vec<String> {
    let bounds = clamped(bounds);
    for precision in (1..=MAX_PRECISION).rev() {
        let Some(mut cells) = grid(bounds, precision, MAX_COVER) else {
            continue;
        };
        cells.retain(|c| cell_box(c).is_none_or(near));
        return refine(cells, bounds, near);
    }
    Vec::new()
}

/// The box within the world's longitudes and latitudes.
fn clamped([min_x, min_y, max_x, max_y]: [f64; 4]) -> [f64; 4] {
    [
        min_x.clamp(-180.0, 180.0),
        min_y.clamp(-90.0, 90.0),
        max_x.clamp(-180.0, 180.0),
        max_y.clamp(-90.0, 90.0),
    ]
}

/// The tile a geometry filed under `cell` belongs to (the cell itself when it is larger
/// than a tile), and the rest of the cell's hash.
pub(crate) fn tile_of(cell: &str) -> (&str, &str) {
    cell.split_at(cell.len().min(TILE_PRECISION))
}

/// The tiles meeting the box that `near` keeps, with the share of their area the box
/// covers; `None` when there would be more than [`MAX_TILES`].
pub(crate) fn tiles(
    bounds: [f64; 4],
    near: &dyn Fn([f64; 4]) -> bool,
) -> Option<(Vec<String>, f64)> {
    let bounds = clamped(bounds);
    let [min_x, min_y, max_x, max_y] = bounds;
    let mut tiles = grid(bounds, TILE_PRECISION, MAX_TILES)?;
    tiles.retain(|t| cell_box(t).is_some_and(near));
    let (w, h) = cell_size(TILE_PRECISION);
    let area = tiles.len() as f64 * w * h;
    let covered = (max_x - min_x).max(0.0) * (max_y - min_y).max(0.0);
    let share = if area > 0.0 { covered / area } else { 0.0 };
    Some((tiles, share.min(1.0)))
}

/// The cells of one precision that a (clamped) box meets, sorted; `None` when there would
/// be more than `max`.
fn grid(
    [min_x, min_y, max_x, max_y]: [f64; 4],
    precision: usize,
    max: usize,
) -> Option<Vec<String>> {
    let (w, h) = cell_size(precision);
    let (x0, x1) = (((min_x + 180.0) / w).floor(), ((max_x + 180.0) / w).floor());
    let (y0, y1) = (((min_y + 90.0) / h).floor(), ((max_y + 90.0) / h).floor());
    if (x1 - x0 + 1.0) * (y1 - y0 + 1.0) > max as f64 {
        return None;
    }
    let mut cells = Vec::new();
    let mut ix = x0;
    while ix <= x1 {
        let mut iy = y0;
        while iy <= y1 {
            let lon = ((ix + 0.5) * w - 180.0).min(180.0);
            let lat = ((iy + 0.5) * h - 90.0).min(90.0);
            cells.push(hash(lon, lat, precision));
            iy += 1.0;
        }
        ix += 1.0;
    }
    cells.sort();
    cells.dedup();
    Some(cells)
}

/// The base-32 alphabet of geohashes, in order.
const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The cover with every cell that is not wholly inside the box replaced by those of its 32
/// children that `near` keeps (the cells inside stay whole).
fn refine(cells: Vec<String>, bounds: [f64; 4], near: &dyn Fn([f64; 4]) -> bool) -> Vec<String> {
    let mut out = Vec::with_capacity(cells.len() * 4);
    for cell in cells {
        if inside(&cell, bounds) || cell.len() >= MAX_PRECISION {
            out.push(cell);
            continue;
        }
        for &c in BASE32 {
            let child = format!("{cell}{}", char::from(c));
            if cell_box(&child).is_some_and(near) {
                out.push(child);
            }
        }
    }
    out
}
