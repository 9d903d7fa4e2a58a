//! The history part of the storage contract (the temporal API, clause 4.5.6-4.5.8): attribute
//! instances appended in the same durable commit as the entity change that made them, read
//! back per entity and attribute over a time range, and corrected or deleted one by one.

use chrono::{DateTime, Utc};
use rigel_model::{Attribute, AttributeValue};

/// The temporal evolution of one entity as a whole: what its temporal representation shows
/// besides the attribute instances.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryHeader {
    pub id: String,
    /// Expanded type IRIs; appends add to them (5.6.11.4), never remove.
    pub types: Vec<String>,
    /// The entity's scopes as last written, if any.
    pub scope: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    /// When the entity was deleted through the core API (its history stays).
    pub deleted_at: Option<DateTime<Utc>>,
}

impl HistoryHeader {
    /// The header after an append of `new`: types added, the scope replaced when the append
    /// has one, the earliest creation and the latest modification kept, the deletion
    /// replaced.
    pub fn absorb(&mut self, new: &HistoryHeader) {
        for t in &new.types {
            if !self.types.contains(t) {
                self.types.push(t.clone());
            }
        }
        if new.scope.is_some() {
            self.scope.clone_from(&new.scope);
        }
        self.created_at = self.created_at.min(new.created_at);
        self.modified_at = self.modified_at.max(new.modified_at);
        self.deleted_at = new.deleted_at;
    }
}

/// One attribute instance to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInstance {
    /// Expanded attribute name.
    pub attribute: String,
    /// The instance as it was (value, datasetId, observedAt, createdAt/modifiedAt,
    /// sub-attributes). A deletion carries the NGSI-LD Null as its value.
    pub value: Attribute,
    /// Set on the instance that records a deletion (4.5.7).
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One recorded attribute instance, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Assigned by the backend when the instance was recorded; unique in the store and kept
    /// when the instance is modified.
    pub instance_id: String,
    pub value: Attribute,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The temporal property a time range is tested on (4.8, `timeproperty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeProperty {
    #[default]
    ObservedAt,
    CreatedAt,
    ModifiedAt,
    DeletedAt,
}

impl TimeProperty {
    /// The instant of `instance` this property names; instances without it never match.
    pub fn of(self, instance: &Instance) -> Option<DateTime<Utc>> {
        match self {
            Self::ObservedAt => instance
                .value
                .observed_at
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            Self::CreatedAt => instance.value.created_at,
            Self::ModifiedAt => instance.value.modified_at,
            Self::DeletedAt => instance.deleted_at,
        }
    }
}

/// A half-open time interval (4.11): `from` inclusive, `to` exclusive, either unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }
}

/// Which instances of an entity's history a read returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryQuery {
    /// Only these (expanded) attributes; `None` for all.
    pub attrs: Option<Vec<String>>,
    /// The property the range tests.
    pub property: TimeProperty,
    pub range: TimeRange,
    /// Per attribute, only the last `n` instances by `property` within the range.
    pub last_n: Option<usize>,
    /// Per attribute, only the first `n` instances by `property` within the range (a page
    /// read forwards); ignored when `last_n` is set.
    pub first_n: Option<usize>,
    /// Only the instances of these datasets (`None`: the default instance); `None` for all.
    pub datasets: Option<Vec<Option<String>>>,
}

impl HistoryQuery {
    /// Whether the query takes an instance with this datasetId.
    pub fn takes_dataset(&self, dataset_id: Option<&str>) -> bool {
        self.datasets
            .as_ref()
            .is_none_or(|d| d.iter().any(|x| x.as_deref() == dataset_id))
    }
}

/// An entity's history as read: the header and, per attribute, its instances in ascending
/// order of the query's time property. Instances lacking the property are left out (4.11),
/// except in reads on observedAt without a time range, which keep them ordered by their
/// other times.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityHistory {
    pub header: HistoryHeader,
    pub attributes: std::collections::BTreeMap<String, Vec<Instance>>,
}

/// One instance reduced to what an aggregation reads (4.5.19): when it was, its dataset and
/// its value. Deletion instances are not samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The instant of the query's time property (in reads on observedAt without a range,
    /// the time an instance lacking it was recorded).
    pub at: DateTime<Utc>,
    pub dataset_id: Option<String>,
    pub value: AttributeValue,
}

/// An entity's history as read for aggregation: per attribute, its samples ascending by
/// time; attributes without any are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct EntitySamples {
    pub header: HistoryHeader,
    pub attributes: std::collections::BTreeMap<String, Vec<Sample>>,
}

impl EntitySamples {
    /// The samples of a history read with `property`.
    pub fn from_history(history: EntityHistory, property: TimeProperty) -> Self {
        let attributes = history
            .attributes
            .into_iter()
            .map(|(name, instances)| {
                let samples: Vec<Sample> = instances
                    .into_iter()
                    .filter(|i| i.deleted_at.is_none())
                    .filter_map(|i| {
                        let at = property
                            .of(&i)
                            .or(i.value.modified_at)
                            .or(i.value.created_at)?;
                        Some(Sample {
                            at,
                            dataset_id: i.value.dataset_id,
                            value: i.value.value,
                        })
                    })
                    .collect();
                (name, samples)
            })
            .filter(|(_, samples)| !samples.is_empty())
            .collect();
        Self {
            header: history.header,
            attributes,
        }
    }
}

/// Which instances of an attribute a removal takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetSelector {
    /// Every instance whatever its datasetId (`deleteAll`).
    All,
    /// The instances of one dataset; `None` is the default instance (no datasetId).
    One(Option<String>),
}

impl DatasetSelector {
    pub fn selects(&self, dataset_id: Option<&str>) -> bool {
        match self {
            Self::All => true,
            Self::One(d) => d.as_deref() == dataset_id,
        }
    }
}

/// A change to the history, applied in a commit like an entity write. Changes live briefly
/// in small vectors, so the size gap between variants does not matter.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum HistoryChange {
    /// Records instances and merges the header: types are added, scope and `modifiedAt`
    /// replaced, the earliest `createdAt` kept, `deletedAt` replaced.
    Append {
        header: HistoryHeader,
        instances: Vec<NewInstance>,
    },
    /// Forgets the entity's whole history.
    Forget { id: String },
    /// Forgets the instances of one attribute.
    ForgetAttribute {
        id: String,
        attribute: String,
        datasets: DatasetSelector,
    },
    /// Replaces one instance (its id is kept).
    ReplaceInstance {
        id: String,
        attribute: String,
        instance_id: String,
        value: Attribute,
    },
    /// Forgets one instance.
    ForgetInstance {
        id: String,
        attribute: String,
        instance_id: String,
    },
    /// Retention: forgets, in every attribute, the instances filed before `older_than` (by
    /// their observedAt, or when they were recorded) and all but the latest `keep_last`.
    Trim {
        id: String,
        older_than: Option<DateTime<Utc>>,
        keep_last: Option<usize>,
    },
}

impl HistoryChange {
    /// The entity the change is about.
    pub fn entity_id(&self) -> &str {
        match self {
            Self::Append { header, .. } => &header.id,
            Self::Forget { id }
            | Self::ForgetAttribute { id, .. }
            | Self::ReplaceInstance { id, .. }
            | Self::ForgetInstance { id, .. }
            | Self::Trim { id, .. } => id,
        }
    }
}

/// The prefix of the ids backends give instances: `urn:ngsi-ld:instance:<seq>-<index>`, `seq`
/// naming the record that appended the instance and `index` its place in it.
pub const INSTANCE_ID_PREFIX: &str = "urn:ngsi-ld:instance:";

/// The id of the `index`-th instance appended by the record numbered `seq`.
pub fn instance_id(seq: impl std::fmt::Display, index: u32) -> String {
    format!("{INSTANCE_ID_PREFIX}{seq}-{index}")
}

/// The microsecond an instance is filed under: its `observedAt` when it has one, else its
/// `modifiedAt`, `createdAt` or `deletedAt`. Backends keep an attribute's instances in this
/// order (ties in the order they were recorded), so that reads order, page and cut time
/// ranges alike on every backend.
pub fn filed_micros(value: &Attribute, deleted_at: Option<DateTime<Utc>>) -> i64 {
    value
        .observed_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or(value.modified_at)
        .or(value.created_at)
        .or(deleted_at)
        .unwrap_or_default()
        .timestamp_micros()
}

/// One recorded instance with the microsecond it is filed under (see [`filed_micros`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FiledInstance {
    pub micros: i64,
    pub instance: Instance,
}

/// The instances of one attribute the query selects, ascending by its time property, from
/// all of them in filing order.
///
/// Reads on `observedAt` keep filing order (an instance lacking `observedAt` takes the time
/// it is filed under, and only without a time range); other properties select the instances
/// that have them and sort by them (ties in filing order). `lastN` keeps the last, else
/// `first_n` the first of those.
pub fn select_instances(
    filed: impl IntoIterator<Item = FiledInstance>,
    query: &HistoryQuery,
) -> Vec<Instance> {
    let keyed = query.property == TimeProperty::ObservedAt;
    let unbounded = keyed && query.range.from.is_none() && query.range.to.is_none();
    let mut out: Vec<Instance> = filed
        .into_iter()
        .filter(|f| query.takes_dataset(f.instance.value.dataset_id.as_deref()))
        .filter_map(|FiledInstance { micros, instance }| {
            let filed_at = DateTime::from_timestamp_micros(micros).unwrap_or_default();
            let time = if keyed && instance.value.observed_at.is_some() {
                Some(filed_at)
            } else {
                query.property.of(&instance)
            };
            let time = time.or_else(|| unbounded.then_some(filed_at));
            time.filter(|t| query.range.contains(*t)).map(|_| instance)
        })
        .collect();
    if !keyed {
        out.sort_by_cached_key(|i| query.property.of(i));
    }
    if let Some(n) = query.last_n {
        let skip = out.len().saturating_sub(n);
        out.drain(..skip);
    } else if let Some(n) = query.first_n {
        out.truncate(n);
    }
    out
}

/// Which of an attribute's instances, given in filing order by the microsecond each is
/// filed under, a [`HistoryChange::Trim`] forgets: those filed before `older_than` (to the
/// microsecond) and all but the latest `keep_last`. Answers their positions.
pub fn trimmed(
    filed: &[i64],
    older_than: Option<DateTime<Utc>>,
    keep_last: Option<usize>,
) -> Vec<usize> {
    let cutoff = older_than.map(|t| t.timestamp_micros());
    let excess = keep_last.map_or(0, |n| filed.len().saturating_sub(n));
    filed
        .iter()
        .enumerate()
        .filter(|(i, micros)| *i < excess || cutoff.is_some_and(|c| **micros < c))
        .map(|(i, _)| i)
        .collect()
}
