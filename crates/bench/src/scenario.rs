//! The named scenarios and the standard NGSI-LD request each one sends.

use std::borrow::Cow;

use bytes::Bytes;
use hyper::Method;

use crate::client::Request;
use crate::rng::Rng;
use crate::template::{self, ENTITY_TYPE, MILEAGE_MAX};
use crate::temporal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Create,
    Retrieve,
    UpdatePartial,
    UpdateAttrs,
    QueryValue,
    QueryRelationship,
    QueryGeo,
    QueryOrder,
    BatchUpsert,
    /// Partial updates of entities that subscriptions watch; the notifications are received,
    /// counted and timed (see `notify`).
    Notify,
    /// The last 100 instances of every attribute of a temporal entity.
    TemporalLastN,
    /// One attribute of a temporal entity over a 10-minute window.
    TemporalRange,
    /// avg, min, max and sum per hour over one attribute's whole seeded history.
    TemporalAggregate,
    /// Sensor messages published over MQTT to a broker a Rigel ingestion rule reads; the
    /// rule's counters tell when each is accounted for (see `ingest`).
    Ingest,
}

/// What a scenario needs created before it is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeding {
    Nothing,
    /// The `--seed-count` template entities.
    Entities,
    /// The `--seed-count` temporal entities, with `--temporal-instances` instances of each
    /// of their attributes.
    Temporal,
}

impl Scenario {
    /// The request scenarios, in the order `all` runs them (not `notify`: it creates
    /// subscriptions and needs the broker to reach back to the generator).
    pub const ALL: [Scenario; 9] = [
        Scenario::Create,
        Scenario::Retrieve,
        Scenario::UpdatePartial,
        Scenario::UpdateAttrs,
        Scenario::QueryValue,
        Scenario::QueryRelationship,
        Scenario::QueryGeo,
        Scenario::QueryOrder,
        Scenario::BatchUpsert,
    ];

    /// The temporal API scenarios, run by name only (not part of `all`: they seed a history
    /// of their own, which can be large).
    pub const TEMPORAL: [Scenario; 3] = [
        Scenario::TemporalLastN,
        Scenario::TemporalRange,
        Scenario::TemporalAggregate,
    ];

    /// Every scenario: those of `all`, then `notify`, then the temporal ones, then `ingest`.
    pub const EVERY: [Scenario; 14] = {
        let mut every = [Scenario::Notify; 14];
        let mut i = 0;
        while i < Scenario::ALL.len() {
            every[i] = Scenario::ALL[i];
            i += 1;
        }
        let mut k = 0;
        while k < Scenario::TEMPORAL.len() {
            every[Scenario::ALL.len() + 1 + k] = Scenario::TEMPORAL[k];
            k += 1;
        }
        every[13] = Scenario::Ingest;
        every
    };

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Retrieve => "retrieve",
            Scenario::UpdatePartial => "update-partial",
            Scenario::UpdateAttrs => "update-attrs",
            Scenario::QueryValue => "query-value",
            Scenario::QueryRelationship => "query-relationship",
            Scenario::QueryGeo => "query-geo",
            Scenario::QueryOrder => "query-order",
            Scenario::BatchUpsert => "batch-upsert",
            Scenario::Notify => "notify",
            Scenario::TemporalLastN => "temporal-lastn",
            Scenario::TemporalRange => "temporal-range",
            Scenario::TemporalAggregate => "temporal-aggregate",
            Scenario::Ingest => "ingest",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|s| s.name() == name)
    }

    /// What the scenario works on: nothing seeded, the seeded entities or the temporal ones.
    pub fn seeding(self) -> Seeding {
        match self {
            Scenario::Create | Scenario::BatchUpsert | Scenario::Ingest => Seeding::Nothing,
            Scenario::TemporalLastN | Scenario::TemporalRange | Scenario::TemporalAggregate => {
                Seeding::Temporal
            }
            _ => Seeding::Entities,
        }
    }

    /// Temporal instances one request of the scenario reads (returns or aggregates), when the
    /// broker holds what was seeded; `None` for the other scenarios.
    pub fn instances_per_request(self, plan: &Plan) -> Option<u64> {
        let m = plan.temporal_instances;
        match self {
            Scenario::TemporalLastN => {
                Some(temporal::LAST_N.min(m) * temporal::ATTRIBUTES.len() as u64)
            }
            Scenario::TemporalRange => Some(temporal::WINDOW_SECS.min(m)),
            Scenario::TemporalAggregate => Some(m),
            _ => None,
        }
    }

    /// The request line, for reports: queries name the type they ask for and, when the seeded
    /// entities are spread over several types, how many there are.
    pub fn describe(self, plan: &Plan) -> String {
        let ty = plan.query_type();
        let of = if plan.types > 1 {
            format!(" (1 of {} types)", plan.types)
        } else {
            String::new()
        };
        let batch_size = plan.batch_size;
        match self {
            Scenario::Create => "POST /entities".into(),
            Scenario::Retrieve => "GET /entities/{id}".into(),
            Scenario::UpdatePartial => "PATCH /entities/{id}/attrs/mileage".into(),
            Scenario::UpdateAttrs => "PATCH /entities/{id}/attrs".into(),
            Scenario::QueryValue => {
                format!("GET /entities?type={ty}&q=mileage>X;status==\"ok\"&limit=20{of}")
            }
            Scenario::QueryRelationship => {
                format!("GET /entities?type={ty}&q=owner==\"urn:ngsi-ld:Owner:N\"&limit=20{of}")
            }
            Scenario::QueryGeo => format!(
                "GET /entities?type={ty}&georel=near;maxDistance==1000&geometry=Point&coordinates=[lon,lat]&limit=20{of}"
            ),
            Scenario::QueryOrder => {
                format!("GET /entities?type={ty}&orderBy=mileage&limit=20{of}")
            }
            Scenario::BatchUpsert => {
                format!("POST /entityOperations/upsert ({batch_size} entities)")
            }
            Scenario::Ingest => format!(
                "MQTT QoS 1 publishes of sensor messages to {}, accounted by ingestion rule {:?}",
                plan.mqtt_url, plan.ingest_rule
            ),
            Scenario::Notify => format!(
                "PATCH /entities/{{id}}/attrs/mileage, {} subscription(s) on type {ty}, {} entities",
                plan.subscriptions,
                plan.notified_count()
            ),
            Scenario::TemporalLastN => format!(
                "GET {} ({} entities, {} instances per attribute)",
                temporal::last_n_path("{id}", plan.temporal_values),
                plan.seed_count,
                plan.temporal_instances
            ),
            Scenario::TemporalRange => format!(
                concat!(
                    "GET /temporal/entities/{{id}}?timerel=between&timeAt=T&endTimeAt=T+10min",
                    "&attrs=A{} ({} of {} instances per attribute, {} entities)"
                ),
                if plan.temporal_values {
                    "&format=temporalValues"
                } else {
                    ""
                },
                temporal::WINDOW_SECS.min(plan.temporal_instances),
                plan.temporal_instances,
                plan.seed_count
            ),
            Scenario::TemporalAggregate => format!(
                "GET {} (all {} instances, {} entities)",
                temporal::aggregate_path("{id}", "A", plan.temporal_instances),
                plan.temporal_instances,
                plan.seed_count
            ),
        }
    }
}

/// What every request of one invocation shares.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Unique per invocation, part of every id, so repeated runs against one broker never collide.
    pub run_id: String,
    pub seed_count: u64,
    /// Owners `urn:ngsi-ld:Owner:0..owners` that relationships point to.
    pub owners: u64,
    pub batch_size: u64,
    /// Entity types the seeded entities are spread over (queries ask for the first one).
    pub types: u64,
    /// Seeded entities per seeding request (1: one POST /entities each).
    pub seed_batch: u64,
    /// Subscriptions the notify scenario creates.
    pub subscriptions: u64,
    /// The notify scenario's update `seq` writes the value `value_base + seq`: above every
    /// seeded value (so each update is a change) and different for every run id (so values
    /// of concurrent runs on one broker do not collide).
    pub value_base: u64,
    /// Instances of each attribute of every temporal entity (one per second).
    pub temporal_instances: u64,
    /// Instances of each attribute per temporal seeding request.
    pub temporal_chunk: u64,
    /// Whether the temporal lastN and range scenarios ask for `format=temporalValues`.
    pub temporal_values: bool,
    /// The MQTT broker the ingest scenario publishes to.
    pub mqtt_url: String,
    /// The ingestion rule whose counters the ingest scenario reads.
    pub ingest_rule: String,
}

impl Plan {
    pub fn new(run_id: String, seed_count: u64, batch_size: u64) -> Self {
        Self {
            seed_count,
            owners: (seed_count / 10).max(1),
            batch_size: batch_size.max(1),
            types: 1,
            seed_batch: 1,
            subscriptions: 1,
            value_base: value_base(&run_id),
            temporal_instances: temporal::DEFAULT_INSTANCES,
            temporal_chunk: temporal::DEFAULT_CHUNK,
            temporal_values: false,
            mqtt_url: "mqtt://127.0.0.1:1883".into(),
            ingest_rule: "bench".into(),
            run_id,
        }
    }

    /// Seeds `instances` instances of each attribute of every temporal entity, `chunk` of
    /// them per request.
    pub fn with_temporal(self, instances: u64, chunk: u64) -> Self {
        Self {
            temporal_instances: instances.max(1),
            temporal_chunk: chunk.max(1),
            ..self
        }
    }

    /// The MQTT broker and ingestion rule of the `ingest` scenario.
    pub fn with_ingestion(self, mqtt_url: &str, rule: &str) -> Self {
        Self {
            mqtt_url: mqtt_url.to_owned(),
            ingest_rule: rule.to_owned(),
            ..self
        }
    }

    /// Has the temporal lastN and range scenarios ask for `format=temporalValues`.
    pub fn with_temporal_values(self, temporal_values: bool) -> Self {
        Self {
            temporal_values,
            ..self
        }
    }

    /// Spreads the seeded entities over `types` entity types.
    pub fn with_types(self, types: u64) -> Self {
        Self {
            types: types.max(1),
            ..self
        }
    }

    /// Seeds `seed_batch` entities per request (Batch Entity Creation when more than one).
    pub fn with_seed_batch(self, seed_batch: u64) -> Self {
        Self {
            seed_batch: seed_batch.max(1),
            ..self
        }
    }

    /// Has the notify scenario create `subscriptions` subscriptions.
    pub fn with_subscriptions(self, subscriptions: u64) -> Self {
        Self {
            subscriptions: subscriptions.max(1),
            ..self
        }
    }

    /// How many seeded entities have the queried type (every `types`-th one).
    pub fn notified_count(&self) -> u64 {
        self.seed_count.div_ceil(self.types).max(1)
    }

    /// The entity the notify scenario's update `seq` changes: the seeded entities of the
    /// queried type in turn, so each is updated equally often.
    pub fn notified_id(&self, seq: u64) -> String {
        self.seeded_id(seq % self.notified_count() * self.types)
    }

    /// The id of the notify scenario's subscription `k`.
    pub fn subscription_id(&self, k: u64) -> String {
        format!("urn:ngsi-ld:Subscription:{}-n{k}", self.run_id)
    }

    /// Creates subscription `k` on the queried type, notifying `{endpoint}/notify/{k}`.
    pub fn subscription_request(&self, k: u64, endpoint: &str) -> Request {
        let body = format!(
            concat!(
                r#"{{"id":"{id}","type":"Subscription","entities":[{{"type":"{ty}"}}],"#,
                r#""notification":{{"endpoint":{{"uri":"{endpoint}{path}{k}","accept":"application/json"}},"#,
                r#""format":"normalized"}}}}"#
            ),
            id = self.subscription_id(k),
            ty = self.query_type(),
            endpoint = endpoint.trim_end_matches('/'),
            path = crate::inbox::NOTIFY_PATH,
            k = k,
        );
        post("/subscriptions", body)
    }

    /// The id of seeded entity `i`.
    pub fn seeded_id(&self, i: u64) -> String {
        template::entity_id(&self.run_id, "s", i)
    }

    /// The type of seeded entity `i`.
    pub fn seeded_type(&self, i: u64) -> Cow<'static, str> {
        template::entity_type(i, self.types)
    }

    /// The type the query scenarios ask for: the only one, or the first of several.
    pub fn query_type(&self) -> Cow<'static, str> {
        template::entity_type(0, self.types)
    }

    /// The request that creates seeded entity `i` alone (POST /entities).
    pub fn seed_request(&self, i: u64, rng: &mut Rng) -> Request {
        let body = template::vehicle((&self.seeded_id(i), &self.seeded_type(i)), rng, self.owners);
        post("/entities", body)
    }

    /// The Batch Entity Creation of the seeded entities `start..start + seed_batch` (fewer at
    /// the end of the seed count), and how many entities it carries.
    pub fn seed_batch_request(&self, start: u64, rng: &mut Rng) -> (Request, u64) {
        let end = start.saturating_add(self.seed_batch).min(self.seed_count);
        let entities: Vec<(String, Cow<'static, str>)> = (start..end)
            .map(|i| (self.seeded_id(i), self.seeded_type(i)))
            .collect();
        let pairs = entities.iter().map(|(id, ty)| (id.as_str(), ty.as_ref()));
        let body = template::vehicles(pairs, rng, self.owners);
        (
            post("/entityOperations/create", body),
            end.saturating_sub(start),
        )
    }

    /// The id of temporal entity `i`.
    pub fn temporal_id(&self, i: u64) -> String {
        template::entity_id(&self.run_id, "t", i)
    }

    /// Seeding requests per temporal entity.
    pub fn temporal_chunks(&self) -> u64 {
        self.temporal_instances.div_ceil(self.temporal_chunk.max(1))
    }

    /// Seeding requests of all temporal entities.
    pub fn temporal_requests(&self) -> u64 {
        self.seed_count.saturating_mul(self.temporal_chunks())
    }

    /// Instances of all temporal entities, over all attributes.
    pub fn temporal_total(&self) -> u64 {
        self.seed_count
            .saturating_mul(self.temporal_instances)
            .saturating_mul(temporal::ATTRIBUTES.len() as u64)
    }

    /// Temporal seeding request `n` (`0..temporal_requests()`): for entity `n % seed_count`
    /// its chunk `n / seed_count`, so the first requests create every entity and concurrent
    /// requests mostly go to different entities; returns it with the instances it carries.
    pub fn temporal_seed_request(&self, n: u64, rng: &mut Rng) -> (Request, u64) {
        let entities = self.seed_count.max(1);
        let (entity, chunk) = (n % entities, n / entities);
        let from = chunk.saturating_mul(self.temporal_chunk);
        let to = from
            .saturating_add(self.temporal_chunk)
            .min(self.temporal_instances);
        let id = self.temporal_id(entity);
        let body = temporal::body((&id, ENTITY_TYPE), from, to, rng);
        let instances = to.saturating_sub(from) * temporal::ATTRIBUTES.len() as u64;
        (post("/temporal/entities", body), instances)
    }

    /// The `seq`-th request of `scenario` sent by `worker` (`None`: the probe).
    pub fn request(
        &self,
        scenario: Scenario,
        rng: &mut Rng,
        worker: Option<usize>,
        seq: u64,
    ) -> Request {
        let who = match worker {
            Some(w) => format!("w{w}-"),
            None => "p-".to_owned(),
        };
        let seeded = |rng: &mut Rng| self.seeded_id(rng.below(self.seed_count));
        match scenario {
            Scenario::Create => {
                let id = template::entity_id(&self.run_id, &format!("c{who}"), seq);
                post(
                    "/entities",
                    template::vehicle((&id, ENTITY_TYPE), rng, self.owners),
                )
            }
            Scenario::Retrieve => get(format!("/entities/{}", seeded(rng))),
            Scenario::UpdatePartial => {
                let path = format!("/entities/{}/attrs/mileage", seeded(rng));
                patch(path, template::mileage_fragment(rng))
            }
            Scenario::UpdateAttrs => {
                let path = format!("/entities/{}/attrs", seeded(rng));
                patch(path, template::update_attrs_fragment(rng))
            }
            Scenario::QueryValue => {
                let q = format!("mileage>{};status==\"ok\"", rng.below(MILEAGE_MAX));
                get(query_path(&self.query_type(), &q))
            }
            Scenario::QueryRelationship => {
                let q = format!("owner==\"{}\"", template::owner_id(rng.below(self.owners)));
                get(query_path(&self.query_type(), &q))
            }
            Scenario::QueryGeo => {
                let (lon, lat) = template::random_position(rng);
                get(format!(
                    "/entities?type={}&georel={}&geometry=Point&coordinates={}&limit=20",
                    self.query_type(),
                    percent_encode("near;maxDistance==1000"),
                    percent_encode(&format!("[{lon:.5},{lat:.5}]"))
                ))
            }
            Scenario::QueryOrder => get(format!(
                "/entities?type={}&orderBy=mileage&limit=20",
                self.query_type()
            )),
            Scenario::Notify => {
                let path = format!("/entities/{}/attrs/mileage", self.notified_id(seq));
                patch(
                    path,
                    template::mileage_value_fragment(self.value_base + seq),
                )
            }
            Scenario::BatchUpsert => {
                let tag = format!("b{who}{seq}-");
                let ids: Vec<String> = (0..self.batch_size)
                    .map(|k| template::entity_id(&self.run_id, &tag, k))
                    .collect();
                let entities = ids.iter().map(|id| (id.as_str(), ENTITY_TYPE));
                let body = template::vehicles(entities, rng, self.owners);
                post("/entityOperations/upsert", body)
            }
            Scenario::TemporalLastN => {
                let id = self.temporal_id(rng.below(self.seed_count));
                get(temporal::last_n_path(&id, self.temporal_values))
            }
            Scenario::TemporalRange => {
                let id = self.temporal_id(rng.below(self.seed_count));
                let attr = random_attribute(rng);
                let from = temporal::window_start(self.temporal_instances, rng);
                get(temporal::range_path(&id, attr, from, self.temporal_values))
            }
            Scenario::TemporalAggregate => {
                let id = self.temporal_id(rng.below(self.seed_count));
                let attr = random_attribute(rng);
                get(temporal::aggregate_path(&id, attr, self.temporal_instances))
            }
            // Publishes over MQTT and is measured by `ingest::measure`, never through here.
            Scenario::Ingest => get(String::new()),
        }
    }
}

/// Values from 10^9 on (far above the seeded mileages), in steps of 10^9 chosen by the run id.
fn value_base(run_id: &str) -> u64 {
    // FNV-1a: stable across builds, unlike the standard library's hasher.
    let hash = run_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (1 + hash % 8_000) * 1_000_000_000
}

/// One of the temporal entities' attributes, at random.
fn random_attribute(rng: &mut Rng) -> &'static str {
    let i = rng.below(temporal::ATTRIBUTES.len() as u64) as usize;
    temporal::ATTRIBUTES.get(i).copied().unwrap_or("speed")
}

fn query_path(ty: &str, q: &str) -> String {
    format!("/entities?type={ty}&q={}&limit=20", percent_encode(q))
}

pub fn get(path: String) -> Request {
    Request {
        method: Method::GET,
        path,
        body: None,
    }
}

pub fn post(path: &str, body: String) -> Request {
    Request {
        method: Method::POST,
        path: path.to_owned(),
        body: Some(Bytes::from(body)),
    }
}

pub fn delete(path: String) -> Request {
    Request {
        method: Method::DELETE,
        path,
        body: None,
    }
}

fn patch(path: String, body: String) -> Request {
    Request {
        method: Method::PATCH,
        path,
        body: Some(Bytes::from(body)),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[path = "scenario_tests.rs"]
mod tests;
