//! Entity and attribute writes, distributed (clauses 5.6.1.4-5.6.6.4, 5.6.19.4): the
//! attributes an exclusive or redirect registration matches go to its source and no longer
//! to the local entity; those an inclusive registration matches go to its source as well as
//! to the local entity. An exclusive or redirect source that does not offer the operation is
//! a Conflict for its attributes; an inclusive one is skipped. A new entity goes to each
//! source with the attributes it takes (merges and replacements alike); a deletion of the
//! entity goes to every source registered for it. What is left is done locally by the
//! caller.

use rigel_model::registration::{Mode, Registration};
use rigel_model::Tenant;
use rigel_query::registration::Wanted;
use rigel_query::TypeExpr;
use serde_json::{Map, Value};

use super::{
    call_to, cooling_down, passed_through, registered_attributes, Distribution, SourceError,
    SourceWarning, SourceWrite, WriteKind,
};
use crate::Broker;

/// An attribute write as the client sent it.
pub struct AttributeWrite<'a> {
    pub id: &'a str,
    pub types: Option<&'a [String]>,
    /// The client's body: an entity fragment, or one attribute's fragment for a
    /// single-attribute write; none for a deletion.
    pub body: Option<&'a Map<String, Value>>,
    /// For each attribute written: its name as the client wrote it, and expanded.
    pub names: &'a [(String, String)],
    /// Partial Attribute update of `names[0]`.
    pub kind: WriteKind,
}

/// How one part of a distributed write went.
#[derive(Debug)]
pub struct WritePart {
    /// The registration whose source got the part.
    pub registration: String,
    /// The attributes of the part, as the client wrote them.
    pub attributes: Vec<String>,
    pub outcome: Result<(), PartFailure>,
}

/// Why a part of a distributed write failed.
#[derive(Debug, Clone, PartialEq)]
pub enum PartFailure {
    /// The source did not take it (6.3.17).
    Source(SourceError),
    /// An exclusive or redirect registration whose source does not offer the operation.
    Unsupported,
    /// The source's own ProblemDetails for one entity of a batch (5.2.17).
    Reported(serde_json::Value),
}

/// What the sources did with a write, and what is left for the local entity.
#[derive(Debug, Default)]
pub struct Forwarded {
    pub parts: Vec<WritePart>,
    /// The attributes (as written) still to write locally.
    pub local: Vec<String>,
    /// Whether an inclusive source took part of the write (the entity may then be missing
    /// locally without that being an error).
    pub shared: bool,
    /// Whether an exclusive or redirect source took part of the write.
    pub owned: bool,
}

impl Broker {
    /// Passes an attribute write on to the sources registrations name; `None` when no
    /// registration matches (the write is local only).
    pub async fn forward_attribute_write(
        &self,
        tenant: &Tenant,
        write: &AttributeWrite<'_>,
        distribution: &Distribution,
    ) -> Result<Option<Forwarded>, crate::BrokerError> {
        self.refuse_loop(tenant, distribution)?;
        // A write that came back is done locally; writes carry no warnings.
        let Some((federation, registry)) = self.distributing(tenant, distribution, &mut Vec::new())
        else {
            return Ok(None);
        };
        let iris: Vec<String> = write.names.iter().map(|(_, iri)| iri.clone()).collect();
        let type_expr = write.types.map(|t| TypeExpr::any_of(t.to_vec()));
        let ids = [write.id.to_owned()];
        let wanted = Wanted {
            types: type_expr.as_ref(),
            ids: Some(&ids),
            attributes: &iris,
            ..Wanted::default()
        };
        let now = self.now();
        let mut ignored: Vec<SourceWarning> = Vec::new();
        let matching: Vec<Registration> = registry
            .matching(tenant, now, |reg| {
                reg.mode() != Mode::Auxiliary
                    && wanted.matches(reg)
                    && !passed_through(reg, &distribution.via)
            })
            .into_iter()
            .collect();
        if matching.is_empty() {
            return Ok(None);
        }
        let operation = write.kind.operation();
        let mut forwarded = Forwarded {
            local: write.names.iter().map(|(k, _)| k.clone()).collect(),
            ..Forwarded::default()
        };
        let mut calls = Vec::new();
        for reg in &matching {
            let taken = registered_attributes(reg, &wanted);
            let keys: Vec<String> = write
                .names
                .iter()
                .filter(|(_, iri)| taken.is_empty() || taken.contains(iri))
                .map(|(k, _)| k.clone())
                .collect();
            // A deletion of the entity goes to every source registered for it.
            let whole_entity = write.kind == WriteKind::DeleteEntity;
            if keys.is_empty() && !whole_entity {
                continue;
            }
            let owner = matches!(reg.mode(), Mode::Exclusive | Mode::Redirect);
            if owner {
                forwarded.local.retain(|k| !keys.contains(k));
            }
            let offered = reg.operation_set().contains(&operation);
            if !offered {
                if owner {
                    forwarded.parts.push(WritePart {
                        registration: reg.id.clone(),
                        attributes: keys,
                        outcome: Err(PartFailure::Unsupported),
                    });
                }
                continue;
            }
            if cooling_down(reg, now, &mut ignored) {
                forwarded.parts.push(WritePart {
                    registration: reg.id.clone(),
                    attributes: keys,
                    outcome: Err(PartFailure::Source(SourceError::Refused(
                        "cooling down after a failure".to_owned(),
                    ))),
                });
                continue;
            }
            forwarded.shared |= !owner;
            forwarded.owned |= owner;
            calls.push((reg, keys));
        }
        let via = self.via_out(tenant, distribution, federation);
        let bodies: Vec<Option<Map<String, Value>>> = calls
            .iter()
            .map(|(_, keys)| {
                write.body.map(|body| {
                    if write.kind.single() {
                        body.clone()
                    } else {
                        // The attributes the registration takes, and every member that
                        // is not an attribute (id, type, scope, @context).
                        body.iter()
                            .filter(|(k, _)| {
                                keys.contains(k) || !write.names.iter().any(|(n, _)| n == *k)
                            })
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    }
                })
            })
            .collect();
        let answers =
            futures::future::join_all(calls.iter().zip(&bodies).map(|((reg, keys), body)| {
                let call = call_to(reg, &via, distribution, federation);
                let request = SourceWrite {
                    id: write.id,
                    kind: &write.kind,
                    attribute: if write.kind.single() {
                        keys.first().map(String::as_str)
                    } else {
                        None
                    },
                    body: body.as_ref(),
                };
                let sources = federation.sources.clone();
                async move { sources.write(&call, &request).await }
            }))
            .await;
        for ((reg, keys), answer) in calls.into_iter().zip(answers) {
            self.record_forward(tenant, reg, answer.is_ok(), now);
            if let Err(e) = &answer {
                tracing::warn!(registration = %reg.id, endpoint = %reg.endpoint, "context source refused a write: {e}");
            }
            forwarded.parts.push(WritePart {
                registration: reg.id.clone(),
                attributes: keys,
                outcome: answer.map_err(PartFailure::Source),
            });
        }
        Ok(Some(forwarded))
    }
}
