//! Tests of the q language (clause 4.9): syntax, operators and values, paths, linked
//! entities, and the query strings clients commonly send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod linked;
mod operators;
mod paths;
mod syntax;
mod typical;

use rigel_model::Entity;

use super::{QExpr, QOptions};
use crate::testkit::Terms;
use crate::QueryError;

fn q(input: &str) -> QExpr {
    QExpr::parse(input, &Terms, &QOptions::default())
        .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}

fn q_with(input: &str, options: &QOptions<'_>) -> QExpr {
    QExpr::parse(input, &Terms, options).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}

fn err(input: &str) -> QueryError {
    match QExpr::parse(input, &Terms, &QOptions::default()) {
        Ok(parsed) => panic!("{input:?} should be refused, parsed as {parsed:?}"),
        Err(e) => e,
    }
}

fn hits(input: &str, e: &Entity) -> bool {
    q(input).matches(e)
}
