//! What the broker asks of a context source, in its own terms: the calls of a distributed
//! read, typed, and the ways they fail. The HTTP binding of these calls lives outside the
//! broker (the `forward` crate).

use std::time::Duration;

use rigel_model::registration::Registration;
use rigel_model::{Entity, TermMap};

/// The part of a request that travels with every call made for it.
pub struct SourceCall<'a> {
    pub registration: &'a Registration,
    /// The `Via` value to send: the incoming one with this broker added (clause 6.3.18).
    pub via: &'a str,
    /// The client's @context: names are sent compacted with it and answers read with it.
    pub terms: &'a dyn TermMap,
    /// Its URL for the `Link` header; `None` is the core @context.
    pub link: Option<&'a str>,
    pub timeout: Duration,
}

/// How a source is asked for one entity: the operation it offers (clause 4.20), in the
/// order of preference of clause 5.7.1.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrieveBy {
    /// `retrieveEntity`: GET of the entity.
    Retrieve,
    /// `queryEntity`: a query by id and type.
    Query,
    /// `queryBatch`: the same query as a POST.
    QueryBatch,
}

/// Retrieve Entity at a source (clause 5.7.1), or the query by id that stands for it when
/// the source offers no retrieval.
pub struct SourceRetrieve<'a> {
    pub id: &'a str,
    /// Expanded type IRIs the entity must have: the client's; for a query, else the
    /// registration's.
    pub types: &'a [String],
    /// Expanded attribute IRIs to ask for; empty: every attribute.
    pub attributes: &'a [String],
    pub by: RetrieveBy,
}

/// Query Entities at a source (clause 5.7.2): the client's query, typed (sent rebuilt from
/// it, names compacted with the client's @context), the attributes the registration
/// restricts it to, and how many matches to ask for.
pub struct SourceQuery<'a> {
    /// Selectors, `attrs`, `q`, the geoquery, `scopeQ`.
    pub query: &'a rigel_query::EntityQuery,
    /// Parameters passed on as the client wrote them that the typed query does not hold
    /// (`csf`, `datasetId`, `expandValues`, `jsonKeys`).
    pub extra: &'a [(String, String)],
    /// Expanded attribute IRIs replacing the client's `attrs` when the registration holds
    /// only some attributes; empty: the client's as they are.
    pub attributes: &'a [String],
    /// Entity ids the registration is restricted to, when the client named none.
    pub ids: &'a [String],
    /// `true`: the source offers `queryBatch` only (a POST query).
    pub batch: bool,
    /// At most this many matches.
    pub limit: usize,
}

/// An attribute write passed on to a source: the client's own JSON, restricted to the
/// attributes the registration takes.
pub struct SourceWrite<'a> {
    pub id: &'a str,
    pub kind: &'a WriteKind,
    /// The attribute the path names (as written), for the single-attribute writes.
    pub attribute: Option<&'a str>,
    /// The entity fragment, or the attribute's for a single-attribute write; none for a
    /// deletion.
    pub body: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// Purge Entities passed on to a source (clause 5.6.21): the client's selection, typed,
/// restricted to what the registration registers.
pub struct SourcePurge<'a> {
    /// Selectors, `attrs`, `q`, the geoquery, `scopeQ`.
    pub query: &'a rigel_query::EntityQuery,
    /// Parameters passed on as the client wrote them that the typed query does not hold.
    pub extra: &'a [(String, String)],
    /// Entity ids the registration is restricted to, when the client named none.
    pub ids: &'a [String],
    /// Expanded attribute names to delete (`drop`) instead of whole entities.
    pub drop: &'a [String],
    /// Expanded attribute names to keep (`keep`), deleting the others.
    pub keep: &'a [String],
}

/// Retrieve Temporal Evolution of an Entity passed on to a source (clause 5.7.3): every
/// instance of the query's range (a page or an aggregation is made after the merge).
pub struct SourceTemporal<'a> {
    pub id: &'a str,
    /// Attributes (the registration's, when it holds only some), time property, range and
    /// `lastN`; the page limits are not sent.
    pub query: &'a rigel_storage::HistoryQuery,
}

/// Query Temporal Evolution of Entities passed on to a source (clause 5.7.4): the entity
/// query as for Query Entities, the time range and `lastN`; every instance of the range.
pub struct SourceTemporalQuery<'a> {
    pub entities: SourceQuery<'a>,
    /// Time property, range and `lastN` (its `attrs` are the entity query's).
    pub history: &'a rigel_storage::HistoryQuery,
}

/// A discovery request passed on to a source (clauses 5.7.5-5.7.10), names expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceDiscovery<'a> {
    /// Retrieve Available Entity Types (5.7.5).
    Types,
    /// Their details (5.7.6).
    TypeDetails,
    /// Retrieve Available Entity Type Information (5.7.7) of this type.
    TypeInfo(&'a str),
    /// Retrieve Available Attributes (5.7.8).
    Attributes,
    /// Their details (5.7.9).
    AttributeDetails,
    /// Retrieve Available Attribute Information (5.7.10) of this attribute.
    AttributeInfo(&'a str),
}

impl SourceDiscovery<'_> {
    /// The operation a registration must offer for it (clause 4.20).
    pub fn operation(&self) -> rigel_model::registration::operations::Operation {
        use rigel_model::registration::operations::Operation;
        match self {
            SourceDiscovery::Types => Operation::RetrieveEntityTypes,
            SourceDiscovery::TypeDetails => Operation::RetrieveEntityTypeDetails,
            SourceDiscovery::TypeInfo(_) => Operation::RetrieveEntityTypeInfo,
            SourceDiscovery::Attributes => Operation::RetrieveAttrTypes,
            SourceDiscovery::AttributeDetails => Operation::RetrieveAttrTypeDetails,
            SourceDiscovery::AttributeInfo(_) => Operation::RetrieveAttrTypeInfo,
        }
    }
}

/// What a source answered to a discovery request: the types or the attributes it holds,
/// with as much detail as was asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Discovered {
    Types(Vec<crate::discovery::TypeDetails>),
    Attributes(Vec<crate::discovery::AttributeDetails>),
}

/// A batch write passed on to a source (clauses 5.6.7-5.6.10, 5.6.20): the client's own
/// entities, each restricted to the attributes the registration takes, or the ids of a
/// deletion.
pub struct SourceBatch<'a> {
    pub kind: &'a BatchKind,
    /// Entity objects as the client wrote them (their `@context` member kept), or entity id
    /// strings for a deletion.
    pub entities: &'a [serde_json::Value],
    /// The ids of `entities`, in order.
    pub ids: &'a [String],
}

/// The batch operations that are forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Batch Entity Creation (5.6.7).
    Create,
    /// Batch Entity Creation or Update (5.6.8); `update`: the `update` mode, else `replace`.
    Upsert { update: bool },
    /// Batch Entity Update (5.6.9), `noOverwrite` passed on.
    Update { no_overwrite: bool },
    /// Batch Entity Delete (5.6.10).
    Delete,
    /// Batch Entity Merge (5.6.20).
    Merge,
}

impl BatchKind {
    /// The operation a registration must offer to get the batch as such (clause 4.20).
    pub fn operation(&self) -> rigel_model::registration::operations::Operation {
        use rigel_model::registration::operations::Operation;
        match self {
            BatchKind::Create => Operation::CreateBatch,
            BatchKind::Upsert { .. } => Operation::UpsertBatch,
            BatchKind::Update { .. } => Operation::UpdateBatch,
            BatchKind::Delete => Operation::DeleteBatch,
            BatchKind::Merge => Operation::MergeBatch,
        }
    }
}

/// What a source did with a batch: the entities it treated, those it created (Batch
/// Upsert's 201), and a ProblemDetails for each entity it failed.
#[derive(Debug, Default)]
pub struct BatchAnswer {
    pub success: Vec<String>,
    pub created: Vec<String>,
    pub errors: Vec<(String, serde_json::Value)>,
}

/// The attribute writes that are forwarded (clauses 5.6.2-5.6.5, 5.6.19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKind {
    /// Update Attributes (5.6.2).
    Update,
    /// Partial Attribute update (5.6.4).
    PartialUpdate,
    /// Append Attributes (5.6.3), `noOverwrite` passed on.
    Append { no_overwrite: bool },
    /// Replace Attribute (5.6.19).
    ReplaceAttribute,
    /// Delete Attribute (5.6.5), with its `datasetId` and `deleteAll`.
    DeleteAttribute {
        dataset_id: Option<String>,
        delete_all: bool,
    },
    /// Delete Entity (5.6.6): the whole entity, at every source registered for it.
    DeleteEntity,
    /// Create Entity (5.6.1): the entity with the attributes the registration takes.
    CreateEntity,
    /// Merge Entity (5.6.17): the fragment's attributes the registration takes.
    MergeEntity,
    /// Replace Entity (5.6.18): the entity with the attributes the registration takes.
    ReplaceEntity,
}

impl WriteKind {
    /// The operation a registration must offer for it (clause 4.20).
    pub fn operation(&self) -> rigel_model::registration::operations::Operation {
        use rigel_model::registration::operations::Operation;
        match self {
            WriteKind::Update => Operation::UpdateEntity,
            WriteKind::PartialUpdate => Operation::UpdateAttrs,
            WriteKind::Append { .. } => Operation::AppendAttrs,
            WriteKind::ReplaceAttribute => Operation::ReplaceAttrs,
            WriteKind::DeleteAttribute { .. } => Operation::DeleteAttrs,
            WriteKind::DeleteEntity => Operation::DeleteEntity,
            WriteKind::CreateEntity => Operation::CreateEntity,
            WriteKind::MergeEntity => Operation::MergeEntity,
            WriteKind::ReplaceEntity => Operation::ReplaceEntity,
        }
    }

    /// Whether the write names one attribute in its path.
    pub fn single(&self) -> bool {
        matches!(
            self,
            WriteKind::PartialUpdate
                | WriteKind::ReplaceAttribute
                | WriteKind::DeleteAttribute { .. }
        )
    }
}

/// Why a source gave no usable answer (clause 6.3.17 reports each as a warning).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answered something that is not NGSI-LD: {0}")]
    Invalid(String),
    #[error("may not be called: {0}")]
    Refused(String),
}

impl SourceError {
    /// The IANA warning code of Table 6.3.17-1.
    pub fn warning_code(&self) -> u16 {
        match self {
            SourceError::Timeout(_) | SourceError::Unreachable(_) | SourceError::Refused(_) => 199,
            SourceError::Status(_) => 299,
            SourceError::Invalid(_) => 111,
        }
    }
}

/// The context sources, as the broker calls them.
#[async_trait::async_trait]
pub trait ContextSources: Send + Sync + 'static {
    /// The entity as the source holds it; `None` when it has none.
    async fn retrieve(
        &self,
        call: &SourceCall<'_>,
        request: &SourceRetrieve<'_>,
    ) -> Result<Option<Entity>, SourceError>;

    /// Writes attributes at the source; `Ok` when it answered with success.
    async fn write(
        &self,
        call: &SourceCall<'_>,
        request: &SourceWrite<'_>,
    ) -> Result<(), SourceError>;

    /// Passes a batch on to the source; `Ok` when it answered with a batch result.
    async fn batch(
        &self,
        call: &SourceCall<'_>,
        request: &SourceBatch<'_>,
    ) -> Result<BatchAnswer, SourceError>;

    /// Purges entities (or attributes of them) at the source; `Ok` when it answered with
    /// success.
    async fn purge(
        &self,
        call: &SourceCall<'_>,
        request: &SourcePurge<'_>,
    ) -> Result<(), SourceError>;

    /// The entity's temporal evolution as the source holds it; `None` when it has none.
    async fn retrieve_temporal(
        &self,
        call: &SourceCall<'_>,
        request: &SourceTemporal<'_>,
    ) -> Result<Option<rigel_storage::EntityHistory>, SourceError>;

    /// The temporal evolutions the source holds that match, at most `request.entities.limit`.
    async fn query_temporal(
        &self,
        call: &SourceCall<'_>,
        request: &SourceTemporalQuery<'_>,
    ) -> Result<Vec<rigel_storage::EntityHistory>, SourceError>;

    /// The entity types or attributes the source holds (none for a 404).
    async fn discover(
        &self,
        call: &SourceCall<'_>,
        request: SourceDiscovery<'_>,
    ) -> Result<Discovered, SourceError>;

    /// The entities the source holds that match, at most `request.limit`.
    async fn query(
        &self,
        call: &SourceCall<'_>,
        request: &SourceQuery<'_>,
    ) -> Result<Vec<Entity>, SourceError>;

    /// Whether the broker may call a source at `endpoint` (its outbound policy);
    /// `Err(reason)` when it may not. Sources reached otherwise than by URL admit any.
    async fn admit(&self, endpoint: &str) -> Result<(), String> {
        let _ = endpoint;
        Ok(())
    }
}
