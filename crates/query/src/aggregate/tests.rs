//! Tests of the aggregated temporal representation (clause 4.5.19).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use super::{
    aggregate, aggregate_relationship, parse_method_names, parse_methods, AggrMethod,
    PeriodDuration, Sample,
};
use crate::error::Language;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn duration(text: &str) -> PeriodDuration {
    PeriodDuration::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Instances at `HH:MM:SS` on 2020-08-01.
fn series(points: &[(&str, Value)]) -> Vec<(DateTime<Utc>, Value)> {
    points
        .iter()
        .map(|(time, v)| (at(&format!("2020-08-01T{time}Z")), v.clone()))
        .collect()
}

fn samples(owned: &[(DateTime<Utc>, Value)]) -> Vec<Sample<'_>> {
    owned.iter().map(|(t, v)| (*t, v)).collect()
}

/// The series of `methods` over `points` for periods of `period` from `start` to `end`
/// (times on 2020-08-01), as `{"method": [[value, from, to], ...]}`.
fn run(methods: &str, points: &[(&str, Value)], range: (&str, &str), period: &str) -> Value {
    run_with(aggregate, methods, &series(points), range, period)
}

/// [`aggregate`] or [`aggregate_relationship`].
type Aggregator = fn(
    &[Sample<'_>],
    &[AggrMethod],
    DateTime<Utc>,
    DateTime<Utc>,
    &PeriodDuration,
) -> Vec<super::Series>;

fn run_with(
    f: Aggregator,
    methods: &str,
    owned: &[(DateTime<Utc>, Value)],
    (start, end): (&str, &str),
    period: &str,
) -> Value {
    let methods = parse_methods(methods).unwrap();
    let day = |t: &str| {
        if t.contains('-') {
            at(t)
        } else {
            at(&format!("2020-08-01T{t}Z"))
        }
    };
    let out = f(
        &samples(owned),
        &methods,
        day(start),
        day(end),
        &duration(period),
    );
    Value::Object(
        out.into_iter()
            .map(|(m, values)| (m.name().to_owned(), Value::Array(values)))
            .collect(),
    )
}

/// The values only of one method's series.
fn values(result: &Value, method: &str) -> Vec<Value> {
    result[method]
        .as_array()
        .unwrap()
        .iter()
        .map(|triple| triple[0].clone())
        .collect()
}

/// One value per method over a single whole-range period.
fn whole(methods: &str, vals: &[Value]) -> Value {
    let points: Vec<(String, Value)> = vals
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("12:{i:02}:00"), v.clone()))
        .collect();
    let points: Vec<(&str, Value)> = points
        .iter()
        .map(|(t, v)| (t.as_str(), v.clone()))
        .collect();
    let out = run(methods, &points, ("12:00:00", "13:00:00"), "PT0S");
    let mut flat = serde_json::Map::new();
    for (method, series) in out.as_object().unwrap() {
        let series = series.as_array().unwrap();
        assert!(series.len() <= 1, "{method}: {series:?}");
        let value = series.first().map_or(Value::Null, |t| t[0].clone());
        flat.insert(method.clone(), value);
    }
    Value::Object(flat)
}

// ---- aggrMethods -------------------------------------------------------------------------

#[test]
fn methods_parse_in_request_order_without_duplicates() {
    let methods = parse_methods("max,avg,max,totalCount").unwrap();
    assert_eq!(
        methods,
        [AggrMethod::Max, AggrMethod::Avg, AggrMethod::TotalCount]
    );
}

#[test]
fn every_method_parses_back_from_its_spec_name() {
    for method in AggrMethod::ALL {
        assert_eq!(AggrMethod::from_name(method.name()), Some(method));
        assert_eq!(method.to_string(), method.name());
    }
    let names: Vec<&str> = AggrMethod::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        [
            "avg",
            "distinctCount",
            "max",
            "min",
            "stddev",
            "sum",
            "sumsq",
            "totalCount"
        ]
    );
}

#[test]
fn the_string_array_form_parses_like_the_comma_separated_one() {
    assert_eq!(
        parse_method_names(["avg", "max"]).unwrap(),
        parse_methods("avg,max").unwrap()
    );
}

#[test]
fn an_unknown_method_is_an_aggr_methods_error() {
    let error = parse_methods("avg,bogus").unwrap_err();
    assert_eq!(error.language(), Language::AggrMethods);
    assert_eq!(error.kind(), rigel_model::ErrorKind::BadRequestData);
    let text = error.to_string();
    assert!(text.contains("aggrMethods"), "{text}");
    assert!(text.contains("bogus"), "{text}");
}

#[test]
fn method_names_are_case_sensitive() {
    assert!(parse_methods("AVG").is_err());
    assert!(parse_methods("totalcount").is_err());
}

#[test]
fn empty_method_names_are_rejected() {
    for text in ["", "avg,", ",avg", "avg,,max"] {
        assert!(parse_methods(text).is_err(), "{text}");
    }
    assert!(parse_method_names([]).is_err());
}

#[test]
fn relationships_take_only_the_two_counts() {
    let applicable: Vec<AggrMethod> = AggrMethod::ALL
        .into_iter()
        .filter(|m| m.applies_to_relationships())
        .collect();
    assert_eq!(
        applicable,
        [AggrMethod::DistinctCount, AggrMethod::TotalCount]
    );
}

// ---- aggrPeriodDuration ------------------------------------------------------------------

#[test]
fn a_duration_with_every_element_parses_into_months_and_a_fixed_length() {
    let d = duration("P3Y6M4DT12H30M5S");
    assert_eq!(d.months(), 42);
    assert_eq!(
        d.fixed(),
        TimeDelta::days(4) + TimeDelta::hours(12) + TimeDelta::minutes(30) + TimeDelta::seconds(5)
    );
}

#[test]
fn m_is_months_before_t_and_minutes_after() {
    assert_eq!(duration("P1M").months(), 1);
    assert_eq!(duration("P1M").fixed(), TimeDelta::zero());
    assert_eq!(duration("PT1M").months(), 0);
    assert_eq!(duration("PT1M").fixed(), TimeDelta::minutes(1));
}

#[test]
fn weeks_are_seven_days() {
    assert_eq!(duration("P2W").fixed(), TimeDelta::days(14));
}

#[test]
fn seconds_may_have_a_fraction() {
    assert_eq!(duration("PT1.5S").fixed(), TimeDelta::milliseconds(1500));
    assert_eq!(duration("PT0,25S").fixed(), TimeDelta::milliseconds(250));
}

#[test]
fn zero_durations_span_the_whole_range() {
    for text in ["PT0S", "P0D", "P0Y", "PT0.0S", "P0W"] {
        assert!(duration(text).is_zero(), "{text}");
    }
    assert_eq!(PeriodDuration::default(), PeriodDuration::ZERO);
    assert!(!duration("PT1S").is_zero());
}

#[test]
fn malformed_durations_are_aggr_period_duration_errors() {
    let bad = [
        "",
        "P",
        "PT",
        "1H",
        "P1H",
        "PT1D",
        "-P1D",
        "P-1D",
        "P1DT",
        "P1.5D",
        "PT1.5M",
        "P1W1D",
        "P1WT1H",
        "PT1S1M",
        "P1D1Y",
        "P1Y1Y",
        "PD",
        "PT.5S",
        "PT1.S",
        "P1",
        "p1d",
        "P1d",
        "bogus",
        "P1Y 2M",
        "PT1H2",
        "P99999999999999999999Y",
        "P4294967296M",
    ];
    for text in bad {
        let error = PeriodDuration::parse(text).expect_err(text);
        assert_eq!(error.language(), Language::AggrPeriod, "{text}");
        assert!(error.to_string().contains("aggrPeriodDuration"), "{error}");
    }
}

#[test]
fn long_rejected_durations_are_quoted_shortened() {
    let text = format!("P{}", "9".repeat(500));
    let message = PeriodDuration::parse(&text).unwrap_err().to_string();
    assert!(message.len() < 200, "{message}");
}

#[test]
fn a_month_lands_on_the_last_day_of_a_shorter_month() {
    let d = duration("P1M");
    assert_eq!(
        d.add_to(at("2020-01-31T10:00:00Z")),
        Some(at("2020-02-29T10:00:00Z"))
    );
    assert_eq!(
        duration("P1Y").add_to(at("2020-02-29T00:00:00Z")),
        Some(at("2021-02-28T00:00:00Z"))
    );
    assert_eq!(
        duration("P1MT1H").add_to(at("2020-01-31T10:00:00Z")),
        Some(at("2020-02-29T11:00:00Z"))
    );
}

#[test]
fn adding_past_the_representable_range_gives_none() {
    assert_eq!(
        duration("P4294967295M").add_to(at("2020-01-01T00:00:00Z")),
        None
    );
}

#[test]
fn durations_display_as_iso_8601() {
    for (text, shown) in [
        ("P3Y6M4DT12H30M5S", "P3Y6M4DT12H30M5S"),
        ("PT0S", "PT0S"),
        ("P0D", "PT0S"),
        ("P2W", "P14D"),
        ("PT1.50S", "PT1.5S"),
        ("P1M", "P1M"),
        ("PT90M", "PT1H30M"),
    ] {
        assert_eq!(duration(text).to_string(), shown);
    }
}

// ---- period layout -----------------------------------------------------------------------

#[test]
fn the_suite_hourly_average_matches_its_expectation() {
    // TP 021_17_01: timeAt=2020-01-01T12:03:00Z, PT1H, data of
    // 2020-08-vehicle-temporal-representation.jsonld.
    let fuel = series(&[
        ("12:03:00", json!(67)),
        ("13:05:00", json!(53)),
        ("14:07:00", json!(40)),
    ]);
    let speed = series(&[
        ("12:03:00", json!(120)),
        ("12:05:00", json!(80)),
        ("12:07:00", json!(100)),
    ]);
    let range = ("2020-01-01T12:03:00Z", "2020-08-02T00:00:00Z");
    assert_eq!(
        run_with(aggregate, "avg,max", &fuel, range, "PT1H"),
        json!({
            "avg": [
                [67.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"],
                [53.0, "2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z"],
                [40.0, "2020-08-01T14:03:00Z", "2020-08-01T15:03:00Z"]
            ],
            "max": [
                [67.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"],
                [53.0, "2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z"],
                [40.0, "2020-08-01T14:03:00Z", "2020-08-01T15:03:00Z"]
            ]
        })
    );
    assert_eq!(
        run_with(aggregate, "avg,max", &speed, range, "PT1H"),
        json!({
            "avg": [[100.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]],
            "max": [[120.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]]
        })
    );
}

#[test]
fn the_suite_daily_min_max_period_is_not_cut_at_the_last_instance() {
    // TP 021_17_04 (and 020_11_04, which has no timeAt: the range starts at the first instance).
    let fuel = series(&[
        ("12:03:00", json!(67)),
        ("13:05:00", json!(53)),
        ("14:07:00", json!(40)),
    ]);
    let range = ("2020-08-01T12:03:00Z", "2020-08-01T14:07:01Z");
    assert_eq!(
        run_with(aggregate, "min,max", &fuel, range, "P1D"),
        json!({
            "min": [[40.0, "2020-08-01T12:03:00Z", "2020-08-02T12:03:00Z"]],
            "max": [[67.0, "2020-08-01T12:03:00Z", "2020-08-02T12:03:00Z"]]
        })
    );
}

#[test]
fn avg_of_an_hour_ignores_samples_of_the_next_hour() {
    let out = run(
        "avg",
        &[
            ("12:00:00", json!(10)),
            ("12:59:59", json!(20)),
            ("13:00:00", json!(1000)),
        ],
        ("12:00:00", "14:00:00"),
        "PT1H",
    );
    assert_eq!(
        out["avg"],
        json!([
            [15.0, "2020-08-01T12:00:00Z", "2020-08-01T13:00:00Z"],
            [1000.0, "2020-08-01T13:00:00Z", "2020-08-01T14:00:00Z"]
        ])
    );
}

#[test]
fn a_sample_at_a_period_start_belongs_to_that_period() {
    let out = run(
        "totalCount",
        &[("12:10:00", json!(1)), ("12:20:00", json!(2))],
        ("12:00:00", "13:00:00"),
        "PT10M",
    );
    assert_eq!(
        out["totalCount"],
        json!([
            [1, "2020-08-01T12:10:00Z", "2020-08-01T12:20:00Z"],
            [1, "2020-08-01T12:20:00Z", "2020-08-01T12:30:00Z"]
        ])
    );
}

#[test]
fn samples_outside_the_range_do_not_count() {
    let out = run(
        "totalCount,sum",
        &[
            ("11:59:59", json!(100)),
            ("12:00:00", json!(1)),
            ("12:30:00", json!(2)),
            ("13:00:00", json!(100)),
        ],
        ("12:00:00", "13:00:00"),
        "PT1H",
    );
    assert_eq!(values(&out, "totalCount"), [json!(2)]);
    assert_eq!(values(&out, "sum"), [json!(3.0)]);
}

#[test]
fn periods_without_samples_are_left_out() {
    let out = run(
        "totalCount",
        &[("12:01:00", json!(1)), ("15:01:00", json!(2))],
        ("12:00:00", "18:00:00"),
        "PT1H",
    );
    assert_eq!(
        out["totalCount"],
        json!([
            [1, "2020-08-01T12:00:00Z", "2020-08-01T13:00:00Z"],
            [1, "2020-08-01T15:00:00Z", "2020-08-01T16:00:00Z"]
        ])
    );
}

#[test]
fn an_empty_range_has_no_periods() {
    let out = run(
        "totalCount",
        &[("12:01:00", json!(1))],
        ("13:00:00", "14:00:00"),
        "PT1H",
    );
    assert_eq!(out, json!({"totalCount": []}));
    let reversed = run(
        "totalCount",
        &[("12:01:00", json!(1))],
        ("13:00:00", "12:00:00"),
        "PT1H",
    );
    assert_eq!(reversed, json!({"totalCount": []}));
}

#[test]
fn a_zero_duration_is_one_period_over_the_whole_range() {
    let points = [
        ("12:00:00", json!(1)),
        ("15:00:00", json!(2)),
        ("17:59:59", json!(3)),
    ];
    for zero in ["PT0S", "P0D"] {
        let out = run("sum", &points, ("12:00:00", "18:00:00"), zero);
        assert_eq!(
            out["sum"],
            json!([[6.0, "2020-08-01T12:00:00Z", "2020-08-01T18:00:00Z"]])
        );
    }
}

#[test]
fn the_last_period_keeps_its_full_length_past_the_range_end() {
    let out = run(
        "totalCount",
        &[("12:58:00", json!(1)), ("13:01:00", json!(2))],
        ("12:00:00", "13:00:00"),
        "PT7M",
    );
    assert_eq!(
        out["totalCount"],
        json!([[1, "2020-08-01T12:56:00Z", "2020-08-01T13:03:00Z"]])
    );
}

#[test]
fn month_periods_follow_the_calendar() {
    let owned: Vec<(DateTime<Utc>, Value)> = [
        "2020-01-31T00:00:00Z",
        "2020-02-28T23:00:00Z",
        "2020-02-29T00:00:00Z",
        "2020-03-30T00:00:00Z",
        "2020-03-31T00:00:00Z",
    ]
    .iter()
    .map(|t| (at(t), json!(1)))
    .collect();
    let out = run_with(
        aggregate,
        "totalCount",
        &owned,
        ("2020-01-31T00:00:00Z", "2021-01-01T00:00:00Z"),
        "P1M",
    );
    // Each period starts at start + k months (Jan 31 + 2 months is Mar 31, not Mar 29).
    assert_eq!(
        out["totalCount"],
        json!([
            [2, "2020-01-31T00:00:00Z", "2020-02-29T00:00:00Z"],
            [2, "2020-02-29T00:00:00Z", "2020-03-31T00:00:00Z"],
            [1, "2020-03-31T00:00:00Z", "2020-04-30T00:00:00Z"]
        ])
    );
}

#[test]
fn year_periods_follow_the_calendar() {
    let owned: Vec<(DateTime<Utc>, Value)> = [
        "2020-02-29T00:00:00Z",
        "2021-02-27T23:59:59Z",
        "2021-02-28T00:00:00Z",
        "2024-02-29T00:00:00Z",
    ]
    .iter()
    .map(|t| (at(t), json!(1)))
    .collect();
    let out = run_with(
        aggregate,
        "totalCount",
        &owned,
        ("2020-02-29T00:00:00Z", "2030-01-01T00:00:00Z"),
        "P1Y",
    );
    assert_eq!(
        out["totalCount"],
        json!([
            [2, "2020-02-29T00:00:00Z", "2021-02-28T00:00:00Z"],
            [1, "2021-02-28T00:00:00Z", "2022-02-28T00:00:00Z"],
            [1, "2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z"]
        ])
    );
}

#[test]
fn empty_periods_between_distant_samples_cost_nothing() {
    // One-second periods over five centuries: only the two holding a sample are visited.
    let owned = vec![
        (at("1800-01-01T00:00:00Z"), json!(1)),
        (at("2300-01-01T00:00:00.5Z"), json!(2)),
    ];
    let out = run_with(
        aggregate,
        "sum",
        &owned,
        ("1800-01-01T00:00:00Z", "2400-01-01T00:00:00Z"),
        "PT1S",
    );
    assert_eq!(
        out["sum"],
        json!([
            [1.0, "1800-01-01T00:00:00Z", "1800-01-01T00:00:01Z"],
            [2.0, "2300-01-01T00:00:00Z", "2300-01-01T00:00:01Z"]
        ])
    );
}

#[test]
fn boundaries_show_fractions_only_when_there_are_some() {
    let owned = vec![(at("2020-08-01T12:00:00.5Z"), json!(1))];
    let out = run_with(
        aggregate,
        "totalCount",
        &owned,
        ("2020-08-01T12:00:00.25Z", "2020-08-01T13:00:00Z"),
        "PT0.5S",
    );
    assert_eq!(
        out["totalCount"],
        json!([[1, "2020-08-01T12:00:00.250Z", "2020-08-01T12:00:00.750Z"]])
    );
}

#[test]
fn each_method_gets_its_series_in_request_order() {
    let out = parse_methods("sum,totalCount,avg").unwrap();
    let owned = series(&[("12:00:00", json!(1))]);
    let result = aggregate(
        &samples(&owned),
        &out,
        at("2020-08-01T12:00:00Z"),
        at("2020-08-01T13:00:00Z"),
        &PeriodDuration::ZERO,
    );
    let order: Vec<AggrMethod> = result.iter().map(|s| s.0).collect();
    assert_eq!(order, out);
}

// ---- numbers -----------------------------------------------------------------------------

#[test]
fn every_method_on_numbers() {
    let vals: Vec<Value> = [2, 4, 4, 4, 5, 5, 7, 9].iter().map(|n| json!(n)).collect();
    assert_eq!(
        whole(
            "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq",
            &vals
        ),
        json!({
            "totalCount": 8,
            "distinctCount": 5,
            "sum": 40.0,
            "avg": 5.0,
            "min": 2.0,
            "max": 9.0,
            "stddev": 2.0,
            "sumsq": 232.0
        })
    );
}

#[test]
fn results_from_integers_are_floats_and_counts_are_integers() {
    let out = whole("sum,min,max,totalCount", &[json!(3), json!(4)]);
    assert!(out["sum"].is_f64() && out["min"].is_f64() && out["max"].is_f64());
    assert!(out["totalCount"].is_u64());
}

#[test]
fn stddev_is_the_population_deviation() {
    let out = whole("stddev", &[json!(1.0), json!(3.0)]);
    assert_eq!(out["stddev"], json!(1.0));
    assert_eq!(whole("stddev", &[json!(7)])["stddev"], json!(0.0));
}

#[test]
fn distinct_count_treats_equal_numbers_as_one_value() {
    let out = whole(
        "distinctCount",
        &[json!(1), json!(1.0), json!(-0.0), json!(0)],
    );
    assert_eq!(out["distinctCount"], json!(2));
}

#[test]
fn an_overflowing_sum_yields_nothing() {
    let out = whole("sum,sumsq,max", &[json!(1e308), json!(1e308)]);
    assert_eq!(out["sum"], Value::Null);
    assert_eq!(out["sumsq"], Value::Null);
    assert_eq!(out["max"], json!(1e308));
}

// ---- booleans ----------------------------------------------------------------------------

#[test]
fn every_method_on_booleans_counts_true_as_one() {
    let vals = [json!(true), json!(false), json!(true), json!(true)];
    assert_eq!(
        whole(
            "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq",
            &vals
        ),
        json!({
            "totalCount": 4,
            "distinctCount": 2,
            "sum": 3.0,
            "avg": 0.75,
            "min": 0.0,
            "max": 1.0,
            "stddev": 0.1875f64.sqrt(),
            "sumsq": 3.0
        })
    );
}

// ---- strings -----------------------------------------------------------------------------

#[test]
fn strings_take_counts_and_lexicographic_extremes_only() {
    let vals = [
        json!("pear"),
        json!("apple"),
        json!("zucchini"),
        json!("apple"),
    ];
    assert_eq!(
        whole(
            "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq",
            &vals
        ),
        json!({
            "totalCount": 4,
            "distinctCount": 3,
            "sum": null,
            "avg": null,
            "min": "apple",
            "max": "zucchini",
            "stddev": null,
            "sumsq": null
        })
    );
}

#[test]
fn a_method_that_does_not_apply_gets_an_empty_series() {
    let out = run(
        "avg,totalCount",
        &[("12:00:00", json!("a")), ("12:30:00", json!("b"))],
        ("12:00:00", "13:00:00"),
        "PT1H",
    );
    assert_eq!(out["avg"], json!([]));
    assert_eq!(values(&out, "totalCount"), [json!(2)]);
}

#[test]
fn numbers_take_precedence_over_strings_in_a_mixed_period() {
    let out = whole(
        "min,max,avg",
        &[json!("zzz"), json!(5), json!("aaa"), json!(7)],
    );
    assert_eq!(out, json!({"min": 5.0, "max": 7.0, "avg": 6.0}));
}

// ---- arrays and objects ------------------------------------------------------------------

#[test]
fn arrays_aggregate_by_size() {
    let vals = [
        json!([1, 2, 3]),
        json!([]),
        json!(["a", "b", "c"]),
        json!([1]),
    ];
    assert_eq!(
        whole("totalCount,distinctCount,sum,avg,min,max", &vals),
        json!({
            "totalCount": 4,
            "distinctCount": 4,
            "sum": 7.0,
            "avg": 1.75,
            "min": 0.0,
            "max": 3.0
        })
    );
}

#[test]
fn stddev_and_sumsq_do_not_apply_to_arrays() {
    let vals = [json!([1, 2, 3]), json!([1])];
    assert_eq!(
        whole("stddev,sumsq", &vals),
        json!({"stddev": null, "sumsq": null})
    );
    // Beside numbers, the arrays are left out of those two and counted by the others.
    let mixed = [json!(2), json!([1, 2, 3, 4, 5, 6]), json!(4)];
    assert_eq!(
        whole("stddev,sumsq,sum", &mixed),
        json!({"stddev": 1.0, "sumsq": 20.0, "sum": 12.0})
    );
}

#[test]
fn equal_arrays_are_one_distinct_value() {
    let vals = [
        json!([1, 2]),
        json!([1, 2]),
        json!([2, 1]),
        json!([1, 2, 3]),
    ];
    assert_eq!(whole("distinctCount", &vals)["distinctCount"], json!(3));
}

#[test]
fn objects_take_counts_only() {
    let vals = [
        json!({"a": 1, "b": 2}),
        json!({"b": 2, "a": 1}),
        json!({"a": 1}),
        json!({"a": {"x": [1]}}),
    ];
    assert_eq!(
        whole(
            "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq",
            &vals
        ),
        json!({
            "totalCount": 4,
            "distinctCount": 3,
            "sum": null,
            "avg": null,
            "min": null,
            "max": null,
            "stddev": null,
            "sumsq": null
        })
    );
}

#[test]
fn nulls_count_as_instances_but_not_as_distinct_values() {
    let out = whole(
        "totalCount,distinctCount",
        &[json!(null), json!(1), json!(null)],
    );
    assert_eq!(out, json!({"totalCount": 3, "distinctCount": 1}));
}

// ---- DateTime, Date, Time ----------------------------------------------------------------

#[test]
fn date_times_order_chronologically_and_keep_their_form() {
    let vals = [
        json!({"@type": "DateTime", "@value": "2020-08-01T12:00:00+02:00"}),
        json!({"@type": "DateTime", "@value": "2020-08-01T11:00:00Z"}),
        json!({"@type": "DateTime", "@value": "2020-07-01T00:00:00Z"}),
    ];
    assert_eq!(
        whole("min,max,avg,sum", &vals),
        json!({
            "min": {"@type": "DateTime", "@value": "2020-07-01T00:00:00Z"},
            "max": {"@type": "DateTime", "@value": "2020-08-01T11:00:00Z"},
            "avg": null,
            "sum": null
        })
    );
}

#[test]
fn dates_order_chronologically() {
    let vals = [
        json!("2020-12-01"),
        json!("2021-01-01"),
        json!("2020-02-01"),
    ];
    let out = whole("min,max", &vals);
    assert_eq!(out, json!({"min": "2020-02-01", "max": "2021-01-01"}));
}

#[test]
fn the_average_of_times_is_the_mean_time_of_day() {
    let vals = [
        json!({"@type": "Time", "@value": "08:00:00Z"}),
        json!({"@type": "Time", "@value": "09:30:00Z"}),
    ];
    assert_eq!(
        whole("avg,min,max", &vals),
        json!({
            "avg": {"@type": "Time", "@value": "08:45:00Z"},
            "min": {"@type": "Time", "@value": "08:00:00Z"},
            "max": {"@type": "Time", "@value": "09:30:00Z"}
        })
    );
    assert_eq!(
        whole("avg", &[json!("10:00:00"), json!("10:00:01")])["avg"],
        json!("10:00:00.500Z")
    );
}

// ---- Relationships -----------------------------------------------------------------------

#[test]
fn relationships_count_instances_and_distinct_targets() {
    let owned = series(&[
        ("12:00:00", json!("urn:ngsi-ld:Car:1")),
        ("12:10:00", json!("urn:ngsi-ld:Car:1")),
        (
            "12:20:00",
            json!(["urn:ngsi-ld:Car:2", "urn:ngsi-ld:Car:3"]),
        ),
        ("13:10:00", json!("urn:ngsi-ld:Car:2")),
    ]);
    let out = run_with(
        aggregate_relationship,
        "totalCount,distinctCount,max,avg",
        &owned,
        ("12:00:00", "14:00:00"),
        "PT1H",
    );
    assert_eq!(
        out,
        json!({
            "totalCount": [
                [3, "2020-08-01T12:00:00Z", "2020-08-01T13:00:00Z"],
                [1, "2020-08-01T13:00:00Z", "2020-08-01T14:00:00Z"]
            ],
            "distinctCount": [
                [3, "2020-08-01T12:00:00Z", "2020-08-01T13:00:00Z"],
                [1, "2020-08-01T13:00:00Z", "2020-08-01T14:00:00Z"]
            ],
            "max": [],
            "avg": []
        })
    );
}

// ---- volume ------------------------------------------------------------------------------

#[test]
fn a_hundred_thousand_samples_aggregate_per_hour() {
    let start = at("2020-08-01T00:00:00Z");
    let owned: Vec<(DateTime<Utc>, Value)> = (0..100_000i64)
        .map(|i| (start + TimeDelta::seconds(i), json!(i % 100)))
        .collect();
    let slice = samples(&owned);
    let methods = parse_methods("avg,min,max,sum").unwrap();
    let period = duration("PT1H");
    let end = start + TimeDelta::days(2);
    let begun = std::time::Instant::now();
    let out = aggregate(&slice, &methods, start, end, &period);
    eprintln!(
        "100,000 samples, avg,min,max,sum per hour: {:?}",
        begun.elapsed()
    );
    let hours = 100_000usize.div_ceil(3_600);
    assert!(out.iter().all(|(_, series)| series.len() == hours));
    let total: f64 = out[3].1.iter().map(|t| t[0].as_f64().unwrap()).sum();
    assert_eq!(
        total,
        (0..100_000i64).map(|i| (i % 100) as f64).sum::<f64>()
    );
}
