//! What every backend derives from a declarative query the same way: the candidate source
//! the entity selectors imply (ids, the type index, an id-prefix range or everything) and
//! the in-memory ordering of matches when no index serves an `orderBy`.

use std::sync::Arc;

use rigel_model::Entity;
use rigel_query::{EntityQuery, EntitySelector, IdPattern, OrderBy};

use crate::{Source, StorageError, Versioned};

/// The most matches a backend sorts in memory for an ordered selection; beyond it the
/// selection fails with [`StorageError::TooManyToSort`] rather than holding an unbounded
/// result set.
pub const MAX_SORTED_MATCHES: usize = 100_000;

/// The candidates of one selector alone.
pub fn selector_source(selector: &EntitySelector) -> Source {
    if let Some(ids) = &selector.ids {
        return Source::Ids(ids.clone());
    }
    if let Some(types) = &selector.types {
        return Source::Types(types.index_types());
    }
    match selector.id_pattern.as_ref().map(IdPattern::literal_prefix) {
        Some(prefix) if !prefix.is_empty() => Source::IdPrefix(prefix),
        _ => Source::All,
    }
}

/// The types of a query that selects by plain type lists and nothing else (no ids, id
/// pattern, attrs, pick, q, geoQ or scopeQ): its matches are exactly the entities having
/// one of these types, so a type index counts them without reading an entity.
pub fn types_alone(query: &EntityQuery) -> Option<Vec<String>> {
    let EntityQuery {
        selectors,
        attrs: None,
        projected: None,
        q: None,
        geo: None,
        scope: None,
    } = query
    else {
        return None;
    };
    let mut types = Vec::new();
    for selector in selectors {
        match selector {
            EntitySelector {
                ids: None,
                id_pattern: None,
                types: Some(expr),
            } if expr.is_simple_list() => types.extend(expr.index_types()),
            _ => return None,
        }
    }
    if types.is_empty() {
        return None;
    }
    types.sort();
    types.dedup();
    Some(types)
}

/// The cheapest source the selectors allow that still covers every match.
pub fn selectors_source(query: &EntityQuery) -> Source {
    match query.selectors.as_slice() {
        [] => Source::All,
        [one] => selector_source(one),
        many => {
            let sources: Vec<Source> = many.iter().map(selector_source).collect();
            if let Some(ids) = union(&sources, |s| match s {
                Source::Ids(ids) => Some(ids),
                _ => None,
            }) {
                return Source::Ids(ids);
            }
            match union(&sources, |s| match s {
                Source::Types(types) => Some(types),
                _ => None,
            }) {
                Some(mut types) => {
                    types.sort();
                    types.dedup();
                    Source::Types(types)
                }
                None => Source::All,
            }
        }
    }
}

/// The union of the sources' lists when every source is of the kind `pick` accepts.
fn union<'a>(
    sources: &'a [Source],
    pick: impl Fn(&'a Source) -> Option<&'a Vec<String>>,
) -> Option<Vec<String>> {
    let mut all = Vec::new();
    for source in sources {
        all.extend(pick(source)?.iter().cloned());
    }
    Some(all)
}

/// The page `selection` asks for of every match (found in id order) sorted by `order`, with
/// the count when asked; more than [`MAX_SORTED_MATCHES`] matches is an error.
pub fn sorted_page(
    mut matches: Vec<Versioned<Arc<Entity>>>,
    order: &OrderBy,
    selection: &crate::Selection,
) -> Result<crate::Selected, StorageError> {
    sort_matches(&mut matches, order)?;
    let total = selection.count.then_some(matches.len());
    let entities = matches
        .into_iter()
        .skip(selection.offset)
        .take(selection.limit)
        .collect();
    Ok(crate::Selected { entities, total })
}

/// The selection that finds every match of an ordered `selection` in id order (one more
/// than [`MAX_SORTED_MATCHES`], which tells an overflow), to sort them.
pub fn all_for_sorting(selection: &crate::Selection) -> crate::Selection {
    crate::Selection {
        order: None,
        offset: 0,
        limit: MAX_SORTED_MATCHES + 1,
        count: false,
        ..selection.clone()
    }
}

/// Sorts matches found in id order by `order` (ties stay in id order), or fails when there
/// are more than [`MAX_SORTED_MATCHES`].
pub fn sort_matches(
    matches: &mut [Versioned<Arc<Entity>>],
    order: &OrderBy,
) -> Result<(), StorageError> {
    if matches.len() > MAX_SORTED_MATCHES {
        return Err(StorageError::TooManyToSort(MAX_SORTED_MATCHES));
    }
    // The sort is stable, so ties keep their id order.
    matches.sort_by_cached_key(|e| order.sort_key(&e.value));
    Ok(())
}

/// The memory of the entities a selection holds so far, against its `max_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct PageMemory {
    limit: Option<usize>,
    bytes: usize,
}

impl PageMemory {
    pub fn new(selection: &crate::Selection) -> Self {
        Self {
            limit: selection.max_bytes,
            bytes: 0,
        }
    }

    /// Counts one more held entity; past the selection's bound, [`StorageError::TooLarge`].
    pub fn hold(&mut self, entity: &Entity) -> Result<(), StorageError> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        self.bytes = self.bytes.saturating_add(entity.footprint());
        if self.bytes > limit {
            return Err(StorageError::TooLarge(limit));
        }
        Ok(())
    }
}
