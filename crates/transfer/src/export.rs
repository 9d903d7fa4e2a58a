//! Export: every record of the chosen tenants of a store, written as NDJSON.

use std::io::Write;
use std::sync::Arc;

use chrono::Utc;
use rigel_model::Tenant;
use rigel_query::EntityQuery;
use rigel_storage::{HistoryQuery, Selection, Source, Store};
use serde::Serialize;

use crate::format::{Header, HistoryChunk, HistoryInstance, Record, HISTORY_CHUNK};
use crate::TransferError;

/// Entities and history headers read per store call.
const PAGE: usize = 500;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only these tenants; `None` for every tenant of the store.
    pub tenants: Option<Vec<Tenant>>,
    /// Leave the temporal history out.
    pub without_history: bool,
    /// Written into the header: where the records come from.
    pub source: String,
}

/// How many records of each kind an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exported {
    pub tenants: usize,
    pub entities: usize,
    pub histories: usize,
    pub instances: usize,
    pub subscriptions: usize,
    pub registrations: usize,
}

/// Writes the header and every record of the chosen tenants to `out`, tenant by tenant:
/// entities, then histories, subscriptions and registrations. The store is read page by
/// page, so an export of a large tenant holds one page (and one entity's history) at a time.
pub async fn export(
    store: &dyn Store,
    options: &ExportOptions,
    out: &mut dyn Write,
) -> Result<Exported, TransferError> {
    line(out, &Header::new(options.source.clone(), Utc::now()))?;
    let tenants = match &options.tenants {
        Some(chosen) => chosen.clone(),
        None => store.tenants().await?,
    };
    let subscriptions = store.all_subscriptions().await?;
    let registrations = store.all_registrations().await?;
    let mut done = Exported::default();
    for tenant in tenants {
        done.tenants += 1;
        done.entities += entities(store, &tenant, out).await?;
        if !options.without_history {
            let (histories, instances) = histories(store, &tenant, out).await?;
            done.histories += histories;
            done.instances += instances;
        }
        for (_, subscription) in subscriptions.iter().filter(|(t, _)| *t == tenant) {
            line(
                out,
                &Record::Subscription {
                    tenant: tenant.clone(),
                    subscription: subscription.clone(),
                },
            )?;
            done.subscriptions += 1;
        }
        for (_, registration) in registrations.iter().filter(|(t, _)| *t == tenant) {
            line(
                out,
                &Record::Registration {
                    tenant: tenant.clone(),
                    registration: registration.clone(),
                },
            )?;
            done.registrations += 1;
        }
    }
    out.flush()?;
    Ok(done)
}

/// Every entity of the tenant, in id order, a page at a time.
async fn entities(
    store: &dyn Store,
    tenant: &Tenant,
    out: &mut dyn Write,
) -> Result<usize, TransferError> {
    let everything = Arc::new(EntityQuery::default());
    let mut after: Option<String> = None;
    let mut count = 0;
    loop {
        let mut page = Selection::new(everything.clone(), PAGE);
        page.after = after.take();
        let selected = store.select(tenant, page).await?;
        let Some(last) = selected.entities.last() else {
            return Ok(count);
        };
        after = Some(last.value.id.clone());
        for entity in &selected.entities {
            line(
                out,
                &Record::Entity {
                    tenant: tenant.clone(),
                    entity: (*entity.value).clone(),
                },
            )?;
            count += 1;
        }
        if selected.entities.len() < PAGE {
            return Ok(count);
        }
    }
}

/// Every entity history of the tenant (deleted entities' included), each as records of at
/// most [`HISTORY_CHUNK`] instances; returns (histories, instances).
async fn histories(
    store: &dyn Store,
    tenant: &Tenant,
    out: &mut dyn Write,
) -> Result<(usize, usize), TransferError> {
    let mut after: Option<String> = None;
    let (mut histories, mut instances) = (0, 0);
    loop {
        let headers = store
            .history_headers(tenant, &Source::All, after.as_deref(), PAGE)
            .await?;
        let Some(last) = headers.last() else {
            return Ok((histories, instances));
        };
        after = Some(last.id.clone());
        for header in &headers {
            // Observed-at order without a time range: every instance, in filing order.
            let Some(history) = store
                .history(tenant, &header.id, &HistoryQuery::default())
                .await?
            else {
                continue;
            };
            histories += 1;
            let mut chunk = HistoryChunk::of(&history.header);
            let mut flushed = false;
            for (attribute, recorded) in history.attributes {
                for instance in recorded {
                    chunk.instances.push(HistoryInstance {
                        attribute: attribute.clone(),
                        value: instance.value,
                        deleted_at: instance.deleted_at,
                    });
                    instances += 1;
                    if chunk.instances.len() == HISTORY_CHUNK {
                        let full = std::mem::replace(&mut chunk, HistoryChunk::of(&history.header));
                        history_line(out, tenant, full)?;
                        flushed = true;
                    }
                }
            }
            // A history without instances (every one trimmed) still has its header.
            if !chunk.instances.is_empty() || !flushed {
                history_line(out, tenant, chunk)?;
            }
        }
        if headers.len() < PAGE {
            return Ok((histories, instances));
        }
    }
}

fn history_line(
    out: &mut dyn Write,
    tenant: &Tenant,
    history: HistoryChunk,
) -> Result<(), TransferError> {
    line(
        out,
        &Record::History {
            tenant: tenant.clone(),
            history,
        },
    )
}

fn line(out: &mut dyn Write, value: &impl Serialize) -> Result<(), TransferError> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}
