//! The storage contract as executable checks: every backend's tests run all of them.
//!
//! Each check takes a fresh store (`Arc<S>`, so checks can spawn concurrent tasks) and
//! panics with a message when the backend breaks the contract. A backend calls them one by
//! one (one test each, for readable failures) or all at once with [`run_all`] (entities) and
//! [`run_subscription_checks`] (subscriptions, for backends that also store those). The checks
//! use their own ids, types and tenant names, so they also pass on a store shared with
//! other checks, as long as nothing else writes the same names.
//!
//! Versions are only required to be >= 1, to increase on every write of an entity and never
//! to repeat for an id (also across delete and re-create); backends may use a store-wide
//! counter, so the kit never expects a particular number.

// A failed check is a test failure: panicking with a message is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rigel_model::{Attribute, AttributeValue, Entity, Tenant};
use serde_json::json;

use crate::{EntityStore, Expect, WriteOp, WriteOutcome};

mod commits;
mod history;
mod outbox;
mod queries;
mod registrations;
mod selection;
mod subscriptions;
mod tenancy;
mod type_index;
mod versions;

pub use commits::*;
pub use history::*;
pub use outbox::*;
pub use queries::*;
pub use registrations::*;
pub use selection::*;
pub use subscriptions::*;
pub use tenancy::*;
pub use type_index::*;
pub use versions::*;

const T_ROOM: &str = "https://example.org/ns#Room";
const T_SENSOR: &str = "https://example.org/ns#Sensor";
/// Used only by `tenants_are_isolated`, whose type lists include the default tenant.
const T_ISOLATED: &str = "https://example.org/ns#IsolationProbe";
const A_TEMP: &str = "https://example.org/ns#temperature";

/// A fixed instant, so entities compare equal after a round trip.
fn instant() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default()
}

/// A small entity with one property; public so backends can use it in their own tests.
pub fn sample_entity(id: &str, types: &[&str]) -> Entity {
    // Built through serde so that optional fields the model gains later need no change here.
    let mut entity: Entity = serde_json::from_value(json!({
        "id": id,
        "types": types,
        "created_at": instant(),
        "modified_at": instant(),
    }))
    .expect("an entity needs only an id, types and timestamps");
    entity.attributes.insert(
        A_TEMP.to_owned(),
        vec![attribute(AttributeValue::Property(json!(21.5)))],
    );
    entity
}

/// Sets the sample's temperature.
fn set_temperature(entity: &mut Entity, value: f64) {
    entity.attributes.insert(
        A_TEMP.to_owned(),
        vec![attribute(AttributeValue::Property(json!(value)))],
    );
}

/// Built through serde so that optional fields the model gains later need no change here.
fn attribute(value: AttributeValue) -> Attribute {
    serde_json::from_value(json!({ "value": value })).expect("an attribute needs only a value")
}

fn named(name: &str) -> Tenant {
    Tenant::named(name).expect("valid tenant name")
}

fn put(entity: Entity, expect: Expect) -> WriteOp {
    WriteOp::Put { entity, expect }
}

fn delete(id: &str, expect: Expect) -> WriteOp {
    WriteOp::Delete {
        id: id.to_owned(),
        expect,
    }
}

/// Commits one op and returns its outcome.
async fn commit_one<S: EntityStore>(store: &S, tenant: &Tenant, op: WriteOp) -> WriteOutcome {
    let outcomes = store.commit(tenant, vec![op]).await.expect("commit");
    assert_eq!(outcomes.len(), 1, "one outcome per op");
    outcomes[0]
}

/// Creates an entity (expecting it absent) and returns its version; panics on a conflict.
pub async fn create<S: EntityStore>(store: &S, tenant: &Tenant, entity: Entity) -> u64 {
    match commit_one(store, tenant, put(entity, Expect::Absent)).await {
        WriteOutcome::Applied { version } => version,
        WriteOutcome::Conflict => panic!("create of a fresh id conflicted"),
    }
}

async fn version_of<S: EntityStore>(store: &S, tenant: &Tenant, id: &str) -> Option<u64> {
    store.get(tenant, id).await.expect("get").map(|v| v.version)
}

async fn all_ids_by_type<S: EntityStore>(
    store: &S,
    tenant: &Tenant,
    type_iri: &str,
) -> Vec<String> {
    store
        .ids_by_type(tenant, type_iri, None, usize::MAX)
        .await
        .expect("ids_by_type")
}

/// Calls the macro `$m` with the name of every contract check that takes one fresh store,
/// so that each backend's tests list them once: `each_contract_check!(contract_tests);`
/// with a `contract_tests!` that turns each name into a test.
#[macro_export]
macro_rules! each_contract_check {
    ($m:ident) => {
        $m!(
            create_then_get_returns_the_entity,
            get_of_unknown_id_returns_none,
            stored_entity_keeps_every_attribute_kind,
            create_of_existing_id_conflicts,
            stale_version_write_conflicts,
            versioned_write_of_missing_entity_conflicts,
            unconditional_put_creates_or_replaces,
            replace_updates_the_type_index,
            delete_removes_entity_and_type_index_entry,
            recreated_entity_gets_a_fresh_version,
            delete_of_missing_entity_without_precondition_is_a_no_op,
            tenants_are_isolated,
            default_tenant_always_exists,
            unknown_named_tenant_does_not_exist,
            tenant_exists_after_first_write,
            ids_by_type_pages_in_id_order,
            ids_by_type_lists_each_type_separately,
            ops_in_one_commit_apply_in_order,
            conflict_in_a_commit_does_not_undo_other_ops,
            a_note_follows_the_fate_of_the_write_before_it,
            empty_commit_returns_no_outcomes,
            concurrent_commits_all_apply,
            concurrent_writes_to_one_entity_let_exactly_one_win,
            selecting_a_tenant_pages_in_id_order,
            the_query_selects_and_count_counts_every_match,
            an_ordered_selection_sorts_every_match_then_pages,
            a_page_beyond_max_bytes_is_refused,
            visiting_sees_every_selected_entity_once,
            queries_answer_what_evaluating_every_entity_answers,
            dense_geo_pages_answer_what_evaluating_every_entity_answers,
            selecting_after_an_id_resumes_past_it,
            selecting_by_types_merges_them_without_duplicates,
            counting_by_types_alone_counts_each_entity_once,
            selecting_by_id_prefix_keeps_only_prefixed_ids,
            selecting_by_ids_skips_absent_ones,
            get_many_answers_in_request_order,
            types_in_use_are_listed_once_per_tenant,
            created_subscription_is_listed_under_its_tenant,
            creating_a_duplicate_subscription_returns_false_and_keeps_the_first,
            the_same_subscription_id_in_another_tenant_is_independent,
            replacing_an_unknown_subscription_returns_false,
            replacing_a_subscription_keeps_the_updated_fields,
            deleting_a_subscription_returns_true_then_false,
            status_saved_for_a_deleted_subscription_does_not_resurrect_it,
            saved_delivery_status_shows_in_all_subscriptions,
            delivery_statuses_of_several_subscriptions_save_at_once,
            replacing_after_a_status_save_keeps_the_replacements_counters,
            creating_a_subscription_registers_its_tenant,
            created_registration_reads_back_whole_under_its_tenant,
            a_duplicate_registration_id_is_refused_within_a_tenant_only,
            registrations_are_replaced_and_deleted_when_present,
            forwarding_counts_add_up_for_existing_registrations_only,
            history_reads_by_time_range_and_last_n,
            a_bound_record_follows_the_fate_of_its_write,
            appends_add_types_to_the_header,
            instances_are_replaced_and_forgotten_by_id,
            attributes_and_entities_are_forgotten,
            history_headers_list_by_source_and_tenant,
            trimming_keeps_the_latest_and_the_recent,
            samples_are_the_instances_reduced_to_time_dataset_and_value,
            the_header_keeps_the_latest_modification_of_the_entity,
        );
    };
}

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(mut make: F)
where
    S: EntityStore + crate::Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<S>>,
{
    create_then_get_returns_the_entity(make().await).await;
    get_of_unknown_id_returns_none(make().await).await;
    stored_entity_keeps_every_attribute_kind(make().await).await;
    create_of_existing_id_conflicts(make().await).await;
    stale_version_write_conflicts(make().await).await;
    versioned_write_of_missing_entity_conflicts(make().await).await;
    unconditional_put_creates_or_replaces(make().await).await;
    replace_updates_the_type_index(make().await).await;
    delete_removes_entity_and_type_index_entry(make().await).await;
    recreated_entity_gets_a_fresh_version(make().await).await;
    delete_of_missing_entity_without_precondition_is_a_no_op(make().await).await;
    tenants_are_isolated(make().await).await;
    default_tenant_always_exists(make().await).await;
    unknown_named_tenant_does_not_exist(make().await).await;
    tenant_exists_after_first_write(make().await).await;
    ids_by_type_pages_in_id_order(make().await).await;
    ids_by_type_lists_each_type_separately(make().await).await;
    ops_in_one_commit_apply_in_order(make().await).await;
    conflict_in_a_commit_does_not_undo_other_ops(make().await).await;
    a_note_follows_the_fate_of_the_write_before_it(make().await).await;
    empty_commit_returns_no_outcomes(make().await).await;
    concurrent_commits_all_apply(make().await).await;
    concurrent_writes_to_one_entity_let_exactly_one_win(make().await).await;
    selecting_a_tenant_pages_in_id_order(make().await).await;
    the_query_selects_and_count_counts_every_match(make().await).await;
    an_ordered_selection_sorts_every_match_then_pages(make().await).await;
    a_page_beyond_max_bytes_is_refused(make().await).await;
    visiting_sees_every_selected_entity_once(make().await).await;
    queries_answer_what_evaluating_every_entity_answers(make().await).await;
    dense_geo_pages_answer_what_evaluating_every_entity_answers(make().await).await;
    selecting_after_an_id_resumes_past_it(make().await).await;
    selecting_by_types_merges_them_without_duplicates(make().await).await;
    counting_by_types_alone_counts_each_entity_once(make().await).await;
    selecting_by_id_prefix_keeps_only_prefixed_ids(make().await).await;
    selecting_by_ids_skips_absent_ones(make().await).await;
    get_many_answers_in_request_order(make().await).await;
    types_in_use_are_listed_once_per_tenant(make().await).await;
}
