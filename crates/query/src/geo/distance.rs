//! Distances in metres on the WGS84 sphere (Haversine, as clause 4.23.1 asks for ordering
//! and as `near` needs), between a point and a geometry and between two geometries.

use ::geo::{
    Closest, CoordsIter, Distance, Geometry, Haversine, HaversineClosestPoint, Intersects, Point,
};

/// The mean Earth radius `geo`'s Haversine uses, in metres.
pub(crate) const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Metres from `p` to the nearest point of `g` (0 inside or on it).
pub(crate) fn point_distance(p: Point<f64>, g: &Geometry<f64>) -> f64 {
    if let Geometry::Point(q) = g {
        return Haversine.distance(p, *q);
    }
    match g.haversine_closest_point(&p) {
        Closest::Intersection(_) => 0.0,
        Closest::SinglePoint(q) => Haversine.distance(p, q),
        Closest::Indeterminate => g
            .coords_iter()
            .map(|c| Haversine.distance(p, Point::from(c)))
            .fold(f64::INFINITY, f64::min),
    }
}

/// Metres between the nearest points of `a` and `b` (0 when they intersect). Between two
/// non-intersecting shapes the nearest pair has a vertex on one side, so vertices suffice.
pub(crate) fn distance(a: &Geometry<f64>, b: &Geometry<f64>) -> f64 {
    if let Geometry::Point(p) = a {
        return point_distance(*p, b);
    }
    if let Geometry::Point(p) = b {
        return point_distance(*p, a);
    }
    if a.intersects(b) {
        return 0.0;
    }
    let from_a = a
        .coords_iter()
        .map(|c| point_distance(Point::from(c), b))
        .fold(f64::INFINITY, f64::min);
    let from_b = b
        .coords_iter()
        .map(|c| point_distance(Point::from(c), a))
        .fold(f64::INFINITY, f64::min);
    from_a.min(from_b)
}

/// Metres from the vertex of `a` farthest from `b` to `b`: `a` lies within the buffer of `b`
/// of that size (exactly so when the buffer is convex, e.g. around a point).
pub(crate) fn farthest_vertex_distance(a: &Geometry<f64>, b: &Geometry<f64>) -> f64 {
    if let Geometry::Point(p) = a {
        return point_distance(*p, b);
    }
    a.coords_iter()
        .map(|c| point_distance(Point::from(c), b))
        .fold(0.0, f64::max)
}

/// The bounding box `[min_lon, min_lat, max_lon, max_lat]` grown by `metres` on all sides,
/// conservatively (a superset); near the poles or across the antimeridian it spans every
/// longitude.
pub(crate) fn grow(bounds: [f64; 4], metres: f64) -> [f64; 4] {
    let [min_lon, min_lat, max_lon, max_lat] = bounds;
    let radians = metres / EARTH_RADIUS_M;
    // 1% margin for rounding and the small-angle approximation below.
    let dlat = radians.to_degrees() * 1.01 + 1e-9;
    let low = (min_lat - dlat).max(-90.0);
    let high = (max_lat + dlat).min(90.0);
    let widest = low.abs().max(high.abs());
    let full = [-180.0, low, 180.0, high];
    if radians > 0.1 || widest >= 89.0 {
        return full;
    }
    let dlon = dlat / widest.to_radians().cos();
    let (west, east) = (min_lon - dlon, max_lon + dlon);
    if west < -180.0 || east > 180.0 {
        return full;
    }
    [west, low, east, high]
}
