//! Rigel's default durable store: one redb file, written by a group-committing writer thread.
//!
//! * Writes: [`EntityStore::commit`] encodes the entities on the caller's task, queues them
//!   to the writer thread (bounded queue) and waits; the thread applies everything queued in
//!   one transaction, appends what it applied to the write-ahead log and syncs it, so a
//!   commit resolves only after its fsync and concurrent commits share one. redb itself is
//!   synced at checkpoints, every second (the `wal` module).
//! * Reads: each read runs in its own redb read transaction (MVCC snapshot, never blocked by
//!   the writer). Point reads (`get`) run inline on the caller's task: a few µs when the
//!   pages are cached, where the hand-off to another thread cost more than the read (ADR
//!   0001, amendment 1). Scans and multi-entity selections run on tokio's blocking pool.
//! * Subscriptions: rare writes, each its own durable transaction on the blocking pool
//!   (see the `subscriptions` module); they share the file, never the writer queue.
//! * Layout and the room left for later indexes: see the `layout` module (and ADR 0001).
//! * Memory: redb's page cache ([`EmbeddedOptions::cache_size_bytes`]), the decoded-entity
//!   cache (`cache`), the value-index rows not yet checkpointed (`index::overlay`, bounded by
//!   [`EmbeddedOptions::index_memory_rows`]) and what recent versions file in the index
//!   (`filed`), each bounded.

mod apply;
mod cache;
mod codec;
mod documents;
mod error;
mod filed;
mod history;
mod index;
mod layout;
mod outbox;
mod read_pool;
mod recovery;
mod registrations;
mod select;
mod subscriptions;
mod wal;
mod writer;

/// Entry points for the fuzz targets (`fuzz/`, docs/security.md#fuzzing): the record codec
/// and the replay of the write-ahead log on arbitrary bytes. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use rigel_model::Entity;

    /// Decodes a stored entity record; a record that decodes encodes back to the same
    /// entity.
    pub fn decode_record(bytes: &[u8]) {
        if let Ok(entity) = crate::codec::decode_entity(bytes) {
            let mut again = Vec::new();
            crate::codec::encode_entity(&entity, &mut again);
            let decoded = crate::codec::decode_entity(&again);
            assert_eq!(
                decoded.ok().as_ref(),
                Some(&entity),
                "a record survives re-encoding"
            );
        }
    }

    /// The stored record of an entity (seeds for the record target).
    pub fn record_of(entity: &Entity) -> Vec<u8> {
        let mut bytes = Vec::new();
        crate::codec::encode_entity(entity, &mut bytes);
        bytes
    }

    /// An entity survives the record codec.
    pub fn record_round_trip(entity: &Entity) {
        let mut bytes = Vec::new();
        crate::codec::encode_entity(entity, &mut bytes);
        let decoded = crate::codec::decode_entity(&bytes);
        assert_eq!(
            decoded.ok().as_ref(),
            Some(entity),
            "an entity survives the record codec"
        );
    }

    /// Replays `payload` as the one frame of a log (framed with its length and checksum, so
    /// the frame decoder sees it), then `bytes` as a whole log.
    pub fn replay_log(payload: &[u8]) {
        let mut framed = Vec::with_capacity(payload.len() + 8);
        framed.extend_from_slice(
            &u32::try_from(payload.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        framed.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        framed.extend_from_slice(payload);
        for frame in crate::wal::frames_after(&framed, 0) {
            let encoded = crate::wal::encode_frame(&frame);
            let again = crate::wal::frames_after(&encoded, 0);
            assert_eq!(again, vec![frame], "a replayed frame survives re-encoding");
        }
        let _ = crate::wal::frames_after(payload, 0);
    }
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable};
use rigel_model::{Entity, Tenant};
use rigel_query::EntityQuery;
use rigel_storage::{
    EntityStore, Selected, Selection, StorageError, Versioned, Visitor, WriteOp, WriteOutcome,
};

use crate::apply::{CheckpointPolicy, Committer, CommitterReport, StoreFiles};
use crate::cache::DecodedCache;
use crate::error::db_err;
use crate::layout::{
    ENTITIES, META, SCHEMA_VERSION, SCHEMA_VERSION_JSON_RECORDS, SCHEMA_VERSION_KEY, SUBSCRIPTIONS,
    SUBSCRIPTION_STATUS, TENANTS, TYPES,
};
use crate::read_pool::ReadPool;
use crate::recovery::{DbSlot, Refusal};
use crate::writer::{BatchLimits, Job, PreparedOp, Writer};

/// Tuning of an [`EmbeddedStore`]. Start from `EmbeddedOptions::default()`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmbeddedOptions {
    /// redb's page cache, the store's only sizeable RAM use. Default 64 MiB.
    pub cache_size_bytes: usize,
    /// Commit requests that may wait for the writer before callers are held back. Default 1024.
    pub queue_capacity: usize,
    /// Most commit requests grouped into one transaction. Default 1000.
    pub max_batch_requests: usize,
    /// A transaction stops gathering requests once they hold this many bytes. Default 8 MiB.
    pub max_batch_bytes: usize,
    /// Decoded entities kept in memory (estimated bytes) so hot entities are not parsed on
    /// every read. Default 32 MiB; 0 disables the cache.
    pub entity_cache_bytes: usize,
    /// Longest time between a write and the checkpoint that makes redb durable and empties
    /// the write-ahead log (writes are durable in the log before they are acknowledged).
    /// Default 1 s.
    pub checkpoint_interval: std::time::Duration,
    /// A checkpoint also runs once the log holds this many bytes. Default 64 MiB.
    pub checkpoint_wal_bytes: u64,
    /// Told about every group commit and checkpoint (for metrics). Default none.
    pub observer: Option<Arc<dyn rigel_storage::StoreObserver>>,
    /// Keep the value index (attribute values, relationship objects, scopes, geohash
    /// cells; see the `index` module and ADR 0004) and plan queries with it. Turning it on
    /// for an existing store builds it at open; turning it off drops it. Default on.
    pub value_index: bool,
    /// The most value-index entries a query reads to find its candidates; past it the
    /// query scans its types in id order instead (ADR 0004). Default 4096.
    pub index_budget: usize,
    /// Value-index rows changed since the last checkpoint are kept in memory (sorted runs
    /// read with the table, `index::overlay`) up to about this many; past it each batch
    /// also writes some of the oldest into the table, which bounds that memory when
    /// checkpoints are far apart. Default 262,144 (about 30 MiB).
    pub index_memory_rows: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            cache_size_bytes: 64 * 1024 * 1024,
            queue_capacity: 1024,
            max_batch_requests: 1000,
            max_batch_bytes: 8 * 1024 * 1024,
            entity_cache_bytes: 32 * 1024 * 1024,
            checkpoint_interval: std::time::Duration::from_secs(1),
            checkpoint_wal_bytes: 64 * 1024 * 1024,
            observer: None,
            value_index: true,
            index_budget: select::INDEX_BUDGET,
            index_memory_rows: 256 * 1024,
        }
    }
}

/// The embedded entity store. Share it as `Arc<EmbeddedStore>`; dropping the last handle
/// (or [`EmbeddedStore::close`]) finishes queued writes and stops the writer thread.
pub struct EmbeddedStore {
    /// The database, which the writer closes and opens again after a failed write.
    db: Arc<DbSlot>,
    writer: Writer,
    path: PathBuf,
    /// The threads reads run on, a fixed few (`read_pool`): a burst of concurrent reads
    /// waits for them instead of growing a thread (and an allocator heap) per read.
    reads: ReadPool,
    /// Decoded entities, validated by version on every use (see the `cache` module).
    cache: Arc<DecodedCache>,
    /// What the entities written over lately file in the value index (the `filed` module).
    filed: filed::FiledCache,
    /// Why the writer refuses writes, while it does.
    refused: Arc<Refusal>,
    /// Whether the value index is kept and used.
    value_index: bool,
    /// Its rows changed since the last checkpoint (`index::overlay`).
    overlay: Arc<index::overlay::Overlay>,
    index_budget: usize,
}

/// Read threads. Twice the cores keeps both busy while a read waits on disk.
fn read_concurrency() -> usize {
    std::thread::available_parallelism().map_or(4, |n| (2 * n.get()).max(4))
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Name of the database file inside the store's directory.
    pub const FILE_NAME: &'static str = "rigel.redb";

    /// Opens (creating if needed) the store in `dir` with default options.
    /// Blocking: call it at startup or from a blocking context.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        Self::open_with(dir, EmbeddedOptions::default())
    }

    /// Opens (creating if needed) the store in `dir`. After a crash this also repairs the
    /// file, which reads all of it; blocking, like [`EmbeddedStore::open`].
    pub fn open_with(dir: &Path, options: EmbeddedOptions) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Io(format!(
                "cannot create the store directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(Self::FILE_NAME);
        let files = StoreFiles {
            dir: dir.to_path_buf(),
            cache_size_bytes: options.cache_size_bytes,
        };
        let db = files.open_database()?;
        prepare_schema(&db)?;
        let db = Arc::new(DbSlot::new(Arc::new(db)));
        let limits = BatchLimits {
            max_requests: options.max_batch_requests.max(1),
            max_bytes: options.max_batch_bytes.max(1),
        };
        let policy = CheckpointPolicy {
            interval: options.checkpoint_interval,
            wal_bytes: options.checkpoint_wal_bytes,
        };
        let report = CommitterReport {
            refused: Arc::default(),
            observer: options.observer.clone(),
            overlay: Arc::default(),
        };
        let refused = Arc::clone(&report.refused);
        let overlay = Arc::clone(&report.overlay);
        let index = options.value_index.then_some(options.index_memory_rows);
        let committer = Committer::open(Arc::clone(&db), files, policy, report, index)?;
        let writer = Writer::spawn(options.queue_capacity, limits, committer)?;
        let reads = ReadPool::start(read_concurrency())?;
        let cache = Arc::new(DecodedCache::new(options.entity_cache_bytes));
        Ok(Self {
            db,
            writer,
            path,
            reads,
            cache,
            filed: filed::FiledCache::new(if options.value_index {
                filed::DEFAULT_ENTRIES
            } else {
                0
            }),
            refused,
            value_index: options.value_index,
            overlay,
            index_budget: options.index_budget,
        })
    }

    /// Whether the store serves reads and writes (readiness).
    pub fn health(&self) -> rigel_storage::BackendHealth {
        if !self.writer.is_open() {
            return rigel_storage::BackendHealth::Closed;
        }
        match self.refused.get() {
            Some(reason) => rigel_storage::BackendHealth::WritesRefused(reason),
            None => rigel_storage::BackendHealth::Ready,
        }
    }

    /// The store's counters (for metrics).
    pub fn counters(&self) -> rigel_storage::BackendCounters {
        let (cache_hits, cache_misses) = self.cache.hits_and_misses();
        rigel_storage::BackendCounters {
            cache_hits,
            cache_misses,
        }
    }

    /// Runs `f` on the blocking pool with a reader of the tenant's entities.
    async fn read_selected<T: Send + 'static>(
        &self,
        tenant: &Tenant,
        f: impl FnOnce(select::Reader<'_>) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let tenant_prefix = layout::tenant_prefix(tenant);
        let cache = Arc::clone(&self.cache);
        let (value_index, index_budget) = (self.value_index, self.index_budget);
        let overlay = Arc::clone(&self.overlay);
        self.read(move |db| {
            f(select::Reader {
                db,
                cache: &cache,
                tenant_prefix: &tenant_prefix,
                value_index,
                overlay: &overlay,
                index_budget,
            })
        })
        .await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting writes, lets the writer finish what is queued and waits for it.
    /// Later commits fail with `StorageError::Closed`; reads keep working until drop.
    pub async fn close(&self) -> Result<(), StorageError> {
        let Some(thread) = self.writer.shut() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || writer::join(thread))
            .await
            .map_err(|_| StorageError::Closed)?
    }

    /// Runs a read on a read thread with a handle to the database: scans may read many
    /// pages from disk and must not stall an async worker for that long.
    async fn read<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StorageError> + Send + 'static,
    {
        let db = self.db.get()?;
        self.reads.run(move || f(&db)).await?
    }
}

#[async_trait::async_trait]
impl rigel_storage::Backend for EmbeddedStore {
    fn health(&self) -> rigel_storage::BackendHealth {
        EmbeddedStore::health(self)
    }

    fn counters(&self) -> rigel_storage::BackendCounters {
        EmbeddedStore::counters(self)
    }

    async fn close(&self) -> Result<(), StorageError> {
        EmbeddedStore::close(self).await
    }

    fn outbox(&self) -> Option<&dyn rigel_storage::Outbox> {
        Some(self)
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Blocks for at most the batch in flight: every acknowledged write is already durable.
        if let Some(thread) = self.writer.shut() {
            if let Err(err) = writer::join(thread) {
                tracing::error!(error = %err, "embedded store writer stopped abnormally");
            }
        }
    }
}

/// Creates the tables of a new file, or checks that an existing file has our layout.
fn prepare_schema(db: &Database) -> Result<(), StorageError> {
    let txn = db.begin_write().map_err(db_err)?;
    {
        let mut meta = txn.open_table(META).map_err(db_err)?;
        let found = meta
            .get(SCHEMA_VERSION_KEY)
            .map_err(db_err)?
            .map(|v| v.value());
        match found {
            None | Some(SCHEMA_VERSION_JSON_RECORDS) => {
                meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
                    .map_err(db_err)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(StorageError::Corrupt(format!(
                "store layout version {other} is not supported (this build reads {SCHEMA_VERSION})"
            )))
            }
        }
        // Created up front so read transactions never meet a missing table.
        txn.open_table(ENTITIES).map_err(db_err)?;
        txn.open_table(TYPES).map_err(db_err)?;
        txn.open_table(TENANTS).map_err(db_err)?;
        // Also for files written before subscriptions were stored (same layout version).
        txn.open_table(SUBSCRIPTIONS).map_err(db_err)?;
        txn.open_table(SUBSCRIPTION_STATUS).map_err(db_err)?;
        txn.open_table(layout::REGISTRATIONS).map_err(db_err)?;
        txn.open_table(layout::REGISTRATION_STATUS)
            .map_err(db_err)?;
        // And before the history was kept.
        txn.open_table(layout::HISTORY).map_err(db_err)?;
        txn.open_table(layout::HISTORY_ENTITIES).map_err(db_err)?;
        txn.open_table(layout::HISTORY_SERIES).map_err(db_err)?;
        // And before the value index, and the outbox.
        txn.open_table(layout::VALUES).map_err(db_err)?;
        txn.open_table(layout::OUTBOX).map_err(db_err)?;
    }
    for name in layout::OBSOLETE_HISTORY_TABLES {
        let obsolete: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(name);
        txn.delete_table(obsolete).map_err(db_err)?;
    }
    txn.commit().map_err(db_err)
}

/// What the stored entity `id` files in the value index, when it is at `version`: from
/// what that version's write left in `filed`, else read through the decoded-entity cache on
/// the caller's task, so the writer thread need not decode it.
fn filed_before(
    (db, cache, filed): IndexedBy<'_>,
    tenant_prefix: &[u8],
    id: &str,
    version: u64,
) -> Result<Option<index::Before>, StorageError> {
    let key = layout::entity_key(tenant_prefix, id);
    if let Some(before) = filed.get(&key, version) {
        return Ok(Some(before));
    }
    let txn = db.begin_read().map_err(db_err)?;
    let table = txn.open_table(ENTITIES).map_err(db_err)?;
    let Some(guard) = table.get(key.as_slice()).map_err(db_err)? else {
        return Ok(None);
    };
    let (stored, entity) = cache.entity(&key, guard.value())?;
    Ok((stored == version).then(|| index::Before {
        version,
        types: entity.types.clone(),
        suffixes: index::suffixes(&entity),
    }))
}

/// The value index as `prepare` sees it: where to find what the entities writes replace
/// filed.
type IndexedBy<'a> = (&'a Database, &'a DecodedCache, &'a filed::FiledCache);

fn prepare(
    tenant: &Tenant,
    ops: Vec<WriteOp>,
    index: Option<IndexedBy<'_>>,
) -> Result<Job, StorageError> {
    let tenant_prefix = layout::tenant_prefix(tenant);
    let ops = ops
        .into_iter()
        .map(|op| match op {
            WriteOp::Put { entity, expect } => {
                let record = layout::encode_record(&entity);
                let (suffixes, before) = match (index, expect) {
                    (Some(index), rigel_storage::Expect::Version(v)) => (
                        index::suffixes(&entity),
                        filed_before(index, &tenant_prefix, &entity.id, v)?,
                    ),
                    (Some(_), _) => (index::suffixes(&entity), None),
                    (None, _) => (Vec::new(), None),
                };
                Ok(PreparedOp::Put {
                    id: entity.id,
                    types: entity.types,
                    record,
                    suffixes,
                    before,
                    expect,
                })
            }
            WriteOp::Delete { id, expect } => Ok(PreparedOp::Delete { id, expect }),
            WriteOp::Record {
                change,
                with_previous,
            } => Ok(PreparedOp::Record {
                change,
                with_previous,
                effects: Vec::new(),
            }),
            WriteOp::Note { event } => Ok(PreparedOp::Note {
                body: outbox::encode(&event),
                effects: Vec::new(),
            }),
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok(Job {
        tenant_prefix: layout::tenant_prefix(tenant),
        tenant_name: tenant.name().map(str::to_owned),
        ops,
    })
}

fn read_entity(
    db: &Database,
    cache: &DecodedCache,
    key: &[u8],
) -> Result<Option<Versioned<Entity>>, StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let table = txn.open_table(ENTITIES).map_err(db_err)?;
    let Some(guard) = table.get(key).map_err(db_err)? else {
        return Ok(None);
    };
    select::decode(cache, key, guard.value()).map(Some)
}

fn read_ids_by_type(
    db: &Database,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<String>, StorageError> {
    use std::ops::Bound;
    let txn = db.begin_read().map_err(db_err)?;
    let table = txn.open_table(TYPES).map_err(db_err)?;
    let start = match after {
        Some(after_key) => Bound::Excluded(after_key),
        None => Bound::Included(prefix),
    };
    let end = layout::prefix_end(prefix);
    let mut ids = Vec::with_capacity(limit.min(1024));
    for entry in table
        .range::<&[u8]>((start, Bound::Excluded(end.as_slice())))
        .map_err(db_err)?
        .take(limit)
    {
        let (key, ()) = entry.map(|(k, v)| (k, v.value())).map_err(db_err)?;
        ids.push(layout::id_after_prefix(key.value(), prefix)?);
    }
    Ok(ids)
}

#[async_trait]
impl EntityStore for EmbeddedStore {
    async fn get(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<Versioned<Entity>>, StorageError> {
        // Inline (ADR 0001, amendment 1): one B-tree descent, usually cached; a page that is
        // not costs one disk read on this worker.
        let key = layout::entity_key(&layout::tenant_prefix(tenant), id);
        read_entity(&*self.db.get()?, &self.cache, &key)
    }

    async fn commit(
        &self,
        tenant: &Tenant,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StorageError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.db.get()?;
        let index = self
            .value_index
            .then_some((db.as_ref(), self.cache.as_ref(), &self.filed));
        let job = prepare(tenant, ops, index)?;
        drop(db);
        let written = self.value_index.then(|| filed::Written::of(&job));
        let outcomes = self.writer.submit(job).await?;
        if let Some(written) = written {
            written.note(&self.filed, &outcomes);
        }
        Ok(outcomes)
    }

    async fn tenant_exists(&self, tenant: &Tenant) -> Result<bool, StorageError> {
        let Some(name) = tenant.name().map(str::to_owned) else {
            return Ok(true);
        };
        self.read(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(TENANTS).map_err(db_err)?;
            Ok(table.get(name.as_str()).map_err(db_err)?.is_some())
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StorageError> {
        self.read(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(TENANTS).map_err(db_err)?;
            let mut out = vec![Tenant::default_tenant()];
            for item in table.iter().map_err(db_err)? {
                let (name, _) = item.map_err(db_err)?;
                let tenant = Tenant::named(name.value())
                    .map_err(|e| StorageError::Corrupt(format!("stored tenant name: {e}")))?;
                out.push(tenant);
            }
            Ok(out)
        })
        .await
    }

    async fn ids_by_type(
        &self,
        tenant: &Tenant,
        type_iri: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let tenant_prefix = layout::tenant_prefix(tenant);
        let prefix = layout::type_prefix(&tenant_prefix, type_iri);
        let after_key = after.map(|id| layout::type_key(&tenant_prefix, type_iri, id));
        self.read(move |db| read_ids_by_type(db, &prefix, after_key.as_deref(), limit))
            .await
    }

    async fn get_many(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Option<Versioned<Entity>>>, StorageError> {
        let tenant_prefix = layout::tenant_prefix(tenant);
        let keys: Vec<Vec<u8>> = ids
            .iter()
            .map(|id| layout::entity_key(&tenant_prefix, id))
            .collect();
        let cache = Arc::clone(&self.cache);
        self.read(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(ENTITIES).map_err(db_err)?;
            keys.iter()
                .map(|key| match table.get(key.as_slice()).map_err(db_err)? {
                    Some(guard) => select::decode(&cache, key, guard.value()).map(Some),
                    None => Ok(None),
                })
                .collect()
        })
        .await
    }

    async fn select(
        &self,
        tenant: &Tenant,
        selection: Selection,
    ) -> Result<Selected, StorageError> {
        self.read_selected(tenant, move |reader| select::select(reader, selection))
            .await
    }

    async fn visit(
        &self,
        tenant: &Tenant,
        query: Arc<EntityQuery>,
        visitor: Visitor,
    ) -> Result<usize, StorageError> {
        self.read_selected(tenant, move |reader| select::visit(reader, query, visitor))
            .await
    }

    async fn types_in_use(&self, tenant: &Tenant) -> Result<Vec<String>, StorageError> {
        let tenant_prefix = layout::tenant_prefix(tenant);
        self.read(move |db| select::types_in_use(db, &tenant_prefix))
            .await
    }

    async fn history_header(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<rigel_storage::HistoryHeader>, StorageError> {
        let tenant_prefix = layout::tenant_prefix(tenant);
        let id = id.to_owned();
        self.read(move |db| history::read_header(db, &tenant_prefix, &id))
            .await
    }

    async fn history(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &rigel_storage::HistoryQuery,
    ) -> Result<Option<rigel_storage::EntityHistory>, StorageError> {
        let tenant_prefix = layout::tenant_prefix(tenant);
        let id = id.to_owned();
        let query = query.clone();
        self.read(move |db| history::read_history(db, &tenant_prefix, &id, &query))
            .await
    }

    async fn history_samples(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &rigel_storage::HistoryQuery,
    ) -> Result<Option<rigel_storage::EntitySamples>, StorageError> {
        let tenant_prefix = layout::tenant_prefix(tenant);
        let id = id.to_owned();
        let query = query.clone();
        self.read(move |db| history::read_samples(db, &tenant_prefix, &id, &query))
            .await
    }

    async fn history_headers(
        &self,
        tenant: &Tenant,
        source: &rigel_storage::Source,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<rigel_storage::HistoryHeader>, StorageError> {
        let tenant_prefix = layout::tenant_prefix(tenant);
        let source = source.clone();
        let after = after.map(str::to_owned);
        self.read(move |db| {
            history::read_headers(db, &tenant_prefix, &source, after.as_deref(), limit)
        })
        .await
    }
}

#[cfg(test)]
mod upgrade_tests;
