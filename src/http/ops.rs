//! Operations endpoints: readiness (`/readyz`), Prometheus metrics
//! (`/metrics`) and the coverage index's fingerprint (`/index/fingerprint`),
//! plus the middleware that counts and times every request.
//!
//! Metrics live in a [`Metrics`] value owned by the [`AppState`], not in a
//! process-wide recorder, so that several service instances in one process
//! (the replica tests) keep separate counts. Values that are state rather
//! than events (pool use, index size, reload counters) are read when
//! `/metrics` is scraped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use serde::Serialize;

use super::error::{ApiError, ApiResult};
use super::{AppState, json_response};
use crate::coverage::index::IndexFingerprint;
use crate::coverage::listener::ListenerState;
use crate::db;

/// Requests answered, by `method`, `route` (the route template, e.g.
/// `/collections/{collection_id}/items/{feature_id}`, or `unmatched`) and
/// `status` class (`2xx` … `5xx`).
pub const HTTP_REQUESTS: &str = "telecom_gis_http_requests_total";
/// Time to the response head, seconds, by the same labels (histogram).
pub const HTTP_DURATION: &str = "telecom_gis_http_request_duration_seconds";
/// Open database connections (in use and idle), including the listener's.
pub const DB_POOL_CONNECTIONS: &str = "telecom_gis_db_pool_connections";
/// Idle database connections.
pub const DB_POOL_IDLE: &str = "telecom_gis_db_pool_idle_connections";
/// Largest number of database connections the pool opens.
pub const DB_POOL_MAX: &str = "telecom_gis_db_pool_max_connections";
/// Sectors in the coverage index.
pub const INDEX_SECTORS: &str = "telecom_gis_index_sectors";
/// Towers with at least one sector in the coverage index.
pub const INDEX_TOWERS: &str = "telecom_gis_index_towers";
/// Version of the current index snapshot (incremented on every change).
pub const INDEX_VERSION: &str = "telecom_gis_index_version";
/// 1 once the index has been loaded from the database, else 0.
pub const INDEX_LOADED: &str = "telecom_gis_index_loaded";
/// Full index rebuilds that succeeded.
pub const INDEX_RELOADS: &str = "telecom_gis_index_reloads_total";
/// Full index rebuilds that failed (the previous snapshot stayed).
pub const INDEX_RELOAD_FAILURES: &str = "telecom_gis_index_reload_failures_total";
/// Towers patched into the index in place.
pub const INDEX_TOWER_PATCHES: &str = "telecom_gis_index_tower_patches_total";
/// Duration of the last successful full rebuild, seconds.
pub const INDEX_LAST_RELOAD: &str = "telecom_gis_index_last_reload_seconds";
/// 1 while the change listener is connected and in sync, else 0.
pub const LISTENER_CONNECTED: &str = "telecom_gis_listener_connected";
/// Times the change listener connected (first start included) and rebuilt.
pub const LISTENER_CONNECTS: &str = "telecom_gis_listener_connects_total";
/// Bulk imports completed (the import feature is still to come: 0 until then).
pub const IMPORTS: &str = "telecom_gis_imports_total";
/// Always 1, labelled with the service `version`.
pub const BUILD_INFO: &str = "telecom_gis_build_info";

/// Every metric name this service exports (the README documents each).
pub const METRIC_NAMES: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_DURATION,
    DB_POOL_CONNECTIONS,
    DB_POOL_IDLE,
    DB_POOL_MAX,
    INDEX_SECTORS,
    INDEX_TOWERS,
    INDEX_VERSION,
    INDEX_LOADED,
    INDEX_RELOADS,
    INDEX_RELOAD_FAILURES,
    INDEX_TOWER_PATCHES,
    INDEX_LAST_RELOAD,
    LISTENER_CONNECTED,
    LISTENER_CONNECTS,
    IMPORTS,
    BUILD_INFO,
];

/// Histogram buckets of request durations, seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Media type of the Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long `/readyz` waits for the database, at most.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// The service's metrics registry.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with every metric described, and the counters that
    /// count events (imports) registered at 0.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), DURATION_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        let m = Self { recorder, handle };
        m.with(|| {
            use metrics::{describe_counter, describe_gauge, describe_histogram};
            describe_counter!(
                HTTP_REQUESTS,
                "Requests answered, by method, route template and status class"
            );
            describe_histogram!(
                HTTP_DURATION,
                metrics::Unit::Seconds,
                "Time to the response head, by method, route template and status class"
            );
            describe_gauge!(
                DB_POOL_CONNECTIONS,
                "Open database connections (in use and idle)"
            );
            describe_gauge!(DB_POOL_IDLE, "Idle database connections");
            describe_gauge!(DB_POOL_MAX, "Largest number of database connections");
            describe_gauge!(INDEX_SECTORS, "Sectors in the coverage index");
            describe_gauge!(INDEX_TOWERS, "Towers with sectors in the coverage index");
            describe_gauge!(INDEX_VERSION, "Version of the coverage index snapshot");
            describe_gauge!(INDEX_LOADED, "1 once the coverage index is loaded");
            describe_counter!(INDEX_RELOADS, "Full coverage index rebuilds");
            describe_counter!(INDEX_RELOAD_FAILURES, "Failed full coverage index rebuilds");
            describe_counter!(
                INDEX_TOWER_PATCHES,
                "Towers patched into the coverage index"
            );
            describe_gauge!(
                INDEX_LAST_RELOAD,
                metrics::Unit::Seconds,
                "Duration of the last full rebuild"
            );
            describe_gauge!(
                LISTENER_CONNECTED,
                "1 while the change listener is connected and in sync"
            );
            describe_counter!(
                LISTENER_CONNECTS,
                "Change listener (re)connections, each followed by a full rebuild"
            );
            describe_counter!(IMPORTS, "Bulk imports completed");
            describe_gauge!(BUILD_INFO, "Build information");
            metrics::counter!(IMPORTS).absolute(0);
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        });
        m
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Records one answered request.
    pub fn observe_request(
        &self,
        method: &Method,
        route: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let method = match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
            Method::HEAD => "HEAD",
            Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        let class = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", class.to_owned()),
        ];
        self.with(|| {
            metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
            metrics::histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
        });
    }

    /// Counts one completed bulk import.
    pub fn import_completed(&self) {
        self.with(|| metrics::counter!(IMPORTS).increment(1));
    }

    /// Drains histogram samples into their buckets; call every few seconds
    /// when nothing scrapes `/metrics` (rendering does it too).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The current values in the Prometheus text format, after reading the
    /// pool's and the index's state from `st`.
    pub fn render(&self, st: &AppState) -> String {
        let index = st.coverage.snapshot();
        let stats = st.coverage.stats();
        self.with(|| {
            metrics::gauge!(DB_POOL_CONNECTIONS).set(f64::from(st.pool.size()));
            metrics::gauge!(DB_POOL_IDLE).set(st.pool.num_idle() as f64);
            metrics::gauge!(DB_POOL_MAX).set(f64::from(st.pool.options().get_max_connections()));
            metrics::gauge!(INDEX_SECTORS).set(index.sector_count() as f64);
            metrics::gauge!(INDEX_TOWERS).set(index.tower_count() as f64);
            metrics::gauge!(INDEX_VERSION).set(index.version as f64);
            metrics::gauge!(INDEX_LOADED).set(if st.coverage.is_loaded() { 1.0 } else { 0.0 });
            metrics::counter!(INDEX_RELOADS).absolute(stats.reloads);
            metrics::counter!(INDEX_RELOAD_FAILURES).absolute(stats.reload_failures);
            metrics::counter!(INDEX_TOWER_PATCHES).absolute(stats.tower_patches);
            metrics::gauge!(INDEX_LAST_RELOAD).set(stats.last_reload_ms as f64 / 1000.0);
            let connected = st.coverage.listener_state() == ListenerState::Connected;
            metrics::gauge!(LISTENER_CONNECTED).set(if connected { 1.0 } else { 0.0 });
            metrics::counter!(LISTENER_CONNECTS).absolute(stats.listener_connects);
        });
        self.handle.render()
    }
}

/// Middleware: counts and times every request by route template (never the
/// raw path, which would give one series per feature id).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let res = next.run(req).await;
    metrics.observe_request(
        &method,
        route.as_deref().unwrap_or("unmatched"),
        res.status(),
        started.elapsed(),
    );
    res
}

/// `GET /metrics`: Prometheus text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "Operations",
    responses((status = 200, description = "Metrics in the Prometheus text format 0.0.4; the README lists them", content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    let body = st.metrics.render(&st);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        body,
    )
        .into_response()
}

/// The checks of `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: &'static str,
    /// `ok` when a query on the pool answered.
    pub database: &'static str,
    /// `loaded` once the coverage index is loaded.
    pub index: &'static str,
    /// `connected`, `disconnected`, or `not_started` (no listener runs).
    #[schema(value_type = String)]
    pub listener: ListenerState,
    /// Version of the index snapshot.
    pub index_version: u64,
}

/// `GET /readyz`: ready to serve everything — the database answers, the
/// coverage index is loaded, and the change listener (when one runs) is
/// connected, so the index is in sync. Otherwise 503 problem+json with
/// `Retry-After`; coverage queries may still be answered meanwhile.
#[utoipa::path(get, path = "/readyz", tag = "Operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: the detail names the failing checks", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(st): State<AppState>) -> ApiResult<Response> {
    // The database's error stays in the log: its text (host names, roles,
    // server messages) is not for clients.
    let db_ok = match tokio::time::timeout(READY_DB_TIMEOUT, db::ping(&st.pool)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) if e.is_unavailable() => {
            // An outage: the change listener logs it (once, not per probe).
            tracing::debug!(
                error = &e as &dyn std::error::Error,
                "readiness: the database is unavailable"
            );
            false
        }
        Ok(Err(e)) => {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "readiness: the database check failed"
            );
            false
        }
        Err(_) => {
            tracing::warn!(
                timeout_s = READY_DB_TIMEOUT.as_secs(),
                "readiness: the database did not answer in time"
            );
            false
        }
    };
    let loaded = st.coverage.is_loaded();
    let listener = st.coverage.listener_state();
    let mut failing = Vec::new();
    if !db_ok {
        failing.push("the database is not reachable".to_owned());
    }
    if !loaded {
        failing.push("the coverage index is not loaded yet".to_owned());
    }
    if listener == ListenerState::Disconnected {
        failing.push(
            "the change listener is disconnected, so the coverage index may be stale".to_owned(),
        );
    }
    if !failing.is_empty() {
        return Err(ApiError::Unavailable(format!(
            "not ready: {}",
            failing.join("; ")
        )));
    }
    let body = serde_json::to_vec(&Readiness {
        status: "ready",
        database: "ok",
        index: "loaded",
        listener,
        index_version: st.coverage.snapshot().version,
    })
    .map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, "application/json", body))
}

/// Answer of `GET /index/fingerprint`.
#[derive(Debug, Serialize)]
pub struct FingerprintAnswer {
    /// Version of the snapshot the fingerprint was taken of.
    pub version: u64,
    /// True once the index has been loaded from the database.
    pub loaded: bool,
    /// The digest.
    #[serde(flatten)]
    pub fingerprint: IndexFingerprint,
    /// The read model's digest (absent when the process has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_model: Option<crate::service::read_model::ModelFingerprint>,
}

/// `GET /index/fingerprint`: counts and a hash of what this process's
/// coverage index holds; `telecom-gis check-index` compares it with an
/// index loaded fresh from the database.
#[utoipa::path(get, path = "/index/fingerprint", tag = "Operations",
    responses((status = 200, description = "JSON: version, loaded, towers, sectors, fibre_routes, data_centres, areas and hash", content_type = "application/json")))]
pub async fn fingerprint(State(st): State<AppState>) -> ApiResult<Response> {
    let index = st.coverage.snapshot();
    let version = index.version;
    let fingerprint = tokio::task::spawn_blocking(move || index.fingerprint())
        .await
        .map_err(ApiError::internal)?;
    let read_model = match crate::service::read_model::ReadModel::of(&st.coverage) {
        Some(m) => {
            let inv = m.snapshot();
            Some(
                tokio::task::spawn_blocking(move || inv.fingerprint())
                    .await
                    .map_err(ApiError::internal)?,
            )
        }
        None => None,
    };
    let body = serde_json::to_vec(&FingerprintAnswer {
        version,
        loaded: st.coverage.is_loaded(),
        fingerprint,
        read_model,
    })
    .map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, "application/json", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readyz_does_not_show_the_database_error_to_clients() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy("postgres://probe_user@127.0.0.1:1/probe_db")
            .expect("a lazy pool");
        let e = readyz(State(AppState::new(pool))).await.unwrap_err();
        let p = e.problem();
        assert_eq!(p.status, 503);
        assert!(
            p.detail.contains("the database is not reachable"),
            "{}",
            p.detail
        );
        let detail = p.detail.to_lowercase();
        for leak in [
            "probe",
            "127.0.0.1",
            "refused",
            "communicating",
            "timed out",
            "pool",
        ] {
            assert!(!detail.contains(leak), "{leak}: {}", p.detail);
        }
    }
}
