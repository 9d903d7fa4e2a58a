//! The answer to an attribute write that context sources took part in (clauses 5.6.2.4,
//! 5.6.4.4, 6.3.17): 204 when every part succeeded; the error of the one part when there
//! was only one (504 when its source did not answer in time, 404 when it did not have the
//! entity, 409 when it does not offer the operation, 502 otherwise); else 207 with an
//! UpdateResult naming, for each attribute not written, why and through which
//! registration. Attribute names are full IRIs, as in every UpdateResult.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use rigel_broker::federation::{AttributeWrite, Forwarded, PartFailure, SourceError, WriteKind};
use rigel_broker::{BrokerError, UpdateResult};
use rigel_model::Tenant;
use serde_json::{json, Map, Value};

use crate::context::RequestContext;
use crate::request::Params;
use crate::{ApiError, AppState};

/// Where a write goes: the request's tenant, entity, parameters and @context.
pub(crate) struct Target<'a> {
    pub tenant: &'a Tenant,
    pub id: &'a str,
    pub types: Option<&'a [String]>,
    pub params: &'a Params,
    pub ctx: &'a RequestContext,
}

/// Passes an attribute write on to the sources registered for its attributes; `None` when
/// no registration matches (the write is local only).
pub(crate) async fn forward(
    req: &HttpRequest,
    state: &AppState,
    target: &Target<'_>,
    body: Option<&Map<String, Value>>,
    names: &[(String, String)],
    kind: WriteKind,
) -> Result<Option<Forwarded>, ApiError> {
    let distribution = crate::distribution::of(req, target.params, target.ctx)?;
    // An @context the client wrote in the body that a Link header cannot carry (inline, or
    // several) goes back into the forwarded body.
    let with_context = match (body, &target.ctx.user) {
        (Some(body), Some(user)) if !user.is_string() => {
            let mut body = body.clone();
            body.insert("@context".to_owned(), user.clone());
            Some(body)
        }
        _ => None,
    };
    let write = AttributeWrite {
        id: target.id,
        types: target.types,
        body: with_context.as_ref().or(body),
        names,
        kind,
    };
    Ok(state
        .broker
        .forward_attribute_write(target.tenant, &write, &distribution)
        .await?)
}

/// The members of an entity fragment left for the local entity: the attributes no
/// exclusive or redirect source took, and the members that are not attributes.
pub(crate) fn left_for_local(
    body: &Map<String, Value>,
    forwarded: &Forwarded,
) -> Map<String, Value> {
    body.iter()
        .filter(|(k, _)| forwarded.local.contains(k) || !is_attribute_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Members of an entity fragment that are not attributes.
pub(crate) fn is_attribute_key(key: &str) -> bool {
    !matches!(key, "id" | "@id" | "type" | "@type" | "scope" | "@context")
}

/// The attributes an entity fragment writes: each name as written, and expanded.
pub(crate) fn written_attributes(
    body: &Map<String, Value>,
    terms: &dyn rigel_model::TermMap,
) -> Vec<(String, String)> {
    body.keys()
        .filter(|k| is_attribute_key(k))
        .map(|k| (k.clone(), terms.expand(k).into_owned()))
        .collect()
}

/// The local part of a single-attribute write that sources took part in, from its result.
pub(crate) fn single_local(attribute: &str, result: Option<Result<(), BrokerError>>) -> LocalPart {
    match result {
        None => LocalPart::None,
        Some(Ok(())) => LocalPart::Done(UpdateResult {
            updated: vec![attribute.to_owned()],
            not_updated: Vec::new(),
        }),
        Some(Err(e)) => LocalPart::Failed(e.into()),
    }
}

/// The local part of a distributed write.
pub(crate) enum LocalPart {
    /// Nothing was left to write locally.
    None,
    Done(UpdateResult),
    Failed(ApiError),
}

/// The answer, from what the sources did and the local part.
pub(crate) fn respond(
    forwarded: &Forwarded,
    names: &[(String, String)],
    local: LocalPart,
) -> Result<HttpResponse, ApiError> {
    let iri = |key: &str| {
        names
            .iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| key.to_owned(), |(_, iri)| iri.clone())
    };
    let mut updated: Vec<String> = Vec::new();
    let mut not_updated: Vec<Value> = Vec::new();
    let mut failed_parts = 0;
    for part in &forwarded.parts {
        match &part.outcome {
            Ok(()) => updated.extend(part.attributes.iter().map(|k| iri(k))),
            Err(failure) => {
                failed_parts += 1;
                for key in &part.attributes {
                    not_updated.push(json!({
                        "attributeName": iri(key),
                        "reason": reason(failure),
                        "registrationId": part.registration,
                    }));
                }
            }
        }
    }
    let forwarded_ok = forwarded.parts.iter().any(|p| p.outcome.is_ok());
    let mut parts = forwarded.parts.len();
    let mut local_error = None;
    match local {
        LocalPart::None => {}
        LocalPart::Done(result) => {
            parts += 1;
            updated.extend(result.updated);
            for (name, why) in result.not_updated {
                not_updated.push(json!({"attributeName": name, "reason": why}));
            }
        }
        // An entity or attribute an inclusive source holds need not be held locally too.
        LocalPart::Failed(ApiError::Broker(
            BrokerError::EntityNotFound(_) | BrokerError::AttributeNotFound { .. },
        )) if forwarded.shared && forwarded_ok => {}
        LocalPart::Failed(e) => {
            parts += 1;
            failed_parts += 1;
            for key in &forwarded.local {
                not_updated.push(json!({"attributeName": iri(key), "reason": e.to_string()}));
            }
            local_error = Some(e);
        }
    }
    if not_updated.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    if parts == 1 && failed_parts == 1 {
        if let Some(e) = local_error {
            return Err(e);
        }
        if let Some(Err(failure)) = forwarded.parts.first().map(|p| &p.outcome) {
            return Ok(single_failure(failure));
        }
    }
    Ok(HttpResponse::MultiStatus()
        .content_type("application/json")
        .json(json!({"updated": updated, "notUpdated": not_updated})))
}

/// The answer to Create Entity or Delete Entity when sources took part (5.6.1.4, 5.6.6.4,
/// 6.3.17): 201 (with `created` as Location) or 204 when every part succeeded; the lone
/// part's failure; else 207 with a BatchOperationResult whose errors carry each failed
/// part's ProblemDetails (with `status`) and `registrationId`. A missing local entity is no
/// failure of a deletion when an exclusive or redirect source deleted it; next to inclusive
/// sources it is one failed part. `local` is `None` when exclusive or redirect sources took
/// every attribute of a new entity, leaving nothing to create locally.
pub(crate) fn respond_entity_write(
    forwarded: &Forwarded,
    id: &str,
    local: Option<Result<(), BrokerError>>,
    created: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let owner_done = forwarded.owned && forwarded.parts.iter().any(|p| p.outcome.is_ok());
    let mut errors: Vec<Value> = Vec::new();
    let mut succeeded = false;
    let mut lone_source_failure = None;
    for part in &forwarded.parts {
        match &part.outcome {
            Ok(()) => succeeded = true,
            Err(failure) => {
                let (mut status, mut problem) = failure_problem(failure);
                // Next to other parts, a source's own client error is the most telling.
                if let PartFailure::Source(SourceError::Status(code @ 400..=499)) = failure {
                    status = StatusCode::from_u16(*code).unwrap_or(status);
                }
                problem["status"] = json!(status.as_u16());
                errors.push(json!({
                    "entityId": id,
                    "registrationId": part.registration,
                    "error": problem,
                }));
                lone_source_failure = Some(failure);
            }
        }
    }
    let mut parts = forwarded.parts.len();
    match local {
        None => {}
        Some(Ok(())) => {
            parts += 1;
            succeeded = true;
        }
        Some(Err(BrokerError::EntityNotFound(_))) if created.is_none() && owner_done => {}
        Some(Err(e)) => {
            parts += 1;
            if parts == 1 {
                return Err(e.into());
            }
            let api: ApiError = e.into();
            let mut problem = api.problem_body();
            problem["status"] = json!(actix_web::ResponseError::status_code(&api).as_u16());
            errors.push(json!({"entityId": id, "error": problem}));
            lone_source_failure = None;
        }
    }
    let mut response = if errors.is_empty() {
        match &created {
            Some(_) => HttpResponse::Created().finish(),
            None => HttpResponse::NoContent().finish(),
        }
    } else if let (1, Some(failure)) = (parts, lone_source_failure) {
        return Ok(single_failure(failure));
    } else {
        let success: Vec<&str> = if succeeded { vec![id] } else { Vec::new() };
        HttpResponse::MultiStatus()
            .content_type("application/json")
            .json(json!({"success": success, "errors": errors}))
    };
    if let (Some(location), true) = (created, succeeded) {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&location) {
            response
                .headers_mut()
                .insert(actix_web::http::header::LOCATION, value);
        }
    }
    Ok(response)
}

fn reason(failure: &PartFailure) -> String {
    match failure {
        PartFailure::Unsupported => {
            "the registration's source does not offer this operation (Conflict)".to_owned()
        }
        PartFailure::Source(e) => format!("context source: {e}"),
        PartFailure::Reported(problem) => format!(
            "context source: {}",
            problem
                .get("detail")
                .or_else(|| problem.get("title"))
                .and_then(Value::as_str)
                .unwrap_or("failed")
        ),
    }
}

/// The answer when the one part of a write was a source's, and it failed (6.3.17).
fn single_failure(failure: &PartFailure) -> HttpResponse {
    let (status, body) = failure_problem(failure);
    HttpResponse::build(status)
        .content_type("application/json")
        .json(body)
}

/// The status and ProblemDetails of a failed source part (6.3.17).
pub(crate) fn failure_problem(failure: &PartFailure) -> (StatusCode, Value) {
    let (status, detail) = match failure {
        PartFailure::Reported(problem) => {
            let status = problem
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
            let body = if problem.is_object() {
                problem.clone()
            } else {
                crate::problem::blank_problem(StatusCode::BAD_GATEWAY, &reason(failure))
            };
            return (status, body);
        }
        PartFailure::Unsupported => (StatusCode::CONFLICT, reason(failure)),
        PartFailure::Source(SourceError::Timeout(_)) => {
            (StatusCode::GATEWAY_TIMEOUT, reason(failure))
        }
        PartFailure::Source(SourceError::Status(404)) => (StatusCode::NOT_FOUND, reason(failure)),
        PartFailure::Source(SourceError::Status(508)) => {
            (StatusCode::LOOP_DETECTED, reason(failure))
        }
        PartFailure::Source(_) => (StatusCode::BAD_GATEWAY, reason(failure)),
    };
    let kind = match status {
        StatusCode::CONFLICT => Some(rigel_model::ErrorKind::Conflict),
        StatusCode::NOT_FOUND => Some(rigel_model::ErrorKind::ResourceNotFound),
        _ => None,
    };
    // No error type of the spec names a gateway failure: RFC 9457's `about:blank`, whose
    // title is the status's.
    let body = match kind {
        Some(kind) => json!({"type": kind.type_uri(), "title": kind.title(), "detail": detail}),
        None => crate::problem::blank_problem(status, &detail),
    };
    (status, body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use rigel_broker::federation::WritePart;

    use super::*;

    fn names() -> Vec<(String, String)> {
        vec![
            ("ring".into(), "urn:a:ring".into()),
            ("name".into(), "urn:a:name".into()),
        ]
    }

    fn part(attribute: &str, outcome: Result<(), PartFailure>) -> WritePart {
        WritePart {
            registration: format!("urn:r:{attribute}"),
            attributes: vec![attribute.to_owned()],
            outcome,
        }
    }

    fn body(response: HttpResponse) -> Value {
        let bytes = actix_web::body::to_bytes(response.into_body());
        let bytes = futures::executor::block_on(bytes).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_failed_part_among_others_is_a_207_naming_the_registration() {
        let timeout = PartFailure::Source(SourceError::Timeout(Duration::from_secs(1)));
        let forwarded = Forwarded {
            parts: vec![part("ring", Err(timeout))],
            local: vec!["name".into()],
            shared: false,
            owned: true,
        };
        let local = LocalPart::Done(UpdateResult {
            updated: vec!["urn:a:name".into()],
            not_updated: Vec::new(),
        });
        let response = respond(&forwarded, &names(), local).unwrap();
        assert_eq!(response.status(), StatusCode::MULTI_STATUS);
        let result = body(response);
        assert_eq!(result["updated"], json!(["urn:a:name"]));
        assert_eq!(result["notUpdated"][0]["attributeName"], "urn:a:ring");
        assert_eq!(result["notUpdated"][0]["registrationId"], "urn:r:ring");
    }

    #[test]
    fn a_lone_source_part_fails_with_the_gateway_status() {
        let cases = [
            (SourceError::Timeout(Duration::from_secs(1)), 504),
            (SourceError::Status(404), 404),
            (SourceError::Status(403), 502),
            (SourceError::Unreachable("refused".into()), 502),
        ];
        for (error, status) in cases {
            let forwarded = Forwarded {
                parts: vec![part("ring", Err(PartFailure::Source(error.clone())))],
                ..Forwarded::default()
            };
            let response = respond(&forwarded, &names(), LocalPart::None).unwrap();
            assert_eq!(response.status().as_u16(), status, "{error}");
        }
        let all_well = Forwarded {
            parts: vec![part("ring", Ok(()))],
            ..Forwarded::default()
        };
        let response = respond(&all_well, &names(), LocalPart::None).unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}
