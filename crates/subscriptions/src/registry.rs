//! The in-memory registry of live subscriptions, indexed so that a change is only tested
//! against subscriptions that could match it: by entity type, plus the few that select by
//! watched attributes or id pattern alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rigel_model::subscription::{DeliveryStatus, Subscription};
use rigel_model::Tenant;
use tokio::sync::mpsc;

use crate::compile::{Compiled, IndexKeys};
use crate::notification::Pending;

/// What the delivery worker of a subscription shares with the registry.
pub struct Shared {
    pub tenant: Tenant,
    /// The subscription as configured (immutable: an update replaces the entry).
    pub config: Subscription,
    pub compiled: Compiled,
    /// Its live delivery counters.
    pub delivery: Mutex<DeliveryStatus>,
    /// Set when the subscription is deleted or replaced: queued changes are dropped.
    pub retired: std::sync::atomic::AtomicBool,
    /// How it renders changes ([`crate::notification::render_key`]).
    pub render_key: u64,
    /// Changes in its queue or being notified right now.
    pub queued: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// A subscription's shared state as it goes live, with its stored counters.
    pub fn new(tenant: &Tenant, config: Subscription, compiled: Compiled) -> Arc<Self> {
        Arc::new(Shared {
            render_key: crate::notification::render_key(&config),
            tenant: tenant.clone(),
            delivery: Mutex::new(config.delivery.clone()),
            config,
            compiled,
            retired: Default::default(),
            queued: Default::default(),
        })
    }

    pub fn delivery(&self) -> DeliveryStatus {
        self.delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The subscription with its current counters.
    pub fn snapshot(&self) -> Subscription {
        let mut sub = self.config.clone();
        sub.delivery = self.delivery();
        sub
    }
}

/// Subscriptions in listing order: oldest first, ties in id order.
pub fn oldest_first(mut subs: Vec<Subscription>) -> Vec<Subscription> {
    subs.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    subs
}

/// A registered subscription: its shared state and the sending end of its queue.
pub struct Entry {
    pub shared: Arc<Shared>,
    pub queue: mpsc::Sender<Pending>,
}

/// The subscriptions of one tenant.
#[derive(Default)]
pub struct TenantIndex {
    pub by_id: HashMap<String, Arc<Entry>>,
    by_type: HashMap<String, Vec<Arc<Entry>>>,
    /// Subscriptions without entity selectors, by watched attribute.
    by_attribute: HashMap<String, Vec<Arc<Entry>>>,
    /// Subscriptions any change may match.
    any: Vec<Arc<Entry>>,
}

impl TenantIndex {
    pub fn insert(&mut self, entry: Arc<Entry>) {
        match entry.shared.compiled.index_keys() {
            IndexKeys::Types(types) => {
                for t in types {
                    self.by_type.entry(t).or_default().push(entry.clone());
                }
            }
            IndexKeys::Any => match entry.shared.compiled.watched() {
                Some(watched) => {
                    for attribute in watched {
                        let list = self.by_attribute.entry(attribute.clone()).or_default();
                        list.push(entry.clone());
                    }
                }
                None => self.any.push(entry.clone()),
            },
        }
        self.by_id.insert(entry.shared.config.id.clone(), entry);
    }

    pub fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        let entry = self.by_id.remove(id)?;
        for index in [&mut self.by_type, &mut self.by_attribute] {
            index.retain(|_, list| {
                list.retain(|e| !Arc::ptr_eq(e, &entry));
                !list.is_empty()
            });
        }
        self.any.retain(|e| !Arc::ptr_eq(e, &entry));
        Some(entry)
    }

    /// The subscriptions a change to an entity of these types, touching these attributes,
    /// could match, each once.
    pub fn candidates<'a>(
        &'a self,
        types: impl Iterator<Item = &'a String>,
        attributes: impl Iterator<Item = &'a String>,
    ) -> Vec<&'a Arc<Entry>> {
        let mut out: Vec<&Arc<Entry>> = self.any.iter().collect();
        let mut lists = usize::from(!self.any.is_empty());
        let keyed = types
            .filter_map(|t| self.by_type.get(t))
            .chain(attributes.filter_map(|a| self.by_attribute.get(a)));
        for list in keyed {
            out.extend(list);
            lists += 1;
        }
        if lists > 1 {
            out.sort_by_key(|e| Arc::as_ptr(e) as usize);
            out.dedup_by(|a, b| Arc::ptr_eq(a, b));
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
