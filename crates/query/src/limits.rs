//! Bounds on query size and shape, so a hostile query costs bounded parse and match time
//! (beyond them: `TooComplexQuery`).

use crate::{Language, QueryError};

/// Longest accepted query text, in bytes (well above any URI a server accepts, so only
/// POST bodies can reach it).
pub(crate) const MAX_INPUT_LEN: usize = 16 * 1024;
/// Deepest nesting of parentheses and linked-entity braces.
pub(crate) const MAX_DEPTH: usize = 32;
/// Most query terms (or type names, or scope patterns) in one expression.
pub(crate) const MAX_TERMS: usize = 256;
/// Most values in one `==a,b,c` list.
pub(crate) const MAX_LIST_VALUES: usize = 1024;
/// Most segments in one attribute path (dotted names plus trailing members).
pub(crate) const MAX_PATH_SEGMENTS: usize = 32;
/// Compiled size limit of one regular expression, in bytes.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Lazy DFA cache limit of one regular expression, in bytes.
pub(crate) const REGEX_DFA_LIMIT: usize = 2 << 20;
/// Deepest nesting inside one regular expression.
pub(crate) const REGEX_NEST_LIMIT: u32 = 64;
/// Most positions in one query geometry.
pub(crate) const MAX_POSITIONS: usize = 10_000;

/// Refuses inputs longer than [`MAX_INPUT_LEN`].
pub(crate) fn check_length(input: &str, language: Language) -> Result<(), QueryError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(QueryError::too_complex(
            language,
            format!("{} bytes long, the limit is {MAX_INPUT_LEN}", input.len()),
        ));
    }
    Ok(())
}
