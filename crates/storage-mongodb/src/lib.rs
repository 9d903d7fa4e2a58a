//! The MongoDB backend of the storage contract: entities, their history, subscriptions and
//! registrations in a MongoDB replica set (ADR 0006).
//!
//! * One database per tenant (`<prefix>` and `<prefix>-<tenant>`, as Orion-LD users know
//!   it); each entity is one document holding its id, version, types and its body as JSON.
//! * A write is acknowledged after a majority-acknowledged, journaled commit. A commit of
//!   several writes (an entity and its history, a batch) runs as one transaction, retried
//!   when MongoDB reports a transient conflict; a lone write is a conditional write.
//! * Selections read candidates by type, id or id prefix from MongoDB in id order and
//!   evaluate the rest of the query here; a query by types alone is counted and paged by
//!   MongoDB.
//! * The database being unreachable is `StorageError::Unavailable` (503 at the edge) after
//!   the server-selection timeout; readiness follows a ping every few seconds.

mod clock;
mod commit;
mod contexts;
mod documents;
mod error;
mod feed;
mod history;
mod layout;
mod leases;
mod pushdown;
mod select;
#[doc(hidden)]
pub mod testing;
mod versions;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
use mongodb::{Client, Collection, Database};
use rigel_model::{Entity, Tenant};
use rigel_query::EntityQuery;
use rigel_storage::{
    Backend, BackendHealth, EntityHistory, EntityStore, FeedSink, Held, HistoryHeader,
    HistoryQuery, Selected, Selection, SharedBackend, Source, StorageError, SubscriptionKey,
    Versioned, Visitor, WriteOp, WriteOutcome,
};

use crate::clock::DatabaseClock;
use crate::error::storage_error;
use crate::versions::Versions;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct MongoOptions {
    /// A MongoDB connection string (`mongodb://host:port/?replicaSet=rs0`).
    pub url: String,
    /// The default tenant's database, and the prefix of the other tenants' databases.
    pub database: String,
    /// How long a request waits for a usable server before it fails as unavailable.
    pub timeout: Duration,
    /// How long one store operation (a read, a commit) may take in all before it fails as
    /// unavailable: a database too slow to answer is treated like one that is away.
    pub deadline: Duration,
}

impl MongoOptions {
    /// The options for `url` with the default database (`rigel`) and a 5-second timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            database: "rigel".to_owned(),
            timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(15),
        }
    }
}

/// The MongoDB store. Share it as `Arc<MongoStore>`.
pub struct MongoStore {
    client: Client,
    prefix: String,
    versions: Versions,
    /// Named tenants known to be in the catalog.
    registered: Mutex<HashSet<Tenant>>,
    /// Databases whose indexes exist.
    prepared: Mutex<HashSet<String>>,
    health: Arc<Mutex<BackendHealth>>,
    monitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// This process among those sharing the database: it names the leases it holds.
    holder: String,
    /// The database's time, which lease times are taken on (kept by the health watch).
    clock: Arc<DatabaseClock>,
    feed: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Where the feed has reported up to.
    position: feed::SharedPosition,
    /// Where the feed reports (set by `follow`), for replays too.
    sink: Mutex<Option<Arc<dyn FeedSink>>>,
    /// Revisions of subscriptions and registrations this process wrote, for the feed.
    written: Arc<documents::Written>,
    /// The longest a store operation may take (`MongoOptions::deadline`).
    deadline: Duration,
    /// Subscriptions just taken over, with the token their replay starts from.
    takeovers: Mutex<
        std::collections::HashMap<SubscriptionKey, mongodb::change_stream::event::ResumeToken>,
    >,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("prefix", &self.prefix)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects, checks the schema version (a database written by a later layout is
    /// refused), records this one in a new database, and starts watching readiness.
    pub async fn connect(options: MongoOptions) -> Result<Self, StorageError> {
        let mut client_options = ClientOptions::parse(&options.url)
            .await
            .map_err(|e| StorageError::Io(format!("invalid MongoDB connection string: {e}")))?;
        client_options.write_concern = Some(durable());
        client_options.server_selection_timeout = Some(options.timeout);
        client_options.connect_timeout = Some(options.timeout);
        client_options.app_name = Some("rigel".to_owned());
        let client = Client::with_options(client_options).map_err(storage_error)?;
        let clock = Arc::new(DatabaseClock::default());
        let store = Self {
            client,
            prefix: options.database,
            versions: Versions::new(Arc::clone(&clock)),
            registered: Mutex::new(HashSet::new()),
            prepared: Mutex::new(HashSet::new()),
            health: Arc::new(Mutex::new(BackendHealth::Ready)),
            monitor: Mutex::new(None),
            holder: mongodb::bson::oid::ObjectId::new().to_hex(),
            clock,
            feed: Mutex::new(None),
            position: Arc::default(),
            sink: Mutex::new(None),
            written: Arc::default(),
            deadline: options.deadline,
            takeovers: Mutex::default(),
        };
        // Before any version is handed out or lease taken.
        store
            .clock
            .sample(&store.main())
            .await
            .map_err(storage_error)?;
        store.check_schema().await?;
        store.prepare(&Tenant::default_tenant()).await?;
        *lock(&store.monitor) = Some(tokio::spawn(watch_health(
            store.main(),
            Arc::clone(&store.health),
            Arc::clone(&store.clock),
            options.timeout,
        )));
        Ok(store)
    }

    /// The default tenant's database: the catalog and the schema version live there.
    fn main(&self) -> Database {
        self.client.database(&self.prefix)
    }

    fn db(&self, tenant: &Tenant) -> Database {
        self.client
            .database(&layout::database_name(&self.prefix, tenant))
    }

    fn collection(&self, tenant: &Tenant, name: &str) -> Collection<Document> {
        self.db(tenant).collection(name)
    }

    async fn check_schema(&self) -> Result<(), StorageError> {
        let meta = self.main().collection::<Document>(layout::META);
        let found = meta
            .find_one(doc! {"_id": "schema"})
            .await
            .map_err(storage_error)?;
        match found.and_then(|d| d.get_i32("version").ok()) {
            Some(v) if v > layout::SCHEMA_VERSION => Err(StorageError::Corrupt(format!(
                "the database has layout version {v}, this build knows up to {}",
                layout::SCHEMA_VERSION
            ))),
            Some(v) if v < layout::SCHEMA_VERSION => {
                self.upgrade(v).await?;
                meta.update_one(
                    doc! {"_id": "schema"},
                    doc! {"$set": {"version": layout::SCHEMA_VERSION}},
                )
                .await
                .map(|_| ())
                .map_err(storage_error)
            }
            Some(_) => Ok(()),
            None => meta
                .update_one(
                    doc! {"_id": "schema"},
                    doc! {"$setOnInsert": {"version": layout::SCHEMA_VERSION}},
                )
                .upsert(true)
                .await
                .map(|_| ())
                .map_err(storage_error),
        }
    }

    /// Brings every tenant's documents from layout version `from` to this build's: version 2
    /// gave entity documents their index fields, rebuilt here from their bodies.
    async fn upgrade(&self, from: i32) -> Result<(), StorageError> {
        tracing::info!(
            from,
            to = layout::SCHEMA_VERSION,
            "upgrading the MongoDB layout"
        );
        for tenant in self.all_tenants().await? {
            let entities = self.collection(&tenant, layout::ENTITIES);
            let mut cursor = entities
                .find(doc! {"ix": {"$exists": false}})
                .await
                .map_err(storage_error)?;
            while let Some(document) = cursor.try_next().await.map_err(storage_error)? {
                let entity = select::decode(&document)?;
                entities
                    .update_one(
                        doc! {"_id": &entity.value.id, "v": commit::signed(entity.version)},
                        doc! {"$set": {"ix": pushdown::index_fields(&entity.value)}},
                    )
                    .await
                    .map_err(storage_error)?;
            }
        }
        Ok(())
    }

    /// Makes sure the tenant's collections and indexes exist (once per process).
    async fn prepare(&self, tenant: &Tenant) -> Result<(), StorageError> {
        let name = layout::database_name(&self.prefix, tenant);
        if lock(&self.prepared).contains(&name) {
            return Ok(());
        }
        layout::prepare(&self.client.database(&name))
            .await
            .map_err(storage_error)?;
        lock(&self.prepared).insert(name);
        Ok(())
    }

    /// Runs one store operation within the deadline; past it the operation is abandoned (a
    /// commit may or may not have applied: it is not acknowledged) and is `Unavailable`.
    async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        match tokio::time::timeout(self.deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(StorageError::Unavailable(format!(
                "the database did not answer within {} ms",
                self.deadline.as_millis()
            ))),
        }
    }

    /// Fails at once while the database is known to be unreachable or the store is closed.
    fn serving(&self) -> Result<(), StorageError> {
        match &*lock(&self.health) {
            BackendHealth::Unreachable(reason) => Err(StorageError::Unavailable(reason.clone())),
            BackendHealth::Closed => Err(StorageError::Closed),
            _ => Ok(()),
        }
    }

    fn is_registered(&self, tenant: &Tenant) -> bool {
        tenant.is_default() || lock(&self.registered).contains(tenant)
    }

    fn mark_registered(&self, tenant: &Tenant) {
        if !tenant.is_default() {
            lock(&self.registered).insert(tenant.clone());
        }
    }

    /// Subscription leases, in the default tenant's database.
    fn leases(&self) -> Collection<Document> {
        self.main().collection(layout::LEASES)
    }

    /// The catalog entry of a named tenant, written before or with its first data.
    fn catalog(&self) -> Collection<Document> {
        self.main().collection(layout::TENANTS)
    }

    fn catalog_entry(&self, tenant: &Tenant) -> Option<(Document, Document)> {
        let name = tenant.name()?;
        Some((
            doc! {"_id": name},
            doc! {"$setOnInsert": {"db": layout::database_name(&self.prefix, tenant)}},
        ))
    }

    /// Records a named tenant in the catalog (outside any transaction).
    async fn register(&self, tenant: &Tenant) -> Result<(), StorageError> {
        if self.is_registered(tenant) {
            return Ok(());
        }
        if let Some((filter, update)) = self.catalog_entry(tenant) {
            self.catalog()
                .update_one(filter, update)
                .upsert(true)
                .await
                .map_err(storage_error)?;
        }
        self.mark_registered(tenant);
        Ok(())
    }

    /// Every named tenant in the catalog, by name.
    async fn named_tenants(&self) -> Result<Vec<Tenant>, StorageError> {
        let mut cursor = self
            .catalog()
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .map_err(storage_error)?;
        let mut tenants = Vec::new();
        while let Some(entry) = cursor.try_next().await.map_err(storage_error)? {
            if let Ok(tenant) = entry.get_str("_id").map(Tenant::named) {
                tenants.push(tenant.map_err(|e| StorageError::Corrupt(e.to_string()))?);
            }
        }
        Ok(tenants)
    }

    /// The default tenant, then the named ones.
    async fn all_tenants(&self) -> Result<Vec<Tenant>, StorageError> {
        let mut all = vec![Tenant::default_tenant()];
        all.extend(self.named_tenants().await?);
        Ok(all)
    }
}

/// Majority-acknowledged and journaled: what a write waits for before it is acknowledged.
fn durable() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build()
}

/// A lock that a panic elsewhere does not make unusable: the sets it guards stay valid.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How often readiness is checked.
const PING_EVERY: Duration = Duration::from_secs(1);

/// Pings the database every second (`hello`, whose answer also sets the database clock's
/// offset) and keeps readiness up to date; while it is unreachable, requests fail at once
/// instead of each waiting for the server-selection timeout. A ping counts as failed when
/// the driver reports an error (no server, connection refused) or no answer comes within
/// `patience` (the request timeout): a database that is merely busy is not unreachable.
async fn watch_health(
    db: Database,
    health: Arc<Mutex<BackendHealth>>,
    clock: Arc<DatabaseClock>,
    patience: Duration,
) {
    loop {
        tokio::time::sleep(PING_EVERY).await;
        let now = match tokio::time::timeout(patience, clock.sample(&db)).await {
            Ok(Ok(_)) => BackendHealth::Ready,
            Ok(Err(e)) => BackendHealth::Unreachable(e.to_string()),
            Err(_) => {
                BackendHealth::Unreachable(format!("no answer to a ping within {patience:?}"))
            }
        };
        let mut current = lock(&health);
        if *current == BackendHealth::Closed {
            return;
        }
        if *current != now {
            match &now {
                BackendHealth::Ready => tracing::info!("MongoDB reachable again"),
                other => tracing::warn!(state = ?other, "MongoDB unreachable"),
            }
        }
        *current = now;
    }
}

#[async_trait]
impl Backend for MongoStore {
    fn health(&self) -> BackendHealth {
        lock(&self.health).clone()
    }

    async fn close(&self) -> Result<(), StorageError> {
        *lock(&self.health) = BackendHealth::Closed;
        for task in [lock(&self.monitor).take(), lock(&self.feed).take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        Ok(())
    }

    fn shared(&self) -> Option<&dyn SharedBackend> {
        Some(self)
    }

    fn shared_contexts(&self) -> Option<&dyn rigel_storage::SharedContexts> {
        Some(self)
    }
}

#[async_trait]
impl SharedBackend for MongoStore {
    fn follow(&self, sink: Arc<dyn FeedSink>) {
        *lock(&self.sink) = Some(Arc::clone(&sink));
        let task = tokio::spawn(feed::follow(
            self.client.clone(),
            self.prefix.clone(),
            sink,
            Arc::clone(&self.position),
            Arc::clone(&self.written),
        ));
        if let Some(previous) = lock(&self.feed).replace(task) {
            previous.abort();
        }
    }

    async fn hold(
        &self,
        wanted: &[SubscriptionKey],
        settled: &(dyn for<'k> Fn(&'k SubscriptionKey) -> bool + Send + Sync),
    ) -> Result<Held, StorageError> {
        self.serving()?;
        let position = lock(&self.position).clone();
        let (held, from) = leases::hold(
            &self.leases(),
            &self.clock,
            &self.holder,
            wanted,
            settled,
            &position,
        )
        .await?;
        lock(&self.takeovers).extend(from);
        Ok(held)
    }

    fn catch_up(&self, taken_over: Vec<SubscriptionKey>) {
        let Some(sink) = lock(&self.sink).clone() else {
            return;
        };
        let until = lock(&self.position).time;
        for subscription in taken_over {
            let Some(from) = lock(&self.takeovers).remove(&subscription) else {
                continue;
            };
            tokio::spawn(feed::replay(
                self.client.clone(),
                self.prefix.clone(),
                Arc::clone(&sink),
                Arc::clone(&self.written),
                subscription,
                from,
                until,
            ));
        }
    }
}

impl Drop for MongoStore {
    fn drop(&mut self) {
        for task in [lock(&self.monitor).take(), lock(&self.feed).take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

#[async_trait]
impl EntityStore for MongoStore {
    async fn get(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<Versioned<Entity>>, StorageError> {
        self.serving()?;
        let found = self
            .bounded(async {
                self.collection(tenant, layout::ENTITIES)
                    .find_one(doc! {"_id": id})
                    .await
                    .map_err(storage_error)
            })
            .await?;
        found.map(|d| select::decode(&d)).transpose()
    }

    async fn commit(
        &self,
        tenant: &Tenant,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StorageError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        self.serving()?;
        self.bounded(async {
            self.prepare(tenant).await?;
            commit::commit(self, tenant, &ops).await
        })
        .await
    }

    async fn tenant_exists(&self, tenant: &Tenant) -> Result<bool, StorageError> {
        let Some(name) = tenant.name() else {
            return Ok(true);
        };
        if self.is_registered(tenant) {
            return Ok(true);
        }
        let found = self
            .catalog()
            .find_one(doc! {"_id": name})
            .await
            .map_err(storage_error)?
            .is_some();
        if found {
            self.mark_registered(tenant);
        }
        Ok(found)
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StorageError> {
        self.all_tenants().await
    }

    async fn ids_by_type(
        &self,
        tenant: &Tenant,
        type_iri: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.bounded(select::ids_by_type(
            &self.collection(tenant, layout::ENTITIES),
            type_iri,
            after,
            limit,
        ))
        .await
    }

    async fn get_many(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Option<Versioned<Entity>>>, StorageError> {
        self.serving()?;
        self.bounded(select::get_many(
            &self.collection(tenant, layout::ENTITIES),
            ids,
        ))
        .await
    }

    async fn select(
        &self,
        tenant: &Tenant,
        selection: Selection,
    ) -> Result<Selected, StorageError> {
        self.serving()?;
        self.bounded(select::select(
            &self.collection(tenant, layout::ENTITIES),
            selection,
        ))
        .await
    }

    async fn visit(
        &self,
        tenant: &Tenant,
        query: Arc<EntityQuery>,
        visitor: Visitor,
    ) -> Result<usize, StorageError> {
        self.serving()?;
        select::visit(&self.collection(tenant, layout::ENTITIES), &query, visitor).await
    }

    async fn types_in_use(&self, tenant: &Tenant) -> Result<Vec<String>, StorageError> {
        let values = self
            .collection(tenant, layout::ENTITIES)
            .distinct("types", doc! {})
            .await
            .map_err(storage_error)?;
        let mut types: Vec<String> = values
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        types.sort();
        types.dedup();
        Ok(types)
    }

    async fn history_header(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<HistoryHeader>, StorageError> {
        self.bounded(history::header(self, tenant, id)).await
    }

    async fn history(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
    ) -> Result<Option<EntityHistory>, StorageError> {
        self.bounded(async {
            let Some(header) = history::header(self, tenant, id).await? else {
                return Ok(None);
            };
            let attributes =
                history::read(&self.collection(tenant, layout::HISTORY), id, query).await?;
            Ok(Some(EntityHistory { header, attributes }))
        })
        .await
    }

    async fn history_headers(
        &self,
        tenant: &Tenant,
        source: &Source,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryHeader>, StorageError> {
        self.bounded(history::headers(self, tenant, source, after, limit))
            .await
    }
}
