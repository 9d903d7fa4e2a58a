//! Subscription leases: which process delivers each subscription. A lease names its holder,
//! lapses at `until` unless renewed, and records `through`, the feed's resume token up to
//! which its holder has dealt with every change; a process renews the leases it holds,
//! takes the lapsed and unheld ones it wants, and releases the rest (ADR 0006). Times are
//! the database server's clock as each process estimates it (`clock.rs`), so processes
//! whose own clocks disagree still agree on when a lease lapses.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::change_stream::event::ResumeToken;
use mongodb::Collection;
use rigel_model::Tenant;
use rigel_storage::{Held, StorageError, SubscriptionKey};

use crate::clock::DatabaseClock;
use crate::error::{is_duplicate_key, storage_error};
use crate::feed::Position;

/// How long a lease lasts without renewal: a process that dies loses its subscriptions to
/// the others within this time (plus their renewal interval).
pub(crate) const LEASE: Duration = Duration::from_secs(6);

/// The `_id` of a subscription's lease: tenant (empty for the default one) and id, apart by a
/// character tenant names cannot hold.
pub(crate) fn key(tenant: &Tenant, id: &str) -> String {
    format!("{}|{id}", tenant.name().unwrap_or(""))
}

fn unkey(key: &str) -> Option<SubscriptionKey> {
    let (tenant, id) = key.split_once('|')?;
    Some((Tenant::named(tenant).ok()?, id.to_owned()))
}

/// The database's time `from_now` from now.
fn until(clock: &DatabaseClock, from_now: Duration) -> DateTime {
    let at = clock.now() + chrono::Duration::from_std(from_now).unwrap_or_default();
    DateTime::from_millis(at.timestamp_millis())
}

/// A resume token as stored in a lease.
fn token(position: &Position) -> Bson {
    position
        .token
        .as_ref()
        .and_then(|t| mongodb::bson::to_bson(t).ok())
        .unwrap_or(Bson::Null)
}

/// Takes the lease of one subscription for `holder` (a subscription it is creating) unless
/// another process holds it; the subscription starts from the feed's present position.
pub(crate) async fn take(
    leases: &Collection<Document>,
    clock: &DatabaseClock,
    holder: &str,
    tenant: &Tenant,
    id: &str,
    position: &Position,
) -> Result<(), StorageError> {
    let key = key(tenant, id);
    let taken = leases
        .update_one(
            doc! {"_id": &key, "$or": [{"holder": holder}, {"until": {"$lt": until(clock, Duration::ZERO)}}]},
            doc! {"$set": {"holder": holder, "until": until(clock, LEASE), "through": token(position)}},
        )
        .upsert(true)
        .await;
    match taken {
        Ok(_) => Ok(()),
        // Held by another process (a subscription of that id it delivers).
        Err(e) if is_duplicate_key(&e) => Ok(()),
        Err(e) => Err(storage_error(e)),
    }
}

/// Renews, takes and releases leases as [`rigel_storage::SharedBackend::hold`] says; also
/// answers, for the leases taken from another holder, the token their replay starts from.
pub(crate) async fn hold(
    leases: &Collection<Document>,
    clock: &DatabaseClock,
    holder: &str,
    wanted: &[SubscriptionKey],
    settled: &(dyn for<'k> Fn(&'k SubscriptionKey) -> bool + Send + Sync),
    position: &Position,
) -> Result<(Held, HashMap<SubscriptionKey, ResumeToken>), StorageError> {
    let keys: Vec<String> = wanted.iter().map(|(t, id)| key(t, id)).collect();
    let now = until(clock, Duration::ZERO);
    let lasting = until(clock, LEASE);
    leases
        .delete_many(doc! {"holder": holder, "_id": {"$nin": keys.clone()}})
        .await
        .map_err(storage_error)?;
    // The position was read before the queues were looked at: every change up to it was
    // offered before, so an empty queue has dealt with all of them.
    let through = token(position);
    let quiet: Vec<String> = wanted
        .iter()
        .filter(|k| settled(k))
        .map(|(t, id)| key(t, id))
        .collect();
    if !quiet.is_empty() && through != Bson::Null {
        leases
            .update_many(
                doc! {"_id": {"$in": quiet}, "holder": holder},
                doc! {"$set": {"through": through.clone()}},
            )
            .await
            .map_err(storage_error)?;
    }
    // Lapsed leases of other holders, with where their replay starts.
    let mut lapsed = HashMap::new();
    let mut cursor = leases
        .find(doc! {"_id": {"$in": keys.clone()}, "holder": {"$ne": holder}, "until": {"$lt": now}})
        .await
        .map_err(storage_error)?;
    while let Some(d) = cursor.try_next().await.map_err(storage_error)? {
        let (Some(k), Some(from)) = (
            d.get_str("_id").ok().and_then(unkey),
            d.get("through")
                .and_then(|t| mongodb::bson::from_bson::<ResumeToken>(t.clone()).ok()),
        ) else {
            continue;
        };
        lapsed.insert(k, from);
    }
    leases
        .update_many(
            doc! {"_id": {"$in": keys.clone()}, "$or": [{"holder": holder}, {"until": {"$lt": now}}]},
            doc! {"$set": {"holder": holder, "until": lasting}},
        )
        .await
        .map_err(storage_error)?;
    let mut existing = HashSet::new();
    let mut cursor = leases
        .find(doc! {"_id": {"$in": keys.clone()}})
        .projection(doc! {"_id": 1})
        .await
        .map_err(storage_error)?;
    while let Some(d) = cursor.try_next().await.map_err(storage_error)? {
        if let Some(Bson::String(k)) = d.get("_id") {
            existing.insert(k.clone());
        }
    }
    let unheld: Vec<Document> = keys
        .iter()
        .filter(|k| !existing.contains(*k))
        .map(|k| doc! {"_id": k, "holder": holder, "until": lasting, "through": through.clone()})
        .collect();
    if !unheld.is_empty() {
        match leases.insert_many(unheld).ordered(false).await {
            Ok(_) => {}
            // Another process took some of them first: theirs.
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(storage_error(e)),
        }
    }
    let mut held = HashSet::new();
    let mut cursor = leases
        .find(doc! {"holder": holder, "until": {"$gt": now}, "_id": {"$in": keys}})
        .projection(doc! {"_id": 1})
        .await
        .map_err(storage_error)?;
    while let Some(d) = cursor.try_next().await.map_err(storage_error)? {
        if let Some(k) = d.get_str("_id").ok().and_then(unkey) {
            held.insert(k);
        }
    }
    lapsed.retain(|k, _| held.contains(k));
    let taken_over = lapsed.keys().cloned().collect();
    Ok((
        Held {
            keys: held,
            taken_over,
        },
        lapsed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leases collection of its own on the test server (`crate::testing`), or `None`
    /// (skipped) without one.
    async fn leases_on_test_server(
        check: &str,
    ) -> Option<(mongodb::Database, Collection<Document>)> {
        let url = crate::testing::server_url(check)?;
        let client = mongodb::Client::with_uri_str(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test MongoDB server: {e}"));
        let db = client.database(&format!("leaseclock{}", std::process::id()));
        let leases = db.collection::<Document>(crate::layout::LEASES);
        leases
            .delete_many(doc! {})
            .await
            .unwrap_or_else(|e| panic!("cannot empty the leases: {e}"));
        Some((db, leases))
    }

    async fn held_by(
        leases: &Collection<Document>,
        clock: &DatabaseClock,
        holder: &str,
        wanted: &[SubscriptionKey],
    ) -> HashSet<SubscriptionKey> {
        let position = Position::default();
        match hold(leases, clock, holder, wanted, &|_| true, &position).await {
            Ok((held, _)) => held.keys,
            Err(e) => panic!("hold failed: {e}"),
        }
    }

    #[tokio::test]
    async fn processes_whose_clocks_disagree_do_not_take_each_others_leases() {
        let Some((db, leases)) =
            leases_on_test_server("processes_whose_clocks_disagree_do_not_take_each_others_leases")
                .await
        else {
            return;
        };
        let wanted = vec![(
            Tenant::default_tenant(),
            "urn:ngsi-ld:Subscription:s".to_owned(),
        )];
        // Half a minute behind and half a minute ahead: a minute apart, ten leases.
        let behind = DatabaseClock::skewed(-30_000);
        let ahead = DatabaseClock::skewed(30_000);
        for clock in [&behind, &ahead] {
            clock
                .sample(&db)
                .await
                .unwrap_or_else(|e| panic!("hello failed: {e}"));
        }
        assert_eq!(held_by(&leases, &behind, "a", &wanted).await.len(), 1);
        assert!(held_by(&leases, &ahead, "b", &wanted).await.is_empty());
        // The holder renews it, and still holds it.
        assert_eq!(held_by(&leases, &behind, "a", &wanted).await.len(), 1);

        // Without the server's time, the process ahead finds the lease lapsed and takes it:
        // what the test guards against.
        let unsynced = DatabaseClock::skewed(30_000);
        assert_eq!(held_by(&leases, &unsynced, "c", &wanted).await.len(), 1);
        let _ = db.drop().await;
    }

    #[test]
    fn lease_keys_read_back_for_every_tenant() {
        let named = Tenant::named("city.a:b/c").unwrap_or_default();
        for tenant in [Tenant::default_tenant(), named] {
            let id = "urn:ngsi-ld:Subscription:a|b";
            assert_eq!(
                unkey(&key(&tenant, id)),
                Some((tenant.clone(), id.to_owned()))
            );
        }
    }
}
