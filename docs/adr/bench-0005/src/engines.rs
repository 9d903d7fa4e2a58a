//! redb 4 (Rigel's setup: non-durable commits + own write-ahead log + 1 s checkpoints) and
//! fjall 3 (single-writer transactional mode, its journal synced once per batch), behind one
//! interface; the per-op logic (`apply_ops`) is shared, so both engines do the same reads
//! and writes.

use crate::workload::{instance_key, Op};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Entities,
    Types,
    Values,
    Headers,
    Series,
    Instances,
}

/// One write transaction, as the shared per-op logic sees it.
pub trait Tx {
    fn get(&mut self, t: Table, key: &[u8]) -> Option<Vec<u8>>;
    fn insert(&mut self, t: Table, key: &[u8], value: &[u8]);
    /// Whether the key existed (fjall's blind remove always answers true).
    fn remove(&mut self, t: Table, key: &[u8]) -> bool;
    fn set_meta(&mut self, name: &str, v: u64);
}

/// Writer-thread state (Rigel keeps the same counters in `meta`).
#[derive(Default)]
pub struct Counters {
    pub version: u64,
    pub next_series: u64,
    pub lsn: u64,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// What Rigel's writer does for a group: every op's reads and writes in order, the group's
/// value-index rows sorted and applied last, then the counters in `meta`.
pub fn apply_ops<T: Tx>(tx: &mut T, ops: &[Op], c: &mut Counters) {
    let now = now_us();
    let mut values: Vec<(&[u8], bool)> = Vec::with_capacity(ops.len() * 11);
    for op in ops {
        c.version += 1;
        match op {
            Op::Create(e) => {
                assert!(tx.get(Table::Entities, &e.key).is_none(), "create of an existing entity");
                tx.insert(Table::Entities, &e.key, &e.record);
                tx.insert(Table::Types, &e.type_key, b"");
                values.extend(e.value_rows.iter().map(|r| (r.as_slice(), true)));
                assert!(tx.get(Table::Headers, &e.key).is_none(), "history header exists");
                tx.insert(Table::Headers, &e.key, &e.header);
                let base = c.next_series;
                c.next_series += e.series.len() as u64;
                for (i, s) in e.series.iter().enumerate() {
                    tx.insert(Table::Series, s, &(base + i as u64).to_be_bytes());
                }
                for (j, (a, v)) in e.instances.iter().enumerate() {
                    let k = instance_key(base + *a as u64, now, c.version, j as u32);
                    tx.insert(Table::Instances, &k, v);
                }
            }
            Op::Update(u) => {
                let old = tx.get(Table::Entities, &u.key).expect("updated entity exists");
                assert_eq!(old.len(), u.record.len());
                tx.insert(Table::Entities, &u.key, &u.record);
                values.push((&u.old_row, false));
                values.push((&u.new_row, true));
                let series = tx.get(Table::Series, &u.series_key).expect("series exists");
                let series = u64::from_be_bytes(series[..8].try_into().expect("8 bytes"));
                let k = instance_key(series, now, c.version, 0);
                tx.insert(Table::Instances, &k, &u.instance);
            }
        }
    }
    values.sort_unstable();
    for (k, insert) in values {
        if insert {
            tx.insert(Table::Values, k, b"");
        } else {
            assert!(tx.remove(Table::Values, k), "old value row exists");
        }
    }
    tx.set_meta("last_version", c.version);
    tx.set_meta("next_series", c.next_series);
    tx.set_meta("wal_lsn", c.lsn);
}

pub trait Engine: Send + Sync {
    /// Applies one group in one write transaction (writer thread only). `durable`: the
    /// group is durable on return (false for the untimed seeding, synced by `finish`).
    fn apply(&self, ops: &[Op], durable: bool);
    /// Makes everything durable (redb: a checkpoint; fjall: journal sync).
    fn finish(&self);
    /// Point read of an entity record in its own read transaction; the record's length.
    fn get_entity(&self, key: &[u8]) -> Option<usize>;
    /// Reads up to `n` consecutive `values` keys from `start` in one read transaction.
    fn scan_values(&self, start: &[u8], n: usize) -> usize;
    /// Where the writer's wall time went since the last call (µs per op over `ops`), and
    /// engine facts (log frames, journals, checkpoints).
    fn describe(&self, ops: u64) -> String;
}

pub fn open(name: &str, dir: &Path, cache_bytes: usize) -> Box<dyn Engine> {
    match name {
        "redb" => Box::new(redb_engine::Redb::open(dir, cache_bytes)),
        "fjall" => Box::new(fjall_engine::Fjall::open(dir, cache_bytes)),
        other => panic!("unknown engine {other} (redb, fjall)"),
    }
}

mod wal {
    //! Rigel's write-ahead log in miniature: `len u32 LE · crc32 u32 LE · payload`, written at
    //! the end with `pwrite` and synced with `fdatasync`, emptied by a checkpoint.
    use std::fs::{File, OpenOptions};
    use std::os::unix::fs::FileExt;
    use std::path::Path;

    pub struct Wal {
        file: File,
        len: u64,
        pub frames: u64,
        pub bytes: u64,
    }

    impl Wal {
        pub fn open(dir: &Path) -> Self {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(dir.join("rigel.wal"))
                .expect("open wal");
            Self { file, len: 0, frames: 0, bytes: 0 }
        }

        pub fn append(&mut self, payload: &[u8]) {
            let mut out = Vec::with_capacity(payload.len() + 8);
            out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            out.extend_from_slice(payload);
            self.file.write_all_at(&out, self.len).expect("wal append");
            self.file.sync_data().expect("wal sync");
            self.len += out.len() as u64;
            self.frames += 1;
            self.bytes += out.len() as u64;
        }

        pub fn reset(&mut self) {
            self.file.set_len(0).expect("wal truncate");
            self.len = 0;
        }
    }
}

mod redb_engine {
    use super::*;
    use redb::{
        Database, Durability, ReadableDatabase, ReadableTable, Table as RTable, TableDefinition,
        WriteTransaction,
    };

    const ENTITIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entities");
    const TYPES: TableDefinition<&[u8], ()> = TableDefinition::new("types");
    const VALUES: TableDefinition<&[u8], ()> = TableDefinition::new("values");
    const HEADERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history_headers");
    const SERIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history_series");
    const INSTANCES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history_instances");
    const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
    const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

    struct Writer {
        counters: Counters,
        wal: super::wal::Wal,
        last_checkpoint: Instant,
        checkpoints: u64,
        /// Wall time of: apply_ops (B-tree reads/inserts), WAL append+sync, commit, checkpoint commits.
        stages: [Duration; 4],
    }

    pub struct Redb {
        db: Database,
        writer: Mutex<Writer>,
    }

    struct RedbTx<'t> {
        entities: RTable<'t, &'static [u8], &'static [u8]>,
        types: RTable<'t, &'static [u8], ()>,
        values: RTable<'t, &'static [u8], ()>,
        headers: RTable<'t, &'static [u8], &'static [u8]>,
        series: RTable<'t, &'static [u8], &'static [u8]>,
        instances: RTable<'t, &'static [u8], &'static [u8]>,
        meta: RTable<'t, &'static str, u64>,
    }

    impl<'t> RedbTx<'t> {
        fn open(txn: &'t WriteTransaction) -> Self {
            Self {
                entities: txn.open_table(ENTITIES).expect("table"),
                types: txn.open_table(TYPES).expect("table"),
                values: txn.open_table(VALUES).expect("table"),
                headers: txn.open_table(HEADERS).expect("table"),
                series: txn.open_table(SERIES).expect("table"),
                instances: txn.open_table(INSTANCES).expect("table"),
                meta: txn.open_table(META).expect("table"),
            }
        }

        fn bytes_table(&mut self, t: Table) -> &mut RTable<'t, &'static [u8], &'static [u8]> {
            match t {
                Table::Entities => &mut self.entities,
                Table::Headers => &mut self.headers,
                Table::Series => &mut self.series,
                Table::Instances => &mut self.instances,
                Table::Types | Table::Values => unreachable!("unit-valued table"),
            }
        }
    }

    impl Tx for RedbTx<'_> {
        fn get(&mut self, t: Table, key: &[u8]) -> Option<Vec<u8>> {
            match t {
                Table::Types => self.types.get(key).expect("get").map(|_| Vec::new()),
                Table::Values => self.values.get(key).expect("get").map(|_| Vec::new()),
                _ => self.bytes_table(t).get(key).expect("get").map(|v| v.value().to_vec()),
            }
        }

        fn insert(&mut self, t: Table, key: &[u8], value: &[u8]) {
            match t {
                Table::Types => {
                    self.types.insert(key, ()).expect("insert");
                }
                Table::Values => {
                    self.values.insert(key, ()).expect("insert");
                }
                _ => {
                    self.bytes_table(t).insert(key, value).expect("insert");
                }
            }
        }

        fn remove(&mut self, t: Table, key: &[u8]) -> bool {
            match t {
                Table::Types => self.types.remove(key).expect("remove").is_some(),
                Table::Values => self.values.remove(key).expect("remove").is_some(),
                _ => self.bytes_table(t).remove(key).expect("remove").is_some(),
            }
        }

        fn set_meta(&mut self, name: &str, v: u64) {
            self.meta.insert(name, v).expect("meta");
        }
    }

    impl Redb {
        pub fn open(dir: &Path, cache_bytes: usize) -> Self {
            let db = Database::builder()
                .set_cache_size(cache_bytes)
                .create(dir.join("rigel.redb"))
                .expect("open redb");
            let txn = db.begin_write().expect("txn");
            drop(RedbTx::open(&txn));
            txn.commit().expect("commit");
            Self {
                db,
                writer: Mutex::new(Writer {
                    counters: Counters::default(),
                    wal: super::wal::Wal::open(dir),
                    last_checkpoint: Instant::now(),
                    checkpoints: 0,
                    stages: [Duration::ZERO; 4],
                }),
            }
        }
    }

    impl Engine for Redb {
        fn apply(&self, ops: &[Op], durable: bool) {
            let mut w = self.writer.lock().expect("writer");
            let w = &mut *w;
            w.counters.lsn += 1;
            let checkpoint = durable && w.last_checkpoint.elapsed() >= CHECKPOINT_EVERY;
            let mut txn = self.db.begin_write().expect("txn");
            txn.set_durability(if checkpoint { Durability::Immediate } else { Durability::None })
                .expect("durability");
            let t0 = Instant::now();
            {
                let mut tx = RedbTx::open(&txn);
                apply_ops(&mut tx, ops, &mut w.counters);
            }
            let t1 = Instant::now();
            w.stages[0] += t1 - t0;
            if durable {
                // The redo frame: every applied record (Rigel's frame carries the same).
                let mut frame = Vec::with_capacity(ops.len() * 1_120);
                for op in ops {
                    frame.extend_from_slice(op.wal_bytes());
                }
                w.wal.append(&frame);
            }
            let t2 = Instant::now();
            w.stages[1] += t2 - t1;
            txn.commit().expect("commit");
            w.stages[if checkpoint { 3 } else { 2 }] += t2.elapsed();
            if checkpoint {
                w.wal.reset();
                w.last_checkpoint = Instant::now();
                w.checkpoints += 1;
            }
        }

        fn finish(&self) {
            let mut w = self.writer.lock().expect("writer");
            let mut txn = self.db.begin_write().expect("txn");
            txn.set_durability(Durability::Immediate).expect("durability");
            txn.commit().expect("commit");
            w.wal.reset();
            w.last_checkpoint = Instant::now();
        }

        fn get_entity(&self, key: &[u8]) -> Option<usize> {
            let txn = self.db.begin_read().expect("txn");
            let table = txn.open_table(ENTITIES).expect("table");
            let found = table.get(key).expect("get");
            found.map(|v| v.value().len())
        }

        fn scan_values(&self, start: &[u8], n: usize) -> usize {
            let txn = self.db.begin_read().expect("txn");
            let table = txn.open_table(VALUES).expect("table");
            let mut count = 0;
            for entry in table.range::<&[u8]>(start..).expect("range").take(n) {
                let (k, _) = entry.expect("entry");
                count += usize::from(!k.value().is_empty());
            }
            count
        }

        fn describe(&self, ops: u64) -> String {
            let mut w = self.writer.lock().expect("writer");
            let per = |d: Duration| d.as_secs_f64() * 1e6 / ops as f64;
            let out = format!(
                "writer wall us/op: tx-build {:.1} wal {:.1} commit {:.1} checkpoint-commit {:.1} | wal frames {} ({:.1} KiB avg), checkpoints {}",
                per(w.stages[0]),
                per(w.stages[1]),
                per(w.stages[2]),
                per(w.stages[3]),
                w.wal.frames,
                w.wal.bytes as f64 / w.wal.frames.max(1) as f64 / 1024.0,
                w.checkpoints
            );
            w.stages = [Duration::ZERO; 4];
            out
        }
    }
}

mod fjall_engine {
    use super::*;
    use fjall::{
        KeyspaceCreateOptions, PersistMode, Readable, SingleWriterTxDatabase,
        SingleWriterTxKeyspace, SingleWriterWriteTx,
    };

    /// Memtable size per keyspace: 6 keyspaces, so at most ~6 × 16 MiB of memtables (the
    /// 64 MiB default would allow 384 MiB next to a 64 MiB cache).
    pub const MEMTABLE_BYTES: u64 = 16 * 1024 * 1024;
    /// Journal budget (fjall's minimum; default 512 MiB): reaching it forces memtable flushes.
    pub const JOURNAL_BYTES: u64 = 64 * 1024 * 1024;

    pub struct Fjall {
        db: SingleWriterTxDatabase,
        ks: [SingleWriterTxKeyspace; 7],
        /// Counters and the wall time of: apply_ops (overlay + reads), commit (journal + sync + memtables).
        counters: Mutex<(Counters, [Duration; 2])>,
    }

    struct FjallTx<'a, 't> {
        tx: &'a mut SingleWriterWriteTx<'t>,
        ks: &'a [SingleWriterTxKeyspace; 7],
    }

    fn idx(t: Table) -> usize {
        match t {
            Table::Entities => 0,
            Table::Types => 1,
            Table::Values => 2,
            Table::Headers => 3,
            Table::Series => 4,
            Table::Instances => 5,
        }
    }

    impl Tx for FjallTx<'_, '_> {
        fn get(&mut self, t: Table, key: &[u8]) -> Option<Vec<u8>> {
            self.tx.get(self.ks[idx(t)].inner(), key).expect("get").map(|v| v.to_vec())
        }

        fn insert(&mut self, t: Table, key: &[u8], value: &[u8]) {
            self.tx.insert(&self.ks[idx(t)], key, value);
        }

        fn remove(&mut self, t: Table, key: &[u8]) -> bool {
            self.tx.remove(&self.ks[idx(t)], key);
            true
        }

        fn set_meta(&mut self, name: &str, v: u64) {
            self.tx.insert(&self.ks[6], name.as_bytes(), &v.to_be_bytes());
        }
    }

    impl Fjall {
        pub fn open(dir: &Path, cache_bytes: usize) -> Self {
            let db = SingleWriterTxDatabase::builder(dir)
                .cache_size(cache_bytes as u64)
                .max_journaling_size(JOURNAL_BYTES)
                .manual_journal_persist(true)
                .open()
                .expect("open fjall");
            let names = [
                "entities",
                "types",
                "values",
                "history_headers",
                "history_series",
                "history_instances",
                "meta",
            ];
            let ks = names.map(|n| {
                db.keyspace(n, || KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES))
                    .expect("keyspace")
            });
            Self { db, ks, counters: Mutex::new((Counters::default(), [Duration::ZERO; 2])) }
        }
    }

    impl Engine for Fjall {
        fn apply(&self, ops: &[Op], durable: bool) {
            let mut guard = self.counters.lock().expect("counters");
            let (c, stages) = &mut *guard;
            c.lsn += 1;
            let mode = if durable { Some(PersistMode::SyncData) } else { None };
            let t0 = Instant::now();
            let mut tx = self.db.write_tx().durability(mode);
            apply_ops(&mut FjallTx { tx: &mut tx, ks: &self.ks }, ops, c);
            let t1 = Instant::now();
            tx.commit().expect("commit");
            stages[0] += t1 - t0;
            stages[1] += t1.elapsed();
        }

        fn finish(&self) {
            self.db.persist(PersistMode::SyncAll).expect("persist");
        }

        fn get_entity(&self, key: &[u8]) -> Option<usize> {
            let snap = self.db.read_tx();
            snap.get(self.ks[0].inner(), key).expect("get").map(|v| v.len())
        }

        fn scan_values(&self, start: &[u8], n: usize) -> usize {
            let snap = self.db.read_tx();
            let mut count = 0;
            for guard in snap.range::<&[u8], _>(self.ks[2].inner(), start..).take(n) {
                let k = guard.key().expect("entry");
                count += usize::from(!k.is_empty());
            }
            count
        }

        fn describe(&self, ops: u64) -> String {
            let mut guard = self.counters.lock().expect("counters");
            let per = |d: Duration| d.as_secs_f64() * 1e6 / ops as f64;
            let stages = format!(
                "writer wall us/op: tx-build {:.1} commit {:.1} | ",
                per(guard.1[0]),
                per(guard.1[1])
            );
            guard.1 = [Duration::ZERO; 2];
            stages + &format!(
                "journals {}, memtable {} MiB/keyspace, journal budget {} MiB, disk_space {:.1} MiB",
                self.db.journal_count(),
                MEMTABLE_BYTES >> 20,
                JOURNAL_BYTES >> 20,
                self.db.disk_space().unwrap_or(0) as f64 / 1048576.0
            )
        }
    }
}
