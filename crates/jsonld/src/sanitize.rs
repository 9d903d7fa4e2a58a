//! Rewrites applied to a context before json-ld processes it.

use json_ld::syntax::{Parse, TryFromJson};
use serde_json::Value;

use crate::core::core_context;

/// The json-ld form of a context document `{"@context": context}` (fetched or hosted):
/// other members of the original document are dropped (JSON-LD ignores them), scoped
/// contexts removed, and the @context syntax checked, so that only usable documents are
/// stored. The error is a description of what is wrong.
pub(crate) fn prepare_document(context: &Value) -> Result<json_ld::syntax::Value, String> {
    let mut context = if Some(context) == core_context().get("@context") {
        // A mirror of the core context (e.g. a conformance-test server's copy): the core is
        // already applied, with precedence, so it contributes nothing here. Processing it
        // as a user context would make its `@protected` flag reject later definitions.
        Value::Object(serde_json::Map::new())
    } else {
        context.clone()
    };
    strip_scoped_contexts(&mut context);
    let text = serde_json::json!({ "@context": context }).to_string();
    let (document, _) = json_ld::syntax::Value::parse_str(&text).map_err(|e| e.to_string())?;
    let context = document
        .as_object()
        .and_then(|o| o.get_unique("@context").ok().flatten());
    if let Some(context) = context {
        json_ld::syntax::context::Context::try_from_json(context.clone())
            .map_err(|e| e.to_string())?;
    }
    Ok(document)
}

/// Removes scoped contexts (an `@context` member inside an expanded term definition),
/// in place, from a local context value (object, or array of contexts).
///
/// Clause 5.5.7 says user @contexts should not contain scoped contexts, because they could
/// reshape terms *inside* attribute values. This broker expands terms only at the top
/// level of NGSI-LD documents, against the top-level context, so a scoped context can
/// never take effect here; rejecting them would make common published vocabularies (W3C
/// security and credentials contexts, and the core context itself, whose `ngsildproof`
/// term has one) unusable. Dropping them also means their remote references are never
/// fetched.
pub(crate) fn strip_scoped_contexts(context: &mut Value) {
    match context {
        Value::Array(items) => items.iter_mut().for_each(strip_scoped_contexts),
        Value::Object(map) => {
            for (key, definition) in map.iter_mut() {
                if key.starts_with('@') {
                    continue;
                }
                if let Value::Object(definition) = definition {
                    definition.remove("@context");
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scoped_contexts_are_removed_from_term_definitions_only() {
        let mut context = json!([
            {"a": {"@id": "http://x/a", "@context": {"b": "http://x/b"}}, "c": "http://x/c"},
            "http://example.org/ctx.jsonld"
        ]);
        strip_scoped_contexts(&mut context);
        assert_eq!(
            context,
            json!([{"a": {"@id": "http://x/a"}, "c": "http://x/c"}, "http://example.org/ctx.jsonld"])
        );
    }
}
