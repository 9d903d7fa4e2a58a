//! Commits: each write checked against its own expectation (a failed one is a `Conflict`
//! and writes nothing), history records bound to the write before them, and a named tenant
//! entered in the catalog with its first applied write.
//!
//! A commit of one entity write to a known tenant is a single conditional write (insert, or
//! replace at the version read). Anything more runs as one transaction with snapshot reads
//! and a majority write concern, run again from the start when MongoDB reports a transient
//! error (a write conflict with a concurrent commit, a failover).

use std::time::Duration;

use mongodb::bson::{doc, Document};
use mongodb::error::{Error, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::ReadConcern;
use mongodb::{ClientSession, Collection};
use rigel_model::{Entity, Tenant};
use rigel_storage::{Expect, StorageError, WriteOp, WriteOutcome};

use crate::error::{is_duplicate_key, is_transient, storage_error};
use crate::{durable, history, layout, pushdown, MongoStore};

/// How often a transaction is run again after transient errors before the commit fails.
const ATTEMPTS: u32 = 30;

/// Applies `ops` in order and returns one outcome per op, once durable.
///
/// A large commit (a batch) runs as several transactions of at most [`UNITS`] entity writes
/// each, every one with the history records bound to it: MongoDB refuses transactions
/// larger than its cache holds, and the contract asks for order and durability, not for
/// one commit to be all or nothing (each write is checked on its own).
pub(crate) async fn commit(
    store: &MongoStore,
    tenant: &Tenant,
    ops: &[WriteOp],
) -> Result<Vec<WriteOutcome>, StorageError> {
    let mut outcomes = Vec::with_capacity(ops.len());
    for chunk in chunks(ops, UNITS) {
        outcomes.extend(commit_chunk(store, tenant, chunk).await?);
    }
    Ok(outcomes)
}

/// Entity writes (with their bound records) per transaction.
const UNITS: usize = 16;

/// `ops` cut into runs of at most `units` units, a unit being an op and the records bound
/// to it (`with_previous`), which stay with it.
fn chunks(ops: &[WriteOp], units: usize) -> Vec<&[WriteOp]> {
    let mut chunks = Vec::new();
    let (mut start, mut count) = (0, 0);
    for (i, op) in ops.iter().enumerate() {
        let bound = matches!(
            op,
            WriteOp::Record {
                with_previous: true,
                ..
            } | WriteOp::Note { .. }
        );
        if !bound {
            if count == units {
                chunks.push(&ops[start..i]);
                (start, count) = (i, 0);
            }
            count += 1;
        }
    }
    if start < ops.len() {
        chunks.push(&ops[start..]);
    }
    chunks
}

async fn commit_chunk(
    store: &MongoStore,
    tenant: &Tenant,
    ops: &[WriteOp],
) -> Result<Vec<WriteOutcome>, StorageError> {
    let registered = store.is_registered(tenant);
    let lone_entity_write =
        matches!(ops, [WriteOp::Put { .. } | WriteOp::Delete { .. }]) && registered;
    let mut session = store.client.start_session().await.map_err(storage_error)?;
    if lone_entity_write {
        let writer = Writer {
            store,
            tenant,
            in_transaction: false,
            careful: false,
        };
        return writer
            .apply_all(&mut session, ops)
            .await
            .map_err(storage_error);
    }
    let mut writer = Writer {
        store,
        tenant,
        in_transaction: true,
        careful: false,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match writer.transaction(&mut session, ops, !registered).await {
            Ok(outcomes) => {
                if !registered && outcomes.iter().any(writes_data) {
                    store.mark_registered(tenant);
                }
                return Ok(outcomes);
            }
            // A create found its id taken: run again, reading before every write.
            Err(e) if is_duplicate_key(&e) && !writer.careful => writer.careful = true,
            Err(e) if is_transient(&e) && attempt < ATTEMPTS => {
                // Let the commit we conflicted with finish before trying again.
                tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(10)))).await;
            }
            Err(e) => return Err(storage_error(e)),
        }
    }
}

fn writes_data(outcome: &WriteOutcome) -> bool {
    matches!(outcome, WriteOutcome::Applied { .. })
}

/// Applies the ops of one commit.
struct Writer<'a> {
    store: &'a MongoStore,
    tenant: &'a Tenant,
    in_transaction: bool,
    /// Read an entity before creating it, also in a transaction. At first a create only
    /// inserts (a taken id fails the insert, and, in a transaction, the transaction, which
    /// then runs again carefully): creates of new ids, the usual case, cost one write.
    careful: bool,
}

impl Writer<'_> {
    /// Runs the ops as one transaction, entering the tenant in the catalog with them when
    /// `register` and something applied.
    async fn transaction(
        &self,
        session: &mut ClientSession,
        ops: &[WriteOp],
        register: bool,
    ) -> Result<Vec<WriteOutcome>, Error> {
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(durable())
            .await?;
        let applied = self.apply_all(session, ops).await;
        let outcomes = match applied {
            Ok(outcomes) => outcomes,
            Err(e) => {
                // The transaction is void either way; the first error is the one to report.
                let _ = session.abort_transaction().await;
                return Err(e);
            }
        };
        if register && outcomes.iter().any(writes_data) {
            if let Some((filter, update)) = self.store.catalog_entry(self.tenant) {
                let entered = self
                    .store
                    .catalog()
                    .update_one(filter, update)
                    .upsert(true)
                    .session(&mut *session)
                    .await;
                if let Err(e) = entered {
                    let _ = session.abort_transaction().await;
                    return Err(e);
                }
            }
        }
        let mut unknown = false;
        loop {
            match session.commit_transaction().await {
                Ok(()) => return Ok(outcomes),
                // The commit may or may not have happened: committing again is safe.
                Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => unknown = true,
                // Asked again, a restarted server no longer knows the transaction: it may
                // have committed before it went down. Not acknowledged, not run again.
                Err(e) if unknown => {
                    return Err(Error::custom(crate::error::Ambiguous(format!(
                        "the database went away while committing; the write may or may not have been applied: {e}"
                    ))))
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn apply_all(
        &self,
        session: &mut ClientSession,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteOutcome>, Error> {
        let mut outcomes: Vec<WriteOutcome> = Vec::with_capacity(ops.len());
        // Whether the last Put or Delete applied (what a Note records).
        let mut written = false;
        for op in ops {
            let previous_applied = matches!(outcomes.last(), Some(WriteOutcome::Applied { .. }));
            let outcome = match op {
                WriteOp::Put { entity, expect } => {
                    let outcome = self.put(session, entity, *expect).await?;
                    written = matches!(outcome, WriteOutcome::Applied { .. });
                    outcome
                }
                WriteOp::Delete { id, expect } => {
                    let outcome = self.delete(session, id, *expect).await?;
                    written = matches!(outcome, WriteOutcome::Applied { .. });
                    outcome
                }
                // The change stream is this backend's record of changes: no outbox.
                WriteOp::Note { .. } if written => WriteOutcome::Applied { version: 0 },
                WriteOp::Note { .. } => WriteOutcome::Conflict,
                WriteOp::Record {
                    change,
                    with_previous,
                } => {
                    if *with_previous && !previous_applied {
                        WriteOutcome::Conflict
                    } else if history::apply(self.store, self.tenant, session, change).await? {
                        WriteOutcome::Applied { version: 0 }
                    } else {
                        WriteOutcome::Conflict
                    }
                }
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn entities(&self) -> Collection<Document> {
        self.store.collection(self.tenant, layout::ENTITIES)
    }

    /// The version of the stored entity, if any.
    async fn current(&self, session: &mut ClientSession, id: &str) -> Result<Option<u64>, Error> {
        let found = self
            .entities()
            .find_one(doc! {"_id": id})
            .projection(doc! {"v": 1})
            .session(session)
            .await?;
        Ok(found
            .and_then(|d| d.get_i64("v").ok())
            .map(|v| v.unsigned_abs()))
    }

    async fn put(
        &self,
        session: &mut ClientSession,
        entity: &Entity,
        expect: Expect,
    ) -> Result<WriteOutcome, Error> {
        // A create needs no read unless careful: the insert itself fails on a taken id.
        let current = if expect == Expect::Absent && !(self.in_transaction && self.careful) {
            None
        } else {
            self.current(session, &entity.id).await?
        };
        if !holds(expect, current) {
            return Ok(WriteOutcome::Conflict);
        }
        let version = self.store.versions.next(current.unwrap_or(0));
        let document = encode(entity, version)?;
        match current {
            None => match self.entities().insert_one(document).session(session).await {
                Ok(_) => Ok(WriteOutcome::Applied { version }),
                // Outside a transaction the id is taken; inside one the transaction is void
                // and runs again carefully.
                Err(e) if is_duplicate_key(&e) && !self.in_transaction => {
                    Ok(WriteOutcome::Conflict)
                }
                Err(e) => Err(e),
            },
            Some(read) => {
                let replaced = self
                    .entities()
                    .replace_one(doc! {"_id": &entity.id, "v": signed(read)}, document)
                    .session(session)
                    .await?;
                Ok(if replaced.matched_count == 1 {
                    WriteOutcome::Applied { version }
                } else {
                    WriteOutcome::Conflict
                })
            }
        }
    }

    async fn delete(
        &self,
        session: &mut ClientSession,
        id: &str,
        expect: Expect,
    ) -> Result<WriteOutcome, Error> {
        let current = self.current(session, id).await?;
        if !holds(expect, current) {
            return Ok(WriteOutcome::Conflict);
        }
        if let Some(read) = current {
            let deleted = self
                .entities()
                .delete_one(doc! {"_id": id, "v": signed(read)})
                .session(session)
                .await?;
            if deleted.deleted_count == 0 {
                return Ok(WriteOutcome::Conflict);
            }
        }
        Ok(WriteOutcome::Applied { version: 0 })
    }
}

fn holds(expect: Expect, current: Option<u64>) -> bool {
    match expect {
        Expect::Any => true,
        Expect::Absent => current.is_none(),
        Expect::Version(v) => current == Some(v),
    }
}

/// Versions are below 2^63 (microseconds since 1970 and increments): stored as BSON int64.
pub(crate) fn signed(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// The document of an entity at a version.
pub(crate) fn encode(entity: &Entity, version: u64) -> Result<Document, Error> {
    let body = serde_json::to_string(entity).map_err(|e| {
        Error::custom(StorageError::Corrupt(format!(
            "entity not serializable: {e}"
        )))
    })?;
    Ok(doc! {
        "_id": &entity.id,
        "v": signed(version),
        "types": &entity.types,
        "ix": pushdown::index_fields(entity),
        "body": body,
    })
}

#[cfg(test)]
mod tests {
    use rigel_storage::{HistoryChange, WriteOp};

    use super::chunks;

    fn put(id: &str) -> WriteOp {
        let entity = rigel_storage::testkit::sample_entity(id, &["https://example.org/T"]);
        WriteOp::Put {
            entity,
            expect: rigel_storage::Expect::Any,
        }
    }

    fn bound(id: &str) -> WriteOp {
        WriteOp::Record {
            change: HistoryChange::Forget { id: id.into() },
            with_previous: true,
        }
    }

    #[test]
    fn chunks_keep_bound_records_with_their_write() {
        let ops = vec![
            put("a"),
            bound("a"),
            put("b"),
            bound("b"),
            put("c"),
            bound("c"),
        ];
        let cut = chunks(&ops, 2);
        assert_eq!(cut.iter().map(|c| c.len()).collect::<Vec<_>>(), vec![4, 2]);
        assert_eq!(chunks(&ops, 16).len(), 1);
        assert!(chunks(&[], 16).is_empty());
    }
}
