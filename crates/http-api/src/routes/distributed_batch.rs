//! Batches that context sources take part in (clauses 5.6.7.4-5.6.10.4, 5.6.20.4): the
//! batch goes to the registrations matching its entities, each entity keeps locally only the
//! attributes no exclusive or redirect registration owns, and the answer joins the local
//! BatchOperationResult with the sources' (their failures name the registration, 5.2.17).
//! A missing local entity is no failure when a source wrote it (for a deletion: an exclusive
//! or redirect source). Purge Entities answers the same way (6.4.3.3): 204, or 207 with an
//! error per failed registration.

use std::collections::HashSet;

use actix_web::HttpRequest;
use actix_web::HttpResponse;
use rigel_broker::federation::{
    BatchEntry, BatchKind, BatchPart, Distribution, ForwardedBatch, PurgePart,
};
use rigel_broker::BrokerError;
use rigel_model::codec::parse::parse_types;
use rigel_model::Tenant;
use serde_json::{json, Value};

use crate::context;
use crate::request::Params;
use crate::routes::batch::{EntityBatch, Outcome};
use crate::routes::distributed_write::{failure_problem, is_attribute_key, written_attributes};
use crate::{ApiError, AppState};

/// An entity's expanded types, and its attributes as written and expanded.
type Described = (Vec<String>, Vec<(String, String)>);

/// What context sources did with a batch.
pub(crate) struct Remote {
    parts: Vec<BatchPart>,
    /// The entity ids of the batch, in order.
    order: Vec<String>,
    /// Entities whose local absence is no failure.
    held_elsewhere: HashSet<String>,
}

impl Remote {
    /// Passes an entity batch on to the registrations matching it, and leaves in `batch`
    /// what is to be written locally; `None` when no registration matches.
    pub(super) async fn forward(
        req: &HttpRequest,
        state: &AppState,
        tenant: &Tenant,
        params: &Params,
        batch: &mut EntityBatch<'_>,
        kind: BatchKind,
    ) -> Result<Option<Self>, ApiError> {
        let distribution = distribution_of(req, state, params).await?;
        if !state.broker.may_distribute(tenant, &distribution) {
            return Ok(None);
        }
        // Entities whose @context could not be had are turned away later, unforwarded.
        let readable: Vec<usize> = (0..batch.items.len())
            .filter(|&i| batch.items[i].2.is_ok())
            .collect();
        let described: Vec<Described> = readable
            .iter()
            .map(|&i| {
                let (_, value, terms) = &batch.items[i];
                match (value.as_object(), terms) {
                    (Some(body), Ok(terms)) => {
                        let terms = terms.as_ref();
                        let types = body
                            .get("type")
                            .and_then(|t| parse_types(t, terms).ok())
                            .unwrap_or_default();
                        (types, written_attributes(body, terms))
                    }
                    _ => (Vec::new(), Vec::new()),
                }
            })
            .collect();
        let entries: Vec<BatchEntry<'_>> = readable
            .iter()
            .zip(&described)
            .map(|(&i, (types, names))| BatchEntry {
                id: &batch.items[i].0,
                types,
                body: batch.items[i].1.as_object(),
                names,
            })
            .collect();
        let Some(forwarded) = Self::send(state, tenant, &distribution, kind, &entries).await?
        else {
            return Ok(None);
        };
        let order = batch.items.iter().map(|(id, _, _)| id.clone()).collect();
        // Leave locally what no exclusive or redirect registration owns.
        let mut keep = vec![true; batch.items.len()];
        for (&i, local) in readable.iter().zip(&forwarded.local) {
            match local {
                None => keep[i] = false,
                Some(local) => {
                    if let Value::Object(body) = &mut batch.items[i].1 {
                        body.retain(|k, _| !is_attribute_key(k) || local.contains(k));
                    }
                }
            }
        }
        let mut index = 0;
        batch.items.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        Ok(Some(Self::new(forwarded, order, kind)))
    }

    /// Passes a batch deletion on to the registrations matching its ids; `None` when none
    /// matches. Every entity is deleted locally too.
    pub(super) async fn forward_deletion(
        req: &HttpRequest,
        state: &AppState,
        tenant: &Tenant,
        params: &Params,
        ids: &[String],
    ) -> Result<Option<Self>, ApiError> {
        let entries: Vec<BatchEntry<'_>> = ids
            .iter()
            .map(|id| BatchEntry {
                id,
                types: &[],
                body: None,
                names: &[],
            })
            .collect();
        let kind = BatchKind::Delete;
        let distribution = distribution_of(req, state, params).await?;
        if !state.broker.may_distribute(tenant, &distribution) {
            return Ok(None);
        }
        let forwarded = Self::send(state, tenant, &distribution, kind, &entries).await?;
        Ok(forwarded.map(|f| Self::new(f, ids.to_vec(), kind)))
    }

    async fn send(
        state: &AppState,
        tenant: &Tenant,
        distribution: &Distribution,
        kind: BatchKind,
        entries: &[BatchEntry<'_>],
    ) -> Result<Option<ForwardedBatch>, ApiError> {
        Ok(state
            .broker
            .forward_batch(tenant, kind, entries, distribution)
            .await?)
    }

    fn new(forwarded: ForwardedBatch, order: Vec<String>, kind: BatchKind) -> Self {
        let mut held_elsewhere = HashSet::new();
        for part in &forwarded.parts {
            if kind == BatchKind::Delete && !part.owner {
                continue;
            }
            held_elsewhere.extend(part.succeeded.iter().cloned());
        }
        Self {
            parts: forwarded.parts,
            order,
            held_elsewhere,
        }
    }

    /// Joins the sources' results with the local outcome.
    pub(super) fn merge(self, local: Outcome) -> Outcome {
        let mut errors: Vec<Value> = local
            .errors
            .into_iter()
            .filter(|e| {
                let id = e["entityId"].as_str().unwrap_or_default();
                !(self.held_elsewhere.contains(id) && is_not_found(&e["error"]))
            })
            .collect();
        let mut done: HashSet<&str> = local.success.iter().map(String::as_str).collect();
        let mut created: Vec<String> = local.created.clone();
        for part in &self.parts {
            done.extend(part.succeeded.iter().map(String::as_str));
            for id in &part.created {
                if !created.contains(id) {
                    created.push(id.clone());
                }
            }
            for (id, failure) in &part.failed {
                let (status, mut problem) = failure_problem(failure);
                problem["status"] = json!(status.as_u16());
                errors.push(json!({
                    "entityId": id,
                    "registrationId": part.registration,
                    "error": problem,
                }));
            }
        }
        let mut success: Vec<String> = Vec::new();
        for id in &self.order {
            if done.contains(id.as_str()) && !success.contains(id) {
                success.push(id.clone());
            }
        }
        Outcome {
            success,
            created,
            errors,
        }
    }
}

/// The answer to a purge that sources took part in: 204 when every part succeeded; the
/// lone source's failure when nothing was purged locally; else 207 with a
/// BatchOperationResult holding an error per failed registration (its `entityId` the
/// entity the registration names, else the registration itself: a purge names no entity).
/// A tenant the broker does not hold locally is no failure when a source purged.
pub(super) fn respond_purge(
    parts: &[PurgePart],
    local: Result<usize, BrokerError>,
) -> Result<HttpResponse, ApiError> {
    let source_done = parts.iter().any(|p| p.outcome.is_ok());
    let purged_locally = match local {
        Ok(n) => n > 0,
        Err(BrokerError::NonexistentTenant(_)) if source_done => false,
        Err(e) => return Err(e.into()),
    };
    let failed: Vec<&PurgePart> = parts.iter().filter(|p| p.outcome.is_err()).collect();
    if failed.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    let mut errors = Vec::new();
    for part in &failed {
        let Err(failure) = &part.outcome else {
            continue;
        };
        if let ([_], false, false) = (parts, purged_locally, source_done) {
            let (status, problem) = failure_problem(failure);
            return Ok(HttpResponse::build(status)
                .content_type("application/json")
                .json(problem));
        }
        let (status, mut problem) = failure_problem(failure);
        problem["status"] = json!(status.as_u16());
        let named = if part.ids.is_empty() {
            vec![part.registration.clone()]
        } else {
            part.ids.clone()
        };
        for id in named {
            errors.push(json!({
                "entityId": id,
                "registrationId": part.registration,
                "error": problem,
            }));
        }
    }
    Ok(HttpResponse::MultiStatus().json(json!({"success": [], "errors": errors})))
}

/// How a batch may be distributed. Entities written as JSON-LD carry their @context to the
/// sources; a Link header's travels as a Link.
async fn distribution_of(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
) -> Result<Distribution, ApiError> {
    let ctx = context::from_link(req, &state.resolver).await?;
    crate::distribution::of(req, params, &ctx)
}

/// Whether a local BatchEntityError's ProblemDetails says the entity is not there.
fn is_not_found(problem: &Value) -> bool {
    let kind = ApiError::Broker(BrokerError::EntityNotFound(String::new())).problem_body();
    problem.get("type") == kind.get("type")
}
