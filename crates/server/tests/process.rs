//! Black-box tests of the real `rigel` binary as a process: durability across SIGKILL,
//! graceful shutdown on SIGTERM, the admin port, the request log, configuration by flag and
//! environment (Orion-LD's variables too), the deployment files against what the binary
//! serves, federation between several brokers, a MongoDB store through an outage, drills
//! of brokers sharing MongoDB under load, export and import between stores, and
//! authentication with rights per tenant, TLS, the egress policy and abuse limits, MQTT
//! ingestion through mosquitto, the parking example's script, and the web console in headless
//! Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "process/abuse.rs"]
mod abuse;
#[path = "process/common.rs"]
mod common;
#[path = "process/configuration.rs"]
mod configuration;
#[path = "process/console.rs"]
mod console;
#[path = "process/drills.rs"]
mod drills;
#[path = "process/federation.rs"]
mod federation;
#[path = "process/ingestion.rs"]
mod ingestion;
#[path = "process/kill.rs"]
mod kill;
#[path = "process/mongodb.rs"]
mod mongodb;
#[path = "process/operations.rs"]
mod operations;
#[path = "process/parking.rs"]
mod parking;
#[path = "process/security.rs"]
mod security;
#[path = "process/shutdown.rs"]
mod shutdown;
#[path = "process/transfer.rs"]
mod transfer;
