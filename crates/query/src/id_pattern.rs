//! Entity id patterns (`idPattern`, clauses 5.7.2 and 6.4.3.2): a regular expression an
//! entity id must match, with search semantics like POSIX `regexec` (anchor with `^...$`).

use regex::Regex;

use crate::limits::check_length;
use crate::{pattern, Language, QueryError};

#[cfg(test)]
mod tests;

/// A compiled id pattern.
#[derive(Debug, Clone)]
pub struct IdPattern {
    regex: Regex,
    prefix: String,
}

impl IdPattern {
    /// Compiles `p` with bounded size; a malformed pattern is `BadRequestData`.
    pub fn parse(p: &str) -> Result<IdPattern, QueryError> {
        check_length(p, Language::IdPattern)?;
        let regex = pattern::compile(p, Language::IdPattern)?;
        Ok(IdPattern {
            regex,
            prefix: literal_prefix(p),
        })
    }

    /// Whether `id` matches (anywhere, unless the pattern is anchored).
    pub fn matches(&self, id: &str) -> bool {
        self.regex.is_match(id)
    }

    /// A literal every matching id starts with ("" if none is known), for a key-range scan.
    /// Only `^`-anchored patterns without alternation have one.
    pub fn literal_prefix(&self) -> String {
        self.prefix.clone()
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }
}

/// The literal characters after a leading `^`, up to the first metacharacter; a character
/// made optional or repeatable by the quantifier after it is left out.
fn literal_prefix(p: &str) -> String {
    let Some(rest) = p.strip_prefix('^') else {
        return String::new();
    };
    // Any `|` may be a top-level alternation; staying conservative keeps the prefix exact.
    if p.contains('|') {
        return String::new();
    }
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        let literal = match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => e,
                _ => break,
            },
            '.' | '[' | ']' | '(' | ')' | '*' | '+' | '?' | '{' | '}' | '^' | '$' => break,
            c => c,
        };
        match chars.peek() {
            Some('*' | '?' | '{') => break,
            Some('+') => {
                out.push(literal);
                break;
            }
            _ => out.push(literal),
        }
    }
    out
}
