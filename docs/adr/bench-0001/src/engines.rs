//! The four engines behind one small interface, each configured for durable commits.

use std::path::Path;

/// What the benchmark needs from an engine.
pub trait Engine: Send + Sync {
    /// Writes all pairs in one transaction and returns once it is durable (fsync'd).
    fn write_batch(&self, batch: &[(Vec<u8>, Vec<u8>)]);
    /// Point read in its own read transaction; the value's length.
    fn get(&self, key: &[u8]) -> Option<usize>;
    /// Reads every pair in `[start, end)`; (count, value bytes).
    fn scan(&self, start: &[u8], end: &[u8]) -> (usize, usize);
}

pub const COMPILED: &[&str] = &[
    #[cfg(feature = "redb")]
    "redb",
    #[cfg(feature = "fjall")]
    "fjall",
    #[cfg(feature = "sqlite")]
    "sqlite",
    #[cfg(feature = "lmdb")]
    "lmdb",
];

pub fn open(name: &str, dir: &Path, cache_bytes: usize) -> Box<dyn Engine> {
    match name {
        #[cfg(feature = "redb")]
        "redb" => Box::new(redb_engine::Redb::open(dir, cache_bytes)),
        #[cfg(feature = "fjall")]
        "fjall" => Box::new(fjall_engine::Fjall::open(dir, cache_bytes)),
        #[cfg(feature = "sqlite")]
        "sqlite" => Box::new(sqlite_engine::Sqlite::open(dir, cache_bytes)),
        #[cfg(feature = "lmdb")]
        "lmdb" => Box::new(lmdb_engine::Lmdb::open(dir, cache_bytes)),
        other => panic!("engine {other} is not compiled in (features: {COMPILED:?})"),
    }
}

#[cfg(feature = "redb")]
mod redb_engine {
    use super::*;
    use redb::{Database, Durability, ReadableDatabase, TableDefinition};

    const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

    pub struct Redb(Database);

    impl Redb {
        pub fn open(dir: &Path, cache_bytes: usize) -> Self {
            let db = Database::builder()
                .set_cache_size(cache_bytes)
                .create(dir.join("bench.redb"))
                .expect("open redb");
            let txn = db.begin_write().expect("txn");
            txn.open_table(KV).expect("table");
            txn.commit().expect("commit");
            Self(db)
        }
    }

    impl Engine for Redb {
        fn write_batch(&self, batch: &[(Vec<u8>, Vec<u8>)]) {
            let mut txn = self.0.begin_write().expect("txn");
            txn.set_durability(Durability::Immediate)
                .expect("durability");
            {
                let mut table = txn.open_table(KV).expect("table");
                for (k, v) in batch {
                    table.insert(k.as_slice(), v.as_slice()).expect("insert");
                }
            }
            txn.commit().expect("commit");
        }

        fn get(&self, key: &[u8]) -> Option<usize> {
            let txn = self.0.begin_read().expect("txn");
            let table = txn.open_table(KV).expect("table");
            let found = table.get(key).expect("get");
            found.map(|v| v.value().len())
        }

        fn scan(&self, start: &[u8], end: &[u8]) -> (usize, usize) {
            let txn = self.0.begin_read().expect("txn");
            let table = txn.open_table(KV).expect("table");
            let mut out = (0, 0);
            for entry in table.range::<&[u8]>(start..end).expect("range") {
                let (_, v) = entry.expect("entry");
                out = (out.0 + 1, out.1 + v.value().len());
            }
            out
        }
    }
}

#[cfg(feature = "fjall")]
mod fjall_engine {
    use super::*;
    use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

    pub struct Fjall {
        db: Database,
        kv: Keyspace,
    }

    impl Fjall {
        pub fn open(dir: &Path, cache_bytes: usize) -> Self {
            let db = Database::builder(dir)
                .cache_size(cache_bytes as u64)
                .open()
                .expect("open fjall");
            let kv = db
                .keyspace("kv", KeyspaceCreateOptions::default)
                .expect("keyspace");
            Self { db, kv }
        }
    }

    impl Engine for Fjall {
        fn write_batch(&self, batch: &[(Vec<u8>, Vec<u8>)]) {
            let mut wb = self.db.batch().durability(Some(PersistMode::SyncAll));
            for (k, v) in batch {
                wb.insert(&self.kv, k.as_slice(), v.as_slice());
            }
            wb.commit().expect("commit");
        }

        fn get(&self, key: &[u8]) -> Option<usize> {
            self.kv.get(key).expect("get").map(|v| v.len())
        }

        fn scan(&self, start: &[u8], end: &[u8]) -> (usize, usize) {
            let mut out = (0, 0);
            for guard in self.kv.range(start..end) {
                let (_, v) = guard.into_inner().expect("entry");
                out = (out.0 + 1, out.1 + v.len());
            }
            out
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_engine {
    use super::*;
    use rusqlite::{params, Connection};
    use std::sync::Mutex;

    /// One connection for the writer thread, one for readers (WAL lets them run side by side).
    pub struct Sqlite {
        writer: Mutex<Connection>,
        reader: Mutex<Connection>,
    }

    fn connect(path: &Path, cache_bytes: usize) -> Connection {
        let conn = Connection::open(path).expect("open sqlite");
        // WAL + synchronous=FULL: every commit fsyncs the WAL, i.e. is durable.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-{};",
            cache_bytes / 1024
        ))
        .expect("pragmas");
        conn
    }

    impl Sqlite {
        pub fn open(dir: &Path, cache_bytes: usize) -> Self {
            let path = dir.join("bench.sqlite");
            let writer = connect(&path, cache_bytes);
            // A rowid table, not WITHOUT ROWID: with ~1 KiB rows the latter measured 3x the
            // disk space and 4x slower reads (SQLite advises WITHOUT ROWID for small rows only).
            writer
                .execute_batch(
                    "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)",
                )
                .expect("schema");
            let reader = connect(&path, cache_bytes);
            Self {
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
            }
        }
    }

    impl Engine for Sqlite {
        fn write_batch(&self, batch: &[(Vec<u8>, Vec<u8>)]) {
            let mut conn = self.writer.lock().expect("lock");
            let txn = conn.transaction().expect("txn");
            {
                let mut stmt = txn
                    .prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
                    .expect("prepare");
                for (k, v) in batch {
                    stmt.execute(params![k, v]).expect("insert");
                }
            }
            txn.commit().expect("commit");
        }

        fn get(&self, key: &[u8]) -> Option<usize> {
            let conn = self.reader.lock().expect("lock");
            let mut stmt = conn
                .prepare_cached("SELECT v FROM kv WHERE k = ?1")
                .expect("prepare");
            let mut rows = stmt.query(params![key]).expect("query");
            let row = rows.next().expect("row")?;
            Some(row.get_ref(0).expect("v").as_blob().expect("blob").len())
        }

        fn scan(&self, start: &[u8], end: &[u8]) -> (usize, usize) {
            let conn = self.reader.lock().expect("lock");
            let mut stmt = conn
                .prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k")
                .expect("prepare");
            let mut rows = stmt.query(params![start, end]).expect("query");
            let mut out = (0, 0);
            while let Some(row) = rows.next().expect("row") {
                let len = row.get_ref(1).expect("v").as_blob().expect("blob").len();
                out = (out.0 + 1, out.1 + len);
            }
            out
        }
    }
}

#[cfg(feature = "lmdb")]
mod lmdb_engine {
    use super::*;
    use heed::types::Bytes;
    use heed::{CommitOrAbort, Database, Env, EnvOpenOptions};
    use std::ops::Bound;

    pub struct Lmdb {
        env: Env,
        db: Database<'static, Bytes, Bytes>,
    }

    impl Lmdb {
        /// LMDB caches through the OS page cache (mmap): there is no cache size to set.
        pub fn open(dir: &Path, _cache_bytes: usize) -> Self {
            // SAFETY (bench only): the directory is fresh and opened once by this process.
            // heed makes opening `unsafe`: two opens of one env in a process are UB.
            let env = unsafe {
                EnvOpenOptions::new()
                    .map_size(1 << 30)
                    .max_dbs(1)
                    .open(dir)
                    .expect("open lmdb")
            };
            let wtxn = env.write_txn().expect("txn");
            let db = env
                .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                    let db = opener.create_database::<Bytes, Bytes>(wtxn, None)?;
                    Ok(CommitOrAbort::<_, ()>::Commit(db))
                })
                .expect("create db")
                .unwrap_commit();
            Self { env, db }
        }
    }

    impl Engine for Lmdb {
        fn write_batch(&self, batch: &[(Vec<u8>, Vec<u8>)]) {
            let mut wtxn = self.env.write_txn().expect("txn");
            for (k, v) in batch {
                self.db.put(&mut wtxn, k, v).expect("put");
            }
            // Default env flags: the commit fsyncs (no MDB_NOSYNC / MDB_NOMETASYNC).
            wtxn.commit().expect("commit");
        }

        fn get(&self, key: &[u8]) -> Option<usize> {
            let rtxn = self.env.read_txn().expect("txn");
            self.db.get(&rtxn, key).expect("get").map(<[u8]>::len)
        }

        fn scan(&self, start: &[u8], end: &[u8]) -> (usize, usize) {
            let rtxn = self.env.read_txn().expect("txn");
            let range = (Bound::Included(start), Bound::Excluded(end));
            let mut out = (0, 0);
            for entry in self.db.range(&rtxn, &range).expect("range") {
                let (_, v) = entry.expect("entry");
                out = (out.0 + 1, out.1 + v.len());
            }
            out
        }
    }
}
