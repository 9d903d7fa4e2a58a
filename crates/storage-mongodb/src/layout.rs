//! Where the backend keeps things: one database per tenant, named from a prefix (`rigel`
//! for the default tenant, `rigel-<tenant>` for the others), a catalog of tenants and the
//! schema version in the default tenant's database, and the collections and indexes of
//! each tenant's database (ADR 0006).

use mongodb::bson::doc;
use mongodb::options::{ChangeStreamPreAndPostImages, IndexOptions};
use mongodb::{Database, IndexModel};
use rigel_model::Tenant;

/// A tenant's entities: `{_id: id, v: version, types: [type IRI], ix: [index field],
/// body: entity JSON}` (`ix`: see `pushdown.rs`).
pub(crate) const ENTITIES: &str = "entities";
/// A tenant's attribute instances, one document each: `{_id: instance id, e: entity id,
/// a: attribute IRI, t: filed microsecond, s: record, i: place in the record, body: JSON}`.
pub(crate) const HISTORY: &str = "history";
/// A tenant's history headers: `{_id: entity id, types: [type IRI], body: header JSON}`.
pub(crate) const HEADERS: &str = "historyHeaders";
/// A tenant's subscriptions: `{_id: id, rev: revision, body: subscription JSON}`.
pub(crate) const SUBSCRIPTIONS: &str = "subscriptions";
/// A tenant's context source registrations: `{_id: id, rev: revision, body: JSON}`.
pub(crate) const REGISTRATIONS: &str = "registrations";
/// In the default tenant's database: the named tenants that exist, `{_id: name, db: name}`.
pub(crate) const TENANTS: &str = "tenants";
/// In the default tenant's database: which process delivers each subscription,
/// `{_id: "<tenant>|<id>", holder, until}`.
pub(crate) const LEASES: &str = "leases";
/// Served @contexts shared by the brokers (in the default tenant's database).
pub(crate) const CONTEXTS: &str = "contexts";
/// In the default tenant's database: `{_id: "schema", version: n}`.
pub(crate) const META: &str = "meta";

/// The layout version this build writes; a database of a later one is refused at start,
/// one of an earlier one is upgraded (version 2 added `ix` to entity documents).
pub(crate) const SCHEMA_VERSION: i32 = 2;

/// MongoDB's limit on database names, in bytes.
const MAX_DATABASE_NAME: usize = 63;

/// The database of a tenant: the prefix for the default tenant, else the prefix, a dash and
/// the name with the characters MongoDB refuses in database names (and `_`, the escape)
/// written as `_XX`; a name too long for MongoDB keeps its first characters and a hash of
/// the whole name.
pub(crate) fn database_name(prefix: &str, tenant: &Tenant) -> String {
    let Some(name) = tenant.name() else {
        return prefix.to_owned();
    };
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' => escaped.push(c),
            other => escaped.push_str(&format!("_{:02X}", u32::from(other))),
        }
    }
    let whole = format!("{prefix}-{escaped}");
    if whole.len() <= MAX_DATABASE_NAME {
        return whole;
    }
    let hash = format!("{:016x}", fnv1a(name.as_bytes()));
    let room = MAX_DATABASE_NAME.saturating_sub(prefix.len() + hash.len() + 2);
    let head: String = escaped.chars().take(room).collect();
    format!("{prefix}-{head}-{hash}")
}

/// FNV-1a, 64 bits: a stable hash (unlike std's, which may change between releases), so a
/// tenant's database keeps its name across versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Creates a tenant's collections and their indexes; idempotent. Entities, subscriptions
/// and registrations keep the document before each change (pre-images), which the change
/// feed reports as the previous state (a registration's, for a takeover's replay).
pub(crate) async fn prepare(db: &Database) -> mongodb::error::Result<()> {
    for name in [ENTITIES, SUBSCRIPTIONS, REGISTRATIONS] {
        let created = db
            .create_collection(name)
            .change_stream_pre_and_post_images(
                ChangeStreamPreAndPostImages::builder()
                    .enabled(true)
                    .build(),
            )
            .await;
        match created {
            Ok(()) => {}
            // NamespaceExists: created before, by this or another process.
            Err(e) if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 48) => {
                db.run_command(doc! {
                    "collMod": name,
                    "changeStreamPreAndPostImages": {"enabled": true},
                })
                .await?;
            }
            Err(e) => return Err(e),
        }
    }
    let index = |keys, name: &str| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().name(name.to_owned()).build())
            .build()
    };
    let entities = db.collection::<mongodb::bson::Document>(ENTITIES);
    entities
        .create_index(index(doc! {"types": 1, "_id": 1}, "types_id"))
        .await?;
    // Numbers and texts (relationship objects among them) by attribute: what q compares.
    entities
        .create_index(index(doc! {"ix.a": 1, "ix.n": 1}, "attribute_number"))
        .await?;
    entities
        .create_index(index(doc! {"ix.a": 1, "ix.t": 1}, "attribute_text"))
        .await?;
    db.collection::<mongodb::bson::Document>(HISTORY)
        .create_index(index(
            doc! {"e": 1, "a": 1, "t": 1, "s": 1, "i": 1},
            "entity_attribute_filed",
        ))
        .await?;
    db.collection::<mongodb::bson::Document>(HEADERS)
        .create_index(index(doc! {"types": 1, "_id": 1}, "types_id"))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Tenant {
        Tenant::named(name).unwrap_or_default()
    }

    #[test]
    fn the_default_tenant_uses_the_prefix_itself() {
        assert_eq!(database_name("rigel", &Tenant::default_tenant()), "rigel");
    }

    #[test]
    fn characters_mongodb_refuses_are_escaped_without_collisions() {
        assert_eq!(database_name("rigel", &named("city-a")), "rigel-city-a");
        assert_eq!(database_name("rigel", &named("a.b")), "rigel-a_2Eb");
        assert_eq!(database_name("rigel", &named("a/b:c")), "rigel-a_2Fb_3Ac");
        assert_ne!(
            database_name("rigel", &named("a_2E")),
            database_name("rigel", &named("a.")),
        );
    }

    #[test]
    fn long_names_are_cut_and_hashed_within_the_limit() {
        let long = "x".repeat(200);
        let other = format!("{}y", "x".repeat(199));
        let a = database_name("rigel", &named(&long));
        let b = database_name("rigel", &named(&other));
        assert!(a.len() <= MAX_DATABASE_NAME, "{a}");
        assert_ne!(a, b);
    }
}
