//! Black-box HTTP conformance tests of the NGSI-LD API (ETSI GS CIM 009 V1.9.1): run against
//! `RIGEL_URL` when it is set, else against one in-process Rigel shared by every test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/harness.rs"]
mod harness;

#[path = "api/attribute_kinds.rs"]
mod attribute_kinds;
#[path = "api/attributes.rs"]
mod attributes;
#[path = "api/batch.rs"]
mod batch;
#[path = "api/content_negotiation.rs"]
mod content_negotiation;
#[path = "api/contexts.rs"]
mod contexts;
#[path = "api/create_entity.rs"]
mod create_entity;
#[path = "api/csource_subscriptions.rs"]
mod csource_subscriptions;
#[path = "api/delete_entity.rs"]
mod delete_entity;
#[path = "api/federation.rs"]
mod federation;
#[path = "api/federation_batch.rs"]
mod federation_batch;
#[path = "api/federation_temporal.rs"]
mod federation_temporal;
#[path = "api/front_door.rs"]
mod front_door;
#[path = "api/indexes.rs"]
mod indexes;
#[path = "api/jsonld_contexts.rs"]
mod jsonld_contexts;
#[path = "api/limits.rs"]
mod limits;
#[path = "api/mqtt_notifications.rs"]
mod mqtt_notifications;
#[path = "api/notifications.rs"]
mod notifications;
#[path = "api/query_entities.rs"]
mod query_entities;
#[path = "api/registrations.rs"]
mod registrations;
#[path = "api/replace_merge.rs"]
mod replace_merge;
#[path = "api/representations.rs"]
mod representations;
#[path = "api/retrieve_entity.rs"]
mod retrieve_entity;
#[path = "api/subscriptions.rs"]
mod subscriptions;
#[path = "api/temporal.rs"]
mod temporal;
#[path = "api/tenancy.rs"]
mod tenancy;
