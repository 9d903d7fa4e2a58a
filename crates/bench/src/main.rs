//! `rigel-bench`: a load generator for any NGSI-LD broker; runs named scenarios of standard
//! NGSI-LD requests and reports throughput, latency percentiles, errors and the broker's RSS and CPU.

mod client;
mod error;
mod inbox;
mod ingest;
mod ledger;
mod load;
mod notify;
mod procstat;
mod receiver;
mod report;
mod rng;
mod scenario;
mod seed;
mod stats;
mod template;
mod temporal;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::client::Target;
use crate::error::BenchError;
use crate::load::{Load, Probe, UNSUPPORTED};
use crate::procstat::Proc;
use crate::report::{Measured, Report, RunInfo, ScenarioReport, Verdict};
use crate::scenario::{Plan, Scenario, Seeding};
use crate::seed::SeedError;

/// Load generator for NGSI-LD brokers (standard NGSI-LD requests only).
#[derive(Debug, Parser)]
#[command(name = "rigel-bench", version, about)]
struct Cli {
    /// Base URL of the broker's NGSI-LD API (plain http).
    #[arg(long, default_value = "http://127.0.0.1:1026/ngsi-ld/v1")]
    url: String,

    /// Scenario to run: create, retrieve, update-partial, update-attrs, query-value,
    /// query-relationship, query-geo, query-order, batch-upsert, notify, temporal-lastn, temporal-range,
    /// temporal-aggregate, ingest (MQTT, see --mqtt-url), a comma-separated list of them, or
    /// `all` (every one but notify, the temporal ones and ingest).
    #[arg(long, default_value = "all")]
    scenario: String,

    /// Concurrent workers, each with its own keep-alive connection.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    connections: u16,

    /// Timed length of each scenario (e.g. 20s, 500ms, 2m).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,

    /// Entities seeded (untimed) for retrieve, updates and queries; with a temporal-* scenario
    /// also the number of temporal entities seeded.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    seed_count: u64,

    /// Entity types the seeded entities are spread over: 1 keeps `BenchVehicle`, N > 1 gives
    /// seeded entity i the type `BenchVehicle{i % N}`, and the queries ask for `BenchVehicle0`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    types: u64,

    /// Seeded entities per seeding request: POST /entityOperations/create with that many
    /// (one POST /entities each with 1, or when the broker does not offer batches).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    seed_batch: u64,

    /// Give up seeding after this long (default: 10 min + 2 ms per seeded entity; temporal
    /// seeding: 10 min + 50 µs per instance).
    #[arg(long, value_parser = parse_duration)]
    seed_timeout: Option<Duration>,

    /// temporal-*: instances of each of the 5 numeric attributes (speed, fuelLevel,
    /// temperature, mileage, rpm) of every temporal entity, observedAt one second apart from
    /// 2026-01-01T00:00:00Z (seeded untimed, POST /temporal/entities).
    #[arg(long, default_value_t = temporal::DEFAULT_INSTANCES,
        value_parser = clap::value_parser!(u64).range(1..=temporal::MAX_INSTANCES))]
    temporal_instances: u64,

    /// temporal-*: instances of each attribute per seeding request (5 × this many per POST).
    #[arg(long, default_value_t = temporal::DEFAULT_CHUNK,
        value_parser = clap::value_parser!(u64).range(1..=temporal::MAX_CHUNK))]
    temporal_chunk: u64,

    /// temporal-lastn and temporal-range: ask for `format=temporalValues` (default: the
    /// normalized temporal representation).
    #[arg(long)]
    temporal_values: bool,

    /// Broker process id: report its peak RSS, RssAnon and CPU from /proc.
    #[arg(long)]
    pid: Option<u32>,

    /// Tenant (NGSILD-Tenant header) for every request.
    #[arg(long)]
    tenant: Option<String>,

    /// ingest: the MQTT broker to publish to (the one the ingestion rule reads).
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    mqtt_url: String,

    /// ingest: the ingestion rule (on `rigelbench/+/parking/+`) whose counters account for
    /// the messages.
    #[arg(long, default_value = "bench")]
    ingest_rule: String,

    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,

    /// Entities per batch-upsert request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    batch_size: u64,

    /// Upper bound on the requests of one scenario, across all workers (e.g. 1000000 with
    /// `--scenario create` and a long --duration creates exactly that many entities).
    #[arg(long, default_value_t = 100_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_requests: u64,

    /// Give up on a request (a transport error) after this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,

    /// Send `Link: <core context>` with every request (default: no @context, which means
    /// the core context too).
    #[arg(long)]
    link_core_context: bool,

    /// Pause between scenarios, so one scenario's tail does not leak into the next.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pause: Duration,

    /// Print the throughput of every such interval to stderr while a scenario runs (e.g. 5s).
    #[arg(long, value_parser = parse_duration)]
    progress: Option<Duration>,

    /// Requests per second across all connections, evenly spaced (default: each connection
    /// sends its next request as soon as the answer arrived). Latency then counts from when
    /// a request was due.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,

    /// notify: subscriptions created on the updated entities' type.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    subscriptions: u64,

    /// notify: address the notification receiver listens on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    notify_listen: SocketAddr,

    /// notify: endpoint base the subscriptions name, when the broker must reach the receiver
    /// by another address (default: http:// and the address listened on).
    #[arg(long)]
    notify_url: Option<String>,

    /// Threads of the generator's runtime (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
}

/// Longest accepted --duration / --timeout / --pause.
const MAX_DURATION: Duration = Duration::from_secs(6 * 3600);

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} (use ms, s, m or h)")),
    };
    let d = Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())?;
    if d > MAX_DURATION {
        return Err(format!("at most {}h", MAX_DURATION.as_secs() / 3600));
    }
    Ok(d)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.trim().parse().map_err(|_| format!("not a rate: {s:?}"))?;
    if r.is_finite() && r > 0.0 && r <= 10_000_000.0 {
        Ok(r)
    } else {
        Err("expected requests per second above 0 and at most 10,000,000".into())
    }
}

fn parse_scenarios(s: &str) -> Result<Vec<Scenario>, BenchError> {
    if s == "all" {
        return Ok(Scenario::ALL.to_vec());
    }
    s.split(',')
        .map(|name| {
            Scenario::from_name(name.trim()).ok_or_else(|| BenchError::Argument {
                what: "--scenario",
                value: name.to_owned(),
                reason: format!(
                    "expected all or one of {}",
                    Scenario::EVERY.map(Scenario::name).join(", ")
                ),
            })
        })
        .collect()
}

fn run_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("r{millis:x}{:03x}", std::process::id() & 0xfff)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = cli.threads {
        builder.worker_threads(usize::from(t));
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rigel-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(report) => {
            if cli.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            let failed = report
                .scenarios
                .iter()
                .any(|s| matches!(s.verdict, Verdict::Failed { .. }));
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("rigel-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<Report, BenchError> {
    let scenarios = parse_scenarios(&cli.scenario)?;
    let target = Arc::new(
        Target::resolve(
            &cli.url,
            cli.tenant.as_deref(),
            cli.link_core_context,
            cli.timeout,
        )
        .await?,
    );
    let plan = Arc::new(
        Plan::new(run_id(), cli.seed_count, cli.batch_size)
            .with_types(cli.types)
            .with_seed_batch(cli.seed_batch)
            .with_subscriptions(cli.subscriptions)
            .with_temporal(cli.temporal_instances, cli.temporal_chunk)
            .with_temporal_values(cli.temporal_values)
            .with_ingestion(&cli.mqtt_url, &cli.ingest_rule),
    );
    let seed_limit = cli
        .seed_timeout
        .unwrap_or_else(|| seed::time_limit(cli.seed_count));
    let temporal_limit = cli
        .seed_timeout
        .unwrap_or_else(|| seed::temporal_time_limit(plan.temporal_total()));
    let with_temporal = scenarios.iter().any(|s| s.seeding() == Seeding::Temporal);
    let ticks = procstat::ticks_per_sec();
    let broker = cli.pid.map(Proc::Pid);
    if let Some(b) = broker {
        procstat::sample(b)?;
    }
    let load = Load {
        connections: usize::from(cli.connections),
        duration: cli.duration,
        max_requests: cli.max_requests,
        progress: cli.progress.filter(|p| !p.is_zero()),
        rate: cli.rate,
    };
    let notify_options = notify::Options {
        listen: cli.notify_listen,
        endpoint: cli.notify_url.clone(),
    };
    eprintln!("run {} against {} ({})", plan.run_id, cli.url, target.addr);

    let mut seeded: Option<Result<(), SeedError>> = None;
    let mut temporal_seeded: Option<Result<(), SeedError>> = None;
    let mut reports = Vec::with_capacity(scenarios.len());
    for (i, &scenario) in scenarios.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(cli.pause).await;
        }
        let request = scenario.describe(&plan);
        eprintln!("== {}: {request}", scenario.name());
        let seeding = match scenario.seeding() {
            Seeding::Nothing => None,
            Seeding::Entities => {
                if seeded.is_none() {
                    seeded = Some(seed_entities(&target, &plan, &load, seed_limit).await);
                }
                seeded.as_ref()
            }
            Seeding::Temporal => {
                if temporal_seeded.is_none() {
                    let result = seed_temporal(&target, &plan, &load, temporal_limit).await;
                    temporal_seeded = Some(result);
                }
                temporal_seeded.as_ref()
            }
        };
        let verdict = match seeding {
            Some(Err((status, msg))) if UNSUPPORTED.contains(status) => Verdict::Unsupported {
                status: *status,
                detail: format!("seeding: {msg}"),
            },
            Some(Err((status, msg))) => Verdict::Failed {
                reason: format!("seeding failed (status {status}): {msg}"),
            },
            _ if scenario == Scenario::Ingest => match rules_target(cli, &plan).await {
                Ok(rules) => ingest::measure(&rules, &plan, &load, broker, ticks).await,
                Err(e) => Verdict::Failed {
                    reason: e.to_string(),
                },
            },
            _ if scenario == Scenario::Notify => {
                notify::measure(&target, &plan, &load, &notify_options, broker, ticks).await
            }
            _ => measure(&target, &plan, scenario, &load, broker, ticks).await,
        };
        match &verdict {
            Verdict::Measured(m) => {
                let instances = m
                    .instances_per_sec
                    .map(|i| format!(" ({i:.0} instances/s)"))
                    .unwrap_or_default();
                eprintln!(
                    "   {:.0} req/s{instances}, p99 {:.2} ms, {} errors",
                    m.requests_per_sec, m.latency.p99_ms, m.errors
                );
                if let Some(n) = &m.notifications {
                    eprintln!(
                        "   {:.0} notifications/s ({:.0} entities/s), {} lost, delay p99 {:.2} ms",
                        n.notifications_per_sec,
                        n.entity_notifications_per_sec,
                        n.audit.lost,
                        n.delay.p99_ms
                    );
                }
            }
            Verdict::Unsupported { status, detail } => {
                eprintln!("   unsupported ({status}): {detail}")
            }
            Verdict::Failed { reason } => eprintln!("   failed: {reason}"),
        }
        reports.push(ScenarioReport {
            scenario: scenario.name(),
            request,
            verdict,
        });
    }
    Ok(Report {
        run: RunInfo {
            url: cli.url.clone(),
            run_id: plan.run_id.clone(),
            connections: load.connections,
            duration_s: load.duration.as_secs_f64(),
            seed_count: plan.seed_count,
            types: plan.types,
            seed_batch: plan.seed_batch,
            batch_size: plan.batch_size,
            pid: cli.pid,
            tenant: cli.tenant.clone(),
            link_core_context: cli.link_core_context,
            rate: cli.rate,
            temporal_instances: with_temporal.then_some(plan.temporal_instances),
            temporal_chunk: with_temporal.then_some(plan.temporal_chunk),
        },
        scenarios: reports,
    })
}

/// Seeds the template entities, saying how it went on stderr.
async fn seed_entities(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    load: &Load,
    limit: Duration,
) -> Result<(), SeedError> {
    eprintln!(
        "   seeding {} entities of {} type(s), {} per request ...",
        plan.seed_count, plan.types, plan.seed_batch
    );
    let result = seed::seed(target, plan, load.connections, limit, load.progress).await;
    match &result {
        Ok(s) => eprintln!(
            "   seeded in {:.1} s ({:.0}/s) with {}",
            s.took.as_secs_f64(),
            plan.seed_count as f64 / s.took.as_secs_f64().max(1e-9),
            s.via.line()
        ),
        Err((status, msg)) => eprintln!("   seeding failed ({status}): {msg}"),
    }
    result.map(|_| ())
}

/// Seeds the temporal entities and reads the last one back, saying how it went on stderr
/// (a read-back that does not match is a warning: the scenarios still run).
async fn seed_temporal(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    load: &Load,
    limit: Duration,
) -> Result<(), SeedError> {
    eprintln!(
        "   seeding {} temporal entities × {} attributes × {} instances ({} instances in {} requests of up to {} per attribute) ...",
        plan.seed_count,
        temporal::ATTRIBUTES.len(),
        plan.temporal_instances,
        plan.temporal_total(),
        plan.temporal_requests(),
        plan.temporal_chunk
    );
    let result = seed::seed_temporal(target, plan, load.connections, limit, load.progress).await;
    match &result {
        Ok(s) => {
            let secs = s.took.as_secs_f64().max(1e-9);
            eprintln!(
                "   seeded in {:.1} s ({:.0} {}/s, {:.0} requests/s) with {}",
                s.took.as_secs_f64(),
                s.via.total(plan) as f64 / secs,
                s.via.unit(),
                plan.temporal_requests() as f64 / secs,
                s.via.line()
            );
            match seed::check_temporal(target, plan).await {
                Ok(found) => eprintln!("   read back {found}"),
                Err(wrong) => eprintln!("   warning: read back {wrong}"),
            }
        }
        Err((status, msg)) => eprintln!("   seeding failed ({status}): {msg}"),
    }
    result.map(|_| ())
}

/// Probes the scenario, then runs it timed while sampling the broker and ourselves.
async fn measure(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    scenario: Scenario,
    load: &Load,
    broker: Option<Proc>,
    ticks: u64,
) -> Verdict {
    match load::probe(target, plan, scenario).await {
        Err(e) => {
            return Verdict::Failed {
                reason: e.to_string(),
            }
        }
        Ok(Probe::Unsupported { status, body }) => {
            return Verdict::Unsupported {
                status,
                detail: body,
            }
        }
        Ok(Probe::Supported { status, body }) if !(200..300).contains(&status) => {
            eprintln!("   warning: the probe got {status}: {body}");
        }
        Ok(Probe::Supported { .. }) => {}
    }
    let before = (
        broker.map(procstat::sample),
        procstat::sample(Proc::OwnProcess),
    );
    let (outcome, elapsed) = load::run(target, plan, scenario, load, None).await;
    let after = (
        broker.map(procstat::sample),
        procstat::sample(Proc::OwnProcess),
    );
    let broker_usage = match (before.0, after.0) {
        (Some(Ok(a)), Some(Ok(b))) => Some(procstat::usage(&a, &b, ticks)),
        (Some(Err(e)), _) | (_, Some(Err(e))) => {
            eprintln!("   warning: {e}");
            None
        }
        _ => None,
    };
    let own_usage = match (before.1, after.1) {
        (Ok(a), Ok(b)) => Some(procstat::usage(&a, &b, ticks)),
        _ => None,
    };
    let per_request = (scenario == Scenario::BatchUpsert).then_some(plan.batch_size);
    let mut measured = Measured::new(&outcome, elapsed, per_request, broker_usage, own_usage);
    measured.instances_per_sec = scenario
        .instances_per_request(plan)
        .map(|n| measured.requests_per_sec * n as f64);
    Verdict::Measured(Box::new(measured))
}

/// The ingestion rule's resource, beside the NGSI-LD API (`/ngsi-ld/ex/v1/...`).
async fn rules_target(cli: &Cli, plan: &Plan) -> Result<Arc<Target>, BenchError> {
    let origin = cli
        .url
        .find("/ngsi-ld/")
        .map_or(cli.url.trim_end_matches('/'), |i| &cli.url[..i]);
    let url = format!(
        "{origin}/ngsi-ld/ex/v1/ingestion/rules/{}",
        plan.ingest_rule
    );
    Ok(Arc::new(
        Target::resolve(&url, None, false, cli.timeout).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_common_units() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("100h").is_err());
    }

    #[test]
    fn types_and_seed_batch_default_to_one_type_in_batches_of_100() {
        let cli = Cli::try_parse_from(["rigel-bench"]);
        let got = cli.map(|c| (c.types, c.seed_batch, c.seed_timeout)).ok();
        assert_eq!(got, Some((1, 100, None)));
        let cli = Cli::try_parse_from([
            "rigel-bench",
            "--types",
            "10",
            "--seed-batch",
            "1",
            "--seed-timeout",
            "1h",
        ]);
        let got = cli.map(|c| (c.types, c.seed_batch, c.seed_timeout)).ok();
        assert_eq!(got, Some((10, 1, Some(Duration::from_secs(3600)))));
        assert!(Cli::try_parse_from(["rigel-bench", "--types", "0"]).is_err());
        assert!(Cli::try_parse_from(["rigel-bench", "--seed-batch", "1001"]).is_err());
    }

    #[test]
    fn scenario_lists_are_parsed() {
        assert_eq!(parse_scenarios("all").map(|v| v.len()).ok(), Some(9));
        assert_eq!(
            parse_scenarios("create, retrieve").ok(),
            Some(vec![Scenario::Create, Scenario::Retrieve])
        );
        assert!(parse_scenarios("create,bogus").is_err());
        assert_eq!(parse_scenarios("notify").ok(), Some(vec![Scenario::Notify]));
    }

    #[test]
    fn temporal_scenarios_run_by_name_only() {
        let all = parse_scenarios("all").unwrap_or_default();
        assert!(all.iter().all(|s| s.seeding() != Seeding::Temporal));
        assert_eq!(
            parse_scenarios("temporal-lastn,temporal-range,temporal-aggregate").ok(),
            Some(Scenario::TEMPORAL.to_vec())
        );
        let refused = parse_scenarios("temporal").err().map(|e| e.to_string());
        let refused = refused.unwrap_or_default();
        assert!(
            refused.contains("temporal-lastn, temporal-range, temporal-aggregate"),
            "{refused}"
        );
    }

    #[test]
    fn temporal_options_default_to_100_instances_in_chunks_of_1000() {
        let cli = Cli::try_parse_from(["rigel-bench", "--scenario", "temporal-lastn"]);
        let got = cli
            .map(|c| (c.temporal_instances, c.temporal_chunk, c.temporal_values))
            .ok();
        assert_eq!(got, Some((100, 1_000, false)));
        let cli = Cli::try_parse_from([
            "rigel-bench",
            "--temporal-instances",
            "100000",
            "--temporal-chunk",
            "3000",
            "--temporal-values",
        ]);
        let got = cli
            .map(|c| (c.temporal_instances, c.temporal_chunk, c.temporal_values))
            .ok();
        assert_eq!(got, Some((100_000, 3_000, true)));
        for bad in [
            ["--temporal-instances", "0"],
            ["--temporal-chunk", "0"],
            ["--temporal-chunk", "3001"],
        ] {
            let args = ["rigel-bench", bad[0], bad[1]];
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_help_lists_the_temporal_scenarios_and_options() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for word in [
            "temporal-lastn",
            "temporal-range",
            "temporal-aggregate",
            "--temporal-instances",
            "--temporal-chunk",
            "--temporal-values",
        ] {
            assert!(help.contains(word), "{word} missing from --help");
        }
    }

    #[test]
    fn rates_are_positive_requests_per_second() {
        assert_eq!(parse_rate("1000"), Ok(1000.0));
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        for bad in ["0", "-1", "x", "inf", "NaN"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from(["rigel-bench", "--scenario", "notify"]);
        let got = cli
            .map(|c| (c.rate, c.subscriptions, c.notify_listen.port()))
            .ok();
        assert_eq!(got, Some((None, 10, 0)));
    }
}
