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
mod discovery;
mod downgrade;
mod recompact;
mod request;
mod temporal;
mod write;

use rigel_broker::federation::{
    BatchAnswer, ContextSources, Discovered, RetrieveBy, SourceBatch, SourceCall, SourceDiscovery,
    SourceError, SourcePurge, SourceQuery, SourceRetrieve, SourceTemporal, SourceTemporalQuery,
    SourceWrite,
};
use rigel_egress::{Call, Egress, EgressError, Method, Url};
use rigel_model::Entity;
use serde_json::Value;

use recompact::Spoken;
use request::{batch_query, compact_list, encoded, query_strings};

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
    /// Resolves a registration's `jsonldContext` (4.3.6.6); without it, none is applied.
    resolver: Option<rigel_jsonld::ContextResolver>,
}

impl HttpSources {
    pub fn new(egress: Egress) -> Self {
        Self {
            egress,
            resolver: None,
        }
    }

    /// Sources spoken to in their registration's `jsonldContext` when it names one.
    pub fn with_resolver(mut self, resolver: rigel_jsonld::ContextResolver) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// The @context the registration's source is spoken to with.
    async fn spoken(&self, call: &SourceCall<'_>) -> Result<Spoken, SourceError> {
        Spoken::of(call, self.resolver.as_ref()).await
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
        // management.localOnly (5.2.34): the source acts on its own data only (4.3.6.4).
        let local_only = call
            .registration
            .management
            .as_ref()
            .and_then(|m| m.local_only)
            == Some(true);
        let local = [("local", "true".to_owned())];
        let query: Vec<&(&str, String)> = query
            .iter()
            .chain(local.iter().filter(|_| local_only))
            .collect();
        if !query.is_empty() {
            let text: Vec<String> = query
                .iter()
                .map(|(name, value)| format!("{}={}", encoded(name), encoded(value)))
                .collect();
            url.set_query(Some(&text.join("&")));
        }
        // contextSourceInfo `accept` and `contentType` (4.3.6.6): how the source answers,
        // and whether a body carries its @context (JSON-LD) or travels with Link (JSON).
        let info = |key: &str| {
            call.registration
                .context_source_info
                .iter()
                .flatten()
                .find(|p| p.key == key)
                .map(|p| p.value.as_str())
                .filter(|v| matches!(*v, JSON | JSON_LD))
        };
        let body = body.map(|b| as_content_type(b, info("contentType"), call.link));
        let body = body.as_ref();
        let mut headers = vec![
            (
                "Accept".to_owned(),
                info("accept").unwrap_or(JSON).to_owned(),
            ),
            ("Via".to_owned(), call.via.to_owned()),
        ];
        // A body that carries its @context is JSON-LD, and then no Link may come with it
        // (clause 6.3.5).
        let jsonld = body.is_some_and(carries_context);
        if let (Some(link), false) = (call.link, jsonld) {
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
            let media = if jsonld {
                "application/ld+json"
            } else {
                "application/json"
            };
            headers.push(("Content-Type".to_owned(), media.to_owned()));
        }
        Ok(Call {
            method,
            url: url.to_string(),
            headers,
            body: body.map(|b| serde_json::to_vec(b).unwrap_or_default()),
            timeout: Some(call.timeout),
        })
    }

    async fn send(&self, request: Call) -> Result<rigel_egress::Answer, SourceError> {
        self.egress.send(request).await.map_err(|e| match e {
            EgressError::Refused(why) => SourceError::Refused(why),
            EgressError::Timeout(t) => SourceError::Timeout(t),
            EgressError::Unreachable(why) => SourceError::Unreachable(why),
            EgressError::TooLarge(n) => SourceError::Invalid(format!("more than {n} bytes")),
        })
    }

    /// The items of a read answering an array of `what`: none for a 404 or an empty
    /// success, and a single object where an array is due is read as one.
    async fn items(&self, request: Call, what: &str) -> Result<Vec<Value>, SourceError> {
        match self.answer(request).await? {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(object @ Value::Object(_)) => Ok(vec![object]),
            Some(other) => Err(SourceError::Invalid(format!(
                "expected an array of {what}, got {other}"
            ))),
        }
    }

    /// The JSON answer of a read; `None` for a 404 or an empty success.
    async fn answer(&self, request: Call) -> Result<Option<Value>, SourceError> {
        let answer = self.send(request).await?;
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

const JSON: &str = "application/json";
const JSON_LD: &str = "application/ld+json";

/// A body in the content type a registration asks for: without `@context` members for
/// JSON (the @context then travels in Link), with the client's @context for JSON-LD; as
/// it is otherwise, or when the client's @context has no URL to put in a Link.
fn as_content_type(body: &Value, wanted: Option<&str>, link: Option<&str>) -> Value {
    let set = |item: &Value, context: Option<Value>| match item {
        Value::Object(o) => {
            let mut o = o.clone();
            match context {
                Some(c) => {
                    o.entry("@context").or_insert(c);
                }
                None => {
                    o.remove("@context");
                }
            }
            Value::Object(o)
        }
        other => other.clone(),
    };
    let context = match (wanted, link) {
        (Some(JSON), Some(_)) => None,
        (Some(JSON_LD), _) => Some(Value::String(
            link.unwrap_or(rigel_jsonld::CORE_CONTEXT_URL).to_owned(),
        )),
        _ => return body.clone(),
    };
    match body {
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| set(i, context.clone())).collect())
        }
        other => set(other, context),
    }
}

/// Whether a request body carries its own @context: an object with `@context`, or an
/// array of them.
fn carries_context(body: &Value) -> bool {
    match body {
        Value::Object(o) => o.contains_key("@context"),
        Value::Array(items) => {
            !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.as_object().is_some_and(|o| o.contains_key("@context")))
        }
        _ => false,
    }
}

#[async_trait::async_trait]
impl ContextSources for HttpSources {
    async fn admit(&self, endpoint: &str) -> Result<(), String> {
        self.egress.admit(endpoint).await.map_err(|e| e.to_string())
    }

    async fn retrieve(
        &self,
        call: &SourceCall<'_>,
        request: &SourceRetrieve<'_>,
    ) -> Result<Option<Entity>, SourceError> {
        let spoken = self.spoken(call).await?;
        let call = &spoken.call(call);
        let names = |iris: &[String]| compact_list(iris, call.terms);
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

    async fn write(
        &self,
        call: &SourceCall<'_>,
        request: &SourceWrite<'_>,
    ) -> Result<(), SourceError> {
        self.send_write(call, request).await
    }
    async fn batch(
        &self,
        call: &SourceCall<'_>,
        request: &SourceBatch<'_>,
    ) -> Result<BatchAnswer, SourceError> {
        self.send_batch(call, request).await
    }
    async fn purge(
        &self,
        call: &SourceCall<'_>,
        request: &SourcePurge<'_>,
    ) -> Result<(), SourceError> {
        self.send_purge(call, request).await
    }
    async fn retrieve_temporal(
        &self,
        call: &SourceCall<'_>,
        request: &SourceTemporal<'_>,
    ) -> Result<Option<rigel_storage::EntityHistory>, SourceError> {
        let spoken = self.spoken(call).await?;
        let call = &spoken.call(call);
        let query = temporal::query_string(request.query, call.terms);
        let outgoing = self.get(call, &["temporal", "entities", request.id], &query)?;
        match self.answer(outgoing).await? {
            None => Ok(None),
            Some(body) => temporal::history(&body, call.terms).map(Some),
        }
    }

    async fn query_temporal(
        &self,
        call: &SourceCall<'_>,
        request: &SourceTemporalQuery<'_>,
    ) -> Result<Vec<rigel_storage::EntityHistory>, SourceError> {
        let spoken = self.spoken(call).await?;
        let call = &spoken.call(call);
        let entities = &request.entities;
        let attrs = (!entities.attributes.is_empty()).then(|| {
            entities
                .attributes
                .iter()
                .map(|iri| call.terms.compact(iri).into_owned())
                .collect::<Vec<_>>()
        });
        let range: Vec<(&str, String)> = temporal::query_string(request.history, call.terms)
            .into_iter()
            .filter(|(name, _)| *name != "attrs")
            .collect();
        let mut found = Vec::new();
        // One request per entity selector, as for Query Entities.
        for mut query in query_strings(
            entities.query,
            entities.ids,
            attrs.as_deref(),
            entities.extra,
            call.terms,
        ) {
            query.extend(range.iter().cloned());
            query.push(("limit", entities.limit.to_string()));
            let outgoing = self.get(call, &["temporal", "entities"], &query)?;
            let items = self.items(outgoing, "temporal entities").await?;
            for item in items.iter().take(entities.limit) {
                found.push(temporal::history(item, call.terms)?);
            }
        }
        Ok(found)
    }

    async fn discover(
        &self,
        call: &SourceCall<'_>,
        request: SourceDiscovery<'_>,
    ) -> Result<Discovered, SourceError> {
        let spoken = self.spoken(call).await?;
        let call = &spoken.call(call);
        let compact = |iri: &str| call.terms.compact(iri).into_owned();
        let details = [("details", "true".to_owned())];
        let outgoing = match request {
            SourceDiscovery::Types => self.get(call, &["types"], &[])?,
            SourceDiscovery::TypeDetails => self.get(call, &["types"], &details)?,
            SourceDiscovery::TypeInfo(iri) => self.get(call, &["types", &compact(iri)], &[])?,
            SourceDiscovery::Attributes => self.get(call, &["attributes"], &[])?,
            SourceDiscovery::AttributeDetails => self.get(call, &["attributes"], &details)?,
            SourceDiscovery::AttributeInfo(iri) => {
                self.get(call, &["attributes", &compact(iri)], &[])?
            }
        };
        let body = self.answer(outgoing).await?;
        discovery::read(request, body, call.terms)
    }

    async fn query(
        &self,
        call: &SourceCall<'_>,
        request: &SourceQuery<'_>,
    ) -> Result<Vec<Entity>, SourceError> {
        let spoken = self.spoken(call).await?;
        let call = &spoken.call(call);
        let attrs = (!request.attributes.is_empty()).then(|| {
            request
                .attributes
                .iter()
                .map(|iri| call.terms.compact(iri).into_owned())
                .collect::<Vec<_>>()
        });
        if request.batch {
            let body = batch_query(request, attrs.as_deref(), call.terms);
            let query = [
                ("options", "sysAttrs".to_owned()),
                ("limit", request.limit.to_string()),
            ];
            let path = ["entityOperations", "query"];
            let outgoing = self.request(call, Method::POST, &path, &query, Some(&body))?;
            return self.entities(outgoing, call, request.limit).await;
        }
        // A GET query takes one entity selector: one request per selector.
        let mut found = Vec::new();
        for mut query in query_strings(
            request.query,
            request.ids,
            attrs.as_deref(),
            request.extra,
            call.terms,
        ) {
            query.push(("options", "sysAttrs".to_owned()));
            query.push(("limit", request.limit.to_string()));
            let outgoing = self.get(call, &["entities"], &query)?;
            found.extend(self.entities(outgoing, call, request.limit).await?);
        }
        Ok(found)
    }
}

impl HttpSources {
    /// The entities of a query's answer, at most `limit`.
    async fn entities(
        &self,
        outgoing: Call,
        call: &SourceCall<'_>,
        limit: usize,
    ) -> Result<Vec<Entity>, SourceError> {
        let items = self.items(outgoing, "entities").await?;
        items
            .iter()
            .take(limit)
            .map(|e| answer::entity(e, call.terms))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_body_takes_the_content_type_the_registration_asks_for() {
        let link = Some("http://ctx.example/ctx.jsonld");
        let bare = json!({"id": "urn:a", "speed": {"type": "Property", "value": 1}});
        let with = as_content_type(&bare, Some(JSON_LD), link);
        assert_eq!(with["@context"], "http://ctx.example/ctx.jsonld");
        assert_eq!(as_content_type(&with, Some(JSON), link), bare);
        // Without a URL for the Link header, the body keeps its @context.
        assert_eq!(as_content_type(&with, Some(JSON), None), with);
        let batch = json!([bare.clone(), bare.clone()]);
        let all = as_content_type(&batch, Some(JSON_LD), None);
        assert_eq!(all[1]["@context"], rigel_jsonld::CORE_CONTEXT_URL);
        assert_eq!(as_content_type(&bare, None, link), bare);
    }
}
