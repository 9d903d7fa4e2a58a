//! The `pick` and `omit` member lists (clause 4.21), with nested lists for linked entities:
//! `id,locatedAt{id,name,isInCountry{description}}`.

use std::collections::HashSet;

use rigel_model::codec::render::Projection;
use rigel_model::validate::is_valid_name;
use rigel_model::TermMap;

use crate::ApiError;

/// One member of a pick/omit list, with the members of the entities it links to.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    pub children: Vec<Member>,
}

/// Nesting deeper than this is refused rather than recursed into.
const MAX_DEPTH: usize = 16;

/// Parses a member list; braces nest, commas separate.
pub fn parse_members(s: &str) -> Result<Vec<Member>, ApiError> {
    let mut chars = s.char_indices().peekable();
    let members = parse_list(s, &mut chars, 0)?;
    if let Some((i, c)) = chars.next() {
        return Err(ApiError::bad_data(format!(
            "unexpected {c:?} at position {i} of {s:?}"
        )));
    }
    Ok(members)
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

fn parse_list(s: &str, chars: &mut Chars<'_>, depth: usize) -> Result<Vec<Member>, ApiError> {
    if depth > MAX_DEPTH {
        return Err(ApiError::bad_data("pick/omit lists are nested too deeply"));
    }
    let mut out = Vec::new();
    loop {
        let start = chars.peek().map_or(s.len(), |(i, _)| *i);
        while chars
            .peek()
            .is_some_and(|(_, c)| !matches!(c, ',' | '{' | '}'))
        {
            chars.next();
        }
        let end = chars.peek().map_or(s.len(), |(i, _)| *i);
        let name = s[start..end].trim();
        if name.is_empty() || !(is_valid_name(name)) {
            return Err(ApiError::bad_data(format!(
                "{name:?} at position {start} is not a valid member name"
            )));
        }
        let mut children = Vec::new();
        if chars.peek().is_some_and(|(_, c)| *c == '{') {
            chars.next();
            children = parse_list(s, chars, depth + 1)?;
            match chars.next() {
                Some((_, '}')) => {}
                _ => return Err(ApiError::bad_data(format!("unbalanced braces in {s:?}"))),
            }
        }
        out.push(Member {
            name: name.to_owned(),
            children,
        });
        match chars.peek() {
            Some((_, ',')) => {
                chars.next();
            }
            _ => return Ok(out),
        }
    }
}

/// The projection of a `pick` list: only the members named are kept.
pub fn pick(members: &[Member], terms: &dyn TermMap) -> Projection {
    let mut p = Projection {
        drop_id: !members.iter().any(|m| m.name == "id"),
        drop_type: !members.iter().any(|m| m.name == "type"),
        ..Projection::default()
    };
    let mut keep = HashSet::new();
    for m in members
        .iter()
        .filter(|m| !matches!(m.name.as_str(), "id" | "type"))
    {
        let iri = terms.expand(&m.name).into_owned();
        if !m.children.is_empty() {
            p.nested.insert(iri.clone(), pick(&m.children, terms));
        }
        keep.insert(iri);
    }
    p.keep = Some(keep);
    p
}

/// The projection of an `omit` list: the members named are dropped; a member with a nested
/// list is kept and the list applies to the entities it links to.
pub fn omit(members: &[Member], terms: &dyn TermMap) -> Projection {
    let mut p = Projection {
        drop_id: members
            .iter()
            .any(|m| m.name == "id" && m.children.is_empty()),
        drop_type: members
            .iter()
            .any(|m| m.name == "type" && m.children.is_empty()),
        ..Projection::default()
    };
    for m in members
        .iter()
        .filter(|m| !matches!(m.name.as_str(), "id" | "type"))
    {
        let iri = terms.expand(&m.name).into_owned();
        if m.children.is_empty() {
            p.drop.insert(iri);
        } else {
            p.nested.insert(iri, omit(&m.children, terms));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nested_member_lists_parse_into_a_tree() {
        let m = parse_members("id,locatedAt{id,name,isInCountry{description}}").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].name, "locatedAt");
        assert_eq!(m[1].children[2].children[0].name, "description");
    }

    #[test]
    fn unbalanced_or_empty_members_are_rejected() {
        assert!(parse_members("a{b").is_err());
        assert!(parse_members("a,,b").is_err());
        assert!(parse_members("a}").is_err());
    }
}
