//! Route handlers, one module per API area.

pub mod attributes;
pub mod batch;
pub mod contexts;
pub mod csource_subscriptions;
pub mod discovery;
mod distributed_batch;
mod distributed_write;
pub mod entities;
pub mod entity_maps;
pub mod identity;
pub mod query;
mod query_body;
pub mod registrations;
pub mod subscriptions;
pub mod temporal;
pub mod unsupported;
mod write;
