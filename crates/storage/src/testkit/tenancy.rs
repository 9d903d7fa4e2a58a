//! Contract checks: tenant isolation and tenant existence.

use super::*;

/// The same id in two tenants (including names sharing a prefix, and the default tenant) is
/// two entities; reads, type lists and writes never cross tenants.
pub async fn tenants_are_isolated<S: EntityStore>(store: Arc<S>) {
    let id = "urn:ngsi-ld:Room:shared-id";
    let tenants = [
        Tenant::default_tenant(),
        named("iso"),
        named("iso2"),
        named("is"),
    ];
    for (i, tenant) in tenants.iter().enumerate() {
        let mut entity = sample_entity(id, &[T_ISOLATED]);
        entity.scope = Some(vec![format!("/tenant/{i}")]);
        create(&*store, tenant, entity).await;
    }
    for (i, tenant) in tenants.iter().enumerate() {
        let read = store.get(tenant, id).await.expect("get").expect("found");
        assert_eq!(
            read.value.scope,
            Some(vec![format!("/tenant/{i}")]),
            "tenant {tenant}"
        );
        assert_eq!(all_ids_by_type(&*store, tenant, T_ISOLATED).await, [id]);
    }
    let only_iso = named("iso");
    commit_one(&*store, &only_iso, delete(id, Expect::Any)).await;
    assert!(store.get(&only_iso, id).await.expect("get").is_none());
    assert!(store.get(&named("iso2"), id).await.expect("get").is_some());
    assert!(store
        .get(&Tenant::default_tenant(), id)
        .await
        .expect("get")
        .is_some());
    assert!(store
        .get(&named("isolated-other"), id)
        .await
        .expect("get")
        .is_none());
}

/// The default tenant exists even in an empty store.
pub async fn default_tenant_always_exists<S: EntityStore>(store: Arc<S>) {
    assert!(store
        .tenant_exists(&Tenant::default_tenant())
        .await
        .expect("tenant_exists"));
}

/// A named tenant nobody wrote to does not exist, and reading from it does not create it.
pub async fn unknown_named_tenant_does_not_exist<S: EntityStore>(store: Arc<S>) {
    let tenant = named("never-written-tenant");
    assert!(store.get(&tenant, "urn:x").await.expect("get").is_none());
    assert!(all_ids_by_type(&*store, &tenant, T_ROOM).await.is_empty());
    assert!(!store.tenant_exists(&tenant).await.expect("tenant_exists"));
}

/// A named tenant exists from its first applied write on, even once all its entities are
/// deleted; a write that only conflicted does not create it.
pub async fn tenant_exists_after_first_write<S: EntityStore>(store: Arc<S>) {
    let tenant = named("first-write-tenant");
    let conflicted = commit_one(
        &*store,
        &tenant,
        put(sample_entity("urn:a", &[T_ROOM]), Expect::Version(7)),
    )
    .await;
    assert_eq!(conflicted, WriteOutcome::Conflict);
    assert!(!store.tenant_exists(&tenant).await.expect("tenant_exists"));
    create(&*store, &tenant, sample_entity("urn:a", &[T_ROOM])).await;
    assert!(store.tenant_exists(&tenant).await.expect("tenant_exists"));
    commit_one(&*store, &tenant, delete("urn:a", Expect::Any)).await;
    assert!(store.tenant_exists(&tenant).await.expect("tenant_exists"));
    assert!(!store
        .tenant_exists(&named("first-write-tenan"))
        .await
        .expect("tenant_exists"));
}
