//! Writes passed on to a source over the HTTP binding: single-entity writes (clauses
//! 5.6.1-5.6.6, 5.6.17-5.6.19), batches (5.6.7-5.6.10, 5.6.20) and purges (5.6.21), each
//! answered with success or the reason it failed.

use rigel_broker::federation::{
    BatchAnswer, BatchKind, SourceBatch, SourceCall, SourceError, SourcePurge, SourceWrite,
    WriteKind,
};
use rigel_egress::Method;
use serde_json::Value;

use crate::request::{compact_list, query_strings};
use crate::{answer, downgrade, HttpSources};

impl HttpSources {
    pub(crate) async fn send_write(
        &self,
        call: &SourceCall<'_>,
        request: &SourceWrite<'_>,
    ) -> Result<(), SourceError> {
        let client = call.terms;
        let spoken = self.spoken(call).await?;
        let call = &spoken.call(call);
        // The @context travels in the body when the client wrote it there, else in Link;
        // in the source's own @context, the body's names are compacted with it.
        let older = downgrade::of(call.registration);
        let body = request.body.map(|b| {
            let body = Value::Object(b.clone());
            match (request.attribute, older) {
                (Some(_), None) => spoken.attribute(&body, client),
                (Some(_), Some(v)) => downgrade::attribute(&spoken.attribute(&body, client), v),
                (None, None) => spoken.body(&body, client),
                (None, Some(v)) => downgrade::entity(&spoken.body(&body, client), v),
            }
        });
        let attribute = request.attribute.map(|name| spoken.name(name, client));
        let mut path = vec!["entities"];
        match request.kind {
            WriteKind::CreateEntity => {}
            WriteKind::DeleteEntity | WriteKind::MergeEntity | WriteKind::ReplaceEntity => {
                path.push(request.id)
            }
            _ => path.extend([request.id, "attrs"]),
        }
        if let Some(name) = &attribute {
            path.push(name);
        }
        let mut query: Vec<(&str, String)> = Vec::new();
        let method = match request.kind {
            WriteKind::Update | WriteKind::PartialUpdate | WriteKind::MergeEntity => Method::PATCH,
            WriteKind::ReplaceEntity => Method::PUT,
            WriteKind::Append { no_overwrite } => {
                if *no_overwrite {
                    query.push(("options", "noOverwrite".to_owned()));
                }
                Method::POST
            }
            WriteKind::ReplaceAttribute => Method::PUT,
            WriteKind::DeleteAttribute {
                dataset_id,
                delete_all,
            } => {
                if let Some(d) = dataset_id {
                    query.push(("datasetId", d.clone()));
                }
                if *delete_all {
                    query.push(("deleteAll", "true".to_owned()));
                }
                Method::DELETE
            }
            WriteKind::DeleteEntity => Method::DELETE,
            WriteKind::CreateEntity => Method::POST,
        };
        let outgoing = self.request(call, method, &path, &query, body.as_ref())?;
        // A write succeeds with 204 (or any 2xx but a partial 207); 404 and the rest fail.
        match self.send(outgoing).await?.status {
            207 => Err(SourceError::Status(207)),
            200..=299 => Ok(()),
            status => Err(SourceError::Status(status)),
        }
    }

    pub(crate) async fn send_batch(
        &self,
        call: &SourceCall<'_>,
        request: &SourceBatch<'_>,
    ) -> Result<BatchAnswer, SourceError> {
        let client = call.terms;
        let spoken = self.spoken(call).await?;
        let call = &spoken.call(call);
        let (operation, options) = match request.kind {
            BatchKind::Create => ("create", None),
            BatchKind::Upsert { update } => ("upsert", update.then_some("update")),
            BatchKind::Update { no_overwrite } => ("update", no_overwrite.then_some("noOverwrite")),
            BatchKind::Delete => ("delete", None),
            BatchKind::Merge => ("merge", None),
        };
        let query: Vec<(&str, String)> = options
            .map(|o| ("options", o.to_owned()))
            .into_iter()
            .collect();
        let mut entities = Vec::with_capacity(request.entities.len());
        for item in request.entities {
            // A JSON-LD item is written in its own @context.
            let own = match (spoken.active(), item.get("@context"), &self.resolver) {
                (true, Some(context), Some(resolver)) => Some(
                    resolver
                        .resolve(Some(context))
                        .await
                        .map_err(|e| SourceError::Invalid(e.to_string()))?,
                ),
                _ => None,
            };
            let from: &dyn rigel_model::TermMap = match &own {
                Some(terms) => terms.as_ref(),
                None => client,
            };
            entities.push(spoken.body(item, from));
        }
        let body = match downgrade::of(call.registration) {
            Some(v) => downgrade::entity(&Value::Array(entities), v),
            None => Value::Array(entities),
        };
        let path = ["entityOperations", operation];
        let outgoing = self.request(call, Method::POST, &path, &query, Some(&body))?;
        let answer = self.send(outgoing).await?;
        answer::batch(*request.kind, request.ids, answer.status, &answer.body)
    }

    pub(crate) async fn send_purge(
        &self,
        call: &SourceCall<'_>,
        request: &SourcePurge<'_>,
    ) -> Result<(), SourceError> {
        let spoken = self.spoken(call).await?;
        let call = &spoken.call(call);
        let names = |iris: &[String]| compact_list(iris, call.terms);
        // A purge names one selector (its own parameters).
        let mut query = query_strings(request.query, request.ids, None, request.extra, call.terms)
            .into_iter()
            .next()
            .unwrap_or_default();
        if !request.drop.is_empty() {
            query.push(("drop", names(request.drop)));
        }
        if !request.keep.is_empty() {
            query.push(("keep", names(request.keep)));
        }
        let outgoing = self.request(call, Method::DELETE, &["entities"], &query, None)?;
        match self.send(outgoing).await?.status {
            207 => Err(SourceError::Status(207)),
            200..=299 => Ok(()),
            status => Err(SourceError::Status(status)),
        }
    }
}
