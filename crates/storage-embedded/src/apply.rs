//! Applies a batch of jobs inside one redb write transaction, keeping the indexes in step.
//!
//! Runs only on the writer thread. Each op is checked against its own expectation; a failed
//! expectation is a `Conflict` for that op and writes nothing. A storage error fails the whole
//! batch and every requester gets it: before the commit nothing is applied (the transaction
//! is dropped, i.e. aborted); a failed commit itself is atomic but may have become durable.

use redb::{Database, Durability, ReadableTable, Table};
use rigel_storage::{Expect, StorageError, WriteOutcome};

use crate::error::db_err;
use crate::layout::{self, ENTITIES, LAST_VERSION_KEY, META, TENANTS, TYPES};
use crate::writer::{Job, PreparedOp};

/// The tables a write touches, open for the duration of one transaction.
struct Tables<'txn> {
    entities: Table<'txn, &'static [u8], &'static [u8]>,
    types: Table<'txn, &'static [u8], ()>,
    tenants: Table<'txn, &'static str, ()>,
    /// The store-wide version counter: every applied put takes the next value, so a version
    /// is never reused, not even by an entity deleted and created again.
    last_version: u64,
}

/// Commits every job of the batch in one transaction with one fsync.
pub(crate) fn commit_batch(
    db: &Database,
    jobs: &mut [Job],
) -> Result<Vec<Vec<WriteOutcome>>, StorageError> {
    let mut txn = db.begin_write().map_err(db_err)?;
    txn.set_durability(Durability::Immediate).map_err(db_err)?;
    let outcomes = {
        let mut meta = txn.open_table(META).map_err(db_err)?;
        let last_version = meta
            .get(LAST_VERSION_KEY)
            .map_err(db_err)?
            .map(|v| v.value())
            .unwrap_or(0);
        let mut tables = Tables {
            entities: txn.open_table(ENTITIES).map_err(db_err)?,
            types: txn.open_table(TYPES).map_err(db_err)?,
            tenants: txn.open_table(TENANTS).map_err(db_err)?,
            last_version,
        };
        let outcomes = jobs
            .iter_mut()
            .map(|job| apply_job(&mut tables, job))
            .collect::<Result<Vec<_>, _>>()?;
        meta.insert(LAST_VERSION_KEY, tables.last_version)
            .map_err(db_err)?;
        outcomes
    };
    txn.commit().map_err(db_err)?;
    Ok(outcomes)
}

fn apply_job(tables: &mut Tables<'_>, job: &mut Job) -> Result<Vec<WriteOutcome>, StorageError> {
    let mut outcomes = Vec::with_capacity(job.ops.len());
    let mut put_applied = false;
    for op in &mut job.ops {
        let outcome = match op {
            PreparedOp::Put {
                id,
                types,
                record,
                expect,
            } => put(tables, &job.tenant_prefix, id, types, record, *expect)?,
            PreparedOp::Delete { id, expect } => delete(tables, &job.tenant_prefix, id, *expect)?,
        };
        put_applied |= matches!(
            (&*op, outcome),
            (PreparedOp::Put { .. }, WriteOutcome::Applied { .. })
        );
        outcomes.push(outcome);
    }
    if let (true, Some(name)) = (put_applied, job.tenant_name.as_deref()) {
        tables.tenants.insert(name, ()).map_err(db_err)?;
    }
    Ok(outcomes)
}

fn expectation_holds(expect: Expect, current: Option<u64>) -> bool {
    match expect {
        Expect::Any => true,
        Expect::Absent => current.is_none(),
        Expect::Version(v) => current == Some(v),
    }
}

/// The current version of an entity and, only when the expectation holds and it exists, its
/// types (which cost a parse of the body).
enum Current {
    Conflict,
    Absent,
    Present { types: Vec<String> },
}

fn current(tables: &Tables<'_>, key: &[u8], expect: Expect) -> Result<Current, StorageError> {
    let Some(guard) = tables.entities.get(key).map_err(db_err)? else {
        return Ok(if expectation_holds(expect, None) {
            Current::Absent
        } else {
            Current::Conflict
        });
    };
    let (version, body) = layout::split_record(guard.value())?;
    if !expectation_holds(expect, Some(version)) {
        return Ok(Current::Conflict);
    }
    Ok(Current::Present {
        types: body.types()?,
    })
}

fn put(
    tables: &mut Tables<'_>,
    tenant_prefix: &[u8],
    id: &str,
    types: &[String],
    record: &mut [u8],
    expect: Expect,
) -> Result<WriteOutcome, StorageError> {
    let key = layout::entity_key(tenant_prefix, id);
    let old_types = match current(tables, &key, expect)? {
        Current::Conflict => return Ok(WriteOutcome::Conflict),
        Current::Absent => Vec::new(),
        Current::Present { types } => types,
    };
    tables.last_version += 1;
    let version = tables.last_version;
    layout::set_record_version(record, version);
    tables
        .entities
        .insert(key.as_slice(), &*record)
        .map_err(db_err)?;
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
    Ok(WriteOutcome::Applied { version })
}

fn delete(
    tables: &mut Tables<'_>,
    tenant_prefix: &[u8],
    id: &str,
    expect: Expect,
) -> Result<WriteOutcome, StorageError> {
    let key = layout::entity_key(tenant_prefix, id);
    let old_types = match current(tables, &key, expect)? {
        Current::Conflict => return Ok(WriteOutcome::Conflict),
        // Nothing to delete and nothing was expected: the delete is a no-op.
        Current::Absent => return Ok(WriteOutcome::Applied { version: 0 }),
        Current::Present { types } => types,
    };
    tables.entities.remove(key.as_slice()).map_err(db_err)?;
    for stale in &old_types {
        let type_key = layout::type_key(tenant_prefix, stale, id);
        tables.types.remove(type_key.as_slice()).map_err(db_err)?;
    }
    Ok(WriteOutcome::Applied { version: 0 })
}
