//! The outbox (`rigel_storage::Outbox`): each change a write makes, noted under a sequence
//! number in the `outbox` table in the same transaction and log frame as the write, and
//! removed once every subscription has dealt with it. Notes are logged as raw writes, as
//! history changes are, so a crash replays them with the write.
//!
//! A note's body: the tenant (a flag, then the name), the entity id, the commit time, then
//! the entity before and after the write, each a flag and, when present, a length and an
//! entity body (`codec`).

use std::sync::Arc;

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};
use rigel_model::{Entity, Tenant};
use rigel_storage::{ChangeEvent, Outbox, StorageError};

use crate::codec::{decode_entity, encode_entity, put_len, put_str, put_time, Reader};
use crate::error::db_err;
use crate::layout::{self, OUTBOX};
use crate::writer::{Job, PreparedOp};
use crate::EmbeddedStore;

/// The body of a note.
pub(crate) fn encode(event: &ChangeEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    match event.tenant.name() {
        Some(name) => {
            out.push(1);
            put_str(&mut out, name);
        }
        None => out.push(0),
    }
    put_str(&mut out, &event.id);
    put_time(&mut out, &event.at);
    for state in [&event.previous, &event.current] {
        match state {
            Some(entity) => {
                out.push(1);
                let mut body = Vec::with_capacity(256);
                encode_entity(entity, &mut body);
                put_len(&mut out, body.len());
                out.extend_from_slice(&body);
            }
            None => out.push(0),
        }
    }
    out
}

/// A note read back, with its sequence number.
pub(crate) fn decode(seq: u64, body: &[u8]) -> Result<ChangeEvent, StorageError> {
    let mut r = Reader { bytes: body };
    let tenant = match r.byte()? {
        0 => Tenant::default_tenant(),
        _ => Tenant::named(r.str_ref()?).map_err(|e| StorageError::Corrupt(e.to_string()))?,
    };
    let id = r.string()?;
    let at = r.time()?;
    let mut states: [Option<Arc<Entity>>; 2] = [None, None];
    for state in &mut states {
        if r.byte()? == 1 {
            let n = r.count()?;
            *state = Some(Arc::new(decode_entity(r.take(n)?)?));
        }
    }
    let [previous, current] = states;
    Ok(ChangeEvent {
        tenant,
        id,
        previous,
        current,
        at,
        seq: Some(seq),
    })
}

#[async_trait]
impl Outbox for EmbeddedStore {
    async fn pending(&self) -> Result<Vec<ChangeEvent>, StorageError> {
        self.read(|db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(OUTBOX).map_err(db_err)?;
            let mut pending = Vec::new();
            for entry in table.iter().map_err(db_err)? {
                let (key, value) = entry.map_err(db_err)?;
                let seq = <[u8; 8]>::try_from(key.value())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StorageError::Corrupt("outbox key is not 8 bytes".into()))?;
                pending.push(decode(seq, value.value())?);
            }
            Ok(pending)
        })
        .await
    }

    async fn done(&self, seqs: Vec<u64>) -> Result<(), StorageError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let job = Job {
            tenant_prefix: layout::tenant_prefix(&Tenant::default_tenant()),
            tenant_name: None,
            ops: vec![PreparedOp::Forget {
                seqs,
                effects: Vec::new(),
            }],
        };
        self.writer.submit(job).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rigel_storage::testkit::sample_entity;
    use rigel_storage::{Backend, EntityStore, Expect, WriteOp, WriteOutcome};

    fn created(id: &str) -> (WriteOp, WriteOp) {
        let entity = sample_entity(id, &["https://example.org/Bin"]);
        let event = ChangeEvent {
            tenant: Tenant::default_tenant(),
            id: id.to_owned(),
            previous: None,
            current: Some(Arc::new(entity.clone())),
            at: entity.created_at,
            seq: None,
        };
        let put = WriteOp::Put {
            entity,
            expect: Expect::Absent,
        };
        (put, WriteOp::Note { event })
    }

    async fn pending_ids(store: &EmbeddedStore) -> Vec<(String, Option<u64>)> {
        let pending = store.outbox().map(|o| o.pending());
        match pending {
            Some(p) => p
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.id, e.seq))
                .collect(),
            None => Vec::new(),
        }
    }

    #[tokio::test]
    async fn notes_of_applied_writes_stay_across_a_reopen_until_done() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let tenant = Tenant::default_tenant();
        let store = EmbeddedStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let (put, note) = created("urn:ngsi-ld:Bin:1");
        let (again, refused_note) = created("urn:ngsi-ld:Bin:1");
        let outcomes = store
            .commit(&tenant, vec![put, note, again, refused_note])
            .await;
        let outcomes = outcomes.unwrap_or_default();
        let Some(WriteOutcome::Applied { version: seq }) = outcomes.get(1).copied() else {
            panic!("the note did not apply: {outcomes:?}");
        };
        assert_eq!(
            outcomes[2..],
            [WriteOutcome::Conflict, WriteOutcome::Conflict]
        );
        assert_eq!(
            pending_ids(&store).await,
            [("urn:ngsi-ld:Bin:1".to_owned(), Some(seq))]
        );
        drop(store);

        let store = EmbeddedStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            pending_ids(&store).await.len(),
            1,
            "the note survives a reopen"
        );
        if let Some(outbox) = store.outbox() {
            assert!(outbox.done(vec![seq, seq + 1000]).await.is_ok());
        }
        assert!(pending_ids(&store).await.is_empty());
        drop(store);
        let store = EmbeddedStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(pending_ids(&store).await.is_empty(), "done stays done");
    }

    #[test]
    fn a_note_reads_back_as_written() {
        let event = ChangeEvent {
            tenant: Tenant::named("city").unwrap_or_default(),
            id: "urn:ngsi-ld:Bin:1".into(),
            previous: None,
            current: Some(Arc::new(sample_entity(
                "urn:ngsi-ld:Bin:1",
                &["https://example.org/Bin"],
            ))),
            at: chrono::DateTime::from_timestamp(1_700_000_000, 5).unwrap_or_default(),
            seq: None,
        };
        let back = decode(7, &encode(&event));
        assert_eq!(
            back.ok(),
            Some(ChangeEvent {
                seq: Some(7),
                ..event
            })
        );
    }

    #[test]
    fn a_truncated_note_is_corrupt_not_a_panic() {
        let event = ChangeEvent {
            tenant: Tenant::default_tenant(),
            id: "urn:x".into(),
            previous: Some(Arc::new(sample_entity("urn:x", &["https://example.org/T"]))),
            current: None,
            at: chrono::Utc::now(),
            seq: None,
        };
        let body = encode(&event);
        for cut in [0, 1, body.len() / 2, body.len() - 1] {
            assert!(decode(1, &body[..cut]).is_err(), "cut at {cut}");
        }
    }
}
