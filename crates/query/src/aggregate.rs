//! The aggregated temporal representation (clause 4.5.19): the `aggrMethods` and
//! `aggrPeriodDuration` parameters, and the per-period aggregation of one attribute's
//! instances into `[value, startDateTime, endDateTime]` triples.
//!
//! Decisions where clause 4.5.19 is silent, taken from the ETSI test suite (TPs 020_11 and
//! 021_17, expectations `vehicle-temporal-representation-aggregated-*.json`) and annex C.5.14:
//!
//! - Periods are laid out from the range start in steps of the duration: period `k` is
//!   `[start + k·P, start + (k+1)·P)`, and a sample at a period's start belongs to it while a
//!   sample at its end belongs to the next. Every period spans the whole duration, the last
//!   one too: it is not cut at the range end (the suite expects the `P1D` period
//!   `["2020-08-01T12:03:00Z", "2020-08-02T12:03:00Z"]` for data ending at 14:07 on the
//!   first day). A zero duration is a single period `[start, end]`.
//! - Periods without samples are left out, not rendered with `null`: TP 021_17 asks for
//!   `timeAt=2020-01-01T12:03:00Z` with `PT1H` and expects only the hours holding data, and
//!   C.5.14.3 shows two 4-minute periods of an hour-long range.
//! - Likewise, a method that applies to none of a period's values (an "N/A" cell of tables
//!   4.5.19.1-1 to -3, e.g. `avg` over strings) yields no triple for that period, so a
//!   method may get an empty list.
//! - Values computed from numbers (`avg`, `min`, `max`, `sum`, `sumsq`, `stddev`) are JSON
//!   floats even over integers: the suite expects `120.0` as the `max` of integers and its
//!   comparison tells `120` from `120.0`. `totalCount` and `distinctCount` are integers.
//! - Boundaries are RFC 3339 in UTC with `Z` and only the fraction digits needed
//!   (`2020-08-01T12:03:00Z`), as in the suite's expectations.

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, Months, NaiveDate, NaiveTime, SecondsFormat, TimeDelta, Timelike, Utc};
use serde_json::{Map, Number, Value};

use crate::error::{Language, QueryError};
use crate::temporal::{parse_date, parse_date_time, parse_time};

#[cfg(test)]
mod tests;

const NANOS_PER_SECOND: i128 = 1_000_000_000;
/// The mean Gregorian month (365.2425 days / 12), to estimate which period holds an instant.
const MEAN_MONTH_SECONDS: i128 = 2_629_746;
/// How much of a rejected parameter an error message quotes.
const EXCERPT_CHARS: usize = 40;

/// One aggregation method of clause 4.5.19.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AggrMethod {
    /// `totalCount`: how many instances the period holds.
    TotalCount,
    /// `distinctCount`: how many distinct values (Relationship targets) the period holds.
    DistinctCount,
    /// `sum` of numbers, booleans (true = 1) and array sizes.
    Sum,
    /// `avg` of numbers, booleans and array sizes, or the mean of Times.
    Avg,
    /// `min` of numbers, booleans and array sizes, else the first string, DateTime, Date or
    /// Time in order.
    Min,
    /// `max`, the counterpart of [`AggrMethod::Min`].
    Max,
    /// `stddev`: population standard deviation of numbers and booleans.
    Stddev,
    /// `sumsq`: sum of the squares of numbers and booleans.
    Sumsq,
}

impl AggrMethod {
    /// Every method, in the order clause 4.5.19.1 lists them.
    pub const ALL: [Self; 8] = [
        Self::Avg,
        Self::DistinctCount,
        Self::Max,
        Self::Min,
        Self::Stddev,
        Self::Sum,
        Self::Sumsq,
        Self::TotalCount,
    ];

    /// The method's name as the spec spells it, e.g. `totalCount`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TotalCount => "totalCount",
            Self::DistinctCount => "distinctCount",
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::Stddev => "stddev",
            Self::Sumsq => "sumsq",
        }
    }

    /// The method named `name` (case-sensitive), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the method means something for Relationships (table 4.5.19.1-3).
    pub fn applies_to_relationships(self) -> bool {
        matches!(self, Self::TotalCount | Self::DistinctCount)
    }
}

impl fmt::Display for AggrMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `aggrMethods`, a comma-separated list of method names: duplicates are dropped
/// (first occurrence kept), and an empty or unknown name is an error.
pub fn parse_methods(text: &str) -> Result<Vec<AggrMethod>, QueryError> {
    parse_method_names(text.split(','))
}

/// The methods of `names`, one name each (the string-array form of `aggrMethods` in a
/// JSON `TemporalQuery` or `AggregationParams`), under the rules of [`parse_methods`].
pub fn parse_method_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<AggrMethod>, QueryError> {
    let mut methods = Vec::new();
    for name in names {
        let method = parse_method(name.trim())?;
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    if methods.is_empty() {
        return Err(methods_error("at least one aggregation method is required"));
    }
    Ok(methods)
}

fn parse_method(name: &str) -> Result<AggrMethod, QueryError> {
    if name.is_empty() {
        return Err(methods_error("empty aggregation method name"));
    }
    AggrMethod::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = AggrMethod::ALL.iter().map(|m| m.name()).collect();
        methods_error(format!(
            "unknown aggregation method '{}' (expected one of {})",
            excerpt(name),
            known.join(", ")
        ))
    })
}

fn methods_error(message: impl Into<String>) -> QueryError {
    QueryError::invalid(Language::AggrMethods, message)
}

/// An `aggrPeriodDuration`: ISO 8601 `P[n]Y[n]M[n]DT[n]H[n]M[n]S` or `P[n]W`, with a
/// fraction allowed on the seconds only. Years and months are calendar steps, the other
/// elements a fixed length (a UTC day is 86,400 s). Zero (`PT0S`, `P0D`) means one period
/// over the whole time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PeriodDuration {
    months: u32,
    fixed: TimeDelta,
}

impl PeriodDuration {
    /// The zero duration, also the default of `aggrPeriodDuration` (clause 5.2.44).
    pub const ZERO: Self = Self {
        months: 0,
        fixed: TimeDelta::zero(),
    };

    /// Parses an ISO 8601 duration as restricted by clause 4.5.19.1.
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let body = text
            .strip_prefix('P')
            .ok_or_else(|| duration_error(text, "it must start with 'P'"))?;
        let (date, time) = match body.split_once('T') {
            Some((date, time)) => (date, Some(time)),
            None => (body, None),
        };
        let [years, months, weeks, days] = scan(date, ['Y', 'M', 'W', 'D'], None, text)?;
        let [hours, minutes, seconds] = match time {
            Some(time) => scan(time, ['H', 'M', 'S'], Some('S'), text)?,
            None => [None; 3],
        };
        let time_given = hours.or(minutes).or(seconds).is_some();
        if time.is_some() && !time_given {
            return Err(duration_error(
                text,
                "'T' must be followed by a time element",
            ));
        }
        if years.or(months).or(weeks).or(days).is_none() && !time_given {
            return Err(duration_error(text, "it has no duration element"));
        }
        if weeks.is_some() && (years.or(months).or(days).is_some() || time_given) {
            return Err(duration_error(
                text,
                "weeks cannot be combined with other elements",
            ));
        }
        let whole = |a: Option<Amount>| a.map_or(0, |a| a.whole);
        let calendar = [(whole(years), 12), (whole(months), 1)];
        let fixed = [
            (whole(weeks), 7 * 86_400),
            (whole(days), 86_400),
            (whole(hours), 3_600),
            (whole(minutes), 60),
            (whole(seconds), 1),
        ];
        let too_large = || duration_error(text, "it is too large");
        let months = weighted_sum(&calendar).and_then(|m| u32::try_from(m).ok());
        let seconds_total = weighted_sum(&fixed).and_then(|s| i64::try_from(s).ok());
        let nanos = seconds.map_or(0, |s| s.nanos);
        Ok(Self {
            months: months.ok_or_else(too_large)?,
            fixed: seconds_total
                .and_then(|s| TimeDelta::new(s, nanos))
                .ok_or_else(too_large)?,
        })
    }

    /// The years and months, in months.
    pub fn months(&self) -> u32 {
        self.months
    }

    /// The weeks, days, hours, minutes and seconds, as a fixed length.
    pub fn fixed(&self) -> TimeDelta {
        self.fixed
    }

    /// Whether the duration is zero, i.e. one period spans the whole time range.
    pub fn is_zero(&self) -> bool {
        self.months == 0 && self.fixed.is_zero()
    }

    /// `t` plus the duration (months first, clamped to the month's last day as
    /// [`chrono::Months`] does), or `None` past the representable range.
    pub fn add_to(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.nth(t, 1)
    }

    /// `start` plus `k` times the duration, each part multiplied separately so that month
    /// steps do not drift (`Jan 31 + 2 × P1M` is Mar 31, not Mar 29).
    fn nth(&self, start: DateTime<Utc>, k: i128) -> Option<DateTime<Utc>> {
        let months = u32::try_from(i128::from(self.months).checked_mul(k)?).ok()?;
        let shifted = if months == 0 {
            start
        } else {
            start.checked_add_months(Months::new(months))?
        };
        let fixed = delta_from_nanos(nanos_of(self.fixed).checked_mul(k)?)?;
        shifted.checked_add_signed(fixed)
    }

    /// The index of the period from `start` holding `t` (`t >= start`, duration not zero):
    /// estimated with the mean month length, then corrected by stepping.
    fn index_at(&self, start: DateTime<Utc>, t: DateTime<Utc>) -> i128 {
        let step =
            i128::from(self.months) * MEAN_MONTH_SECONDS * NANOS_PER_SECOND + nanos_of(self.fixed);
        let mut k = nanos_of(t - start).checked_div(step).unwrap_or(0).max(0);
        while k > 0 && self.nth(start, k).is_none_or(|s| s > t) {
            k -= 1;
        }
        while self.nth(start, k + 1).is_some_and(|s| s <= t) {
            k += 1;
        }
        k
    }
}

impl fmt::Display for PeriodDuration {
    /// An ISO 8601 rendering (`P1Y2MT3H`, `PT0S`); weeks come out as days.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("PT0S");
        }
        f.write_str("P")?;
        let (years, months) = (self.months / 12, self.months % 12);
        let seconds = self.fixed.num_seconds();
        let (days, rest) = (seconds / 86_400, seconds % 86_400);
        let (hours, minutes, secs) = (rest / 3_600, rest % 3_600 / 60, rest % 60);
        let nanos = self.fixed.subsec_nanos();
        for (n, unit) in [(u64::from(years), 'Y'), (u64::from(months), 'M')] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if rest == 0 && nanos == 0 {
            return Ok(());
        }
        f.write_str("T")?;
        for (n, unit) in [(hours, 'H'), (minutes, 'M')] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        match (secs, nanos) {
            (0, 0) => Ok(()),
            (s, 0) => write!(f, "{s}S"),
            (s, n) => write!(f, "{s}.{}S", format!("{n:09}").trim_end_matches('0')),
        }
    }
}

/// One `[n]` of a duration: its whole part and, on seconds, its fraction in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Amount {
    whole: u64,
    nanos: u32,
}

/// Reads the `[n]X` elements of `part`, whose designators `X` must follow `order`, each at
/// most once; returns the amounts by designator. Only `fraction_on` may carry a fraction.
fn scan<const N: usize>(
    part: &str,
    order: [char; N],
    fraction_on: Option<char>,
    text: &str,
) -> Result<[Option<Amount>; N], QueryError> {
    let mut found = [None; N];
    let mut next = 0;
    let mut rest = part;
    while !rest.is_empty() {
        let cut = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .ok_or_else(|| duration_error(text, "a number lacks its designator"))?;
        let (number, tail) = rest.split_at_checked(cut).unwrap_or((rest, ""));
        let mut chars = tail.chars();
        let designator = chars.next().unwrap_or('?');
        rest = chars.as_str();
        let position = order
            .iter()
            .position(|&d| d == designator)
            .filter(|&p| p >= next)
            .ok_or_else(|| duration_error(text, format!("unexpected '{designator}'")))?;
        let amount = parse_amount(number, fraction_on == Some(designator), text)?;
        if let Some(slot) = found.get_mut(position) {
            *slot = Some(amount);
        }
        next = position + 1;
    }
    Ok(found)
}

/// Parses `123` or, when `fraction_ok`, `1.5` / `1,5` (digits past nanoseconds are dropped).
fn parse_amount(number: &str, fraction_ok: bool, text: &str) -> Result<Amount, QueryError> {
    let (whole, fraction) = match number.split_once(['.', ',']) {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(duration_error(text, "a designator lacks its number"));
    }
    if fraction.is_some() && !fraction_ok {
        return Err(duration_error(text, "only seconds may have a fraction"));
    }
    let whole = whole
        .parse::<u64>()
        .map_err(|_| duration_error(text, "it is too large"))?;
    let nanos = fraction.map_or(0, |f| {
        f.bytes()
            .chain(std::iter::repeat(b'0'))
            .take(9)
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    });
    Ok(Amount { whole, nanos })
}

/// `Σ amount × weight`, or `None` on overflow.
fn weighted_sum(parts: &[(u64, u64)]) -> Option<u64> {
    parts
        .iter()
        .try_fold(0u64, |sum, &(n, w)| sum.checked_add(n.checked_mul(w)?))
}

fn duration_error(text: &str, why: impl fmt::Display) -> QueryError {
    QueryError::invalid(
        Language::AggrPeriod,
        format!(
            "'{}' is not an ISO 8601 duration P[n]Y[n]M[n]DT[n]H[n]M[n]S or P[n]W: {why}",
            excerpt(text)
        ),
    )
}

/// The start of `text`, for error messages.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or(text)),
        None => text.to_owned(),
    }
}

fn nanos_of(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * NANOS_PER_SECOND + i128::from(d.subsec_nanos())
}

fn delta_from_nanos(nanos: i128) -> Option<TimeDelta> {
    let seconds = i64::try_from(nanos.div_euclid(NANOS_PER_SECOND)).ok()?;
    let rest = u32::try_from(nanos.rem_euclid(NANOS_PER_SECOND)).ok()?;
    TimeDelta::new(seconds, rest)
}

/// One attribute instance: its time (per the query's `timeproperty`) and its value (a
/// Property's `value`, a Relationship's `object`).
pub type Sample<'v> = (DateTime<Utc>, &'v Value);

/// One method's result: `[value, startDateTime, endDateTime]` arrays, one per period for
/// which the method yields a value, in time order.
pub type Series = (AggrMethod, Vec<Value>);

/// Aggregates a Property's instances (tables 4.5.19.1-1 and -2) over the periods of
/// `period` laid out from `start`; only samples in `[start, end)` count. `samples` must be
/// sorted by time. Returns one [`Series`] per method, in the order of `methods`.
pub fn aggregate(
    samples: &[Sample<'_>],
    methods: &[AggrMethod],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: &PeriodDuration,
) -> Vec<Series> {
    aggregate_as(
        Kind::Property,
        samples,
        methods,
        Layout { start, end, period },
    )
}

/// [`aggregate`] for a Relationship (table 4.5.19.1-3): `totalCount` counts instances,
/// `distinctCount` distinct targets (the strings of a string-or-array `object`); the other
/// methods do not apply and get empty series.
pub fn aggregate_relationship(
    samples: &[Sample<'_>],
    methods: &[AggrMethod],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: &PeriodDuration,
) -> Vec<Series> {
    aggregate_as(
        Kind::Relationship,
        samples,
        methods,
        Layout { start, end, period },
    )
}

/// Which table of clause 4.5.19.1 applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Property,
    Relationship,
}

fn aggregate_as<'v>(
    kind: Kind,
    samples: &[Sample<'v>],
    methods: &[AggrMethod],
    layout: Layout<'_>,
) -> Vec<Series> {
    debug_assert!(samples.is_sorted_by_key(|s| s.0), "samples must be sorted");
    let mut series: Vec<Series> = methods.iter().map(|&m| (m, Vec::new())).collect();
    let texts = methods
        .iter()
        .any(|m| matches!(m, AggrMethod::Min | AggrMethod::Max | AggrMethod::Avg));
    let mut scratch = Scratch::default();
    for (chunk, from, to) in layout.periods(samples) {
        let summary = (kind == Kind::Property).then(|| Summary::of(chunk, texts));
        let (from, to) = (render_instant(from), render_instant(to));
        for (method, values) in &mut series {
            let value = match &summary {
                Some(summary) => property_value(*method, chunk, summary, &mut scratch),
                None => relationship_value(*method, chunk, &mut scratch),
            };
            if let Some(value) = value {
                let bounds = [Value::String(from.clone()), Value::String(to.clone())];
                values.push(Value::Array([value].into_iter().chain(bounds).collect()));
            }
        }
    }
    series
}

/// RFC 3339 in UTC with `Z`, with as many fraction digits as needed (none for whole seconds).
fn render_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A query's time range cut into periods.
#[derive(Debug, Clone, Copy)]
struct Layout<'p> {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: &'p PeriodDuration,
}

impl<'p> Layout<'p> {
    /// The non-empty periods of the samples in range, with their bounds.
    fn periods<'s, 'v>(self, samples: &'s [Sample<'v>]) -> Periods<'s, 'v, 'p> {
        let low = samples.partition_point(|s| s.0 < self.start);
        let high = samples.partition_point(|s| s.0 < self.end).max(low);
        Periods {
            rest: samples.get(low..high).unwrap_or_default(),
            layout: self,
        }
    }

    /// The bounds of the period holding `t` (`start <= t < end`).
    fn period_of(&self, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        if self.period.is_zero() {
            return (self.start, self.end);
        }
        let k = self.period.index_at(self.start, t);
        let from = self.period.nth(self.start, k).unwrap_or(self.start);
        let to = self
            .period
            .nth(self.start, k + 1)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (from, to)
    }
}

/// Iterates over the non-empty periods: each step jumps to the period of the next sample
/// and binary-searches its end, so empty periods cost nothing.
struct Periods<'s, 'v, 'p> {
    rest: &'s [Sample<'v>],
    layout: Layout<'p>,
}

impl<'s, 'v> Iterator for Periods<'s, 'v, '_> {
    type Item = (&'s [Sample<'v>], DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        let first = self.rest.first()?.0;
        let (from, to) = self.layout.period_of(first);
        let count = self.rest.partition_point(|s| s.0 < to).max(1);
        let (chunk, rest) = self.rest.split_at_checked(count)?;
        self.rest = rest;
        Some((chunk, from, to))
    }
}

/// Buffers reused across periods for `distinctCount`.
#[derive(Default)]
struct Scratch<'v> {
    values: Vec<&'v Value>,
    targets: Vec<&'v str>,
}

/// How a value takes part in the value methods of tables 4.5.19.1-1 and -2.
enum View<'v> {
    /// A number or a boolean (true = 1, false = 0).
    Number(f64),
    /// An array's size: `avg`, `min`, `max` and `sum` apply to it, `stddev` and `sumsq` do
    /// not (table 4.5.19.1-1).
    Size(f64),
    /// A string, or a typed value's string: a DateTime, Date, Time or plain text.
    Text(TextKey<'v>),
    /// An object, null, or a string when no method orders strings: counted only.
    Opaque,
}

/// Strings order as DateTimes, Dates or Times when they are such (as in clause 4.23.2),
/// else lexicographically; kinds never mix (DateTimes < Dates < Times < texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TextKey<'v> {
    DateTime(DateTime<Utc>),
    Date(NaiveDate),
    Time(NaiveTime),
    Text(&'v str),
}

fn view(v: &Value, texts: bool) -> View<'_> {
    match v {
        Value::Object(map) => match typed_value(map) {
            Some(inner) if !inner.is_object() => scalar_view(inner, texts),
            _ => View::Opaque,
        },
        _ => scalar_view(v, texts),
    }
}

fn scalar_view(v: &Value, texts: bool) -> View<'_> {
    match v {
        Value::Number(n) => n.as_f64().map_or(View::Opaque, View::Number),
        Value::Bool(b) => View::Number(if *b { 1.0 } else { 0.0 }),
        Value::Array(items) => View::Size(items.len() as f64),
        Value::String(s) if texts => View::Text(text_key(s)),
        _ => View::Opaque,
    }
}

/// The `@value` of a JSON-LD value object (`{"@type": "DateTime", "@value": ...}`), unless
/// it is a JSON literal.
fn typed_value(map: &Map<String, Value>) -> Option<&Value> {
    let json_literal = map.get("@type").and_then(Value::as_str) == Some("@json");
    map.get("@value").filter(|_| !json_literal)
}

fn text_key(s: &str) -> TextKey<'_> {
    parse_date_time(s)
        .map(TextKey::DateTime)
        .or_else(|| parse_date(s).map(TextKey::Date))
        .or_else(|| parse_time(s).map(TextKey::Time))
        .unwrap_or(TextKey::Text(s))
}

/// One period of a Property reduced in a single pass.
#[derive(Default)]
struct Summary<'v> {
    count: usize,
    /// Numbers, booleans and array sizes.
    numbers: Numbers,
    /// Numbers and booleans only, for `stddev` and `sumsq`.
    scalars: Numbers,
    min: Option<(TextKey<'v>, &'v Value)>,
    max: Option<(TextKey<'v>, &'v Value)>,
    times: TimeMean<'v>,
}

impl<'v> Summary<'v> {
    /// Reduces `chunk`; strings are looked at only when `texts` (min, max or avg asked).
    fn of(chunk: &[Sample<'v>], texts: bool) -> Self {
        let mut summary = Self {
            count: chunk.len(),
            ..Self::default()
        };
        for &(_, v) in chunk {
            match view(v, texts) {
                View::Number(x) => {
                    summary.numbers.add(x);
                    summary.scalars.add(x);
                }
                View::Size(x) => summary.numbers.add(x),
                View::Text(key) => summary.add_text(key, v),
                View::Opaque => {}
            }
        }
        summary
    }

    fn add_text(&mut self, key: TextKey<'v>, v: &'v Value) {
        if self.min.is_none_or(|(min, _)| key < min) {
            self.min = Some((key, v));
        }
        if self.max.is_none_or(|(max, _)| key > max) {
            self.max = Some((key, v));
        }
        if let TextKey::Time(t) = key {
            self.times.add(t, v);
        }
    }
}

/// Running count, sum, sum of squares and extremes of a period's numbers.
#[derive(Debug, Default, Clone, Copy)]
struct Numbers {
    count: usize,
    sum: f64,
    sumsq: f64,
    min: f64,
    max: f64,
}

impl Numbers {
    fn add(&mut self, x: f64) {
        if self.count == 0 {
            (self.min, self.max) = (x, x);
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count += 1;
        self.sum += x;
        self.sumsq += x * x;
    }

    /// `f` of the numbers, or `None` if there are none.
    fn some<T>(&self, f: impl FnOnce(&Self) -> T) -> Option<T> {
        (self.count > 0).then(|| f(self))
    }

    fn mean(&self) -> Option<f64> {
        self.some(|n| n.sum / n.count as f64)
    }
}

/// The mean time of day of a period's Times (table 4.5.19.1-2, `avg` on Time).
#[derive(Default)]
struct TimeMean<'v> {
    count: u128,
    nanos: u128,
    /// The first Time, whose shape (string or value object) the mean copies.
    first: Option<&'v Value>,
}

impl<'v> TimeMean<'v> {
    fn add(&mut self, t: NaiveTime, v: &'v Value) {
        self.count += 1;
        self.nanos +=
            u128::from(t.num_seconds_from_midnight()) * 1_000_000_000 + u128::from(t.nanosecond());
        self.first.get_or_insert(v);
    }

    fn mean(&self) -> Option<Value> {
        let mean = self.nanos.checked_div(self.count)?;
        let seconds = u32::try_from(mean / 1_000_000_000).ok()?;
        let nanos = u32::try_from(mean % 1_000_000_000).ok()?;
        let time = NaiveTime::from_num_seconds_from_midnight_opt(seconds, nanos)?;
        let text = Value::String(time.format("%H:%M:%S%.fZ").to_string());
        Some(match self.first {
            Some(Value::Object(map)) => {
                let mut typed = Map::new();
                if let Some(t) = map.get("@type") {
                    typed.insert("@type".to_owned(), t.clone());
                }
                typed.insert("@value".to_owned(), text);
                Value::Object(typed)
            }
            _ => text,
        })
    }
}

/// A method's value over one period of a Property, `None` where it does not apply.
/// Numbers (with booleans and array sizes) take precedence over strings for min/max/avg.
fn property_value<'v>(
    method: AggrMethod,
    chunk: &[Sample<'v>],
    summary: &Summary<'v>,
    scratch: &mut Scratch<'v>,
) -> Option<Value> {
    let numbers = &summary.numbers;
    match method {
        AggrMethod::TotalCount => Some(count(summary.count)),
        AggrMethod::DistinctCount => Some(count(distinct_values(chunk, &mut scratch.values))),
        AggrMethod::Sum => numbers.some(|n| n.sum).and_then(float),
        AggrMethod::Sumsq => summary.scalars.some(|n| n.sumsq).and_then(float),
        AggrMethod::Avg => match numbers.mean() {
            Some(mean) => float(mean),
            None => summary.times.mean(),
        },
        AggrMethod::Min => match numbers.some(|n| n.min) {
            Some(min) => float(min),
            None => summary.min.map(|(_, v)| v.clone()),
        },
        AggrMethod::Max => match numbers.some(|n| n.max) {
            Some(max) => float(max),
            None => summary.max.map(|(_, v)| v.clone()),
        },
        AggrMethod::Stddev => summary
            .scalars
            .mean()
            .map(|m| stddev(chunk, m))
            .and_then(float),
    }
}

/// A method's value over one period of a Relationship, `None` where it does not apply.
fn relationship_value<'v>(
    method: AggrMethod,
    chunk: &[Sample<'v>],
    scratch: &mut Scratch<'v>,
) -> Option<Value> {
    match method {
        AggrMethod::TotalCount => Some(count(chunk.len())),
        AggrMethod::DistinctCount => Some(count(distinct_targets(chunk, &mut scratch.targets))),
        _ => None,
    }
}

/// The population standard deviation of the period's numbers around `mean` (a second
/// pass, which is exact where `sumsq/n - mean²` cancels badly).
fn stddev(chunk: &[Sample<'_>], mean: f64) -> f64 {
    let (n, squares) = chunk
        .iter()
        .filter_map(|&(_, v)| match view(v, false) {
            View::Number(x) => Some(x),
            _ => None,
        })
        .fold((0usize, 0.0), |(n, s), x| {
            (n + 1, s + (x - mean) * (x - mean))
        });
    (squares / n.max(1) as f64).sqrt()
}

/// How many distinct non-null values `chunk` holds (objects equal whatever their member
/// order; numbers equal by value, so `1` and `1.0` are one).
fn distinct_values<'v>(chunk: &[Sample<'v>], scratch: &mut Vec<&'v Value>) -> usize {
    scratch.clear();
    scratch.extend(chunk.iter().map(|s| s.1).filter(|v| !v.is_null()));
    scratch.sort_unstable_by(|a, b| compare_json(a, b));
    scratch.dedup_by(|a, b| compare_json(a, b).is_eq());
    scratch.len()
}

/// How many distinct targets the Relationship instances of `chunk` point to.
fn distinct_targets<'v>(chunk: &[Sample<'v>], scratch: &mut Vec<&'v str>) -> usize {
    scratch.clear();
    for &(_, v) in chunk {
        match v {
            Value::String(s) => scratch.push(s),
            Value::Array(items) => scratch.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    scratch.sort_unstable();
    scratch.dedup();
    scratch.len()
}

/// A total order on JSON values: by kind, then by value (numbers as floats, arrays
/// element-wise, objects by their members sorted by key, which allocates).
fn compare_json(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => compare_arrays(x, y),
        (Value::Object(x), Value::Object(y)) => compare_arrays_of(&members(x), &members(y)),
        _ => kind_rank(a).cmp(&kind_rank(b)),
    }
}

fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

fn compare_numbers(x: &Number, y: &Number) -> Ordering {
    // Adding 0.0 turns -0.0 into 0.0, so that total_cmp sees them as equal.
    let value = |n: &Number| n.as_f64().unwrap_or(f64::NAN) + 0.0;
    value(x).total_cmp(&value(y))
}

fn compare_arrays(x: &[Value], y: &[Value]) -> Ordering {
    x.iter()
        .zip(y)
        .map(|(a, b)| compare_json(a, b))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| x.len().cmp(&y.len()))
}

fn members(map: &Map<String, Value>) -> Vec<(&str, &Value)> {
    let mut members: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    members
}

fn compare_arrays_of(x: &[(&str, &Value)], y: &[(&str, &Value)]) -> Ordering {
    x.iter()
        .zip(y)
        .map(|(a, b)| a.0.cmp(b.0).then_with(|| compare_json(a.1, b.1)))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| x.len().cmp(&y.len()))
}

fn count(n: usize) -> Value {
    Value::from(u64::try_from(n).unwrap_or(u64::MAX))
}

/// A float as JSON, or `None` if it is not finite (an overflowing sum).
fn float(x: f64) -> Option<Value> {
    Number::from_f64(x).map(Value::Number)
}
