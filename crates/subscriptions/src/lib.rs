//! Subscriptions (clauses 5.8, 5.11 for notification behaviour): matching committed changes
//! against subscriptions, building notifications and delivering them over HTTP and MQTT,
//! with bounded per-subscription queues and durable delivery counters.

pub mod deliver;
