//! The named scenarios and the standard NGSI-LD request each one sends.

use bytes::Bytes;
use hyper::Method;

use crate::client::Request;
use crate::rng::Rng;
use crate::template::{self, ENTITY_TYPE, MILEAGE_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Create,
    Retrieve,
    UpdatePartial,
    UpdateAttrs,
    QueryValue,
    QueryRelationship,
    BatchUpsert,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 7] = [
        Scenario::Create,
        Scenario::Retrieve,
        Scenario::UpdatePartial,
        Scenario::UpdateAttrs,
        Scenario::QueryValue,
        Scenario::QueryRelationship,
        Scenario::BatchUpsert,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Retrieve => "retrieve",
            Scenario::UpdatePartial => "update-partial",
            Scenario::UpdateAttrs => "update-attrs",
            Scenario::QueryValue => "query-value",
            Scenario::QueryRelationship => "query-relationship",
            Scenario::BatchUpsert => "batch-upsert",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the scenario works on the seeded entities.
    pub fn needs_seed(self) -> bool {
        !matches!(self, Scenario::Create | Scenario::BatchUpsert)
    }

    /// The request line, for reports.
    pub fn describe(self, batch_size: u64) -> String {
        match self {
            Scenario::Create => "POST /entities".into(),
            Scenario::Retrieve => "GET /entities/{id}".into(),
            Scenario::UpdatePartial => "PATCH /entities/{id}/attrs/mileage".into(),
            Scenario::UpdateAttrs => "PATCH /entities/{id}/attrs".into(),
            Scenario::QueryValue => {
                format!("GET /entities?type={ENTITY_TYPE}&q=mileage>X;status==\"ok\"&limit=20")
            }
            Scenario::QueryRelationship => format!(
                "GET /entities?type={ENTITY_TYPE}&q=owner==\"urn:ngsi-ld:Owner:N\"&limit=20"
            ),
            Scenario::BatchUpsert => {
                format!("POST /entityOperations/upsert ({batch_size} entities)")
            }
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
}

impl Plan {
    pub fn new(run_id: String, seed_count: u64, batch_size: u64) -> Self {
        Self {
            run_id,
            seed_count,
            owners: (seed_count / 10).max(1),
            batch_size: batch_size.max(1),
        }
    }

    /// The id of seeded entity `i`.
    pub fn seeded_id(&self, i: u64) -> String {
        template::entity_id(&self.run_id, "s", i)
    }

    /// The request that creates seeded entity `i`.
    pub fn seed_request(&self, i: u64, rng: &mut Rng) -> Request {
        let body = template::vehicle(&self.seeded_id(i), rng, self.owners);
        post("/entities", body)
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
                post("/entities", template::vehicle(&id, rng, self.owners))
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
                get(query_path(&q))
            }
            Scenario::QueryRelationship => {
                let q = format!("owner==\"{}\"", template::owner_id(rng.below(self.owners)));
                get(query_path(&q))
            }
            Scenario::BatchUpsert => {
                let tag = format!("b{who}{seq}-");
                let ids: Vec<String> = (0..self.batch_size)
                    .map(|k| template::entity_id(&self.run_id, &tag, k))
                    .collect();
                let body = template::vehicles(ids.iter().map(String::as_str), rng, self.owners);
                post("/entityOperations/upsert", body)
            }
        }
    }
}

fn query_path(q: &str) -> String {
    format!(
        "/entities?type={ENTITY_TYPE}&q={}&limit=20",
        percent_encode(q)
    )
}

fn get(path: String) -> Request {
    Request {
        method: Method::GET,
        path,
        body: None,
    }
}

fn post(path: &str, body: String) -> Request {
    Request {
        method: Method::POST,
        path: path.to_owned(),
        body: Some(Bytes::from(body)),
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
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::new("rtest".into(), 1_000, 100)
    }

    #[test]
    fn scenario_names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_name(s.name()), Some(s));
        }
        assert_eq!(Scenario::from_name("nope"), None);
    }

    #[test]
    fn query_parameters_are_percent_encoded() {
        assert_eq!(
            percent_encode("owner==\"urn:ngsi-ld:Owner:3\""),
            "owner%3D%3D%22urn%3Angsi-ld%3AOwner%3A3%22"
        );
        assert_eq!(percent_encode("mileage>10;status"), "mileage%3E10%3Bstatus");
    }

    #[test]
    fn requests_target_the_standard_resources() {
        let p = plan();
        let mut rng = Rng::new(1);
        let r = p.request(Scenario::Create, &mut rng, Some(3), 7);
        assert_eq!(
            (r.method.clone(), r.path.as_str()),
            (Method::POST, "/entities")
        );
        let body = String::from_utf8_lossy(r.body.as_deref().unwrap_or_default()).into_owned();
        assert!(
            body.contains("\"id\":\"urn:ngsi-ld:BenchVehicle:rtest-cw3-7\""),
            "{body}"
        );

        let r = p.request(Scenario::Retrieve, &mut rng, Some(0), 0);
        assert_eq!(r.method, Method::GET);
        assert!(
            r.path
                .starts_with("/entities/urn:ngsi-ld:BenchVehicle:rtest-s"),
            "{}",
            r.path
        );

        let r = p.request(Scenario::UpdatePartial, &mut rng, Some(0), 0);
        assert_eq!(r.method, Method::PATCH);
        assert!(r.path.ends_with("/attrs/mileage"));

        let r = p.request(Scenario::QueryValue, &mut rng, Some(0), 0);
        assert!(
            r.path
                .starts_with("/entities?type=BenchVehicle&q=mileage%3E"),
            "{}",
            r.path
        );
        assert!(
            r.path.ends_with("%3Bstatus%3D%3D%22ok%22&limit=20"),
            "{}",
            r.path
        );

        let r = p.request(Scenario::BatchUpsert, &mut rng, None, 0);
        assert_eq!(r.path, "/entityOperations/upsert");
        let body: serde_json::Value =
            serde_json::from_slice(r.body.as_deref().unwrap_or_default()).unwrap_or_default();
        assert_eq!(body.as_array().map(Vec::len), Some(100));
    }

    #[test]
    fn ids_are_unique_per_worker_and_sequence() {
        let p = plan();
        let mut rng = Rng::new(2);
        let mut ids = std::collections::HashSet::new();
        for w in [None, Some(0), Some(1), Some(10)] {
            for seq in [0, 1, 11] {
                let r = p.request(Scenario::Create, &mut rng, w, seq);
                let body: serde_json::Value =
                    serde_json::from_slice(r.body.as_deref().unwrap_or_default())
                        .unwrap_or_default();
                assert!(ids.insert(body["id"].as_str().unwrap_or_default().to_owned()));
            }
        }
    }
}
