//! Device ingestion (issue 17): MQTT messages turned into NGSI-LD writes by ingestion rules.
//! `rule` is what a rule says, `map` what a message becomes under it (pure), `ingestion`
//! the connections that receive, write and acknowledge (`docs/ingestion.md`).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod broker_url;
pub mod check;
mod client;
pub mod counters;
pub mod ingestion;
pub mod map;
pub mod rule;
pub mod template;
pub mod topic;
mod worker;

pub use ingestion::{ConnectionState, IngestSettings, Ingestion, RuleReport};
pub use rule::{Rule, RuleSpec};
