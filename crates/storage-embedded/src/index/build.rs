//! Bringing the value index in line with the option at open: built from every stored entity
//! when it is on but not complete in the current layout (a store written before the index,
//! with it off, or in an earlier layout), and
//! dropped when it is off, so that a later open with it on rebuilds it rather than trust
//! rows that writes made meanwhile did not maintain.

use redb::{Database, ReadableDatabase, ReadableTable};
use rigel_storage::StorageError;

use crate::error::db_err;
use crate::layout::{self, ENTITIES, META, VALUES, VALUE_INDEX_KEY};

/// Builds or drops the value index as `enabled` says, in one durable transaction.
pub(crate) fn settle(db: &Database, enabled: bool) -> Result<(), StorageError> {
    let complete = {
        let txn = db.begin_read().map_err(db_err)?;
        let meta = txn.open_table(META).map_err(db_err)?;
        meta.get(VALUE_INDEX_KEY)
            .map_err(db_err)?
            .map(|v| v.value())
            == Some(super::LAYOUT)
    };
    if complete == enabled {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let txn = db.begin_write().map_err(db_err)?;
    let mut indexed = 0usize;
    {
        txn.delete_table(VALUES).map_err(db_err)?;
        let mut values = txn.open_table(VALUES).map_err(db_err)?;
        let mut pending = super::PendingRows::default();
        if enabled {
            let entities = txn.open_table(ENTITIES).map_err(db_err)?;
            for entry in entities.iter().map_err(db_err)? {
                let (key, record) = entry.map_err(db_err)?;
                let key = key.value();
                let tenant_len = layout::component_len(key)?;
                let (tenant_prefix, id) = key.split_at(tenant_len);
                let id = std::str::from_utf8(id)
                    .map_err(|_| StorageError::Corrupt("entity id in a key is not UTF-8".into()))?;
                let entity = layout::split_record(record.value())?.1.decode()?;
                let suffixes = super::suffixes(&entity);
                let new = super::Filed {
                    types: &entity.types,
                    suffixes: &suffixes,
                };
                pending.maintain(tenant_prefix, id, super::Filed::default(), new);
                indexed += 1;
                if pending.len() >= 100_000 {
                    pending.flush(&mut values)?;
                }
            }
        }
        pending.flush(&mut values)?;
        let mut meta = txn.open_table(META).map_err(db_err)?;
        let layout = if enabled { super::LAYOUT } else { 0 };
        meta.insert(VALUE_INDEX_KEY, layout).map_err(db_err)?;
    }
    txn.commit().map_err(db_err)?;
    if enabled {
        tracing::info!(
            entities = indexed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "value index built"
        );
    } else {
        tracing::info!("value index dropped (turned off)");
    }
    Ok(())
}
