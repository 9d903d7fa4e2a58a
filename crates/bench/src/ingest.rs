//! The ingest scenario: MQTT publishers send parking-sensor messages, at QoS 1, to the broker
//! a Rigel ingestion rule reads (`--mqtt-url`, topics `rigelbench/<run>/parking/lot<N>`, so
//! a rule on `rigelbench/+/parking/+` takes them), and the rule's counters
//! (`/ngsi-ld/ex/v1/ingestion/rules/<rule>`) tell when every message is accounted for,
//! applied or rejected. The rate is messages accounted for per second, from the first
//! publish to the moment the last one was accounted for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Connection, Target};
use crate::load::Load;
use crate::procstat::{self, Proc};
use crate::report::{Measured, Verdict};
use crate::scenario::{get, Plan};
use crate::stats::Histogram;

/// Publishing connections at most.
const PUBLISHERS: usize = 8;
/// How long the counters may stand still before the wait gives up.
const STALL: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

/// A rule's counters.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    applied: u64,
    rejected: u64,
}

impl Counters {
    fn accounted(self) -> u64 {
        self.applied + self.rejected
    }
}

async fn counters(conn: &mut Connection) -> Result<Counters, String> {
    let response = conn.send(get(String::new())).await?;
    if response.status != 200 {
        return Err(format!(
            "the ingestion rule answered {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        ));
    }
    let rule: Value = serde_json::from_slice(&response.body).map_err(|e| e.to_string())?;
    let n = |k: &str| rule["counters"][k].as_u64().unwrap_or(0);
    Ok(Counters {
        applied: n("applied"),
        rejected: n("rejected"),
    })
}

/// `mqtt://host[:port]` to host and port.
fn broker_address(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("mqtt://")
        .ok_or("--mqtt-url must be mqtt://host[:port]")?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) => Ok((
            host.to_owned(),
            port.parse().map_err(|_| format!("bad port in {url}"))?,
        )),
        None => Ok((rest.to_owned(), 1883)),
    }
}

pub async fn measure(
    rules: &Arc<Target>,
    plan: &Arc<Plan>,
    load: &Load,
    broker: Option<Proc>,
    ticks: u64,
) -> Verdict {
    match run(rules, plan, load, broker, ticks).await {
        Ok(verdict) => verdict,
        Err(reason) => Verdict::Failed { reason },
    }
}

async fn run(
    rules: &Arc<Target>,
    plan: &Arc<Plan>,
    load: &Load,
    broker: Option<Proc>,
    ticks: u64,
) -> Result<Verdict, String> {
    let mut conn = Connection::open(Arc::clone(rules)).await?;
    let base = counters(&mut conn).await?;
    let (host, port) = broker_address(&plan.mqtt_url)?;
    let publishers = load.connections.clamp(1, PUBLISHERS);
    let published = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let before = broker.map(procstat::sample);
    let started = Instant::now();
    let deadline = started + load.duration;
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let mut options =
            rumqttc::MqttOptions::new(format!("rigelbench{}p{p}", plan.run_id), &host, port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_inflight(1000)
            .set_clean_session(true);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 1000);
        let acks = Arc::clone(&acked);
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        let (published, plan) = (Arc::clone(&published), Arc::clone(plan));
        let (max, rate) = (load.max_requests, load.rate);
        tasks.push(tokio::spawn(async move {
            let topic = format!("rigelbench/{}/parking/lot{p}", plan.run_id);
            loop {
                let n = published.fetch_add(1, Ordering::Relaxed);
                if n >= max || Instant::now() >= deadline {
                    published.fetch_sub(1, Ordering::Relaxed);
                    break;
                }
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64(n as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let payload = serde_json::json!({
                    "sensor_id": format!("s{}", n % plan.seed_count.max(1)),
                    "status": if n % 2 == 0 { "occupied" } else { "vacant" },
                    "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "seq": n,
                });
                if client
                    .publish(&topic, rumqttc::QoS::AtLeastOnce, false, payload.to_string())
                    .await
                    .is_err()
                {
                    published.fetch_sub(1, Ordering::Relaxed);
                    break;
                }
            }
            client
        }));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.map_err(|e| e.to_string())?);
    }
    let sent = published.load(Ordering::Relaxed);
    let publishing = started.elapsed();
    // Every publish accepted by the MQTT broker, then every one accounted for.
    let mut last = (base.accounted(), Instant::now());
    let (accounted, done) = loop {
        let now = counters(&mut conn).await?;
        let accounted = now.accounted() - base.accounted();
        if accounted >= sent && acked.load(Ordering::Relaxed) >= sent {
            break (now, Instant::now());
        }
        if now.accounted() > last.0 {
            last = (now.accounted(), Instant::now());
        } else if last.1.elapsed() > STALL {
            break (now, last.1);
        }
        tokio::time::sleep(POLL).await;
    };
    for client in clients {
        let _ = client.disconnect().await;
    }
    let after = broker.map(procstat::sample);
    let elapsed = done - started;
    let applied = accounted.applied - base.applied;
    let rejected = accounted.rejected - base.rejected;
    let missing = sent.saturating_sub(applied + rejected);
    eprintln!(
        "   {sent} published in {:.1} s ({:.0}/s), {applied} applied, {rejected} rejected, {missing} not accounted for",
        publishing.as_secs_f64(),
        sent as f64 / publishing.as_secs_f64().max(1e-9)
    );
    let broker_usage = match (before, after) {
        (Some(Ok(a)), Some(Ok(b))) => Some(procstat::usage(&a, &b, ticks)),
        _ => None,
    };
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut errors_by_status = std::collections::BTreeMap::new();
    if rejected > 0 {
        errors_by_status.insert(422, rejected);
    }
    Ok(Verdict::Measured(Box::new(Measured {
        elapsed_s: secs,
        responses: applied + rejected,
        ok: applied,
        requests_per_sec: applied as f64 / secs,
        entities_per_sec: None,
        instances_per_sec: None,
        latency: crate::report::Latency::of(&Histogram::new()),
        errors_by_status,
        transport_errors: missing,
        errors: rejected + missing,
        first_transport_error: (missing > 0)
            .then(|| format!("{missing} published messages were never accounted for")),
        broker: broker_usage,
        generator: None,
        notifications: None,
    })))
}
