//! The MongoDB store against the shared storage contract, on the server named by
//! `RIGEL_TEST_MONGODB_URL` (CI starts one; see `.ci/run`). Without it every check says it
//! was skipped and passes, unless `RIGEL_REQUIRE_MONGODB` is set, which makes it fail.
//! Each store gets databases of its own (a fresh prefix), so checks never see each other.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use rigel_storage::testkit;
use rigel_storage_mongodb::{MongoOptions, MongoStore};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A store over databases nobody else uses, or `None` (skipped) without a server.
async fn fresh(check: &str) -> Option<Arc<MongoStore>> {
    let url = rigel_storage_mongodb::testing::server_url(check)?;
    let mut options = MongoOptions::new(url);
    options.database = format!(
        "kit{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    match MongoStore::connect(options).await {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => panic!("cannot connect to the test MongoDB server: {e}"),
    }
}

macro_rules! contract_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                if let Some(store) = fresh(stringify!($check)).await {
                    testkit::$check(store).await;
                }
            }
        )*
    };
}

rigel_storage::each_contract_check!(contract_tests);

/// Every check side by side on one store: the kit's checks use their own names, so they
/// must also pass sharing a database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_contract_passes_on_one_shared_store() {
    let Some(store) = fresh("the_whole_contract_passes_on_one_shared_store").await else {
        return;
    };
    let shared = || {
        let store = Arc::clone(&store);
        async move { store }
    };
    testkit::run_all(shared).await;
    testkit::run_subscription_checks(shared).await;
    testkit::run_registration_checks(shared).await;
    testkit::run_history_checks(shared).await;
}
