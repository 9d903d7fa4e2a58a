//! Import: records written into a store, entity writes grouped into commits, with a report of
//! what was created, replaced, skipped and rejected. A dry run reads the target to make the
//! same report and writes nothing.

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;

use rigel_model::registration::Registration;
use rigel_model::subscription::Subscription;
use rigel_model::validate::is_uri;
use rigel_model::{Entity, Tenant};
use rigel_storage::{Expect, HistoryChange, Store, WriteOp, WriteOutcome};

use crate::format::{Header, HistoryChunk, Record, FORMAT, VERSION};
use crate::TransferError;

/// Entities written per commit.
const BATCH: usize = 100;
/// History changes written per commit, and the instances they may carry in all.
const HISTORY_BATCH: usize = 32;
const HISTORY_BATCH_INSTANCES: usize = 8_000;

/// What an import does with a record whose entity, history, subscription or registration
/// already exists in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Leave the target's as it is (and count it as skipped).
    #[default]
    Skip,
    /// Replace it with the imported one.
    Replace,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub existing: Existing,
    /// Read the target and report, write nothing.
    pub dry_run: bool,
}

/// Created, replaced and skipped things of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub created: usize,
    pub replaced: usize,
    pub skipped: usize,
}

/// What an import did (or, dry, would do) in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantReport {
    pub entities: Tally,
    pub histories: Tally,
    /// History instances written.
    pub instances: usize,
    pub subscriptions: Tally,
    pub registrations: Tally,
}

/// A record that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Where it came from: a line number, a collection and document id.
    pub at: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub dry_run: bool,
    pub tenants: BTreeMap<Tenant, TenantReport>,
    pub rejected: Vec<Rejected>,
    /// What was imported with a change, or left out of an imported record, and why.
    pub remarks: Vec<Rejected>,
}

/// Imports an export (see [`crate::format`]) from `input` into `store`. A line that is not a
/// valid record is rejected with its line number and the import goes on; a first line that
/// is not an export header stops it before anything is written.
pub async fn import(
    store: &dyn Store,
    input: impl BufRead,
    options: ImportOptions,
) -> Result<ImportReport, TransferError> {
    let mut lines = input.lines();
    let first = lines
        .next()
        .transpose()?
        .ok_or_else(|| TransferError::NotAnExport("the input is empty".into()))?;
    let header: Header = serde_json::from_str(&first)
        .map_err(|e| TransferError::NotAnExport(format!("line 1: {e}")))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(TransferError::NotAnExport(format!(
            "line 1 names format {:?} version {}, this build reads {FORMAT:?} version {VERSION}",
            header.format, header.version
        )));
    }
    let mut loader = Loader::new(store, options);
    for (index, text) in lines.enumerate() {
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", index + 2);
        match serde_json::from_str::<Record>(&text) {
            Ok(record) => loader.load(at, record).await?,
            Err(e) => loader.reject(at, e.to_string()),
        }
    }
    loader.finish().await
}

/// Writes records into a store: what [`import`] and other importers (Orion-LD) share.
pub struct Loader<'a> {
    store: &'a dyn Store,
    options: ImportOptions,
    report: ImportReport,
    /// Entities waiting for their commit, all of one tenant.
    pending: Vec<(String, Entity)>,
    pending_tenant: Tenant,
    /// The history being imported (its chunks come one after another) and whether it is
    /// written or skipped.
    history: Option<(Tenant, String, bool)>,
    /// History writes waiting for their commit, all of one tenant, and their instances.
    history_ops: Vec<WriteOp>,
    history_tenant: Tenant,
    history_instances: usize,
    /// Subscription and registration ids in the target, read once for dry runs.
    existing_ids: Option<HashSet<(Tenant, String)>>,
}

impl<'a> Loader<'a> {
    pub fn new(store: &'a dyn Store, options: ImportOptions) -> Self {
        let report = ImportReport {
            dry_run: options.dry_run,
            ..ImportReport::default()
        };
        Loader {
            store,
            options,
            report,
            pending: Vec::new(),
            pending_tenant: Tenant::default_tenant(),
            history: None,
            history_ops: Vec::new(),
            history_tenant: Tenant::default_tenant(),
            history_instances: 0,
            existing_ids: None,
        }
    }

    /// Notes a record that cannot be imported.
    pub fn reject(&mut self, at: String, reason: String) {
        self.report.rejected.push(Rejected { at, reason });
    }

    /// Notes something imported with a change, or left out of a record.
    pub fn remark(&mut self, at: String, reason: String) {
        self.report.remarks.push(Rejected { at, reason });
    }

    /// Imports one record (entities are written in groups: [`Loader::finish`] writes the
    /// last one).
    pub async fn load(&mut self, at: String, record: Record) -> Result<(), TransferError> {
        if let Err(reason) = check(&record) {
            self.reject(at, reason);
            return Ok(());
        }
        match record {
            Record::Entity { tenant, entity } => {
                if tenant != self.pending_tenant || self.pending.len() >= BATCH {
                    self.flush().await?;
                    self.pending_tenant = tenant;
                }
                self.pending.push((at, entity));
            }
            Record::History { tenant, history } => self.history(tenant, history).await?,
            Record::Subscription {
                tenant,
                subscription,
            } => self.subscription(tenant, subscription).await?,
            Record::Registration {
                tenant,
                registration,
            } => self.registration(tenant, registration).await?,
        }
        Ok(())
    }

    /// Writes what is pending and returns the report.
    pub async fn finish(mut self) -> Result<ImportReport, TransferError> {
        self.flush().await?;
        self.flush_history().await?;
        Ok(self.report)
    }

    /// Queues a history change for the tenant's next history commit.
    async fn record(
        &mut self,
        tenant: &Tenant,
        change: HistoryChange,
    ) -> Result<(), TransferError> {
        if *tenant != self.history_tenant
            || self.history_ops.len() >= HISTORY_BATCH
            || self.history_instances >= HISTORY_BATCH_INSTANCES
        {
            self.flush_history().await?;
            self.history_tenant = tenant.clone();
        }
        if let HistoryChange::Append { instances, .. } = &change {
            self.history_instances += instances.len();
        }
        self.history_ops.push(WriteOp::Record {
            change,
            with_previous: false,
        });
        Ok(())
    }

    /// Writes the queued history changes in one commit (in their order: a history's
    /// forgetting before its appends).
    async fn flush_history(&mut self) -> Result<(), TransferError> {
        self.history_instances = 0;
        if self.history_ops.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(&mut self.history_ops);
        self.store.commit(&self.history_tenant, ops).await?;
        Ok(())
    }

    fn tenant(&mut self, tenant: &Tenant) -> &mut TenantReport {
        self.report.tenants.entry(tenant.clone()).or_default()
    }

    /// Writes the pending entities in one commit: new ones expected absent, existing ones
    /// replaced or skipped.
    async fn flush(&mut self) -> Result<(), TransferError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let tenant = self.pending_tenant.clone();
        let batch = std::mem::take(&mut self.pending);
        let ids: Vec<String> = batch.iter().map(|(_, e)| e.id.clone()).collect();
        let found = self.store.get_many(&tenant, &ids).await?;
        let replace = self.options.existing == Existing::Replace;
        let mut ops = Vec::with_capacity(batch.len());
        let mut creates = Vec::with_capacity(batch.len());
        let mut tally = Tally::default();
        let mut seen = HashSet::new();
        for ((at, entity), existing) in batch.into_iter().zip(found) {
            if !seen.insert(entity.id.clone()) {
                self.report.rejected.push(Rejected {
                    at,
                    reason: format!("entity {} appears twice", entity.id),
                });
                continue;
            }
            match (existing, replace) {
                (Some(_), false) => tally.skipped += 1,
                (Some(_), true) => {
                    tally.replaced += 1;
                    creates.push(false);
                    ops.push(WriteOp::Put {
                        entity,
                        expect: Expect::Any,
                    });
                }
                (None, _) => {
                    tally.created += 1;
                    creates.push(true);
                    ops.push(WriteOp::Put {
                        entity,
                        expect: Expect::Absent,
                    });
                }
            }
        }
        if !self.options.dry_run && !ops.is_empty() {
            let outcomes = self.store.commit(&tenant, ops).await?;
            // An entity created meanwhile by someone else is left as they wrote it.
            for (outcome, created) in outcomes.into_iter().zip(creates) {
                if outcome == WriteOutcome::Conflict && created {
                    tally.created -= 1;
                    tally.skipped += 1;
                }
            }
        }
        let report = self.tenant(&tenant);
        report.entities.created += tally.created;
        report.entities.replaced += tally.replaced;
        report.entities.skipped += tally.skipped;
        Ok(())
    }

    /// Appends a chunk of a history. The first chunk of an entity's history decides: a
    /// history the target already has is skipped, or forgotten and replaced.
    async fn history(&mut self, tenant: Tenant, chunk: HistoryChunk) -> Result<(), TransferError> {
        let continues =
            matches!(&self.history, Some((t, id, _)) if *t == tenant && *id == chunk.id);
        if !continues {
            let exists = self
                .store
                .history_header(&tenant, &chunk.id)
                .await?
                .is_some();
            let replace = self.options.existing == Existing::Replace;
            let write = !exists || replace;
            let report = self.tenant(&tenant);
            match (exists, replace) {
                (false, _) => report.histories.created += 1,
                (true, true) => report.histories.replaced += 1,
                (true, false) => report.histories.skipped += 1,
            }
            if exists && replace && !self.options.dry_run {
                let forget = HistoryChange::Forget {
                    id: chunk.id.clone(),
                };
                self.record(&tenant, forget).await?;
            }
            self.history = Some((tenant.clone(), chunk.id.clone(), write));
        }
        let write = self.history.as_ref().is_some_and(|(_, _, w)| *w);
        if !write {
            return Ok(());
        }
        let instances = chunk.new_instances();
        self.tenant(&tenant).instances += instances.len();
        if !self.options.dry_run {
            let append = HistoryChange::Append {
                header: chunk.header(),
                instances,
            };
            self.record(&tenant, append).await?;
        }
        Ok(())
    }

    async fn subscription(
        &mut self,
        tenant: Tenant,
        subscription: Subscription,
    ) -> Result<(), TransferError> {
        let key = (tenant.clone(), format!("s {}", subscription.id));
        let outcome = if self.options.dry_run {
            self.dry(key).await?
        } else if self
            .store
            .create_subscription(&tenant, &subscription)
            .await?
        {
            Outcome::Created
        } else if self.options.existing == Existing::Replace {
            self.store
                .replace_subscription(&tenant, &subscription)
                .await?;
            Outcome::Replaced
        } else {
            Outcome::Skipped
        };
        outcome.count(&mut self.tenant(&tenant).subscriptions);
        Ok(())
    }

    async fn registration(
        &mut self,
        tenant: Tenant,
        registration: Registration,
    ) -> Result<(), TransferError> {
        let key = (tenant.clone(), format!("r {}", registration.id));
        let outcome = if self.options.dry_run {
            self.dry(key).await?
        } else if self
            .store
            .create_registration(&tenant, &registration)
            .await?
        {
            Outcome::Created
        } else if self.options.existing == Existing::Replace {
            self.store
                .replace_registration(&tenant, &registration)
                .await?;
            Outcome::Replaced
        } else {
            Outcome::Skipped
        };
        outcome.count(&mut self.tenant(&tenant).registrations);
        Ok(())
    }

    /// What a write of the subscription or registration `key` would do.
    async fn dry(&mut self, key: (Tenant, String)) -> Result<Outcome, TransferError> {
        if self.existing_ids.is_none() {
            let mut ids = HashSet::new();
            for (tenant, s) in self.store.all_subscriptions().await? {
                ids.insert((tenant, format!("s {}", s.id)));
            }
            for (tenant, r) in self.store.all_registrations().await? {
                ids.insert((tenant, format!("r {}", r.id)));
            }
            self.existing_ids = Some(ids);
        }
        let exists = self
            .existing_ids
            .as_ref()
            .is_some_and(|ids| ids.contains(&key));
        Ok(match (exists, self.options.existing) {
            (false, _) => Outcome::Created,
            (true, Existing::Replace) => Outcome::Replaced,
            (true, Existing::Skip) => Outcome::Skipped,
        })
    }
}

enum Outcome {
    Created,
    Replaced,
    Skipped,
}

impl Outcome {
    fn count(self, tally: &mut Tally) {
        match self {
            Outcome::Created => tally.created += 1,
            Outcome::Replaced => tally.replaced += 1,
            Outcome::Skipped => tally.skipped += 1,
        }
    }
}

/// What every store expects of a record, checked before it is written.
fn check(record: &Record) -> Result<(), String> {
    match record {
        Record::Entity { entity, .. } => {
            if !is_uri(&entity.id) {
                return Err(format!("entity id {:?} is not a URI", entity.id));
            }
            if entity.types.is_empty() {
                return Err(format!("entity {} has no type", entity.id));
            }
        }
        Record::History { history, .. } => {
            if !is_uri(&history.id) {
                return Err(format!("history of {:?}: the id is not a URI", history.id));
            }
        }
        Record::Subscription { subscription, .. } => {
            if !is_uri(&subscription.id) {
                return Err(format!(
                    "subscription id {:?} is not a URI",
                    subscription.id
                ));
            }
        }
        Record::Registration { registration, .. } => {
            if !is_uri(&registration.id) {
                return Err(format!(
                    "registration id {:?} is not a URI",
                    registration.id
                ));
            }
        }
    }
    Ok(())
}
