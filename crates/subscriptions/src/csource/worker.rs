//! The delivery worker of one Context Source Registration Subscription: sends the
//! notifications its queue holds (registration changes, the current matches after a
//! creation or an update) and, for a periodic subscription, every `timeInterval` the
//! registrations that match then, even none (clause 5.11.7). Counters, throttling, cooldown
//! and status work as for entity subscriptions.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rigel_model::registration::render::render_registration;
use rigel_model::registration::Registration;
use rigel_model::subscription::NotificationMedia;
use rigel_model::TermMap;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::matcher::RegistrationMatcher;
use super::{Job, TriggerReason};
use crate::notification::{notification_id, outgoing};
use crate::registry::Shared;
use crate::service::Inner;
use crate::worker::{context, may_notify, periodic, send, tick};

pub(crate) async fn run(
    inner: Arc<Inner>,
    shared: Arc<Shared>,
    matcher: Arc<RegistrationMatcher>,
    mut queue: mpsc::Receiver<Job>,
    tick_at_once: bool,
) {
    let mut ticker = periodic(shared.config.time_interval, tick_at_once);
    loop {
        tokio::select! {
            job = queue.recv() => {
                let Some(job) = job else { return };
                notify(&inner, &shared, job.reason, &job.registrations, false).await;
                inner.settle(&shared, 1);
            }
            _ = tick(&mut ticker) => {
                let now = inner.clock.now();
                let matching = current_matches(&inner, &shared, &matcher, now);
                notify(&inner, &shared, TriggerReason::NewlyMatching, &matching, true).await;
            }
        }
    }
}

/// The tenant's registrations that match, as notified.
pub(crate) fn current_matches(
    inner: &Inner,
    shared: &Shared,
    matcher: &RegistrationMatcher,
    now: DateTime<Utc>,
) -> Vec<Registration> {
    inner
        .registrations
        .get()
        .map(|source| source.registrations(&shared.tenant, now))
        .unwrap_or_default()
        .iter()
        .filter_map(|r| matcher.filter(r))
        .collect()
}

/// Sends one notification; a change notification only when it carries a registration.
async fn notify(
    inner: &Inner,
    shared: &Shared,
    reason: TriggerReason,
    registrations: &[Registration],
    periodic: bool,
) {
    let now = inner.clock.now();
    if (registrations.is_empty() && !periodic) || !may_notify(shared, now) {
        return;
    }
    let ctx = context(inner, shared).await;
    let body = notification_body(shared, ctx.as_ref(), reason, registrations, now);
    let media = match shared.config.notification.endpoint.accept {
        NotificationMedia::JsonLd => NotificationMedia::JsonLd,
        _ => NotificationMedia::Json,
    };
    let message = outgoing(&shared.config, &shared.tenant, body, media);
    send(inner, shared, message, now).await;
}

/// A CSourceNotification (clause 5.3.2): the registrations compacted with the subscription's
/// @context, their entity types always as arrays, and the @context in each when the
/// endpoint accepts JSON-LD.
pub(crate) fn notification_body(
    shared: &Shared,
    terms: &dyn TermMap,
    reason: TriggerReason,
    registrations: &[Registration],
    now: DateTime<Utc>,
) -> Vec<u8> {
    let json_ld = shared.config.notification.endpoint.accept == NotificationMedia::JsonLd;
    let data = registrations
        .iter()
        .map(|reg| {
            let mut reg = reg.clone();
            for info in &mut reg.information {
                for entity in info.entities.iter_mut().flatten() {
                    entity.type_list = true;
                }
            }
            let mut rendered = render_registration(&reg, terms, false);
            if json_ld {
                rendered.insert(
                    "@context".into(),
                    Value::String(shared.config.jsonld_context.clone()),
                );
            }
            Value::Object(rendered)
        })
        .collect();
    let mut body = Map::new();
    body.insert("id".into(), Value::String(notification_id()));
    body.insert("type".into(), "ContextSourceNotification".into());
    body.insert(
        "subscriptionId".into(),
        Value::String(shared.config.id.clone()),
    );
    body.insert(
        "notifiedAt".into(),
        Value::String(rigel_model::codec::render::format_time(&now)),
    );
    body.insert("data".into(), Value::Array(data));
    body.insert("triggerReason".into(), reason.name().into());
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}
