//! Bounds against abuse and exhaustion (docs/security.md#abuse-limits): how long a client may
//! take to send a request, how many connections and concurrent requests the API takes, an
//! optional request rate per client address, and how many subscriptions and registrations a
//! tenant may hold.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

/// Options of the abuse limits.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitOptions {
    /// How long a client may take to send a request's line and headers, in milliseconds
    /// (408 and the connection closed beyond it).
    #[arg(long, env = "RIGEL_HEADER_TIMEOUT_MS", default_value_t = 5000)]
    pub header_timeout_ms: u64,

    /// How long a client may take to send a request's body in full, in milliseconds (408
    /// beyond it).
    #[arg(long, env = "RIGEL_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_timeout_ms: u64,

    /// How long an idle keep-alive connection stays open, in seconds.
    #[arg(long, env = "RIGEL_KEEP_ALIVE_SECS", default_value_t = 15)]
    pub keep_alive_secs: u64,

    /// Most open connections to the API; further clients wait to be accepted.
    #[arg(long, env = "RIGEL_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Most requests the API serves at once; beyond it 503 with Retry-After (the health
    /// probes are not counted).
    #[arg(long, env = "RIGEL_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    pub max_concurrent_requests: usize,

    /// Requests per second one client address may make, on average (0: no limit); beyond
    /// it 429 with Retry-After.
    #[arg(long, env = "RIGEL_RATE_LIMIT", default_value_t = 0)]
    pub rate_limit: u32,

    /// Requests a client address may make in a burst above --rate-limit.
    #[arg(long, env = "RIGEL_RATE_BURST", default_value_t = 100)]
    pub rate_burst: u32,

    /// Most subscriptions (entity and registration subscriptions) a tenant may hold (0: no
    /// limit).
    #[arg(
        long,
        env = "RIGEL_MAX_SUBSCRIPTIONS_PER_TENANT",
        default_value_t = 10_000
    )]
    pub max_subscriptions_per_tenant: usize,

    /// Most context source registrations a tenant may hold (0: no limit).
    #[arg(
        long,
        env = "RIGEL_MAX_REGISTRATIONS_PER_TENANT",
        default_value_t = 1_000
    )]
    pub max_registrations_per_tenant: usize,

    /// Largest response body, in bytes: a response that would be larger is refused with
    /// TooManyResults (403) rather than built in memory.
    #[arg(long, env = "RIGEL_MAX_RESPONSE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_response_bytes: usize,

    /// Most memory the entities one query holds at once may take, in bytes, as decoded
    /// entities (its page, or every match it sorts or follows relationships from):
    /// TooManyResults (403) beyond (0: no limit).
    #[arg(long, env = "RIGEL_MAX_QUERY_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_query_bytes: usize,

    /// Most memory one entity may take, in bytes, as a decoded entity: a write that would
    /// make an entity larger (repeated appends, most often) is refused with BadRequestData
    /// (400) (0: no limit).
    #[arg(long, env = "RIGEL_MAX_ENTITY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_entity_bytes: usize,
}

/// The admission state shared by the API's workers: the concurrency bound and the rate
/// limiter.
#[derive(Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    limit: usize,
    rates: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl Admission {
    pub fn new(options: &LimitOptions) -> Self {
        let limit = options.max_concurrent_requests.max(1);
        let rates = NonZeroU32::new(options.rate_limit).map(|per_second| {
            let burst = NonZeroU32::new(options.rate_burst).unwrap_or(per_second);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ))
        });
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            rates,
        }
    }

    /// Forgets the rate state of clients idle long enough to be back at a full burst (so
    /// the table does not grow with every address ever seen); called every few seconds.
    pub fn forget_idle(&self) {
        if let Some(rates) = &self.rates {
            rates.retain_recent();
            rates.shrink_to_fit();
        }
    }
}

/// Forgets idle clients' rate state every 10 s, until the process ends.
pub async fn sweep(admission: Admission) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        admission.forget_idle();
    }
}

/// The middleware: refuses a request over the client's rate (429) or beyond the concurrency
/// bound (503), else serves it holding one slot.
pub async fn admit(
    admission: Admission,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.path().starts_with("/health") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    if let (Some(rates), Some(peer)) = (&admission.rates, req.peer_addr()) {
        if let Err(not_until) = rates.check_key(&peer.ip()) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let secs = wait.as_secs() + 1;
            let response = refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "this client is over its request rate; retry later",
                secs,
            );
            return Ok(req.into_response(response));
        }
    }
    let Ok(_slot) = admission.slots.clone().try_acquire_owned() else {
        let detail = format!(
            "the broker is serving its limit of {} requests at once; retry later",
            admission.limit
        );
        let response = refusal(StatusCode::SERVICE_UNAVAILABLE, &detail, 1);
        return Ok(req.into_response(response));
    };
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn refusal(status: StatusCode, detail: &str, retry_after_secs: u64) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
        .content_type("application/json")
        .json(rigel_http_api::problem::blank_problem(status, detail))
}
