//! The broker's calls to context sources over the NGSI-LD HTTP binding (clause 6): each typed
//! call of [`ContextSources`] becomes a request to the registration's endpoint, and the
//! answer an entity again.
//!
//! A forwarded request names types and attributes in the client's short form with the
//! client's @context in a `Link` header, asks for `application/json` with system attributes
//! (the merge compares `modifiedAt`), carries the registration's `tenant` as
//! `NGSILD-Tenant`, its `contextSourceInfo` pairs as headers and the `Via` chain. Answers are
//! read with the @context that was sent.

mod answer;

use rigel_broker::federation::{
    ContextSources, RetrieveBy, SourceCall, SourceError, SourceRetrieve,
};
use rigel_egress::{Call, Egress, EgressError, Method, Url};
use rigel_model::Entity;
use serde_json::Value;

/// Keys of `contextSourceInfo` that tell the broker how to call (clause 4.3.6.6), not
/// headers to send.
const CALL_KEYS: &[&str] = &[
    "jsonldContext",
    "accept",
    "contentType",
    "ngsildConformance",
];

const JSONLD_CONTEXT_REL: &str = "http://www.w3.org/ns/json-ld#context";

/// Context sources reached over HTTP through the broker's egress client.
pub struct HttpSources {
    egress: Egress,
}

impl HttpSources {
    pub fn new(egress: Egress) -> Self {
        Self { egress }
    }

    /// A GET to `path` (segments under `/ngsi-ld/v1/`) at the registration's endpoint.
    fn get(
        &self,
        call: &SourceCall<'_>,
        path: &[&str],
        query: &[(&str, String)],
    ) -> Result<Call, SourceError> {
        self.request(call, Method::GET, path, query, None)
    }

    /// A request to `path` (segments under `/ngsi-ld/v1/`) at the registration's endpoint,
    /// with a JSON body when given.
    fn request(
        &self,
        call: &SourceCall<'_>,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Call, SourceError> {
        let base = call.registration.endpoint.trim_end_matches('/');
        let mut url = Url::parse(base).map_err(|e| SourceError::Refused(format!("{base}: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| SourceError::Refused(format!("{base} cannot take a path")))?
            .pop_if_empty()
            .extend(["ngsi-ld", "v1"])
            .extend(path);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        let mut headers = vec![
            ("Accept".to_owned(), "application/json".to_owned()),
            ("Via".to_owned(), call.via.to_owned()),
        ];
        if let Some(link) = call.link {
            headers.push((
                "Link".to_owned(),
                format!("<{link}>; rel=\"{JSONLD_CONTEXT_REL}\"; type=\"application/ld+json\""),
            ));
        }
        if let Some(tenant) = &call.registration.tenant {
            headers.push(("NGSILD-Tenant".to_owned(), tenant.clone()));
        }
        for pair in call.registration.context_source_info.iter().flatten() {
            if !CALL_KEYS.contains(&pair.key.as_str()) {
                headers.push((pair.key.clone(), pair.value.clone()));
            }
        }
        if body.is_some() {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        Ok(Call {
            method,
            url: url.to_string(),
            headers,
            body: body.map(|b| serde_json::to_vec(b).unwrap_or_default()),
            timeout: Some(call.timeout),
        })
    }

    async fn answer(&self, request: Call) -> Result<Option<Value>, SourceError> {
        let answer = self.egress.send(request).await.map_err(|e| match e {
            EgressError::Refused(why) => SourceError::Refused(why),
            EgressError::Timeout(t) => SourceError::Timeout(t),
            EgressError::Unreachable(why) => SourceError::Unreachable(why),
            EgressError::TooLarge(n) => SourceError::Invalid(format!("more than {n} bytes")),
        })?;
        match answer.status {
            404 => Ok(None),
            200..=299 if answer.body.is_empty() => Ok(None),
            200..=299 => serde_json::from_slice(&answer.body)
                .map(Some)
                .map_err(|e| SourceError::Invalid(e.to_string())),
            status => Err(SourceError::Status(status)),
        }
    }
}

#[async_trait::async_trait]
impl ContextSources for HttpSources {
    async fn retrieve(
        &self,
        call: &SourceCall<'_>,
        request: &SourceRetrieve<'_>,
    ) -> Result<Option<Entity>, SourceError> {
        let names = |iris: &[String]| {
            iris.iter()
                .map(|iri| call.terms.compact(iri).into_owned())
                .collect::<Vec<_>>()
                .join(",")
        };
        let outgoing = match request.by {
            RetrieveBy::QueryBatch => {
                let mut selector = serde_json::Map::new();
                selector.insert("id".into(), Value::String(request.id.to_owned()));
                if !request.types.is_empty() {
                    selector.insert("type".into(), Value::String(names(request.types)));
                }
                let mut query = serde_json::json!({"type": "Query", "entities": [selector]});
                if !request.attributes.is_empty() {
                    let attrs: Vec<String> = request
                        .attributes
                        .iter()
                        .map(|iri| call.terms.compact(iri).into_owned())
                        .collect();
                    query["attrs"] = serde_json::json!(attrs);
                }
                let options = [("options", "sysAttrs".to_owned())];
                let path = ["entityOperations", "query"];
                self.request(call, Method::POST, &path, &options, Some(&query))?
            }
            by => {
                let mut query = Vec::new();
                if by == RetrieveBy::Query {
                    query.push(("id", request.id.to_owned()));
                }
                if !request.types.is_empty() {
                    query.push(("type", names(request.types)));
                }
                if !request.attributes.is_empty() {
                    query.push(("attrs", names(request.attributes)));
                }
                query.push(("options", "sysAttrs".to_owned()));
                match by {
                    RetrieveBy::Retrieve => self.get(call, &["entities", request.id], &query)?,
                    _ => self.get(call, &["entities"], &query)?,
                }
            }
        };
        let Some(body) = self.answer(outgoing).await? else {
            return Ok(None);
        };
        let found = match body {
            Value::Array(items) => items
                .into_iter()
                .find(|e| e.get("id").and_then(Value::as_str) == Some(request.id)),
            object @ Value::Object(_) => Some(object),
            other => {
                return Err(SourceError::Invalid(format!(
                    "expected an entity, got {other}"
                )))
            }
        };
        found.map(|e| answer::entity(&e, call.terms)).transpose()
    }
}
