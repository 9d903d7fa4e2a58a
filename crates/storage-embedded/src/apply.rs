//! Applies a batch of jobs inside one redb write transaction, keeping the indexes in step,
//! and makes it durable through the write-ahead log (see the `wal` module).
//!
//! Runs only on the writer thread. Each op is checked against its own expectation; a failed
//! expectation is a `Conflict` for that op and writes nothing. A storage error fails the whole
//! batch and every requester gets it: before the log append nothing is applied (the
//! transaction is dropped, i.e. aborted); once the frame is appended the batch may have
//! become durable even if what follows fails.
//!
//! A failed log append (a full disk, most often) cuts the log back to its last synced
//! frame, and the next batch tries again. Any other I/O failure (redb's, a checkpoint's)
//! makes the committer refuse batches until it has closed the database, opened it again
//! and replayed the log (the `recovery` module), so a freed disk is written again without
//! a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, Table};
use rigel_storage::{Expect, HistoryChange, StorageError, StoreObserver, WriteOutcome};

use crate::error::{db_err, LATCHED};
use crate::history::{HistoryTables, SeriesCache};
use crate::index::overlay::{Change, Overlay, Runs};
use crate::index::{self, Filed, PendingRows};
use crate::layout::{
    self, ENTITIES, HISTORY, HISTORY_ENTITIES, HISTORY_SERIES, LAST_VERSION_KEY, META, OUTBOX,
    TENANTS, TYPES, VALUES, WAL_LSN_KEY,
};
use crate::recovery::{Backoff, DbSlot, Refusal};
use crate::wal::{Frame, LoggedJob, LoggedOp, Wal};
use crate::writer::{CommitBatch, Job, PreparedOp};

/// The value index's table, open in a write transaction.
type ValuesTable<'txn> = Table<'txn, &'static [u8], ()>;

/// The tables a write touches, open for the duration of one transaction.
struct Tables<'txn> {
    entities: Table<'txn, &'static [u8], &'static [u8]>,
    types: Table<'txn, &'static [u8], ()>,
    /// The value index, when it is kept: its rows pending, and the table when they are
    /// written in this transaction (replay); otherwise they go to the in-memory runs
    /// (`index::overlay`) once the batch is logged.
    values: Option<(Option<ValuesTable<'txn>>, PendingRows)>,
    tenants: Table<'txn, &'static str, ()>,
    history: HistoryTables<'txn>,
    /// The store-wide version counter: every applied put takes the next value, so a version
    /// is never reused, not even by an entity deleted and created again.
    last_version: u64,
}

impl Tables<'_> {
    /// Writes the value-index rows the transaction's ops left pending, when the table is
    /// open in it.
    fn flush_index(&mut self) -> Result<(), StorageError> {
        match self.values.as_mut() {
            Some((Some(table), pending)) => pending.flush(table),
            _ => Ok(()),
        }
    }

    /// The value-index rows left pending for the runs, as changes of frame `lsn`.
    fn take_index_changes(&mut self, lsn: u64) -> Vec<Change> {
        match self.values.as_mut() {
            Some((None, pending)) => pending.take_changes(lsn),
            _ => Vec::new(),
        }
    }
}

/// When the writer makes redb durable and empties the log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckpointPolicy {
    /// At most this long between a logged batch and the checkpoint that follows it.
    pub interval: Duration,
    /// Or as soon as the log holds this many bytes.
    pub wal_bytes: u64,
}

/// What the committer shares with the rest of the store: why it refuses writes, while it
/// does, and who is told about its commits.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommitterReport {
    /// Set by an I/O failure, cleared once the database is open again.
    pub refused: Arc<Refusal>,
    pub observer: Option<Arc<dyn StoreObserver>>,
    /// The value-index rows changed since the last checkpoint, as readers see them.
    pub overlay: Arc<Overlay>,
}

/// Where the store's files are and how its database is opened, to open it again.
#[derive(Debug, Clone)]
pub(crate) struct StoreFiles {
    pub dir: PathBuf,
    pub cache_size_bytes: usize,
}

impl StoreFiles {
    /// Opens (creating) the database file.
    pub(crate) fn open_database(&self) -> Result<Database, StorageError> {
        Database::builder()
            .set_cache_size(self.cache_size_bytes)
            .create(self.dir.join(crate::EmbeddedStore::FILE_NAME))
            .map_err(db_err)
    }
}

/// The writer thread's side of the store: redb plus the log.
pub(crate) struct Committer {
    slot: Arc<DbSlot>,
    files: StoreFiles,
    wal: Wal,
    policy: CheckpointPolicy,
    /// The lsn of the next frame.
    next_lsn: u64,
    last_checkpoint: Instant,
    /// Set by an I/O failure: every batch fails with it until the database is reopened,
    /// attempted as the back-off allows.
    broken: Option<(String, Backoff)>,
    /// Whether the last log append failed (readiness says so until one succeeds).
    log_failing: bool,
    report: CommitterReport,
    /// How long the last batch's log append (with its fsync) took.
    last_sync: Duration,
    series_cache: SeriesCache,
    /// Whether the value index is kept.
    value_index: bool,
    /// The value-index rows changed since the last checkpoint (published to
    /// `report.overlay` with every batch that changes them).
    runs: Runs,
    /// How many of them are kept before batches write some into the table.
    runs_limit: usize,
}

impl Committer {
    /// Replays what the log holds beyond redb's durable state, makes that durable and
    /// empties the log; then the committer is ready for new batches.
    pub(crate) fn open(
        slot: Arc<DbSlot>,
        files: StoreFiles,
        policy: CheckpointPolicy,
        report: CommitterReport,
        index_memory_rows: Option<usize>,
    ) -> Result<Self, StorageError> {
        let value_index = index_memory_rows.is_some();
        let mut wal = Wal::open(&files.dir)?;
        let next_lsn = recover_log(&*slot.get()?, &files.dir, &mut wal, value_index)?;
        Ok(Self {
            slot,
            files,
            wal,
            policy,
            next_lsn,
            last_checkpoint: Instant::now(),
            broken: None,
            log_failing: false,
            report,
            last_sync: Duration::ZERO,
            series_cache: SeriesCache::default(),
            value_index,
            runs: Runs::default(),
            runs_limit: index_memory_rows.unwrap_or(0),
        })
    }

    /// Applies the batch, logs what it applied (synced), then commits it to redb without a
    /// sync, so readers see it only once it is durable. One outcome list per job, in order.
    fn apply(&mut self, jobs: &mut [Job]) -> Result<Vec<Vec<WriteOutcome>>, StorageError> {
        if let Some(reason) = self.report.refused.take_reported() {
            self.refuse(reason);
        }
        if self.broken.is_some() {
            self.recover_when_due();
        }
        if let Some((reason, _)) = &self.broken {
            return Err(StorageError::Unavailable(reason.clone()));
        }
        let db = self.slot.get()?;
        let mut txn = db.begin_write().map_err(db_err)?;
        txn.set_durability(Durability::None).map_err(db_err)?;
        let (outcomes, frame, changes) = {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let last_version = meta
                .get(LAST_VERSION_KEY)
                .map_err(db_err)?
                .map(|v| v.value())
                .unwrap_or(0);
            let mut tables = Tables {
                entities: txn.open_table(ENTITIES).map_err(db_err)?,
                types: txn.open_table(TYPES).map_err(db_err)?,
                values: self.value_index.then(|| (None, PendingRows::default())),
                tenants: txn.open_table(TENANTS).map_err(db_err)?,
                history: HistoryTables {
                    instances: txn.open_table(HISTORY).map_err(db_err)?,
                    headers: txn.open_table(HISTORY_ENTITIES).map_err(db_err)?,
                    series: txn.open_table(HISTORY_SERIES).map_err(db_err)?,
                    outbox: txn.open_table(OUTBOX).map_err(db_err)?,
                    cache: &mut self.series_cache,
                },
                last_version,
            };
            let outcomes = jobs
                .iter_mut()
                .map(|job| apply_job(&mut tables, job))
                .collect::<Result<Vec<_>, _>>()?;
            tables.flush_index()?;
            meta.insert(LAST_VERSION_KEY, tables.last_version)
                .map_err(db_err)?;
            let logged = logged_jobs(jobs, &outcomes);
            // Rows change only with a logged put or delete.
            let changes = tables.take_index_changes(self.next_lsn);
            let frame = if logged.is_empty() {
                None
            } else {
                meta.insert(WAL_LSN_KEY, self.next_lsn).map_err(db_err)?;
                Some(Frame {
                    lsn: self.next_lsn,
                    last_version: tables.last_version,
                    jobs: logged,
                })
            };
            (outcomes, frame, changes)
        };
        self.last_sync = Duration::ZERO;
        if let Some(frame) = frame {
            let started = Instant::now();
            if let Err(err) = self.wal.append(&frame) {
                // The transaction is dropped unapplied; the next batch appends after the
                // last synced frame.
                let reason = format!("the write-ahead log cannot be written: {err}");
                match self.wal.rewind() {
                    Ok(()) => {
                        self.report.refused.set(reason.clone());
                        self.log_failing = true;
                    }
                    Err(cut) => {
                        self.refuse(format!("the write-ahead log cannot be cut back: {cut}"))
                    }
                }
                return Err(StorageError::Unavailable(reason));
            }
            if std::mem::take(&mut self.log_failing) && self.broken.is_none() {
                self.report.refused.clear();
            }
            self.last_sync = started.elapsed();
            self.next_lsn += 1;
        }
        let added = changes.len();
        if added > 0 {
            // Published before the commit: a reader never sees an entity of this batch
            // without its rows (see `index::overlay`).
            self.runs.push(changes);
            self.report.overlay.publish(&self.runs);
        }
        let drained = self.drain_runs(&txn, added)?;
        txn.commit().map_err(db_err)?;
        if drained > 0 {
            // Readers that begin from now on find those rows in the table.
            self.runs.forget_oldest(drained);
            self.report.overlay.publish_forgotten(&self.runs);
        }
        if self.wal.len() > 0 && self.wal.len() >= self.policy.wal_bytes
            || self.checkpoint_due_in().is_some_and(|d| d.is_zero())
        {
            // The batch is durable in the log whatever happens here.
            self.checkpoint_or_refuse();
        }
        Ok(outcomes)
    }

    /// Writes the oldest in-memory index rows into the table in `txn` once the runs hold
    /// more than `runs_limit` rows, twice as many as the batch added (at least
    /// [`RUNS_DRAIN_MIN`]), which bounds the memory they take. Writing them in small
    /// chunks costs more per row than the checkpoint's one pass (fewer rows share each
    /// page), so the limit is a bound, not the usual path (ADR 0004, amendment 1).
    /// Returns how many; the caller forgets them from the runs after the commit.
    fn drain_runs(
        &self,
        txn: &redb::WriteTransaction,
        added: usize,
    ) -> Result<usize, StorageError> {
        if self.runs.len() <= self.runs_limit {
            return Ok(0);
        }
        let chunk = self.runs.oldest((2 * added).max(RUNS_DRAIN_MIN));
        let mut values = txn.open_table(VALUES).map_err(db_err)?;
        write_changes(&mut values, chunk)?;
        Ok(chunk.len())
    }

    /// How long until the log's content is due for a checkpoint, if it holds any.
    fn checkpoint_due_in(&self) -> Option<Duration> {
        (self.wal.len() > 0 && self.broken.is_none()).then(|| {
            self.policy
                .interval
                .saturating_sub(self.last_checkpoint.elapsed())
        })
    }

    /// Checkpoints; a failure makes the committer refuse batches until it has reopened.
    fn checkpoint_or_refuse(&mut self) {
        if let Err(err) = self.checkpoint() {
            tracing::error!(error = %err, "checkpoint failed; the store reopens its file");
            self.refuse(format!("a checkpoint failed: {err}"));
        }
    }

    /// Commits redb durably (everything committed before is then on disk) and empties the
    /// log.
    fn checkpoint(&mut self) -> Result<(), StorageError> {
        let started = Instant::now();
        let db = self.slot.get()?;
        let mut txn = db.begin_write().map_err(db_err)?;
        txn.set_durability(Durability::Immediate).map_err(db_err)?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            meta.insert(WAL_LSN_KEY, self.next_lsn - 1)
                .map_err(db_err)?;
            if !self.runs.is_empty() {
                // In key order: each page of the table changes once for all its rows.
                let mut values = txn.open_table(VALUES).map_err(db_err)?;
                write_changes(&mut values, &self.runs.latest())?;
            }
        }
        txn.commit().map_err(db_err)?;
        self.forget_runs();
        self.wal.reset()?;
        self.last_checkpoint = Instant::now();
        if let Some(observer) = &self.report.observer {
            observer.checkpointed(started.elapsed());
        }
        Ok(())
    }

    /// Until the database is reopened every batch fails with `reason`; readiness reports
    /// it. The first attempt to reopen is due at once.
    fn refuse(&mut self, reason: String) {
        if self.broken.is_none() {
            self.report.refused.set(reason.clone());
            self.broken = Some((reason, Backoff::start()));
        }
    }

    /// Reopens the database if an attempt is due; on success batches are accepted again.
    fn recover_when_due(&mut self) {
        match &self.broken {
            Some((_, backoff)) if backoff.due_in().is_zero() => {}
            _ => return,
        }
        match self.reopen() {
            Ok(()) => {
                if let Some((reason, _)) = self.broken.take() {
                    tracing::info!(after = %reason, "embedded store reopened; writes accepted again");
                }
                self.report.refused.clear();
            }
            Err(err) => {
                tracing::warn!(error = %err, "embedded store cannot reopen yet; will retry");
                if let Some((_, backoff)) = &mut self.broken {
                    backoff.failed();
                }
            }
        }
    }

    /// Closes the database, opens it again and replays the log beyond its durable state.
    fn reopen(&mut self) -> Result<(), StorageError> {
        self.slot.take_for_reopen()?;
        // What failed transactions numbered is not in the store.
        self.series_cache.clear();
        let db = self.files.open_database()?;
        self.next_lsn = recover_log(&db, &self.files.dir, &mut self.wal, self.value_index)?;
        // The replay wrote the rows of every logged batch into the table.
        self.forget_runs();
        self.last_checkpoint = Instant::now();
        self.slot.put(Arc::new(db));
        Ok(())
    }

    /// Drops the runs once the table holds their rows.
    fn forget_runs(&mut self) {
        if !self.runs.is_empty() {
            self.runs = Runs::default();
            self.report.overlay.publish_forgotten(&self.runs);
        }
    }
}

/// The fewest in-memory index rows a batch writes into the table once there are too many.
const RUNS_DRAIN_MIN: usize = 1024;

/// Writes index changes (in key order) into the table.
fn write_changes(values: &mut ValuesTable<'_>, changes: &[Change]) -> Result<(), StorageError> {
    for change in changes {
        if change.present {
            values.insert(&*change.key, ()).map_err(db_err)?;
        } else {
            values.remove(&*change.key).map_err(db_err)?;
        }
    }
    Ok(())
}

/// Replays what the log in `dir` holds beyond redb's durable state, makes that durable and
/// empties the log; returns the lsn of the next frame.
fn recover_log(
    db: &Database,
    dir: &Path,
    wal: &mut Wal,
    value_index: bool,
) -> Result<u64, StorageError> {
    let durable_lsn = {
        let txn = db.begin_read().map_err(db_err)?;
        let meta = txn.open_table(META).map_err(db_err)?;
        let lsn = meta.get(WAL_LSN_KEY).map_err(db_err)?.map(|v| v.value());
        lsn.unwrap_or(0)
    };
    let frames = crate::wal::recover(dir, durable_lsn)?;
    let last_lsn = frames.last().map_or(durable_lsn, |f| f.lsn);
    if !frames.is_empty() {
        replay(db, &frames, value_index)?;
        tracing::info!(
            frames = frames.len(),
            "write-ahead log replayed after an unclean shutdown or a failed write"
        );
    }
    index::build::settle(db, value_index)?;
    wal.reset()?;
    Ok(last_lsn + 1)
}

impl CommitBatch for Committer {
    fn commit_batch(&mut self, jobs: &mut [Job]) -> Result<Vec<Vec<WriteOutcome>>, StorageError> {
        let mut result = self.apply(jobs);
        if result.is_err() {
            // What the failed transaction numbered is not in the store.
            self.series_cache.clear();
        }
        match &result {
            // redb fails everything after an I/O error until it is opened again.
            Err(StorageError::Io(reason)) => {
                let reason = reason.clone();
                self.refuse(reason.clone());
                result = Err(StorageError::Unavailable(reason));
            }
            Err(StorageError::Unavailable(reason)) if reason == LATCHED => {
                self.refuse(reason.clone());
            }
            _ => {}
        }
        if let Some(observer) = &self.report.observer {
            match &result {
                Ok(outcomes) => {
                    let writes = outcomes
                        .iter()
                        .flatten()
                        .filter(|o| matches!(o, WriteOutcome::Applied { .. }))
                        .count();
                    observer.group_committed(jobs.len(), writes, self.last_sync);
                }
                Err(_) => observer.group_failed(jobs.len()),
            }
        }
        result
    }

    fn recovery_due_in(&self) -> Option<Duration> {
        self.broken.as_ref().map(|(_, backoff)| backoff.due_in())
    }

    fn recover(&mut self) {
        self.recover_when_due();
    }

    /// A pause in writes still checkpoints what came before it, so that the value-index
    /// runs go into the table and the log is emptied.
    fn idle_work_due_in(&self) -> Option<Duration> {
        self.checkpoint_due_in()
    }

    fn idle_work(&mut self) {
        if self.checkpoint_due_in().is_some_and(|d| d.is_zero()) {
            self.checkpoint_or_refuse();
        }
    }

    /// A clean close leaves an empty log.
    fn finish(&mut self) {
        if self.broken.is_none() && self.wal.len() > 0 {
            if let Err(err) = self.checkpoint() {
                tracing::error!(error = %err, "final checkpoint failed; the log will be replayed");
            }
        }
    }
}

/// What the batch applied, per job: puts with their stored record, deletes by id.
fn logged_jobs(jobs: &[Job], outcomes: &[Vec<WriteOutcome>]) -> Vec<LoggedJob> {
    jobs.iter()
        .zip(outcomes)
        .filter_map(|(job, outcomes)| {
            let ops: Vec<LoggedOp> = job
                .ops
                .iter()
                .zip(outcomes)
                .filter(|(_, outcome)| matches!(outcome, WriteOutcome::Applied { .. }))
                .map(|(op, _)| match op {
                    PreparedOp::Put {
                        id, types, record, ..
                    } => LoggedOp::Put {
                        id: id.clone(),
                        types: types.clone(),
                        record: record.clone(),
                    },
                    PreparedOp::Delete { id, .. } => LoggedOp::Delete { id: id.clone() },
                    PreparedOp::Record { effects, .. }
                    | PreparedOp::Note { effects, .. }
                    | PreparedOp::Forget { effects, .. } => LoggedOp::History {
                        writes: effects.clone(),
                    },
                })
                .collect();
            (!ops.is_empty()).then(|| LoggedJob {
                tenant_prefix: job.tenant_prefix.clone(),
                tenant_name: job.tenant_name.clone(),
                ops,
            })
        })
        .collect()
}

/// Sets every entity the frames name to the state they record, in one durable transaction.
fn replay(db: &Database, frames: &[Frame], value_index: bool) -> Result<(), StorageError> {
    let mut cache = SeriesCache::default();
    let mut txn = db.begin_write().map_err(db_err)?;
    txn.set_durability(Durability::Immediate).map_err(db_err)?;
    {
        let mut meta = txn.open_table(META).map_err(db_err)?;
        let mut tables = Tables {
            entities: txn.open_table(ENTITIES).map_err(db_err)?,
            types: txn.open_table(TYPES).map_err(db_err)?,
            values: value_index
                .then(|| {
                    txn.open_table(VALUES)
                        .map(|t| (Some(t), PendingRows::default()))
                })
                .transpose()
                .map_err(db_err)?,
            tenants: txn.open_table(TENANTS).map_err(db_err)?,
            history: HistoryTables {
                instances: txn.open_table(HISTORY).map_err(db_err)?,
                headers: txn.open_table(HISTORY_ENTITIES).map_err(db_err)?,
                series: txn.open_table(HISTORY_SERIES).map_err(db_err)?,
                outbox: txn.open_table(OUTBOX).map_err(db_err)?,
                cache: &mut cache,
            },
            last_version: meta
                .get(LAST_VERSION_KEY)
                .map_err(db_err)?
                .map(|v| v.value())
                .unwrap_or(0),
        };
        for frame in frames {
            for job in &frame.jobs {
                let prefix = &job.tenant_prefix;
                for op in &job.ops {
                    match op {
                        LoggedOp::Put { id, types, record } => {
                            let key = layout::entity_key(prefix, id);
                            let old = stored(&tables, &key)?;
                            let suffixes = if tables.values.is_some() {
                                index::suffixes(&layout::split_record(record)?.1.decode()?)
                            } else {
                                Vec::new()
                            };
                            let new = Filed {
                                types,
                                suffixes: &suffixes,
                            };
                            write_record(&mut tables, prefix, id, record, new, old.filed())?;
                            if let Some(name) = job.tenant_name.as_deref() {
                                tables.tenants.insert(name, ()).map_err(db_err)?;
                            }
                        }
                        LoggedOp::Delete { id } => {
                            delete(&mut tables, prefix, id, Expect::Any)?;
                        }
                        LoggedOp::History { writes } => {
                            for w in writes {
                                tables.history.raw(w)?;
                            }
                        }
                    }
                }
            }
            tables.last_version = tables.last_version.max(frame.last_version);
        }
        tables.flush_index()?;
        meta.insert(LAST_VERSION_KEY, tables.last_version)
            .map_err(db_err)?;
        if let Some(last) = frames.last() {
            meta.insert(WAL_LSN_KEY, last.lsn).map_err(db_err)?;
        }
    }
    txn.commit().map_err(db_err)
}

/// What a stored entity files in the indexes: its types and, when the value index is kept,
/// its value suffixes (which cost a decode of the body).
#[derive(Debug, Default)]
struct Stored {
    types: Vec<String>,
    suffixes: Vec<Vec<u8>>,
}

impl Stored {
    fn of(tables: &Tables<'_>, record: &[u8]) -> Result<Stored, StorageError> {
        let body = layout::split_record(record)?.1;
        if tables.values.is_some() {
            let entity = body.decode()?;
            let suffixes = index::suffixes(&entity);
            Ok(Stored {
                types: entity.types,
                suffixes,
            })
        } else {
            Ok(Stored {
                types: body.types()?,
                suffixes: Vec::new(),
            })
        }
    }

    fn filed(&self) -> Filed<'_> {
        Filed {
            types: &self.types,
            suffixes: &self.suffixes,
        }
    }
}

/// What the stored entity under `key` files, nothing when there is none.
fn stored(tables: &Tables<'_>, key: &[u8]) -> Result<Stored, StorageError> {
    match tables.entities.get(key).map_err(db_err)? {
        Some(guard) => Stored::of(tables, guard.value()),
        None => Ok(Stored::default()),
    }
}

fn apply_job(tables: &mut Tables<'_>, job: &mut Job) -> Result<Vec<WriteOutcome>, StorageError> {
    let mut outcomes: Vec<WriteOutcome> = Vec::with_capacity(job.ops.len());
    let mut put_applied = false;
    // Whether the last Put or Delete applied (what a note records).
    let mut written = false;
    for i in 0..job.ops.len() {
        let (before, rest) = job.ops.split_at_mut(i);
        let Some(op) = rest.first_mut() else { break };
        let previous_applied = matches!(outcomes.last(), Some(WriteOutcome::Applied { .. }));
        let outcome = match op {
            PreparedOp::Put {
                id,
                types,
                record,
                suffixes,
                before,
                expect,
            } => {
                let new = Filed { types, suffixes };
                put(
                    tables,
                    &job.tenant_prefix,
                    id,
                    new,
                    record,
                    (*expect, before.take()),
                )?
            }
            PreparedOp::Delete { id, expect } => delete(tables, &job.tenant_prefix, id, *expect)?,
            PreparedOp::Record {
                change,
                with_previous,
                effects,
            } => {
                if *with_previous && !previous_applied {
                    WriteOutcome::Conflict
                } else {
                    tables.last_version += 1;
                    let seq = tables.last_version;
                    let live = if previous_applied {
                        live_modified(before.last(), change)?
                    } else {
                        None
                    };
                    if tables
                        .history
                        .apply(&job.tenant_prefix, change, seq, live, effects)?
                    {
                        WriteOutcome::Applied { version: 0 }
                    } else {
                        WriteOutcome::Conflict
                    }
                }
            }
            PreparedOp::Note { body, effects } => {
                if written {
                    // Numbered from the store-wide version counter: never reused.
                    tables.last_version += 1;
                    let seq = tables.last_version;
                    let write = crate::history::RawWrite {
                        table: crate::history::RawTable::Outbox,
                        key: seq.to_be_bytes().to_vec(),
                        value: Some(std::mem::take(body)),
                    };
                    tables.history.raw(&write)?;
                    effects.push(write);
                    WriteOutcome::Applied { version: seq }
                } else {
                    WriteOutcome::Conflict
                }
            }
            PreparedOp::Forget { seqs, effects } => {
                for seq in seqs.iter() {
                    let write = crate::history::RawWrite {
                        table: crate::history::RawTable::Outbox,
                        key: seq.to_be_bytes().to_vec(),
                        value: None,
                    };
                    tables.history.raw(&write)?;
                    effects.push(write);
                }
                WriteOutcome::Applied { version: 0 }
            }
        };
        if matches!(op, PreparedOp::Put { .. } | PreparedOp::Delete { .. }) {
            written = matches!(outcome, WriteOutcome::Applied { .. });
        }
        put_applied |= matches!(
            (&*op, outcome),
            (
                PreparedOp::Put { .. } | PreparedOp::Record { .. },
                WriteOutcome::Applied { .. }
            )
        );
        outcomes.push(outcome);
    }
    if let (true, Some(name)) = (put_applied, job.tenant_name.as_deref()) {
        tables.tenants.insert(name, ()).map_err(db_err)?;
    }
    Ok(outcomes)
}

/// The `modifiedAt` of the entity `previous` just stored, when `change` appends to that
/// entity's history: the history header need not repeat it.
fn live_modified(
    previous: Option<&PreparedOp>,
    change: &HistoryChange,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, StorageError> {
    match (previous, change) {
        (Some(PreparedOp::Put { id, record, .. }), HistoryChange::Append { header, .. })
            if *id == header.id =>
        {
            layout::split_record(record)?.1.modified_at().map(Some)
        }
        _ => Ok(None),
    }
}

fn expectation_holds(expect: Expect, current: Option<u64>) -> bool {
    match expect {
        Expect::Any => true,
        Expect::Absent => current.is_none(),
        Expect::Version(v) => current == Some(v),
    }
}

/// The current version of an entity and, only when the expectation holds and it exists,
/// what it files in the indexes.
enum Current {
    Conflict,
    Absent,
    Present(Stored),
}

fn current(
    tables: &Tables<'_>,
    key: &[u8],
    expect: Expect,
    before: Option<index::Before>,
) -> Result<Current, StorageError> {
    let Some(guard) = tables.entities.get(key).map_err(db_err)? else {
        return Ok(if expectation_holds(expect, None) {
            Current::Absent
        } else {
            Current::Conflict
        });
    };
    let (version, _) = layout::split_record(guard.value())?;
    if !expectation_holds(expect, Some(version)) {
        return Ok(Current::Conflict);
    }
    if let Some(before) = before.filter(|b| b.version == version) {
        return Ok(Current::Present(Stored {
            types: before.types,
            suffixes: before.suffixes,
        }));
    }
    Ok(Current::Present(Stored::of(tables, guard.value())?))
}

fn put(
    tables: &mut Tables<'_>,
    tenant_prefix: &[u8],
    id: &str,
    new: Filed<'_>,
    record: &mut [u8],
    (expect, before): (Expect, Option<index::Before>),
) -> Result<WriteOutcome, StorageError> {
    let key = layout::entity_key(tenant_prefix, id);
    let old = match current(tables, &key, expect, before)? {
        Current::Conflict => return Ok(WriteOutcome::Conflict),
        Current::Absent => Stored::default(),
        Current::Present(stored) => stored,
    };
    tables.last_version += 1;
    let version = tables.last_version;
    layout::set_record_version(record, version);
    write_record(tables, tenant_prefix, id, record, new, old.filed())?;
    Ok(WriteOutcome::Applied { version })
}

/// Stores a record and moves the entity's `types` and `values` rows from what `old` filed
/// to what `new` files.
fn write_record(
    tables: &mut Tables<'_>,
    tenant_prefix: &[u8],
    id: &str,
    record: &[u8],
    new: Filed<'_>,
    old: Filed<'_>,
) -> Result<(), StorageError> {
    let key = layout::entity_key(tenant_prefix, id);
    tables
        .entities
        .insert(key.as_slice(), record)
        .map_err(db_err)?;
    if let Some((_, pending)) = tables.values.as_mut() {
        pending.maintain(tenant_prefix, id, old, new);
    }
    let (types, old_types) = (new.types, old.types);
    for stale in old_types.iter().filter(|t| !types.contains(t)) {
        let type_key = layout::type_key(tenant_prefix, stale, id);
        tables.types.remove(type_key.as_slice()).map_err(db_err)?;
    }
    for fresh in types.iter().filter(|t| !old_types.contains(t)) {
        let type_key = layout::type_key(tenant_prefix, fresh, id);
        tables
            .types
            .insert(type_key.as_slice(), ())
            .map_err(db_err)?;
    }
    Ok(())
}

fn delete(
    tables: &mut Tables<'_>,
    tenant_prefix: &[u8],
    id: &str,
    expect: Expect,
) -> Result<WriteOutcome, StorageError> {
    let key = layout::entity_key(tenant_prefix, id);
    let old = match current(tables, &key, expect, None)? {
        Current::Conflict => return Ok(WriteOutcome::Conflict),
        // Nothing to delete and nothing was expected: the delete is a no-op.
        Current::Absent => return Ok(WriteOutcome::Applied { version: 0 }),
        Current::Present(stored) => stored,
    };
    tables.entities.remove(key.as_slice()).map_err(db_err)?;
    if let Some((_, pending)) = tables.values.as_mut() {
        pending.maintain(tenant_prefix, id, old.filed(), Filed::default());
    }
    for stale in &old.types {
        let type_key = layout::type_key(tenant_prefix, stale, id);
        tables.types.remove(type_key.as_slice()).map_err(db_err)?;
    }
    Ok(WriteOutcome::Applied { version: 0 })
}
