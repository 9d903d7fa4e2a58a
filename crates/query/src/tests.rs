//! Crate-level checks: the public types can be shared across threads, and errors map to the
//! spec's error kinds.

use rigel_model::ErrorKind;

use crate::{GeoQuery, IdPattern, Language, OrderBy, QExpr, QueryError, ScopeExpr, TypeExpr};

fn shareable<T: Send + Sync + Clone + std::fmt::Debug>() {}

#[test]
fn parsed_queries_can_be_shared_across_threads() {
    shareable::<QExpr>();
    shareable::<TypeExpr>();
    shareable::<ScopeExpr>();
    shareable::<GeoQuery>();
    shareable::<OrderBy>();
    shareable::<IdPattern>();
    shareable::<QueryError>();
}

#[test]
fn syntax_and_semantic_errors_are_bad_request_data_and_bounds_too_complex_query() {
    let syntax = QueryError::Syntax {
        language: Language::Q,
        position: 3,
        found: "end of input".into(),
        message: "expected a value".into(),
    };
    assert_eq!(syntax.kind(), ErrorKind::BadRequestData);
    assert_eq!(
        syntax.to_string(),
        "invalid q: expected a value at position 3 (found end of input)"
    );
    assert_eq!(
        QueryError::invalid(Language::Geo, "x").kind(),
        ErrorKind::BadRequestData
    );
    let bound = QueryError::too_complex(Language::Scope, "too deep");
    assert_eq!(bound.kind(), ErrorKind::TooComplexQuery);
    assert_eq!(bound.to_string(), "scopeQ is too complex: too deep");
    assert_eq!(bound.position(), None);
}
