//! Speaking to a source in its own @context (clause 4.3.6.6, `contextSourceInfo`
//! `jsonldContext`): every name of a forwarded request compacted with that @context, the
//! request sent as JSON with it in `Link`, and the answer read with it.
//!
//! Query parameters are rendered from the typed query, so they only need the source's
//! terms. Bodies are the client's JSON: their names (entity types, attribute and
//! sub-attribute names, VocabProperty values) are expanded with the client's @context and
//! compacted with the source's, and `@context` members are removed.

use std::sync::Arc;

use rigel_broker::federation::{SourceCall, SourceError};
use rigel_jsonld::{ContextResolver, ResolvedContext};
use rigel_model::codec::parse::RESERVED_ATTRIBUTE_NAMES;
use rigel_model::TermMap;
use serde_json::{Map, Value};

/// Members of an entity whose values hold no names to compact.
const ENTITY_MEMBERS: &[&str] = &[
    "id",
    "@id",
    "scope",
    "createdAt",
    "modifiedAt",
    "deletedAt",
    "expiresAt",
];

/// Members of an attribute besides the reserved names of clause 4.5.1 that are not
/// sub-attributes: its kind, system times and the previous values of notifications.
const ATTRIBUTE_MEMBERS: &[&str] = &[
    "type",
    "createdAt",
    "modifiedAt",
    "deletedAt",
    "expiresAt",
    "previousValue",
    "previousObject",
    "previousLanguageMap",
    "previousVocab",
    "previousJson",
];

/// Whether a member of an attribute is not a sub-attribute.
fn is_member(key: &str) -> bool {
    ATTRIBUTE_MEMBERS.contains(&key) || RESERVED_ATTRIBUTE_NAMES.contains(&key)
}

/// The @context a registration's source is spoken to with, when it names one.
pub(crate) struct Spoken {
    speaking: Option<(Arc<ResolvedContext>, String)>,
}

impl Spoken {
    /// Resolves the registration's `jsonldContext`, if any.
    pub(crate) async fn of(
        call: &SourceCall<'_>,
        resolver: Option<&ContextResolver>,
    ) -> Result<Self, SourceError> {
        let url = call
            .registration
            .context_source_info
            .iter()
            .flatten()
            .find(|p| p.key == "jsonldContext")
            .map(|p| p.value.clone());
        let (Some(url), Some(resolver)) = (url, resolver) else {
            return Ok(Self { speaking: None });
        };
        let terms = resolver
            .resolve(Some(&Value::String(url.clone())))
            .await
            .map_err(|e| SourceError::Refused(format!("its jsonldContext {url}: {e}")))?;
        Ok(Self {
            speaking: Some((terms, url)),
        })
    }

    /// Whether the source has an @context of its own.
    pub(crate) fn active(&self) -> bool {
        self.speaking.is_some()
    }

    /// The call as the source is to get it: its terms and its @context's URL.
    pub(crate) fn call<'a>(&'a self, call: &SourceCall<'a>) -> SourceCall<'a> {
        match &self.speaking {
            Some((terms, url)) => SourceCall {
                registration: call.registration,
                via: call.via,
                terms: terms.as_ref(),
                link: Some(url),
                timeout: call.timeout,
            },
            None => SourceCall { ..*call },
        }
    }

    /// A body in the source's terms (`from`: the client's), without `@context`; as it is
    /// when the source has no @context of its own.
    pub(crate) fn body(&self, body: &Value, from: &dyn TermMap) -> Value {
        match &self.speaking {
            Some((to, _)) => entity_value(body, from, to.as_ref()),
            None => body.clone(),
        }
    }

    /// An attribute fragment (or an attribute's name) in the source's terms.
    pub(crate) fn attribute(&self, body: &Value, from: &dyn TermMap) -> Value {
        match &self.speaking {
            Some((to, _)) => attribute_value(body, from, to.as_ref()),
            None => body.clone(),
        }
    }

    /// A name in the source's terms.
    pub(crate) fn name(&self, name: &str, from: &dyn TermMap) -> String {
        match &self.speaking {
            Some((to, _)) => rename(name, from, to.as_ref()),
            None => name.to_owned(),
        }
    }
}

fn rename(name: &str, from: &dyn TermMap, to: &dyn TermMap) -> String {
    to.compact(&from.expand(name)).into_owned()
}

fn names(value: &Value, from: &dyn TermMap, to: &dyn TermMap) -> Value {
    match value {
        Value::String(s) => Value::String(rename(s, from, to)),
        Value::Array(items) => Value::Array(items.iter().map(|i| names(i, from, to)).collect()),
        other => other.clone(),
    }
}

/// An entity (or a batch of them, or a fragment) in the source's terms.
fn entity_value(body: &Value, from: &dyn TermMap, to: &dyn TermMap) -> Value {
    match body {
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| entity_value(i, from, to)).collect())
        }
        Value::Object(o) => {
            let mut out = Map::new();
            for (key, value) in o {
                match key.as_str() {
                    "@context" => {}
                    "type" | "@type" => {
                        out.insert(key.clone(), names(value, from, to));
                    }
                    k if ENTITY_MEMBERS.contains(&k) => {
                        out.insert(key.clone(), value.clone());
                    }
                    _ => {
                        out.insert(rename(key, from, to), attribute_value(value, from, to));
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// An attribute (one instance or several) in the source's terms.
fn attribute_value(value: &Value, from: &dyn TermMap, to: &dyn TermMap) -> Value {
    match value {
        Value::Array(items) if items.iter().all(Value::is_object) => {
            Value::Array(items.iter().map(|i| attribute_value(i, from, to)).collect())
        }
        Value::Object(o) => {
            let mut out = Map::new();
            for (key, member) in o {
                match key.as_str() {
                    "@context" => {}
                    "vocab" => {
                        out.insert(key.clone(), names(member, from, to));
                    }
                    k if is_member(k) => {
                        out.insert(key.clone(), member.clone());
                    }
                    _ => {
                        out.insert(rename(key, from, to), attribute_value(member, from, to));
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde_json::json;

    use super::*;

    /// Terms `a` and `b` for the same two IRIs.
    struct Prefixed(&'static str);

    impl TermMap for Prefixed {
        fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
            match term.strip_prefix(self.0) {
                Some(rest) => Cow::Owned(format!("urn:x:{rest}")),
                None => Cow::Borrowed(term),
            }
        }

        fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
            match iri.strip_prefix("urn:x:") {
                Some(rest) => Cow::Owned(format!("{}{rest}", self.0)),
                None => Cow::Borrowed(iri),
            }
        }
    }

    #[test]
    fn every_name_of_a_body_changes_to_the_sources_terms() {
        let client = Prefixed("c_");
        let source = Prefixed("s_");
        let body = json!({
            "id": "urn:e:1", "type": "c_Car", "@context": "http://client/ctx",
            "c_speed": {"type": "Property", "value": 5, "c_accuracy": {"type": "Property", "value": 1}},
            "c_mode": [{"type": "VocabProperty", "vocab": "c_fast", "datasetId": "urn:d:1"}]
        });
        let out = entity_value(&body, &client, &source);
        assert_eq!(
            out,
            json!({
                "id": "urn:e:1", "type": "s_Car",
                "s_speed": {"type": "Property", "value": 5, "s_accuracy": {"type": "Property", "value": 1}},
                "s_mode": [{"type": "VocabProperty", "vocab": "s_fast", "datasetId": "urn:d:1"}]
            })
        );
    }
}
