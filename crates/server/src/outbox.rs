//! The store's outbox (ADR 0003): at start, the changes the last run noted and did not
//! finish notifying are offered to the subscriptions again; while the broker runs, the
//! changes every subscription has dealt with are forgotten in the outbox once a second, and
//! once more at shutdown.

use std::sync::Arc;
use std::time::Duration;

use rigel_storage::Store;
use rigel_subscriptions::SubscriptionService;

use crate::StartError;

/// How often dealt-with changes are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(1);

/// Offers what the outbox holds to the subscriptions (already loaded).
pub(crate) async fn replay(
    store: &Arc<dyn Store>,
    subscriptions: &SubscriptionService,
) -> Result<(), StartError> {
    let Some(outbox) = store.outbox() else {
        return Ok(());
    };
    let pending = outbox.pending().await.map_err(StartError::Outbox)?;
    if !pending.is_empty() {
        tracing::info!(
            changes = pending.len(),
            "notifying the changes the last run left undelivered"
        );
        rigel_storage::ChangeListener::changed(subscriptions, pending);
    }
    Ok(())
}

/// Forgets the changes dealt with since the last call.
pub(crate) async fn forget_once(store: &Arc<dyn Store>, subscriptions: &SubscriptionService) {
    let Some(outbox) = store.outbox() else {
        return;
    };
    let done = subscriptions.outbox_done();
    if done.is_empty() {
        return;
    }
    // Not fatal: what stays noted is notified again after a restart, never lost.
    if let Err(e) = outbox.done(done).await {
        tracing::warn!("could not clear notified changes from the outbox: {e}");
    }
}

/// Forgets dealt-with changes for as long as the server runs.
pub(crate) async fn forget_done(store: Arc<dyn Store>, subscriptions: SubscriptionService) {
    loop {
        tokio::time::sleep(FORGET_EVERY).await;
        forget_once(&store, &subscriptions).await;
    }
}
