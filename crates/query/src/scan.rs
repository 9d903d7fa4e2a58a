//! A character cursor over a query text that reports errors at character offsets.

use crate::{Language, QueryError};

/// Cursor over the input; positions are byte offsets internally, character offsets in errors.
pub(crate) struct Scanner<'a> {
    input: &'a str,
    pos: usize,
    language: Language,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(input: &'a str, language: Language) -> Self {
        Self {
            input,
            pos: 0,
            language,
        }
    }

    pub(crate) fn language(&self) -> Language {
        self.language
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// The character after the next one.
    pub(crate) fn peek_second(&self) -> Option<char> {
        let mut chars = self.rest().chars();
        chars.next();
        chars.next()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Consumes `c` if it is next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Consumes `s` if it comes next.
    pub(crate) fn eat_str(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    pub(crate) fn starts_with(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The character offset of byte offset `at`.
    pub(crate) fn char_pos(&self, at: usize) -> usize {
        self.input.get(..at).map_or(0, |s| s.chars().count())
    }

    pub(crate) fn rest(&self) -> &'a str {
        self.input.get(self.pos..).unwrap_or("")
    }

    pub(crate) fn slice(&self, from: usize, to: usize) -> &'a str {
        self.input.get(from..to).unwrap_or("")
    }

    /// Consumes characters while `f` holds; returns them.
    pub(crate) fn take_while(&mut self, mut f: impl FnMut(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.slice(start, self.pos)
    }

    /// Skips whitespace; the grammars have none, but a stray space is harmless to allow.
    pub(crate) fn skip_ws(&mut self) {
        self.take_while(char::is_whitespace);
    }

    /// A syntax error at the current position.
    pub(crate) fn error(&self, message: impl Into<String>) -> QueryError {
        self.error_at(self.pos, message)
    }

    /// A syntax error at byte offset `at`, naming the token found there.
    pub(crate) fn error_at(&self, at: usize, message: impl Into<String>) -> QueryError {
        syntax_error(self.input, at, self.language, message)
    }
}

/// A syntax error at byte offset `at` of `input`, with the character offset and the text
/// found there.
pub(crate) fn syntax_error(
    input: &str,
    at: usize,
    language: Language,
    message: impl Into<String>,
) -> QueryError {
    let at = at.min(input.len());
    let before = input.get(..at).unwrap_or(input);
    let rest = input.get(at..).unwrap_or("");
    let found = if rest.is_empty() {
        "end of input".to_owned()
    } else {
        let token: String = rest.chars().take(16).collect();
        let more = if rest.chars().nth(16).is_some() {
            "..."
        } else {
            ""
        };
        format!("{token:?}{more}")
    };
    QueryError::Syntax {
        language,
        position: before.chars().count(),
        found,
        message: message.into(),
    }
}

/// Whether `c` may continue a name: Unicode letters and numbers, `_` and `-`.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Whether `c` may start a name: a Unicode letter or `_`.
pub(crate) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}
