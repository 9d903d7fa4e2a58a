//! A set of entity ids read from index rows: every id's bytes in one buffer, sorted and
//! deduplicated once the read is done, rather than one allocation and one tree insertion
//! per row (a geospatial read collects thousands of ids for a 20-entity page).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Entity ids, in id (byte) order once [`IdSet::seal`]ed.
#[derive(Debug, Default)]
pub(crate) struct IdSet {
    bytes: Vec<u8>,
    /// Start and end of each id in `bytes`.
    spans: Vec<(usize, usize)>,
    sealed: bool,
}

impl IdSet {
    /// Adds an id (sorting and duplicates wait for [`IdSet::seal`]).
    pub(crate) fn push(&mut self, id: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(id);
        self.spans.push((start, self.bytes.len()));
        self.sealed = false;
    }

    /// How many ids: distinct ones once sealed, at most that many before.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    fn at(&self, (start, end): (usize, usize)) -> &[u8] {
        self.bytes.get(start..end).unwrap_or_default()
    }

    /// Sorts the ids and drops the duplicates.
    pub(crate) fn seal(mut self) -> Self {
        if !self.sealed {
            let bytes = &self.bytes;
            let at = |(s, e): (usize, usize)| bytes.get(s..e).unwrap_or_default();
            self.spans.sort_unstable_by(|a, b| at(*a).cmp(at(*b)));
            self.spans.dedup_by(|a, b| at(*a) == at(*b));
            self.sealed = true;
        }
        self
    }

    /// The ids after `after` (all when `None`), in order; the set must be sealed.
    pub(crate) fn after<'s>(&'s self, after: Option<&[u8]>) -> impl Iterator<Item = &'s [u8]> {
        debug_assert!(self.sealed || self.spans.is_empty());
        let from = after.map_or(0, |a| self.spans.partition_point(|s| self.at(*s) <= a));
        self.spans
            .get(from..)
            .unwrap_or_default()
            .iter()
            .map(|s| self.at(*s))
    }

    /// The ids after `after`, in order, each once, without sorting the whole set first: a
    /// heap is built in linear time and yields the smallest id next, so a page that needs
    /// the first few dozen of thousands of candidates does not pay for ordering them all.
    pub(crate) fn ascending<'s>(
        &'s self,
        after: Option<&[u8]>,
    ) -> Box<dyn Iterator<Item = &'s [u8]> + 's> {
        if self.sealed {
            return Box::new(self.after(after));
        }
        let heap: BinaryHeap<Reverse<&[u8]>> = self
            .spans
            .iter()
            .map(|s| self.at(*s))
            .filter(|id| after.is_none_or(|a| *id > a))
            .map(Reverse)
            .collect();
        Box::new(Ascending { heap, last: None })
    }

    /// The ids in both sealed sets, sealed.
    pub(crate) fn intersection(&self, other: &IdSet) -> IdSet {
        let mut out = IdSet::default();
        let (mut a, mut b) = (self.after(None).peekable(), other.after(None).peekable());
        while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
            match x.cmp(y) {
                Ordering::Less => {
                    a.next();
                }
                Ordering::Greater => {
                    b.next();
                }
                Ordering::Equal => {
                    out.push(x);
                    a.next();
                    b.next();
                }
            }
        }
        out.sealed = true;
        out
    }

    /// Adds every id of `other`.
    pub(crate) fn extend(&mut self, other: &IdSet) {
        for span in &other.spans {
            self.push(other.at(*span));
        }
    }
}

/// The ids of a heap, smallest first, each once.
struct Ascending<'s> {
    heap: BinaryHeap<Reverse<&'s [u8]>>,
    last: Option<&'s [u8]>,
}

impl<'s> Iterator for Ascending<'s> {
    type Item = &'s [u8];

    fn next(&mut self) -> Option<&'s [u8]> {
        loop {
            let Reverse(id) = self.heap.pop()?;
            if self.last != Some(id) {
                self.last = Some(id);
                return Some(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::IdSet;

    fn set(ids: &[&str]) -> IdSet {
        let mut s = IdSet::default();
        for id in ids {
            s.push(id.as_bytes());
        }
        s.seal()
    }

    fn listed(s: &IdSet, after: Option<&str>) -> Vec<String> {
        s.after(after.map(str::as_bytes))
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn a_sealed_set_lists_each_id_once_in_order_and_resumes_after_one() {
        let s = set(&["urn:c", "urn:a", "urn:b", "urn:a", "urn:ab"]);
        assert_eq!(s.len(), 4);
        assert_eq!(listed(&s, None), ["urn:a", "urn:ab", "urn:b", "urn:c"]);
        assert_eq!(listed(&s, Some("urn:ab")), ["urn:b", "urn:c"]);
        assert_eq!(listed(&s, Some("urn:aa")), ["urn:ab", "urn:b", "urn:c"]);
        assert!(listed(&s, Some("urn:c")).is_empty());
    }

    #[test]
    fn an_unsealed_set_yields_the_same_ids_in_the_same_order() {
        let ids = ["urn:c", "urn:a", "urn:b", "urn:a", "urn:ab", "urn:c"];
        let mut open = IdSet::default();
        for id in ids {
            open.push(id.as_bytes());
        }
        let sealed = set(&ids);
        for after in [None, Some("urn:a"), Some("urn:aa"), Some("urn:c")] {
            let a: Vec<&[u8]> = open.ascending(after.map(str::as_bytes)).collect();
            let b: Vec<&[u8]> = sealed.ascending(after.map(str::as_bytes)).collect();
            assert_eq!(a, b, "after {after:?}");
        }
    }

    #[test]
    fn intersection_and_union_keep_the_set_semantics() {
        let a = set(&["1", "2", "3", "5"]);
        let b = set(&["2", "5", "7"]);
        assert_eq!(listed(&a.intersection(&b), None), ["2", "5"]);
        let mut u = set(&["9", "1"]);
        u.extend(&b);
        assert_eq!(listed(&u.seal(), None), ["1", "2", "5", "7", "9"]);
    }
}
