//! Results: one row per scenario, as a text (Markdown) table or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use crate::procstat::Usage;
use crate::stats::Outcome;

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
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
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
        let ms = |us: u64| us as f64 / 1000.0;
        let h = &outcome.latency;
        let rate = outcome.ok as f64 / secs;
        Self {
            elapsed_s: elapsed.as_secs_f64(),
            responses: h.count(),
            ok: outcome.ok,
            requests_per_sec: rate,
            entities_per_sec: entities_per_request.map(|n| rate * n as f64),
            latency: Latency {
                p50_ms: ms(h.percentile(50.0)),
                p95_ms: ms(h.percentile(95.0)),
                p99_ms: ms(h.percentile(99.0)),
                max_ms: ms(h.max()),
                mean_ms: h.mean() / 1000.0,
            },
            errors_by_status: outcome.errors.by_status.clone(),
            transport_errors: outcome.errors.transport,
            errors: outcome.errors.total(),
            first_transport_error: outcome.errors.first_transport.clone(),
            broker,
            generator,
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
            "rigel-bench run {} against {}: {} connections, {:.0} s per scenario, {} seeded entities{}{}{}",
            r.run_id,
            r.url,
            r.connections,
            r.duration_s,
            r.seed_count,
            if r.types > 1 { format!(" of {} types", r.types) } else { String::new() },
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
                    let rate = match m.entities_per_sec {
                        Some(e) => format!(
                            "{} ({} entities/s)",
                            thousands(m.requests_per_sec),
                            thousands(e)
                        ),
                        None => thousands(m.requests_per_sec),
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
            }
        }
        out
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
}
