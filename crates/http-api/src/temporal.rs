//! The temporal API's parameters and representations (clauses 4.5.6-4.5.9, 4.5.19, 4.11,
//! 6.3.12): the temporal query (`timerel`, `timeAt`, `endTimeAt`, `timeproperty`, `lastN`),
//! the representation (`format`/`options`: normalized, `temporalValues`,
//! `aggregatedValues`) and the rendering of an entity's history in each.

use chrono::{DateTime, Utc};
use rigel_broker::temporal::{
    EntityHistory, EntitySamples, HistoryHeader, HistoryInstance, HistoryQuery, InstanceCut,
    Sample, TimeProperty, TimeRange,
};
use rigel_model::codec::render::{format_time, render_attribute, RenderOptions};
use rigel_model::{AttributeValue, TermMap};
use rigel_query::aggregate::{self, AggrMethod, PeriodDuration};
use serde_json::{json, Map, Value};

use crate::request::Params;
use crate::ApiError;

mod write;
pub use write::write_history;

/// How a temporal evolution is represented.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Normalized,
    /// `temporalValues` (4.5.9).
    Simplified,
    /// `aggregatedValues` (4.5.19).
    Aggregated {
        methods: Vec<AggrMethod>,
        period: PeriodDuration,
    },
}

/// The temporal query of a request (4.11) and the representation asked for.
pub struct TemporalParams {
    pub history: HistoryQuery,
    pub shape: Shape,
    /// `timerel` and its instants as given: the aggregation's overall range.
    pub timerel: TimeRel,
    /// The parameters with the temporal representation keywords taken out of `options`
    /// and `format`, for the common representation parsing.
    pub rest: Params,
}

fn instant(params: &Params, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .get(name)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::bad_data(format!("{name} {v:?} is not a DateTime")))
        })
        .transpose()
}

/// The temporal query of a request (4.11): the time property, the range `timerel`,
/// `timeAt` and `endTimeAt` give, and `timerel` with its instants as given. `required`:
/// whether a `timerel` must be given.
pub(crate) type TimeRel = Option<(String, DateTime<Utc>, Option<DateTime<Utc>>)>;

pub(crate) fn time_query(
    params: &Params,
    required: bool,
) -> Result<(TimeProperty, TimeRange, TimeRel), ApiError> {
    let property = match params.get("timeproperty") {
        None | Some("observedAt") => TimeProperty::ObservedAt,
        Some("createdAt") => TimeProperty::CreatedAt,
        Some("modifiedAt") => TimeProperty::ModifiedAt,
        Some("deletedAt") => TimeProperty::DeletedAt,
        Some(other) => {
            return Err(ApiError::bad_data(format!(
                "timeproperty {other:?} is not one of observedAt, createdAt, modifiedAt, deletedAt"
            )))
        }
    };
    let time_at = instant(params, "timeAt")?;
    let end_time_at = instant(params, "endTimeAt")?;
    let (range, timerel) = match params.get("timerel") {
        None if required => {
            return Err(ApiError::bad_data(
                "a temporal query needs timerel and timeAt (clause 4.11)",
            ))
        }
        None => {
            if time_at.is_some() || end_time_at.is_some() {
                return Err(ApiError::bad_data("timeAt and endTimeAt need a timerel"));
            }
            (TimeRange::default(), None)
        }
        Some(rel) => {
            let at =
                time_at.ok_or_else(|| ApiError::bad_data(format!("timerel={rel} needs timeAt")))?;
            let range = match rel {
                "before" => TimeRange {
                    from: None,
                    to: Some(at),
                },
                "after" => TimeRange {
                    from: Some(at),
                    to: None,
                },
                "between" => {
                    let end = end_time_at
                        .ok_or_else(|| ApiError::bad_data("timerel=between needs endTimeAt"))?;
                    if end <= at {
                        return Err(ApiError::bad_data("endTimeAt must be after timeAt"));
                    }
                    TimeRange {
                        from: Some(at),
                        to: Some(end),
                    }
                }
                other => {
                    return Err(ApiError::bad_data(format!(
                        "timerel {other:?} is not one of before, after, between"
                    )))
                }
            };
            (range, Some((rel.to_owned(), at, end_time_at)))
        }
    };
    Ok((property, range, timerel))
}

/// Reads the temporal query and representation parameters. `required`: whether a
/// `timerel` must be given (Query Temporal Evolution of Entities, 5.7.4.4).
pub fn temporal_params(params: Params, required: bool) -> Result<TemporalParams, ApiError> {
    let (property, range, timerel) = time_query(&params, required)?;
    let last_n = params
        .get("lastN")
        .map(|v| match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ApiError::bad_data(format!(
                "lastN must be a whole number above 0, not {v:?}"
            ))),
        })
        .transpose()?;
    let (shape, rest) = shape(params)?;
    Ok(TemporalParams {
        history: HistoryQuery {
            attrs: None,
            property,
            range,
            last_n,
            ..HistoryQuery::default()
        },
        shape,
        timerel,
        rest,
    })
}

/// The representation, from `format` (which wins) or `options`, with the keywords removed.
fn shape(params: Params) -> Result<(Shape, Params), ApiError> {
    let mut simplified = false;
    let mut aggregated = false;
    let mut pairs = params.into_pairs();
    for (name, value) in pairs.iter_mut() {
        if name == "options" || name == "format" {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            let from_format = name == "format";
            let mut kept = Vec::new();
            for item in items {
                match item {
                    "temporalValues" => {
                        if from_format || !aggregated {
                            simplified = true;
                            aggregated &= !from_format;
                        }
                    }
                    "aggregatedValues" => {
                        if from_format || !simplified {
                            aggregated = true;
                            simplified &= !from_format;
                        }
                    }
                    other => kept.push(other),
                }
            }
            *value = kept.join(",");
        }
    }
    pairs.retain(|(n, v)| !((n == "options" || n == "format") && v.is_empty()));
    let rest = Params::from_pairs(pairs);
    let shape = if aggregated {
        let methods = rest
            .get("aggrMethods")
            .ok_or_else(|| ApiError::bad_data("aggregatedValues needs aggrMethods"))
            .and_then(|m| aggregate::parse_methods(m).map_err(ApiError::from))?;
        let period = match rest.get("aggrPeriodDuration") {
            Some(p) => PeriodDuration::parse(p)?,
            None => PeriodDuration::parse("PT0S")?,
        };
        Shape::Aggregated { methods, period }
    } else if simplified {
        Shape::Simplified
    } else {
        Shape::Normalized
    };
    Ok((shape, rest))
}

impl TemporalParams {
    /// Whether the instances are paged: an aggregation covers the whole range.
    pub fn paged(&self) -> bool {
        !matches!(self.shape, Shape::Aggregated { .. })
    }
}

/// The range unit of a temporal `Content-Range` (6.3.10).
const RANGE_UNIT: &str = "DateTime";

/// The `Content-Range` of a response cut to a page (6.3.10): backwards (with `lastN`) from
/// `timeAt` (before), `endTimeAt` (between) or the most recent instance returned, down to the
/// least recent, sized `lastN`; forwards from `timeAt` (after, between) or the least recent
/// instance up to the most recent, sized `*`.
pub fn content_range(cut: &InstanceCut, params: &TemporalParams) -> String {
    let rel = params.timerel.as_ref();
    let (start, end, size) = if cut.backwards {
        let start = match rel {
            Some((r, at, _)) if r == "before" => *at,
            Some((r, _, Some(end))) if r == "between" => *end,
            _ => cut.latest,
        };
        let size = params
            .history
            .last_n
            .map_or_else(|| "*".to_owned(), |n| n.to_string());
        (start, cut.earliest, size)
    } else {
        let start = match rel {
            Some((r, at, _)) if r == "after" || r == "between" => *at,
            _ => cut.earliest,
        };
        (start, cut.latest, "*".to_owned())
    };
    format!(
        "{RANGE_UNIT} {}-{}/{size}",
        format_time(&start),
        format_time(&end)
    )
}

/// The members of a temporal representation besides the attributes: `id`, `type`.
fn header_members(
    h: &HistoryHeader,
    terms: &dyn TermMap,
    opts: &RenderOptions,
) -> Map<String, Value> {
    let mut out = Map::new();
    let p = &opts.projection;
    if !p.drop_id {
        out.insert("id".into(), Value::String(h.id.clone()));
    }
    if !p.drop_type {
        let types: Vec<Value> = h
            .types
            .iter()
            .map(|t| Value::String(terms.compact(t).into_owned()))
            .collect();
        out.insert("type".into(), one_or_many(types));
    }
    // The scope is not the header's: its instances are rendered as a Property's (4.5.6).
    out
}

/// `createdAt`, `modifiedAt` and `deletedAt` of the evolution, with `sysAttrs`.
fn system_members(out: &mut Map<String, Value>, h: &HistoryHeader, opts: &RenderOptions) {
    if opts.sys_attrs {
        out.insert(
            "createdAt".into(),
            Value::String(format_time(&h.created_at)),
        );
        out.insert(
            "modifiedAt".into(),
            Value::String(format_time(&h.modified_at)),
        );
        if let Some(t) = &h.deleted_at {
            out.insert("deletedAt".into(), Value::String(format_time(t)));
        }
    }
}

/// Renders one entity's history (without `@context`); an aggregation reduces it to samples.
pub fn render_history(
    history: EntityHistory,
    params: &TemporalParams,
    terms: &dyn TermMap,
    opts: &RenderOptions,
) -> Map<String, Value> {
    if let Shape::Aggregated { .. } = params.shape {
        let samples = EntitySamples::from_history(history, params.history.property);
        return render_samples(&samples, params, terms, opts);
    }
    let mut out = header_members(&history.header, terms, opts);
    for (name, instances) in &history.attributes {
        // An attribute left empty by a page cut is kept: the next page has its instances.
        if !opts.projection.keeps(name) {
            continue;
        }
        let rendered = match &params.shape {
            Shape::Simplified => per_dataset(
                instances,
                |i| i.value.dataset_id.as_deref(),
                |group| simplified(group, params.history.property, terms),
            ),
            _ => normalized(instances, terms, opts),
        };
        out.insert(terms.compact(name).into_owned(), rendered);
    }
    system_members(&mut out, &history.header, opts);
    out
}

/// Renders the aggregated representation (4.5.19) of an entity's samples.
pub fn render_samples(
    samples: &EntitySamples,
    params: &TemporalParams,
    terms: &dyn TermMap,
    opts: &RenderOptions,
) -> Map<String, Value> {
    let mut out = header_members(&samples.header, terms, opts);
    if let Shape::Aggregated { methods, period } = &params.shape {
        for (name, all) in &samples.attributes {
            if !opts.projection.keeps(name) {
                continue;
            }
            let rendered = per_dataset(
                all,
                |s| s.dataset_id.as_deref(),
                |group| aggregated(group, params, methods, period),
            );
            out.insert(terms.compact(name).into_owned(), rendered);
        }
    }
    system_members(&mut out, &samples.header, opts);
    out
}

fn one_or_many(mut items: Vec<Value>) -> Value {
    if items.len() == 1 {
        items.swap_remove(0)
    } else {
        Value::Array(items)
    }
}

/// The simplified or aggregated representation of each dataset of an attribute: one object
/// (with its `datasetId`, if any) per dataset, the default instances first; a single
/// object when there is one dataset.
fn per_dataset<T: Clone>(
    items: &[T],
    dataset: impl Fn(&T) -> Option<&str>,
    render: impl Fn(&[T]) -> Map<String, Value>,
) -> Value {
    let first = items.first().and_then(&dataset);
    if items.iter().all(|i| dataset(i) == first) {
        let mut out = render(items);
        if let Some(d) = first {
            out.insert("datasetId".into(), Value::String(d.to_owned()));
        }
        return Value::Object(out);
    }
    let datasets: std::collections::BTreeSet<Option<&str>> = items.iter().map(&dataset).collect();
    let rendered = datasets
        .into_iter()
        .map(|d| {
            let group: Vec<T> = items.iter().filter(|i| dataset(i) == d).cloned().collect();
            let mut out = render(&group);
            if let Some(d) = d {
                out.insert("datasetId".into(), Value::String(d.to_owned()));
            }
            Value::Object(out)
        })
        .collect();
    Value::Array(rendered)
}

/// 4.5.7, 4.5.8: each instance as an attribute, with its `instanceId` (and `deletedAt`).
fn normalized(instances: &[HistoryInstance], terms: &dyn TermMap, opts: &RenderOptions) -> Value {
    let items = instances
        .iter()
        .map(|i| {
            let mut v = render_attribute(&i.value, terms, opts);
            if let Value::Object(m) = &mut v {
                m.insert("instanceId".into(), Value::String(i.instance_id.clone()));
                if let Some(t) = &i.deleted_at {
                    m.insert("deletedAt".into(), Value::String(format_time(t)));
                }
            }
            v
        })
        .collect();
    Value::Array(items)
}

/// The instant `property` names on an instance, as rendered in simplified pairs.
fn time_of(instance: &HistoryInstance, property: TimeProperty) -> Value {
    match property {
        TimeProperty::ObservedAt => instance
            .value
            .observed_at
            .clone()
            .map_or(Value::Null, Value::String),
        other => other
            .of(instance)
            .map_or(Value::Null, |t| Value::String(format_time(&t))),
    }
}

/// The member name and payload of an instance in the simplified representation (4.5.9).
fn simplified_payload(value: &AttributeValue, terms: &dyn TermMap) -> (&'static str, Value) {
    match value {
        AttributeValue::Property(v) => ("values", v.clone()),
        AttributeValue::GeoProperty(v) => ("values", v.clone()),
        AttributeValue::Relationship { object, .. } => ("objects", object.clone()),
        AttributeValue::LanguageProperty(m) => (
            "languageMaps",
            json!({ "languageMap": Value::Object(m.clone()) }),
        ),
        AttributeValue::VocabProperty(v) => {
            let compact = |v: &Value| match v {
                Value::String(s) => Value::String(terms.compact(s).into_owned()),
                other => other.clone(),
            };
            let v = match v {
                Value::Array(items) => Value::Array(items.iter().map(compact).collect()),
                other => compact(other),
            };
            ("vocabs", json!({ "vocab": v }))
        }
        AttributeValue::JsonProperty(v) => ("jsons", json!({ "json": v })),
        AttributeValue::ListProperty(items) => ("valueLists", Value::Array(items.clone())),
        AttributeValue::ListRelationship { object_list, .. } => (
            "objectLists",
            Value::Array(object_list.iter().cloned().map(Value::String).collect()),
        ),
    }
}

fn simplified(
    instances: &[HistoryInstance],
    property: TimeProperty,
    terms: &dyn TermMap,
) -> Map<String, Value> {
    let kind = instances
        .first()
        .map_or("Property", |i| i.value.value.type_name());
    let mut member = "values";
    let pairs: Vec<Value> = instances
        .iter()
        .map(|i| {
            let (m, payload) = simplified_payload(&i.value.value, terms);
            member = m;
            json!([payload, time_of(i, property)])
        })
        .collect();
    let mut out = Map::new();
    out.insert("type".into(), Value::String(kind.into()));
    out.insert(member.into(), Value::Array(pairs));
    out
}

/// The value aggregation works on: a Property's value, a Relationship's object.
fn aggregatable(value: &AttributeValue) -> Option<&Value> {
    match value {
        AttributeValue::Property(v) | AttributeValue::GeoProperty(v) => Some(v),
        AttributeValue::Relationship { object, .. } => Some(object),
        AttributeValue::VocabProperty(v) | AttributeValue::JsonProperty(v) => Some(v),
        _ => None,
    }
}

fn aggregated(
    all: &[Sample],
    params: &TemporalParams,
    methods: &[AggrMethod],
    period: &PeriodDuration,
) -> Map<String, Value> {
    let samples: Vec<(DateTime<Utc>, &Value)> = all
        .iter()
        .filter_map(|s| Some((s.at, aggregatable(&s.value)?)))
        .collect();
    let kind = all.first().map_or("Property", |s| s.value.type_name());
    let mut out = Map::new();
    out.insert("type".into(), Value::String(kind.into()));
    let first = samples.first().map(|(t, _)| *t);
    let last = samples.last().map(|(t, _)| *t);
    let (start, end) = match (&params.timerel, first, last) {
        (Some((rel, at, end)), first, last) => match rel.as_str() {
            "before" => (first.unwrap_or(*at).min(*at), *at),
            "after" => (
                *at,
                last.map_or(*at, |l| l.max(*at) + chrono::Duration::microseconds(1)),
            ),
            _ => (*at, end.unwrap_or(*at)),
        },
        (None, Some(f), Some(l)) => (f, l + chrono::Duration::microseconds(1)),
        _ => {
            for m in methods {
                out.insert(m.name().into(), Value::Array(Vec::new()));
            }
            return out;
        }
    };
    for (method, periods) in aggregate::aggregate(&samples, methods, start, end, period) {
        out.insert(method.name().into(), Value::Array(periods));
    }
    out
}
