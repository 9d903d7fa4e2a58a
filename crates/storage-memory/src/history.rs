//! One tenant's attribute history: per entity its header and, per attribute, its instances
//! filed as the embedded store files them, so that reads order, page and cut time ranges
//! alike; the history changes a commit applies; and the reads.
//!
//! An instance is filed under its `observedAt` when it has one (else its `modifiedAt`,
//! `createdAt`, `deletedAt`), in microseconds, then under the version the appending record
//! took (`seq`) and its place in that record (`index`): `seq` and `index` are its id
//! (`urn:ngsi-ld:instance:<seq>-<index>`), which survives a modification of the instance.
//! An attribute without instances has no entry, so a change that finds none finds nothing.

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use rigel_model::Attribute;
use rigel_storage::{
    filed_micros, instance_id, select_instances, trimmed, FiledInstance, HistoryChange,
    HistoryHeader, HistoryQuery, Instance, Source, INSTANCE_ID_PREFIX,
};

/// The histories of one tenant's entities, by id.
#[derive(Debug, Default)]
pub(crate) struct History {
    entities: BTreeMap<String, EntityLog>,
}

/// The history of one entity.
#[derive(Debug)]
struct EntityLog {
    header: HistoryHeader,
    /// Attribute -> its instances in filing order (never empty).
    attributes: BTreeMap<String, Series>,
}

type Series = BTreeMap<Filed, Recorded>;

/// Where an instance is filed (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Filed {
    micros: i64,
    seq: u64,
    index: u32,
}

impl Filed {
    fn instance_id(self) -> String {
        instance_id(self.seq, self.index)
    }
}

/// A recorded instance.
#[derive(Debug, Clone)]
struct Recorded {
    value: Attribute,
    deleted_at: Option<DateTime<Utc>>,
}

impl Recorded {
    /// The microsecond the instance is filed under.
    fn filed_micros(&self) -> i64 {
        filed_micros(&self.value, self.deleted_at)
    }

    fn instance(&self, filed: Filed) -> Instance {
        Instance {
            instance_id: filed.instance_id(),
            value: self.value.clone(),
            deleted_at: self.deleted_at,
        }
    }
}

impl History {
    /// The stored header of an entity's history.
    pub(crate) fn header(&self, id: &str) -> Option<&HistoryHeader> {
        self.entities.get(id).map(|log| &log.header)
    }

    /// Applies `change`, numbering the instances it records with `seq`; `false` when it
    /// found nothing to act on (and changed nothing).
    pub(crate) fn apply(&mut self, change: &HistoryChange, seq: u64) -> bool {
        match change {
            HistoryChange::Append { header, instances } => {
                let log = self
                    .entities
                    .entry(header.id.clone())
                    .and_modify(|log| log.header.absorb(header))
                    .or_insert_with(|| EntityLog {
                        header: header.clone(),
                        attributes: BTreeMap::new(),
                    });
                for (index, instance) in instances.iter().enumerate() {
                    let recorded = Recorded {
                        value: instance.value.clone(),
                        deleted_at: instance.deleted_at,
                    };
                    let filed = Filed {
                        micros: recorded.filed_micros(),
                        seq,
                        index: u32::try_from(index).unwrap_or(u32::MAX),
                    };
                    log.attributes
                        .entry(instance.attribute.clone())
                        .or_default()
                        .insert(filed, recorded);
                }
                true
            }
            HistoryChange::Forget { id } => self.entities.remove(id).is_some(),
            HistoryChange::ForgetAttribute {
                id,
                attribute,
                datasets,
            } => self.edit_series(id, attribute, |series| {
                let before = series.len();
                series.retain(|_, r| !datasets.selects(r.value.dataset_id.as_deref()));
                series.len() < before
            }),
            HistoryChange::ReplaceInstance {
                id,
                attribute,
                instance_id,
                value,
            } => self.edit_series(id, attribute, |series| {
                let Some(filed) = find(series, instance_id) else {
                    return false;
                };
                let Some(old) = series.remove(&filed) else {
                    return false;
                };
                let fresh = Recorded {
                    value: value.clone(),
                    deleted_at: old.deleted_at,
                };
                let refiled = Filed {
                    micros: fresh.filed_micros(),
                    ..filed
                };
                series.insert(refiled, fresh);
                true
            }),
            HistoryChange::ForgetInstance {
                id,
                attribute,
                instance_id,
            } => self.edit_series(id, attribute, |series| {
                find(series, instance_id).is_some_and(|filed| series.remove(&filed).is_some())
            }),
            HistoryChange::Trim {
                id,
                older_than,
                keep_last,
            } => {
                let Some(log) = self.entities.get_mut(id) else {
                    return false;
                };
                let mut forgot = false;
                log.attributes.retain(|_, series| {
                    let filed: Vec<Filed> = series.keys().copied().collect();
                    let micros: Vec<i64> = filed.iter().map(|f| f.micros).collect();
                    let doomed: Vec<Filed> = trimmed(&micros, *older_than, *keep_last)
                        .into_iter()
                        .map(|i| filed[i])
                        .collect();
                    forgot |= !doomed.is_empty();
                    for filed in doomed {
                        series.remove(&filed);
                    }
                    !series.is_empty()
                });
                forgot
            }
        }
    }

    /// Runs `edit` on the instances of one attribute of an entity, if it has any, and drops
    /// the attribute once it has none left; what `edit` answers, `false` without instances.
    fn edit_series(
        &mut self,
        id: &str,
        attribute: &str,
        edit: impl FnOnce(&mut Series) -> bool,
    ) -> bool {
        let Some(log) = self.entities.get_mut(id) else {
            return false;
        };
        let Some(series) = log.attributes.get_mut(attribute) else {
            return false;
        };
        let changed = edit(series);
        if series.is_empty() {
            log.attributes.remove(attribute);
        }
        changed
    }

    /// Per attribute with some instances the query selects, those instances; `None` when the
    /// entity has no history.
    pub(crate) fn read(
        &self,
        id: &str,
        query: &HistoryQuery,
    ) -> Option<BTreeMap<String, Vec<Instance>>> {
        let log = self.entities.get(id)?;
        let named: Vec<(&String, &Series)> = match &query.attrs {
            Some(attrs) => attrs
                .iter()
                .filter_map(|name| log.attributes.get_key_value(name))
                .collect(),
            None => log.attributes.iter().collect(),
        };
        Some(
            named
                .into_iter()
                .map(|(name, series)| (name.clone(), read_series(series, query)))
                .filter(|(_, found)| !found.is_empty())
                .collect(),
        )
    }

    /// The stored headers of the entities of `source` having a history, in id order after
    /// `after`.
    pub(crate) fn headers<'a>(
        &'a self,
        source: &'a Source,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a HistoryHeader> + 'a> {
        match source {
            Source::Ids(ids) => {
                let mut ids: Vec<&String> = ids
                    .iter()
                    .filter(|id| after.is_none_or(|a| id.as_str() > a))
                    .collect();
                ids.sort();
                ids.dedup();
                Box::new(ids.into_iter().filter_map(|id| self.header(id)))
            }
            Source::IdPrefix(prefix) => self.prefixed(prefix, after),
            Source::All => self.prefixed("", after),
            // By the types the history holds, which an entity deleted since keeps.
            Source::Types(types) => Box::new(
                self.prefixed("", after)
                    .filter(|h| h.types.iter().any(|t| types.contains(t))),
            ),
        }
    }

    /// The headers of the ids starting with `prefix`, after `after`.
    fn prefixed<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a HistoryHeader> + 'a> {
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after.to_owned()),
            _ => Bound::Included(prefix.to_owned()),
        };
        Box::new(
            self.entities
                .range((start, Bound::Unbounded))
                .take_while(move |(id, _)| id.starts_with(prefix))
                .map(|(_, log)| &log.header),
        )
    }
}

/// Where the instance with this id is filed in `series`.
fn find(series: &Series, instance_id: &str) -> Option<Filed> {
    let (seq, index) = instance_id
        .strip_prefix(INSTANCE_ID_PREFIX)?
        .split_once('-')?;
    let (seq, index): (u64, u32) = (seq.parse().ok()?, index.parse().ok()?);
    series
        .keys()
        .find(|f| f.seq == seq && f.index == index)
        .copied()
}

/// The instances of one attribute the query selects, ascending by its time property.
fn read_series(series: &Series, query: &HistoryQuery) -> Vec<Instance> {
    select_instances(
        series.iter().map(|(filed, recorded)| FiledInstance {
            micros: filed.micros,
            instance: recorded.instance(*filed),
        }),
        query,
    )
}
