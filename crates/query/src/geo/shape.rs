//! GeoJSON geometries (RFC 7946, all types but GeometryCollection, clause 4.10) to `geo`
//! geometries: strictly validated for query geometries, leniently read for stored values.

use ::geo::{
    Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon,
};
use serde_json::Value;

/// The geometry types a query may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
}

impl Kind {
    pub(crate) fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "Point" => Kind::Point,
            "LineString" => Kind::LineString,
            "Polygon" => Kind::Polygon,
            "MultiPoint" => Kind::MultiPoint,
            "MultiLineString" => Kind::MultiLineString,
            "MultiPolygon" => Kind::MultiPolygon,
            _ => return None,
        })
    }

    /// The kind whose coordinates nest this deep (1: a position), for `orderFrom` without
    /// `orderGeometry`: the single geometries, not the Multi ones.
    pub(crate) fn from_depth(coordinates: &Value) -> Option<Kind> {
        let mut depth = 0;
        let mut v = coordinates;
        while let Value::Array(items) = v {
            depth += 1;
            v = items.first()?;
        }
        match depth {
            1 => Some(Kind::Point),
            2 => Some(Kind::LineString),
            3 => Some(Kind::Polygon),
            4 => Some(Kind::MultiPolygon),
            _ => None,
        }
    }
}

/// Builds a geometry from its coordinates, checking them as RFC 7946 requires; the error
/// says what is wrong. At most `max_positions` positions are read.
pub(crate) fn build(
    kind: Kind,
    coordinates: &Value,
    max_positions: usize,
) -> Result<Geometry<f64>, String> {
    let mut budget = Budget(max_positions);
    Ok(match kind {
        Kind::Point => Geometry::Point(Point::from(position(coordinates)?)),
        Kind::LineString => Geometry::LineString(line(coordinates, &mut budget)?),
        Kind::Polygon => Geometry::Polygon(polygon(coordinates, &mut budget)?),
        Kind::MultiPoint => Geometry::MultiPoint(MultiPoint::new(
            array(coordinates, "MultiPoint")?
                .iter()
                .map(|p| {
                    budget.spend(1)?;
                    position(p).map(Point::from)
                })
                .collect::<Result<_, _>>()?,
        )),
        Kind::MultiLineString => Geometry::MultiLineString(MultiLineString::new(
            array(coordinates, "MultiLineString")?
                .iter()
                .map(|l| line(l, &mut budget))
                .collect::<Result<_, _>>()?,
        )),
        Kind::MultiPolygon => Geometry::MultiPolygon(MultiPolygon::new(
            array(coordinates, "MultiPolygon")?
                .iter()
                .map(|p| polygon(p, &mut budget))
                .collect::<Result<_, _>>()?,
        )),
    })
}

/// Reads a stored GeoJSON geometry (validated when written); `None` if unusable.
pub(crate) fn from_geojson(value: &Value) -> Option<Geometry<f64>> {
    let kind = Kind::from_name(value.get("type")?.as_str()?)?;
    build(kind, value.get("coordinates")?, usize::MAX).ok()
}

struct Budget(usize);

impl Budget {
    fn spend(&mut self, n: usize) -> Result<(), String> {
        self.0 = self
            .0
            .checked_sub(n)
            .ok_or("the geometry has too many positions")?;
        Ok(())
    }
}

fn array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    match v {
        Value::Array(items) if !items.is_empty() => Ok(items),
        _ => Err(format!("{what} coordinates must be a non-empty array")),
    }
}

/// A position: `[longitude, latitude]` with an optional altitude (ignored).
fn position(v: &Value) -> Result<Coord<f64>, String> {
    let invalid = || format!("{v} is not a position [longitude, latitude]");
    let items = v.as_array().ok_or_else(invalid)?;
    if !(2..=3).contains(&items.len()) {
        return Err(invalid());
    }
    let number = |i: usize| items.get(i).and_then(Value::as_f64).ok_or_else(invalid);
    let (x, y) = (number(0)?, number(1)?);
    if items.len() == 3 {
        number(2)?;
    }
    if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
        return Err(format!(
            "{v}: longitude must be within [-180, 180] and latitude within [-90, 90]"
        ));
    }
    Ok(Coord { x, y })
}

fn line(v: &Value, budget: &mut Budget) -> Result<LineString<f64>, String> {
    let items = array(v, "LineString")?;
    budget.spend(items.len())?;
    if items.len() < 2 {
        return Err("a LineString needs at least two positions".into());
    }
    Ok(LineString::new(
        items.iter().map(position).collect::<Result<_, _>>()?,
    ))
}

fn ring(v: &Value, budget: &mut Budget) -> Result<LineString<f64>, String> {
    let items = array(v, "a Polygon ring's")?;
    budget.spend(items.len())?;
    let coords: Vec<Coord<f64>> = items.iter().map(position).collect::<Result<_, _>>()?;
    if coords.len() < 4 {
        return Err("a Polygon ring needs at least four positions".into());
    }
    if coords.first() != coords.last() {
        return Err("a Polygon ring must end where it starts".into());
    }
    Ok(LineString::new(coords))
}

fn polygon(v: &Value, budget: &mut Budget) -> Result<Polygon<f64>, String> {
    let rings = array(v, "Polygon")?;
    let mut rings = rings.iter().map(|r| ring(r, budget));
    let exterior = rings.next().ok_or("a Polygon needs an exterior ring")??;
    Ok(Polygon::new(exterior, rings.collect::<Result<_, _>>()?))
}
