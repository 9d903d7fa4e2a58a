//! The history retention sweep (`--history-max-age-secs`, `--history-max-instances`): a
//! background task that trims the history every `--history-sweep-secs`, a few entities per
//! commit, so writers never wait long behind it.

use std::time::Duration;

use rigel_broker::{Broker, BrokerError};
use rigel_storage::StorageError;

/// What retention keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    pub max_age: Option<Duration>,
    pub max_instances: Option<usize>,
    pub every: Duration,
}

impl Retention {
    /// `None` when the configuration bounds nothing.
    pub(crate) fn from_config(config: &crate::Config) -> Option<Self> {
        let max_age = (config.history_max_age_secs > 0)
            .then(|| Duration::from_secs(config.history_max_age_secs));
        let max_instances =
            (config.history_max_instances > 0).then_some(config.history_max_instances);
        (max_age.is_some() || max_instances.is_some()).then(|| Self {
            max_age,
            max_instances,
            every: Duration::from_secs(config.history_sweep_secs.max(1)),
        })
    }
}

/// Runs the sweep until the store closes.
pub(crate) async fn run(broker: Broker, retention: Retention) {
    let mut tick = tokio::time::interval(retention.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let older_than = retention
            .max_age
            .and_then(|age| chrono::Duration::from_std(age).ok())
            .map(|age| broker.now() - age);
        match broker
            .sweep_history(older_than, retention.max_instances)
            .await
        {
            Ok(0) => {}
            Ok(trimmed) => {
                tracing::info!(entities = trimmed, "history retention trimmed instances")
            }
            Err(BrokerError::Storage(StorageError::Closed)) => return,
            Err(err) => {
                tracing::warn!(error = %err, "history retention sweep failed; retrying at the next sweep")
            }
        }
    }
}
