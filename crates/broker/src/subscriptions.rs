//! Subscription operations (clause 5.8), and the same for Context Source Registration
//! Subscriptions (clause 5.11): create, retrieve, query, update, delete. Matching and
//! delivery belong to the `subscriptions` crate; these use cases validate, freeze term
//! expansions and keep the durable copy in step. The two kinds live apart: each route sees
//! only its own kind.

use rigel_model::subscription::{parse::apply_fragment, Subscription, SubscriptionKind};
use rigel_model::{Tenant, TermMap};
use rigel_subscriptions::{freeze_terms, SubscriptionError, SubscriptionService};
use serde_json::{Map, Value};

use crate::{Broker, BrokerError};

impl Broker {
    fn subscription_service(&self) -> Result<&SubscriptionService, BrokerError> {
        self.subscriptions
            .as_ref()
            .ok_or(BrokerError::SubscriptionsUnavailable)
    }

    /// Create Subscription (clause 5.8.1) or Create Context Source Registration Subscription
    /// (5.11.2), by the subscription's kind: `terms` is the @context of the request.
    pub async fn create_subscription(
        &self,
        tenant: &Tenant,
        mut subscription: Subscription,
        terms: &dyn TermMap,
    ) -> Result<String, BrokerError> {
        let service = self.subscription_service()?;
        let quota = self.quotas.subscriptions;
        if quota > 0 {
            let held = service.count(tenant) + service.list_csource(tenant).len();
            if held >= quota {
                return Err(BrokerError::OverQuota(format!(
                    "tenant {tenant} holds {held} subscriptions, the most this broker allows"
                )));
            }
        }
        freeze_terms(&mut subscription, terms).map_err(SubscriptionError::from)?;
        service
            .admit_endpoint(&subscription.notification.endpoint.uri)
            .await?;
        let id = subscription.id.clone();
        service.create(tenant, subscription).await?;
        Ok(id)
    }

    /// One live subscription of a kind.
    fn live_subscription(
        &self,
        kind: SubscriptionKind,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<Subscription>, BrokerError> {
        let service = self.subscription_service()?;
        Ok(match kind {
            SubscriptionKind::Entities => service.get(tenant, id),
            SubscriptionKind::Registrations => service.get_csource(tenant, id),
        })
    }

    /// Retrieve Subscription (clause 5.8.3), Retrieve Context Source Registration
    /// Subscription (5.11.4).
    pub async fn retrieve_subscription(
        &self,
        kind: SubscriptionKind,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Subscription, BrokerError> {
        match self.live_subscription(kind, tenant, id)? {
            Some(sub) => Ok(sub),
            None => Err(self.missing_subscription(tenant, id).await),
        }
    }

    /// Query Subscriptions (clause 5.8.4), Query Context Source Registration Subscriptions
    /// (5.11.5): a page, oldest first, and the total.
    pub async fn query_subscriptions(
        &self,
        kind: SubscriptionKind,
        tenant: &Tenant,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Subscription>, usize), BrokerError> {
        let service = self.subscription_service()?;
        let all = match kind {
            SubscriptionKind::Entities => service.list(tenant),
            SubscriptionKind::Registrations => service.list_csource(tenant),
        };
        if all.is_empty() && !tenant.is_default() && !self.store.tenant_exists(tenant).await? {
            return Err(BrokerError::NonexistentTenant(tenant.to_string()));
        }
        let total = all.len();
        Ok((all.into_iter().skip(offset).take(limit).collect(), total))
    }

    /// Update Subscription (clause 5.8.2), Update Context Source Registration Subscription
    /// (5.11.3): merges the fragment into the subscription.
    pub async fn update_subscription(
        &self,
        kind: SubscriptionKind,
        tenant: &Tenant,
        id: &str,
        fragment: &Map<String, Value>,
        terms: &dyn TermMap,
    ) -> Result<(), BrokerError> {
        let service = self.subscription_service()?;
        let Some(current) = self.live_subscription(kind, tenant, id)? else {
            return Err(self.missing_subscription(tenant, id).await);
        };
        let mut updated = apply_fragment(&current, fragment, terms, self.now())?;
        freeze_terms(&mut updated, terms).map_err(SubscriptionError::from)?;
        let endpoint = &updated.notification.endpoint.uri;
        if *endpoint != current.notification.endpoint.uri {
            service.admit_endpoint(endpoint).await?;
        }
        service.replace(tenant, updated).await?;
        Ok(())
    }

    /// Delete Subscription (clause 5.8.5), Delete Context Source Registration Subscription
    /// (5.11.6).
    pub async fn delete_subscription(
        &self,
        kind: SubscriptionKind,
        tenant: &Tenant,
        id: &str,
    ) -> Result<(), BrokerError> {
        let service = self.subscription_service()?;
        let deleted = match kind {
            SubscriptionKind::Entities => service.delete(tenant, id).await?,
            SubscriptionKind::Registrations => service.delete_csource(tenant, id).await?,
        };
        if deleted {
            Ok(())
        } else {
            Err(self.missing_subscription(tenant, id).await)
        }
    }

    async fn missing_subscription(&self, tenant: &Tenant, id: &str) -> BrokerError {
        match self.store.tenant_exists(tenant).await {
            Ok(false) => BrokerError::NonexistentTenant(tenant.to_string()),
            Err(e) => e.into(),
            Ok(true) => SubscriptionError::NotFound(id.to_owned()).into(),
        }
    }
}
