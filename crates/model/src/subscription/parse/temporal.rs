//! `temporalQ` (clause 5.2.21) of a Context Source Registration Subscription: the relation,
//! its instants and the time property, checked as clause 4.11 checks a temporal query.

use serde_json::Value;

use crate::members::{bad, date_time_text, string};
use crate::subscription::SubscriptionTemporalQuery;
use crate::ModelError;

/// The time properties a temporal query may name (clause 4.8).
const TIME_PROPERTIES: &[&str] = &["observedAt", "createdAt", "modifiedAt", "deletedAt"];

/// Reads `temporalQ`: `timerel` and `timeAt` are needed, `endTimeAt` (after `timeAt`) with
/// `between` only; the aggregation and `lastN` members do not apply to registrations and are
/// ignored.
pub(super) fn temporal_query(v: &Value) -> Result<SubscriptionTemporalQuery, ModelError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("\"temporalQ\" must be an object"))?;
    let text = |name: &str| -> Result<Option<String>, ModelError> {
        obj.get(name)
            .map(|v| string(v, &format!("temporalQ.{name}")))
            .transpose()
    };
    let timerel = text("timerel")?.ok_or_else(|| bad("\"temporalQ\" has no \"timerel\""))?;
    if !matches!(timerel.as_str(), "before" | "after" | "between") {
        return Err(bad(format!(
            "\"temporalQ.timerel\" {timerel:?} is not one of before, after, between"
        )));
    }
    let time_at_text = text("timeAt")?.ok_or_else(|| bad("\"temporalQ\" has no \"timeAt\""))?;
    let time_at = date_time_text(&time_at_text, "temporalQ.timeAt")?;
    let end_time_at_text = text("endTimeAt")?;
    let end_time_at = end_time_at_text
        .as_deref()
        .map(|t| date_time_text(t, "temporalQ.endTimeAt"))
        .transpose()?;
    match (timerel.as_str(), end_time_at) {
        ("between", None) => {
            return Err(bad(
                "\"temporalQ\" with timerel between needs \"endTimeAt\"",
            ))
        }
        ("between", Some(end)) if end <= time_at => {
            return Err(bad("\"temporalQ.endTimeAt\" must be after \"timeAt\""))
        }
        ("before" | "after", Some(_)) => {
            return Err(bad(
                "\"temporalQ.endTimeAt\" only goes with timerel between",
            ))
        }
        _ => {}
    }
    let timeproperty = text("timeproperty")?;
    if let Some(p) = &timeproperty {
        if !TIME_PROPERTIES.contains(&p.as_str()) {
            return Err(bad(format!(
                "\"temporalQ.timeproperty\" {p:?} is not one of {}",
                TIME_PROPERTIES.join(", ")
            )));
        }
    }
    Ok(SubscriptionTemporalQuery {
        timerel,
        time_at,
        time_at_text,
        end_time_at,
        end_time_at_text,
        timeproperty,
    })
}
