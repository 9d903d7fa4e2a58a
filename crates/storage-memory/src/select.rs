//! Selections and visits over one tenant's entities: candidates from the source the query's
//! selectors imply (everything, an id-prefix range, ids, the type index), in id order after
//! `after`, each evaluated against the whole query; paging, counting and ordering as the
//! embedded store does them.

use std::collections::BTreeSet;
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::Arc;

use rigel_model::Entity;
use rigel_query::EntityQuery;
use rigel_storage::plan;
use rigel_storage::{Selected, Selection, Source, StorageError, Versioned, Visitor};

use crate::Space;

/// The ids of a set strictly after `after`, in order.
pub(crate) fn ids_after<'a>(
    ids: &'a BTreeSet<String>,
    after: Option<&str>,
) -> impl Iterator<Item = &'a String> + 'a {
    let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
    ids.range((start, Bound::Unbounded))
}

/// Runs a selection on one tenant's entities.
pub(crate) fn select(space: &Space, selection: Selection) -> Result<Selected, StorageError> {
    if let Some(order) = selection.order.clone() {
        // Sorting needs every match.
        let matches = select(space, plan::all_for_sorting(&selection))?.entities;
        return plan::sorted_page(matches, &order, &selection);
    }
    let mut seen = 0usize;
    let mut entities = Vec::with_capacity(selection.limit.min(1024));
    let mut held = plan::PageMemory::new(&selection);
    if selection.limit > 0 || selection.count {
        let enough = selection.offset.saturating_add(selection.limit);
        let source = plan::selectors_source(&selection.query);
        for candidate in candidates(space, source, selection.after.as_deref()) {
            if !selection.matches(&candidate.value) {
                continue;
            }
            if seen >= selection.offset && entities.len() < selection.limit {
                held.hold(&candidate.value)?;
                entities.push(candidate.clone());
            }
            seen += 1;
            if !selection.count && seen >= enough {
                break;
            }
        }
    }
    Ok(Selected {
        entities,
        total: selection.count.then_some(seen),
    })
}

/// Hands every match of `query` to `visitor`, in id order; returns how many there were.
pub(crate) fn visit(space: &Space, query: &EntityQuery, mut visitor: Visitor) -> usize {
    let mut seen = 0;
    for candidate in candidates(space, plan::selectors_source(query), None) {
        if query.matches(&candidate.value) {
            visitor(&candidate.value);
            seen += 1;
        }
    }
    seen
}

type Candidates<'a> = Box<dyn Iterator<Item = &'a Versioned<Arc<Entity>>> + 'a>;

/// The entities of `source` with an id after `after`, in id order, each once.
fn candidates<'a>(space: &'a Space, source: Source, after: Option<&str>) -> Candidates<'a> {
    match source {
        Source::All => prefixed(space, String::new(), after),
        Source::IdPrefix(prefix) => prefixed(space, prefix, after),
        Source::Ids(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            ids.retain(|id| after.is_none_or(|after| id.as_str() > after));
            Box::new(ids.into_iter().filter_map(|id| space.entities.get(&id)))
        }
        Source::Types(types) => {
            let indexed = types
                .iter()
                .filter_map(|t| space.types.get(t))
                .map(|ids| ids_after(ids, after).peekable())
                .collect();
            // The index and the entities change under the same lock: every id is present.
            Box::new(MergedIds { heads: indexed }.filter_map(|id| space.entities.get(id)))
        }
    }
}

/// The entities whose id starts with `prefix`, after `after`.
fn prefixed<'a>(space: &'a Space, prefix: String, after: Option<&str>) -> Candidates<'a> {
    let start = match after {
        Some(after) if after >= prefix.as_str() => Bound::Excluded(after.to_owned()),
        _ => Bound::Included(prefix.clone()),
    };
    Box::new(
        space
            .entities
            .range((start, Bound::Unbounded))
            .take_while(move |(id, _)| id.starts_with(&prefix))
            .map(|(_, entity)| entity),
    )
}

/// The ids of several ordered sets merged in order, each once.
struct MergedIds<I: Iterator> {
    heads: Vec<Peekable<I>>,
}

impl<'a, I: Iterator<Item = &'a String>> Iterator for MergedIds<I> {
    type Item = &'a String;

    fn next(&mut self) -> Option<Self::Item> {
        let (slot, least) = self
            .heads
            .iter_mut()
            .enumerate()
            .filter_map(|(slot, head)| head.peek().map(|id| (slot, *id)))
            .min_by_key(|(_, id)| *id)?;
        for head in &mut self.heads[slot..] {
            head.next_if_eq(&least);
        }
        Some(least)
    }
}
