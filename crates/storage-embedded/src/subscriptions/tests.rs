//! Subscription and registration tables in files written before they existed.

// Tests fail by panicking; expect() names what was expected.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use redb::Database;
use rigel_storage::testkit::sample_subscription;

use super::*;
use crate::layout::{ENTITIES, META, SCHEMA_VERSION, SCHEMA_VERSION_KEY, TENANTS, TYPES};
use rigel_storage::RegistrationStore;

/// Writes a layout-version-1 file with only the tables that came before subscriptions.
fn write_file_without_subscription_tables(dir: &std::path::Path) {
    let db = Database::create(dir.join(EmbeddedStore::FILE_NAME)).expect("create file");
    let txn = db.begin_write().expect("write txn");
    {
        let mut meta = txn.open_table(META).expect("meta");
        meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
            .expect("schema version");
        txn.open_table(ENTITIES).expect("entities");
        txn.open_table(TYPES).expect("types");
        txn.open_table(TENANTS).expect("tenants");
    }
    txn.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_from_before_subscriptions_opens_with_none_and_stores_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_file_without_subscription_tables(dir.path());
    let store = EmbeddedStore::open(dir.path()).expect("open an older file");
    assert!(store.all_subscriptions().await.expect("list").is_empty());
    assert!(store.all_registrations().await.expect("list").is_empty());
    let tenant = Tenant::named("older-file").expect("tenant");
    let subscription = sample_subscription("urn:ngsi-ld:Subscription:older-file");
    assert!(store
        .create_subscription(&tenant, &subscription)
        .await
        .expect("create"));
    assert_eq!(
        store.all_subscriptions().await.expect("list"),
        [(tenant, subscription)]
    );
}
