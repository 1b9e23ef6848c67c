//! Request limits: rate limits per token and per client address (governor,
//! [`RateLimits`]), request timeouts, the CORS policy and request-id hygiene. The layers themselves are assembled in
//! [`app`](super::app).

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::ApiError;

pub use crate::config::{
    CorsOrigins, DEFAULT_ANON_RATE_LIMIT_BURST, DEFAULT_ANON_RATE_LIMIT_PER_S,
    DEFAULT_EXPENSIVE_RATE_LIMIT_BURST, DEFAULT_EXPENSIVE_RATE_LIMIT_PER_S,
    DEFAULT_IMPORT_TIMEOUT_S, DEFAULT_RATE_LIMIT_BURST, DEFAULT_RATE_LIMIT_PER_S,
    DEFAULT_READ_RATE_LIMIT_BURST, DEFAULT_READ_RATE_LIMIT_PER_S, DEFAULT_REQUEST_TIMEOUT_S,
};

/// Most keys (tokens or client addresses) each limiter tracks at once (see
/// [`RateLimiter`] for what happens beyond). (see [`RateLimiter`] for what happens beyond).
pub const MAX_TRACKED_TOKENS: usize = 100_000;

/// The request header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest time a whole burst may take to refill, seconds (100 years): a
/// tinier configured rate counts as this one, so that governor's nanosecond
/// arithmetic cannot overflow.
const MAX_REFILL_S: f64 = 100.0 * 365.25 * 86_400.0;

/// A rate-limit key: the SHA-256 digest of a bearer token or of a client
/// address ([`token_key`], [`address_key`]).
pub type Key = [u8; 32];
type Keyed<C> =
    governor::RateLimiter<Key, DashMapStateStore<Key>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One keyed rate limit (per bearer token or per client address):
/// governor's keyed GCRA limiter, which lets each key have `burst` requests
/// at once and one more every `1 / per_s` seconds (a token bucket, in
/// effect). [`RateLimits`] holds one per budget.
///
/// Memory stays bounded under a flood of made-up tokens: once
/// [`MAX_TRACKED_TOKENS`] are tracked, those whose allowance is full again
/// are forgotten (governor's `retain_recent`; forgetting them changes
/// nothing). If every tracked token is still refilling, all are forgotten
/// and start again with a full burst: a flood then buys one extra burst
/// per token for every `MAX_TRACKED_TOKENS` new tokens it sends.
///
/// `C` is the clock: governor's default (quanta) in service, where the
/// limiter is a `governor::DefaultKeyedRateLimiter<[u8; 32]>`; a fake clock
/// in tests.
pub struct RateLimiter<C: Clock = DefaultClock> {
    per_s: f64,
    burst: u32,
    max_keys: usize,
    clock: C,
    /// `None` when the limit is disabled.
    limit: Option<Limit<C>>,
}

struct Limit<C: Clock> {
    quota: Quota,
    keyed: ArcSwap<Keyed<C>>,
    /// Held while pruning (one pruner at a time).
    pruning: Mutex<()>,
}

impl<C: Clock + Clone> std::fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_s", &self.per_s)
            .field("burst", &self.burst)
            .field("max_keys", &self.max_keys)
            .field("tracked", &self.tracked())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// `per_s` requests per second sustained, `burst` at once; either at 0
    /// (or `per_s` not finite) disables the limit.
    pub fn new(per_s: f64, burst: u32) -> Self {
        Self::with_capacity(per_s, burst, MAX_TRACKED_TOKENS)
    }

    /// [`RateLimiter::new`] tracking at most `max_keys` tokens.
    pub fn with_capacity(per_s: f64, burst: u32, max_keys: usize) -> Self {
        Self::with_clock(per_s, burst, max_keys, DefaultClock::default())
    }

    /// A limiter that lets everything through.
    pub fn disabled() -> Self {
        Self::new(0.0, 0)
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// [`RateLimiter::with_capacity`] on `clock`.
    pub fn with_clock(per_s: f64, burst: u32, max_keys: usize, clock: C) -> Self {
        let per_s = if per_s.is_finite() && per_s > 0.0 {
            per_s
        } else {
            0.0
        };
        let quota = NonZeroU32::new(burst)
            .filter(|_| per_s > 0.0)
            .and_then(|b| {
                // One request back every 1 / per_s seconds (at least 1 ns),
                // the whole burst within MAX_REFILL_S.
                let period_s = (1.0 / per_s).min(MAX_REFILL_S / f64::from(burst));
                let period = Duration::from_secs_f64(period_s).max(Duration::from_nanos(1));
                Quota::with_period(period).map(|q| q.allow_burst(b))
            });
        let limit = quota.map(|quota| Limit {
            quota,
            keyed: ArcSwap::from_pointee(Keyed::dashmap_with_clock(quota, clock.clone())),
            pruning: Mutex::new(()),
        });
        Self {
            per_s,
            burst,
            max_keys: max_keys.max(1),
            clock,
            limit,
        }
    }

    /// True when requests are limited at all.
    pub fn is_enabled(&self) -> bool {
        self.limit.is_some()
    }

    /// Sustained rate, requests per second.
    pub fn per_s(&self) -> f64 {
        self.per_s
    }

    /// Burst, requests.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Number of tokens tracked now.
    pub fn tracked(&self) -> usize {
        self.limit.as_ref().map_or(0, |l| l.keyed.load().len())
    }

    /// Takes one request from `key`'s allowance now.
    ///
    /// # Errors
    /// When the allowance is used up: how long until a request is allowed
    /// (from governor's `NotUntil`).
    pub fn check(&self, key: Key) -> Result<(), Duration> {
        let Some(limit) = &self.limit else {
            return Ok(());
        };
        let keyed = limit.keyed.load();
        let verdict = keyed
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()));
        // A new key may have made one too many.
        if keyed.len() > self.max_keys {
            drop(keyed);
            self.prune(limit);
        }
        verdict
    }

    /// Forgets the tokens whose allowance is full again; if that is not
    /// enough, every token (a fresh limiter is swapped in).
    fn prune(&self, limit: &Limit<C>) {
        // Requests that find a pruner at work go on with the current limiter.
        let Ok(_pruning) = limit.pruning.try_lock() else {
            return;
        };
        let keyed = limit.keyed.load();
        keyed.retain_recent();
        if keyed.len() > self.max_keys {
            limit.keyed.store(Arc::new(Keyed::dashmap_with_clock(
                limit.quota,
                self.clock.clone(),
            )));
        }
    }
}

/// Which budget a request draws from: what it costs the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// Not limited: `GET /healthz` and `/readyz` (probes must always get
    /// through, and they cost nothing).
    Exempt,
    /// Cheap, cacheable reads: every other GET/HEAD (landing page, API
    /// document, collections, feature pages and features, tiles,
    /// `/coverage/point`, operators, metrics, the static web map) but those
    /// below.
    Read,
    /// Everything else: writes, imports, the change feed, histories,
    /// `/index/fingerprint`.
    Standard,
    /// The expensive queries: `/coverage/gaps`, `/coverage/footprints`,
    /// `/analysis/*`, `POST /coverage/points` and exports
    /// (`/collections/{id}/items?f=csv|geojson|gpkg`).
    Expensive,
}

impl RequestClass {
    /// The class of a request with `method` to `path` (the raw path, as
    /// routed) and `query` (the raw query string).
    pub fn of(method: &Method, path: &str, query: Option<&str>) -> RequestClass {
        let read = method == Method::GET || method == Method::HEAD;
        if read && matches!(path, "/healthz" | "/readyz") {
            return RequestClass::Exempt;
        }
        if method == Method::POST && path == "/coverage/points" {
            return RequestClass::Expensive;
        }
        if !read {
            return RequestClass::Standard;
        }
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        match segments.as_slice() {
            ["coverage", "gaps" | "footprints"] | ["analysis", ..] => RequestClass::Expensive,
            ["collections", _, "items"] if is_export(query) => RequestClass::Expensive,
            ["changes"] | ["index", "fingerprint"] | ["collections", _, "items", _, "history"] => {
                RequestClass::Standard
            }
            _ => RequestClass::Read,
        }
    }
}

/// True when a feature-page query asks for an export (`f` other than json).
fn is_export(query: Option<&str>) -> bool {
    let Some(q) = query else {
        return false;
    };
    // An unreadable query is refused by the handler; count it dear.
    serde_urlencoded::from_str::<Vec<(String, String)>>(q).map_or(true, |pairs| {
        pairs.iter().any(|(k, v)| k == "f" && v != "json")
    })
}

/// The rate-limit key of a bearer token (as parsed by
/// [`bearer_token`](super::access::bearer_token)): a SHA-256 digest, so no
/// token is kept in clear.
pub fn token_key(token: &str) -> Key {
    let mut h = Sha256::new();
    h.update(b"token\0");
    h.update(token.as_bytes());
    h.finalize().into()
}

/// The rate-limit key of a client address: IPv4 addresses one by one, IPv6
/// by their /64 prefix (what one subscriber is usually given, so rotating
/// through it buys nothing). `None`, an unknown address, is one key of its
/// own: requests whose peer is unknown share one budget (that happens only
/// when the router is driven in process, without `ConnectInfo`, as the tests
/// do; `serve` always knows the peer).
pub fn address_key(addr: Option<IpAddr>) -> Key {
    let mut h = Sha256::new();
    h.update(b"address\0");
    match addr.map(|a| a.to_canonical()) {
        Some(IpAddr::V4(v4)) => h.update(v4.octets()),
        Some(IpAddr::V6(v6)) => h.update(&v6.octets()[..8]),
        None => h.update(b"unknown"),
    }
    h.finalize().into()
}

/// The client's address: the TCP peer, or — when the peer is one of the
/// `trusted` reverse proxies — the nearest address in `X-Forwarded-For`
/// that is not a trusted proxy (walking right to left, as each proxy
/// appends the address it saw). When a hop cannot be read, the last trusted
/// hop is the client (its budget is then shared by everyone behind it).
/// `X-Forwarded-For` from any other peer is ignored: anyone can send one.
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |a: &IpAddr| trusted.iter().any(|n| n.contains(&a.to_canonical()));
    let mut client = peer?;
    if !is_trusted(&client) {
        return Some(client);
    }
    let hops = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(a) => {
                client = a;
                if !is_trusted(&a) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

/// `X-Forwarded-For`.
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A budget: requests per second sustained, and at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Sustained requests per second (0: no limit).
    pub per_s: f64,
    /// Requests at once (0: no limit).
    pub burst: u32,
}

/// The rate-limit settings of `serve` (see [`RateLimits`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Per bearer token: every request but cheap reads.
    pub token: Budget,
    /// Per token or client address: cheap reads ([`RequestClass::Read`]).
    pub reads: Budget,
    /// Per client address, anonymous: [`RequestClass::Standard`] requests.
    pub anonymous: Budget,
    /// Per client address, anonymous: [`RequestClass::Expensive`] requests.
    pub expensive: Budget,
    /// Reverse proxies whose `X-Forwarded-For` is believed (none by default).
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            token: Budget {
                per_s: DEFAULT_RATE_LIMIT_PER_S,
                burst: DEFAULT_RATE_LIMIT_BURST,
            },
            reads: Budget {
                per_s: DEFAULT_READ_RATE_LIMIT_PER_S,
                burst: DEFAULT_READ_RATE_LIMIT_BURST,
            },
            anonymous: Budget {
                per_s: DEFAULT_ANON_RATE_LIMIT_PER_S,
                burst: DEFAULT_ANON_RATE_LIMIT_BURST,
            },
            expensive: Budget {
                per_s: DEFAULT_EXPENSIVE_RATE_LIMIT_PER_S,
                burst: DEFAULT_EXPENSIVE_RATE_LIMIT_BURST,
            },
            trusted_proxies: Vec::new(),
        }
    }
}

/// Every rate limit of the service: one keyed limiter per budget, each
/// bounded to [`MAX_TRACKED_TOKENS`] keys.
///
/// | request | with a bearer token | anonymous |
/// |---|---|---|
/// | [`RequestClass::Exempt`] | not limited | not limited |
/// | [`RequestClass::Read`] | `reads`, per token | `reads`, per client address |
/// | [`RequestClass::Standard`] | `token`, per token | `anonymous`, per client address |
/// | [`RequestClass::Expensive`] | `token`, per token | `expensive`, per client address |
///
/// A request draws from one budget only. Tokens are issued by the
/// Department and name their holder, so their expensive requests share the
/// token's budget; anonymous ones get a small budget of their own.
#[derive(Debug)]
pub struct RateLimits {
    /// Per bearer token: every request but cheap reads.
    pub token: RateLimiter,
    /// Per token or client address: cheap reads.
    pub reads: RateLimiter,
    /// Per client address: anonymous requests that are neither cheap reads
    /// nor expensive.
    pub anonymous: RateLimiter,
    /// Per client address: anonymous expensive requests.
    pub expensive: RateLimiter,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for RateLimits {
    /// The defaults of `serve`.
    fn default() -> Self {
        Self::new(&RateLimitConfig::default())
    }
}

impl RateLimits {
    /// The limits of `config`.
    pub fn new(config: &RateLimitConfig) -> Self {
        let limiter = |b: Budget| RateLimiter::new(b.per_s, b.burst);
        Self {
            token: limiter(config.token),
            reads: limiter(config.reads),
            anonymous: limiter(config.anonymous),
            expensive: limiter(config.expensive),
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }

    /// No limit at all (tests that send thousands of requests).
    pub fn disabled() -> Self {
        Self {
            token: RateLimiter::disabled(),
            reads: RateLimiter::disabled(),
            anonymous: RateLimiter::disabled(),
            expensive: RateLimiter::disabled(),
            trusted_proxies: Vec::new(),
        }
    }

    /// The limiter a request of `class` draws from, what it limits and the
    /// settings that change it (for the 429's detail); `None` for exempt
    /// requests.
    fn budget(
        &self,
        class: RequestClass,
        token: bool,
    ) -> Option<(&RateLimiter, &'static str, &'static str)> {
        const READS: &str = "READ_RATE_LIMIT_PER_S, READ_RATE_LIMIT_BURST";
        Some(match (class, token) {
            (RequestClass::Exempt, _) => return None,
            (RequestClass::Read, true) => (&self.reads, "this token's reads are", READS),
            (RequestClass::Read, false) => (&self.reads, "anonymous reads are", READS),
            (_, true) => (
                &self.token,
                "this token is",
                "RATE_LIMIT_PER_S, RATE_LIMIT_BURST",
            ),
            (RequestClass::Standard, false) => (
                &self.anonymous,
                "anonymous requests are",
                "ANON_RATE_LIMIT_PER_S, ANON_RATE_LIMIT_BURST",
            ),
            (RequestClass::Expensive, false) => (
                &self.expensive,
                "anonymous gaps, analysis, footprints, batch points and exports are",
                "EXPENSIVE_RATE_LIMIT_PER_S, EXPENSIVE_RATE_LIMIT_BURST",
            ),
        })
    }
}

/// Middleware: checks the `Authorization` header (401 when malformed, before
/// any work), then takes the request from its budget ([`RateLimits`]) and
/// answers 429 problem+json with `Retry-After` when that is used up.
pub async fn rate_limit(
    State(limits): State<Arc<RateLimits>>,
    req: Request,
    next: Next,
) -> Response {
    let class = RequestClass::of(req.method(), req.uri().path(), req.uri().query());
    if class == RequestClass::Exempt {
        return next.run(req).await;
    }
    let token = match super::access::bearer_token(req.headers()) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let Some((limiter, what, settings)) = limits.budget(class, token.is_some()) else {
        return next.run(req).await;
    };
    let (key, per) = match token {
        Some(t) => (token_key(t), ""),
        None => {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            let client = client_address(peer, req.headers(), &limits.trusted_proxies);
            (address_key(client), " per client address")
        }
    };
    if let Err(wait) = limiter.check(key) {
        let retry_after_s = wait.as_secs_f64().ceil().max(1.0) as u64;
        return ApiError::TooManyRequests {
            retry_after_s,
            detail: format!(
                "{what} limited to {} requests per second{per} (bursts of {}; settings {settings}); retry in {retry_after_s} s",
                limiter.per_s(),
                limiter.burst()
            ),
        }
        .into_response();
    }
    next.run(req).await
}

/// How long a request may take until its response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Every request but imports.
    pub request: Duration,
    /// `POST /imports`.
    pub import: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_S),
            import: Duration::from_secs(DEFAULT_IMPORT_TIMEOUT_S),
        }
    }
}

impl Timeouts {
    /// The bound of a request with `method` to `path`.
    pub fn for_request(&self, method: &Method, path: &str) -> Duration {
        if method == Method::POST && path.trim_end_matches('/') == "/imports" {
            self.import
        } else {
            self.request
        }
    }
}

/// Middleware: answers 503 problem+json with `Retry-After` when the response
/// head is not ready in time; the handler is cancelled (its transaction
/// rolls back). Bodies already streaming (exports) are not cut.
///
/// Hand-written because tower-http's `TimeoutLayer` answers an empty body,
/// and imports need a longer bound than the rest.
pub async fn timeout(State(timeouts): State<Timeouts>, req: Request, next: Next) -> Response {
    let limit = timeouts.for_request(req.method(), req.uri().path());
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::Unavailable(format!(
            "the request took longer than {} s and was cancelled; retry later or narrow it",
            limit.as_secs_f64()
        ))
        .into_response(),
    }
}

/// The CORS policy: `origins`, the API's methods and request headers, the
/// response headers clients need, and never credentials.
pub fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
    let allow = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            REQUEST_ID,
        ])
        .allow_credentials(false)
        .max_age(Duration::from_secs(3600))
}

/// True for a client-chosen request id worth keeping: 1–64 characters of
/// letters, digits and `-_.:` (so it is safe in logs and the audit history).
pub fn is_sane_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    (1..=64).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// Middleware: drops an `x-request-id` that is not [sane](is_sane_request_id)
/// (or given twice), so the request-id layer generates one instead.
pub async fn drop_insane_request_id(mut req: Request, next: Next) -> Response {
    let values = req.headers().get_all(&REQUEST_ID);
    let mut it = values.iter();
    let keep = matches!((it.next(), it.next()), (Some(v), None) if is_sane_request_id(v));
    if !keep {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    /// A limiter on a fake clock, and the clock.
    fn on_fake_clock(
        per_s: f64,
        burst: u32,
        max_keys: usize,
    ) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(per_s, burst, max_keys, clock.clone());
        (l, clock)
    }

    #[test]
    fn a_token_gets_its_burst_then_waits_for_the_refill() {
        let (l, clock) = on_fake_clock(2.0, 3, MAX_TRACKED_TOKENS);
        for _ in 0..3 {
            assert!(l.check(key(1)).is_ok());
        }
        let wait = l.check(key(1)).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert!(l.check(key(2)).is_ok(), "another token has its own bucket");
        clock.advance(Duration::from_millis(500));
        assert!(l.check(key(1)).is_ok());
        assert!(l.check(key(1)).is_err());
    }

    #[test]
    fn a_tiny_rate_asks_for_a_long_wait_without_overflowing() {
        let (l, _clock) = on_fake_clock(1e-300, 1, MAX_TRACKED_TOKENS);
        l.check(key(1)).unwrap();
        let wait = l.check(key(1)).unwrap_err();
        assert!(wait.as_secs_f64() > 0.99 * MAX_REFILL_S, "{wait:?}");
        // Nor with the largest burst, nor with a rate past a nanosecond.
        for (per_s, burst) in [(1e-300, u32::MAX), (1e12, u32::MAX), (f64::MAX, 1)] {
            let (l, _clock) = on_fake_clock(per_s, burst, MAX_TRACKED_TOKENS);
            assert!(l.check(key(1)).is_ok());
        }
    }

    #[test]
    fn a_zero_rate_or_burst_disables_the_limit() {
        for l in [
            RateLimiter::new(0.0, 5),
            RateLimiter::new(5.0, 0),
            RateLimiter::new(f64::NAN, 5),
            RateLimiter::disabled(),
        ] {
            assert!(!l.is_enabled());
            assert!((0..1000).all(|_| l.check(key(1)).is_ok()));
            assert_eq!(l.tracked(), 0);
        }
        assert!(RateLimiter::new(DEFAULT_RATE_LIMIT_PER_S, DEFAULT_RATE_LIMIT_BURST).is_enabled());
    }

    #[test]
    fn tracked_tokens_stay_bounded_under_a_flood_of_new_tokens() {
        let (l, clock) = on_fake_clock(1.0, 5, 100);
        for i in 0..10_000u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            clock.advance(Duration::from_micros(1));
            let _ = l.check(k);
            assert!(l.tracked() <= 100);
        }
    }

    #[test]
    fn tokens_whose_allowance_refilled_are_forgotten_first() {
        let (l, clock) = on_fake_clock(1.0, 2, 2);
        l.check(key(1)).unwrap();
        clock.advance(Duration::from_secs(5));
        l.check(key(2)).unwrap();
        // key 1 is full again after 1 s: forgetting it loses nothing.
        l.check(key(3)).unwrap();
        assert_eq!(l.tracked(), 2);
        l.check(key(2)).unwrap();
        assert!(l.check(key(2)).is_err(), "key 2 kept its state");
    }

    #[test]
    fn probes_are_exempt_reads_are_cheap_and_the_heavy_queries_expensive() {
        use RequestClass::*;
        let get = Method::GET;
        for (method, path, query, class) in [
            (&get, "/healthz", None, Exempt),
            (&Method::HEAD, "/readyz", None, Exempt),
            (&get, "/", None, Read),
            (&get, "/collections", None, Read),
            (
                &get,
                "/collections/towers/items",
                Some("limit=10&f=json"),
                Read,
            ),
            (&get, "/collections/towers/items/4", None, Read),
            (
                &get,
                "/collections/towers/tiles/WebMercatorQuad/12/1/2",
                None,
                Read,
            ),
            (&get, "/coverage/point", Some("lon=108.2&lat=16.05"), Read),
            (&get, "/assets/index.js", None, Read),
            (&get, "/coverage/gaps", Some("bbox=1,2,3,4"), Expensive),
            (&get, "/coverage/footprints", None, Expensive),
            (&get, "/analysis/districts/HC", None, Expensive),
            (&Method::POST, "/coverage/points", None, Expensive),
            (&get, "/collections/towers/items", Some("f=csv"), Expensive),
            (
                &get,
                "/collections/fibre-routes/items",
                Some("f=gpkg&limit=5"),
                Expensive,
            ),
            (&get, "/changes", None, Standard),
            (&get, "/collections/towers/items/4/history", None, Standard),
            (&Method::POST, "/collections/towers/items", None, Standard),
            (
                &Method::DELETE,
                "/collections/towers/items/4",
                None,
                Standard,
            ),
            (&Method::POST, "/imports", None, Standard),
            (&Method::POST, "/healthz", None, Standard),
        ] {
            assert_eq!(
                RequestClass::of(method, path, query),
                class,
                "{method} {path}?{query:?}"
            );
        }
    }

    #[test]
    fn ipv6_clients_share_their_64_and_unknown_peers_one_key() {
        let a = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            address_key(a("2001:db8:1:2::1")),
            address_key(a("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            address_key(a("2001:db8:1:2::1")),
            address_key(a("2001:db8:1:3::1"))
        );
        assert_ne!(address_key(a("10.0.0.1")), address_key(a("10.0.0.2")));
        assert_eq!(
            address_key(a("::ffff:10.0.0.1")),
            address_key(a("10.0.0.1"))
        );
        assert_ne!(address_key(None), address_key(a("10.0.0.1")));
        assert_ne!(token_key("10.0.0.1"), address_key(a("10.0.0.1")));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            FORWARDED_FOR,
            HeaderValue::from_static("6.6.6.6, 203.0.113.7, 10.1.1.1"),
        );
        // From a stranger the header is ignored.
        assert_eq!(
            client_address(Some(ip("198.51.100.1")), &h, &trusted),
            Some(ip("198.51.100.1"))
        );
        // Through two trusted hops, the first untrusted one from the right
        // (6.6.6.6 may be made up by the client).
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &h, &trusted),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &h, &[]),
            Some(ip("10.0.0.2"))
        );
        h.insert(FORWARDED_FOR, HeaderValue::from_static("garbage, 10.1.1.1"));
        assert_eq!(
            client_address(Some(ip("::1")), &h, &trusted),
            Some(ip("10.1.1.1"))
        );
        h.remove(FORWARDED_FOR);
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &h, &trusted),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(client_address(None, &h, &trusted), None);
    }

    #[test]
    fn imports_get_the_import_timeout_and_everything_else_the_request_timeout() {
        let t = Timeouts {
            request: Duration::from_secs(1),
            import: Duration::from_secs(9),
        };
        assert_eq!(t.for_request(&Method::POST, "/imports"), t.import);
        assert_eq!(t.for_request(&Method::GET, "/imports"), t.request);
        assert_eq!(
            t.for_request(&Method::POST, "/collections/towers/items"),
            t.request
        );
    }

    #[test]
    fn cors_origins_parse_a_star_or_a_list_of_origins() {
        assert_eq!("*".parse::<CorsOrigins>(), Ok(CorsOrigins::Any));
        assert_eq!(
            "https://a.example, http://b.example:8080/".parse::<CorsOrigins>(),
            Ok(CorsOrigins::List(vec![
                HeaderValue::from_static("https://a.example"),
                HeaderValue::from_static("http://b.example:8080"),
            ]))
        );
        assert!("a.example".parse::<CorsOrigins>().is_err());
        assert!("https://*.example".parse::<CorsOrigins>().is_err());
        assert!(" , ".parse::<CorsOrigins>().is_err());
    }

    #[test]
    fn request_ids_are_kept_only_when_short_plain_tokens() {
        for ok in ["abc", "0f3c-9a:1_x.y", &"a".repeat(64)] {
            assert!(
                is_sane_request_id(&HeaderValue::from_str(ok).unwrap()),
                "{ok}"
            );
        }
        for bad in ["", "a b", "x\"y", "<script>", &"a".repeat(65)] {
            assert!(
                !is_sane_request_id(&HeaderValue::from_str(bad).unwrap()),
                "{bad}"
            );
        }
    }

    fn slow_app(t: Timeouts) -> axum::Router {
        use axum::body::Body;
        use axum::routing::{get, post};
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "late"
        };
        axum::Router::new()
            .route("/slow", get(slow))
            .route("/imports", post(slow))
            .route(
                "/stream",
                get(|| async {
                    // The head is immediate; the body's second chunk comes late.
                    let chunks = futures_util::stream::unfold(0, |i| async move {
                        if i == 1 {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        (i < 2).then(|| (Ok::<_, std::io::Error>(format!("chunk{i};")), i + 1))
                    });
                    Body::from_stream(chunks)
                }),
            )
            .layer(axum::middleware::from_fn_with_state(t, timeout))
    }

    async fn call(app: axum::Router, method: Method, uri: &str) -> (Response, String) {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            Response::from_parts(parts, axum::body::Body::empty()),
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    const SHORT: Timeouts = Timeouts {
        request: Duration::from_millis(50),
        import: Duration::from_secs(5),
    };

    #[tokio::test]
    async fn a_request_slower_than_the_timeout_gets_503_problem_with_retry_after() {
        let (res, body) = call(slow_app(SHORT), Method::GET, "/slow").await;
        assert_eq!(res.status(), 503);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(res.headers().contains_key(header::RETRY_AFTER));
        assert!(body.contains("longer than 0.05 s"), "{body}");
    }

    #[tokio::test]
    async fn an_import_gets_its_longer_timeout() {
        let (res, body) = call(slow_app(SHORT), Method::POST, "/imports").await;
        assert_eq!(res.status(), 200, "{body}");
        assert_eq!(body, "late");
    }

    #[tokio::test]
    async fn a_streaming_body_is_not_cut_by_the_timeout() {
        let (res, body) = call(slow_app(SHORT), Method::GET, "/stream").await;
        assert_eq!(res.status(), 200);
        assert_eq!(body, "chunk0;chunk1;");
    }
}
