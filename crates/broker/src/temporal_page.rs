//! Paging of attribute instances in temporal responses (6.3.10): a response holds at most a
//! configured number of instances per attribute; when some attribute has more in the range,
//! every attribute of the response is cut at one common instant, forwards from the least
//! recent instance or, with `lastN`, backwards from the most recent, so that the next page
//! starts where this one ends.

use chrono::{DateTime, Utc};
use rigel_storage::{EntityHistory, HistoryQuery, Instance, TimeProperty};

/// The default number of instances per attribute in one temporal response.
pub const DEFAULT_INSTANCE_PAGE: usize = 1000;

/// Where a response was cut: it holds part of the requested range only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceCut {
    /// Paged from the most recent instance back (`lastN` given), else forwards.
    pub backwards: bool,
    /// The least recent instant among the instances returned.
    pub earliest: DateTime<Utc>,
    /// The most recent instant among the instances returned.
    pub latest: DateTime<Utc>,
}

/// The read that tells whether a page must be cut: one instance more than the page per
/// attribute (or `lastN`, when that is smaller).
pub(crate) fn probe(query: &HistoryQuery, page: usize) -> HistoryQuery {
    let mut probe = query.clone();
    match query.last_n {
        Some(n) => probe.last_n = Some(n.min(page.saturating_add(1))),
        None => probe.first_n = Some(page.saturating_add(1)),
    }
    probe
}

/// The instant an instance is paged by: the query's time property, else (in reads without a
/// range, which keep instances lacking it) the time it is filed under.
fn instant(instance: &Instance, property: TimeProperty) -> Option<DateTime<Utc>> {
    property.of(instance).or_else(|| {
        let a = &instance.value;
        a.modified_at.or(a.created_at).or(instance.deleted_at)
    })
}

/// Narrows each attribute of `history`, read in full, to what [`probe`] would have read.
pub(crate) fn narrow_to_probe(history: &mut EntityHistory, query: &HistoryQuery, page: usize) {
    let probe = probe(query, page);
    for instances in history.attributes.values_mut() {
        if let Some(n) = probe.last_n {
            let skip = instances.len().saturating_sub(n);
            instances.drain(..skip);
        } else if let Some(n) = probe.first_n {
            instances.truncate(n);
        }
    }
}

/// Cuts histories read by [`probe`] to one page: where an attribute has more than `page`
/// instances, every attribute of every history is trimmed to the common boundary (kept,
/// possibly empty). `None` when everything fits.
pub(crate) fn cut(
    histories: &mut [EntityHistory],
    query: &HistoryQuery,
    page: usize,
) -> Option<InstanceCut> {
    let page = page.max(1);
    let property = query.property;
    let backwards = query.last_n.is_some();
    let mut boundary: Option<DateTime<Utc>> = None;
    for history in histories.iter() {
        for instances in history.attributes.values() {
            if instances.len() <= page {
                continue;
            }
            let edge = if backwards {
                instances.get(instances.len() - page)
            } else {
                instances.get(page - 1)
            };
            let Some(t) = edge.and_then(|i| instant(i, property)) else {
                continue;
            };
            boundary = Some(match boundary {
                None => t,
                Some(b) if backwards => b.max(t),
                Some(b) => b.min(t),
            });
        }
    }
    let boundary = boundary?;
    let mut earliest: Option<DateTime<Utc>> = None;
    let mut latest: Option<DateTime<Utc>> = None;
    for history in histories.iter_mut() {
        for instances in history.attributes.values_mut() {
            let len = instances.len();
            if backwards {
                instances.drain(..len.saturating_sub(page));
            } else {
                instances.truncate(page);
            }
            instances.retain(|i| {
                instant(i, property).is_some_and(|t| {
                    if backwards {
                        t >= boundary
                    } else {
                        t <= boundary
                    }
                })
            });
            for t in instances.iter().filter_map(|i| instant(i, property)) {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
                latest = Some(latest.map_or(t, |l| l.max(t)));
            }
        }
    }
    Some(InstanceCut {
        backwards,
        earliest: earliest.unwrap_or(boundary),
        latest: latest.unwrap_or(boundary),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rigel_model::{Attribute, AttributeValue};
    use rigel_storage::HistoryHeader;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2020, 8, 1, 12, minute, 0).unwrap()
    }

    fn instance(minute: u32) -> Instance {
        let value = Attribute {
            observed_at: Some(format!("2020-08-01T12:{minute:02}:00Z")),
            ..Attribute::new(AttributeValue::Property(json!(minute)))
        };
        Instance {
            instance_id: format!("urn:ngsi-ld:instance:{minute}"),
            value,
            deleted_at: None,
        }
    }

    fn history(attrs: &[(&str, &[u32])]) -> EntityHistory {
        let attributes: BTreeMap<String, Vec<Instance>> = attrs
            .iter()
            .map(|(name, minutes)| {
                (
                    (*name).to_owned(),
                    minutes.iter().map(|m| instance(*m)).collect(),
                )
            })
            .collect();
        EntityHistory {
            header: HistoryHeader {
                id: "urn:ngsi-ld:V:1".into(),
                types: vec!["V".into()],
                scope: None,
                created_at: at(0),
                modified_at: at(0),
                deleted_at: None,
            },
            attributes,
        }
    }

    fn minutes(h: &EntityHistory, name: &str) -> Vec<u32> {
        h.attributes[name]
            .iter()
            .map(|i| match &i.value.value {
                AttributeValue::Property(v) => v.as_u64().unwrap_or(0) as u32,
                _ => 0,
            })
            .collect()
    }

    #[test]
    fn a_history_that_fits_the_page_is_not_cut() {
        let mut hs = [history(&[("speed", &[1, 2, 3])])];
        assert_eq!(cut(&mut hs, &HistoryQuery::default(), 3), None);
        assert_eq!(minutes(&hs[0], "speed"), [1, 2, 3]);
    }

    #[test]
    fn forward_pages_cut_every_attribute_at_the_earliest_boundary() {
        // Read by the probe: page 2, so up to 3 instances per attribute.
        let mut hs = [
            history(&[("speed", &[1, 2, 3]), ("fuel", &[2, 5, 6])]),
            history(&[("speed", &[9])]),
        ];
        let c = cut(&mut hs, &HistoryQuery::default(), 2);
        assert_eq!(minutes(&hs[0], "speed"), [1, 2]);
        assert_eq!(minutes(&hs[0], "fuel"), [2]);
        assert_eq!(minutes(&hs[1], "speed"), Vec::<u32>::new(), "kept, empty");
        assert_eq!(
            c,
            Some(InstanceCut {
                backwards: false,
                earliest: at(1),
                latest: at(2)
            })
        );
    }

    #[test]
    fn backward_pages_keep_the_most_recent_instances_down_to_the_latest_boundary() {
        let query = HistoryQuery {
            last_n: Some(10),
            ..HistoryQuery::default()
        };
        let mut hs = [history(&[("speed", &[1, 2, 3]), ("fuel", &[4, 7, 8])])];
        let c = cut(&mut hs, &query, 2);
        assert_eq!(minutes(&hs[0], "fuel"), [7, 8]);
        assert_eq!(minutes(&hs[0], "speed"), Vec::<u32>::new());
        assert_eq!(
            c,
            Some(InstanceCut {
                backwards: true,
                earliest: at(7),
                latest: at(8)
            })
        );
    }

    #[test]
    fn the_probe_reads_one_instance_more_than_the_page() {
        assert_eq!(probe(&HistoryQuery::default(), 5).first_n, Some(6));
        let last = HistoryQuery {
            last_n: Some(3),
            ..HistoryQuery::default()
        };
        assert_eq!(probe(&last, 5).last_n, Some(3), "lastN within the page");
        let more = HistoryQuery {
            last_n: Some(30),
            ..HistoryQuery::default()
        };
        assert_eq!(probe(&more, 5).last_n, Some(6));
    }
}
