//! The runs' merge rules and the reader's view of table plus runs.
#![allow(clippy::expect_used)]

use std::ops::Bound;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::{Change, IndexRows, Overlay, Runs};

const TABLE: TableDefinition<&[u8], ()> = TableDefinition::new("values");

fn change(key: &str, lsn: u64, present: bool) -> Change {
    Change {
        key: Arc::from(key.as_bytes()),
        lsn,
        present,
    }
}

fn keys(changes: impl Iterator<Item = Change>) -> Vec<(String, bool)> {
    changes
        .map(|c| (String::from_utf8_lossy(&c.key).into_owned(), c.present))
        .collect()
}

#[test]
fn a_newer_run_replaces_an_older_change_to_the_same_key() {
    let mut runs = Runs::default();
    runs.push(vec![change("a", 1, true), change("b", 1, true)]);
    runs.push(vec![change("b", 2, false), change("c", 2, true)]);
    assert_eq!(
        keys(runs.latest().into_iter()),
        [("a".into(), true), ("b".into(), false), ("c".into(), true)]
    );
}

#[test]
fn runs_stay_few_as_batches_pile_up() {
    let mut runs = Runs::default();
    for batch in 0..10_000u64 {
        runs.push(vec![change(
            &format!("k{:08}", batch * 7919 % 10_007),
            batch,
            true,
        )]);
        assert!(
            runs.runs.len() <= 16,
            "{} runs after {batch}",
            runs.runs.len()
        );
    }
    let latest = runs.latest();
    assert_eq!(latest.len(), 10_000);
    assert!(latest.windows(2).all(|w| w[0].key < w[1].key));
}

#[test]
fn a_range_reads_only_its_keys() {
    let mut runs = Runs::default();
    runs.push(vec![change("a", 1, true), change("c", 1, true)]);
    runs.push(vec![change("b", 2, true), change("d", 2, true)]);
    let got = keys(runs.range(Bound::Included(b"b"), Bound::Excluded(b"d")));
    assert_eq!(got, [("b".into(), true), ("c".into(), true)]);
    let got = keys(runs.range(Bound::Excluded(b"b"), Bound::Included(b"d")));
    assert_eq!(got, [("c".into(), true), ("d".into(), true)]);
}

fn table_with(dir: &tempfile::TempDir, keys: &[&str]) -> Database {
    let db = Database::create(dir.path().join("t.redb")).expect("db");
    let txn = db.begin_write().expect("write");
    {
        let mut table = txn.open_table(TABLE).expect("table");
        for key in keys {
            table.insert(key.as_bytes(), ()).expect("insert");
        }
    }
    txn.commit().expect("commit");
    db
}

fn read(db: &Database, runs: &Runs, visible_lsn: u64) -> Vec<String> {
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(TABLE).expect("table");
    let rows = IndexRows {
        table: &table,
        runs,
        visible_lsn,
    };
    rows.range(Bound::Unbounded, Bound::Unbounded)
        .expect("range")
        .map(|k| String::from_utf8_lossy(k.expect("row").value()).into_owned())
        .collect()
}

#[test]
fn a_reader_sees_the_table_and_the_runs_merged_in_key_order_each_key_once() {
    let dir = tempfile::tempdir().expect("dir");
    let db = table_with(&dir, &["a", "c", "e"]);
    let mut runs = Runs::default();
    runs.push(vec![
        change("b", 5, true),
        change("c", 5, true),
        change("f", 5, true),
    ]);
    assert_eq!(read(&db, &runs, 5), ["a", "b", "c", "e", "f"]);
}

#[test]
fn a_removal_hides_a_row_only_from_snapshots_that_hold_its_batch() {
    let dir = tempfile::tempdir().expect("dir");
    let db = table_with(&dir, &["a", "c"]);
    let mut runs = Runs::default();
    runs.push(vec![change("b", 4, true)]);
    runs.push(vec![change("b", 6, false), change("c", 6, false)]);
    // A snapshot of frame 6 or later: both removals apply.
    assert_eq!(read(&db, &runs, 6), ["a"]);
    // An older snapshot may still hold both rows: they stay candidates.
    assert_eq!(read(&db, &runs, 5), ["a", "b", "c"]);
}

#[test]
fn the_oldest_changes_go_first_and_newer_ones_still_win_after() {
    let mut runs = Runs::default();
    runs.push(vec![
        change("a", 1, true),
        change("b", 1, true),
        change("c", 1, true),
        change("d", 1, true),
        change("e", 1, true),
    ]);
    runs.push(vec![change("a", 2, false)]);
    let oldest = keys(runs.oldest(2).iter().cloned());
    assert_eq!(oldest, [("a".into(), true), ("b".into(), true)]);
    runs.forget_oldest(2);
    // "a" was written to the table as present; the newer removal still hides it.
    assert_eq!(
        keys(runs.latest().into_iter()),
        [
            ("a".into(), false),
            ("c".into(), true),
            ("d".into(), true),
            ("e".into(), true)
        ]
    );
    runs.forget_oldest(10);
    assert_eq!(keys(runs.latest().into_iter()), [("a".into(), false)]);
    runs.forget_oldest(1);
    assert!(runs.is_empty());
}

/// The runs a reader gets when `during` happens between its first look at the runs and
/// its transaction; before it, a batch of frame 1 added "a".
fn runs_of_a_reader_while(during: impl FnOnce(&Overlay, &mut Runs)) -> Arc<Runs> {
    let overlay = Overlay::default();
    let mut runs = Runs::default();
    runs.push(vec![change("a", 1, true)]);
    overlay.publish(&runs);
    let (seen, ()) = overlay
        .around(|| {
            during(&overlay, &mut runs);
            Ok::<_, ()>(())
        })
        .expect("begin");
    seen
}

#[test]
fn a_reader_gets_the_rows_of_a_batch_that_commits_while_it_begins() {
    // A batch is published (and commits, so the transaction would hold its entity).
    let seen = runs_of_a_reader_while(|overlay, runs| {
        runs.push(vec![change("b", 2, true)]);
        overlay.publish(runs);
    });
    assert_eq!(
        keys(seen.latest().into_iter()),
        [("a".into(), true), ("b".into(), true)]
    );
}

#[test]
fn a_reader_keeps_rows_forgotten_while_it_begins() {
    // The reader's transaction began before the table took "a" (so its table lacks it).
    let dir = tempfile::tempdir().expect("dir");
    let db = table_with(&dir, &[]);
    // The checkpoint wrote "a" into the table and forgot it; a batch came after.
    let seen = runs_of_a_reader_while(|overlay, runs| {
        *runs = Runs::default();
        runs.push(vec![change("b", 2, true)]);
        overlay.publish_forgotten(runs);
    });
    assert_eq!(read(&db, &seen, 2), ["a", "b"]);
}

#[test]
fn without_forgetting_a_reader_reads_only_the_later_runs() {
    let seen = runs_of_a_reader_while(|overlay, runs| {
        runs.push(vec![change("a", 2, false)]);
        overlay.publish(runs);
    });
    // One run: the removal merged over the add.
    assert_eq!(seen.runs.len(), 1);
    assert_eq!(keys(seen.latest().into_iter()), [("a".into(), false)]);
}
