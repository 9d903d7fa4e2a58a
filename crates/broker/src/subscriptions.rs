//! Subscription operations (clause 5.8): create, retrieve, query, update, delete. Matching and
//! delivery belong to the `subscriptions` crate; these use cases validate, freeze term
//! expansions and keep the durable copy in step.

use rigel_model::subscription::{parse::apply_fragment, Subscription};
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

    /// Create Subscription (clause 5.8.1): `terms` is the @context of the request.
    pub async fn create_subscription(
        &self,
        tenant: &Tenant,
        mut subscription: Subscription,
        terms: &dyn TermMap,
    ) -> Result<String, BrokerError> {
        let service = self.subscription_service()?;
        freeze_terms(&mut subscription, terms).map_err(SubscriptionError::from)?;
        let id = subscription.id.clone();
        service.create(tenant, subscription).await?;
        Ok(id)
    }

    /// Retrieve Subscription (clause 5.8.3).
    pub async fn retrieve_subscription(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Subscription, BrokerError> {
        match self.subscription_service()?.get(tenant, id) {
            Some(sub) => Ok(sub),
            None => Err(self.missing_subscription(tenant, id).await),
        }
    }

    /// Query Subscriptions (clause 5.8.4): a page in id order and the total.
    pub async fn query_subscriptions(
        &self,
        tenant: &Tenant,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Subscription>, usize), BrokerError> {
        let all = self.subscription_service()?.list(tenant);
        if all.is_empty() && !tenant.is_default() && !self.store.tenant_exists(tenant).await? {
            return Err(BrokerError::NonexistentTenant(tenant.to_string()));
        }
        let total = all.len();
        Ok((all.into_iter().skip(offset).take(limit).collect(), total))
    }

    /// Update Subscription (clause 5.8.2): merges the fragment into the subscription.
    pub async fn update_subscription(
        &self,
        tenant: &Tenant,
        id: &str,
        fragment: &Map<String, Value>,
        terms: &dyn TermMap,
    ) -> Result<(), BrokerError> {
        let service = self.subscription_service()?;
        let Some(current) = service.get(tenant, id) else {
            return Err(self.missing_subscription(tenant, id).await);
        };
        let mut updated = apply_fragment(&current, fragment, terms, self.now())?;
        freeze_terms(&mut updated, terms).map_err(SubscriptionError::from)?;
        service.replace(tenant, updated).await?;
        Ok(())
    }

    /// Delete Subscription (clause 5.8.5).
    pub async fn delete_subscription(&self, tenant: &Tenant, id: &str) -> Result<(), BrokerError> {
        if self.subscription_service()?.delete(tenant, id).await? {
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
