//! The NGSI-LD Geoquery Language (clause 4.10): `georel`, `geometry`, `coordinates` and
//! `geoproperty`, evaluated against an entity's GeoProperty instances.
//!
//! Topological relations follow the DE-9IM (Simple Features) on longitude/latitude as
//! planar coordinates; `near` measures metres on the WGS84 sphere (Haversine).
//! `near;maxDistance==d`: the target lies within the buffer of size d around the reference
//! geometry (every vertex within d); `near;minDistance==d`: it is disjoint from that buffer
//! (its nearest point farther than d).

mod distance;
pub(crate) mod shape;

#[cfg(test)]
mod tests;

use ::geo::{BoundingRect, Contains, Geometry, Intersects, Relate};
use rigel_model::{AttributeValue, Entity};
use serde_json::Value;

use crate::limits::{check_length, MAX_POSITIONS};
use crate::scan::Scanner;
use crate::{Language, QueryError};

pub(crate) use distance::distance as geometry_distance;

/// Metres between two `[lon, lat]` points (Haversine, as `near` measures).
pub(crate) fn haversine(a: [f64; 2], b: [f64; 2]) -> f64 {
    use ::geo::{Distance, Haversine, Point};
    Haversine.distance(Point::new(a[0], a[1]), Point::new(b[0], b[1]))
}
pub(crate) use shape::{build, from_geojson, Kind};

/// The default GeoProperty of a geoquery (clause 4.10).
const LOCATION: &str = "https://uri.etsi.org/ngsi-ld/location";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Relation {
    /// `near;maxDistance==d`, metres.
    NearMax(f64),
    /// `near;minDistance==d`, metres.
    NearMin(f64),
    Within,
    Contains,
    Intersects,
    Equals,
    Disjoint,
    Overlaps,
}

/// A parsed geoquery: the relation, the reference geometry and the target GeoProperty.
#[derive(Debug, Clone)]
pub struct GeoQuery {
    relation: Relation,
    reference: Geometry<f64>,
    /// The geometry type and coordinates as the client wrote them, to pass the query on.
    written: (String, Value),
    geoproperty: String,
    /// What any matching geometry's bounding box must intersect (None: unbounded).
    bounds: Option<[f64; 4]>,
}

impl GeoQuery {
    /// Parses a geoquery from its parameters: `georel` (e.g. `near;maxDistance==2000`),
    /// `geometry` (e.g. `Point`), `coordinates` as JSON text (e.g. `[8,40]`) and the
    /// expanded IRI of the target GeoProperty.
    pub fn parse(
        georel: &str,
        geometry: &str,
        coordinates: &str,
        geoproperty: &str,
    ) -> Result<GeoQuery, QueryError> {
        check_length(coordinates, Language::Geo)?;
        let coordinates: Value = serde_json::from_str(coordinates).map_err(|e| {
            QueryError::invalid(
                Language::Geo,
                format!("coordinates are not a JSON array of positions: {e}"),
            )
        })?;
        Self::from_parts(georel, geometry, &coordinates, geoproperty)
    }

    /// Like [`GeoQuery::parse`] with the coordinates as JSON (the `geoQ` member of a POST
    /// query); a JSON string is read as coordinates text.
    pub fn from_parts(
        georel: &str,
        geometry: &str,
        coordinates: &Value,
        geoproperty: &str,
    ) -> Result<GeoQuery, QueryError> {
        if let Value::String(text) = coordinates {
            return Self::parse(georel, geometry, text, geoproperty);
        }
        let relation = parse_georel(georel)?;
        let reference = reference_geometry(geometry, coordinates)?;
        if geoproperty.is_empty() {
            return Err(QueryError::invalid(Language::Geo, "geoproperty is empty"));
        }
        let rect = reference.bounding_rect().map(|r| {
            let (min, max) = (r.min(), r.max());
            [min.x, min.y, max.x, max.y]
        });
        let bounds = match relation {
            Relation::Disjoint | Relation::NearMin(_) => None,
            Relation::NearMax(d) => rect.map(|r| distance::grow(r, d)),
            _ => rect,
        };
        Ok(GeoQuery {
            relation,
            reference,
            written: (geometry.to_owned(), coordinates.clone()),
            geoproperty: geoproperty.to_owned(),
            bounds,
        })
    }

    /// Whether any instance of the entity's GeoProperty satisfies the relation; an entity
    /// without it never matches (clause 4.10).
    pub fn matches(&self, entity: &Entity) -> bool {
        entity
            .instances(&self.geoproperty)
            .iter()
            .any(|instance| match &instance.value {
                AttributeValue::GeoProperty(v) => from_geojson(v).is_some_and(|g| self.holds(&g)),
                _ => false,
            })
    }

    /// Whether the area a GeoJSON geometry covers (a Context Source's location, clause
    /// 5.10.2.4) matches the relation or may contain geometries that do: its distance to
    /// the reference for `near;maxDistance`, an intersection with it for the other
    /// relations; always for `disjoint` and `near;minDistance`, which any area larger than
    /// the reference may satisfy. Not a GeoJSON geometry: no.
    pub fn may_contain_match(&self, geojson: &Value) -> bool {
        let Some(area) = from_geojson(geojson) else {
            return false;
        };
        match self.relation {
            Relation::NearMax(d) => distance::distance(&area, &self.reference) <= d,
            Relation::NearMin(_) | Relation::Disjoint => true,
            _ => area.intersects(&self.reference),
        }
    }

    /// The query's parameters again (`georel`, `geometry`, `coordinates` as compact JSON,
    /// and `geoproperty` compacted with `terms` unless it is the default `location`).
    pub fn render(&self, terms: &dyn rigel_model::TermMap) -> Vec<(&'static str, String)> {
        let metres = |d: f64| crate::render::number(d);
        let georel = match self.relation {
            Relation::NearMax(d) => format!("near;maxDistance=={}", metres(d)),
            Relation::NearMin(d) => format!("near;minDistance=={}", metres(d)),
            Relation::Within => "within".to_owned(),
            Relation::Contains => "contains".to_owned(),
            Relation::Intersects => "intersects".to_owned(),
            Relation::Equals => "equals".to_owned(),
            Relation::Disjoint => "disjoint".to_owned(),
            Relation::Overlaps => "overlaps".to_owned(),
        };
        let mut params = vec![
            ("georel", georel),
            ("geometry", self.written.0.clone()),
            ("coordinates", self.written.1.to_string()),
        ];
        if self.geoproperty != LOCATION {
            params.push(("geoproperty", terms.compact(&self.geoproperty).into_owned()));
        }
        params
    }

    /// The expanded IRI of the target GeoProperty.
    pub fn geoproperty(&self) -> &str {
        &self.geoproperty
    }

    /// A longitude/latitude box `[min_lon, min_lat, max_lon, max_lat]` every matching
    /// geometry intersects, for a spatial index; `None` when unbounded (disjoint,
    /// minDistance).
    pub fn search_bounds(&self) -> Option<[f64; 4]> {
        self.bounds
    }

    /// For `near;maxDistance` around a point, the disc every match lies in.
    pub(crate) fn disc(&self) -> Option<crate::index::Disc> {
        match (self.relation, &self.reference) {
            (Relation::NearMax(radius), Geometry::Point(p)) => Some(crate::index::Disc {
                center: [p.x(), p.y()],
                radius,
            }),
            _ => None,
        }
    }

    fn holds(&self, target: &Geometry<f64>) -> bool {
        if let Some(bounds) = self.bounds {
            if !touches_box(target, bounds) {
                return false;
            }
        }
        let reference = &self.reference;
        match self.relation {
            Relation::NearMax(d) => distance::farthest_vertex_distance(target, reference) <= d,
            Relation::NearMin(d) => distance::distance(target, reference) > d,
            Relation::Within => reference.contains(target),
            Relation::Contains => target.contains(reference),
            Relation::Intersects => target.intersects(reference),
            Relation::Disjoint => !target.intersects(reference),
            // Identical coordinates are equal even when the DE-9IM cannot say so, as for a
            // self-intersecting polygon.
            Relation::Equals => target == reference || target.relate(reference).is_equal_topo(),
            Relation::Overlaps => target.relate(reference).is_overlaps(),
        }
    }
}

/// Whether the bounding box of `g` intersects `bounds`.
fn touches_box(g: &Geometry<f64>, [min_x, min_y, max_x, max_y]: [f64; 4]) -> bool {
    let inside = |x: f64, y: f64| x >= min_x && x <= max_x && y >= min_y && y <= max_y;
    match g {
        Geometry::Point(p) => inside(p.x(), p.y()),
        _ => g.bounding_rect().is_some_and(|r| {
            r.min().x <= max_x && r.max().x >= min_x && r.min().y <= max_y && r.max().y >= min_y
        }),
    }
}

/// `georel` per the clause 4.10 grammar.
fn parse_georel(georel: &str) -> Result<Relation, QueryError> {
    let mut sc = Scanner::new(georel, Language::Geo);
    let word = sc.take_while(|c| c.is_ascii_alphabetic());
    let relation = match word {
        "near" => {
            if !sc.eat(';') {
                return Err(
                    sc.error("near needs ';maxDistance==<metres>' or ';minDistance==<metres>'")
                );
            }
            let at = sc.pos();
            let modifier = sc.take_while(|c| c.is_ascii_alphabetic());
            let max = match modifier {
                "maxDistance" => true,
                "minDistance" => false,
                _ => return Err(sc.error_at(at, "expected maxDistance or minDistance")),
            };
            if !sc.eat_str("==") {
                return Err(sc.error("expected '=='"));
            }
            let at = sc.pos();
            let number =
                sc.take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
            let metres = number
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite() && *d > 0.0 && !number.starts_with(['-', '+']))
                .ok_or_else(|| sc.error_at(at, "expected a positive number of metres"))?;
            if max {
                Relation::NearMax(metres)
            } else {
                Relation::NearMin(metres)
            }
        }
        "within" => Relation::Within,
        "contains" => Relation::Contains,
        "intersects" => Relation::Intersects,
        "equals" => Relation::Equals,
        "disjoint" => Relation::Disjoint,
        "overlaps" => Relation::Overlaps,
        _ => {
            return Err(sc.error_at(
                0,
                "expected near, within, contains, intersects, equals, disjoint or overlaps",
            ))
        }
    };
    if !sc.at_end() {
        return Err(sc.error("unexpected text after the georel"));
    }
    Ok(relation)
}

/// The reference geometry from `geometry` and `coordinates`.
pub(crate) fn reference_geometry(
    geometry: &str,
    coordinates: &Value,
) -> Result<Geometry<f64>, QueryError> {
    let kind = Kind::from_name(geometry).ok_or_else(|| {
        QueryError::invalid(
            Language::Geo,
            format!(
                "geometry {geometry:?} is not one of Point, LineString, Polygon, MultiPoint, \
                 MultiLineString, MultiPolygon"
            ),
        )
    })?;
    build(kind, coordinates, MAX_POSITIONS).map_err(|message| {
        if message.contains("too many positions") {
            QueryError::too_complex(
                Language::Geo,
                format!("the {geometry} has more than {MAX_POSITIONS} positions"),
            )
        } else {
            QueryError::invalid(
                Language::Geo,
                format!("invalid {geometry} coordinates: {message}"),
            )
        }
    })
}
