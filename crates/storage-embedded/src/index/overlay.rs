//! Value-index rows changed since the last checkpoint, held in memory as sorted runs and
//! read together with the `values` table; the checkpoint writes them into the table in key
//! order (ADR 0004, amendment 1).
//!
//! Why: a batch of creates puts its rows at random places of the table, and redb copies
//! every page a transaction changes, so a batch of 64 creates copied, hashed and wrote
//! hundreds of pages for its 700 rows. Held here until the checkpoint, a row costs a
//! sorted-vector merge, and the checkpoint's one transaction changes each page once for
//! all the rows that land on it.
//!
//! Each batch's rows become a run (sorted, one change per key); runs are merged as they
//! come so that their sizes halve from the oldest to the newest (at most about
//! log2(rows) runs). A change records the log frame (lsn) of its batch. A reader looks at
//! the published runs before *and* after it begins its redb transaction
//! ([`Overlay::around`]), and reads `wal_lsn` in that transaction: rows the runs add are
//! candidates whatever their lsn (a candidate is always checked against the entity), and a
//! removal hides a table row only when the reader's snapshot holds its batch. Rows are then
//! never missing from a reader's view of an entity its snapshot holds; at worst a reader
//! sees a row of a batch it does not hold yet.
//! Durability is the log's: a crash loses these runs, and the replay of the log since the
//! last checkpoint writes the same rows into the table.

use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock};

use redb::{AccessGuard, ReadOnlyTable};
use rigel_storage::StorageError;

use crate::error::db_err;

/// One row's latest change: present or removed, by the batch of log frame `lsn`.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub key: Arc<[u8]>,
    pub lsn: u64,
    pub present: bool,
}

/// Sorted runs of changes, oldest first; within a run keys are sorted and unique, and a
/// newer run's change to a key replaces an older one's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Runs {
    runs: Vec<Run>,
}

/// A run's changes from `from` on (those before are in the table already).
#[derive(Debug, Clone)]
struct Run {
    rows: Arc<[Change]>,
    from: usize,
}

impl Run {
    fn changes(&self) -> &[Change] {
        self.rows.get(self.from..).unwrap_or_default()
    }
}

impl Runs {
    /// Whether no change is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// How many changes the runs hold (a key changed in several runs counts in each).
    pub(crate) fn len(&self) -> usize {
        self.runs.iter().map(|r| r.changes().len()).sum()
    }

    /// Adds a batch's changes (sorted by key, each key once), newer than every held one.
    pub(crate) fn push(&mut self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let mut run = changes;
        // Keep sizes halving towards the newest: merge while the run before is not more
        // than twice this one.
        while let Some(older) = self.runs.last() {
            if older.changes().len() > 2 * run.len() {
                break;
            }
            run = merge(older.changes(), &run);
            self.runs.pop();
        }
        self.runs.push(Run {
            rows: Arc::from(run),
            from: 0,
        });
    }

    /// Up to `max` of the oldest run's first changes: the next to write into the table,
    /// before every newer change (so a key's changes reach the table in order).
    pub(crate) fn oldest(&self, max: usize) -> &[Change] {
        let changes = self.runs.first().map(Run::changes).unwrap_or_default();
        changes.get(..max).unwrap_or(changes)
    }

    /// Forgets the first `n` changes of the oldest run, once the table holds them.
    pub(crate) fn forget_oldest(&mut self, n: usize) {
        if let Some(run) = self.runs.first_mut() {
            run.from = (run.from + n).min(run.rows.len());
            if run.changes().is_empty() {
                self.runs.remove(0);
            }
        }
    }

    /// Every key's latest change, in key order.
    pub(crate) fn latest(&self) -> Vec<Change> {
        let mut all = Vec::with_capacity(self.len());
        all.extend(self.range(Bound::Unbounded, Bound::Unbounded));
        all
    }

    /// The latest changes of the keys in the range, in key order.
    pub(crate) fn range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> RunsRange {
        let heads = self
            .runs
            .iter()
            .map(|run| {
                let rows = run.changes();
                let start = match lo {
                    Bound::Unbounded => 0,
                    Bound::Included(k) => rows.partition_point(|c| &*c.key < k),
                    Bound::Excluded(k) => rows.partition_point(|c| &*c.key <= k),
                };
                let end = match hi {
                    Bound::Unbounded => rows.len(),
                    Bound::Included(k) => rows.partition_point(|c| &*c.key <= k),
                    Bound::Excluded(k) => rows.partition_point(|c| &*c.key < k),
                };
                (
                    Arc::clone(&run.rows),
                    run.from + start,
                    run.from + end.max(start),
                )
            })
            .collect();
        RunsRange { heads }
    }
}

/// `older` and `newer` merged, `newer` winning on equal keys.
fn merge(older: &[Change], newer: &[Change]) -> Vec<Change> {
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(o), Some(n)) = (older.get(i), newer.get(j)) {
        match o.key.cmp(&n.key) {
            std::cmp::Ordering::Less => {
                out.push(o.clone());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(n.clone());
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(n.clone());
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(older.get(i..).unwrap_or_default());
    out.extend_from_slice(newer.get(j..).unwrap_or_default());
    out
}

/// The latest changes in a key range across runs, in key order.
#[derive(Debug)]
pub(crate) struct RunsRange {
    /// Per run (oldest first): the run, the next position, the end.
    heads: Vec<(Arc<[Change]>, usize, usize)>,
}

impl Iterator for RunsRange {
    type Item = Change;

    fn next(&mut self) -> Option<Change> {
        // The smallest head key; the newest run holding it wins.
        let mut best: Option<(usize, &Arc<[u8]>)> = None;
        for (slot, (run, at, end)) in self.heads.iter().enumerate() {
            if at >= end {
                continue;
            }
            let key = &run.get(*at)?.key;
            if best.is_none_or(|(_, b)| key <= b) {
                best = Some((slot, key));
            }
        }
        let (slot, key) = best?;
        let key = Arc::clone(key);
        let change = self
            .heads
            .get(slot)
            .and_then(|(run, at, _)| run.get(*at))?
            .clone();
        for (run, at, end) in &mut self.heads {
            if *at < *end && run.get(*at).is_some_and(|c| c.key == key) {
                *at += 1;
            }
        }
        Some(change)
    }
}

/// The runs readers see, published by the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    current: RwLock<Published>,
}

/// What the writer published last, and how many times it has forgotten rows (once the
/// table held them) so far.
#[derive(Debug, Clone, Default)]
struct Published {
    runs: Arc<Runs>,
    forgets: u64,
}

impl Overlay {
    fn published(&self) -> Published {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `begin` (which begins a read transaction) between two looks at the runs, and
    /// returns the runs that go with that transaction: every row of every batch its
    /// snapshot holds is in the runs or in its table.
    ///
    /// The runs taken before the transaction hold every row the table may still lack, and
    /// those taken after it hold the rows of every batch committed before it (a batch is
    /// published before it commits). When no rows were forgotten in between, the later
    /// runs hold all of the earlier ones' changes; otherwise both are read, the later as
    /// the newer.
    pub(crate) fn around<T, E>(
        &self,
        begin: impl FnOnce() -> Result<T, E>,
    ) -> Result<(Arc<Runs>, T), E> {
        let before = self.published();
        let txn = begin()?;
        let after = self.published();
        if after.forgets == before.forgets {
            return Ok((after.runs, txn));
        }
        let mut both = (*before.runs).clone();
        both.runs.extend(after.runs.runs.iter().cloned());
        Ok((Arc::new(both), txn))
    }

    /// Makes `runs` what readers see from now on, after rows were added to them.
    pub(crate) fn publish(&self, runs: &Runs) {
        self.set(runs, 0);
    }

    /// Makes `runs` what readers see from now on, after rows the table now holds were
    /// forgotten from them.
    pub(crate) fn publish_forgotten(&self, runs: &Runs) {
        self.set(runs, 1);
    }

    fn set(&self, runs: &Runs, forgets: u64) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        current.runs = Arc::new(runs.clone());
        current.forgets += forgets;
    }
}

/// The value index as one reader sees it: the table in its snapshot and the runs it took
/// before that snapshot.
pub(crate) struct IndexRows<'a> {
    pub table: &'a ReadOnlyTable<&'static [u8], ()>,
    pub runs: &'a Runs,
    /// The last log frame the reader's snapshot holds.
    pub visible_lsn: u64,
}

impl IndexRows<'_> {
    /// The keys present in a range, in key order.
    pub(crate) fn range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<Rows, StorageError> {
        let table = self.table.range::<&[u8]>((lo, hi)).map_err(db_err)?;
        Ok(Rows {
            table,
            table_head: None,
            memory: self.runs.range(lo, hi),
            memory_head: None,
            visible_lsn: self.visible_lsn,
        })
    }
}

/// A key of the index: from the table or from the runs.
pub(crate) enum RowKey {
    Table(AccessGuard<'static, &'static [u8]>),
    Memory(Arc<[u8]>),
}

impl RowKey {
    /// The key's bytes.
    pub(crate) fn value(&self) -> &[u8] {
        match self {
            RowKey::Table(guard) => guard.value(),
            RowKey::Memory(key) => key,
        }
    }
}

/// The merge of a table range and the runs' changes in that range.
pub(crate) struct Rows {
    table: redb::Range<'static, &'static [u8], ()>,
    table_head: Option<AccessGuard<'static, &'static [u8]>>,
    memory: RunsRange,
    memory_head: Option<Change>,
    visible_lsn: u64,
}

impl Rows {
    fn fill(&mut self) -> Result<(), StorageError> {
        if self.table_head.is_none() {
            if let Some(entry) = self.table.next() {
                self.table_head = Some(entry.map_err(db_err)?.0);
            }
        }
        if self.memory_head.is_none() {
            self.memory_head = self.memory.next();
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<RowKey>, StorageError> {
        loop {
            self.fill()?;
            let order = match (&self.table_head, &self.memory_head) {
                (None, None) => return Ok(None),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(t), Some(m)) => t.value().cmp(&m.key),
            };
            if order == std::cmp::Ordering::Less {
                return Ok(self.table_head.take().map(RowKey::Table));
            }
            if order == std::cmp::Ordering::Equal {
                self.table_head = None;
            }
            let Some(change) = self.memory_head.take() else {
                continue;
            };
            // A removal the snapshot does not hold yet leaves the row a candidate: the
            // snapshot may still hold it (in the table, or added by an earlier batch).
            if change.present || change.lsn > self.visible_lsn {
                return Ok(Some(RowKey::Memory(change.key)));
            }
        }
    }
}

impl Iterator for Rows {
    type Item = Result<RowKey, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}

#[cfg(test)]
mod tests;
