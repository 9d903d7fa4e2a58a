//! Rewrites applied to a context before json-ld processes it.

use serde_json::Value;

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
