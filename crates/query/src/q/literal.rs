//! Lexing of q values (clause 4.9): JSON strings and numbers (RFC 8259), booleans,
//! DateTime / Date / Time (clause 4.6.3) and unquoted URIs or terms.

use crate::scan::Scanner;
use crate::temporal::{parse_date, parse_date_time, parse_time};
use crate::QueryError;

use super::ast::{Literal, Text};

/// Reads a JSON string starting at the opening quote and returns its decoded text.
pub(super) fn read_quoted(sc: &mut Scanner<'_>) -> Result<String, QueryError> {
    let open = sc.pos();
    sc.bump();
    let mut escaped = false;
    loop {
        match sc.bump() {
            None => return Err(sc.error_at(open, "unterminated string")),
            Some('\\') if !escaped => escaped = true,
            Some('"') if !escaped => break,
            Some(_) => escaped = false,
        }
    }
    let text = sc.slice(open, sc.pos());
    serde_json::from_str::<String>(text)
        .map_err(|e| sc.error_at(open, format!("invalid JSON string: {e}")))
}

/// Whether `s` is a number per RFC 8259 section 6.
pub(super) fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Types an unquoted token: `true`/`false`, a number, a DateTime, a Date, a Time, otherwise
/// a word (a URI, or a term for `expandValues`).
pub(super) fn classify(token: &str, expand: &dyn Fn(&str) -> Option<String>) -> Literal {
    match token {
        "true" => return Literal::Bool(true),
        "false" => return Literal::Bool(false),
        _ => {}
    }
    if is_json_number(token) {
        if let Ok(n) = token.parse::<f64>() {
            if n.is_finite() {
                return Literal::Number(n);
            }
        }
    }
    if let Some(t) = parse_date_time(token) {
        return Literal::DateTime(t);
    }
    if let Some(d) = parse_date(token) {
        return Literal::Date(d);
    }
    if let Some(t) = parse_time(token) {
        return Literal::Time(t);
    }
    Literal::Word(text(token, expand))
}

/// A string literal with its expansion (if the caller expands and it differs).
pub(super) fn text(raw: &str, expand: &dyn Fn(&str) -> Option<String>) -> Text {
    Text {
        raw: raw.to_owned(),
        expanded: expand(raw),
    }
}

/// Whether a literal may be compared with `>`, `<`, ranges (production `ComparableValue`).
pub(super) fn is_comparable(l: &Literal) -> bool {
    matches!(
        l,
        Literal::Number(_)
            | Literal::Str(_)
            | Literal::DateTime(_)
            | Literal::Date(_)
            | Literal::Time(_)
    )
}

/// Whether two range bounds have the same type.
pub(super) fn same_type(a: &Literal, b: &Literal) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}
