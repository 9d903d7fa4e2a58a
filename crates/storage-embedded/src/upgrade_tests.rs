//! Files of layout version 1 (JSON entity records) open, read and take binary records.

// Tests fail by panicking; expect() names what was expected.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use redb::{Database, ReadableDatabase};
use rigel_storage::testkit::sample_entity;
use rigel_storage::{EntityStore, Expect, WriteOp, WriteOutcome};

use super::*;
use crate::layout::{entity_key, tenant_prefix, type_key, LAST_VERSION_KEY, RECORD_FORMAT_JSON};

const ID: &str = "urn:ngsi-ld:Vehicle:layout-1";
const TYPE: &str = "https://uri.etsi.org/ngsi-ld/default-context/Vehicle";

/// Writes a file as a layout-1 build did: one entity as a format-1 JSON record at version 3.
fn write_layout_1_file(dir: &std::path::Path, schema_version: u64) -> Entity {
    let entity = sample_entity(ID, &[TYPE]);
    let db = Database::create(dir.join(EmbeddedStore::FILE_NAME)).expect("create file");
    let txn = db.begin_write().expect("write txn");
    {
        let mut meta = txn.open_table(META).expect("meta");
        meta.insert(SCHEMA_VERSION_KEY, schema_version)
            .expect("schema version");
        meta.insert(LAST_VERSION_KEY, 3).expect("last version");
        let prefix = tenant_prefix(&Tenant::default_tenant());
        let mut record = vec![RECORD_FORMAT_JSON, 0, 0, 0, 0, 0, 0, 0, 3];
        serde_json::to_writer(&mut record, &entity).expect("JSON");
        let mut entities = txn.open_table(ENTITIES).expect("entities");
        entities
            .insert(entity_key(&prefix, ID).as_slice(), record.as_slice())
            .expect("record");
        let mut types = txn.open_table(TYPES).expect("types");
        types
            .insert(type_key(&prefix, TYPE, ID).as_slice(), ())
            .expect("type row");
        txn.open_table(TENANTS).expect("tenants");
    }
    txn.commit().expect("commit");
    entity
}

fn schema_version_of(dir: &std::path::Path) -> u64 {
    let db = Database::open(dir.join(EmbeddedStore::FILE_NAME)).expect("reopen file");
    let txn = db.begin_read().expect("read txn");
    let meta = txn.open_table(META).expect("meta");
    meta.get(SCHEMA_VERSION_KEY)
        .expect("get")
        .expect("set")
        .value()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_1_file_is_read_updated_and_marked_layout_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entity = write_layout_1_file(dir.path(), 1);
    let store = EmbeddedStore::open(dir.path()).expect("open a layout-1 file");
    let tenant = Tenant::default_tenant();
    let found = store.get(&tenant, ID).await.expect("get").expect("present");
    assert_eq!((found.version, &found.value), (3, &entity));

    let mut changed = entity.clone();
    changed.types = vec!["urn:t:Other".into()];
    let outcomes = store
        .commit(
            &tenant,
            vec![WriteOp::Put {
                entity: changed.clone(),
                expect: Expect::Version(3),
            }],
        )
        .await
        .expect("commit");
    assert_eq!(outcomes, [WriteOutcome::Applied { version: 4 }]);
    let found = store.get(&tenant, ID).await.expect("get").expect("present");
    assert_eq!(found.value, changed);
    // The old type's index row went, read from the JSON record the put replaced.
    assert!(store
        .ids_by_type(&tenant, TYPE, None, 10)
        .await
        .expect("type index")
        .is_empty());
    store.close().await.expect("close");
    drop(store);
    assert_eq!(schema_version_of(dir.path()), SCHEMA_VERSION);
}

#[test]
fn a_newer_layout_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_layout_1_file(dir.path(), SCHEMA_VERSION + 1);
    assert!(matches!(
        EmbeddedStore::open(dir.path()),
        Err(StorageError::Corrupt(_))
    ));
}
