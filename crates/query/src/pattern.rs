//! Bounded regular expressions for `~=` / `!~=` (clause 4.9) and idPattern: linear-time
//! matching with compiled-size and nesting limits.

use regex::{Regex, RegexBuilder};

use crate::limits::{REGEX_DFA_LIMIT, REGEX_NEST_LIMIT, REGEX_SIZE_LIMIT};
use crate::{Language, QueryError};

/// Compiles `pattern`; a malformed one is `BadRequestData`, an oversized one
/// `TooComplexQuery`.
pub(crate) fn compile(pattern: &str, language: Language) -> Result<Regex, QueryError> {
    if let Some(at) = stacked_repetition(pattern) {
        return Err(QueryError::invalid(
            language,
            format!(
                "invalid regular expression {pattern:?}: repetition operators follow each other \
                 at position {at} (undefined in POSIX regular expressions)"
            ),
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => QueryError::too_complex(
                language,
                format!("regular expression {pattern:?} compiles to more than {limit} bytes"),
            ),
            regex::Error::Syntax(detail) if detail.contains("nest limit") => {
                QueryError::too_complex(
                    language,
                    format!("regular expression {pattern:?} nests too deeply"),
                )
            }
            regex::Error::Syntax(detail) => QueryError::invalid(
                language,
                format!(
                    "invalid regular expression {pattern:?}: {}",
                    detail.lines().last().unwrap_or("syntax error").trim()
                ),
            ),
            other => QueryError::invalid(
                language,
                format!("invalid regular expression {pattern:?}: {other}"),
            ),
        })
}

/// The character position of a `*` or `+` right after another repetition (`a**`, `a+*`,
/// `a{2}+`): POSIX leaves it undefined and the `regex` crate would accept it silently. A `?`
/// after a repetition (lazy) is left alone.
fn stacked_repetition(pattern: &str) -> Option<usize> {
    let mut escaped = false;
    let mut in_class = false;
    let mut after_repetition = false;
    let mut prev = '\0';
    for (i, c) in pattern.chars().enumerate() {
        if escaped {
            escaped = false;
            after_repetition = false;
        } else if in_class {
            in_class = c != ']';
        } else {
            match c {
                '\\' => {
                    escaped = true;
                    after_repetition = false;
                }
                '[' => {
                    in_class = true;
                    after_repetition = false;
                }
                '*' | '+' if after_repetition => return Some(i),
                '*' | '+' | '}' => after_repetition = true,
                // `(?` opens flags or a group kind, not a repetition.
                '?' => after_repetition = prev != '(',
                _ => after_repetition = false,
            }
        }
        prev = c;
    }
    None
}
