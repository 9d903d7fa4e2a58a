//! Index key encoding: byte order is value order; geohash cells hold their geometries and
//! covers reach every cell a box meets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};

use super::{cells, instant_bytes, number_bytes};

#[test]
fn number_bytes_sort_as_the_numbers_do() {
    let numbers = [
        f64::NEG_INFINITY,
        -1e300,
        -2.5,
        -1.0,
        -1e-300,
        0.0,
        1e-300,
        1.0,
        2.5,
        1e300,
        f64::INFINITY,
    ];
    for pair in numbers.windows(2) {
        assert!(number_bytes(pair[0]) < number_bytes(pair[1]), "{pair:?}");
    }
    assert_eq!(number_bytes(-0.0), number_bytes(0.0));
}

#[test]
fn instant_bytes_sort_as_the_instants_do() {
    let instants = [
        "1900-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999999Z",
        "1970-01-01T00:00:00Z",
        "2024-03-01T10:00:00.5Z",
        "2024-03-01T10:00:00.500000001Z",
        "2262-04-12T00:00:00Z",
    ]
    .map(|s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
    for pair in instants.windows(2) {
        assert!(instant_bytes(pair[0]) < instant_bytes(pair[1]), "{pair:?}");
    }
}

#[test]
fn a_box_is_filed_under_a_cell_that_holds_it() {
    let point = cells::cell_of([2.35, 48.85, 2.35, 48.85]);
    assert_eq!(point.len(), cells::MAX_PRECISION);
    let small = cells::cell_of([2.35, 48.85, 2.36, 48.86]);
    assert!(point.starts_with(&small) && small.len() < point.len());
    assert_eq!(cells::cell_of([-170.0, -80.0, 170.0, 80.0]), "");
}

#[test]
fn a_cover_reaches_the_cell_of_every_point_in_the_box() {
    let query = [2.30, 48.80, 2.34, 48.83];
    let everywhere = |_: [f64; 4]| true;
    let cover = cells::cover(query, &everywhere);
    assert!(!cover.is_empty() && cover.len() <= 32 * 32, "{cover:?}");
    for i in 0..=10 {
        for j in 0..=10 {
            let lon = query[0] + (query[2] - query[0]) * f64::from(i) / 10.0;
            let lat = query[1] + (query[3] - query[1]) * f64::from(j) / 10.0;
            let cell = cells::cell_of([lon, lat, lon, lat]);
            assert!(
                cover.iter().any(|c| cell.starts_with(c.as_str())),
                "({lon}, {lat}) in {cell} is outside {cover:?}"
            );
        }
    }
    assert!(cells::cover([-180.0, -90.0, 180.0, 90.0], &everywhere).is_empty());
}
