//! Results: one row per scenario, as a text (Markdown) table or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use crate::ledger::Audit;
use crate::procstat::Usage;
use crate::stats::{Histogram, Outcome};

/// The invocation, printed above the table and included in the JSON.
#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub url: String,
    pub run_id: String,
    pub connections: usize,
    pub duration_s: f64,
    pub seed_count: u64,
    /// Entity types the seeded entities are spread over.
    pub types: u64,
    /// Seeded entities per seeding request.
    pub seed_batch: u64,
    pub batch_size: u64,
    pub pid: Option<u32>,
    pub tenant: Option<String>,
    pub link_core_context: bool,
    /// Requests per second across all connections (none: closed loop, as fast as answered).
    pub rate: Option<f64>,
    /// Instances of each attribute of every temporal entity, when a temporal scenario ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporal_instances: Option<u64>,
    /// Instances of each attribute per temporal seeding request, when a temporal scenario ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporal_chunk: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50_ms: ms(h.percentile(50.0)),
            p95_ms: ms(h.percentile(95.0)),
            p99_ms: ms(h.percentile(99.0)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// What the notify scenario's receiver got, against what the acknowledged updates call for.
#[derive(Debug, Serialize)]
pub struct Notifications {
    pub subscriptions: u64,
    /// The endpoint base the subscriptions notify (`{endpoint}/notify/{k}`).
    pub endpoint: String,
    #[serde(flatten)]
    pub audit: Audit,
    /// Notifications (HTTP requests) received.
    pub notifications: u64,
    /// Entities in their `data`, over all subscriptions.
    pub entity_notifications: u64,
    /// Over the delivery window: from the first update to the last notification received.
    pub notifications_per_sec: f64,
    pub entity_notifications_per_sec: f64,
    /// From sending an update to receiving a notification of it, over all receipts.
    pub delay: Latency,
    /// Notified entities whose value no update of this run wrote.
    pub unknown: u64,
    /// Notifications the receiver could not read.
    pub malformed: u64,
    /// Requests to the receiver on other paths or with other methods than POST.
    pub strays: u64,
    /// After the updates, how long the receiver was waited for, and why the wait ended.
    pub drain_s: f64,
    pub drain_end: &'static str,
    /// The subscriptions' `notification.timesSent` / `timesFailed`, summed (when readable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_times_sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_times_failed: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Measured {
    pub elapsed_s: f64,
    /// Answered requests (any status).
    pub responses: u64,
    pub ok: u64,
    /// 2xx answers per second.
    pub requests_per_sec: f64,
    /// Entities written per second, for scenarios that write several per request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities_per_sec: Option<f64>,
    /// Temporal instances read (returned or aggregated) per second, for the temporal scenarios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances_per_sec: Option<f64>,
    pub latency: Latency,
    /// Non-2xx answers by status.
    pub errors_by_status: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    /// All errors: non-2xx answers and transport failures.
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_transport_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<Usage>,
    /// The notify scenario's receipts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Notifications>,
}

impl Measured {
    pub fn new(
        outcome: &Outcome,
        elapsed: Duration,
        entities_per_request: Option<u64>,
        broker: Option<Usage>,
        generator: Option<Usage>,
    ) -> Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let h = &outcome.latency;
        let rate = outcome.ok as f64 / secs;
        Self {
            elapsed_s: elapsed.as_secs_f64(),
            responses: h.count(),
            ok: outcome.ok,
            requests_per_sec: rate,
            entities_per_sec: entities_per_request.map(|n| rate * n as f64),
            instances_per_sec: None,
            latency: Latency::of(h),
            errors_by_status: outcome.errors.by_status.clone(),
            transport_errors: outcome.errors.transport,
            errors: outcome.errors.total(),
            first_transport_error: outcome.errors.first_transport.clone(),
            broker,
            generator,
            notifications: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Verdict {
    #[serde(rename = "ok")]
    Measured(Box<Measured>),
    /// The broker's first answer said it does not offer the operation.
    Unsupported { status: u16, detail: String },
    /// The scenario could not be run (seeding failed, broker unreachable, ...).
    Failed { reason: String },
}

#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    pub scenario: &'static str,
    pub request: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub run: RunInfo,
    pub scenarios: Vec<ScenarioReport>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn to_text(&self) -> String {
        let r = &self.run;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "rigel-bench run {} against {}: {} connections{}, {:.0} s per scenario, {} seeded entities{}{}{}{}",
            r.run_id,
            r.url,
            r.connections,
            r.rate.map(|x| format!(" at {} req/s", thousands(x))).unwrap_or_default(),
            r.duration_s,
            r.seed_count,
            if r.types > 1 { format!(" of {} types", r.types) } else { String::new() },
            r.temporal_instances
                .map(|m| format!(
                    " (temporal: {} instances of each of {} attributes, {} per request)",
                    thousands(m as f64),
                    crate::temporal::ATTRIBUTES.len(),
                    thousands(r.temporal_chunk.unwrap_or(m) as f64)
                ))
                .unwrap_or_default(),
            r.tenant.as_ref().map(|t| format!(", tenant {t}")).unwrap_or_default(),
            if r.link_core_context { ", Link: core context" } else { "" },
        );
        out.push('\n');
        out.push_str(
            "| scenario | result | req/s | p50 ms | p95 ms | p99 ms | max ms | 2xx | errors |",
        );
        let with_proc = r.pid.is_some();
        if with_proc {
            out.push_str(" broker CPU % | broker VmHWM MiB | broker RssAnon MiB |");
        }
        out.push_str(" bench CPU % |\n|---|---|---|---|---|---|---|---|---|");
        if with_proc {
            out.push_str("---|---|---|");
        }
        out.push_str("---|\n");
        for s in &self.scenarios {
            let _ = write!(out, "| {} ", s.scenario);
            match &s.verdict {
                Verdict::Measured(m) => {
                    let rate = match (m.entities_per_sec, m.instances_per_sec) {
                        (Some(e), _) => format!(
                            "{} ({} entities/s)",
                            thousands(m.requests_per_sec),
                            thousands(e)
                        ),
                        (None, Some(i)) => format!(
                            "{} ({} instances/s)",
                            thousands(m.requests_per_sec),
                            thousands(i)
                        ),
                        (None, None) => thousands(m.requests_per_sec),
                    };
                    let l = &m.latency;
                    let _ = write!(
                        out,
                        "| ok | {rate} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                        l.p50_ms,
                        l.p95_ms,
                        l.p99_ms,
                        l.max_ms,
                        thousands(m.ok as f64),
                        errors(m)
                    );
                    if with_proc {
                        out.push_str(&usage_cells(m.broker.as_ref()));
                    }
                    let bench = m
                        .generator
                        .as_ref()
                        .map(|g| format!("{:.0}", g.cpu_percent));
                    let _ = writeln!(out, " {} |", bench.unwrap_or_else(|| "-".into()));
                }
                Verdict::Unsupported { status, .. } => {
                    let _ = write!(
                        out,
                        "| unsupported ({status}) | - | - | - | - | - | - | - |"
                    );
                    out.push_str(if with_proc {
                        " - | - | - | - |\n"
                    } else {
                        " - |\n"
                    });
                }
                Verdict::Failed { reason } => {
                    let _ = write!(
                        out,
                        "| failed: {} | - | - | - | - | - | - | - |",
                        reason.replace('|', "/")
                    );
                    out.push_str(if with_proc {
                        " - | - | - | - |\n"
                    } else {
                        " - |\n"
                    });
                }
            }
        }
        for s in &self.scenarios {
            if let Verdict::Measured(m) = &s.verdict {
                if let Some(e) = &m.first_transport_error {
                    let _ = writeln!(out, "\n{}: first transport error: {e}", s.scenario);
                }
                if let Some(n) = &m.notifications {
                    notifications_text(&mut out, s.scenario, n);
                }
            }
        }
        out
    }
}

fn notifications_text(out: &mut String, scenario: &str, n: &Notifications) {
    let a = &n.audit;
    let _ = writeln!(
        out,
        "\n{scenario}: {} subscription(s) notifying {}/notify/K\n",
        n.subscriptions, n.endpoint
    );
    out.push_str(concat!(
        "| updates acked | expected | received | lost | notifications/s | entity-notifications/s ",
        "| entities/notification | delay p50 ms | p95 ms | p99 ms | max ms | drain |\n",
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    ));
    let per = if n.notifications > 0 {
        n.entity_notifications as f64 / n.notifications as f64
    } else {
        0.0
    };
    let d = &n.delay;
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {per:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} s ({}) |",
        thousands(a.acked as f64),
        thousands(a.expected as f64),
        thousands(a.received as f64),
        thousands(a.lost as f64),
        thousands(n.notifications_per_sec),
        thousands(n.entity_notifications_per_sec),
        d.p50_ms,
        d.p95_ms,
        d.p99_ms,
        d.max_ms,
        n.drain_s,
        n.drain_end,
    );
    let mut notes = Vec::new();
    if a.lost > 0 {
        notes.push(format!(
            "{} acknowledged update(s) short of a receipt",
            a.updates_short
        ));
    }
    if a.duplicates > 0 {
        notes.push(format!("{} duplicate receipt(s)", a.duplicates));
    }
    if a.not_acked > 0 {
        notes.push(format!(
            "{} update(s) not acknowledged, {} receipt(s) of them",
            a.not_acked, a.received_not_acked
        ));
    }
    if n.unknown > 0 {
        notes.push(format!(
            "{} notified entities without a value of this run",
            n.unknown
        ));
    }
    if n.malformed > 0 {
        notes.push(format!("{} unreadable notification(s)", n.malformed));
    }
    if n.strays > 0 {
        notes.push(format!("{} request(s) to other paths or methods", n.strays));
    }
    if let (Some(sent), Some(failed)) = (n.broker_times_sent, n.broker_times_failed) {
        notes.push(format!(
            "broker: timesSent {}, timesFailed {failed} over the subscriptions; receiver: {} notifications",
            thousands(sent as f64),
            thousands(n.notifications as f64)
        ));
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\n{}", notes.join("; "));
    }
}

fn errors(m: &Measured) -> String {
    let mut parts: Vec<String> = m
        .errors_by_status
        .iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect();
    if m.transport_errors > 0 {
        parts.push(format!("transport×{}", m.transport_errors));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join(" ")
    }
}

fn usage_cells(u: Option<&Usage>) -> String {
    let mib = |k: Option<u64>| {
        k.map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or_else(|| "-".into())
    };
    match u {
        Some(u) => format!(
            " {:.0} | {} | {} → {} |",
            u.cpu_percent,
            mib(u.peak_rss_kib),
            mib(u.rss_anon_start_kib),
            mib(u.rss_anon_end_kib)
        ),
        None => " - | - | - |".into(),
    }
}

/// `12345.6` -> `12,346`.
fn thousands(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.5), "1,235");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn a_report_renders_every_verdict() {
        let mut o = Outcome::default();
        for v in [1_000, 2_000, 3_000] {
            o.latency.record_micros(v);
        }
        o.ok = 2;
        o.errors.status(500);
        let m = Measured::new(&o, Duration::from_secs(1), Some(100), None, None);
        let report = Report {
            run: RunInfo {
                url: "http://127.0.0.1:1026/ngsi-ld/v1".into(),
                run_id: "r1".into(),
                connections: 2,
                duration_s: 1.0,
                seed_count: 10,
                types: 5,
                seed_batch: 100,
                batch_size: 100,
                pid: None,
                tenant: None,
                link_core_context: false,
                rate: None,
                temporal_instances: None,
                temporal_chunk: None,
            },
            scenarios: vec![
                ScenarioReport {
                    scenario: "batch-upsert",
                    request: "POST".into(),
                    verdict: Verdict::Measured(Box::new(m)),
                },
                ScenarioReport {
                    scenario: "query-value",
                    request: "GET".into(),
                    verdict: Verdict::Unsupported {
                        status: 422,
                        detail: String::new(),
                    },
                },
            ],
        };
        let text = report.to_text();
        assert!(text.contains(", 10 seeded entities of 5 types"), "{text}");
        // 2,000 µs falls in the bucket [2,000, 2,015]; percentiles report its upper bound.
        assert!(text.contains("| batch-upsert | ok | 2 (200 entities/s) | 2.02 | 3.00 | 3.00 | 3.00 | 2 | 500×1 |"), "{text}");
        assert!(
            text.contains("| query-value | unsupported (422) |"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap_or_default();
        assert_eq!(json["run"]["types"], 5);
        assert_eq!(json["scenarios"][0]["result"], "ok");
        assert_eq!(json["scenarios"][0]["errors_by_status"]["500"], 1);
        assert_eq!(json["scenarios"][1]["result"], "unsupported");
        assert_eq!(json["scenarios"][1]["status"], 422);
    }

    #[test]
    fn a_notify_report_shows_the_audit_the_rates_and_what_went_wrong() {
        let mut o = Outcome::default();
        o.latency.record_micros(1_000);
        o.ok = 10;
        let mut m = Measured::new(&o, Duration::from_secs(1), None, None, None);
        let mut delays = Histogram::new();
        for v in [1_000, 2_000, 9_000] {
            delays.record_micros(v);
        }
        m.notifications = Some(Notifications {
            subscriptions: 2,
            endpoint: "http://127.0.0.1:4000".into(),
            audit: Audit {
                sent: 11,
                acked: 10,
                not_acked: 1,
                expected: 20,
                received: 17,
                lost: 3,
                updates_short: 2,
                duplicates: 0,
                received_not_acked: 1,
            },
            notifications: 9,
            entity_notifications: 18,
            notifications_per_sec: 9.0,
            entity_notifications_per_sec: 18.0,
            delay: Latency::of(&delays),
            unknown: 0,
            malformed: 0,
            strays: 0,
            drain_s: 2.04,
            drain_end: "quiet",
            broker_times_sent: Some(9),
            broker_times_failed: Some(0),
        });
        let report = Report {
            run: RunInfo {
                url: "http://127.0.0.1:1026/ngsi-ld/v1".into(),
                run_id: "r1".into(),
                connections: 4,
                duration_s: 1.0,
                seed_count: 10,
                types: 1,
                seed_batch: 100,
                batch_size: 100,
                pid: None,
                tenant: None,
                link_core_context: false,
                rate: Some(1_000.0),
                temporal_instances: None,
                temporal_chunk: None,
            },
            scenarios: vec![ScenarioReport {
                scenario: "notify",
                request: "PATCH".into(),
                verdict: Verdict::Measured(Box::new(m)),
            }],
        };
        let text = report.to_text();
        assert!(
            text.contains(": 4 connections at 1,000 req/s, 1 s"),
            "{text}"
        );
        assert!(
            text.contains("notify: 2 subscription(s) notifying http://127.0.0.1:4000/notify/K"),
            "{text}"
        );
        assert!(
            text.contains(
                "| 10 | 20 | 17 | 3 | 9 | 18 | 2.00 | 2.02 | 9.00 | 9.00 | 9.00 | 2.0 s (quiet) |"
            ),
            "{text}"
        );
        assert!(
            text.contains("2 acknowledged update(s) short of a receipt; 1 update(s) not acknowledged, 1 receipt(s) of them; broker: timesSent 9, timesFailed 0"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap_or_default();
        let n = &json["scenarios"][0]["notifications"];
        assert_eq!(n["lost"], 3);
        assert_eq!(n["expected"], 20);
        assert_eq!(n["delay"]["p99_ms"], 9.0);
        assert_eq!(json["run"]["rate"], 1000.0);
    }

    #[test]
    fn a_temporal_report_shows_instances_read_per_second_and_the_seeded_history() {
        let mut o = Outcome::default();
        for v in [1_000, 2_000, 3_000] {
            o.latency.record_micros(v);
        }
        o.ok = 3;
        let mut m = Measured::new(&o, Duration::from_secs(1), None, None, None);
        m.instances_per_sec = Some(m.requests_per_sec * 100_000.0);
        let report = Report {
            run: RunInfo {
                url: "http://127.0.0.1:1026/ngsi-ld/v1".into(),
                run_id: "r1".into(),
                connections: 2,
                duration_s: 1.0,
                seed_count: 20,
                types: 1,
                seed_batch: 100,
                batch_size: 100,
                pid: None,
                tenant: None,
                link_core_context: false,
                rate: None,
                temporal_instances: Some(100_000),
                temporal_chunk: Some(2_000),
            },
            scenarios: vec![ScenarioReport {
                scenario: "temporal-aggregate",
                request: "GET".into(),
                verdict: Verdict::Measured(Box::new(m)),
            }],
        };
        let text = report.to_text();
        assert!(
            text.contains("20 seeded entities (temporal: 100,000 instances of each of 5 attributes, 2,000 per request)"),
            "{text}"
        );
        assert!(
            text.contains("| temporal-aggregate | ok | 3 (300,000 instances/s) | 2.02 | 3.00 | 3.00 | 3.00 | 3 | 0 |"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap_or_default();
        assert_eq!(json["run"]["temporal_instances"], 100_000);
        assert_eq!(json["scenarios"][0]["instances_per_sec"], 300_000.0);
        assert!(json["scenarios"][0].get("entities_per_sec").is_none());
    }
}
