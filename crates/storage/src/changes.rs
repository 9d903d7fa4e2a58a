//! Change events: what a committed write did to one entity, for subscriptions (and later
//! the temporal history) to react to.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rigel_model::{Entity, Tenant};

/// One committed change to one entity: its state before and after the write.
/// `previous: None` is a creation, `current: None` a deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub tenant: Tenant,
    pub id: String,
    pub previous: Option<Arc<Entity>>,
    pub current: Option<Arc<Entity>>,
    /// When the change was committed (the broker's clock).
    pub at: DateTime<Utc>,
    /// Its number in the backend's outbox, when it was noted there ([`crate::Outbox`]): the
    /// receiver marks it done once every subscription has dealt with it.
    pub seq: Option<u64>,
}

/// Receives the changes of every acknowledged write, in commit order per entity, before the
/// write is acknowledged to its client. Must not block: it is called on the request path.
pub trait ChangeListener: Send + Sync + 'static {
    /// Whether changes of this tenant interest the listener at all; when not, writers skip
    /// building events (which costs a copy of each entity written).
    fn wants(&self, tenant: &Tenant) -> bool;

    fn changed(&self, events: Vec<ChangeEvent>);

    /// Whether the change may interest the listener, asked before its write commits: a
    /// cheap test that errs on the side of yes. A change it does not want is not noted in
    /// the store's outbox.
    fn may_want(&self, _event: &ChangeEvent) -> bool {
        true
    }
}
