//! The in-memory store against the shared storage contract: every check of the kit (entities,
//! selections, subscriptions, history), each on a fresh store, then all of them side by side
//! on one shared store.

use std::sync::Arc;

use rigel_storage::testkit;
use rigel_storage_memory::MemoryStore;

macro_rules! contract_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                testkit::$check(Arc::new(MemoryStore::new())).await;
            }
        )*
    };
}

rigel_storage::each_contract_check!(contract_tests);

/// `run_all` and the subscription, registration and history checks cover the same checks in
/// one go, all sharing one store (the kit's checks use their own names, so they must also
/// pass side by side).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_contract_passes_on_one_shared_store() {
    let store = Arc::new(MemoryStore::new());
    let shared = || {
        let store = Arc::clone(&store);
        async move { store }
    };
    testkit::run_all(shared).await;
    testkit::run_subscription_checks(shared).await;
    testkit::run_registration_checks(shared).await;
    testkit::run_history_checks(shared).await;
}

/// `run_all` and the subscription, registration and history checks with a fresh store for
/// every check, as the kit intends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_contract_passes_on_fresh_stores() {
    let fresh = || async { Arc::new(MemoryStore::new()) };
    testkit::run_all(fresh).await;
    testkit::run_subscription_checks(fresh).await;
    testkit::run_registration_checks(fresh).await;
    testkit::run_history_checks(fresh).await;
}
