//! Context Source Registrations (clauses 5.9 and 5.10): register, update, delete, retrieve
//! and query, per tenant.
//!
//! The registry keeps every registration in memory (loaded from the store at start) and
//! writes each change durably before it shows. A registration whose `expiresAt` has passed
//! is gone: it no longer shows and is deleted from the store the next time it is met.
//!
//! The mode rules of registration (clause 5.9.2.4 with 4.3.6.3) are checked for the
//! EntityInfo elements that name an entity id: an exclusive registration conflicts with an
//! exclusive or redirect registration of the same entity and attributes and with a local
//! entity holding any of those attributes; a redirect registration with a local entity
//! holding them and with an exclusive registration of them. An element without
//! attribute names covers every attribute. Registration changes are serialized, so two
//! rivals racing cannot both pass these rules, and registration subscriptions hear of
//! them in the order they were made.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use rigel_model::registration::parse::apply_fragment;
use rigel_model::registration::{ForwardingStatus, Mode, Registration};
use rigel_model::{ModelError, Tenant, TermMap};
use rigel_query::registration::Wanted;
use rigel_storage::{RegistrationStore, StorageError};
use rigel_subscriptions::RegistrationSource;
use serde_json::{Map, Value};

use crate::{Broker, BrokerError};

type Held = BTreeMap<Tenant, BTreeMap<String, Registration>>;

/// The registrations of every tenant, in memory and in the store.
pub struct Registry {
    store: Arc<dyn RegistrationStore>,
    held: RwLock<Held>,
    /// Held across a change's checks and writes, so that two registrations racing for the
    /// same entity cannot both pass the mode rules (registration writes are rare).
    writing: tokio::sync::Mutex<()>,
    /// What this broker counted under each registration since it last added its counts to
    /// the store (other brokers sharing the store count theirs).
    unsaved: std::sync::Mutex<BTreeMap<(Tenant, String), ForwardingStatus>>,
}

impl Registry {
    /// The registry of what `store` holds.
    pub async fn load(store: Arc<dyn RegistrationStore>) -> Result<Self, StorageError> {
        let mut held = Held::new();
        for (tenant, reg) in store.all_registrations().await? {
            held.entry(tenant).or_default().insert(reg.id.clone(), reg);
        }
        Ok(Self {
            store,
            held: RwLock::new(held),
            writing: tokio::sync::Mutex::new(()),
            unsaved: Default::default(),
        })
    }

    fn read<T>(&self, f: impl FnOnce(&Held) -> T) -> T {
        f(&self.held.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Held) -> T) -> T {
        f(&mut self.held.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// The tenant's registrations, in id order, as of `now` (expired ones left out).
    fn list(&self, tenant: &Tenant, now: chrono::DateTime<chrono::Utc>) -> Vec<Registration> {
        self.read(|held| {
            held.get(tenant)
                .map(|regs| regs.values().filter(|r| !r.expired(now)).cloned().collect())
                .unwrap_or_default()
        })
    }

    /// Counts one request forwarded under a registration (Table 5.2.9-2): `timesSent`,
    /// and `lastSuccess`, or `timesFailed` and `lastFailure`. Added to the store's counts
    /// by [`Registry::save_status`].
    pub(crate) fn record(
        &self,
        tenant: &Tenant,
        id: &str,
        ok: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let mut one = ForwardingStatus {
            times_sent: 1,
            ..ForwardingStatus::default()
        };
        if ok {
            one.last_success = Some(at);
        } else {
            one.times_failed = 1;
            one.last_failure = Some(at);
        }
        let counted = self.write(|held| {
            let Some(reg) = held.get_mut(tenant).and_then(|regs| regs.get_mut(id)) else {
                return false;
            };
            reg.status.absorb(&one);
            true
        });
        if counted {
            self.unsaved
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((tenant.clone(), id.to_owned()))
                .or_default()
                .absorb(&one);
        }
    }

    /// Adds what this broker counted since the last save to the stored forwarding status of
    /// each registration. Counts the store could not take are kept for the next save.
    pub async fn save_status(&self) {
        let counts: Vec<(Tenant, String, ForwardingStatus)> = {
            let mut unsaved = self.unsaved.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *unsaved)
                .into_iter()
                .map(|((tenant, id), counted)| (tenant, id, counted))
                .collect()
        };
        if counts.is_empty() {
            return;
        }
        if let Err(e) = self.store.add_forwarding_status(counts.clone()).await {
            tracing::error!("saving the forwarding status of registrations failed: {e}");
            let mut unsaved = self.unsaved.lock().unwrap_or_else(PoisonError::into_inner);
            for (tenant, id, counted) in counts {
                unsaved.entry((tenant, id)).or_default().absorb(&counted);
            }
        }
    }

    /// Takes in a registration as stored, after a change the store's feed reported (by any
    /// broker sharing the database, this one included): created or replaced (`Some`), or
    /// deleted. The stored counts (every broker's that were saved) are shown with those this
    /// broker has not saved yet added. Returns the copy it held before.
    pub fn stored_changed(
        &self,
        tenant: &Tenant,
        id: &str,
        stored: Option<Registration>,
    ) -> Option<Registration> {
        let unsaved = self
            .unsaved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.clone(), id.to_owned()))
            .cloned();
        self.write(|held| match stored {
            Some(mut reg) => {
                if let Some(unsaved) = &unsaved {
                    reg.status.absorb(unsaved);
                }
                held.entry(tenant.clone())
                    .or_default()
                    .insert(id.to_owned(), reg)
            }
            None => {
                let regs = held.get_mut(tenant)?;
                let before = regs.remove(id);
                if regs.is_empty() {
                    held.remove(tenant);
                }
                before
            }
        })
    }

    /// Whether the tenant has any registration at all.
    pub(crate) fn any(&self, tenant: &Tenant) -> bool {
        self.read(|held| held.get(tenant).is_some_and(|regs| !regs.is_empty()))
    }

    /// The tenant's registrations (unexpired at `now`) that `keep` accepts, in id order.
    pub(crate) fn matching(
        &self,
        tenant: &Tenant,
        now: chrono::DateTime<chrono::Utc>,
        keep: impl Fn(&Registration) -> bool,
    ) -> Vec<Registration> {
        self.read(|held| {
            held.get(tenant)
                .map(|regs| {
                    regs.values()
                        .filter(|r| !r.expired(now) && keep(r))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Forgets (durably) the tenant's registrations that have expired at `now`; the ones
    /// forgotten.
    async fn sweep(
        &self,
        tenant: &Tenant,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Registration> {
        let expired: Vec<Registration> = self.read(|held| {
            held.get(tenant)
                .map(|regs| regs.values().filter(|r| r.expired(now)).cloned().collect())
                .unwrap_or_default()
        });
        let mut forgotten = Vec::with_capacity(expired.len());
        for reg in expired {
            match self.store.delete_registration(tenant, &reg.id).await {
                Ok(_) => {
                    self.write(|held| held.get_mut(tenant).map(|regs| regs.remove(&reg.id)));
                    tracing::info!(registration = %reg.id, "expired registration deleted");
                    forgotten.push(reg);
                }
                Err(err) => {
                    tracing::warn!(registration = %reg.id, error = %err, "expired registration not deleted yet");
                }
            }
        }
        forgotten
    }
}

impl RegistrationSource for Registry {
    fn registrations(
        &self,
        tenant: &Tenant,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Registration> {
        self.list(tenant, now)
    }
}

impl Broker {
    /// The broker serving Context Source Registrations from `registry`.
    pub fn with_registrations(mut self, registry: Arc<Registry>) -> Self {
        self.registrations = Some(registry);
        self
    }

    fn registry(&self) -> Result<&Registry, BrokerError> {
        self.registrations
            .as_deref()
            .ok_or(BrokerError::RegistrationsUnavailable)
    }

    /// Tells the registration subscriptions of a registration change (clause 5.11.7).
    fn registration_changed(
        &self,
        tenant: &Tenant,
        before: Option<&Registration>,
        after: Option<&Registration>,
    ) {
        if let Some(service) = &self.subscriptions {
            service.registration_changed(tenant, before, after);
        }
    }

    /// Forgets the tenant's expired registrations, telling their subscribers.
    async fn sweep_registrations(
        &self,
        registry: &Registry,
        tenant: &Tenant,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        for gone in registry.sweep(tenant, now).await {
            self.registration_changed(tenant, Some(&gone), None);
        }
    }

    /// Register Context Source (clause 5.9.2); the registration's id.
    pub async fn create_registration(
        &self,
        tenant: &Tenant,
        registration: Registration,
    ) -> Result<String, BrokerError> {
        let registry = self.registry()?;
        let _writing = registry.writing.lock().await;
        let now = self.now();
        self.sweep_registrations(registry, tenant, now).await;
        let others = registry.list(tenant, now);
        if others.iter().any(|r| r.id == registration.id) {
            return Err(BrokerError::AlreadyExists(registration.id));
        }
        let quota = self.quotas.registrations;
        if quota > 0 && others.len() >= quota {
            return Err(BrokerError::OverQuota(format!(
                "tenant {tenant} holds {} registrations, the most this broker allows",
                others.len()
            )));
        }
        self.check_mode(tenant, &registration, &others).await?;
        self.admit_source(&registration).await?;
        if !registry
            .store
            .create_registration(tenant, &registration)
            .await?
        {
            return Err(BrokerError::AlreadyExists(registration.id));
        }
        let id = registration.id.clone();
        self.registration_changed(tenant, None, Some(&registration));
        registry.write(|held| {
            held.entry(tenant.clone())
                .or_default()
                .insert(id.clone(), registration)
        });
        Ok(id)
    }

    /// Retrieve Context Source Registration (clause 5.10.1).
    pub async fn retrieve_registration(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Registration, BrokerError> {
        let registry = self.registry()?;
        let now = self.now();
        match registry.list(tenant, now).into_iter().find(|r| r.id == id) {
            Some(reg) => Ok(reg),
            None => Err(self.missing_registration(tenant, id).await),
        }
    }

    /// Query Context Source Registrations (clause 5.10.2): the registrations that may hold
    /// what is wanted, a page in id order and the total.
    pub async fn query_registrations(
        &self,
        tenant: &Tenant,
        wanted: &Wanted<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Registration>, usize), BrokerError> {
        let registry = self.registry()?;
        let now = self.now();
        self.sweep_registrations(registry, tenant, now).await;
        let all = registry.list(tenant, now);
        if all.is_empty() && !tenant.is_default() && !self.store.tenant_exists(tenant).await? {
            return Err(BrokerError::NonexistentTenant(tenant.to_string()));
        }
        let matching: Vec<Registration> = all.into_iter().filter(|r| wanted.matches(r)).collect();
        let total = matching.len();
        Ok((
            matching.into_iter().skip(offset).take(limit).collect(),
            total,
        ))
    }

    /// Update Context Source Registration (clause 5.9.3): merges the fragment.
    pub async fn update_registration(
        &self,
        tenant: &Tenant,
        id: &str,
        fragment: &Map<String, Value>,
        terms: &dyn TermMap,
    ) -> Result<(), BrokerError> {
        let registry = self.registry()?;
        let _writing = registry.writing.lock().await;
        let now = self.now();
        let others = registry.list(tenant, now);
        let Some(current) = others.iter().find(|r| r.id == id) else {
            return Err(self.missing_registration(tenant, id).await);
        };
        let updated = apply_fragment(current, fragment, terms, now)?;
        let others: Vec<Registration> = others.iter().filter(|r| r.id != id).cloned().collect();
        self.check_mode(tenant, &updated, &others).await?;
        if updated.endpoint != current.endpoint {
            self.admit_source(&updated).await?;
        }
        if !registry
            .store
            .replace_registration(tenant, &updated)
            .await?
        {
            return Err(self.missing_registration(tenant, id).await);
        }
        self.registration_changed(tenant, Some(current), Some(&updated));
        registry.write(|held| {
            held.entry(tenant.clone())
                .or_default()
                .insert(id.to_owned(), updated)
        });
        Ok(())
    }

    /// Delete Context Source Registration (clause 5.9.4).
    pub async fn delete_registration(&self, tenant: &Tenant, id: &str) -> Result<(), BrokerError> {
        let registry = self.registry()?;
        let _writing = registry.writing.lock().await;
        let now = self.now();
        let Some(gone) = registry.list(tenant, now).into_iter().find(|r| r.id == id) else {
            return Err(self.missing_registration(tenant, id).await);
        };
        registry.store.delete_registration(tenant, id).await?;
        registry.write(|held| held.get_mut(tenant).map(|regs| regs.remove(id)));
        self.registration_changed(tenant, Some(&gone), None);
        Ok(())
    }

    async fn missing_registration(&self, tenant: &Tenant, id: &str) -> BrokerError {
        match self.store.tenant_exists(tenant).await {
            Ok(false) => BrokerError::NonexistentTenant(tenant.to_string()),
            Err(e) => e.into(),
            Ok(true) => BrokerError::RegistrationNotFound(id.to_owned()),
        }
    }

    /// Whether the outbound policy lets the broker call the registration's endpoint: a
    /// refusal is a BadRequestData naming the rule (docs/security.md).
    async fn admit_source(&self, registration: &Registration) -> Result<(), BrokerError> {
        let Some(federation) = &self.federation else {
            return Ok(());
        };
        federation
            .sources
            .admit(&registration.endpoint)
            .await
            .map_err(|why| {
                BrokerError::Model(ModelError::bad_data(format!(
                    "the endpoint {}: {why}",
                    registration.endpoint
                )))
            })
    }

    /// The mode rules of registration (module documentation) against `others`, the
    /// tenant's other registrations, and the tenant's entities.
    async fn check_mode(
        &self,
        tenant: &Tenant,
        reg: &Registration,
        others: &[Registration],
    ) -> Result<(), BrokerError> {
        let mode = reg.mode();
        if !matches!(mode, Mode::Exclusive | Mode::Redirect) {
            return Ok(());
        }
        for (entity, attributes) in registered_entities(reg) {
            let clash = others.iter().find(|other| {
                let other_mode = other.mode();
                let rivals = match mode {
                    Mode::Exclusive => matches!(other_mode, Mode::Exclusive | Mode::Redirect),
                    _ => other_mode == Mode::Exclusive,
                };
                rivals
                    && registered_entities(other)
                        .into_iter()
                        .any(|(id, theirs)| id == entity && overlap(&attributes, &theirs))
            });
            if let Some(other) = clash {
                return Err(BrokerError::Conflict(format!(
                    "registration {} already registers attributes of {entity} as {}",
                    other.id,
                    other.mode().as_str()
                )));
            }
            if let Some(local) = self.store.get(tenant, &entity).await? {
                let held: Vec<String> = local.value.attributes.keys().cloned().collect();
                if overlap(&attributes, &held) && !held.is_empty() {
                    return Err(BrokerError::Conflict(format!(
                        "the local entity {entity} holds attributes a {} registration would take over",
                        mode.as_str()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The entity ids a registration names, each with the attributes registered for it (empty:
/// every attribute).
fn registered_entities(reg: &Registration) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for info in &reg.information {
        let attributes: Vec<String> = info
            .property_names
            .iter()
            .chain(&info.relationship_names)
            .flatten()
            .cloned()
            .collect();
        for entity in info.entities.iter().flatten() {
            if let Some(id) = &entity.id {
                out.push((id.clone(), attributes.clone()));
            }
        }
    }
    out
}

/// Whether two attribute lists share one (an empty list is every attribute).
fn overlap(a: &[String], b: &[String]) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|x| b.contains(x))
}
