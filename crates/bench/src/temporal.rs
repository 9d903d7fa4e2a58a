//! The temporal scenarios' data: the EntityTemporal bodies that seed 5 numeric attributes with
//! instances one second apart from a fixed start, the temporal API requests that read them
//! back (lastN, a time range, an hourly aggregation), and the check that seeding landed.
//!
//! Like `template`, bodies and paths are written straight into a `String`: every interpolated
//! value is a number, a DateTime or an id made of URI-safe characters.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::rng::Rng;
use crate::template::MILEAGE_MAX;

/// The numeric attributes of every temporal entity, each seeded with the same instants.
pub const ATTRIBUTES: [&str; 5] = ["speed", "fuelLevel", "temperature", "mileage", "rpm"];

/// `observedAt` of instance 0: 2026-01-01T00:00:00Z (instance `k` is `k` seconds later).
pub const START_SECS: i64 = 1_767_225_600;

/// Instances the lastN scenario asks for, per attribute.
pub const LAST_N: u64 = 100;

/// Length of the range scenario's window, in seconds (so instances, one per second).
pub const WINDOW_SECS: u64 = 600;

/// The aggregation methods and period of the aggregate scenario.
pub const AGGR_METHODS: &str = "avg,min,max,sum";
pub const AGGR_PERIOD: &str = "PT1H";

/// Default instances per attribute of each temporal entity (`--temporal-instances`).
pub const DEFAULT_INSTANCES: u64 = 100;

/// Default instances per attribute in one seeding request (`--temporal-chunk`).
pub const DEFAULT_CHUNK: u64 = 1_000;

/// The largest `--temporal-chunk`: 5 attributes × 3,000 instances of at most
/// [`MAX_INSTANCE_BYTES`] keep a body near 1.1 MB, under the 1.5 MB aimed at (brokers
/// commonly refuse bodies above 2 MiB).
pub const MAX_CHUNK: u64 = 3_000;

/// The largest `--temporal-instances` (about 3 years of one instance per second).
pub const MAX_INSTANCES: u64 = 100_000_000;

/// The longest instance text [`write_body`] writes, comma included.
pub const MAX_INSTANCE_BYTES: usize = 72;

/// The `observedAt` of instance `k`, e.g. `2026-01-01T00:00:05Z` for `k` = 5 (empty if out
/// of chrono's range, which `--temporal-instances`' bound rules out).
pub fn instant(k: u64) -> String {
    i64::try_from(k)
        .ok()
        .and_then(|k| START_SECS.checked_add(k))
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Appends the value of instance `k` of attribute `attr` (an index into [`ATTRIBUTES`]).
fn write_value(out: &mut String, attr: usize, rng: &mut Rng) {
    // Writing into a String cannot fail.
    let _ = match attr {
        0 => write!(out, "{:.1}", rng.range_f64(0.0, 130.0)),
        1 => write!(out, "{:.3}", rng.range_f64(0.0, 1.0)),
        2 => write!(out, "{:.1}", rng.range_f64(-10.0, 40.0)),
        3 => write!(out, "{}", rng.below(MILEAGE_MAX)),
        _ => write!(out, "{}", 600 + rng.below(5_400)),
    };
}

/// The EntityTemporal body carrying instances `from..to` of every attribute of entity
/// (`id`, `ty`): `{"id":..,"type":..,"speed":[{"type":"Property","value":..,"observedAt":..},..],..}`.
pub fn write_body(out: &mut String, (id, ty): (&str, &str), from: u64, to: u64, rng: &mut Rng) {
    let instants: Vec<String> = (from..to).map(instant).collect();
    let _ = write!(out, r#"{{"id":"{id}","type":"{ty}""#);
    for (a, name) in ATTRIBUTES.iter().enumerate() {
        let _ = write!(out, r#","{name}":["#);
        for (i, at) in instants.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"type":"Property","value":"#);
            write_value(out, a, rng);
            let _ = write!(out, r#","observedAt":"{at}"}}"#);
        }
        out.push(']');
    }
    out.push('}');
}

/// The same as a body of its own.
pub fn body(entity: (&str, &str), from: u64, to: u64, rng: &mut Rng) -> String {
    let per = to
        .saturating_sub(from)
        .saturating_mul(ATTRIBUTES.len() as u64);
    let capacity = usize::try_from(per)
        .unwrap_or(0)
        .saturating_mul(MAX_INSTANCE_BYTES)
        .saturating_add(256);
    let mut out = String::with_capacity(capacity.min(4 << 20));
    write_body(&mut out, entity, from, to, rng);
    out
}

/// Retrieve of an entity's last [`LAST_N`] instances of every attribute, normalized or with
/// `format=temporalValues`.
pub fn last_n_path(id: &str, temporal_values: bool) -> String {
    format!(
        "/temporal/entities/{id}?lastN={LAST_N}&attrs={}{}",
        ATTRIBUTES.join(","),
        format_param(temporal_values)
    )
}

/// Retrieve of attribute `attr`'s instances from instance `from` on, over [`WINDOW_SECS`].
pub fn range_path(id: &str, attr: &str, from: u64, temporal_values: bool) -> String {
    format!(
        "/temporal/entities/{id}?timerel=between&timeAt={}&endTimeAt={}&attrs={attr}{}",
        instant(from),
        instant(from.saturating_add(WINDOW_SECS)),
        format_param(temporal_values)
    )
}

/// [`AGGR_METHODS`] per [`AGGR_PERIOD`] over attribute `attr`'s `instances` seeded instances.
pub fn aggregate_path(id: &str, attr: &str, instances: u64) -> String {
    format!(
        concat!(
            "/temporal/entities/{id}?format=aggregatedValues&aggrMethods={methods}",
            "&aggrPeriodDuration={period}&timerel=between&timeAt={from}&endTimeAt={to}&attrs={attr}"
        ),
        id = id,
        methods = AGGR_METHODS,
        period = AGGR_PERIOD,
        from = instant(0),
        to = instant(instances),
        attr = attr,
    )
}

fn format_param(temporal_values: bool) -> &'static str {
    if temporal_values {
        "&format=temporalValues"
    } else {
        ""
    }
}

/// The first instance of a random [`WINDOW_SECS`] window within `instances` (0 when the
/// window is longer than what was seeded: it then covers all of it).
pub fn window_start(instances: u64, rng: &mut Rng) -> u64 {
    rng.below(instances.saturating_sub(WINDOW_SECS).saturating_add(1))
}

/// Checks a normalized lastN answer for an entity seeded with `instances` instances: every
/// attribute has `min(LAST_N, instances)` of them and the latest is the last one seeded.
/// `Ok` says what was found, `Err` what is wrong.
pub fn check_last_n(body: &[u8], instances: u64) -> Result<String, String> {
    let entity: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON ({e})"))?;
    let want = LAST_N.min(instances);
    let last = instant(instances.saturating_sub(1));
    let last_t = parse_time(&last);
    for name in ATTRIBUTES {
        let got = match entity.get(name) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => return Err(format!("attribute {name} is missing")),
        };
        if got.len() as u64 != want {
            return Err(format!(
                "{name} has {} instances, {want} expected",
                got.len()
            ));
        }
        let latest = got
            .iter()
            .filter_map(|i| i.get("observedAt").and_then(Value::as_str))
            .filter_map(parse_time)
            .max();
        if latest != last_t {
            return Err(format!(
                "the latest {name} instance is observed at {}, {last} expected",
                latest.map(|t| t.to_rfc3339()).unwrap_or_else(|| "?".into())
            ));
        }
    }
    Ok(format!(
        "{want} instances of each of the {} attributes, the latest at {last}",
        ATTRIBUTES.len()
    ))
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
#[path = "temporal_tests.rs"]
mod tests;
